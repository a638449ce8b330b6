// A transport session (one direction pair of keys from one handshake) and the
// two packet-path functions over it. They are free functions over a Keypair
// so that, later, several worker threads can encrypt and decrypt batches:
// the send counter is atomic; the replay window is the only shared mutable
// state on receive.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>

#include "engine/crypto/keys.hpp"
#include "engine/wg/messages.hpp"
#include "engine/wg/replay.hpp"

namespace ovl::wg {

using Time = std::chrono::nanoseconds;

inline constexpr uint64_t kRekeyAfterMessages = 1ULL << 60;
inline constexpr uint64_t kRejectAfterMessages = UINT64_MAX - (1ULL << 13);
inline constexpr Time kRekeyAfterTime = std::chrono::seconds(120);
inline constexpr Time kRejectAfterTime = std::chrono::seconds(180);

struct Keypair {
  crypto::SecretKey send_key, recv_key;
  std::atomic<uint64_t> send_counter{0};
  ReplayWindow replay;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  Time created{0};
  bool initiator = false;

  bool send_expired(Time now) const {
    return now - created >= kRejectAfterTime || send_counter.load(std::memory_order_relaxed) >= kRejectAfterMessages;
  }
  bool recv_expired(Time now) const { return now - created >= kRejectAfterTime; }
};

// Plaintext length after WireGuard's padding to a multiple of 16.
constexpr size_t padded_len(size_t len) { return (len + 15) & ~size_t(15); }

// Encrypts pkt[0..len) in place into a transport message that starts
// kTransportHeaderSize bytes before pkt. pkt must have room for
// padded_len(len) + kTagSize bytes. Returns the datagram length.
size_t seal_transport(Keypair& kp, uint64_t counter, uint8_t* pkt, size_t len);
// The same with the session's key and the peer's index given directly: a
// host that seals later, perhaps on another thread, holds copies of them.
size_t seal_transport(const crypto::SecretKey& send_key, uint32_t remote_index, uint64_t counter, uint8_t* pkt,
                      size_t len);

// Decrypts a transport message in place. On success `plain` is the padded
// plaintext (inside dgram); the replay window is updated only after the
// packet authenticated.
enum class OpenResult { ok, bad_auth, replayed };
OpenResult open_transport(Keypair& kp, std::span<uint8_t> dgram, std::span<uint8_t>& plain);

// The two halves of open_transport, for hosts that decrypt a batch on
// several threads and then hand the messages to the device in order:
// decrypt_transport is pure (any thread; no replay check, dgram must be at
// least kTransportMinSize); accept_opened (device thread) does the counter
// limit and the replay window for a message that decrypted.
bool decrypt_transport(const crypto::SecretKey& recv_key, std::span<uint8_t> dgram);
OpenResult accept_opened(Keypair& kp, std::span<uint8_t> dgram, std::span<uint8_t>& plain);

}  // namespace ovl::wg
