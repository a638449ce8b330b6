// IPv6 inside the overlay: the network's random ULA /48, each node's address
// derived from it (stable, unique), the migration that gives an existing
// network its range, and the map fields that carry both to the nodes.
#include <set>

#include "engine/control/messages.hpp"
#include "engine/control/registry.hpp"
#include "store_fixture.hpp"

namespace {

// Fixed bytes, so the expected text can be written down.
struct CountingRng final : crypto::Rng {
  uint8_t next = 0x11;
  void fill(std::span<uint8_t> out) override {
    for (auto& b : out) b = next++;
  }
};

}  // namespace

TEST_SUITE("ipv6") {

TEST_CASE("ipv6: a random ULA is a /48 in fd00::/8 with 40 random bits") {
  CountingRng rng;
  auto ula = control::random_ula(rng);
  CHECK(ula.str() == "fd11:1213:1415::/48");
  CHECK(control::valid_ula(ula));
  crypto::SystemRng sys;
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    auto u = control::random_ula(sys);
    CHECK(control::valid_ula(u));
    CHECK(u.masked() == u);
    seen.insert(u.str());
  }
  CHECK(seen.size() == 64);  // 2^40 values: a repeat here means no randomness
  CHECK_FALSE(control::valid_ula(*net::Prefix::parse("fc00:1:2::/48")));   // fc00::/8 is not locally assigned
  CHECK_FALSE(control::valid_ula(*net::Prefix::parse("fd00:1:2::/64")));
  CHECK_FALSE(control::valid_ula(*net::Prefix::parse("10.0.0.0/8")));
}

TEST_CASE("ipv6: a node's address is subnet 0 of the ULA with its IPv4 address last") {
  const auto ula = *net::Prefix::parse("fd12:3456:789a::/48");
  auto a = control::node_ipv6(ula, net::IpAddr::v4(100, 83, 0, 2));
  REQUIRE(a);
  CHECK(a->str() == "fd12:3456:789a::6453:2");
  CHECK(ula.contains(*a));
  CHECK(net::Prefix{*a, control::kOverlay6SubnetLen}.masked().str() == "fd12:3456:789a::/64");
  // Distinct IPv4 addresses give distinct IPv6 ones, and the same one always the same.
  std::set<net::IpAddr> seen;
  for (int i = 1; i < 255; ++i) seen.insert(*control::node_ipv6(ula, net::IpAddr::v4(100, 83, 1, uint8_t(i))));
  CHECK(seen.size() == 254);
  CHECK(control::node_ipv6(ula, net::IpAddr::v4(100, 83, 0, 2)) == a);
  CHECK_FALSE(control::node_ipv6(ula, *net::IpAddr::parse("fd00::1")));
  CHECK_FALSE(control::node_ipv6(net::Prefix{}, net::IpAddr::v4(100, 83, 0, 2)));
}

TEST_CASE("ipv6: a new network stores a ULA (given or picked) and keeps it") {
  TempDir dir;
  {
    Db db = Db::open(dir.file("a.db"));
    CoordinatorStore s(db);
    auto info = make_network("100.83.0.0/16");
    info.ula = *net::Prefix::parse("fd12:3456:789a::/48");
    s.create_network(info);
    CHECK(s.network().ula.str() == "fd12:3456:789a::/48");
  }
  {
    Db db = Db::open(dir.file("a.db"));
    CHECK(CoordinatorStore(db).network().ula.str() == "fd12:3456:789a::/48");  // across restarts
  }
  Db db = Db::open(dir.file("b.db"));
  CoordinatorStore s(db);
  s.create_network(make_network("100.83.0.0/16"));  // none given: the store picks one
  CHECK(control::valid_ula(s.network().ula));
  Db db2 = Db::open(dir.file("c.db"));
  auto bad = make_network("100.83.0.0/16");
  bad.ula = *net::Prefix::parse("2001:db8::/48");
  CHECK_THROWS_AS(CoordinatorStore(db2).create_network(bad), std::invalid_argument);
  CHECK_FALSE(CoordinatorStore::has_network(db2));
}

TEST_CASE("ipv6: the migration gives a network made before IPv6 a ULA, once") {
  TempDir dir;
  const auto path = dir.file("old.db");
  make_v1_database(path, "00", "home", "100.83.0.0/16", 1);  // as the previous release left it
  std::string first;
  {
    Db db = Db::open(path);
    CHECK(db.user_version() == store::schema_version());
    auto n = CoordinatorStore(db).network();
    CHECK(control::valid_ula(n.ula));
    CHECK(n.cidr.str() == "100.83.0.0/16");
    first = n.ula.str();
  }
  Db db = Db::open(path);
  CHECK(CoordinatorStore(db).network().ula.str() == first);  // stable: the migration ran once
}

TEST_CASE("ipv6: welcome and peers carry ula and ip6; older messages without them still parse") {
  control::Welcome w;
  w.self.id = 1;
  w.self.name = "server";
  w.self.ip = net::IpAddr::v4(100, 83, 0, 1);
  w.self.ip6 = *net::IpAddr::parse("fd12:3456:789a::6453:1");
  w.network = {"00", "home", "home.ovl", *net::Prefix::parse("100.83.0.0/16"), *net::Prefix::parse("fd12:3456:789a::/48")};
  auto back = control::decode(control::encode(w));
  REQUIRE(back);
  auto& w2 = std::get<control::Welcome>(*back);
  CHECK(w2.self == w.self);
  CHECK(w2.network.ula == w.network.ula);

  w.self.ip6.reset();
  w.network.ula.reset();
  const std::string old = control::encode(w);
  CHECK(old.find("ip6") == std::string::npos);
  CHECK(old.find("ula") == std::string::npos);
  auto back_old = control::decode(old);
  REQUIRE(back_old);
  CHECK_FALSE(std::get<control::Welcome>(*back_old).self.ip6);

  std::string why;
  CHECK_FALSE(control::decode(R"({"type":"map","version":1,"peers":[{"id":1,"name":"a","ip":"100.83.0.2",)"
                              R"("ip6":"100.83.0.2","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",)"
                              R"("endpoints":[],"groups":[],"online":true}]})",
                              &why));
  CHECK(why.find("ip6") != std::string::npos);
}

}  // TEST_SUITE
