// MAC1/MAC2 and the cookie reply: WireGuard's defence against handshake
// floods (section 5.4.4 and 5.4.7 of the paper).
//
// mac1 = MAC(HASH("mac1----" || receiver's static public), msg up to mac1)
// mac2 = MAC(cookie, msg up to mac2), cookie = MAC(secret, source address)
// where the responder rotates `secret` every two minutes and sends the cookie
// sealed with XChaCha20-Poly1305 under HASH("cookie--" || its static public),
// bound to the mac1 it answers.
#pragma once
#include <chrono>
#include <cstdint>
#include <span>

#include "engine/crypto/blake2s.hpp"
#include "engine/net/ip.hpp"
#include "engine/wg/messages.hpp"

namespace ovl::wg {

using Time = std::chrono::nanoseconds;
inline constexpr Time kCookieRefreshTime = std::chrono::seconds(120);

// Bytes the cookie is bound to: the source IP then the port (big-endian).
size_t endpoint_bytes(const net::Endpoint& ep, uint8_t out[18]);

// Responder side, one per device.
class CookieChecker {
 public:
  void init(const crypto::PublicKey& own_public);
  // msg is the whole initiation or response; mac1_offset is where mac1 starts.
  bool check_mac1(std::span<const uint8_t> msg, size_t mac1_offset) const;
  bool check_mac2(std::span<const uint8_t> msg, size_t mac2_offset, const net::Endpoint& src, Time now) const;
  CookieReply make_reply(std::span<const uint8_t> msg, size_t mac1_offset, uint32_t receiver,
                         const net::Endpoint& src, Time now, crypto::Rng& rng);

 private:
  void cookie_for(uint8_t out[kMacSize], const net::Endpoint& src) const;
  crypto::Hash mac1_key_{}, cookie_key_{};
  crypto::SecretKey secret_;
  Time secret_set_ = Time::min();
};

// Initiator side (and responder for its responses), one per peer.
class CookieGenerator {
 public:
  void init(const crypto::PublicKey& remote_public);
  // Writes mac1 (and mac2 when a fresh cookie is known) into msg.
  void add_macs(std::span<uint8_t> msg, size_t mac1_offset, Time now);
  // Accepts a cookie reply that answers our last mac1.
  bool consume_reply(const CookieReply& reply, Time now);

 private:
  crypto::Hash mac1_key_{}, cookie_key_{};
  Mac last_mac1_{};
  bool have_last_mac1_ = false;
  Mac cookie_{};
  Time cookie_set_ = Time::min();
  bool have_cookie_ = false;
};

}  // namespace ovl::wg
