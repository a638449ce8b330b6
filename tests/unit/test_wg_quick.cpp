#include <doctest/doctest.h>

#include <string>

#include "engine/config/wg_quick.hpp"

using namespace ovl;
using config::parse_wg_quick;
using config::ParseError;
using config::WgQuickConfig;

namespace {

// Throwaway test keys (made with `wg genkey` / `wg pubkey`).
constexpr const char* kPriv = "cFTR7FYMk5cxuMTkl9cpGpNb6B5CdTUY6JDQVH/h2lw=";
constexpr const char* kPub = "+0ppw2qtZ2rzNJvrzB0BlquBgr+eHgiF56a2PCkarUk=";  // of kPriv
constexpr const char* kPeer1 = "tOeshjuWl+Cc+gVQw2BBqaV6sKH6Df6GrtiKhGsEbCU=";
constexpr const char* kPeer2 = "mLgqiXIwaiNvVaqeAs15NTbtnl9r2lVaV8rHkoLZQAs=";
constexpr const char* kPsk = "hjA8HBREj2f7ByyIgodq9lhqY/BO+jgJocQTOyB9Btc=";

std::string iface(const std::string& extra = "") {
  return "[Interface]\nPrivateKey = " + std::string(kPriv) + "\n" + extra;
}

WgQuickConfig ok(const std::string& text) {
  auto r = parse_wg_quick(text);
  if (auto* e = std::get_if<ParseError>(&r)) FAIL("unexpected error on line ", e->line, ": ", e->message);
  return std::get<WgQuickConfig>(std::move(r));
}

ParseError bad(const std::string& text) {
  auto r = parse_wg_quick(text);
  if (std::holds_alternative<WgQuickConfig>(r)) FAIL("parsed, but should have failed:\n", text);
  return std::get<ParseError>(r);
}

net::Prefix P(const char* s) { return *net::Prefix::parse(s); }

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("wg_quick: a typical client config") {
  const std::string text = std::string(
                               "# laptop -> home\n"
                               "[Interface]\n"
                               "PrivateKey = ") + kPriv + "\n"
                           "Address = 10.0.0.2/24, fd00::2/64\n"
                           "DNS = 10.0.0.1, fd00::1, home.lan\n"
                           "ListenPort = 51820\n"
                           "MTU = 1420\n"
                           "\n"
                           "[Peer]\n"
                           "PublicKey = " + kPeer1 + "\n"
                           "PresharedKey = " + kPsk + "\n"
                           "AllowedIPs = 10.0.0.0/24, fd00::/64\n"
                           "AllowedIPs = 192.168.1.0/24\n"
                           "Endpoint = vpn.example.com:51820\n"
                           "PersistentKeepalive = 25\n";
  auto c = ok(text);
  CHECK(crypto::to_base64(c.private_key.b) == kPriv);
  CHECK(crypto::to_base64(crypto::public_from_private(c.private_key)) == kPub);
  CHECK(c.listen_port == 51820);
  CHECK(c.mtu == 1420u);
  REQUIRE(c.addresses.size() == 2);
  CHECK(c.addresses[0].str() == "10.0.0.2/24");  // interface address keeps its host part
  CHECK(c.addresses[1].str() == "fd00::2/64");
  CHECK(c.dns == std::vector<std::string>{"10.0.0.1", "fd00::1", "home.lan"});
  REQUIRE(c.peers.size() == 1);
  const auto& p = c.peers[0];
  CHECK(crypto::to_base64(p.public_key) == kPeer1);
  REQUIRE(p.preshared_key);
  CHECK(crypto::to_base64(p.preshared_key->b) == kPsk);
  CHECK(p.allowed_ips == std::vector<net::Prefix>{P("10.0.0.0/24"), P("fd00::/64"), P("192.168.1.0/24")});
  CHECK(p.endpoint == "vpn.example.com:51820");
  CHECK(p.persistent_keepalive == 25);
  CHECK(p.line == 9);
  CHECK(c.warnings.empty());
}

TEST_CASE("wg_quick: minimal config and defaults") {
  auto c = ok(iface());
  CHECK_FALSE(c.listen_port);
  CHECK_FALSE(c.mtu);
  CHECK(c.addresses.empty());
  CHECK(c.dns.empty());
  CHECK(c.peers.empty());
  auto d = ok(iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\n"));
  REQUIRE(d.peers.size() == 1);
  CHECK(d.peers[0].allowed_ips.empty());  // zero AllowedIPs is allowed
  CHECK_FALSE(d.peers[0].endpoint);
  CHECK_FALSE(d.peers[0].preshared_key);
  CHECK(d.peers[0].persistent_keepalive == 0);
}

TEST_CASE("wg_quick: syntax that real files use") {
  SUBCASE("CRLF line endings, tabs, odd spacing and case-insensitive keys") {
    std::string text = std::string("[interface]\r\n\tprivatekey=") + kPriv + "\r\n  LISTENPORT   =   51000  \r\n\r\n" +
                       "[PEER]\r\npublickey =" + kPeer1 + "\r\nallowedips= 10.1.0.0/16 ,10.2.0.0/16\r\n";
    auto c = ok(text);
    CHECK(c.listen_port == 51000);
    REQUIRE(c.peers.size() == 1);
    CHECK(c.peers[0].allowed_ips == std::vector<net::Prefix>{P("10.1.0.0/16"), P("10.2.0.0/16")});
  }
  SUBCASE("comments, whole-line and trailing") {
    std::string text = "# a comment\n   # indented comment\n[Interface] # main\nPrivateKey = " + std::string(kPriv) +
                       " # secret\nAddress = 10.0.0.1/24#no space\n[Peer]#x\nPublicKey = " + kPeer1 +
                       "\nAllowedIPs = 10.0.0.2/32 # just the peer\n";
    auto c = ok(text);
    CHECK(c.addresses == std::vector<net::Prefix>{P("10.0.0.1/24")});
    REQUIRE(c.peers.size() == 1);
    CHECK(c.peers[0].allowed_ips == std::vector<net::Prefix>{P("10.0.0.2/32")});
  }
  SUBCASE("no newline at end of file") {
    auto c = ok("[Interface]\nPrivateKey = " + std::string(kPriv));
    CHECK(crypto::to_base64(c.private_key.b) == kPriv);
  }
  SUBCASE("UTF-8 byte-order mark") {
    ok("\xEF\xBB\xBF" + iface());
  }
  SUBCASE("section headers with inner spaces") {
    ok("[ Interface ]\nPrivateKey = " + std::string(kPriv) + "\n");
  }
  SUBCASE("bare addresses are host prefixes") {
    auto c = ok(iface("Address = 10.0.0.1, fd00::1\n[Peer]\nPublicKey = " + std::string(kPeer1) +
                      "\nAllowedIPs = 10.0.0.9, fd00::9\n"));
    CHECK(c.addresses == std::vector<net::Prefix>{P("10.0.0.1/32"), P("fd00::1/128")});
    CHECK(c.peers[0].allowed_ips == std::vector<net::Prefix>{P("10.0.0.9/32"), P("fd00::9/128")});
  }
  SUBCASE("Address and DNS lines accumulate") {
    auto c = ok(iface("Address = 10.0.0.1/24\nAddress = fd00::1/64\nDNS = 1.1.1.1\nDNS = 9.9.9.9,\n"));
    CHECK(c.addresses.size() == 2);
    CHECK(c.dns == std::vector<std::string>{"1.1.1.1", "9.9.9.9"});
  }
  SUBCASE("empty AllowedIPs value and trailing comma") {
    auto c = ok(iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nAllowedIPs =\nAllowedIPs = 10.0.0.0/8,\n"));
    CHECK(c.peers[0].allowed_ips == std::vector<net::Prefix>{P("10.0.0.0/8")});
  }
  SUBCASE("interface after peers") {
    auto c = ok("[Peer]\nPublicKey = " + std::string(kPeer1) + "\n" + iface());
    CHECK(c.peers.size() == 1);
  }
}

TEST_CASE("wg_quick: AllowedIPs host bits are masked and duplicates merged") {
  auto c = ok(iface("[Peer]\nPublicKey = " + std::string(kPeer1) +
                    "\nAllowedIPs = 10.0.0.1/24, fd00::1234/64, 10.0.0.77/24\n"));
  CHECK(c.peers[0].allowed_ips == std::vector<net::Prefix>{P("10.0.0.0/24"), P("fd00::/64")});
}

TEST_CASE("wg_quick: a prefix listed by two peers goes to the later one, with a warning") {
  auto c = ok(iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nAllowedIPs = 10.0.0.0/24, 10.9.0.0/16\n" +
                    "[Peer]\nPublicKey = " + kPeer2 + "\nAllowedIPs = 10.0.0.5/24\n"));
  CHECK(c.peers[0].allowed_ips == std::vector<net::Prefix>{P("10.9.0.0/16")});
  CHECK(c.peers[1].allowed_ips == std::vector<net::Prefix>{P("10.0.0.0/24")});
  REQUIRE(c.warnings.size() == 1);
  CHECK(has(c.warnings[0], "line 8:"));
  CHECK(has(c.warnings[0], "10.0.0.0/24"));
}

TEST_CASE("wg_quick: several peers") {
  auto c = ok(iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nEndpoint = [2001:db8::1]:51820\n" +
                    "[Peer]\nPublicKey = " + kPeer2 + "\nEndpoint = 203.0.113.7:1\nPersistentKeepalive = off\n"));
  REQUIRE(c.peers.size() == 2);
  CHECK(c.peers[0].line == 3);
  CHECK(c.peers[1].line == 6);
  CHECK(c.peers[0].endpoint == "[2001:db8::1]:51820");
  CHECK(c.peers[1].endpoint == "203.0.113.7:1");
  CHECK(c.peers[1].persistent_keepalive == 0);
}

TEST_CASE("wg_quick: endpoints") {
  auto endpoint = [](const std::string& v) {
    return iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nEndpoint = " + v + "\n");
  };
  for (const char* v : {"1.2.3.4:65535", "host:1", "my-vpn.example.org.:51820", "[::1]:51820", "[fe80::1%eth0]:51820",
                        "h_1.lan:080"})
    CHECK_MESSAGE(ok(endpoint(v)).peers[0].endpoint == v, v);
  for (const char* v : {"1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:-5", "1.2.3.4:+5",
                        "host:http", "2001:db8::1:51820", "[2001:db8::1]", "[2001:db8::1]51820", "[1.2.3.4]:80",
                        "[host]:80", "[::1:80", "bad host:80", "ho$t:80", ":80", "[fe80::1%]:80",
                        "1.2.3.4:99999999999999999999999"}) {
    auto e = bad(endpoint(v));
    CHECK_MESSAGE(e.line == 5, v);
    CHECK_MESSAGE(has(e.message, "Endpoint"), v);
  }
  auto e = bad(endpoint("1.2.3.4:70000"));
  CHECK(has(e.message, "out of range"));
}

TEST_CASE("wg_quick: numbers and ranges") {
  CHECK(ok(iface("ListenPort = 0\n")).listen_port == 0);  // 0 = random port, as in wg
  CHECK(ok(iface("ListenPort = 65535\n")).listen_port == 65535);
  CHECK(ok(iface("MTU = 1280\n")).mtu == 1280u);
  auto keepalive = [](const std::string& v) {
    return iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nPersistentKeepalive = " + v + "\n");
  };
  CHECK(ok(keepalive("65535")).peers[0].persistent_keepalive == 65535);
  CHECK(ok(keepalive("0")).peers[0].persistent_keepalive == 0);
  CHECK(ok(keepalive("OFF")).peers[0].persistent_keepalive == 0);

  struct Case {
    std::string text;
    int line;
    const char* want;
  };
  const Case cases[] = {
      {iface("ListenPort = 65536\n"), 3, "out of range"},
      {iface("ListenPort = -1\n"), 3, "ListenPort"},
      {iface("ListenPort = 51820x\n"), 3, "not a port"},
      {iface("ListenPort = 99999999999999999999999\n"), 3, "out of range"},
      {iface("ListenPort = 5 1\n"), 3, "ListenPort"},
      {iface("MTU = 0\n"), 3, "out of range"},
      {iface("MTU = 70000\n"), 3, "out of range"},
      {iface("MTU = big\n"), 3, "MTU"},
      {keepalive("65536"), 5, "out of range"},
      {keepalive("on"), 5, "PersistentKeepalive"},
      {keepalive("25s"), 5, "PersistentKeepalive"},
  };
  for (const auto& c : cases) {
    auto e = bad(c.text);
    CHECK_MESSAGE(e.line == c.line, c.text);
    CHECK_MESSAGE(has(e.message, c.want), e.message);
  }
}

TEST_CASE("wg_quick: bad keys never leak into messages") {
  // A valid-looking key with the wrong length, a truncated one, garbage.
  const std::string short_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";  // 31 bytes
  const std::string secret_ish = "SuperSecretKeyMaterialXYZ";
  struct Case {
    std::string text;
    int line;
    const char* want;
    std::string leak;
  };
  const Case cases[] = {
      {"[Interface]\nPrivateKey = " + short_key + "\n", 2, "PrivateKey is not a valid base64 32-byte key", short_key},
      {"[Interface]\nPrivateKey = " + secret_ish + "\n", 2, "PrivateKey is not a valid base64 32-byte key", secret_ish},
      {"[Interface]\nPrivateKey = " + std::string(kPriv).substr(0, 43) + "\n", 2, "not a valid base64",
       std::string(kPriv).substr(0, 20)},
      {iface("[Peer]\nPublicKey = " + secret_ish + "\n"), 4, "PublicKey is not a valid base64 32-byte key", secret_ish},
      {iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nPresharedKey = " + secret_ish + "\n"), 5,
       "PresharedKey is not a valid base64 32-byte key", secret_ish},
      // A key pasted on a line of its own: the text before its '=' is not echoed.
      {iface(std::string(kPsk) + "\n"), 3, "unknown key", std::string(kPsk).substr(0, 20)},
      {std::string(kPsk) + "\n" + iface(), 1, "outside a section", std::string(kPsk).substr(0, 20)},
      {iface("[Peer]\n" + std::string(kPeer1) + "\n"), 4, "unknown key", std::string(kPeer1).substr(0, 20)},
      // A key in a field that is echoed in messages.
      {iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\nEndpoint = " + kPsk + "\n"), 5, "Endpoint",
       std::string(kPsk).substr(0, 20)},
      {iface("Address = " + std::string(kPsk) + "\n"), 3, "Address", std::string(kPsk).substr(0, 20)},
      {iface("DNS = " + std::string(kPriv) + "\n"), 3, "DNS", std::string(kPriv).substr(0, 20)},
      // PrivateKey without '='.
      {"[Interface]\nPrivateKey " + secret_ish + "\n", 2, "Key = Value", secret_ish},
  };
  for (const auto& c : cases) {
    auto e = bad(c.text);
    CHECK_MESSAGE(e.line == c.line, e.message);
    CHECK_MESSAGE(has(e.message, c.want), e.message);
    CHECK_MESSAGE(!has(e.message, c.leak), e.message);
  }
}

TEST_CASE("wg_quick: structural errors") {
  struct Case {
    std::string text;
    int line;
    const char* want;
  };
  const std::string peer1 = "[Peer]\nPublicKey = " + std::string(kPeer1) + "\n";
  const Case cases[] = {
      {"", 0, "no [Interface]"},
      {"# only a comment\n", 0, "no [Interface]"},
      {"[Interface]\nListenPort = 1\n", 1, "no PrivateKey"},
      {"ListenPort = 1\n" + iface(), 1, "outside a section"},
      {iface("Frobnicate = yes\n"), 3, "unknown key 'Frobnicate' in [Interface]"},
      {iface(peer1 + "Frob = 1\n"), 5, "unknown key 'Frob' in [Peer]"},
      {iface("[Peers]\n"), 3, "unknown section [Peers]"},
      {iface("[Peer\n"), 3, "malformed section"},
      {iface("[Interface]\n"), 3, "second [Interface]"},
      {iface("this line has no equals sign\n"), 3, "Key = Value"},
      {iface(" = value\n"), 3, "missing key"},
      {iface("PublicKey = " + std::string(kPeer1) + "\n"), 3, "PublicKey belongs in a [Peer]"},
      {iface(peer1 + "ListenPort = 5\n"), 5, "ListenPort belongs in the [Interface]"},
      {iface("[Peer]\nAllowedIPs = 10.0.0.0/8\n"), 3, "[Peer] has no PublicKey"},
      {iface(peer1 + peer1), 6, "duplicate peer"},
      {iface("[Peer]\nPublicKey = " + std::string(kPub) + "\n"), 4, "own public key"},
      {iface("PrivateKey =\n"), 3, "PrivateKey has no value"},
      {iface(peer1 + "Endpoint =\n"), 5, "Endpoint has no value"},
      {iface("ListenPort=\n"), 3, "no value"},
      {iface(std::string("Address = 10.0.0.1\0/24\n", 24)), 3, "NUL"},
  };
  for (const auto& c : cases) {
    auto e = bad(c.text);
    CHECK_MESSAGE(e.line == c.line, c.text, " -> ", e.message);
    CHECK_MESSAGE(has(e.message, c.want), e.message);
  }
  // The duplicate message points back at the first occurrence.
  auto dup = bad(iface(peer1 + peer1));
  CHECK(has(dup.message, "line 4"));
}

TEST_CASE("wg_quick: bad CIDR and addresses") {
  const std::string peer1 = "[Peer]\nPublicKey = " + std::string(kPeer1) + "\n";
  for (const char* v : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "fd00::/129", "10.0.0.0/8/8", "hello",
                        "10.0.0.0 /8", "10.0.0.0/8 10.1.0.0/16"}) {
    auto e = bad(iface(peer1 + "AllowedIPs = 10.9.0.0/16, " + v + "\n"));
    CHECK_MESSAGE(e.line == 5, v);
    CHECK_MESSAGE(has(e.message, "AllowedIPs"), e.message);
    auto f = bad(iface("Address = " + std::string(v) + "\n"));
    CHECK_MESSAGE(f.line == 3, v);
    CHECK_MESSAGE(has(f.message, "Address"), f.message);
  }
  auto e = bad(iface("DNS = 1.1.1.1, not a domain\n"));
  CHECK(e.line == 3);
  CHECK(has(e.message, "DNS"));
}

TEST_CASE("wg_quick: wg-quick-only keys are warnings") {
  auto c = ok(iface("Table = off\nPostUp = iptables -A FORWARD -i %i -j ACCEPT\nPostDown = iptables -D FORWARD\n"
                    "PreUp = true\nPreDown = true\nSaveConfig = true\nFwMark = 0x1234\n"));
  REQUIRE(c.warnings.size() == 7);
  CHECK(c.warnings[0] == "line 3: Table is ignored by ovl");
  CHECK(c.warnings[1] == "line 4: PostUp is ignored by ovl");
  CHECK(has(c.warnings[6], "FwMark"));
  // They are warnings in [Peer] too (wg-quick would reject them there; we stay lenient).
  auto d = ok(iface("[Peer]\nPublicKey = " + std::string(kPeer1) + "\npostup = x\n"));
  CHECK(d.warnings.size() == 1);
}

TEST_CASE("wg_quick: repeated scalar keys keep the last value and warn") {
  auto c = ok(iface("ListenPort = 1000\nListenPort = 2000\n"));
  CHECK(c.listen_port == 2000);
  REQUIRE(c.warnings.size() == 1);
  CHECK(has(c.warnings[0], "line 4:"));
  CHECK(has(c.warnings[0], "line 3"));
}
