// Groups and access policies on the control plane: every node receives the
// filter compiled for it (and only a change of its own filter), with the map
// version in step; bad admin input changes nothing; the filter survives the
// node's cache and the wire codec.
#include "control_sim.hpp"

namespace {

using policy::Proto;

// A node's overlay addresses as the filter lists them: IPv4, then IPv6 (ULA).
std::vector<net::Prefix> hosts(std::initializer_list<const Member*> ms) {
  std::vector<net::Prefix> r;
  for (auto* m : ms) {
    auto& self = m->state().welcome->self;
    r.push_back({self.ip, 32});
    if (self.ip6) r.push_back({*self.ip6, 128});
  }
  return r;
}
// "*" as a source: the network's IPv4 range and its ULA.
std::vector<net::Prefix> network_ranges(const Member& m) {
  std::vector<net::Prefix> r{*net::Prefix::parse("100.83.0.0/16")};
  if (auto& ula = m.state().welcome->network.ula) r.push_back(*ula);
  return r;
}
const policy::RuleSet& filter_of(const Member& m) {
  REQUIRE(m.state().filter.has_value());
  return *m.state().filter;
}

}  // namespace

TEST_CASE("control: each node gets the filter compiled for it; changes arrive as deltas") {
  Sim s(21);
  Member& server = add_server(s);
  Member& a = s.join(s.invite({.groups = {"clients"}}), "a");
  std::string plain = s.invite({.uses = -1});
  Member& b = s.join(plain, "b");
  Member& c = s.join(plain, "c");
  check_converged(s);

  // A new network's policy "default": everything from the network's range.
  for (Member* m : {&server, &a, &b, &c}) {
    auto& f = filter_of(*m);
    REQUIRE(f.rules.size() == 1);
    CHECK(f.rules[0].src == network_ranges(*m));
    CHECK(f.rules[0].src.size() == 2);  // the sim's network has a ULA
    CHECK(f.rules[0].dst == hosts({m}));
    CHECK(f.rules[0].proto == Proto::any);
  }

  std::string err;
  REQUIRE(s.coord.group_add("b", "servers", s, err));
  s.pump();
  check_converged(s);  // the peer's groups changed everywhere; "default" compiles as before
  CHECK(a.state().peers.at(b.pub).groups == std::vector<std::string>{"servers"});

  REQUIRE(s.coord.add_policy({"web", "clients", "servers", "tcp", "8000,8443"}, s, err));
  REQUIRE(s.coord.remove_policy("default", s, err));
  s.pump();
  check_converged(s);
  auto& fb = filter_of(b);
  REQUIRE(fb.rules.size() == 1);
  CHECK(fb.rules[0].src == hosts({&a}));
  CHECK(fb.rules[0].dst == hosts({&b}));
  CHECK(fb.rules[0].proto == Proto::tcp);
  CHECK(fb.rules[0].ports == std::vector<policy::PortRange>{{8000, 8000}, {8443, 8443}});
  for (Member* m : {&server, &a, &c}) CHECK(filter_of(*m).rules.empty());  // default deny
  for (Member* m : {&server, &a, &b, &c}) CHECK(*m->state().filter == s.coord.filter_for(m->state().welcome->self.id));

  // A new member of a source group widens the destination's filter at once.
  Member& d = s.join(s.invite({.groups = {"clients"}}), "d");
  check_converged(s);
  CHECK(filter_of(b).rules.at(0).src == hosts({&a, &d}));
  CHECK(filter_of(d).rules.empty());

  // Leaving a group and being removed narrow it again.
  REQUIRE(s.coord.group_remove("d", "clients", s, err));
  s.pump();
  CHECK(filter_of(b).rules.at(0).src == hosts({&a}));
  REQUIRE(s.coord.remove_node("a", s, err));
  s.pump();
  CHECK_FALSE(has_peer(b, a.pub));
  CHECK(filter_of(b).rules.empty());  // the policy's sources resolve to nobody
  check_converged(s);

  // A node reconnecting gets its filter with the full map.
  REQUIRE(s.coord.add_policy({"ping", "*", "node:c", "icmp", ""}, s, err));
  s.pump();
  s.drop(*c.conn);
  s.connect(c);
  s.pump();
  REQUIRE(c.linked());
  REQUIRE(filter_of(c).rules.size() == 1);
  CHECK(filter_of(c).rules[0].proto == Proto::icmp);
  check_converged(s);

  // The node's cached map keeps the filter.
  auto back = control::NetState::from_json(c.state().to_json());
  REQUIRE(back);
  CHECK(back->filter == c.state().filter);
}

TEST_CASE("control: bad policy and group input is refused and changes nothing") {
  Sim s(22);
  add_server(s);
  s.join(s.invite({.groups = {"clients"}}), "a");
  Member& b = s.join(s.invite(), "b");
  std::string err;
  REQUIRE(s.coord.group_add("b", "servers", s, err));
  s.pump();
  // A group that only an invite names exists already: policies may use it.
  s.invite({.groups = {"later"}});
  const auto before = s.coord.policies();
  const uint64_t v = s.coord.map_version();
  const auto filter_b = b.state().filter;

  struct Case {
    control::PolicySpec spec;
    const char* says;
  };
  const Case cases[] = {
      {{"p", "nosuch", "servers", "any", ""}, "no node or group named \"nosuch\""},
      {{"p", "clients", "group:nosuch", "any", ""}, "no group named \"nosuch\""},
      {{"p", "clients", "node:nosuch", "any", ""}, "no node named \"nosuch\""},
      {{"p", "clients", "servers", "tcp", "9000-80"}, "start is above its end"},
      {{"p", "clients", "servers", "tcp", "0"}, "not a port"},
      {{"p", "clients", "servers", "tcp", "1,,2"}, "not a port"},
      {{"p", "clients", "servers", "sctp", ""}, "must be tcp, udp, icmp or any"},
      {{"p", "clients", "servers", "icmp", "22"}, "ICMP has no ports"},
      {{"default", "clients", "servers", "any", ""}, "already exists"},
      {{"Bad Name", "clients", "servers", "any", ""}, "not a valid policy name"},
      {{"", "clients", "servers", "any", ""}, "not a valid policy name"},
  };
  for (auto& c : cases) {
    CAPTURE(c.says);
    err.clear();
    CHECK_FALSE(s.coord.add_policy(c.spec, s, err));
    CHECK(err.find(c.says) != std::string::npos);
  }
  err.clear();
  CHECK_FALSE(s.coord.remove_policy("nosuch", s, err));
  CHECK(err.find("no policy named") != std::string::npos);
  CHECK_FALSE(s.coord.group_add("nosuch", "g", s, err));
  CHECK_FALSE(s.coord.group_add("a", "bad:group", s, err));
  CHECK_FALSE(s.coord.group_add("b", "servers", s, err));  // already in it
  CHECK(err.find("already in group") != std::string::npos);
  CHECK_FALSE(s.coord.group_remove("a", "servers", s, err));
  s.pump();
  CHECK(s.coord.policies() == before);
  CHECK(s.coord.map_version() == v);
  CHECK(b.state().filter == filter_b);

  // A name that is both a node and a group must be said which.
  REQUIRE(s.coord.group_add("a", "b", s, err));
  CHECK_FALSE(s.coord.add_policy({"p", "b", "*", "any", ""}, s, err));
  CHECK(err.find("both a node and a group") != std::string::npos);
  CHECK(s.coord.add_policy({"p", "group:b", "node:b", "any", ""}, s, err));
  CHECK(s.coord.add_policy({"q", "later", "*", "udp", "53"}, s, err));
  auto ps = s.coord.policies();
  REQUIRE(ps.size() == 3);
  CHECK(s.coord.selector_name(ps[1].from) == "group:b");
  CHECK(s.coord.selector_name(ps[1].to) == "node:b");
  auto groups = s.coord.groups();
  REQUIRE(groups.size() == 4);  // b, clients, later (invite only), servers
  CHECK(groups[2].name == "later");
  CHECK(groups[2].nodes.empty());
}

TEST_CASE("control: the filter's wire form round-trips; malformed ones are refused") {
  control::FullMap m;
  m.version = 3;
  policy::RuleSet rs;
  rs.rules.push_back({{*net::Prefix::parse("100.83.0.0/16"), *net::Prefix::parse("fd00::/48")},
                      {*net::Prefix::parse("100.83.0.2/32")},
                      Proto::udp,
                      {{53, 53}, {8000, 8100}}});
  rs.rules.push_back({{*net::Prefix::parse("100.83.0.9/32")}, {*net::Prefix::parse("100.83.0.2/32")}, Proto::any, {}});
  m.filter = rs;
  auto back = control::decode(control::encode(m));
  REQUIRE(back);
  REQUIRE(std::holds_alternative<control::FullMap>(*back));
  CHECK(std::get<control::FullMap>(*back).filter == rs);

  // Without a filter (an older coordinator): none, not an empty one.
  auto none = control::decode(R"({"type":"delta","version":2,"upsert":[],"remove":[]})");
  REQUIRE(none);
  CHECK_FALSE(std::get<control::Delta>(*none).filter.has_value());

  for (const char* bad : {
           R"({"type":"delta","version":2,"upsert":[],"remove":[],"filter":[]})",
           R"({"type":"delta","version":2,"upsert":[],"remove":[],"filter":{}})",
           R"({"type":"delta","version":2,"upsert":[],"remove":[],"filter":{"rules":[1]}})",
           R"({"type":"delta","version":2,"upsert":[],"remove":[],"filter":{"rules":[{"src":["x"],"dst":[],"proto":"any","ports":""}]}})",
           R"({"type":"delta","version":2,"upsert":[],"remove":[],"filter":{"rules":[{"src":[],"dst":[],"proto":"gre","ports":""}]}})",
           R"({"type":"delta","version":2,"upsert":[],"remove":[],"filter":{"rules":[{"src":[],"dst":[],"proto":"tcp","ports":"0"}]}})",
           R"({"type":"map","version":2,"peers":[],"filter":{"rules":[{"src":[],"dst":[],"proto":"tcp"}]}})",
       }) {
    CAPTURE(bad);
    std::string why;
    CHECK_FALSE(control::decode(bad, &why));
    CHECK_FALSE(why.empty());
  }
}
