#include <doctest/doctest.h>

#include "engine/nat/candidates.hpp"

using namespace ovl;

static net::Endpoint ep(const char* s) { return *net::Endpoint::parse(s); }
static net::Prefix pf(const char* s) { return *net::Prefix::parse(s); }

TEST_CASE("candidates: the public mapping unless both sides share a NAT") {
  std::vector<net::Prefix> lan{pf("192.168.1.0/24")};
  std::vector<net::Endpoint> self{ep("203.0.113.10:51820"), ep("192.168.1.2:51820")};
  // Behind the same NAT: the peer's LAN address in our subnet wins.
  std::vector<net::Endpoint> same{ep("203.0.113.10:40001"), ep("10.9.9.9:51820"), ep("192.168.1.3:51820")};
  CHECK(nat::choose_endpoint(same, self, lan) == ep("192.168.1.3:51820"));
  // Another site with the same private range: its LAN address is not ours.
  std::vector<net::Endpoint> other{ep("203.0.113.20:51820"), ep("192.168.1.3:51820")};
  CHECK(nat::choose_endpoint(other, self, lan) == ep("203.0.113.20:51820"));
  // Same NAT but no candidate in our subnets: the public one.
  std::vector<net::Endpoint> nolan{ep("203.0.113.10:40001"), ep("10.9.9.9:51820")};
  CHECK(nat::choose_endpoint(nolan, self, lan) == ep("203.0.113.10:40001"));
  CHECK_FALSE(nat::choose_endpoint({}, self, lan));
  CHECK(nat::choose_endpoint(other, {}, lan) == ep("203.0.113.20:51820"));
}
