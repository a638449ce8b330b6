// The nft ruleset a subnet router / exit node installs (tun/forwarding.hpp):
// what it forwards follows what is approved for the node, per address family.
#include <doctest/doctest.h>

#include "tun/forwarding.hpp"

using namespace ovl;

namespace {
net::Prefix pfx(const char* s) { return *net::Prefix::parse(s); }
bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }
const std::vector<net::Prefix> kOverlay{pfx("100.90.0.0/16"), pfx("fd12:3456:789a::/48")};
}  // namespace

TEST_CASE("forwarding: nothing approved forwards nothing from the overlay, in either family") {
  auto r = tun::forwarding_ruleset(kOverlay, "ovl0", {});
  CHECK(has(r, "iifname \"ovl0\" meta nfproto ipv4 drop\n"));
  CHECK(has(r, "iifname \"ovl0\" meta nfproto ipv6 drop\n"));
  CHECK(has(r, "ip saddr 100.90.0.0/16 oifname != \"ovl0\" masquerade"));
  CHECK(has(r, "ip6 saddr fd12:3456:789a::/48 oifname != \"ovl0\" masquerade"));
  // Replaces a table a crashed run left, in one transaction.
  CHECK(r.rfind("table inet ovl\ndelete table inet ovl\ntable inet ovl {", 0) == 0);
}

TEST_CASE("forwarding: a network without a ULA masquerades IPv4 only") {
  auto r = tun::forwarding_ruleset({pfx("100.90.0.0/16")}, "ovl0", {pfx("10.77.1.0/24")});
  CHECK_FALSE(has(r, "ip6 saddr"));
  CHECK(has(r, "iifname \"ovl0\" meta nfproto ipv6 drop\n"));
}

TEST_CASE("forwarding: approved subnets only; an approved exit route forwards everything of its family") {
  auto r = tun::forwarding_ruleset(kOverlay, "tun7",
                                   {pfx("10.77.1.0/24"), pfx("192.168.0.0/16"), pfx("fd00:77:1::/64")});
  CHECK(has(r, "iifname \"tun7\" ip daddr != { 10.77.1.0/24, 192.168.0.0/16 } drop"));
  CHECK(has(r, "iifname \"tun7\" ip6 daddr != { fd00:77:1::/64 } drop"));
  CHECK_FALSE(has(r, "nfproto"));
  auto e = tun::forwarding_ruleset(kOverlay, "ovl0", {pfx("0.0.0.0/0"), pfx("::/0"), pfx("10.77.1.0/24")});
  CHECK_FALSE(has(e, "drop"));
  CHECK(has(e, "masquerade"));
  CHECK(has(e, "maxseg size set rt mtu"));
  // An exit node of IPv4 only (an older version's) still keeps IPv6 closed.
  auto v4 = tun::forwarding_ruleset(kOverlay, "ovl0", {pfx("0.0.0.0/0")});
  CHECK(has(v4, "iifname \"ovl0\" meta nfproto ipv6 drop\n"));
  CHECK_FALSE(has(v4, "ip daddr"));
}
