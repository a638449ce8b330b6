// The coordinator registry on SQLite: subnet routes and exit nodes (schema v2).
#include "store_fixture.hpp"

TEST_SUITE("store") {

namespace {
net::Prefix pfx(const char* s) { return *net::Prefix::parse(s); }
}  // namespace

TEST_CASE("store: advertised routes are replaced whole; approvals outlive a withdrawal") {
  Coord c;
  auto a = c.store.add_node(key_n(1), "a", 1000);
  auto b = c.store.add_node(key_n(2), "b", 1000);
  c.store.set_advertised_routes(a.id, {pfx("10.2.0.0/16"), pfx("10.1.0.0/24"), pfx("10.1.0.0/24")});
  auto got = c.store.node_by_name("a");
  REQUIRE(got);
  CHECK(got->advertised_routes == std::vector{pfx("10.1.0.0/24"), pfx("10.2.0.0/16")});
  CHECK(got->approved_routes.empty());

  REQUIRE(c.store.set_route_approved(a.id, pfx("10.1.0.0/24"), true, 1100));
  CHECK(c.store.events().front().kind == "route_approved");
  c.store.set_advertised_routes(a.id, {pfx("0.0.0.0/0")});  // 10.1.0.0/24 withdrawn
  got = c.store.node_by_key(key_n(1));
  CHECK(got->advertised_routes == std::vector{pfx("0.0.0.0/0")});
  CHECK(got->approved_routes == std::vector{pfx("10.1.0.0/24")});

  REQUIRE(c.store.set_route_approved(a.id, pfx("10.1.0.0/24"), false, 1200));
  auto all = c.store.nodes();
  REQUIRE(all.size() == 2);
  CHECK(all[0].approved_routes.empty());
  CHECK(all[0].advertised_routes == std::vector{pfx("0.0.0.0/0")});
  CHECK(all[1].advertised_routes.empty());

  CHECK_FALSE(c.store.set_route_approved(999, pfx("10.1.0.0/24"), true, 1300));
  c.store.set_advertised_routes(999, {pfx("10.1.0.0/24")});  // nothing happens
  // Rows with neither flag are not kept.
  auto rows = c.db.prepare("SELECT count(*) FROM node_routes");
  REQUIRE(rows.step());
  CHECK(rows.col_int(0) == 1);

  // A removed node takes its routes with it.
  c.store.set_route_approved(b.id, pfx("10.5.0.0/24"), true, 1400);
  REQUIRE(c.store.remove_node(b.id));
  auto left = c.db.prepare("SELECT count(*) FROM node_routes WHERE node_id = ?");
  left.bind_int(1, b.id);
  REQUIRE(left.step());
  CHECK(left.col_int(0) == 0);
  CHECK(integrity(c.db) == "ok");
}

TEST_CASE("store: removed nodes' keys are kept for the relays until their grants are over") {
  Coord c;
  c.store.add_revocation(key_n(1), 1000);
  c.store.add_revocation(key_n(2), 5000);
  c.store.add_revocation(key_n(1), 3000);  // removed again (re-enrolled meanwhile): the later time counts
  CHECK(c.store.revocations(0) == std::vector{key_n(1), key_n(2)});
  CHECK(c.store.revocations(4000) == std::vector{key_n(2)});  // older ones are dropped for good
  CHECK(c.store.revocations(0) == std::vector{key_n(2)});
  Db again = Db::open(c.path);
  CHECK(CoordinatorStore(again).revocations(0) == std::vector{key_n(2)});  // across restarts
}

}  // TEST_SUITE
