// The fuzz_device harness: two devices, a scripted world around them and the
// invariants it checks (the script format is documented in fuzz_device.cpp).
// Included by fuzz_device.cpp only.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/log.hpp"
#include "engine/net/ip.hpp"
#include "engine/wg/cookie.hpp"
#include "engine/wg/device.hpp"
#include "engine/wg/inner_packet.hpp"
#include "engine/wg/messages.hpp"

namespace {

using namespace ovl;
using namespace ovl::wg;
using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// OVL_FUZZ_TRACE=1 prints what each input does (for reading a crash).
bool trace_on() {
  static const bool on = std::getenv("OVL_FUZZ_TRACE") != nullptr;
  return on;
}
#define TRACE(...)                                   \
  do {                                               \
    if (trace_on()) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

const char* type_name(std::optional<MsgType> t) {
  if (!t) return "junk";
  switch (*t) {
    case MsgType::initiation: return "initiation";
    case MsgType::response: return "response";
    case MsgType::cookie_reply: return "cookie";
    case MsgType::transport: return "transport";
  }
  return "?";
}

constexpr size_t kMaxOps = 64;
constexpr size_t kMaxInFlight = 64;
constexpr size_t kMaxLog = 128;
constexpr size_t kMaxBurstPackets = 9000;  // per input, across burst ops
constexpr Time kStart = 1000s;
constexpr int64_t kWallBase = 1'700'000'000'000'000'000;

// ---- fixed identities, computed once ----

struct Fixed {
  crypto::SecretKey priv[2];
  crypto::PublicKey pub[2];
  crypto::SecretKey psk, other_psk;
  net::Endpoint ep[2];          // A's and B's real UDP endpoints
  net::IpAddr overlay4[2], overlay6[2];
  net::Endpoint strangers[3];  // addresses an attacker (or a NAT) might use
  crypto::PublicKey ghost;      // a third peer that never answers
  net::IpAddr ghost4, ghost6;   // its allowed IPs (/16)
  Bytes unknown_initiation[2];  // a real initiation to A / B from a device neither knows
};

const Fixed& fixed() {
  static const Fixed f = [] {
    log::threshold() = log::Level::error;  // retries and give-ups are expected here
    Fixed f;
    crypto::SeededRng rng(0x6f766c);
    for (int i = 0; i < 2; ++i) {
      f.priv[i] = crypto::generate_private_key(rng);
      f.pub[i] = crypto::public_from_private(f.priv[i]);
    }
    rng.fill(f.psk.b);
    rng.fill(f.other_psk.b);
    f.ep[0] = *net::Endpoint::parse("192.0.2.1:51820");
    f.ep[1] = *net::Endpoint::parse("192.0.2.2:51820");
    f.overlay4[0] = *net::IpAddr::parse("10.0.0.1");
    f.overlay4[1] = *net::IpAddr::parse("10.0.0.2");
    f.overlay6[0] = *net::IpAddr::parse("fd00::1");
    f.overlay6[1] = *net::IpAddr::parse("fd00::2");
    f.strangers[0] = *net::Endpoint::parse("203.0.113.5:1234");
    f.strangers[1] = *net::Endpoint::parse("[2001:db8::7]:51820");
    f.strangers[2] = *net::Endpoint::parse("192.0.2.1:40000");  // A behind a rebinding NAT
    f.ghost = crypto::public_from_private(crypto::generate_private_key(rng));
    f.ghost4 = *net::IpAddr::parse("10.9.0.1");
    f.ghost6 = *net::IpAddr::parse("fd09::1");
    // A third device that knows A and B (they do not know it).
    struct Capture final : Output {
      Bytes last;
      void send_udp(const net::Endpoint&, std::span<const uint8_t> d) override { last.assign(d.begin(), d.end()); }
      void write_tun(std::span<const uint8_t>) override {}
    } cap;
    crypto::SeededRng c_rng(3);
    Device c(crypto::generate_private_key(rng), {&c_rng, [] { return kWallBase + kStart.count(); }});
    for (int i = 0; i < 2; ++i) {
      PeerConfig pc;
      pc.public_key = f.pub[i];
      pc.allowed_ips = {net::Prefix{f.overlay4[i], 32}};
      pc.endpoint = f.ep[i];
      c.set_peer(pc, kStart);
      Bytes pkt(20 + kHeadroom + kTailroom);
      pkt[kHeadroom] = 0x45;
      pkt[kHeadroom + 3] = 20;
      std::memcpy(pkt.data() + kHeadroom + 16, f.overlay4[i].b.data(), 4);
      c.on_tun({pkt.data() + kHeadroom, 20}, kStart, cap);
      f.unknown_initiation[i] = cap.last;
    }
    return f;
  }();
  return f;
}

// ---- input reader ----

struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  Bytes take(size_t len) {
    len = std::min(len, n);
    Bytes b(p, p + len);
    p += len;
    n -= len;
    return b;
  }
};

// WireGuard pads plaintext to a multiple of 16 before sealing.
size_t pad16(size_t len) { return (len + 15) & ~size_t(15); }

net::IpAddr take_addr(Reader& r, size_t len) {
  Bytes b = r.take(len);
  b.resize(len);
  return net::IpAddr::from_bytes(b);
}

// What makes a handshake message "the real one": not its MACs (anyone who
// knows the receiver's public key can compute mac1; mac2 is only checked
// under load) and not its sender index (Noise does not authenticate it, so an
// attacker may rewrite it and recompute mac1: a known WireGuard property).
Bytes loose(const Bytes& d) {
  Bytes r = d;
  auto t = message_type(r);
  if (t == MsgType::initiation || t == MsgType::response) {
    std::fill(r.begin() + 4, r.begin() + 8, 0);
    std::fill(r.begin() + (t == MsgType::initiation ? kInitiationMac1Offset : kResponseMac1Offset), r.end(), 0);
  }
  return r;
}

// Recomputes mac1 (mac2 zero) for the receiver, as an attacker can.
void fix_macs(Bytes& d, const crypto::PublicKey& receiver, Time now) {
  auto t = message_type(d);
  if (t != MsgType::initiation && t != MsgType::response) return;
  CookieGenerator g;
  g.init(receiver);
  g.add_macs(d, t == MsgType::initiation ? kInitiationMac1Offset : kResponseMac1Offset, now);
}

Bytes ipv4_packet(const net::IpAddr& src, const net::IpAddr& dst, const Bytes& payload,
                  std::optional<uint16_t> total_len = {}) {
  Bytes p(20 + payload.size());
  const size_t len = total_len ? *total_len : p.size();
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  p[8] = 64;
  p[9] = 17;
  std::memcpy(p.data() + 12, src.b.data(), 4);
  std::memcpy(p.data() + 16, dst.b.data(), 4);
  if (!payload.empty()) std::memcpy(p.data() + 20, payload.data(), payload.size());
  return p;
}

Bytes ipv6_packet(const net::IpAddr& src, const net::IpAddr& dst, const Bytes& payload,
                  std::optional<uint16_t> payload_len = {}) {
  Bytes p(40 + payload.size());
  const size_t len = payload_len ? *payload_len : payload.size();
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>(len >> 8);
  p[5] = static_cast<uint8_t>(len);
  p[6] = 17;
  p[7] = 64;
  std::memcpy(p.data() + 8, src.b.data(), 16);
  std::memcpy(p.data() + 24, dst.b.data(), 16);
  if (!payload.empty()) std::memcpy(p.data() + 40, payload.data(), payload.size());
  return p;
}

// A heap buffer of exactly the requested size (plus the headroom/tailroom the
// caller promises), so ASan sees any access beyond it.
struct ExactBuf {
  std::unique_ptr<uint8_t[]> mem;
  size_t cap;
  explicit ExactBuf(size_t n) : mem(new uint8_t[n ? n : 1]), cap(n) {}
  uint8_t* data() { return mem.get(); }
};

struct Sent {
  int from;  // 0 = A, 1 = B
  Bytes bytes;
};

class World;

struct Node final : Output {
  World* w = nullptr;
  int id = 0;
  std::unique_ptr<crypto::SeededRng> rng;
  std::unique_ptr<Device> dev;

  bool has_psk = false;
  crypto::SecretKey psk;  // the preshared key its device has for the other (zero: none)
  std::set<Bytes> tun_in;                               // packets its TUN gave it (a few dozen)
  std::set<size_t> transport_sizes{kTransportMinSize};  // sizes its transport messages may have
  std::set<Bytes> sent_loose;                           // deliverable datagrams it sent (loose)
  std::unordered_map<uint32_t, uint64_t> next_counter;  // per receiver index: the least unused counter
  std::set<net::Endpoint> trusted;                      // where it may send initiations/data
  std::set<Bytes> authenticated;                        // (loose) datagrams it accepted
  std::set<Bytes> written;                              // datagrams that produced a TUN write
  size_t tun_writes = 0;

  void send_udp(const net::Endpoint& to, std::span<const uint8_t> d) override;
  void write_tun(std::span<const uint8_t> p) override;
};

class World {
 public:
  enum class Ctx { none, udp, tun, timer };

  explicit World(uint8_t header);
  void run_prefix();
  void run(Reader& r);
  void heal_and_check_liveness();

  // What the device is doing right now, for the Output callbacks.
  Ctx ctx = Ctx::none;
  int ctx_node = -1;
  // udp
  net::Endpoint ctx_from;
  Bytes ctx_dgram;
  std::optional<MsgType> ctx_type;
  bool ctx_genuine = false;
  bool ctx_sent_to_from = false;  // a non-cookie message went back to ctx_from
  bool ctx_sent_response = false;
  size_t ctx_writes = 0;
  const uint8_t* ctx_lo = nullptr;  // the buffer handed to on_udp / on_tun
  const uint8_t* ctx_hi = nullptr;
  // tun
  const uint8_t* ctx_pkt = nullptr;
  Bytes ctx_plain;

  Time now = kStart;
  Node n[2];
  std::deque<Sent> inflight;
  std::vector<Sent> log;
  bool keep_sent = true;  // false while a burst sends packets that are lost anyway
  size_t burst_packets = 0;
  bool ping_arrived[2] = {false, false};  // a liveness ping reached A / B

  void on_send(Node& x, const net::Endpoint& to, std::span<const uint8_t> d);
  void on_write(Node& x, std::span<const uint8_t> p);

 private:
  uint8_t header_;
  PeerConfig config_for(int x, bool with_endpoint) const;
  void deliver(int to, const net::Endpoint& from, Bytes d);
  void tun(int x, const Bytes& pkt, bool known = false);
  void timers();
  void mutate_and_deliver(Sent s, uint8_t flags, Reader& r);
  void peer_op(uint8_t flags);
  void set_main_peer(int x, const PeerConfig& c);
  std::optional<PeerStatus> main_peer(int x) const {
    for (PeerStatus& st : n[x].dev->status())
      if (st.public_key == fixed().pub[1 - x]) return std::move(st);
    return std::nullopt;
  }
  uint64_t rx_bytes(int x) const {
    auto st = main_peer(x);
    return st ? st->rx_bytes : 0;
  }
};

void Node::send_udp(const net::Endpoint& to, std::span<const uint8_t> d) { w->on_send(*this, to, d); }
void Node::write_tun(std::span<const uint8_t> p) { w->on_write(*this, p); }

World::World(uint8_t header) : header_(header) {
  const Fixed& f = fixed();
  DeviceOptions opts;
  if (header & 2) opts.under_load_handshakes_per_sec = 1;
  for (int i = 0; i < 2; ++i) {
    Node& x = n[i];
    x.w = this;
    x.id = i;
    x.rng = std::make_unique<crypto::SeededRng>(1000 + i);
    DeviceEnv env{x.rng.get(), [this] { return kWallBase + now.count(); }};
    x.dev = std::make_unique<Device>(f.priv[i], env, opts);
    x.has_psk = header & 16;
  }
  for (int i = 0; i < 2; ++i) set_main_peer(i, config_for(i, !(i == 1 && (header & 4))));
}

}  // namespace
