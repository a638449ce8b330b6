// ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce (32 zero bits then a
// 64-bit little-endian counter), and XChaCha20-Poly1305 for cookies.
#pragma once
#include <cstdint>
#include <span>

namespace ovl::crypto {

inline constexpr size_t kTagLen = 16;
inline constexpr size_t kXNonceLen = 24;

// out must hold pt.size() + kTagLen bytes; out may equal pt (in place).
void aead_seal(uint8_t* out, const uint8_t key[32], uint64_t counter, std::span<const uint8_t> pt,
               std::span<const uint8_t> ad);
// out must hold ct.size() - kTagLen bytes; returns false if the tag is wrong.
bool aead_open(uint8_t* out, const uint8_t key[32], uint64_t counter, std::span<const uint8_t> ct,
               std::span<const uint8_t> ad);
void xaead_seal(uint8_t* out, const uint8_t key[32], const uint8_t nonce[kXNonceLen], std::span<const uint8_t> pt,
                std::span<const uint8_t> ad);
bool xaead_open(uint8_t* out, const uint8_t key[32], const uint8_t nonce[kXNonceLen], std::span<const uint8_t> ct,
                std::span<const uint8_t> ad);

}  // namespace ovl::crypto
