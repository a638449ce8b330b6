#include "engine/crypto/aead.hpp"

#include <sodium.h>

#include <cstring>

namespace ovl::crypto {

static void wg_nonce(uint8_t nonce[12], uint64_t counter) {
  std::memset(nonce, 0, 4);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
}

void aead_seal(uint8_t* out, const uint8_t key[32], uint64_t counter, std::span<const uint8_t> pt,
               std::span<const uint8_t> ad) {
  uint8_t nonce[12];
  wg_nonce(nonce, counter);
  crypto_aead_chacha20poly1305_ietf_encrypt(out, nullptr, pt.data(), pt.size(), ad.data(), ad.size(), nullptr, nonce,
                                            key);
}

bool aead_open(uint8_t* out, const uint8_t key[32], uint64_t counter, std::span<const uint8_t> ct,
               std::span<const uint8_t> ad) {
  if (ct.size() < kTagLen) return false;
  uint8_t nonce[12];
  wg_nonce(nonce, counter);
  return crypto_aead_chacha20poly1305_ietf_decrypt(out, nullptr, nullptr, ct.data(), ct.size(), ad.data(), ad.size(),
                                                   nonce, key) == 0;
}

void xaead_seal(uint8_t* out, const uint8_t key[32], const uint8_t nonce[kXNonceLen], std::span<const uint8_t> pt,
                std::span<const uint8_t> ad) {
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, nullptr, pt.data(), pt.size(), ad.data(), ad.size(), nullptr, nonce,
                                             key);
}

bool xaead_open(uint8_t* out, const uint8_t key[32], const uint8_t nonce[kXNonceLen], std::span<const uint8_t> ct,
                std::span<const uint8_t> ad) {
  if (ct.size() < kTagLen) return false;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out, nullptr, nullptr, ct.data(), ct.size(), ad.data(), ad.size(),
                                                    nonce, key) == 0;
}

}  // namespace ovl::crypto
