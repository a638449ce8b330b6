#include "engine/net/gro.hpp"

#include <cstring>

#include "engine/net/checksum.hpp"
#include "engine/net/ip.hpp"

namespace ovl::net {

namespace {

constexpr uint8_t kAck = 0x10, kPsh = 0x08;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// IP + TCP header length if `p` is a TCP data segment we may merge (ACK or
// ACK|PSH, some payload, valid checksums); 0 otherwise. Sets l3.
uint16_t mergeable(const uint8_t* p, size_t n, uint16_t& l3) {
  bool v6;
  if (n < 40) return 0;
  if ((p[0] >> 4) == 4) {
    if (p[0] != 0x45 || p[9] != kProtoTcp || (be16(p + 6) & 0x3fff) || be16(p + 2) != n) return 0;
    if (csum_fold(csum_add(p, 20)) != 0xffff) return 0;
    v6 = false;
    l3 = 20;
  } else if ((p[0] >> 4) == 6) {
    if (n < 60 || p[6] != kProtoTcp || size_t(be16(p + 4)) + 40 != n) return 0;
    v6 = true;
    l3 = 40;
  } else {
    return 0;
  }
  const uint8_t* t = p + l3;
  size_t thl = size_t(t[12] >> 4) * 4;
  if (thl < 20 || l3 + thl >= n) return 0;  // no payload: not worth merging
  if (t[13] != kAck && t[13] != (kAck | kPsh)) return 0;
  uint64_t s = pseudo_header_sum(v6, v6 ? p + 8 : p + 12, v6 ? p + 24 : p + 16, kProtoTcp,
                                 static_cast<uint32_t>(n - l3));
  if (csum_fold(csum_add(t, n - l3, s)) != 0xffff) return 0;
  return static_cast<uint16_t>(l3 + thl);
}

bool same_flow(const uint8_t* a, const uint8_t* b, uint16_t l3) {
  if (l3 == 20) return std::memcmp(a + 12, b + 12, 8) == 0 && std::memcmp(a + 20, b + 20, 4) == 0;
  return std::memcmp(a + 8, b + 8, 32) == 0 && std::memcmp(a + 40, b + 40, 4) == 0;
}

}  // namespace

void TcpCoalescer::reset() {
  n_pkts_ = n_writes_ = next_open_ = 0;
  open_.fill(-1);
}

bool TcpCoalescer::can_merge(const W& w, const Pkt& b) const {
  const Pkt& a = pkts_[w.tail];
  if (a.hdr_len != b.hdr_len || a.l3_len != b.l3_len || w.count >= kMaxSegments) return false;
  const uint8_t *x = a.data, *y = b.data;
  if (a.l3_len == 20) {
    // TOS, DF (and the rest of the flags byte), TTL, protocol.
    if (x[1] != y[1] || (x[6] & 0xe0) != (y[6] & 0xe0) || x[8] != y[8]) return false;
  } else {
    if (std::memcmp(x, y, 4) != 0 || x[7] != y[7]) return false;
  }
  const uint8_t *s = x + a.l3_len, *t = y + b.l3_len;
  if (s[13] != kAck) return false;                                  // A: no PSH/FIN/...
  if (std::memcmp(s + 8, t + 8, 4) != 0) return false;              // ACK number
  if (std::memcmp(s + 14, t + 14, 2) != 0) return false;            // window
  if (std::memcmp(s + 20, t + 20, a.hdr_len - a.l3_len - 20) != 0) return false;  // options
  const uint32_t a_payload = a.len - a.hdr_len, b_payload = b.len - b.hdr_len;
  if (a_payload != w.seg_payload || b_payload > w.seg_payload) return false;
  if (be32(t + 4) != be32(s + 4) + a_payload) return false;
  return w.total + b_payload <= 65535;
}

bool TcpCoalescer::add(std::span<uint8_t> pkt) {
  if (n_pkts_ == kMaxPackets || pkt.size() > 65535) return false;
  const int32_t i = static_cast<int32_t>(n_pkts_++);
  Pkt& b = pkts_[i];
  b = Pkt{pkt.data(), static_cast<uint16_t>(pkt.size()), 0, 0, -1};
  b.hdr_len = mergeable(b.data, b.len, b.l3_len);

  if (b.hdr_len) {
    for (auto& slot : open_) {
      if (slot < 0) continue;
      W& w = writes_[slot];
      const Pkt& head = pkts_[w.head];
      if (head.l3_len != b.l3_len || !same_flow(head.data, b.data, b.l3_len)) continue;
      if (!can_merge(w, b)) {
        slot = -1;  // the stream moved on (a gap, a new ACK...): start over
        break;
      }
      pkts_[w.tail].next = i;
      w.tail = i;
      ++w.count;
      const uint16_t payload = static_cast<uint16_t>(b.len - b.hdr_len);
      w.total += payload;
      if ((b.data[b.l3_len + 13] & kPsh) || payload < w.seg_payload || w.count == kMaxSegments) slot = -1;
      return true;
    }
  }
  W& w = writes_[n_writes_];
  w = W{i, i, 1, static_cast<uint16_t>(b.len - b.hdr_len), b.len};
  if (b.hdr_len && b.data[b.l3_len + 13] == kAck) {
    // Open for more; round-robin over the slots evicts the oldest stream.
    open_[next_open_] = static_cast<int32_t>(n_writes_);
    next_open_ = (next_open_ + 1) % kOpenFlows;
  }
  ++n_writes_;
  return true;
}

VnetHdr TcpCoalescer::finish(size_t wi) {
  const W& w = writes_[wi];
  VnetHdr h;
  if (w.count == 1) return h;  // written as it came
  Pkt& f = pkts_[w.head];
  uint8_t* p = f.data;
  const bool v6 = f.l3_len == 40;
  if (v6) {
    put_be16(p + 4, static_cast<uint16_t>(w.total - 40));
  } else {
    put_be16(p + 2, static_cast<uint16_t>(w.total));
    ipv4_header_checksum(p, 20);
  }
  uint8_t* t = p + f.l3_len;
  if (pkts_[w.tail].data[f.l3_len + 13] & kPsh) t[13] |= kPsh;
  // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the kernel
  // does not need the rest (the segments were verified when added).
  uint64_t s = pseudo_header_sum(v6, v6 ? p + 8 : p + 12, v6 ? p + 24 : p + 16, kProtoTcp, w.total - f.l3_len);
  csum_store(t + 16, csum_fold(s));
  h.flags = kVnetNeedsCsum;
  h.gso_type = v6 ? kGsoTcpV6 : kGsoTcpV4;
  h.hdr_len = f.hdr_len;
  h.gso_size = w.seg_payload;
  h.csum_start = f.l3_len;
  h.csum_offset = 16;
  return h;
}

}  // namespace ovl::net
