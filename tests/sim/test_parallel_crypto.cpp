// The device's hooks for parallel crypto (architecture rule 10): sealing
// deferred by the host (Output::send_transport) and decryption split into a
// pure step (decrypt_transport, any thread) and an in-order step
// (on_opened_transport). Both must behave exactly like the inline path.
#include <algorithm>
#include <random>

#include "engine/wg/keypair.hpp"
#include "simnet.hpp"

using namespace ovl;
using namespace ovl::sim;
using wg::MsgType;

namespace {

// A node that seals its transport messages only when flushed, and then in
// reverse order, the way a batched host may.
struct Lazy : Node {
  struct Job {
    net::Endpoint to;
    crypto::SecretKey key;
    uint32_t remote_index;
    uint64_t counter;
    std::vector<uint8_t> buf;  // headroom + packet + tailroom
    size_t len;
  };
  std::vector<Job> jobs;
  void send_transport(const net::Endpoint& to, wg::Keypair& kp, uint64_t counter, uint8_t* pkt,
                      size_t len) override {
    Job j{to, kp.send_key, kp.remote_index, counter, {}, len};
    j.buf.assign(pkt - wg::kHeadroom, pkt + len + wg::kTailroom);  // the caller's buffer goes away
    jobs.push_back(std::move(j));
  }
  void flush() {
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
      size_t n = wg::seal_transport(it->key, it->remote_index, it->counter, it->buf.data() + wg::kHeadroom, it->len);
      send_udp(it->to, {it->buf.data() + wg::kHeadroom - wg::kTransportHeaderSize, n});
    }
    jobs.clear();
  }
};

// Feeds a datagram through the two-step path, as the data plane does.
void open_in_two_steps(Node& n, std::vector<uint8_t> d, const net::Endpoint& from, Time now,
                       const crypto::SecretKey* wrong_key = nullptr) {
  crypto::SecretKey key;
  REQUIRE(n.dev->transport_recv_key(d, now, key));
  if (wrong_key) key = *wrong_key;
  bool ok = wg::decrypt_transport(key, d);
  n.dev->on_opened_transport(d, key, ok, from, now, n);
}

}  // namespace

TEST_CASE("deferred sealing, in reverse order, delivers every packet") {
  Net net;
  Node& a_base = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2");
  // The sender is a's device driven through the lazy Output; a's own Node
  // keeps an endpoint nobody sends to.
  Lazy lazy;
  lazy.net = &net;
  lazy.ep = a_base.ep;
  lazy.overlay = a_base.overlay;
  lazy.dev = std::move(a_base.dev);
  a_base.dev = std::make_unique<wg::Device>(crypto::generate_private_key(net.rng), wg::DeviceEnv{&net.rng, [] { return int64_t{1}; }});
  a_base.ep.port = 1;
  net.connect(b, lazy);
  wg::PeerConfig c;
  c.public_key = b.dev->public_key();
  c.allowed_ips = {net::Prefix{b.overlay, 32}};
  c.endpoint = b.ep;
  lazy.dev->set_peer(c, net.now);

  // Handshake (the first packet is staged and sealed at once: not lazily).
  lazy.send_ip(b.overlay, 10);
  lazy.flush();
  // Deliver to b and b's response to the lazy node by hand: the sim only
  // knows registered nodes, and a's device now lives in `lazy`.
  for (int round = 0; round < 3; ++round) {
    net.filter = [&](const Datagram& g) {
      if (g.to == lazy.ep) {
        std::vector<uint8_t> d = g.data;
        lazy.dev->on_udp(d, g.from, net.now, lazy);
      }
      return true;
    };
    net.advance(10ms);
    lazy.flush();
  }
  REQUIRE(b.received.size() == 1);
  for (size_t i = 0; i < 50; ++i) lazy.send_ip(b.overlay, 100 + i);
  CHECK(lazy.jobs.size() == 50);  // an established session defers every packet
  lazy.flush();
  net.advance(10ms);
  REQUIRE(b.received.size() == 51);
  std::vector<size_t> sizes;
  for (size_t i = 1; i < b.received.size(); ++i) sizes.push_back(b.received[i].size());
  std::sort(sizes.begin(), sizes.end());
  for (size_t i = 0; i < 50; ++i) CHECK(sizes[i] == 20 + 100 + i);
  CHECK(b.dev->counters().rx_replayed == 0);
  CHECK(b.dev->counters().rx_invalid == 0);
}

TEST_CASE("two-step open: shuffled batch delivered; replay, forgery and a stale key dropped") {
  Net net;
  Node& a = net.add("203.0.113.10", 51820, "10.0.0.1");
  Node& b = net.add("203.0.113.20", 51820, "10.0.0.2");
  net.connect(a, b);
  net.connect(b, a);
  a.send_ip(b.overlay);
  net.advance(100ms);
  REQUIRE(b.received.size() == 1);

  // Capture a's next transport messages instead of delivering them.
  std::vector<std::vector<uint8_t>> caught;
  net.filter = [&](const Datagram& g) {
    if (g.from == a.ep && wg::message_type(g.data) == MsgType::transport) {
      caught.push_back(g.data);
      return false;
    }
    return true;
  };
  for (size_t i = 0; i < 40; ++i) a.send_ip(b.overlay, 200 + i);
  net.advance(10ms);
  REQUIRE(caught.size() == 40);
  std::mt19937 rng(3);
  std::shuffle(caught.begin(), caught.end(), rng);
  for (auto& d : caught) open_in_two_steps(b, d, a.ep, net.now);
  CHECK(b.received.size() == 41);
  CHECK(b.dev->counters().rx_invalid == 0);

  open_in_two_steps(b, caught[5], a.ep, net.now);  // replayed
  CHECK(b.dev->counters().rx_replayed == 1);

  a.send_ip(b.overlay, 50);
  net.advance(10ms);
  REQUIRE(caught.size() == 41);
  auto forged = caught.back();
  forged[40] ^= 1;
  open_in_two_steps(b, forged, a.ep, net.now);  // fails authentication
  CHECK(b.dev->counters().rx_invalid == 1);

  crypto::SecretKey other = crypto::generate_private_key(net.rng);
  open_in_two_steps(b, caught.back(), a.ep, net.now, &other);  // decrypted with a key not the session's
  CHECK(b.dev->counters().rx_invalid == 2);
  CHECK(b.received.size() == 41);
  open_in_two_steps(b, caught.back(), a.ep, net.now);  // the genuine one still goes through
  CHECK(b.received.size() == 42);

  // Not a transport message for a live session: no key.
  crypto::SecretKey k;
  std::vector<uint8_t> junk(64, 0);
  junk[0] = 4;
  CHECK_FALSE(b.dev->transport_recv_key(junk, net.now, k));
  CHECK_FALSE(b.dev->transport_recv_key(caught.back(), net.now + 181s, k));  // session too old
}
