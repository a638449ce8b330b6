// The Internet checksum (RFC 1071) as the offload code needs it: partial sums
// that can be chained, folded, and stored without byte swapping.
//
// Sums are kept in *native* 16-bit word order: bytes are loaded as host-order
// words, and the folded result, stored back with memcpy, lands in the packet
// as the correct network-order checksum. RFC 1071 section 2(B) is why this
// works on either byte order. Chained pieces must each start at an even
// offset of the checksummed region (all headers here have even lengths).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ovl::net {

// Adds bytes [p, p+n) to `sum` (an odd tail byte is padded with zero).
uint64_t csum_add(const uint8_t* p, size_t n, uint64_t sum = 0);

// Folds to 16 bits (not complemented).
inline uint16_t csum_fold(uint64_t s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Sum of the TCP/UDP pseudo-header. `v6` selects 16-byte addresses.
// `len` is the transport length (header + payload).
uint64_t pseudo_header_sum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len);

// Reads/writes a 16-bit checksum field in the native domain used above.
inline uint16_t csum_load(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void csum_store(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Recomputes the IPv4 header checksum of `h` (ihl*4 bytes).
void ipv4_header_checksum(uint8_t* h, size_t ihl_bytes);

}  // namespace ovl::net
