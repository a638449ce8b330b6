// Relay credentials: the coordinator mints them for enrolled nodes, the relay
// verifies them. A credential binds a node's public key to an expiry time:
//
//   mac = BLAKE2s-256(key = relay secret,
//                     "ovl relay credential v1" || node public key (32) || expires_unix (u64 BE))
//
// A credential alone is a bearer token (it travels in every ALLOCATE), so an
// ALLOCATE also proves that its sender holds the node's private key:
//
//   relay key pair  = X25519 key derived from the relay secret (below), so the
//                     coordinator knows the public half without configuration
//                     and puts it in every grant
//   proof key       = BLAKE2s-256(key = X25519(node, relay), "ovl relay proof key v1")
//   proof           = BLAKE2s-256(key = proof key, "ovl relay allocate v1" ||
//                                  ALLOCATE bytes 5..93: node key, expiry, mac, cookie)
//
// and the cookie is the relay's answer to this source address (CHALLENGE):
//
//   cookie = BLAKE2s-128(key = cookie key, "ovl relay cookie v1" || bucket (u64 BE)
//                        || source IP (16, v4-mapped) || source port (u16 BE))
//
// where the cookie key is derived from the relay secret and bucket counts
// kCookieBucket periods of the relay's clock. A captured ALLOCATE replayed
// from another address carries a cookie for the wrong address; making a new
// proof for the thief's own cookie needs the node's private key.
//
// The secret is shared by the coordinator and its relays only. Pure functions.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"
#include "engine/relay/protocol.hpp"

namespace ovl::relay {

using RelaySecret = std::array<uint8_t, 32>;

inline constexpr std::string_view kCredentialContext = "ovl relay credential v1";  // no terminator
// A cookie stays valid for one to two of these.
inline constexpr std::chrono::seconds kCookieBucket{60};

std::array<uint8_t, 32> credential_mac(const RelaySecret& secret, const crypto::PublicKey& node,
                                       uint64_t expires_unix);
// Constant-time check of `mac` against credential_mac(secret, node, expires_unix).
// Says nothing about expiry: the caller compares expires_unix with its clock.
bool verify_credential(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t expires_unix,
                       const std::array<uint8_t, 32>& mac);

// REVOKE: the coordinator tells a relay that shares its secret that a node
// was removed. Accepted when issued within kRevokeWindow of the relay's clock.
inline constexpr std::string_view kRevokeContext = "ovl relay revoke v1";  // no terminator
inline constexpr int64_t kRevokeWindow = 300;  // seconds, either way
std::array<uint8_t, 32> revoke_mac(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t issued_unix);
bool verify_revoke(const RelaySecret& secret, const Revoke& r);
std::vector<uint8_t> make_revoke(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t issued_unix);

// The relay's static X25519 key pair, derived from the secret.
crypto::SecretKey relay_private_key(const RelaySecret& secret);
crypto::PublicKey relay_public_key(const RelaySecret& secret);

// The proof key shared by a node and a relay (either side computes it from
// its private key and the other's public key). False for a low-order key.
bool proof_key(crypto::SecretKey& out, const crypto::SecretKey& own, const crypto::PublicKey& other);
// The proof over an ALLOCATE's bytes 5..93 (proofed_part()).
Proof allocate_proof(const crypto::SecretKey& proof_key, std::span<const uint8_t> proofed);
// Fills a.proof for the other fields of `a`.
void sign_allocate(Allocate& a, const crypto::SecretKey& proof_key);

// The cookie for `from` in time bucket `bucket`; the key is cookie_key(secret).
crypto::SecretKey cookie_key(const RelaySecret& secret);
Cookie make_cookie(const crypto::SecretKey& cookie_key, const net::Endpoint& from, uint64_t bucket);

}  // namespace ovl::relay
