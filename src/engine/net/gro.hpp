// TCP receive coalescing done in userspace (the other half of gso.hpp):
// consecutive segments of one TCP stream, decrypted from a batch of
// datagrams, are merged into one super-packet so the kernel's TCP stack
// takes one 64 KB packet from TUN instead of ~45 small ones.
//
// The caller adds the batch's packets in arrival order and then asks for the
// writes. Nothing is copied: a write is the first packet (whose IP and TCP
// headers are patched in place) followed by the payloads of the others, for
// one writev() behind a virtio-net header. Rules for merging packet B after
// A (same as the kernel's tcp_gro_receive, a little stricter):
//   * same IP version, addresses, ports; IPv4 without options or fragments,
//     same TOS/TTL/DF; IPv6 with TCP as next header, same class/flow/hop limit;
//   * TCP: identical header length and option bytes, same ACK and window;
//     A carries only ACK, B carries ACK or ACK|PSH (PSH ends the run);
//   * B.seq == A.seq + len(A); every segment but the last has the first's
//     payload size; the last may be shorter (and then ends the run);
//   * both have valid IP and TCP checksums (a bad one is written alone, so the
//     kernel drops it as it would have); total stays <= 65535 and 64 segments.
// Anything else (UDP, ICMP, SYN, pure ACKs...) is written alone, unchanged.
// Runs of different streams may interleave; each stream keeps its order.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/net/gso.hpp"

namespace ovl::net {

class TcpCoalescer {
 public:
  static constexpr size_t kMaxPackets = 1024;   // per batch
  static constexpr size_t kMaxSegments = 64;    // per super-packet
  static constexpr size_t kOpenFlows = 8;       // streams merged at once

  TcpCoalescer() { reset(); }

  // Adds a packet (kept by reference until reset()). False if the batch is
  // full: flush first.
  bool add(std::span<uint8_t> pkt);
  size_t packets() const { return n_pkts_; }

  // Calls fn(const VnetHdr&, std::span<const std::span<const uint8_t>> parts)
  // for every write, in order, then forgets the batch.
  template <class Fn>
  void flush(Fn&& fn) {
    std::array<std::span<const uint8_t>, kMaxSegments> iov;
    for (size_t w = 0; w < n_writes_; ++w) {
      VnetHdr h = finish(w);
      size_t k = 0;
      for (int32_t i = writes_[w].head; i >= 0; i = pkts_[i].next) {
        const Pkt& p = pkts_[i];
        const size_t skip = k == 0 ? 0 : p.hdr_len;  // later segments add only their payload
        iov[k++] = std::span<const uint8_t>(p.data + skip, p.len - skip);
      }
      fn(h, std::span<const std::span<const uint8_t>>(iov.data(), k));
    }
    reset();
  }
  void reset();

 private:
  struct Pkt {
    uint8_t* data = nullptr;
    uint16_t len = 0;
    uint16_t hdr_len = 0;   // IP + TCP header; 0 if not mergeable
    uint16_t l3_len = 0;
    int32_t next = -1;      // next packet of the same write
  };
  struct W {
    int32_t head = -1, tail = -1;
    uint16_t count = 0;
    uint16_t seg_payload = 0;  // payload size of the first segment
    uint32_t total = 0;        // bytes of the merged packet
  };
  bool can_merge(const W& w, const Pkt& b) const;
  VnetHdr finish(size_t w);

  std::array<Pkt, kMaxPackets> pkts_{};
  std::array<W, kMaxPackets> writes_{};
  std::array<int32_t, kOpenFlows> open_{};  // indexes of open writes (-1 = free)
  size_t n_pkts_ = 0, n_writes_ = 0, next_open_ = 0;
};

}  // namespace ovl::net
