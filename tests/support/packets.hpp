// Hand-built IPv4/IPv6 packets for filter tests (checksums left zero: the
// filter does not read them).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::test {

using Bytes = std::vector<uint8_t>;

inline net::IpAddr ip(const std::string& s) { return *net::IpAddr::parse(s); }

inline Bytes tcp_hdr(uint16_t sport, uint16_t dport, uint8_t flags = 0x02) {
  Bytes b(20, 0);
  b[0] = uint8_t(sport >> 8), b[1] = uint8_t(sport);
  b[2] = uint8_t(dport >> 8), b[3] = uint8_t(dport);
  b[12] = 5 << 4;
  b[13] = flags;
  return b;
}

inline Bytes udp_hdr(uint16_t sport, uint16_t dport, size_t payload = 4) {
  Bytes b(8 + payload, 0);
  b[0] = uint8_t(sport >> 8), b[1] = uint8_t(sport);
  b[2] = uint8_t(dport >> 8), b[3] = uint8_t(dport);
  b[4] = uint8_t(b.size() >> 8), b[5] = uint8_t(b.size());
  return b;
}

inline Bytes icmp_hdr(uint8_t type, uint8_t code, uint16_t id, const Bytes& rest = Bytes(4, 0)) {
  Bytes b = {type, code, 0, 0, uint8_t(id >> 8), uint8_t(id), 0, 1};
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

// frag_offset in bytes (a multiple of 8).
inline Bytes ipv4(const net::IpAddr& src, const net::IpAddr& dst, uint8_t proto, const Bytes& l4,
                  size_t frag_offset = 0, bool more_fragments = false) {
  // Sized once and copied into: GCC 12 warns falsely on insert() here.
  Bytes b(20 + l4.size(), 0);
  std::copy(l4.begin(), l4.end(), b.begin() + 20);
  b[0] = 0x45;
  size_t total = 20 + l4.size();
  b[2] = uint8_t(total >> 8), b[3] = uint8_t(total);
  uint16_t f = uint16_t(frag_offset / 8) | (more_fragments ? 0x2000 : 0);
  b[6] = uint8_t(f >> 8), b[7] = uint8_t(f);
  b[8] = 64;
  b[9] = proto;
  for (int i = 0; i < 4; ++i) b[12 + i] = src.b[i], b[16 + i] = dst.b[i];
  return b;
}

// `ext`: extension headers already chained (each one's first byte is the
// next header); `first_next` is the header after the fixed one.
inline Bytes ipv6(const net::IpAddr& src, const net::IpAddr& dst, uint8_t proto, const Bytes& l4, Bytes ext = {},
                  uint8_t first_next = 0) {
  Bytes b(40 + ext.size() + l4.size(), 0);
  std::copy(ext.begin(), ext.end(), b.begin() + 40);
  std::copy(l4.begin(), l4.end(), b.begin() + 40 + long(ext.size()));
  b[0] = 0x60;
  size_t payload = ext.size() + l4.size();
  b[4] = uint8_t(payload >> 8), b[5] = uint8_t(payload);
  b[6] = ext.empty() ? proto : first_next;
  b[7] = 64;
  for (int i = 0; i < 16; ++i) b[8 + i] = src.b[i], b[24 + i] = dst.b[i];
  return b;
}

// An IPv6 fragment header: next header, offset in bytes, more fragments.
inline Bytes frag6(uint8_t next, size_t offset, bool more) {
  uint16_t v = uint16_t(offset) | (more ? 1 : 0);
  return {next, 0, uint8_t(v >> 8), uint8_t(v), 0, 0, 0, 42};
}

}  // namespace ovl::test
