// A virtual network for WireGuard devices: many sans-IO Device instances in
// one process, datagrams delivered through a time-ordered queue, one virtual
// clock. No sockets, no sleeps: a test advances time and inspects state.
#pragma once
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/wg/device.hpp"
#include "engine/wg/messages.hpp"

namespace ovl::sim {

using namespace std::chrono_literals;
using wg::Time;

struct Datagram {
  net::Endpoint from, to;
  std::vector<uint8_t> data;
  Time at;
  uint64_t seq;
  bool operator>(const Datagram& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

class Net;

struct Node : wg::Output {
  Net* net = nullptr;
  net::Endpoint ep;
  net::IpAddr overlay;
  crypto::SecretKey key;
  std::unique_ptr<wg::Device> dev;
  std::vector<std::vector<uint8_t>> received;  // packets written to TUN

  void send_udp(const net::Endpoint& to, std::span<const uint8_t> d) override;
  void write_tun(std::span<const uint8_t> p) override { received.emplace_back(p.begin(), p.end()); }
  // Reads a packet "from TUN": an IPv4/UDP-ish packet with the given payload.
  void send_ip(const net::IpAddr& src, const net::IpAddr& dst, size_t payload = 64, uint8_t fill = 0xab);
  void send_ip(const net::IpAddr& dst, size_t payload = 64) { send_ip(overlay, dst, payload); }
};

class Net {
 public:
  Time now{1000s};  // not zero, so "never happened" values stay distinct
  Time latency = 1ms;
  crypto::SeededRng rng{42};
  int64_t wall_base_ns = 1'700'000'000'000'000'000;
  // Return false to drop a datagram (a cut link, a firewall).
  std::function<bool(const Datagram&)> filter;
  std::vector<Datagram> log;  // everything sent, for replay attacks and assertions

  Node& add(const char* ip, uint16_t port, const char* overlay_ip, wg::DeviceOptions opts = {}) {
    auto n = std::make_unique<Node>();
    n->net = this;
    n->ep = {*net::IpAddr::parse(ip), port};
    n->overlay = *net::IpAddr::parse(overlay_ip);
    n->key = crypto::generate_private_key(rng);
    wg::DeviceEnv env{&rng, [this] { return wall_base_ns + now.count(); }};
    n->dev = std::make_unique<wg::Device>(n->key, env, opts);
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // a knows b at b's endpoint (if with_endpoint), b's overlay /32 routes to b.
  void connect(Node& a, Node& b, bool with_endpoint = true, uint16_t keepalive = 0,
               const crypto::SecretKey* psk = nullptr) {
    wg::PeerConfig c;
    c.public_key = b.dev->public_key();
    c.allowed_ips = {net::Prefix{b.overlay, 32}};
    if (with_endpoint) c.endpoint = b.ep;
    c.persistent_keepalive = keepalive;
    if (psk) c.preshared_key = *psk;
    a.dev->set_peer(c, now);
  }

  void enqueue(const net::Endpoint& from, const net::Endpoint& to, std::span<const uint8_t> d) {
    Datagram g{from, to, {d.begin(), d.end()}, now + latency, seq_++};
    log.push_back(g);
    q_.push(std::move(g));
  }

  // Deliver a datagram right now, as if an attacker sent it.
  void inject(const net::Endpoint& from, Node& to, std::vector<uint8_t> d) {
    to.dev->on_udp(d, from, now, to);
  }

  // Run everything due up to now + d: deliveries and timers, in time order.
  void advance(Time d) {
    Time end = now + d;
    // A runaway loop (a timer that re-arms itself for `now`) is a bug in the
    // engine; fail instead of hanging.
    for (int steps = 0;; ++steps) {
      if (steps > 10'000'000) FAIL("simulation does not advance at t=" << now.count());
      Time next = Time::max();
      if (!q_.empty()) next = std::min(next, q_.top().at);
      for (auto& n : nodes_) next = std::min(next, n->dev->next_deadline());
      if (next > end) break;
      now = std::max(now, next);
      while (!q_.empty() && q_.top().at <= now) {
        Datagram g = q_.top();
        q_.pop();
        if (filter && !filter(g)) continue;
        for (auto& n : nodes_)
          if (n->ep == g.to) n->dev->on_udp(g.data, g.from, now, *n);
      }
      for (auto& n : nodes_)
        if (n->dev->next_deadline() <= now) n->dev->on_timer(now, *n);
    }
    now = end;
  }

  size_t count(wg::MsgType t, const Node* from = nullptr) const {
    size_t c = 0;
    for (auto& g : log)
      if (wg::message_type(g.data) == t && (!from || g.from == from->ep)) ++c;
    return c;
  }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::priority_queue<Datagram, std::vector<Datagram>, std::greater<>> q_;
  uint64_t seq_ = 0;
};

inline void Node::send_udp(const net::Endpoint& to, std::span<const uint8_t> d) { net->enqueue(ep, to, d); }

inline void Node::send_ip(const net::IpAddr& src, const net::IpAddr& dst, size_t payload, uint8_t fill) {
  size_t len = 20 + payload;
  std::vector<uint8_t> buf(wg::kHeadroom + len + wg::kTailroom);
  uint8_t* p = buf.data() + wg::kHeadroom;
  std::memset(p, fill, len);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  p[9] = 17;
  std::memcpy(p + 12, src.b.data(), 4);
  std::memcpy(p + 16, dst.b.data(), 4);
  dev->on_tun({p, len}, net->now, *this);
}

}  // namespace ovl::sim
