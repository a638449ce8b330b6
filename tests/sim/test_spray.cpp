// Birthday spray between an endpoint-independent NAT with a stateful firewall
// ("easy", like a home router) and an endpoint-dependent NAT that picks a
// random public port per destination ("hard", masquerade random), on one
// virtual clock: two Probers and two Sprays, the NATs modelled here, no
// WireGuard. The spray must find a path both ways within its bounds.
#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <map>
#include <set>

#include "engine/nat/prober.hpp"
#include "engine/nat/spray.hpp"

using namespace ovl;
using namespace ovl::nat;
using namespace std::chrono_literals;

namespace {

net::Endpoint ep(const char* s) { return *net::Endpoint::parse(s); }

struct Packet {
  net::Endpoint src, dst;  // as seen on the wire between the NATs
  std::vector<uint8_t> bytes;
};

// Endpoint-dependent mapping: every (inside source, destination) gets its own
// random public port; inbound passes only as a reply on such a mapping.
struct HardNat {
  net::IpAddr pub = ep("203.0.113.20:1").ip;
  crypto::SeededRng rng{99};
  std::map<std::pair<net::Endpoint, net::Endpoint>, uint16_t> out;  // (inside, dst) -> port
  std::map<std::pair<uint16_t, net::Endpoint>, net::Endpoint> back;  // (port, remote) -> inside
  std::set<uint16_t> used;
  net::Endpoint map(const net::Endpoint& inside, const net::Endpoint& dst) {
    auto it = out.find({inside, dst});
    if (it == out.end()) {
      uint16_t p;
      do p = static_cast<uint16_t>(1024 + rng.uniform(65536 - 1024)); while (used.count(p));
      used.insert(p);
      it = out.emplace(std::make_pair(inside, dst), p).first;
      back[{p, dst}] = inside;
    }
    return {pub, it->second};
  }
  std::optional<net::Endpoint> inbound(const net::Endpoint& from, uint16_t port) {
    auto it = back.find({port, from});
    if (it == back.end()) return std::nullopt;
    return it->second;
  }
};

// Endpoint-independent mapping (port preserved) and a firewall that lets in
// only what answers something the inside sent.
struct EasyNat {
  net::Endpoint inside = ep("192.168.1.2:51820");
  net::Endpoint pub = ep("203.0.113.10:51820");
  std::set<net::Endpoint> contacted;
  net::Endpoint map(const net::Endpoint& dst) {
    contacted.insert(dst);
    return pub;
  }
  bool inbound(const net::Endpoint& from) { return contacted.count(from) > 0; }
};

struct World {
  crypto::SeededRng rng{7};
  crypto::SecretKey ka, kh;
  crypto::PublicKey pa_key, ph_key;
  std::unique_ptr<Prober> easy, hard;
  Spray easy_spray, hard_spray;
  EasyNat enat;
  HardNat hnat;
  net::Endpoint hard_main = ep("192.168.2.2:51820");
  std::map<uint32_t, net::Endpoint> sockets;  // spray socket id -> inside address
  std::map<net::Endpoint, uint32_t> socket_of;
  std::deque<Packet> wire;
  size_t easy_sent = 0;

  World() {
    ka = crypto::generate_private_key(rng);
    kh = crypto::generate_private_key(rng);
    pa_key = crypto::public_from_private(ka);
    ph_key = crypto::public_from_private(kh);
    easy = std::make_unique<Prober>(ka);
    hard = std::make_unique<Prober>(kh);
  }
  // Datagrams leave through the NATs onto the wire.
  void from_easy(std::vector<Prober::Send>& out) {
    for (auto& s : out) wire.push_back({enat.map(s.to), s.to, std::move(s.bytes)});
    easy_sent += out.size();
    out.clear();
  }
  void from_hard(std::vector<Prober::Send>& out) {
    for (auto& s : out) {
      net::Endpoint inside = hard_main, to = s.to;
      if (auto id = socket_id(s.to)) {
        inside = sockets.at(*id);
        to = enat.pub;  // a spray socket talks to the easy side's public endpoint only
      }
      wire.push_back({hnat.map(inside, to), to, std::move(s.bytes)});
    }
    out.clear();
  }
  void deliver(Prober::Time now) {
    std::deque<Packet> now_wire;
    now_wire.swap(wire);
    std::vector<Prober::Send> out;
    for (auto& p : now_wire) {
      if (p.dst == enat.pub) {
        if (!enat.inbound(p.src)) continue;  // firewall: unsolicited
        easy->on_datagram(p.bytes, p.src, now, rng, out);
        from_easy(out);
      } else if (p.dst.ip == hnat.pub) {
        auto inside = hnat.inbound(p.src, p.dst.port);
        if (!inside) continue;
        net::Endpoint as = p.src;
        if (auto s = socket_of.find(*inside); s != socket_of.end()) as = socket_endpoint(s->second);
        hard->on_datagram(p.bytes, as, now, rng, out);
        from_hard(out);
      }
    }
  }
};

}  // namespace

TEST_CASE("sim: one hard NAT is crossed by the birthday spray, within its bounds") {
  World w;
  // What the map says: each side's STUN mapping (the hard side's toward the coordinator).
  const auto hard_stun = ep("203.0.113.20:33333");
  w.easy->set_peer(w.ph_key, {hard_stun, ep("192.168.2.2:51820")}, true, 0s);
  w.hard->set_peer(w.pa_key, {w.enat.pub, w.enat.inside}, true, 0s);

  // Plain probing cannot work: run it for 3 s.
  Prober::Time now = 0s;
  std::vector<Prober::Send> out;
  for (; now < 3s; now += 10ms) {
    w.easy->on_timer(now, w.rng, out);
    w.from_easy(out);
    w.hard->on_timer(now, w.rng, out);
    w.from_hard(out);
    w.deliver(now);
  }
  CHECK(!w.easy->best(w.ph_key, now));
  CHECK(!w.hard->best(w.pa_key, now));

  // Agreement through the coordinator: the easy side offers, the hard side accepts.
  CHECK(!w.easy_spray.should_offer(w.ph_key, Spray::Role::easy, hard_stun, now));
  now += 1s;
  REQUIRE(w.easy_spray.should_offer(w.ph_key, Spray::Role::easy, hard_stun, now));
  REQUIRE(w.hard_spray.on_offer(w.pa_key, Spray::Role::hard, w.enat.pub, now));
  CHECK(!w.easy_spray.on_offer(w.ph_key, Spray::Role::easy, hard_stun, now));

  const Prober::Time start = now;
  size_t probes = 0, opened = 0;
  const size_t sent_before = w.easy_sent;
  std::optional<Prober::Time> found;
  for (; now < start + 12s && !found; now += 10ms) {
    Spray::Actions ea, ha;
    w.easy_spray.on_timer(now, w.rng, ea);
    w.hard_spray.on_timer(now, w.rng, ha);
    for (auto& o : ha.open) {
      CHECK(o.target == w.enat.pub);
      for (int i = 0; i < Spray::kSockets; ++i) {
        uint32_t id = static_cast<uint32_t>(++opened);
        net::Endpoint inside = w.hard_main;
        inside.port = static_cast<uint16_t>(40000 + id);
        w.sockets[id] = inside;
        w.socket_of[inside] = id;
        w.hard->ping_once(w.pa_key, socket_endpoint(id), now, w.rng, out);
      }
      w.from_hard(out);
    }
    for (auto& p : ea.probe) w.easy->ping_once(w.ph_key, p.to, now, w.rng, out);
    probes += ea.probe.size();
    w.from_easy(out);
    w.easy->on_timer(now, w.rng, out);
    w.from_easy(out);
    w.hard->on_timer(now, w.rng, out);
    w.from_hard(out);
    w.deliver(now);
    auto eb = w.easy->best(w.ph_key, now);
    auto hb = w.hard->best(w.pa_key, now);
    if (eb && hb) {
      found = now;
      CHECK(eb->ep.ip == w.hnat.pub);
      CHECK(eb->ep != hard_stun);
      REQUIRE(socket_id(hb->ep));
      CHECK(w.sockets.count(*socket_id(hb->ep)));
    }
  }
  REQUIRE(found);
  MESSAGE("spray found a path after " << std::chrono::duration<double>(*found - start).count() << " s, "
                                      << probes << " probes, " << opened << " sockets");
  CHECK(opened == size_t(Spray::kSockets));
  CHECK(probes <= size_t(Spray::kRounds * Spray::kPortsPerRound));
  CHECK(w.easy_sent - sent_before < size_t(Spray::kRounds * Spray::kPortsPerRound + 200));
  w.easy_spray.succeeded(w.ph_key, now);
  w.hard_spray.succeeded(w.pa_key, now);
  CHECK(w.easy_spray.state(w.ph_key) == "succeeded");
  // The path stays up on heartbeats.
  for (Prober::Time end = now + 20s; now < end; now += 10ms) {
    w.easy->on_timer(now, w.rng, out);
    w.from_easy(out);
    w.hard->on_timer(now, w.rng, out);
    w.from_hard(out);
    w.deliver(now);
  }
  CHECK(w.easy->best(w.ph_key, now));
  CHECK(w.hard->best(w.pa_key, now));
}
