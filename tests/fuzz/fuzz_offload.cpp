// Fuzz target for the data plane's offload code, which sees bytes a peer
// chose (decrypted packets reach the TCP coalescer) and packets from TUN
// (the TSO segmenter).
//
// Input: [mode][rest]
//   mode & 1 == 0: coalescer. rest = ([len hi][len lo][packet])*; with
//     mode & 2 the IPv4 header and TCP checksums are fixed up first, so the
//     fuzzer reaches the merge rules. Invariants: every packet comes out
//     exactly once; an unmerged write is the packet unchanged; a merged one
//     is a valid super-packet that re-segments into the same payloads with
//     valid checksums, within 64 segments and 65535 bytes.
//   mode & 1 == 1: segmenter. rest = [10-byte virtio header][packet]. If the
//     shape is accepted, the segments fit their stride, carry the payload in
//     order and have valid TCP checksums; complete_checksum never overruns.
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/net/checksum.hpp"
#include "engine/net/gro.hpp"
#include "engine/net/gso.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl::net;
using ovl::fuzz::check;
using ovl::fuzz::same;
using Bytes = std::vector<uint8_t>;

bool is_v6(const uint8_t* p) { return (p[0] >> 4) == 6; }

uint64_t tcp_pseudo(const uint8_t* p, size_t l3, size_t n) {
  bool v6 = is_v6(p);
  return pseudo_header_sum(v6, v6 ? p + 8 : p + 12, v6 ? p + 24 : p + 16, 6, static_cast<uint32_t>(n - l3));
}

bool tcp_valid(const uint8_t* p, size_t n, size_t l3) {
  return csum_fold(csum_add(p + l3, n - l3, tcp_pseudo(p, l3, n))) == 0xffff;
}

// Makes the checksums of a TCP/IP-looking packet right (nothing else).
void fix_checksums(Bytes& b) {
  if (b.size() < 40) return;
  size_t l3 = is_v6(b.data()) ? 40 : size_t(b[0] & 15) * 4;
  if (!is_v6(b.data()) && l3 >= 20 && l3 <= b.size()) ipv4_header_checksum(b.data(), l3);
  if (l3 + 18 > b.size()) return;
  b[l3 + 16] = b[l3 + 17] = 0;
  csum_store(b.data() + l3 + 16, static_cast<uint16_t>(~csum_fold(csum_add(b.data() + l3, b.size() - l3,
                                                                           tcp_pseudo(b.data(), l3, b.size())))));
}

void fuzz_coalescer(const uint8_t* d, size_t n, bool fix) {
  std::vector<Bytes> pkts;
  while (n >= 2 && pkts.size() < TcpCoalescer::kMaxPackets) {
    size_t len = size_t(d[0]) << 8 | d[1];
    d += 2;
    n -= 2;
    len = std::min(len, n);
    pkts.emplace_back(d, d + len);
    d += len;
    n -= len;
  }
  if (fix)
    for (auto& p : pkts) fix_checksums(p);
  const std::vector<Bytes> orig = pkts;
  TcpCoalescer c;
  for (auto& p : pkts) check(c.add(p), "a batch within kMaxPackets is taken");
  size_t seen = 0;
  std::vector<bool> used(orig.size(), false);
  c.flush([&](const VnetHdr& h, std::span<const std::span<const uint8_t>> parts) {
    check(!parts.empty() && parts.size() <= TcpCoalescer::kMaxSegments, "parts per write");
    seen += parts.size();
    Bytes whole;
    for (auto& x : parts) whole.insert(whole.end(), x.begin(), x.end());
    if (h.gso_type == kGsoNone) {
      check(parts.size() == 1, "an unmerged write is one packet");
      bool found = false;
      for (size_t i = 0; i < orig.size() && !found; ++i)
        if (!used[i] && same(orig[i], whole)) used[i] = found = true;
      check(found, "an unmerged packet is written unchanged");
      return;
    }
    check(whole.size() <= 65535, "a merged packet fits IP");
    check(parts.size() > 1, "merged means more than one segment");
    // Finish the partial checksum as the kernel would, then re-segment.
    TsoShape s;
    check(tso_shape(whole, h, s), "a merged write has a valid shape");
    check(s.segments == parts.size(), "re-segments into as many packets as were merged");
    Bytes out(s.segments * s.max_segment_len());
    std::vector<uint16_t> lens(s.segments);
    tso_segment(whole, s, 0, s.segments, out.data(), s.max_segment_len(), lens.data());
    for (size_t i = 0; i < s.segments; ++i) {
      const uint8_t* seg = out.data() + i * s.max_segment_len();
      check(tcp_valid(seg, lens[i], s.l3_len), "re-segmented packets have valid TCP checksums");
      std::span<const uint8_t> pay(seg + s.hdr_len, lens[i] - s.hdr_len);
      std::span<const uint8_t> want = i == 0 ? parts[0].subspan(s.hdr_len) : parts[i];
      check(same(pay, want), "payloads survive merging in order");
    }
  });
  check(seen == orig.size(), "every packet is written exactly once");
}

void fuzz_segmenter(const uint8_t* d, size_t n) {
  if (n < kVnetHdrSize) return;
  VnetHdr h = parse_vnet_hdr(d);
  Bytes pkt(d + kVnetHdrSize, d + n);
  Bytes copy = pkt;
  complete_checksum(copy, h);  // must stay in bounds whatever the header says
  TsoShape s;
  if (!tso_shape(pkt, h, s)) return;
  check(s.hdr_len <= pkt.size() && s.hdr_len + s.payload == pkt.size(), "shape covers the packet");
  if (s.segments > 2000) return;  // a 1-byte gso_size: valid, but slow to check
  const size_t stride = s.max_segment_len() + 3;
  Bytes out(s.segments * stride);
  std::vector<uint16_t> lens(s.segments);
  tso_segment(pkt, s, 0, s.segments, out.data(), stride, lens.data());
  Bytes stream;
  for (size_t i = 0; i < s.segments; ++i) {
    const uint8_t* seg = out.data() + i * stride;
    check(lens[i] >= s.hdr_len && lens[i] <= s.max_segment_len(), "segment length");
    check(tcp_valid(seg, lens[i], s.l3_len), "segments carry valid TCP checksums");
    stream.insert(stream.end(), seg + s.hdr_len, seg + lens[i]);
  }
  check(same(stream, std::span<const uint8_t>(pkt).subspan(s.hdr_len)), "segments carry the payload in order");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) fuzz_segmenter(data + 1, size - 1);
  else fuzz_coalescer(data + 1, size - 1, data[0] & 2);
  return 0;
}
