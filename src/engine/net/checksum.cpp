#include "engine/net/checksum.hpp"

namespace ovl::net {

uint64_t csum_add(const uint8_t* p, size_t n, uint64_t sum) {
  // Four independent 32-bit accumulators into 64-bit sums: no carry handling
  // inside the loop (2^32 words would be needed to overflow).
  uint64_t a = sum, b = 0, c = 0, d = 0;
  while (n >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);
    a += w[0];
    b += w[1];
    c += w[2];
    d += w[3];
    p += 16;
    n -= 16;
  }
  a += b + c + d;
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    a += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    a += w;
    p += 2;
    n -= 2;
  }
  if (n) {
    // The tail byte is the high-order byte of a zero-padded network word,
    // i.e. its first byte in memory, on either host byte order.
    uint8_t w[2] = {p[0], 0};
    uint16_t v;
    std::memcpy(&v, w, 2);
    a += v;
  }
  return a;
}

uint64_t pseudo_header_sum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len) {
  size_t alen = v6 ? 16 : 4;
  uint64_t s = csum_add(src, alen);
  s = csum_add(dst, alen, s);
  const uint8_t tail[8] = {0, 0, static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                           static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len), 0, proto};
  return csum_add(tail, sizeof tail, s);
}

void ipv4_header_checksum(uint8_t* h, size_t ihl_bytes) {
  h[10] = h[11] = 0;
  csum_store(h + 10, static_cast<uint16_t>(~csum_fold(csum_add(h, ihl_bytes))));
}

}  // namespace ovl::net
