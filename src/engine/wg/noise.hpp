// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it: the four
// handshake steps as pure functions over a per-peer Handshake state.
// MACs (mac1/mac2) are not touched here; see cookie.hpp.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "engine/crypto/blake2s.hpp"
#include "engine/crypto/keys.hpp"
#include "engine/wg/messages.hpp"

namespace ovl::wg {

using Tai64n = std::array<uint8_t, kTimestampSize>;
// TAI64N label for a Unix time in ns. The nanoseconds are rounded down to a
// multiple of 2^24 ns so the timestamp does not fingerprint the host's clock.
Tai64n tai64n(int64_t unix_ns);

struct Identity {
  crypto::SecretKey private_key;
  crypto::PublicKey public_key{};
};

// What one side knows about the other for handshakes.
struct PeerKeys {
  crypto::PublicKey remote_static{};
  crypto::SecretKey static_static;  // DH(our static, their static), precomputed
  crypto::SecretKey psk;            // all zeros when no preshared key is set
  bool valid = false;               // false if static_static is a low-order result
  static PeerKeys make(const Identity& self, const crypto::PublicKey& remote, const crypto::SecretKey* psk);
};

struct Handshake {
  enum class State : uint8_t { none, initiation_created, initiation_consumed, response_created };
  State state = State::none;
  crypto::Hash hash{};
  crypto::SecretKey chaining_key;
  crypto::SecretKey ephemeral_private;
  crypto::PublicKey remote_ephemeral{};
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  void clear();
};

struct SessionKeys {
  crypto::SecretKey send, recv;
};

// Initiator: fills `out` (mac fields zero) and moves `hs` to initiation_created.
bool create_initiation(Handshake& hs, const Identity& self, const PeerKeys& peer, const Tai64n& now,
                       crypto::Rng& rng, uint32_t local_index, Initiation& out);

// Responder: authenticates an initiation. `find` maps the decrypted static key
// to the peer's keys (nullptr: unknown peer, rejected).
struct ConsumedInitiation {
  crypto::PublicKey remote_static{};
  Tai64n timestamp{};
  crypto::Hash hash{};
  crypto::SecretKey chaining_key;
  crypto::PublicKey remote_ephemeral{};
  uint32_t remote_index = 0;
};
std::optional<ConsumedInitiation> consume_initiation(const Identity& self, const Initiation& msg,
                                                     const std::function<const PeerKeys*(const crypto::PublicKey&)>& find);

// Responder: after the caller accepted a ConsumedInitiation into `hs`
// (state initiation_consumed), builds the response and derives the session.
std::optional<SessionKeys> create_response(Handshake& hs, const PeerKeys& peer, crypto::Rng& rng,
                                           uint32_t local_index, Response& out);

// Initiator: consumes the response to our initiation and derives the session.
std::optional<SessionKeys> consume_response(Handshake& hs, const Identity& self, const PeerKeys& peer,
                                            const Response& msg);

}  // namespace ovl::wg
