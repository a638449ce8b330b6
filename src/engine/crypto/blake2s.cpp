#include "engine/crypto/blake2s.hpp"

#include <blake2.h>

#include <cstring>

namespace ovl::crypto {

Hash blake2s(std::initializer_list<Bytes> parts) {
  blake2s_state s;
  blake2s_init(&s, kHashLen);
  for (auto p : parts) blake2s_update(&s, p.data(), p.size());
  Hash h;
  blake2s_final(&s, h.data(), h.size());
  return h;
}

void blake2s_keyed(std::span<uint8_t> out, Bytes key, std::initializer_list<Bytes> parts) {
  blake2s_state s;
  blake2s_init_key(&s, out.size(), key.data(), key.size());
  for (auto p : parts) blake2s_update(&s, p.data(), p.size());
  blake2s_final(&s, out.data(), out.size());
}

void hmac(uint8_t out[kHashLen], Bytes key, Bytes msg) {
  constexpr size_t kBlock = 64;
  uint8_t k[kBlock] = {};
  if (key.size() > kBlock) {
    auto h = blake2s({key});
    std::memcpy(k, h.data(), h.size());
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t ipad[kBlock], opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  Hash inner = blake2s({Bytes(ipad, kBlock), msg});
  Hash outer = blake2s({Bytes(opad, kBlock), inner});
  std::memcpy(out, outer.data(), kHashLen);
  wipe(k, sizeof k);
  wipe(ipad, sizeof ipad);
  wipe(opad, sizeof opad);
  wipe(inner.data(), inner.size());
  wipe(outer.data(), outer.size());
}

void kdf(Bytes ck, Bytes in, uint8_t* t1, uint8_t* t2, uint8_t* t3) {
  uint8_t prk[kHashLen], t[kHashLen + 1];
  hmac(prk, ck, in);
  t[0] = 1;
  hmac(t, prk, Bytes(t, 1));
  if (t1) std::memcpy(t1, t, kHashLen);
  if (t2 || t3) {
    t[kHashLen] = 2;
    uint8_t t2buf[kHashLen];
    hmac(t2buf, prk, Bytes(t, kHashLen + 1));
    if (t2) std::memcpy(t2, t2buf, kHashLen);
    if (t3) {
      std::memcpy(t, t2buf, kHashLen);
      t[kHashLen] = 3;
      hmac(t3, prk, Bytes(t, kHashLen + 1));
    }
    wipe(t2buf, sizeof t2buf);
  }
  wipe(prk, sizeof prk);
  wipe(t, sizeof t);
}

}  // namespace ovl::crypto
