// Access policies: port lists and selectors, compiling policies per
// receiving node, the packet classifier (IPv4, IPv6 with extension headers,
// fragments, ICMP errors) and the stateful filter (rules, replies to our own
// flows, expiry, the flow table's bound, denied counters).
#include <doctest/doctest.h>

#include <chrono>

#include "engine/policy/filter.hpp"
#include "engine/policy/packet.hpp"
#include "engine/policy/policy.hpp"
#include "../support/packets.hpp"

using namespace ovl;
using namespace ovl::policy;
using namespace std::chrono_literals;
using test::Bytes;
using test::ip;

namespace {

const net::IpAddr kA = ip("100.83.0.1"), kB = ip("100.83.0.2"), kC = ip("100.83.0.3");
const net::IpAddr kA6 = ip("fd6f:766c::1"), kB6 = ip("fd6f:766c::2"), kC6 = ip("fd6f:766c::3");
const net::Prefix kNet = *net::Prefix::parse("100.83.0.0/16");

net::Prefix host(const net::IpAddr& a) { return {a, uint8_t(a.v6 ? 128 : 32)}; }

Rule rule(std::vector<net::IpAddr> src, net::IpAddr dst, Proto p, std::vector<PortRange> ports = {}) {
  Rule r;
  for (auto& s : src) r.src.push_back(host(s));
  r.dst = {host(dst)};
  r.proto = p;
  r.ports = std::move(ports);
  return r;
}

Bytes tcp4(net::IpAddr s, net::IpAddr d, uint16_t sp, uint16_t dp) { return test::ipv4(s, d, kProtoTcp, test::tcp_hdr(sp, dp)); }
Bytes udp4(net::IpAddr s, net::IpAddr d, uint16_t sp, uint16_t dp) { return test::ipv4(s, d, kProtoUdp, test::udp_hdr(sp, dp)); }
Bytes ping4(net::IpAddr s, net::IpAddr d, uint16_t id, bool reply = false) {
  return test::ipv4(s, d, kProtoIcmp, test::icmp_hdr(reply ? 0 : 8, 0, id));
}
Bytes tcp6(net::IpAddr s, net::IpAddr d, uint16_t sp, uint16_t dp) { return test::ipv6(s, d, kProtoTcp, test::tcp_hdr(sp, dp)); }
Bytes ping6(net::IpAddr s, net::IpAddr d, uint16_t id, bool reply = false) {
  return test::ipv6(s, d, kProtoIcmp6, test::icmp_hdr(reply ? 129 : 128, 0, id));
}

}  // namespace

TEST_CASE("port lists: parsed, sorted, merged; bad ones named") {
  auto p = parse_ports("8000-8100,22,8050-8200,23");
  REQUIRE(p);
  CHECK(*p == std::vector<PortRange>{{22, 23}, {8000, 8200}});
  CHECK(format_ports(*p) == "22-23,8000-8200");
  std::string why;
  for (const char* bad : {"", "0", "65536", "22,", ",22", "9-1", "a", "22-", "-5", "1-2-3", "22 ", "+22"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ports(bad, &why));
    CHECK_FALSE(why.empty());
  }
  parse_ports("9000-80", &why);
  CHECK(why.find("start is above its end") != std::string::npos);
  CHECK(parse_ports("1-65535"));
}

TEST_CASE("selectors and names") {
  CHECK(Selector::parse("*")->kind == Selector::Kind::all);
  auto g = Selector::parse("group:web-servers");
  REQUIRE(g);
  CHECK(g->group == "web-servers");
  CHECK(g->str() == "group:web-servers");
  CHECK(Selector::parse("node:7")->node_id == 7);
  for (const char* bad : {"", "group:", "group:a:b", "node:x", "node:0", "node:-1", "web", "**"}) CHECK_FALSE(Selector::parse(bad));
  CHECK(valid_policy_name("ssh-to_db1"));
  CHECK_FALSE(valid_policy_name("Bad Name"));
  CHECK(valid_group_name("Prod.eu-1"));
  CHECK_FALSE(valid_group_name("a:b"));
  CHECK_FALSE(valid_group_name("*"));
}

TEST_CASE("compiling: each node gets the policies it receives, with resolved sources") {
  std::vector<Member> m = {{1, {kA}, {"a"}}, {2, {kB}, {"b"}}, {3, {kC}, {"a", "b"}}};
  Policy web;
  web.name = "web";
  web.from = {Selector::Kind::group, "a", 0};
  web.to = {Selector::Kind::group, "b", 0};
  web.proto = Proto::tcp;
  web.ports = {{8000, 8000}};
  Policy one;
  one.name = "one";
  one.from = {Selector::Kind::node, "", 2};
  one.to = {Selector::Kind::node, "", 1};
  one.proto = Proto::icmp;
  Policy empty;  // a group nobody is in: no rule at all
  empty.name = "empty";
  empty.from = {Selector::Kind::group, "nobody", 0};
  Compiler c({default_policy(0), web, one, empty}, m, {kNet});

  auto a = c.for_node(m[0]);
  REQUIRE(a.rules.size() == 2);
  CHECK(a.rules[0].src == std::vector<net::Prefix>{kNet});
  CHECK(a.rules[0].dst == std::vector<net::Prefix>{host(kA)});
  CHECK(a.rules[1].src == std::vector<net::Prefix>{host(kB)});
  CHECK(a.rules[1].proto == Proto::icmp);

  auto b = c.for_node(m[1]);
  REQUIRE(b.rules.size() == 2);
  CHECK(b.rules[1].src == std::vector<net::Prefix>{host(kA), host(kC)});
  CHECK(b.rules[1].ports == std::vector<PortRange>{{8000, 8000}});

  Compiler none({}, m, {kNet});
  CHECK(none.for_node(m[2]).rules.empty());
}

TEST_CASE("compiling: a node's subnet routes are destinations of the policies to it") {
  auto lan = *net::Prefix::parse("10.77.1.0/24");
  std::vector<Member> m = {{1, {kA}, {"a"}, {lan}}, {2, {kB}, {"b"}, {}}};
  Policy to_a;
  to_a.name = "to-a";
  to_a.from = {Selector::Kind::node, "", 2};
  to_a.to = {Selector::Kind::node, "", 1};
  Compiler c({to_a}, m, {kNet});
  auto a = c.for_node(m[0]);
  REQUIRE(a.rules.size() == 1);
  CHECK(a.rules[0].dst == std::vector<net::Prefix>{host(kA), lan});
  CHECK(c.for_node(m[1]).rules.empty());  // nothing is sent to b
}

TEST_CASE("compiling: \"*\" as a source includes every routed subnet, never an exit route") {
  auto lan = *net::Prefix::parse("10.77.1.0/24");
  auto lan6 = *net::Prefix::parse("fd00:77:1::/64");
  auto exit4 = *net::Prefix::parse("0.0.0.0/0");
  std::vector<Member> m = {{1, {kA}, {}, {lan, lan6, exit4}}, {2, {kB}, {}, {lan}}, {3, {kC}, {}, {}}};
  Compiler c({default_policy(0)}, m, {kNet});
  auto r = c.for_node(m[2]);
  REQUIRE(r.rules.size() == 1);
  // A host on gw's LAN reaches c with only the default policy.
  CHECK(r.rules[0].src == std::vector<net::Prefix>{kNet, lan, lan6});
  // A group or node selector is still only the nodes' own addresses.
  Policy from_a;
  from_a.name = "from-a";
  from_a.from = {Selector::Kind::node, "", 1};
  from_a.to = {Selector::Kind::node, "", 3};
  CHECK(Compiler({from_a}, m, {kNet}).for_node(m[2]).rules.at(0).src == std::vector<net::Prefix>{host(kA)});
}

TEST_CASE("compiling: a member added later compiles as if it had been there from the start") {
  auto lan = *net::Prefix::parse("10.77.1.0/24");
  std::vector<Member> m = {{1, {kA}, {"a"}, {}}, {2, {kB}, {"b"}, {}}, {3, {kC}, {"a", "c"}, {lan}}};
  Policy web;
  web.name = "web";
  web.from = {Selector::Kind::group, "a", 0};
  web.to = {Selector::Kind::group, "b", 0};
  Policy to3;
  to3.name = "to3";
  to3.from = {Selector::Kind::node, "", 3};
  to3.to = {Selector::Kind::all, "", 0};
  std::vector<Policy> ps{default_policy(0), web, to3};
  Compiler all(ps, m, {kNet});
  Compiler grown(ps, {m[0], m[1]}, {kNet});
  grown.add_member(m[2]);
  for (auto& dest : m) CHECK(grown.for_node(dest) == all.for_node(dest));
  CHECK(grown.for_node(m[1]).rules.at(1).src == std::vector<net::Prefix>{host(kA), host(kC)});
}

TEST_CASE("classifier: IPv4 and IPv6 transport fields") {
  auto t = classify(tcp4(kA, kB, 40000, 22));
  REQUIRE(t);
  CHECK(t->src == kA);
  CHECK(t->dst == kB);
  CHECK((t->proto == kProtoTcp && t->has_ports && t->src_port == 40000 && t->dst_port == 22));

  auto e = classify(ping6(kA6, kB6, 77));
  REQUIRE(e);
  CHECK(e->icmp == IcmpKind::echo_request);
  CHECK(e->icmp_id == 77);

  // Extension headers are walked: hop-by-hop (8 bytes) then destination options.
  Bytes ext = {60, 0, 1, 4, 0, 0, 0, 0, kProtoUdp, 0, 1, 4, 0, 0, 0, 0};
  auto u = classify(test::ipv6(kA6, kB6, kProtoUdp, test::udp_hdr(5353, 53), ext, 0));
  REQUIRE(u);
  CHECK((u->proto == kProtoUdp && u->dst_port == 53));

  // Too many extension headers, truncated ones, bad lengths: malformed.
  Bytes chain;
  for (int i = 0; i < kMaxExtHeaders + 1; ++i) chain.insert(chain.end(), {60, 0, 1, 4, 0, 0, 0, 0});
  chain[chain.size() - 8] = kProtoUdp;
  CHECK_FALSE(classify(test::ipv6(kA6, kB6, kProtoUdp, test::udp_hdr(1, 2), chain, 60)));
  auto p = tcp4(kA, kB, 1, 2);
  p[3] += 1;  // total length beyond the buffer
  CHECK_FALSE(classify(p));
  CHECK_FALSE(classify(test::ipv4(kA, kB, kProtoTcp, Bytes(19, 0))));  // TCP header cut short
  CHECK_FALSE(classify(test::ipv4(kA, kB, kProtoUdp, Bytes(7, 0))));
  CHECK_FALSE(classify(test::ipv4(kA, kB, kProtoIcmp, Bytes(7, 0))));
  CHECK_FALSE(classify(Bytes{0x45}));
  CHECK_FALSE(classify(Bytes(40, 0)));
  // Another transport is fine, just without ports.
  auto gre = classify(test::ipv4(kA, kB, 47, Bytes(4, 0)));
  REQUIRE(gre);
  CHECK_FALSE(gre->has_ports);
}

TEST_CASE("classifier: fragments") {
  auto later = classify(test::ipv4(kA, kB, kProtoUdp, Bytes(16, 0), 1480));
  REQUIRE(later);
  CHECK(later->later_fragment);
  CHECK_FALSE(later->has_ports);
  // A first fragment too short for the TCP header (ports in the 2nd): malformed.
  CHECK_FALSE(classify(test::ipv4(kA, kB, kProtoTcp, Bytes(8, 0), 0, true)));
  // A TCP fragment at offset 8 could rewrite the first one's flags (RFC 1858).
  CHECK_FALSE(classify(test::ipv4(kA, kB, kProtoTcp, Bytes(8, 0), 8)));
  auto v6 = classify(test::ipv6(kA6, kB6, kProtoTcp, Bytes(16, 0), test::frag6(kProtoTcp, 1448, false), 44));
  REQUIRE(v6);
  CHECK(v6->later_fragment);
  auto first6 = classify(test::ipv6(kA6, kB6, kProtoTcp, test::tcp_hdr(1, 443), test::frag6(kProtoTcp, 0, true), 44));
  REQUIRE(first6);
  CHECK((!first6->later_fragment && first6->dst_port == 443));
}

TEST_CASE("classifier: an ICMP error names the flow it is about") {
  // B answers A's UDP packet to port 9 with port unreachable; the quote is
  // A's packet (IP header + 8 bytes).
  Bytes quote = udp4(kA, kB, 40000, 9);
  quote.resize(28);
  auto e = classify(test::ipv4(kB, kA, kProtoIcmp, test::icmp_hdr(3, 3, 0, quote)));
  REQUIRE(e);
  CHECK(e->icmp == IcmpKind::error);
  REQUIRE(e->has_cause);
  auto f = answered_flow(*e);
  REQUIRE(f);
  auto sent = sent_flow(*classify(udp4(kA, kB, 40000, 9)));
  CHECK(*f == *sent);
  // An error quoting something of a third party's answers nothing of ours.
  Bytes other = udp4(kC, kB, 40000, 9);
  other.resize(28);
  CHECK_FALSE(answered_flow(*classify(test::ipv4(kB, kA, kProtoIcmp, test::icmp_hdr(3, 3, 0, other)))));
  // IPv6 packet too big about our echo request.
  Bytes q6 = ping6(kA6, kB6, 5);
  auto e6 = classify(test::ipv6(kB6, kA6, kProtoIcmp6, test::icmp_hdr(2, 0, 0, q6)));
  REQUIRE(e6);
  REQUIRE(e6->has_cause);
  CHECK(*answered_flow(*e6) == *sent_flow(*classify(q6)));
  // A quote too short for ports: an error without a cause, not malformed.
  auto shortq = classify(test::ipv4(kB, kA, kProtoIcmp, test::icmp_hdr(3, 3, 0, Bytes(quote.begin(), quote.begin() + 24))));
  REQUIRE(shortq);
  CHECK_FALSE(shortq->has_cause);
}

TEST_CASE("filter: rules decide on source, destination, protocol and port") {
  Filter f;
  const Time t0 = 1s;
  // No rule set: everything passes unexamined (a coordinator without policies).
  CHECK(f.inbound(tcp4(kA, kB, 1, 22), t0) == Verdict::unfiltered);
  CHECK(f.inbound(Bytes{1, 2, 3}, t0) == Verdict::unfiltered);

  f.set_rules(RuleSet{{rule({kA, kA6}, kB, Proto::tcp, {{8000, 8000}}), rule({kA6}, kB6, Proto::tcp, {{8000, 8000}})}});
  f.set_sources({kA, kC, kA6});
  CHECK(f.inbound(tcp4(kA, kB, 40000, 8000), t0) == Verdict::pass);
  CHECK(f.inbound(tcp4(kA, kB, 40000, 8001), t0) == Verdict::denied);
  CHECK(f.inbound(udp4(kA, kB, 40000, 8000), t0) == Verdict::denied);
  CHECK(f.inbound(ping4(kA, kB, 1), t0) == Verdict::denied);
  CHECK(f.inbound(tcp4(kC, kB, 40000, 8000), t0) == Verdict::denied);
  CHECK(f.inbound(tcp4(kA, kC, 40000, 8000), t0) == Verdict::denied);  // not a destination of the rule
  CHECK(f.inbound(tcp6(kA6, kB6, 40000, 8000), t0) == Verdict::pass);
  CHECK(f.inbound(tcp6(kA6, kB6, 40000, 22), t0) == Verdict::denied);
  CHECK(f.inbound(Bytes{0x45, 0, 0}, t0) == Verdict::malformed);
  CHECK(f.denied() == 7);
  CHECK(f.denied_from(kA) == 4);
  CHECK(f.denied_from(kC) == 1);
  CHECK(f.denied_from(kA6) == 1);
  CHECK(f.denied_from(kB) == 0);  // not a tracked source
  CHECK((f.has_source(kA) && f.has_source(kA6) && !f.has_source(kB)));
  f.set_sources({kA});  // kept for sources that stay
  CHECK(f.denied_from(kA) == 4);
  CHECK(f.denied_from(kC) == 0);
  CHECK_FALSE(f.has_source(kC));

  // ICMP by policy; "any" with ports means TCP and UDP on those ports.
  f.set_rules(RuleSet{{rule({kA}, kB, Proto::icmp), rule({kC}, kB, Proto::any, {{53, 53}})}});
  CHECK(f.inbound(ping4(kA, kB, 1), t0) == Verdict::pass);
  CHECK(f.inbound(tcp4(kA, kB, 1, 53), t0) == Verdict::denied);
  CHECK(f.inbound(udp4(kC, kB, 1, 53), t0) == Verdict::pass);
  CHECK(f.inbound(tcp4(kC, kB, 1, 53), t0) == Verdict::pass);
  CHECK(f.inbound(ping4(kC, kB, 1), t0) == Verdict::denied);

  // Prefix sources (the network range of "*"), every protocol.
  RuleSet all;
  all.rules.push_back({{kNet}, {host(kB)}, Proto::any, {}});
  f.set_rules(all);
  CHECK(f.inbound(test::ipv4(kC, kB, 47, Bytes(4, 0)), t0) == Verdict::pass);
  CHECK(f.inbound(tcp4(ip("10.0.0.1"), kB, 1, 22), t0) == Verdict::denied);

  // An empty rule set denies everything: later fragments aside.
  f.set_rules(RuleSet{});
  CHECK(f.enforcing());
  CHECK(f.inbound(tcp4(kA, kB, 1, 22), t0) == Verdict::denied);
  CHECK(f.inbound(test::ipv4(kA, kB, kProtoUdp, Bytes(16, 0), 1480), t0) == Verdict::fragment);
}

TEST_CASE("filter: replies to flows this node opened pass, until they expire") {
  Timeouts to;
  Filter f(1024, 42, to);
  f.set_rules(RuleSet{});  // default deny
  f.set_sources({kA, kA6});
  Time now = 100s;
  // B (this node) connects to A:22 and pings A.
  f.outbound(tcp4(kB, kA, 40000, 22), now);
  f.outbound(ping4(kB, kA, 9), now);
  f.outbound(ping6(kB6, kA6, 10), now);
  f.outbound(udp4(kB, kA, 5000, 53), now);
  CHECK(f.inbound(tcp4(kA, kB, 22, 40000), now + 1s) == Verdict::reply);
  CHECK(f.inbound(tcp4(kA, kB, 22, 40001), now + 1s) == Verdict::denied);  // other port
  CHECK(f.inbound(tcp4(kA, kB, 23, 40000), now + 1s) == Verdict::denied);
  CHECK(f.inbound(tcp4(kC, kB, 22, 40000), now + 1s) == Verdict::denied);  // other host
  CHECK(f.inbound(ping4(kA, kB, 9, true), now + 1s) == Verdict::reply);
  CHECK(f.inbound(ping4(kA, kB, 8, true), now + 1s) == Verdict::denied);
  CHECK(f.inbound(ping4(kA, kB, 9, false), now + 1s) == Verdict::denied);  // a request is not a reply
  CHECK(f.inbound(ping6(kA6, kB6, 10, true), now + 1s) == Verdict::reply);
  CHECK(f.inbound(udp4(kA, kB, 53, 5000), now + 1s) == Verdict::reply);
  // An ICMP error about our UDP packet (e.g. port unreachable) passes too.
  Bytes quote = udp4(kB, kA, 5000, 53);
  quote.resize(28);
  CHECK(f.inbound(test::ipv4(kA, kB, kProtoIcmp, test::icmp_hdr(3, 3, 0, quote)), now + 1s) == Verdict::reply);
  CHECK(f.replies() == 5);

  // Expiry: ICMP after 30 s, UDP after 2 min, TCP after 10 min of silence.
  CHECK(f.inbound(ping4(kA, kB, 9, true), now + 1s + to.icmp + 1s) == Verdict::denied);
  CHECK(f.inbound(udp4(kA, kB, 53, 5000), now + 1s + to.udp - 1s) == Verdict::reply);  // refreshed it
  CHECK(f.inbound(udp4(kA, kB, 53, 5000), now + 2 * to.udp + 1s) == Verdict::denied);
  CHECK(f.inbound(tcp4(kA, kB, 22, 40000), now + 1s + to.tcp + 1s) == Verdict::denied);
  // Sending again reopens the flow.
  f.outbound(tcp4(kB, kA, 40000, 22), now + 1h);
  CHECK(f.inbound(tcp4(kA, kB, 22, 40000), now + 1h + 1s) == Verdict::reply);
}

TEST_CASE("flow table: bounded; evicts the flow expiring first") {
  FlowTable t(100, 7);
  CHECK(t.capacity() == 128);
  const Time now = 1s;
  FlowKey k;
  k.proto = kProtoUdp;
  for (uint32_t i = 0; i < 100000; ++i) {
    k.local_port = uint16_t(i), k.remote_port = uint16_t(i >> 16);
    t.note(k, now, now + 60s + Time(i));  // later flows expire later
  }
  CHECK(t.live(now) <= t.capacity());
  CHECK(t.evictions() >= 100000 - t.capacity());
  // The newest flow is there; one of the first is gone.
  CHECK(t.contains(k, now));
  FlowKey first = k;
  first.local_port = 0, first.remote_port = 0;
  CHECK_FALSE(t.contains(first, now));

  // Expired slots are reused without counting an eviction.
  FlowTable u(16, 1);
  for (uint16_t i = 0; i < 16; ++i) {
    k.local_port = i;
    u.note(k, now, now + 1s);
  }
  uint64_t ev = u.evictions();
  for (uint16_t i = 100; i < 104; ++i) {  // fewer than a window: always a free slot
    k.local_port = i;
    u.note(k, now + 2s, now + 3s);
  }
  CHECK(u.evictions() == ev);
  CHECK(u.live(now + 2s) <= 16);
}
