// TSO segmentation, TCP coalescing and the checksums under them, checked
// against a straightforward reference checksum and against each other
// (segment then coalesce gives back the original stream).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/net/checksum.hpp"
#include "engine/net/gro.hpp"
#include "engine/net/gso.hpp"

using namespace ovl::net;

namespace {

using Bytes = std::vector<uint8_t>;

// RFC 1071 the slow, obvious way: big-endian 16-bit words.
uint16_t ref_sum(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, uint16_t(v >> 16)); put16(p + 2, uint16_t(v)); }

bool v6_of(const Bytes& b) { return (b[0] >> 4) == 6; }
size_t l3_of(const Bytes& b) { return v6_of(b) ? 40 : size_t(b[0] & 15) * 4; }

// True if the TCP checksum of the packet verifies (reference arithmetic).
bool tcp_ok(const uint8_t* p, size_t n) {
  bool v6 = (p[0] >> 4) == 6;
  size_t l3 = v6 ? 40 : size_t(p[0] & 15) * 4;
  uint32_t s = 0;
  const uint8_t* src = v6 ? p + 8 : p + 12;
  size_t alen = v6 ? 16 : 4;
  s += ref_sum(src, alen);
  s += ref_sum(src + alen, alen);
  s += 6 + uint32_t(n - l3);
  return ref_sum(p + l3, n - l3, s) == 0xffff;
}
bool ip_ok(const uint8_t* p) { return (p[0] >> 4) == 6 || ref_sum(p, size_t(p[0] & 15) * 4) == 0xffff; }

// A TCP/IP packet with timestamp options, `payload` bytes of a pattern that
// depends on the stream offset, and correct checksums.
Bytes tcp_packet(bool v6, uint32_t seq, size_t payload, uint8_t flags = 0x10, uint16_t sport = 40000) {
  size_t l3 = v6 ? 40 : 20, thl = 32;
  Bytes b(l3 + thl + payload);
  if (v6) {
    b[0] = 0x60;
    put16(&b[4], uint16_t(thl + payload));
    b[6] = 6;
    b[7] = 64;
    for (int i = 0; i < 16; ++i) b[8 + i] = uint8_t(0xfd), b[24 + i] = uint8_t(i);
    b[23] = 1, b[39] = 2;
  } else {
    b[0] = 0x45;
    put16(&b[2], uint16_t(b.size()));
    put16(&b[4], 0x1234);
    b[6] = 0x40;  // DF
    b[8] = 64;
    b[9] = 6;
    uint8_t a[8] = {10, 100, 0, 1, 10, 100, 0, 2};
    std::memcpy(&b[12], a, 8);
    uint16_t c = uint16_t(~ref_sum(b.data(), 20));
    put16(&b[10], c);
  }
  uint8_t* t = &b[l3];
  put16(t, sport);
  put16(t + 2, 5201);
  put32(t + 4, seq);
  put32(t + 8, 777);
  t[12] = uint8_t(thl / 4) << 4;
  t[13] = flags;
  put16(t + 14, 500);
  uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 1, 2, 0, 0, 3, 4};  // NOP NOP TS
  std::memcpy(t + 20, opts, 12);
  for (size_t i = 0; i < payload; ++i) t[thl + i] = uint8_t((seq + i) * 7 + 3);
  uint32_t s = ref_sum(v6 ? &b[8] : &b[12], v6 ? 16 : 4) + ref_sum(v6 ? &b[24] : &b[16], v6 ? 16 : 4) + 6 +
               uint32_t(thl + payload);
  put16(t + 16, uint16_t(~ref_sum(t, thl + payload, s)));
  return b;
}

// Concatenates the parts of one coalescer write into a packet.
Bytes gather(std::span<const std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Written {
  VnetHdr h;
  Bytes pkt;
};
std::vector<Written> flush_all(TcpCoalescer& c) {
  std::vector<Written> w;
  c.flush([&](const VnetHdr& h, std::span<const std::span<const uint8_t>> parts) { w.push_back({h, gather(parts)}); });
  return w;
}

// What the kernel would do with a coalesced write: re-segment it the same way
// (finishing the partial checksum first) and return the segments.
std::vector<Bytes> resegment(const Written& w) {
  if (w.h.gso_type == kGsoNone) return {w.pkt};
  Bytes p = w.pkt;
  TsoShape s;
  REQUIRE(tso_shape(p, w.h, s));
  std::vector<uint8_t> out(s.segments * 2048);
  std::vector<uint16_t> lens(s.segments);
  tso_segment(p, s, 0, s.segments, out.data(), 2048, lens.data());
  std::vector<Bytes> r;
  for (size_t i = 0; i < s.segments; ++i) r.emplace_back(out.data() + i * 2048, out.data() + i * 2048 + lens[i]);
  return r;
}

Bytes payload_of(const Bytes& b) {
  size_t l3 = l3_of(b), thl = size_t(b[l3 + 12] >> 4) * 4;
  return Bytes(b.begin() + long(l3 + thl), b.end());
}

}  // namespace

TEST_CASE("checksum: fast sum equals the reference on any length and alignment") {
  std::mt19937 rng(7);
  Bytes buf(3000);
  for (auto& x : buf) x = uint8_t(rng());
  for (size_t off = 0; off < 4; ++off)
    for (size_t n : {0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 1499, 2048, 2995}) {
      uint16_t fast = csum_fold(csum_add(buf.data() + off, n));
      uint16_t ref = ref_sum(buf.data() + off, n);
      uint8_t stored[2];
      csum_store(stored, fast);
      CHECK(be16(stored) == ref);
    }
}

TEST_CASE("checksum: IPv4 header example (RFC 1071 style, well-known vector)") {
  uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  ipv4_header_checksum(h, 20);
  CHECK(h[10] == 0xb8);
  CHECK(h[11] == 0x61);
}

TEST_CASE("gso: vnet header round trip is little endian") {
  VnetHdr h{kVnetNeedsCsum, kGsoTcpV4, 0x0134, 1380, 20, 16};
  uint8_t b[kVnetHdrSize];
  write_vnet_hdr(h, b);
  CHECK(b[0] == 1);
  CHECK(b[1] == 1);
  CHECK(b[2] == 0x34);
  CHECK(b[3] == 0x01);
  VnetHdr g = parse_vnet_hdr(b);
  CHECK(g.gso_size == 1380);
  CHECK(g.csum_start == 20);
  CHECK(g.csum_offset == 16);
}

TEST_CASE("gso: complete_checksum finishes a partial TCP checksum") {
  Bytes p = tcp_packet(false, 1000, 333);
  REQUIRE(tcp_ok(p.data(), p.size()));
  // What the kernel hands over: the pseudo-header sum in the field.
  uint32_t ps = ref_sum(&p[12], 4) + ref_sum(&p[16], 4) + 6 + uint32_t(p.size() - 20);
  while (ps >> 16) ps = (ps & 0xffff) + (ps >> 16);
  put16(&p[20 + 16], uint16_t(ps));
  CHECK_FALSE(tcp_ok(p.data(), p.size()));
  VnetHdr h{kVnetNeedsCsum, kGsoNone, 0, 0, 20, 16};
  REQUIRE(complete_checksum(p, h));
  CHECK(tcp_ok(p.data(), p.size()));
  CHECK_FALSE(complete_checksum(std::span<uint8_t>(p.data(), 30), h));  // field beyond the end
}

TEST_CASE("gso: a TSO super-packet splits into valid MTU-sized segments") {
  for (bool v6 : {false, true}) {
    CAPTURE(v6);
    const size_t total = 5000, mss = 1368;
    Bytes sp = tcp_packet(v6, 0xfffff000, total, 0x18 | 0x01);  // ACK|PSH|FIN, seq wraps
    VnetHdr h{kVnetNeedsCsum, v6 ? kGsoTcpV6 : kGsoTcpV4, 0, uint16_t(mss), uint16_t(v6 ? 40 : 20), 16};
    TsoShape s;
    REQUIRE(tso_shape(sp, h, s));
    CHECK(s.segments == 4);
    const size_t stride = 1500;
    Bytes out(4 * stride);
    uint16_t lens[4];
    // In two calls, as the data plane does when its arena is short.
    tso_segment(sp, s, 0, 1, out.data(), stride, lens);
    tso_segment(sp, s, 1, 3, out.data() + stride, stride, lens + 1);
    Bytes stream;
    for (size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      const uint8_t* p = out.data() + i * stride;
      size_t l3 = v6 ? 40 : 20;
      size_t want = i < 3 ? mss : total - 3 * mss;
      CHECK(lens[i] == l3 + 32 + want);
      CHECK(ip_ok(p));
      CHECK(tcp_ok(p, lens[i]));
      if (v6) CHECK(be16(p + 4) == 32 + want);
      else {
        CHECK(be16(p + 2) == lens[i]);
        CHECK(be16(p + 4) == 0x1234 + i);
      }
      CHECK(be32(p + l3 + 4) == uint32_t(0xfffff000 + i * mss));
      uint8_t f = p[l3 + 13];
      CHECK((f & 0x10) != 0);
      CHECK(((f & 0x09) != 0) == (i == 3));  // PSH/FIN only on the last
      stream.insert(stream.end(), p + l3 + 32, p + lens[i]);
    }
    CHECK(stream == payload_of(sp));
  }
}

TEST_CASE("gso: malformed super-packets are refused") {
  Bytes sp = tcp_packet(false, 1, 3000);
  TsoShape s;
  VnetHdr h{kVnetNeedsCsum, kGsoTcpV4, 0, 1000, 20, 16};
  CHECK(tso_shape(sp, h, s));
  VnetHdr zero = h;
  zero.gso_size = 0;
  CHECK_FALSE(tso_shape(sp, zero, s));
  VnetHdr v6 = h;
  v6.gso_type = kGsoTcpV6;
  CHECK_FALSE(tso_shape(sp, v6, s));  // an IPv4 packet labelled TCPv6
  Bytes udp = sp;
  udp[9] = 17;
  CHECK_FALSE(tso_shape(udp, h, s));
  Bytes frag = sp;
  frag[6] |= 0x20;  // MF
  CHECK_FALSE(tso_shape(frag, h, s));
  Bytes shortp(sp.begin(), sp.begin() + 30);  // TCP header cut off
  CHECK_FALSE(tso_shape(shortp, h, s));
}

TEST_CASE("gro: in-order segments merge into one super-packet that resegments to the same packets") {
  for (bool v6 : {false, true}) {
    CAPTURE(v6);
    std::vector<Bytes> segs;
    uint32_t seq = 100;
    for (int i = 0; i < 10; ++i) {
      size_t n = i < 9 ? 1368 : 500;
      segs.push_back(tcp_packet(v6, seq, n, i == 9 ? 0x18 : 0x10));
      seq += uint32_t(n);
    }
    TcpCoalescer c;
    for (auto& s : segs) REQUIRE(c.add(s));
    auto w = flush_all(c);
    REQUIRE(w.size() == 1);
    CHECK(w[0].h.gso_type == (v6 ? kGsoTcpV6 : kGsoTcpV4));
    CHECK(w[0].h.gso_size == 1368);
    CHECK(w[0].h.flags == kVnetNeedsCsum);
    CHECK(w[0].pkt.size() == (v6 ? 40u : 20u) + 32 + 9 * 1368 + 500);
    auto back = resegment(w[0]);
    REQUIRE(back.size() == 10);
    for (size_t i = 0; i < 10; ++i) {
      CAPTURE(i);
      const size_t l3 = l3_of(back[i]);
      CHECK(payload_of(back[i]) == payload_of(segs[i]));  // payloads are never touched
      CHECK(tcp_ok(back[i].data(), back[i].size()));
      CHECK(be32(&back[i][l3 + 4]) == 100 + uint32_t(i) * 1368);
    }
    CHECK((back[9][l3_of(back[9]) + 13] & 0x08) != 0);  // PSH kept on the last
  }
}

TEST_CASE("gro: out-of-order, bad-checksum and other packets keep their bytes and per-stream order") {
  std::vector<Bytes> in;
  uint32_t seq = 5000;
  for (int i = 0; i < 6; ++i, seq += 1000) in.push_back(tcp_packet(false, seq, 1000));
  std::swap(in[2], in[3]);                                  // reordered on the way
  in.insert(in.begin() + 1, tcp_packet(false, 1, 200, 0x10, 41000));  // another stream
  Bytes bad = tcp_packet(false, seq, 1000);
  bad[60] ^= 1;                                             // corrupted payload
  in.push_back(bad);
  Bytes icmp = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 100, 0, 1, 10, 100, 0, 2, 8, 0, 0, 0, 0, 0, 0, 0};
  in.push_back(icmp);
  Bytes syn = tcp_packet(false, 9, 0, 0x02);
  in.push_back(syn);

  std::vector<Bytes> copies = in;  // add() may patch headers in place
  TcpCoalescer c;
  for (auto& p : copies) REQUIRE(c.add(p));
  auto w = flush_all(c);
  std::vector<Bytes> out;
  for (auto& x : w) for (auto& s : resegment(x)) out.push_back(s);

  // Every packet comes out exactly once with its payload; the bad one and
  // the non-TCP ones unchanged; stream 40000 in the order it arrived.
  REQUIRE(out.size() == in.size());
  std::vector<uint32_t> order;
  int bad_seen = 0, icmp_seen = 0, syn_seen = 0;
  for (auto& o : out) {
    if (o == bad) { ++bad_seen; continue; }
    if (o == icmp) { ++icmp_seen; continue; }
    if (o == syn) { ++syn_seen; continue; }
    CHECK(tcp_ok(o.data(), o.size()));
    if (be16(&o[20]) == 40000) order.push_back(be32(&o[24]));
  }
  CHECK(bad_seen == 1);
  CHECK(icmp_seen == 1);
  CHECK(syn_seen == 1);
  CHECK(order == std::vector<uint32_t>{5000, 6000, 8000, 7000, 9000, 10000});
  CHECK(w.size() < in.size());  // and something did merge
}

TEST_CASE("gro: a full batch is refused until flushed, and limits hold") {
  TcpCoalescer c;
  std::vector<Bytes> segs;
  uint32_t seq = 0;
  for (size_t i = 0; i < TcpCoalescer::kMaxPackets; ++i, seq += 100) segs.push_back(tcp_packet(true, seq, 100));
  for (auto& s : segs) REQUIRE(c.add(s));
  Bytes extra = tcp_packet(true, seq, 100);
  CHECK_FALSE(c.add(extra));
  size_t total = 0;
  c.flush([&](const VnetHdr& h, std::span<const std::span<const uint8_t>> parts) {
    CHECK(parts.size() <= TcpCoalescer::kMaxSegments);
    size_t bytes = 0;
    for (auto& p : parts) bytes += p.size();
    CHECK(bytes <= 65535);
    if (parts.size() > 1) CHECK(h.gso_size == 100);
    total += parts.size();
  });
  CHECK(total == TcpCoalescer::kMaxPackets);
  CHECK(c.add(extra));
}
