// The nft ruleset a subnet router / exit node installs (tun/forwarding.hpp):
// what it forwards follows what is approved for the node.
#include <doctest/doctest.h>

#include "tun/forwarding.hpp"

using namespace ovl;

namespace {
net::Prefix pfx(const char* s) { return *net::Prefix::parse(s); }
bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }
}  // namespace

TEST_CASE("forwarding: nothing approved forwards nothing from the overlay") {
  auto r = tun::forwarding_ruleset(pfx("100.90.0.0/16"), "ovl0", {});
  CHECK(has(r, "iifname \"ovl0\" drop\n"));
  CHECK(has(r, "ip saddr 100.90.0.0/16 oifname != \"ovl0\" masquerade"));
  // Replaces a table a crashed run left, in one transaction.
  CHECK(r.rfind("table ip ovl\ndelete table ip ovl\ntable ip ovl {", 0) == 0);
}

TEST_CASE("forwarding: approved subnets only; an approved exit route forwards everything") {
  auto r = tun::forwarding_ruleset(pfx("100.90.0.0/16"), "tun7", {pfx("10.77.1.0/24"), pfx("192.168.0.0/16")});
  CHECK(has(r, "iifname \"tun7\" ip daddr != { 10.77.1.0/24, 192.168.0.0/16 } drop"));
  CHECK_FALSE(has(r, "iifname \"tun7\" drop"));
  auto e = tun::forwarding_ruleset(pfx("100.90.0.0/16"), "ovl0", {pfx("0.0.0.0/0"), pfx("10.77.1.0/24")});
  CHECK_FALSE(has(e, "drop"));
  CHECK(has(e, "masquerade"));
  CHECK(has(e, "maxseg size set rt mtu"));
}
