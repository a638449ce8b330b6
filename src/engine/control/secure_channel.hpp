// An authenticated, encrypted message channel over a byte stream (the TCP
// control link between a node and its coordinator), built from WireGuard's
// own Noise_IKpsk2 handshake: the node (initiator) already knows the
// coordinator's static key from the invite token, so a man in the middle
// with another key fails the handshake.
//
// Stream framing: every frame is a u32 big-endian length followed by that
// many bytes (1 <= length <= kMaxFrame). Frame bodies are WireGuard messages:
//   client -> server  first frame: handshake initiation (148 bytes, mac1 set, mac2 zero)
//   server -> client  first frame: handshake response (92 bytes, mac1 set, mac2 zero)
//   client -> server  second frame: key confirmation, a transport message
//                     with counter 0 and an empty payload (not delivered);
//                     the server is established() only once it arrived, so
//                     a replayed initiation never yields a session
//   then both ways:   transport messages (type 4: header, counter, sealed
//                     payload), the payload being one application message.
// Counters must arrive in order (TCP), so no replay window is needed: any
// counter other than the next one is an error.
//
// Sans-IO: feed received bytes with on_bytes(), collect bytes to write with
// take_output(). No socket, no clock, randomness passed in.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/crypto/keys.hpp"

namespace ovl::control {

inline constexpr size_t kMaxFrame = 16 << 20;  // 16 MiB: a full network map of 10k nodes fits

class SecureChannel {
 public:
  // Initiator. `wall_ns` feeds the TAI64N timestamp of the initiation.
  static std::unique_ptr<SecureChannel> client(const crypto::SecretKey& self, const crypto::PublicKey& server,
                                               crypto::Rng& rng, int64_t wall_ns);
  // Responder: accepts any initiator key; the caller decides what that key
  // may do (enroll, or be a known node) once established() is true.
  // `rng` is used until the handshake completes and must outlive that.
  static std::unique_ptr<SecureChannel> server(const crypto::SecretKey& self, crypto::Rng& rng);

  virtual ~SecureChannel() = default;

  // Feeds bytes read from the stream; appends every complete application
  // message to `out`. Returns false on a protocol error (bad frame, failed
  // authentication, oversize frame): the connection must then be closed;
  // error() says why, without secrets.
  virtual bool on_bytes(std::span<const uint8_t> in, std::vector<std::string>& out) = 0;
  // Queues one application message (sent once the handshake completes).
  // A message longer than kMaxFrame - 32 bytes fails the channel (error()).
  virtual void send(std::string_view message) = 0;
  // Bytes to write to the stream now (moves them out).
  virtual std::vector<uint8_t> take_output() = 0;

  virtual bool established() const = 0;
  virtual const crypto::PublicKey& remote_key() const = 0;  // valid once established
  virtual const std::string& error() const = 0;
};

}  // namespace ovl::control
