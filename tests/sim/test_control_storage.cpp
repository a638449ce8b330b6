// The coordinator when its registry cannot write (a full or read-only disk):
// a join is refused as "unavailable" without using the invite up, links that
// are up stay up, reconnects and endpoint updates work, nothing throws out of
// the coordinator; once writes work again the same invite joins.
#include "control_sim.hpp"

TEST_CASE("control: a registry that cannot write refuses joins cleanly and keeps the network up") {
  Sim s(21);
  Member& server = add_server(s);
  std::string once = s.invite();  // single use
  std::string many = s.invite({.uses = -1, .ephemeral = true});
  Member& a = s.join(many, "a");
  Member& eph = s.join(many, "eph");
  check_converged(s);
  uint64_t v = s.coord.map_version();

  s.reg.fail_writes = "database or disk is full";

  // A join: refused with a message that says why and that the invite is intact.
  Member& b = s.join(once, "b");
  CHECK(b.code() == "unavailable");
  CHECK_FALSE(b.linked());
  REQUIRE(b.agent->refused());
  const std::string& msg = b.agent->refused()->message;
  CHECK(msg.find("disk is full") != std::string::npos);
  CHECK(msg.find("not used") != std::string::npos);
  CHECK(msg.find("state database") == std::string::npos);  // the store's own text stays in the log
  CHECK_FALSE(s.reg.node_by_key(b.pub));

  // Links that are up stay up; an endpoint update and a reconnect (both write
  // bookkeeping that now fails) neither throw nor cost the link.
  CHECK(a.linked());
  CHECK(server.linked());
  s.drop(*a.conn);
  s.pump();
  s.advance_s(5);
  s.connect(a);
  s.pump();
  CHECK(a.linked());
  CHECK(a.code().empty());
  auto bytes = a.agent->set_endpoints({*net::Endpoint::parse("192.168.9.9:51820")}, std::nullopt);
  REQUIRE_FALSE(bytes.empty());
  s.links.at(*a.conn).to_coord = bytes;
  s.pump();
  CHECK(a.linked());
  CHECK(s.coord.map_version() > v);

  // An ephemeral node's expiry and the admin operations: no exception escapes
  // the timer path; the admin path (the local API) reports one.
  s.drop(*eph.conn);
  s.pump();
  s.advance_s(1000);
  CHECK_NOTHROW(s.coord.expire_ephemeral(300, s));
  CHECK_THROWS(s.coord.create_invite({}));
  std::string err;
  CHECK_THROWS(s.coord.remove_node("a", s, err));
  s.pump();
  CHECK(a.linked());

  // Writes work again: the same single-use invite joins.
  s.reg.fail_writes.clear();
  Member& b2 = s.add_member("b", "host", std::nullopt, b.key);
  Sim::use_token(b2, once);
  s.connect(b2);
  s.pump();
  CHECK(b2.linked());
  CHECK(b2.code().empty());
  CHECK(s.reg.node_by_key(b.pub));
  s.coord.expire_ephemeral(300, s);
  s.pump();
  CHECK_FALSE(s.reg.node_by_key(eph.pub));
  check_converged(s);
}
