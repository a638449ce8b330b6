#include "engine/net/gso.hpp"

#include <cstring>

#include "engine/net/checksum.hpp"
#include "engine/net/ip.hpp"

namespace ovl::net {

namespace {

constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void put_le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

VnetHdr parse_vnet_hdr(const uint8_t* p) {
  return VnetHdr{p[0], p[1], le16(p + 2), le16(p + 4), le16(p + 6), le16(p + 8)};
}

void write_vnet_hdr(const VnetHdr& h, uint8_t* p) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  put_le16(p + 2, h.hdr_len);
  put_le16(p + 4, h.gso_size);
  put_le16(p + 6, h.csum_start);
  put_le16(p + 8, h.csum_offset);
}

bool complete_checksum(std::span<uint8_t> pkt, const VnetHdr& h) {
  size_t start = h.csum_start, field = size_t(h.csum_start) + h.csum_offset;
  if (start > pkt.size() || field + 2 > pkt.size()) return false;
  // The field holds the pseudo-header sum; summing the region including it
  // gives the full sum.
  uint64_t s = csum_add(pkt.data() + start, pkt.size() - start);
  csum_store(pkt.data() + field, static_cast<uint16_t>(~csum_fold(s)));
  return true;
}

bool tso_shape(std::span<const uint8_t> pkt, const VnetHdr& h, TsoShape& out) {
  const uint8_t type = h.gso_type & ~kGsoEcn;
  const uint8_t* b = pkt.data();
  size_t n = pkt.size();
  if (h.gso_size == 0 || n < 20) return false;
  if (type == kGsoTcpV4) {
    if ((b[0] >> 4) != 4) return false;
    out.v6 = false;
    out.l3_len = size_t(b[0] & 0x0f) * 4;
    if (out.l3_len < 20 || b[9] != kProtoTcp) return false;
    if (be16(b + 6) & 0x3fff) return false;  // a fragment (MF or offset)
  } else if (type == kGsoTcpV6) {
    if (n < 40 || (b[0] >> 4) != 6 || b[6] != kProtoTcp) return false;
    out.v6 = true;
    out.l3_len = 40;
  } else {
    return false;
  }
  if (out.l3_len + 20 > n) return false;
  size_t thl = size_t(b[out.l3_len + 12] >> 4) * 4;
  if (thl < 20 || out.l3_len + thl > n) return false;
  out.hdr_len = out.l3_len + thl;
  out.payload = n - out.hdr_len;
  out.gso_size = h.gso_size;
  out.segments = out.payload == 0 ? 1 : (out.payload + out.gso_size - 1) / out.gso_size;
  return true;
}

void tso_segment(std::span<const uint8_t> pkt, const TsoShape& s, size_t first, size_t count, uint8_t* out,
                 size_t stride, uint16_t* lens) {
  const uint8_t* b = pkt.data();
  const uint8_t* tcp0 = b + s.l3_len;
  const size_t thl = s.hdr_len - s.l3_len;
  const uint32_t seq0 = be32(tcp0 + 4);
  const uint16_t id0 = be16(b + 4);
  const uint8_t flags0 = tcp0[13];
  const uint8_t* src = s.v6 ? b + 8 : b + 12;
  const uint8_t* dst = s.v6 ? b + 24 : b + 16;
  for (size_t i = 0; i < count; ++i) {
    const size_t k = first + i;
    const size_t off = k * s.gso_size;
    const size_t chunk = k + 1 == s.segments ? s.payload - off : s.gso_size;
    uint8_t* o = out + i * stride;
    std::memcpy(o, b, s.hdr_len);
    std::memcpy(o + s.hdr_len, b + s.hdr_len + off, chunk);
    const size_t len = s.hdr_len + chunk;
    if (s.v6) {
      put_be16(o + 4, static_cast<uint16_t>(len - 40));
    } else {
      put_be16(o + 2, static_cast<uint16_t>(len));
      put_be16(o + 4, static_cast<uint16_t>(id0 + k));
      ipv4_header_checksum(o, s.l3_len);
    }
    uint8_t* tcp = o + s.l3_len;
    put_be32(tcp + 4, seq0 + static_cast<uint32_t>(off));
    uint8_t f = flags0;
    if (k + 1 != s.segments) f &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (k != 0) f &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = f;
    tcp[16] = tcp[17] = 0;
    uint64_t sum = pseudo_header_sum(s.v6, src, dst, kProtoTcp, static_cast<uint32_t>(thl + chunk));
    sum = csum_add(tcp, thl + chunk, sum);
    csum_store(tcp + 16, static_cast<uint16_t>(~csum_fold(sum)));
    lens[i] = static_cast<uint16_t>(len);
  }
}

}  // namespace ovl::net
