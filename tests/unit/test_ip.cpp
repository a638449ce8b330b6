#include <doctest/doctest.h>

#include <string>

#include "engine/net/ip.hpp"

using ovl::net::Endpoint;
using ovl::net::IpAddr;
using ovl::net::Prefix;

TEST_CASE("ip: IPv4 parse and format") {
  auto a = IpAddr::parse("192.168.1.20");
  REQUIRE(a);
  CHECK_FALSE(a->v6);
  CHECK(a->size() == 4);
  CHECK(*a == IpAddr::v4(192, 168, 1, 20));
  CHECK(a->str() == "192.168.1.20");
  CHECK(IpAddr::parse("0.0.0.0")->is_unspecified());
  CHECK_FALSE(IpAddr::parse("0.0.0.1")->is_unspecified());
  CHECK(IpAddr::parse("255.255.255.255")->str() == "255.255.255.255");
}

TEST_CASE("ip: IPv6 parse and format (RFC 5952 text)") {
  auto a = IpAddr::parse("2001:0db8:0000:0000:0000:0000:0000:0001");
  REQUIRE(a);
  CHECK(a->v6);
  CHECK(a->size() == 16);
  CHECK(a->str() == "2001:db8::1");
  CHECK(IpAddr::parse("::")->is_unspecified());
  CHECK(IpAddr::parse("::")->str() == "::");
  CHECK(IpAddr::parse("fd00::1")->str() == "fd00::1");
  CHECK(IpAddr::parse("FD00::ABCD")->str() == "fd00::abcd");
  auto m = IpAddr::parse("::ffff:1.2.3.4");
  REQUIRE(m);
  CHECK(m->v6);
  CHECK(m->b[15] == 4);
  // An IPv4 address and its v4-mapped IPv6 form are different values.
  CHECK(*m != *IpAddr::parse("1.2.3.4"));
}

TEST_CASE("ip: from_bytes") {
  const uint8_t four[4] = {10, 0, 0, 1};
  auto a = IpAddr::from_bytes(four);
  CHECK_FALSE(a.v6);
  CHECK(a.str() == "10.0.0.1");
  uint8_t sixteen[16] = {0xfd};
  sixteen[15] = 2;
  auto b = IpAddr::from_bytes(sixteen);
  CHECK(b.v6);
  CHECK(b.str() == "fd00::2");
  CHECK(std::equal(b.bytes().begin(), b.bytes().end(), sixteen));
}

TEST_CASE("ip: bad addresses") {
  for (const char* s : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ",
                        "1.2.3.4/8", "a.b.c.d", "1::2::3", "12345::", "fd00::g", ":", "[::1]", "::1%eth0",
                        "localhost", "0x7f.0.0.1"}) {
    CAPTURE(std::string(s));
    CHECK_FALSE(IpAddr::parse(s));
  }
  CHECK_FALSE(IpAddr::parse(std::string(100, '1')));
}

TEST_CASE("ip: parse does not read past the view") {
  std::string_view full = "10.0.0.12";
  auto a = IpAddr::parse(full.substr(0, 8));  // "10.0.0.1"
  REQUIRE(a);
  CHECK(a->str() == "10.0.0.1");
}

TEST_CASE("ip: ordering and equality") {
  CHECK(*IpAddr::parse("10.0.0.1") < *IpAddr::parse("10.0.0.2"));
  CHECK(*IpAddr::parse("10.0.0.1") == IpAddr::v4(10, 0, 0, 1));
}

TEST_CASE("prefix: parse and format") {
  auto p = Prefix::parse("10.0.0.0/8");
  REQUIRE(p);
  CHECK(p->len == 8);
  CHECK(p->str() == "10.0.0.0/8");
  CHECK(Prefix::parse("10.0.0.1")->len == 32);   // bare address: host route
  CHECK(Prefix::parse("fd00::1")->len == 128);
  CHECK(Prefix::parse("fd00::/64")->str() == "fd00::/64");
  CHECK(Prefix::parse("0.0.0.0/0")->len == 0);
  CHECK(Prefix::parse("::/0")->len == 0);
  CHECK(Prefix::parse("1.2.3.4/32")->len == 32);
  CHECK(Prefix::parse("::1/128")->len == 128);
  // Host bits are kept by parse; masked() clears them.
  CHECK(Prefix::parse("10.0.0.1/24")->str() == "10.0.0.1/24");
}

TEST_CASE("prefix: bad input") {
  for (const char* s : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0.0/-1", "10.0.0.0/+8",
                        "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/a", "10.0.0/8", "hello/8",
                        "10.0.0.0/99999999999999999999"}) {
    CAPTURE(std::string(s));
    CHECK_FALSE(Prefix::parse(s));
  }
}

TEST_CASE("prefix: masked") {
  CHECK(Prefix::parse("10.1.2.3/8")->masked() == *Prefix::parse("10.0.0.0/8"));
  CHECK(Prefix::parse("10.1.2.3/20")->masked().str() == "10.1.0.0/20");
  CHECK(Prefix::parse("10.1.2.3/0")->masked().str() == "0.0.0.0/0");
  CHECK(Prefix::parse("10.1.2.3/32")->masked().str() == "10.1.2.3/32");
  CHECK(Prefix::parse("fd00:1:2:3:4:5:6:7/48")->masked().str() == "fd00:1:2::/48");
  CHECK(Prefix::parse("fd00:1:2:3:4:5:6:7/63")->masked().str() == "fd00:1:2:2::/63");
  CHECK(Prefix::parse("ffff::ffff/1")->masked().str() == "8000::/1");
  auto m = Prefix::parse("10.1.2.3/20")->masked();
  CHECK(m.masked() == m);
}

TEST_CASE("prefix: contains") {
  auto p = *Prefix::parse("10.1.0.0/16");
  CHECK(p.contains(*IpAddr::parse("10.1.0.0")));
  CHECK(p.contains(*IpAddr::parse("10.1.255.255")));
  CHECK_FALSE(p.contains(*IpAddr::parse("10.2.0.0")));
  CHECK_FALSE(p.contains(*IpAddr::parse("::a01:0")));  // other family
  auto q = *Prefix::parse("10.1.2.128/25");
  CHECK(q.contains(*IpAddr::parse("10.1.2.200")));
  CHECK_FALSE(q.contains(*IpAddr::parse("10.1.2.127")));
  // Unmasked prefix: the network is what counts.
  CHECK(Prefix::parse("10.1.2.3/24")->contains(*IpAddr::parse("10.1.2.77")));
  CHECK(Prefix::parse("0.0.0.0/0")->contains(*IpAddr::parse("8.8.8.8")));
  CHECK_FALSE(Prefix::parse("0.0.0.0/0")->contains(*IpAddr::parse("::1")));
  CHECK(Prefix::parse("::/0")->contains(*IpAddr::parse("2001:db8::1")));
  auto six = *Prefix::parse("fd00:aa::/33");
  CHECK(six.contains(*IpAddr::parse("fd00:aa:7fff::1")));
  CHECK_FALSE(six.contains(*IpAddr::parse("fd00:aa:8000::1")));
  CHECK(Prefix::parse("1.2.3.4")->contains(*IpAddr::parse("1.2.3.4")));
  CHECK_FALSE(Prefix::parse("1.2.3.4")->contains(*IpAddr::parse("1.2.3.5")));
}

TEST_CASE("endpoint: parse and format") {
  auto e = Endpoint::parse("1.2.3.4:51820");
  REQUIRE(e);
  CHECK(e->valid());
  CHECK(e->port == 51820);
  CHECK(e->ip == IpAddr::v4(1, 2, 3, 4));
  CHECK(e->str() == "1.2.3.4:51820");
  auto s = Endpoint::parse("[2001:db8::1]:443");
  REQUIRE(s);
  CHECK(s->ip.v6);
  CHECK(s->port == 443);
  CHECK(s->str() == "[2001:db8::1]:443");
  CHECK(Endpoint::parse("1.2.3.4:1")->port == 1);
  CHECK(Endpoint::parse("1.2.3.4:65535")->port == 65535);
  CHECK_FALSE(Endpoint{}.valid());
  CHECK(*Endpoint::parse("1.2.3.4:1") < *Endpoint::parse("1.2.3.4:2"));
}

TEST_CASE("endpoint: bad input") {
  for (const char* s : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:80a",
                        "1.2.3.4: 80", ":80", "2001:db8::1:80", "[2001:db8::1]", "[2001:db8::1]80",
                        "[2001:db8::1]:", "[2001:db8::1:80", "example.com:80", "[]:80", "1.2.3.4:99999999999"}) {
    CAPTURE(std::string(s));
    CHECK_FALSE(Endpoint::parse(s));
  }
}

TEST_CASE("ip: round trips through text") {
  for (const char* s : {"0.0.0.0", "127.0.0.1", "100.64.0.1", "::", "::1", "fe80::1:2", "2001:db8:0:1::"}) {
    auto a = IpAddr::parse(s);
    REQUIRE(a);
    CHECK(a->str() == s);
    CHECK(*IpAddr::parse(a->str()) == *a);
  }
  for (const char* s : {"10.0.0.0/8", "fd00::/8", "::/0", "100.64.0.0/10"}) CHECK(Prefix::parse(s)->str() == s);
  for (const char* s : {"9.9.9.9:53", "[::1]:51820"}) CHECK(Endpoint::parse(s)->str() == s);
}

TEST_CASE("parsers refuse embedded NULs and bracketed IPv4") {
  using namespace ovl::net;
  CHECK_FALSE(IpAddr::parse(std::string("1.2.3.4\0x", 9)));
  CHECK_FALSE(Prefix::parse(std::string("10.0.0.0\0/8", 11)));
  CHECK_FALSE(Endpoint::parse("[1.2.3.4]:80"));
  CHECK(Endpoint::parse("[::1]:80"));
  // A hand-built over-long prefix does not read past the address.
  Prefix p{*IpAddr::parse("10.1.2.3"), 200};
  CHECK(p.contains(*IpAddr::parse("10.1.2.3")));
  CHECK(p.masked().len == 32);
}

TEST_CASE("is_loopback covers 127/8 and ::1 only") {
  using namespace ovl::net;
  CHECK(IpAddr::parse("127.0.0.1")->is_loopback());
  CHECK(IpAddr::parse("127.8.9.10")->is_loopback());
  CHECK(IpAddr::parse("::1")->is_loopback());
  CHECK_FALSE(IpAddr::parse("128.0.0.1")->is_loopback());
  CHECK_FALSE(IpAddr::parse("::2")->is_loopback());
  CHECK_FALSE(IpAddr::parse("::ffff:127.0.0.1")->is_loopback());  // v4-mapped is unmapped at the socket edge
}
