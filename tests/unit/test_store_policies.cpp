// The coordinator store's groups and policies: a new network's "default",
// add/list/remove with unique names, group membership, and the migration that
// gives a network made before policies existed its "default".
#include "store_fixture.hpp"

TEST_SUITE("store") {

TEST_CASE("store: a new network holds the policy default; policies round-trip") {
  Coord c;
  auto ps = c.store.policies();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0] == policy::default_policy(1000));

  policy::Policy p;
  p.name = "web";
  p.from = {policy::Selector::Kind::group, "clients", 0};
  p.to = {policy::Selector::Kind::node, "", 7};
  p.proto = policy::Proto::tcp;
  p.ports = {{22, 22}, {8000, 8100}};
  p.created_unix = 2000;
  CHECK(c.store.add_policy(p));
  CHECK_FALSE(c.store.add_policy(p));  // names are unique
  ps = c.store.policies();
  REQUIRE(ps.size() == 2);
  CHECK(ps[1] == p);
  CHECK(c.store.events().front().kind == "policy_added");

  CHECK(c.store.remove_policy("default"));
  CHECK_FALSE(c.store.remove_policy("default"));
  ps = c.store.policies();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "web");
  CHECK(c.store.events().front().kind == "policy_removed");

  // A row edited by hand into nonsense is an error, not a silently wider policy.
  c.db.exec("UPDATE policies SET ports = 'lots' WHERE name = 'web'");
  CHECK_THROWS_AS(c.store.policies(), store::Error);
}

TEST_CASE("store: group membership") {
  Coord c;
  auto inv = c.invite(1, {.uses = 2, .groups = {"clients"}});
  auto r = c.store.enroll(c.request(inv, 1, 1, "a"), 3000);
  auto* n = as_node(r);
  REQUIRE(n);
  CHECK(c.store.add_to_group(n->id, "servers"));
  CHECK_FALSE(c.store.add_to_group(n->id, "servers"));  // already in it
  CHECK_FALSE(c.store.add_to_group(n->id + 100, "servers"));  // no such node
  CHECK(c.store.node_by_name("a")->groups == std::vector<std::string>{"clients", "servers"});
  CHECK(c.store.remove_from_group(n->id, "clients"));
  CHECK_FALSE(c.store.remove_from_group(n->id, "clients"));
  CHECK(c.store.nodes().at(0).groups == std::vector<std::string>{"servers"});
  CHECK(c.store.events().front().kind == "group_removed");
}

TEST_CASE("store: a network made before policies gets default when migrated") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  make_v1_database(path, "ab", "old", "10.1.0.0/16", 77);  // as an older ovl left it
  Db db = Db::open(path);
  CHECK(db.user_version() == store::schema_version());
  CoordinatorStore s(db);
  auto ps = s.policies();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0] == policy::default_policy(77));
  CHECK(count(db, "policies") == 1);
  CHECK(integrity(db) == "ok");

  // A database without a network migrates to no policies; create_network adds it.
  TempDir dir2;
  Db fresh = Db::open(dir2.file("ovl.db"));
  CoordinatorStore s2(fresh);
  CHECK(s2.policies().empty());
  s2.create_network(make_network("10.2.0.0/16"));
  CHECK(s2.policies().size() == 1);
}

}  // TEST_SUITE
