// Disco codec (sealing, exact sizes, forgery), the prober's state machine
// (pings, pongs, RTT, path choice, peer-reflexive candidates, loss) and the
// birthday spray planner (agreement, bounds).
#include <doctest/doctest.h>

#include <set>

#include "engine/crypto/box.hpp"
#include "engine/nat/disco.hpp"
#include "engine/nat/prober.hpp"
#include "engine/nat/spray.hpp"
#include "engine/nat/stun.hpp"
#include "engine/relay/protocol.hpp"
#include "engine/wg/device.hpp"

using namespace ovl;
using namespace ovl::nat;
using namespace std::chrono_literals;

namespace {

struct Node {
  crypto::SecretKey priv;
  crypto::PublicKey pub;
  explicit Node(uint64_t seed) {
    crypto::SeededRng r(seed);
    priv = crypto::generate_private_key(r);
    pub = crypto::public_from_private(priv);
  }
};

net::Endpoint ep(const char* s) { return *net::Endpoint::parse(s); }

// Delivers `out` (sent by `from_node` from address `src`) to `to` if addressed to `at`.
size_t deliver(Prober& to, std::vector<Prober::Send>& out, const net::Endpoint& at, const net::Endpoint& src,
               Prober::Time now, crypto::Rng& rng, std::vector<Prober::Send>& replies) {
  size_t n = 0;
  for (auto& s : out)
    if (s.to == at) {
      to.on_datagram(s.bytes, src, now, rng, replies);
      ++n;
    }
  out.clear();
  return n;
}

}  // namespace

TEST_CASE("disco: ping and pong round trip, exact sizes, only the peer can open them") {
  Node a(1), b(2), c(3);
  crypto::SecretKey ab, ba, cb;
  REQUIRE(crypto::box_shared(ab, a.priv, b.pub));
  REQUIRE(crypto::box_shared(ba, b.priv, a.pub));
  REQUIRE(crypto::box_shared(cb, c.priv, b.pub));
  std::array<uint8_t, 24> nonce{};
  nonce[0] = 7;
  disco::Message ping{disco::Type::ping, {1, 2, 3}, {}};
  std::vector<uint8_t> buf(disco::kMaxSize);
  REQUIRE(disco::seal(ping, a.pub, ab, nonce, buf) == disco::kPingSize);
  std::span<const uint8_t> d(buf.data(), disco::kPingSize);
  CHECK(disco::is_disco(d));
  CHECK(!wg::is_wireguard_message(d));
  CHECK(!nat::is_stun(d));
  CHECK(!relay::is_relay_message(d));
  CHECK(disco::sender(d) == a.pub);
  auto back = disco::open(d, ba);
  REQUIRE(back);
  CHECK(*back == ping);
  CHECK(!disco::open(d, cb));  // a third node's key does not open it
  std::vector<uint8_t> bad(d.begin(), d.end());
  for (size_t i : {size_t(40), size_t(70), bad.size() - 1}) {
    bad[i] ^= 1;
    CHECK(!disco::open(bad, ba));
    bad[i] ^= 1;
  }
  CHECK(!disco::is_disco(std::span<const uint8_t>(buf.data(), disco::kPingSize - 1)));

  disco::Message pong{disco::Type::pong, {9}, ep("[2001:db8::1]:4242")};
  REQUIRE(disco::seal(pong, b.pub, ba, nonce, buf) == disco::kPongSize);
  auto p = disco::open(std::span<const uint8_t>(buf.data(), disco::kPongSize), ab);
  REQUIRE(p);
  CHECK(*p == pong);
  disco::Message pong4{disco::Type::pong, {9}, ep("203.0.113.7:51820")};
  REQUIRE(disco::seal(pong4, b.pub, ba, nonce, buf) == disco::kPongSize);
  CHECK(disco::open(std::span<const uint8_t>(buf.data(), disco::kPongSize), ab)->observed == pong4.observed);
  CHECK(disco::seal(pong, b.pub, ba, nonce, std::span<uint8_t>(buf.data(), disco::kPongSize - 1)) == 0);
}

TEST_CASE("prober: pings candidates, a pong makes a path with its RTT, LAN beats public") {
  Node a(1), b(2);
  crypto::SeededRng rng(5);
  Prober pa(a.priv), pb(b.priv);
  const auto b_pub = ep("203.0.113.20:51820"), b_lan = ep("192.168.2.2:51820");
  const auto a_pub = ep("203.0.113.10:51820");
  pa.set_peer(b.pub, {b_pub, b_lan}, true, 0s);
  pb.set_peer(a.pub, {a_pub}, true, 0s);
  std::vector<Prober::Send> out, replies, none;
  pa.on_timer(0s, rng, out);
  CHECK(out.size() == 2);
  CHECK(!pa.best(b.pub, 0s));
  // Only the public candidate is reachable; b answers to where the ping came from.
  CHECK(deliver(pb, out, b_pub, a_pub, 10ms, rng, replies) == 1);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].to == a_pub);
  deliver(pa, replies, a_pub, b_pub, 30ms, rng, none);
  auto best = pa.best(b.pub, 30ms);
  REQUIRE(best);
  CHECK(best->ep == b_pub);
  CHECK(best->kind == PathKind::public_);
  CHECK(best->rtt == 30ms);
  // Later the LAN candidate answers too (slower, still preferred).
  pa.on_timer(1s, rng, out);
  std::vector<Prober::Send> lan_pings;
  for (auto& s : out)
    if (s.to == b_lan) lan_pings.push_back(s);
  REQUIRE(lan_pings.size() == 1);
  out.clear();
  deliver(pb, lan_pings, b_lan, ep("192.168.2.9:51820"), 1s, rng, replies);
  deliver(pa, replies, ep("192.168.2.9:51820"), b_lan, 1050ms, rng, none);
  REQUIRE(pa.best(b.pub, 1050ms));
  CHECK(pa.best(b.pub, 1050ms)->ep == b_lan);
  CHECK(pa.best(b.pub, 1050ms)->kind == PathKind::lan);
  // Silence: the paths die after kAliveFor and the peer counts as lost.
  CHECK(!pa.lost(b.pub, 2s));
  CHECK(!pa.best(b.pub, 1050ms + Prober::kAliveFor));
  CHECK(pa.lost(b.pub, 1050ms + Prober::kAliveFor));
}

TEST_CASE("prober: peer-reflexive candidates from unexpected sources; strangers are ignored") {
  Node a(1), b(2), c(3);
  crypto::SeededRng rng(6);
  Prober pa(a.priv), pb(b.priv);
  pa.set_peer(b.pub, {ep("203.0.113.20:51820")}, true, 0s);
  pb.set_peer(a.pub, {ep("203.0.113.10:51820")}, true, 0s);
  std::vector<Prober::Send> out, replies;
  pa.on_timer(0s, rng, out);
  REQUIRE(out.size() == 1);
  // a's NAT maps elsewhere than the map says: b learns the real source, answers there and pings it.
  const auto a_real = ep("203.0.113.10:40001");
  CHECK(pb.on_datagram(out[0].bytes, a_real, 0s, rng, replies) == a.pub);
  CHECK(pb.has_candidate(a.pub, a_real));
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].to == a_real);  // the pong
  CHECK(replies[1].to == a_real);  // and a ping to the new candidate
  // The same ping replayed (by someone who captured it) from elsewhere: ignored.
  std::vector<Prober::Send> replayed;
  CHECK(!pb.on_datagram(out[0].bytes, ep("198.51.100.66:9"), 1ms, rng, replayed));
  CHECK(replayed.empty());
  CHECK(!pb.has_candidate(a.pub, ep("198.51.100.66:9")));
  // A node not in the map gets nothing back.
  Prober pc(c.priv);
  pc.set_peer(b.pub, {ep("203.0.113.20:51820")}, true, 0s);
  std::vector<Prober::Send> cout, none;
  pc.on_timer(0s, rng, cout);
  CHECK(!pb.on_datagram(cout[0].bytes, ep("203.0.113.30:1"), 0s, rng, none));
  CHECK(none.empty());
  // A pong from somewhere other than where the ping went: a candidate to try, not yet a path.
  std::vector<Prober::Send> pong{replies[0]};
  std::vector<Prober::Send> more;
  pa.on_datagram(pong[0].bytes, ep("203.0.113.20:5555"), 10ms, rng, more);
  CHECK(!pa.best(b.pub, 10ms));
  CHECK(pa.has_candidate(b.pub, ep("203.0.113.20:5555")));
  REQUIRE(more.size() == 1);
  CHECK(more[0].to == ep("203.0.113.20:5555"));
}

TEST_CASE("prober: ping schedule is fast after a change, then slow; offline peers are not pinged") {
  Node a(1), b(2);
  crypto::SeededRng rng(7);
  Prober pa(a.priv);
  pa.set_peer(b.pub, {ep("203.0.113.20:51820")}, true, 0s);
  std::vector<Prober::Send> out;
  size_t sent = 0;
  for (int ms = 0; ms < 30000; ms += 100) {
    pa.on_timer(std::chrono::milliseconds(ms), rng, out);
    sent += out.size();
    out.clear();
  }
  // 10 s at one per second, then (no path answers) one per kRetry.
  CHECK(sent >= 13);
  CHECK(sent <= 15);
  Prober po(a.priv);
  po.set_peer(b.pub, {ep("203.0.113.20:51820")}, false, 0s);
  po.on_timer(0s, rng, out);
  CHECK(out.empty());
}

TEST_CASE("spray: both sides must agree; bounded probes and rounds; roles by mapping") {
  using R = Spray::Role;
  CHECK(Spray::role_for(Mapping::endpoint_dependent, Mapping::endpoint_independent) == R::hard);
  CHECK(Spray::role_for(Mapping::endpoint_independent, Mapping::endpoint_dependent) == R::easy);
  CHECK(Spray::role_for(Mapping::endpoint_dependent, Mapping::endpoint_dependent) == R::none);
  CHECK(Spray::role_for(Mapping::unknown, Mapping::endpoint_dependent) == R::none);
  Node b(2);
  crypto::SeededRng rng(8);
  Spray easy;
  const auto hard_pub = ep("203.0.113.20:40000");
  CHECK(!easy.should_offer(b.pub, R::easy, hard_pub, 0s));  // settle first
  CHECK(easy.should_offer(b.pub, R::easy, hard_pub, 1s));
  CHECK(!easy.should_offer(b.pub, R::easy, hard_pub, 2s));  // one offer per window
  Spray::Actions a;
  easy.on_timer(2s, rng, a);
  CHECK(a.probe.empty());  // no answer yet: nothing happens
  CHECK(!easy.on_offer(b.pub, R::easy, hard_pub, 3s));  // the answer to our offer
  easy.on_timer(3s, rng, a);
  CHECK(easy.state(b.pub) == "spraying");
  std::set<uint16_t> ports;
  size_t probes = 0;
  for (int ms = 3000; ms < 20000; ms += 50) {
    Spray::Actions x;
    easy.on_timer(std::chrono::milliseconds(ms), rng, x);
    for (auto& p : x.probe) {
      CHECK(p.to.ip == hard_pub.ip);
      CHECK(p.to.port >= Spray::kPortLo);
      ports.insert(p.to.port);
    }
    probes += x.probe.size();
  }
  CHECK(probes == size_t(Spray::kRounds * Spray::kPortsPerRound));
  CHECK(ports.size() > 2500);
  CHECK(easy.state(b.pub) == "failed");
  // Failed: no new offer during the cooldown (60 s, doubling per failure), one after it.
  CHECK(!easy.should_offer(b.pub, R::easy, hard_pub, 25s));
  CHECK(!easy.should_offer(b.pub, R::easy, hard_pub, 60s));
  CHECK(easy.should_offer(b.pub, R::easy, hard_pub, 80s));

  Spray hard;
  CHECK(hard.on_offer(b.pub, R::hard, ep("203.0.113.10:51820"), 0s));  // agree, and say so
  Spray::Actions h;
  hard.on_timer(0s, rng, h);
  REQUIRE(h.open.size() == 1);
  CHECK(h.open[0].target == ep("203.0.113.10:51820"));
  hard.succeeded(b.pub, 2s);
  Spray::Actions h2;
  hard.on_timer(2s, rng, h2);
  REQUIRE(h2.finished.size() == 1);
  CHECK(h2.finished[0].success);
  CHECK(hard.state(b.pub) == "succeeded");
  // No role, no spray.
  Spray none;
  CHECK(!none.on_offer(b.pub, R::none, hard_pub, 0s));
}

TEST_CASE("spray: socket endpoints are virtual, distinct from the relay's, and classified public") {
  auto e = socket_endpoint(258);
  CHECK(socket_id(e) == 258u);
  CHECK(!socket_id(ep("203.0.113.1:1")));
  CHECK(classify(e.ip) == PathKind::public_);
  CHECK(classify(ep("10.1.2.3:1").ip) == PathKind::lan);
  CHECK(classify(ep("[fd00::1]:1").ip) == PathKind::lan);
}
