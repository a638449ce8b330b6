// Internal to the wg engine: the state behind Device, shared by device.cpp
// (message handling) and timers.cpp (timer events and the send path).
#pragma once
#include <array>
#include <memory>
#include <unordered_map>

#include "engine/wg/allowed_ips.hpp"
#include "engine/wg/cookie.hpp"
#include "engine/wg/device.hpp"
#include "engine/wg/peer.hpp"
#include "engine/wg/ratelimiter.hpp"

namespace ovl::wg {

struct KeyHash {
  size_t operator()(const crypto::PublicKey& k) const {
    size_t h;
    std::memcpy(&h, k.data(), sizeof h);  // keys are uniformly random
    return h;
  }
};

struct Device::Impl {
  Identity self;
  DeviceEnv env;
  DeviceOptions opts;
  CookieChecker checker;
  RateLimiter limiter;
  AllowedIps allowed;
  DeviceCounters counters;

  std::unordered_map<crypto::PublicKey, std::unique_ptr<Peer>, KeyHash> by_key;
  std::unordered_map<uint32_t, Peer*> by_id;
  uint32_t next_peer_id = 1;

  // Receiver index -> who owns it: a pending handshake (kp == nullptr) or a session.
  struct IndexEntry {
    Peer* peer;
    Keypair* kp;
  };
  std::unordered_map<uint32_t, IndexEntry> index;

  Time earliest = kNever;  // a lower bound on every peer's next deadline
  // Under-load detection: handshake messages counted per one-second window.
  Time load_window_start{0};
  uint32_t load_count = 0;
  Time under_load_until = Time::min();

  std::array<uint8_t, 256> scratch{};  // handshake messages and keepalives

  // device.cpp
  void on_initiation(std::span<uint8_t> d, const net::Endpoint& from, Time now, Output& out);
  void on_response(std::span<uint8_t> d, const net::Endpoint& from, Time now, Output& out);
  void on_cookie_reply(std::span<uint8_t> d, Time now);
  void on_transport(std::span<uint8_t> d, const net::Endpoint& from, Time now, Output& out);
  void after_open(Peer& p, Keypair& kp, std::span<uint8_t> d, std::span<uint8_t> plain, const net::Endpoint& from,
                  Time now, Output& out);
  Keypair* live_keypair(std::span<const uint8_t> d, Time now, Peer** peer = nullptr) const;
  bool under_load(Time now);
  uint32_t new_index(Peer& p, Keypair* kp);
  void install_keypair(Peer& p, std::unique_ptr<Keypair> kp);
  void drop_keypair(std::unique_ptr<Keypair>& kp);
  void zero_keys(Peer& p);

  // timers.cpp: the send path and timer events
  void arm(Time& t, Time at) {
    t = at;
    if (at < earliest) earliest = at;
  }
  Time jitter();
  void send_initiation(Peer& p, Time now, bool retry, Output& out);
  bool write_initiation(Peer& p, const net::Endpoint& to, Time now, Output& out);
  void send_staged(Peer& p, Time now, Output& out);
  void send_keepalive(Peer& p, Time now, Output& out);
  void send_packet(Peer& p, Keypair& kp, uint8_t* pkt, size_t len, Time now, Output& out);
  void stage(Peer& p, std::span<const uint8_t> pkt);
  void keep_key_fresh_sending(Peer& p, Time now, Output& out);
  void keep_key_fresh_receiving(Peer& p, Time now, Output& out);
  void timers_data_sent(Peer& p, Time now);
  void timers_data_received(Peer& p, Time now);
  void timers_any_authenticated_sent(Peer& p);
  void timers_any_authenticated_received(Peer& p);
  void timers_traversal(Peer& p, Time now);
  void timers_handshake_initiated(Peer& p, Time now);
  void timers_handshake_complete(Peer& p);
  void timers_session_derived(Peer& p, Time now);
  void run_timers(Peer& p, Time now, Output& out);
};

}  // namespace ovl::wg
