// Control plane on a virtual network: subnet routes and exit nodes
// (advertise on the node, approve on the coordinator, deltas to everyone).
#include "control_sim.hpp"
#include "engine/control/routes.hpp"

namespace {

net::Prefix pfx(const char* s) { return *net::Prefix::parse(s); }

// Sends what the agent produced over its link and lets everything settle.
void send(Sim& s, Member& m, std::vector<uint8_t> bytes) {
  REQUIRE(m.conn);
  auto& l = s.links.at(*m.conn);
  l.to_coord.insert(l.to_coord.end(), bytes.begin(), bytes.end());
  s.pump();
}

std::vector<net::Prefix> routes_seen(const Member& by, const Member& of) { return by.state().peers.at(of.pub).routes; }

}  // namespace

TEST_CASE("routes: advertised routes reach the map only once approved; withdraw and unapprove remove them") {
  Sim s(21);
  Member& server = add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& x = s.join(t, "x");
  Member& y = s.join(t, "y");
  uint64_t v = s.coord.map_version();

  send(s, x, x.agent->set_routes({pfx("10.1.0.0/24"), pfx("0.0.0.0/0")}));
  // Advertised but not approved: stored for the admin, no delta to anyone.
  CHECK(s.coord.map_version() == v);
  CHECK(s.view(x.pub)->node.advertised_routes == std::vector{pfx("0.0.0.0/0"), pfx("10.1.0.0/24")});
  CHECK(routes_seen(y, x).empty());

  std::string err;
  REQUIRE(s.coord.approve_route("x", "10.1.0.0/24", true, s, err));
  s.pump();
  for (Member* m : {&server, &x, &y}) CHECK(routes_seen(*m, x) == std::vector{pfx("10.1.0.0/24")});
  CHECK(s.coord.map_version() == v + 1);
  REQUIRE(s.coord.approve_route("x", "0.0.0.0/0", true, s, err));
  s.pump();
  CHECK(routes_seen(y, x) == std::vector{pfx("0.0.0.0/0"), pfx("10.1.0.0/24")});
  // Approving again changes nothing (no delta).
  REQUIRE(s.coord.approve_route("x", "10.1.0.0/24", true, s, err));
  CHECK(s.coord.map_version() == v + 2);
  check_converged(s);

  // Withdrawn: gone from the map, the approval stays for a re-advertisement.
  send(s, x, x.agent->set_routes({pfx("0.0.0.0/0")}));
  CHECK(routes_seen(y, x) == std::vector{pfx("0.0.0.0/0")});
  send(s, x, x.agent->set_routes({pfx("0.0.0.0/0"), pfx("10.1.0.0/24")}));
  CHECK(routes_seen(y, x) == std::vector{pfx("0.0.0.0/0"), pfx("10.1.0.0/24")});

  REQUIRE(s.coord.approve_route("x", "0.0.0.0/0", false, s, err));
  s.pump();
  CHECK(routes_seen(server, x) == std::vector{pfx("10.1.0.0/24")});
  check_converged(s);

  // A reconnect re-sends the set in the hello; the map is unchanged.
  uint64_t before = s.coord.map_version();
  s.drop(*x.conn);
  s.connect(x);
  s.pump();
  CHECK(routes_seen(y, x) == std::vector{pfx("10.1.0.0/24")});
  CHECK(s.coord.map_version() == before + 2);  // offline, then online again
}

TEST_CASE("routes: one approval of either exit route covers both families; unapproving either removes both") {
  Sim s(25);
  add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& x = s.join(t, "x");
  Member& y = s.join(t, "y");
  send(s, x, x.agent->set_routes({pfx("0.0.0.0/0"), pfx("::/0"), pfx("fd00:77:1::/64")}));
  std::string err;
  REQUIRE(s.coord.approve_route("x", "::/0", true, s, err));
  s.pump();
  CHECK(routes_seen(y, x) == std::vector{pfx("0.0.0.0/0"), pfx("::/0")});
  CHECK(s.view(x.pub)->node.approved_routes == std::vector{pfx("0.0.0.0/0")});  // the canonical form
  uint64_t v = s.coord.map_version();
  REQUIRE(s.coord.approve_route("x", "0.0.0.0/0", true, s, err));  // already approved
  CHECK(s.coord.map_version() == v);
  REQUIRE(s.coord.approve_route("x", "fd00:77:1::/64", true, s, err));
  s.pump();
  CHECK(routes_seen(y, x) == std::vector{pfx("0.0.0.0/0"), pfx("::/0"), pfx("fd00:77:1::/64")});
  REQUIRE(s.coord.approve_route("x", "::/0", false, s, err));
  s.pump();
  CHECK(routes_seen(y, x) == std::vector{pfx("fd00:77:1::/64")});
  CHECK(s.view(x.pub)->node.approved_routes == std::vector{pfx("fd00:77:1::/64")});
  // A node of an older version offers 0.0.0.0/0 alone: an IPv4-only exit.
  send(s, x, x.agent->set_routes({pfx("0.0.0.0/0")}));
  REQUIRE(s.coord.approve_route("x", "::/0", true, s, err));
  s.pump();
  CHECK(routes_seen(y, x) == std::vector{pfx("0.0.0.0/0")});
  check_converged(s);
}

TEST_CASE("routes: a change between hello and welcome is not lost") {
  Sim s(24);
  add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& x = s.join(t, "x");
  s.drop(*x.conn);
  s.connect(x);  // the hello is queued, not delivered yet
  CHECK(x.agent->set_routes({pfx("10.4.0.0/24")}).empty());  // no link up yet: nothing to send now
  s.pump();
  CHECK(x.linked());
  CHECK(s.view(x.pub)->node.advertised_routes == std::vector{pfx("10.4.0.0/24")});
}

TEST_CASE("routes: approving bad input is refused and stores nothing") {
  Sim s(22);
  add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& x = s.join(t, "x");
  send(s, x, x.agent->set_routes({pfx("10.1.0.0/24")}));
  uint64_t v = s.coord.map_version();
  auto events = s.reg.events().size();

  struct Case {
    const char* node;
    const char* prefix;
    const char* says;
  } cases[] = {
      {"nobody", "10.1.0.0/24", "no node named"},
      {"x", "10.1.0.0", "/length is required"},
      {"x", "10.1.0.0/33", "not a CIDR"},
      {"x", "banana", "not a CIDR"},
      {"x", "10.1.0.5/24", "host bits"},
      {"x", "100.83.4.0/24", "overlaps the overlay"},
      {"x", "100.0.0.0/8", "overlaps the overlay"},
      {"x", "127.0.0.0/8", "not a routable"},
      {"x", "fd00::5/64", "host bits"},
      {"x", "fe80::/64", "link-local"},
      {"x", "fd00::/64", "does not advertise"},
      {"x", "10.2.0.0/24", "does not advertise"},
      {"x", "0.0.0.0/0", "--advertise-exit-node"},
  };
  for (auto& c : cases) {
    CAPTURE(c.prefix);
    std::string err;
    CHECK_FALSE(s.coord.approve_route(c.node, c.prefix, true, s, err));
    CHECK_MESSAGE(err.find(c.says) != std::string::npos, c.prefix, ": ", err);
  }
  std::string err;
  CHECK_FALSE(s.coord.approve_route("x", "10.1.0.0/24", false, s, err));  // not approved yet
  CHECK(s.coord.map_version() == v);
  CHECK(s.reg.events().size() == events);
  CHECK(s.view(x.pub)->node.approved_routes.empty());
}

TEST_CASE("routes: the coordinator drops routes a node may not advertise") {
  Sim s(23);
  add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& x = s.join(t, "x");
  // A node could send anything: the overlay's own range, loopback, IPv6
  // link-local or multicast.
  send(s, x, x.agent->set_routes({pfx("100.83.0.0/16"), pfx("127.0.0.0/8"), pfx("10.9.0.0/16"), pfx("fe80::/10"),
                                  pfx("ff00::/8"), pfx("fd00:9::/64")}));
  CHECK(s.view(x.pub)->node.advertised_routes == std::vector{pfx("10.9.0.0/16"), pfx("fd00:9::/64")});
  CHECK(x.linked());
}

TEST_CASE("routes: parse_route accepts what users type and explains the rest") {
  control::OverlayRanges overlay{pfx("100.83.0.0/16"), pfx("fd5a:1:2::/48")};
  std::string why;
  CHECK(control::parse_route("192.168.1.0/24", overlay, false, why) == pfx("192.168.1.0/24"));
  CHECK(control::parse_route("10.0.0.0/8", overlay, false, why) == pfx("10.0.0.0/8"));
  CHECK(control::parse_route("0.0.0.0/0", overlay, true, why) == pfx("0.0.0.0/0"));
  CHECK_FALSE(control::parse_route("0.0.0.0/0", overlay, false, why));
  CHECK(why.find("exit") != std::string::npos);
  CHECK_FALSE(control::parse_route("8.0.0.0/4", overlay, false, why));
  CHECK_FALSE(control::parse_route("100.100.100.0/24", overlay, false, why));
  CHECK(why.find("resolver") != std::string::npos);
  CHECK_FALSE(control::parse_route("169.254.0.0/16", overlay, false, why));
  CHECK_FALSE(control::parse_route("", overlay, false, why));
  CHECK_FALSE(control::parse_route("10.1.0.0/", overlay, false, why));
  // IPv6: subnets of a LAN, the exit route, and what can never be routed.
  CHECK(control::parse_route("fd00:77:1::/64", overlay, false, why) == pfx("fd00:77:1::/64"));
  CHECK(control::parse_route("2001:db8:5::/48", overlay, false, why) == pfx("2001:db8:5::/48"));
  CHECK(control::parse_route("::/0", overlay, true, why) == pfx("::/0"));
  CHECK_FALSE(control::parse_route("::/0", overlay, false, why));
  CHECK(why.find("exit") != std::string::npos);
  struct Bad {
    const char* text;
    const char* says;
  } bad[] = {
      {"fd00:77:1::1/64", "host bits"},     {"2000::/3", "too wide"},
      {"fe80::/64", "link-local"},          {"ff02::/16", "not a routable"},
      {"::1/128", "not a routable"},        {"::ffff:0:0/96", "not a routable"},
      {"fd5a:1:2:3::/64", "overlaps the overlay"}, {"fd5a::/16", "overlaps the overlay"},
      {"fd00::", "/length is required"},
  };
  for (auto& b : bad) {
    CAPTURE(b.text);
    CHECK_FALSE(control::parse_route(b.text, overlay, false, why));
    CHECK(why.find(b.says) != std::string::npos);
  }
  // A network without a ULA (made by an older version): no IPv6 range to avoid.
  CHECK(control::parse_route("fd5a:1:2:3::/64", {pfx("100.83.0.0/16"), std::nullopt}, false, why));
}

TEST_CASE("routes: an exit node is one thing in both families") {
  std::vector<net::Prefix> adv{pfx("10.1.0.0/24"), pfx("0.0.0.0/0")};
  control::normalize_advertised(adv);
  CHECK(adv == std::vector{pfx("0.0.0.0/0"), pfx("10.1.0.0/24"), pfx("::/0")});
  std::vector<net::Prefix> only6{pfx("::/0")};
  control::normalize_advertised(only6);
  CHECK(only6 == std::vector{pfx("0.0.0.0/0"), pfx("::/0")});
  // One approval (stored as 0.0.0.0/0) covers both; subnets need their own.
  CHECK(control::active_routes(adv, {pfx("0.0.0.0/0")}) == std::vector{pfx("0.0.0.0/0"), pfx("::/0")});
  CHECK(control::active_routes(adv, {pfx("10.1.0.0/24")}) == std::vector{pfx("10.1.0.0/24")});
  // An older node advertises only 0.0.0.0/0: an IPv4-only exit.
  CHECK(control::active_routes({pfx("0.0.0.0/0")}, {pfx("0.0.0.0/0")}) == std::vector{pfx("0.0.0.0/0")});
}

TEST_CASE("routes: peer routes survive the JSON of maps, deltas and the node's cache") {
  control::PeerInfo p;
  p.id = 3;
  p.name = "x";
  p.ip = ip("100.83.0.3");
  p.routes = {pfx("0.0.0.0/0"), pfx("10.1.0.0/24")};
  control::Delta d{9, {p}, {}};
  auto m = control::decode(control::encode(d));
  REQUIRE(m);
  CHECK(std::get<control::Delta>(*m).upsert.at(0) == p);
  // Absent = none (maps cached by older versions).
  p.routes.clear();
  auto m2 = control::decode(control::encode(control::FullMap{1, {p}}));
  REQUIRE(m2);
  CHECK(std::get<control::FullMap>(*m2).peers.at(0).routes.empty());
  std::string why;
  CHECK_FALSE(control::decode(R"({"type":"routes","advertise":["10.1.0.0/99"]})", &why));
  CHECK_FALSE(control::decode(R"({"type":"routes"})", &why));
  auto r = control::decode(R"({"type":"routes","advertise":["10.1.0.0/24"]})");
  REQUIRE(r);
  CHECK(std::get<control::RoutesUpdate>(*r).advertise == std::vector{pfx("10.1.0.0/24")});
}

TEST_CASE("routes: plan_routes gives each prefix to one peer and uses 0.0.0.0/0 only from the chosen exit node") {
  crypto::SeededRng rng(5);
  auto peer = [&](int64_t id, const char* name, const char* addr, bool online, std::vector<net::Prefix> routes) {
    control::PeerInfo p;
    p.id = id;
    p.name = name;
    p.ip = ip(addr);
    p.public_key = crypto::public_from_private(crypto::generate_private_key(rng));
    p.online = online;
    p.routes = std::move(routes);
    return p;
  };
  auto self = peer(1, "me", "100.83.0.1", true, {pfx("10.9.0.0/24")});
  auto a = peer(2, "a", "100.83.0.2", false, {pfx("10.1.0.0/24"), pfx("0.0.0.0/0"), pfx("::/0")});
  auto b = peer(3, "b", "100.83.0.3", true, {pfx("10.1.0.0/24"), pfx("10.2.0.0/16")});
  auto c = peer(4, "c", "100.83.0.4", true, {pfx("10.9.0.0/24"), pfx("10.3.0.0/24"), pfx("fd00:3::/64")});
  std::vector<control::PeerInfo> peers{self, a, b, c};
  std::vector<net::Prefix> own{pfx("10.9.0.0/24")};

  auto plan = control::plan_routes(peers, self.public_key, own, "");
  // 10.1.0.0/24 from both a (offline) and b (online): b. Our own 10.9.0.0/24
  // stays local. No exit node chosen: a's 0.0.0.0/0 is not used.
  CHECK(plan.routes[b.public_key] == std::vector{pfx("10.1.0.0/24"), pfx("10.2.0.0/16")});
  CHECK(plan.routes[c.public_key] == std::vector{pfx("10.3.0.0/24"), pfx("fd00:3::/64")});
  CHECK(plan.routes.count(a.public_key) == 0);
  CHECK_FALSE(plan.exit_peer);
  CHECK(plan.exit_problem.empty());

  // Both online: the older node (lower id) wins.
  peers[1].online = true;
  plan = control::plan_routes(peers, self.public_key, own, "a");
  CHECK(plan.routes[a.public_key] == std::vector{pfx("10.1.0.0/24"), pfx("0.0.0.0/0"), pfx("::/0")});
  CHECK(plan.routes[b.public_key] == std::vector{pfx("10.2.0.0/16")});
  REQUIRE(plan.exit_peer);
  CHECK(*plan.exit_peer == a.public_key);

  // By overlay IP too; a node without an approved exit route, or unknown, is
  // not used, and the plan says why.
  CHECK(control::plan_routes(peers, self.public_key, own, "100.83.0.2").exit_peer == a.public_key);
  plan = control::plan_routes(peers, self.public_key, own, "b");
  CHECK_FALSE(plan.exit_peer);
  CHECK(plan.exit_problem.find("not an approved exit node") != std::string::npos);
  plan = control::plan_routes(peers, self.public_key, own, "me");
  CHECK_FALSE(plan.exit_peer);
  CHECK(plan.exit_problem.find("not in the network") != std::string::npos);
}
