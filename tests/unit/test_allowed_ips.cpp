#include <doctest/doctest.h>

#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "engine/wg/allowed_ips.hpp"

using ovl::net::IpAddr;
using ovl::net::Prefix;
using ovl::wg::AllowedIps;

namespace {

Prefix P(const char* s) {
  auto p = Prefix::parse(s);
  REQUIRE_MESSAGE(p, s);
  return *p;
}
IpAddr A(const char* s) {
  auto a = IpAddr::parse(s);
  REQUIRE_MESSAGE(a, s);
  return *a;
}

// Brute force: every (masked prefix -> owner); the longest containing prefix wins.
struct Reference {
  std::map<std::tuple<bool, std::array<uint8_t, 16>, uint8_t>, uint32_t> m;
  void insert(const Prefix& p, uint32_t id) {
    auto q = p.masked();
    m[{q.addr.v6, q.addr.b, q.len}] = id;
  }
  void remove_peer(uint32_t id) {
    std::erase_if(m, [&](const auto& kv) { return kv.second == id; });
  }
  std::optional<uint32_t> lookup(const IpAddr& a) const {
    int best = -1;
    std::optional<uint32_t> r;
    for (const auto& [k, id] : m) {
      Prefix p{IpAddr{}, std::get<2>(k)};
      p.addr.v6 = std::get<0>(k);
      p.addr.b = std::get<1>(k);
      if (p.contains(a) && int(p.len) > best) {
        best = p.len;
        r = id;
      }
    }
    return r;
  }
};

IpAddr random_near(std::mt19937_64& rng, const std::vector<IpAddr>& bases, bool v6) {
  // Start from a base and flip a few low-ish bits so that prefixes overlap a lot.
  IpAddr a = bases[rng() % bases.size()];
  a.v6 = v6;
  unsigned bits = v6 ? 128 : 32;
  int flips = static_cast<int>(rng() % 4);
  for (int i = 0; i < flips; ++i) {
    unsigned b = static_cast<unsigned>(rng() % bits);
    a.b[b / 8] ^= static_cast<uint8_t>(0x80 >> (b % 8));
  }
  if (!v6) std::fill(a.b.begin() + 4, a.b.end(), uint8_t{0});
  return a;
}

}  // namespace

TEST_CASE("allowed_ips: empty table finds nothing") {
  AllowedIps t;
  CHECK_FALSE(t.lookup(A("10.0.0.1")));
  CHECK_FALSE(t.lookup(A("::1")));
  CHECK(t.size() == 0);
}

TEST_CASE("allowed_ips: longest prefix wins") {
  AllowedIps t;
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("10.1.0.0/16"), 2);
  t.insert(P("10.1.2.0/24"), 3);
  t.insert(P("10.1.2.3/32"), 4);
  CHECK(t.lookup(A("10.9.9.9")) == 1u);
  CHECK(t.lookup(A("10.1.9.9")) == 2u);
  CHECK(t.lookup(A("10.1.2.9")) == 3u);
  CHECK(t.lookup(A("10.1.2.3")) == 4u);
  CHECK_FALSE(t.lookup(A("11.0.0.1")));
  CHECK(t.size() == 4);
}

TEST_CASE("allowed_ips: insertion order does not matter") {
  AllowedIps t;
  t.insert(P("10.1.2.3/32"), 4);
  t.insert(P("10.1.2.0/24"), 3);
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("10.1.0.0/16"), 2);
  CHECK(t.lookup(A("10.9.9.9")) == 1u);
  CHECK(t.lookup(A("10.1.9.9")) == 2u);
  CHECK(t.lookup(A("10.1.2.9")) == 3u);
  CHECK(t.lookup(A("10.1.2.3")) == 4u);
}

TEST_CASE("allowed_ips: /0 default routes") {
  AllowedIps t;
  t.insert(P("0.0.0.0/0"), 7);
  CHECK(t.lookup(A("1.2.3.4")) == 7u);
  CHECK(t.lookup(A("255.255.255.255")) == 7u);
  CHECK_FALSE(t.lookup(A("::1")));  // v4 default does not cover v6
  t.insert(P("::/0"), 8);
  CHECK(t.lookup(A("2001:db8::1")) == 8u);
  t.insert(P("192.168.0.0/16"), 9);
  CHECK(t.lookup(A("192.168.1.1")) == 9u);
  CHECK(t.lookup(A("192.169.1.1")) == 7u);
}

TEST_CASE("allowed_ips: IPv4 and IPv6 do not mix") {
  AllowedIps t;
  t.insert(P("::/96"), 1);       // would cover ::a.b.c.d if families were confused
  t.insert(P("10.0.0.0/8"), 2);
  CHECK_FALSE(t.lookup(A("1.2.3.4")));
  CHECK(t.lookup(A("::102:304")) == 1u);
  CHECK_FALSE(t.lookup(A("a00::1")));  // first bytes 0x0a00 as in 10.x
  CHECK(t.lookup(A("10.2.3.4")) == 2u);
  CHECK_FALSE(t.lookup(A("::ffff:10.2.3.4")));  // v4-mapped is still IPv6
}

TEST_CASE("allowed_ips: host bits are masked") {
  AllowedIps t;
  t.insert(P("10.0.0.77/24"), 1);
  CHECK(t.lookup(A("10.0.0.1")) == 1u);
  auto ps = t.prefixes_of(1);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0] == P("10.0.0.0/24"));
}

TEST_CASE("allowed_ips: same prefix again moves it to the new peer") {
  AllowedIps t;
  t.insert(P("10.0.0.0/24"), 1);
  t.insert(P("fd00::/64"), 1);
  t.insert(P("10.0.0.9/24"), 2);  // same network after masking
  CHECK(t.lookup(A("10.0.0.1")) == 2u);
  CHECK(t.lookup(A("fd00::5")) == 1u);
  CHECK(t.size() == 2);
  CHECK(t.prefixes_of(1) == std::vector<Prefix>{P("fd00::/64")});
  CHECK(t.prefixes_of(2) == std::vector<Prefix>{P("10.0.0.0/24")});
}

TEST_CASE("allowed_ips: remove_peer") {
  AllowedIps t;
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("10.1.0.0/16"), 2);
  t.insert(P("10.1.1.0/24"), 1);
  t.insert(P("fd00::/8"), 2);
  t.remove_peer(2);
  CHECK(t.lookup(A("10.1.5.5")) == 1u);  // falls back to the shorter prefix
  CHECK(t.lookup(A("10.1.1.5")) == 1u);
  CHECK_FALSE(t.lookup(A("fd00::1")));
  CHECK(t.prefixes_of(2).empty());
  CHECK(t.size() == 2);
  t.remove_peer(99);  // unknown peer: nothing happens
  CHECK(t.size() == 2);
  t.remove_peer(1);
  CHECK_FALSE(t.lookup(A("10.1.1.5")));
  CHECK(t.size() == 0);
}

TEST_CASE("allowed_ips: prefixes_of is sorted, v4 first") {
  AllowedIps t;
  t.insert(P("fd00::/64"), 3);
  t.insert(P("10.2.0.0/16"), 3);
  t.insert(P("10.1.0.0/16"), 3);
  t.insert(P("10.1.0.0/24"), 3);
  t.insert(P("192.168.0.0/16"), 4);
  CHECK(t.prefixes_of(3) ==
        std::vector<Prefix>{P("10.1.0.0/16"), P("10.1.0.0/24"), P("10.2.0.0/16"), P("fd00::/64")});
}

TEST_CASE("allowed_ips: clear") {
  AllowedIps t;
  t.insert(P("0.0.0.0/0"), 1);
  t.insert(P("::/0"), 1);
  t.clear();
  CHECK_FALSE(t.lookup(A("1.1.1.1")));
  CHECK_FALSE(t.lookup(A("::1")));
  CHECK(t.prefixes_of(1).empty());
  t.insert(P("1.0.0.0/8"), 2);
  CHECK(t.lookup(A("1.1.1.1")) == 2u);
}

TEST_CASE("allowed_ips: over-long prefix is a host route") {
  AllowedIps t;
  Prefix p{A("10.0.0.1"), 40};
  t.insert(p, 1);
  CHECK(t.lookup(A("10.0.0.1")) == 1u);
  CHECK_FALSE(t.lookup(A("10.0.0.2")));
  CHECK(t.prefixes_of(1) == std::vector<Prefix>{P("10.0.0.1/32")});
}

TEST_CASE("allowed_ips: randomized against brute force") {
  std::mt19937_64 rng(20240601);
  for (bool v6 : {false, true}) {
    for (int round = 0; round < 12; ++round) {
      CAPTURE(v6);
      CAPTURE(round);
      std::vector<IpAddr> bases;
      for (int i = 0; i < 4; ++i) {
        IpAddr a;
        a.v6 = v6;
        for (auto& byte : a.b) byte = static_cast<uint8_t>(rng());
        if (!v6) std::fill(a.b.begin() + 4, a.b.end(), uint8_t{0});
        bases.push_back(a);
      }
      AllowedIps t;
      Reference ref;
      const unsigned bits = v6 ? 128 : 32;
      for (int op = 0; op < 300; ++op) {
        if (rng() % 25 == 0) {
          uint32_t id = static_cast<uint32_t>(rng() % 6);
          t.remove_peer(id);
          ref.remove_peer(id);
        } else {
          Prefix p{random_near(rng, bases, v6), static_cast<uint8_t>(rng() % (bits + 1))};
          uint32_t id = static_cast<uint32_t>(rng() % 6);
          t.insert(p, id);
          ref.insert(p, id);
        }
        REQUIRE(t.size() == ref.m.size());
        for (int q = 0; q < 10; ++q) {
          IpAddr a = random_near(rng, bases, v6);
          auto got = t.lookup(a), want = ref.lookup(a);
          if (got != want) REQUIRE_MESSAGE(got == want, a.str());
        }
      }
      // Every stored prefix is reported for its owner, and only those.
      for (uint32_t id = 0; id < 6; ++id) {
        size_t n = 0;
        for (const auto& [k, owner] : ref.m) n += owner == id;
        REQUIRE(t.prefixes_of(id).size() == n);
        for (const auto& p : t.prefixes_of(id)) {
          auto it = ref.m.find({p.addr.v6, p.addr.b, p.len});
          REQUIRE(it != ref.m.end());
          REQUIRE(it->second == id);
        }
      }
    }
  }
}
