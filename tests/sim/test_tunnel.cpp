// Two or more WireGuard engines on one virtual clock: the protocol's
// behaviour over time, with no sockets and no sleeping.
#include "simnet.hpp"

using namespace ovl;
using namespace ovl::sim;
using wg::MsgType;

namespace {

struct Pair {
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2");
  explicit Pair(bool b_knows_a = true) {
    net.connect(a, b);
    net.connect(b, a, b_knows_a);
  }
};

}  // namespace

TEST_CASE("handshake, then data both ways") {
  Pair s(false);  // b learns a's endpoint from the handshake
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  CHECK(s.net.count(MsgType::initiation) == 1);
  CHECK(s.net.count(MsgType::response) == 1);
  REQUIRE(s.b.received.size() == 1);
  CHECK(s.b.received[0].size() == 84);  // padding trimmed to the IP length
  CHECK(s.b.received[0][20] == 0xab);

  s.b.send_ip(s.a.overlay, 1000);
  s.net.advance(100ms);
  REQUIRE(s.a.received.size() == 1);
  CHECK(s.a.received[0].size() == 1020);
  CHECK(s.a.dev->status()[0].has_session);
  CHECK(s.a.dev->status()[0].last_handshake_unix_ns > 0);
  CHECK(s.b.dev->status()[0].rx_bytes > 0);
}

TEST_CASE("with a preshared key; a mismatched one never completes") {
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2");
  auto psk = crypto::generate_private_key(net.rng);
  net.connect(a, b, true, 0, &psk);
  net.connect(b, a, true, 0, &psk);
  a.send_ip(b.overlay);
  net.advance(100ms);
  CHECK(b.received.size() == 1);

  Net net2;
  Node& c = net2.add("203.0.113.10", 51820, "10.0.0.1");
  Node& d = net2.add("203.0.113.20", 51820, "10.0.0.2");
  crypto::SecretKey other = psk;
  other.b[0] ^= 1;
  net2.connect(c, d, true, 0, &psk);
  net2.connect(d, c, true, 0, &other);
  c.send_ip(d.overlay);
  net2.advance(30s);
  CHECK(d.received.empty());
  CHECK(c.dev->counters().rx_invalid > 0);  // the response failed to authenticate
}

TEST_CASE("rekey after 120 s keeps traffic flowing") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  REQUIRE(s.net.count(MsgType::initiation) == 1);
  // Keep traffic going both ways for 5 minutes of virtual time.
  for (int i = 0; i < 300; ++i) {
    s.a.send_ip(s.b.overlay);
    s.b.send_ip(s.a.overlay);
    s.net.advance(1s);
  }
  CHECK(s.b.received.size() == 301);
  CHECK(s.a.received.size() == 300);
  // At least two rekeys (120 s, 240 s) happened, and not a storm of them.
  size_t hs = s.net.count(MsgType::initiation);
  CHECK(hs >= 3);
  CHECK(hs <= 5);
}

TEST_CASE("a shortened rekey interval (the soak test's knob) rekeys that often, and only the initiator") {
  wg::DeviceOptions fast;
  fast.rekey_after_time = 10s;
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1", fast);
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2", fast);
  net.connect(a, b);
  net.connect(b, a);
  a.send_ip(b.overlay);
  net.advance(100ms);
  REQUIRE(net.count(MsgType::initiation) == 1);
  for (int i = 0; i < 60; ++i) {
    a.send_ip(b.overlay);
    b.send_ip(a.overlay);
    net.advance(1s);
  }
  CHECK(b.received.size() == 61);
  CHECK(a.received.size() == 60);
  // One handshake per ~10 s (a rekey is sent at the first packet past 10 s,
  // then the responder's new session becomes the initiator's for the next).
  size_t hs = net.count(MsgType::initiation);
  CHECK(hs >= 5);
  CHECK(hs <= 8);
}

TEST_CASE("a session is not used past 180 s: a fresh handshake is made instead") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  REQUIRE(s.b.received.size() == 1);
  // Cut the link for longer than reject-after-time.
  s.net.filter = [](const Datagram&) { return false; };
  s.net.advance(181s);
  s.net.filter = nullptr;
  size_t transports_before = s.net.count(MsgType::transport, &s.a);
  size_t inits_before = s.net.count(MsgType::initiation, &s.a);
  s.a.send_ip(s.b.overlay);
  // The expired session must not carry the packet: it is staged and a
  // handshake goes out first.
  CHECK(s.net.count(MsgType::transport, &s.a) == transports_before);
  CHECK(s.net.count(MsgType::initiation, &s.a) == inits_before + 1);
  s.net.advance(100ms);
  CHECK(s.b.received.size() == 2);
}

TEST_CASE("key material is zeroed after 540 s without a new session") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  REQUIRE(s.a.dev->status()[0].has_session);
  s.net.filter = [](const Datagram&) { return false; };
  s.net.advance(541s);
  CHECK_FALSE(s.a.dev->status()[0].has_session);
  CHECK_FALSE(s.b.dev->status()[0].has_session);
}

TEST_CASE("a replayed transport packet is dropped") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  REQUIRE(s.b.received.size() == 1);
  Datagram captured;
  for (auto& g : s.net.log)
    if (wg::message_type(g.data) == MsgType::transport && g.from == s.a.ep && g.data.size() > 32) captured = g;
  REQUIRE(!captured.data.empty());
  s.net.inject(captured.from, s.b, captured.data);
  s.net.advance(10s);
  CHECK(s.b.received.size() == 1);
  CHECK(s.b.dev->counters().rx_replayed == 1);
}

TEST_CASE("a replayed handshake initiation creates no session") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  Datagram init;
  for (auto& g : s.net.log)
    if (wg::message_type(g.data) == MsgType::initiation) init = g;
  REQUIRE(!init.data.empty());
  size_t responses = s.net.count(MsgType::response);
  s.net.advance(1s);
  s.net.inject(init.from, s.b, init.data);
  s.net.advance(1s);
  CHECK(s.net.count(MsgType::response) == responses);  // no answer
  CHECK(s.b.dev->counters().rx_replayed == 1);
  // The real session still works.
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  CHECK(s.b.received.size() == 2);
}

TEST_CASE("inner source outside the peer's allowed IPs is dropped") {
  Pair s;
  s.a.send_ip(*net::IpAddr::parse("10.0.0.99"), s.b.overlay);
  s.net.advance(100ms);
  CHECK(s.b.received.empty());
  CHECK(s.b.dev->counters().rx_bad_source == 1);
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  CHECK(s.b.received.size() == 1);
}

TEST_CASE("a packet to an address no peer owns goes nowhere") {
  Pair s;
  s.a.send_ip(*net::IpAddr::parse("10.9.9.9"));
  s.net.advance(1s);
  CHECK(s.net.log.empty());
  CHECK(s.a.dev->counters().tx_no_route == 1);
}

TEST_CASE("both sides start at once and still converge") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.b.send_ip(s.a.overlay);
  s.net.advance(12s);
  CHECK(s.a.received.size() == 1);
  CHECK(s.b.received.size() == 1);
  // And traffic flows normally afterwards.
  for (int i = 0; i < 5; ++i) {
    s.a.send_ip(s.b.overlay);
    s.b.send_ip(s.a.overlay);
  }
  s.net.advance(100ms);
  CHECK(s.a.received.size() == 6);
  CHECK(s.b.received.size() == 6);
}

TEST_CASE("lost handshakes are retried, then given up after 90 s") {
  Pair s;
  s.net.filter = [](const Datagram&) { return false; };
  s.a.send_ip(s.b.overlay);
  s.net.advance(60s);
  size_t tries = s.net.count(MsgType::initiation, &s.a);
  CHECK(tries >= 10);
  CHECK(tries <= 13);
  s.net.advance(120s);
  size_t total = s.net.count(MsgType::initiation, &s.a);
  CHECK(total <= 21);
  s.net.advance(60s);
  CHECK(s.net.count(MsgType::initiation, &s.a) == total);  // stopped
}

TEST_CASE("roaming: the endpoint follows authenticated packets only") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  REQUIRE(s.b.received.size() == 1);
  // a moves to a new public address (its NAT mapping changed).
  s.a.ep = {*net::IpAddr::parse("203.0.113.11"), 40000};
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  CHECK(s.b.received.size() == 2);
  CHECK(s.b.dev->status()[0].endpoint->str() == "203.0.113.11:40000");
  // b's reply goes to the new address.
  s.b.send_ip(s.a.overlay);
  s.net.advance(100ms);
  CHECK(s.a.received.size() == 1);
  // Garbage from a third address does not move the endpoint.
  std::vector<uint8_t> junk(64, 0);
  junk[0] = 4;
  s.net.inject({*net::IpAddr::parse("203.0.113.99"), 1}, s.b, junk);
  CHECK(s.b.dev->status()[0].endpoint->str() == "203.0.113.11:40000");
}

TEST_CASE("the receiver answers data with a keepalive after 10 s of silence") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  size_t before = s.net.count(MsgType::transport, &s.b);
  s.net.advance(11s);
  // One 32-byte keepalive from b.
  size_t keepalives = 0;
  for (auto& g : s.net.log)
    if (g.from == s.b.ep && wg::message_type(g.data) == MsgType::transport && g.data.size() == 32) ++keepalives;
  CHECK(s.net.count(MsgType::transport, &s.b) == before + 1);
  CHECK(keepalives == 1);
}

TEST_CASE("persistent keepalive starts the session and keeps sending") {
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2");
  net.connect(b, a, false);
  net.connect(a, b, true, 25);
  net.advance(100ms);
  CHECK(net.count(MsgType::response) == 1);
  net.advance(100s);
  size_t ka = 0;
  for (auto& g : net.log)
    if (g.from == a.ep && wg::message_type(g.data) == MsgType::transport && g.data.size() == 32) ++ka;
  CHECK(ka >= 4);
  CHECK(ka <= 6);
}

TEST_CASE("garbage datagrams are counted and change nothing") {
  Pair s;
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  crypto::SeededRng r(9);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> d(r.uniform(200));
    r.fill(d);
    if (!d.empty() && i % 2) d[0] = 1 + r.uniform(4), d.resize(std::max<size_t>(d.size(), 4)), d[1] = d[2] = d[3] = 0;
    s.net.inject({*net::IpAddr::parse("203.0.113.66"), 999}, s.b, d);
  }
  CHECK(s.b.dev->counters().rx_invalid >= 1900);
  s.a.send_ip(s.b.overlay);
  s.net.advance(100ms);
  CHECK(s.b.received.size() == 2);
}

TEST_CASE("under load, initiations need a cookie; a real peer still gets through") {
  wg::DeviceOptions opts;
  opts.under_load_handshakes_per_sec = 4;
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2", opts);
  Node& attacker = net.add("203.0.113.30", 51820, "10.0.0.3");
  net.connect(a, b);
  net.connect(b, a);
  net.connect(attacker, b);  // knows b's public key, so its mac1 is valid
  // Capture one valid initiation from the attacker (b does not know it as a peer).
  attacker.send_ip(b.overlay);
  Datagram init = net.log.back();
  REQUIRE(wg::message_type(init.data) == MsgType::initiation);
  // Flood: the same initiation from 200 sources within one second.
  for (int i = 0; i < 200; ++i)
    net.inject({net::IpAddr::v4(198, 51, 100, static_cast<uint8_t>(i)), 4000}, b, init.data);
  CHECK(b.dev->counters().cookies_sent > 150);
  // Now the real peer initiates: it gets a cookie, retries with mac2, and connects.
  a.send_ip(b.overlay);
  for (int i = 0; i < 20 && b.received.empty(); ++i) {
    for (int j = 0; j < 20; ++j)
      net.inject({net::IpAddr::v4(198, 51, 100, static_cast<uint8_t>(j)), 4000}, b, init.data);
    net.advance(1s);
  }
  CHECK(net.count(MsgType::cookie_reply, &b) > 0);
  CHECK(b.received.size() == 1);
}

TEST_CASE("re-applying an unchanged peer sends nothing and keeps the session") {
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2");
  net.connect(b, a, false);
  net.connect(a, b, true, 25);
  net.advance(100ms);
  REQUIRE(a.dev->status()[0].has_session);
  size_t sent = net.log.size();
  net.connect(a, b, true, 25);  // the same configuration again, as a host does per map delta
  net.advance(1s);
  CHECK(net.log.size() == sent);
  CHECK(a.dev->status()[0].has_session);
  a.send_ip(b.overlay);
  net.advance(100ms);
  CHECK(b.received.size() == 1);
  // A new endpoint does restart the keepalive (and so the session) at once.
  b.ep = {*net::IpAddr::parse("203.0.113.21"), 51820};
  wg::PeerConfig c;
  c.public_key = b.dev->public_key();
  c.allowed_ips = {net::Prefix{b.overlay, 32}};
  c.endpoint = b.ep;
  c.persistent_keepalive = 25;
  sent = net.log.size();
  a.dev->set_peer(c, net.now);
  net.advance(100ms);
  CHECK(net.log.size() > sent);
}
