// Public-key authenticated encryption between two X25519 keys
// (libsodium's crypto_box: XSalsa20-Poly1305 under a key derived from the
// X25519 shared secret). Used for disco messages, which are sealed with the
// two nodes' static WireGuard keys so only the peer can read or forge them.
#pragma once
#include <cstdint>
#include <span>

#include "engine/crypto/keys.hpp"

namespace ovl::crypto {

inline constexpr size_t kBoxNonceLen = 24;
inline constexpr size_t kBoxMacLen = 16;

// The precomputed key for (our private, their public). False when the peer's
// key is a low-order point (the shared secret would be all zeros).
bool box_shared(SecretKey& out, const SecretKey& priv, const PublicKey& pub);
// out must hold pt.size() + kBoxMacLen bytes.
void box_seal(uint8_t* out, std::span<const uint8_t> pt, const uint8_t nonce[kBoxNonceLen], const SecretKey& shared);
// out must hold ct.size() - kBoxMacLen bytes; false if forged or too short.
bool box_open(uint8_t* out, std::span<const uint8_t> ct, const uint8_t nonce[kBoxNonceLen], const SecretKey& shared);

}  // namespace ovl::crypto
