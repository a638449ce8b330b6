// BLAKE2s (RFC 7693, via libb2) and the HMAC/HKDF constructions WireGuard
// builds on it. All outputs are 32 bytes unless a length is given.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "engine/crypto/keys.hpp"

namespace ovl::crypto {

inline constexpr size_t kHashLen = 32;
using Hash = std::array<uint8_t, kHashLen>;
using Bytes = std::span<const uint8_t>;

// HASH(in_1 || in_2 || ...), unkeyed, 32-byte output.
Hash blake2s(std::initializer_list<Bytes> parts);
// Keyed BLAKE2s with a chosen output length (WireGuard's MAC uses 16 bytes).
void blake2s_keyed(std::span<uint8_t> out, Bytes key, std::initializer_list<Bytes> parts);
// HMAC-BLAKE2s (RFC 2104 over BLAKE2s, 64-byte block).
void hmac(uint8_t out[kHashLen], Bytes key, Bytes msg);
// WireGuard's KDF_n: HKDF with HMAC-BLAKE2s, returning n outputs from
// chaining key `ck` and input `in`. Unused outputs may be null.
void kdf(Bytes ck, Bytes in, uint8_t* t1, uint8_t* t2 = nullptr, uint8_t* t3 = nullptr);

}  // namespace ovl::crypto
