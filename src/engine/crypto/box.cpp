#include "engine/crypto/box.hpp"

#include <sodium.h>

namespace ovl::crypto {

static_assert(kBoxNonceLen == crypto_box_NONCEBYTES && kBoxMacLen == crypto_box_MACBYTES);

bool box_shared(SecretKey& out, const SecretKey& priv, const PublicKey& pub) {
  return crypto_box_beforenm(out.data(), pub.data(), priv.data()) == 0;
}

void box_seal(uint8_t* out, std::span<const uint8_t> pt, const uint8_t nonce[kBoxNonceLen], const SecretKey& shared) {
  crypto_box_easy_afternm(out, pt.data(), pt.size(), nonce, shared.data());
}

bool box_open(uint8_t* out, std::span<const uint8_t> ct, const uint8_t nonce[kBoxNonceLen], const SecretKey& shared) {
  if (ct.size() < kBoxMacLen) return false;
  return crypto_box_open_easy_afternm(out, ct.data(), ct.size(), nonce, shared.data()) == 0;
}

}  // namespace ovl::crypto
