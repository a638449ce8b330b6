// Everything the device keeps per peer: identity, handshake, sessions,
// cookie state, timers and counters. Plain data; the logic that moves it is
// in device.cpp (messages) and timers.cpp (time).
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "engine/wg/cookie.hpp"
#include "engine/wg/device.hpp"
#include "engine/wg/keypair.hpp"
#include "engine/wg/noise.hpp"

namespace ovl::wg {

// Timer constants from the WireGuard paper (section 6) and wireguard-go.
inline constexpr Time kRekeyAttemptTime = std::chrono::seconds(90);
inline constexpr Time kRekeyTimeout = std::chrono::seconds(5);
inline constexpr Time kKeepaliveTimeout = std::chrono::seconds(10);
inline constexpr Time kHandshakeInitiationRate = std::chrono::milliseconds(20);
inline constexpr int kMaxHandshakeAttempts = 18;  // kRekeyAttemptTime / kRekeyTimeout
inline constexpr size_t kMaxStagedPackets = 128;
inline constexpr Time kNever = Time::max();

// A packet waiting for a session, with the headroom/tailroom seal needs.
struct StagedPacket {
  std::vector<uint8_t> buf;  // kHeadroom + len + kTailroom
  size_t len = 0;
  uint8_t* data() { return buf.data() + kHeadroom; }
};

struct Peer {
  uint32_t id = 0;  // key in the allowed-IPs trie
  PeerConfig cfg;
  PeerKeys keys;
  Handshake hs;
  CookieGenerator cookies;
  std::unique_ptr<Keypair> current, previous, next;

  Tai64n latest_timestamp{};  // greatest initiation timestamp accepted
  Time last_initiation_consumed = Time::min();
  Time last_sent_handshake = Time::min();
  Time last_probe = Time::min();
  int handshake_attempts = 0;
  bool sent_last_minute_handshake = false;
  bool need_another_keepalive = false;

  int64_t last_handshake_unix_ns = 0;
  uint64_t rx_bytes = 0, tx_bytes = 0;
  std::deque<StagedPacket> staged;

  // Deadlines; kNever when a timer is not armed.
  Time t_retransmit = kNever;
  Time t_send_keepalive = kNever;
  Time t_new_handshake = kNever;
  Time t_zero_keys = kNever;
  Time t_persistent = kNever;

  Time earliest_deadline() const {
    return std::min({t_retransmit, t_send_keepalive, t_new_handshake, t_zero_keys, t_persistent});
  }
};

}  // namespace ovl::wg
