// TCP segmentation offload done in userspace: the virtio-net header that a
// TUN device with IFF_VNET_HDR puts before every packet, and the segmenter
// that splits a TSO "super-packet" (up to 64 KB of one TCP stream) into
// MTU-sized TCP/IP packets, as the NIC would.
//
// virtio_net_hdr (10 bytes, little endian; Linux include/uapi/linux/virtio_net.h):
//
//    0        1          2         4          6            8             10
//   +--------+----------+---------+----------+------------+-------------+
//   | flags  | gso_type | hdr_len | gso_size | csum_start | csum_offset |
//   +--------+----------+---------+----------+------------+-------------+
//
//   flags & kVnetNeedsCsum: the transport checksum is partial: the field at
//     csum_start + csum_offset holds the pseudo-header sum; the rest of the
//     sum from csum_start to the end is still to be added (CHECKSUM_PARTIAL).
//   gso_type: kGsoNone, or TCPv4/TCPv6 (| kGsoEcn): the packet is a super-
//     packet whose TCP payload is to be cut into gso_size pieces.
//
// Pure functions over caller buffers; nothing allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace ovl::net {

inline constexpr size_t kVnetHdrSize = 10;
inline constexpr uint8_t kVnetNeedsCsum = 1;
inline constexpr uint8_t kVnetDataValid = 2;
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpV4 = 1;
inline constexpr uint8_t kGsoTcpV6 = 4;
inline constexpr uint8_t kGsoEcn = 0x80;

struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};

VnetHdr parse_vnet_hdr(const uint8_t* p);
void write_vnet_hdr(const VnetHdr& h, uint8_t* p);

// Finishes a CHECKSUM_PARTIAL packet (flags & kVnetNeedsCsum) in place.
// False if csum_start/csum_offset do not fit the packet.
bool complete_checksum(std::span<uint8_t> pkt, const VnetHdr& h);

// The shape of a TSO super-packet: where TCP starts and how it splits.
struct TsoShape {
  bool v6 = false;
  size_t l3_len = 0;      // IP header length (TCP header follows)
  size_t hdr_len = 0;     // IP + TCP headers
  size_t payload = 0;     // TCP payload bytes in the super-packet
  size_t gso_size = 0;    // payload bytes per segment (the last may be less)
  size_t segments = 0;    // ceil(payload / gso_size), at least 1
  size_t max_segment_len() const { return hdr_len + gso_size; }
};

// Validates a TCPv4/TCPv6 super-packet (IPv4 without fragmentation, IPv6
// with TCP as the first next header). nullopt-like: false if malformed.
bool tso_shape(std::span<const uint8_t> pkt, const VnetHdr& h, TsoShape& out);

// Writes segments [first, first+count) of the super-packet: segment k goes
// to out + (k-first)*stride and gets its length in lens[k-first]. Each is a
// complete packet: IPv4 total length, ID (+k) and header checksum, IPv6
// payload length, TCP sequence number (+k*gso_size), FIN/PSH only on the
// last segment, CWR only on the first, and a full TCP checksum.
// Requires stride >= shape.max_segment_len() and first+count <= segments.
void tso_segment(std::span<const uint8_t> pkt, const TsoShape& shape, size_t first, size_t count, uint8_t* out,
                 size_t stride, uint16_t* lens);

}  // namespace ovl::net
