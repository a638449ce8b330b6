// The packet classifier: the fields of an IPv4 or IPv6 packet the filter
// decides on (addresses, transport protocol, ports, ICMP type) and the flow
// the packet belongs to. Pure and allocation-free; runs on every packet.
//
//   IPv4:  | ver/ihl | tos | total len | id | flags/frag off | ttl | proto | csum | src | dst | options | L4
//   IPv6:  | ver/tc/flow | payload len | next hdr | hops | src | dst | extension headers... | L4
//   TCP/UDP: | src port | dst port | ...        ICMP echo: | type | code | csum | identifier | seq |
//
// IPv6 extension headers (hop-by-hop, routing, fragment, destination
// options, AH) are walked to find the transport header, at most kMaxExtHeaders
// of them. Fragments: only the first one carries the transport header; it
// must carry all of the fields decided on (a "tiny fragment" that pushes the
// ports into the second is malformed, RFC 1858), and an IPv4 TCP fragment at
// offset 8 (which could overwrite the first one's flags) is malformed too.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/net/ip.hpp"

namespace ovl::policy {

using net::kProtoIcmp;
using net::kProtoIcmp6;
using net::kProtoTcp;
using net::kProtoUdp;
inline constexpr int kMaxExtHeaders = 8;

// A flow as seen from this node: the local and remote address and port.
// For ICMP echo both ports are the echo identifier's.
struct FlowKey {
  std::array<uint8_t, 16> local{}, remote{};
  uint16_t local_port = 0, remote_port = 0;
  uint8_t proto = 0;
  bool v6 = false;
  bool operator==(const FlowKey&) const = default;
};

enum class IcmpKind : uint8_t { none, echo_request, echo_reply, error, other };

struct PacketInfo {
  net::IpAddr src, dst;
  uint8_t proto = 0;              // transport protocol (after IPv6 extension headers)
  bool later_fragment = false;    // not the first fragment: no transport header here
  bool has_ports = false;         // TCP or UDP header present
  uint16_t src_port = 0, dst_port = 0;
  IcmpKind icmp = IcmpKind::none;
  uint16_t icmp_id = 0;           // echo request/reply identifier
  // An ICMP error quotes the start of the packet that caused it. When that
  // quote is TCP, UDP or an echo request, `cause` is its flow as the sender
  // of the quoted packet saw it (local = the quote's source).
  bool has_cause = false;
  FlowKey cause;
};

bool is_icmp(uint8_t proto);

// nullopt for anything that is not a well-formed IPv4/IPv6 packet as
// described above (such packets are dropped).
std::optional<PacketInfo> classify(std::span<const uint8_t> pkt);

// The flow of a packet this node sends (local = its source), and the flow a
// received packet answers (local = its destination). nullopt when the packet
// has no flow the filter tracks (not TCP/UDP/ICMP echo, or a later fragment).
std::optional<FlowKey> sent_flow(const PacketInfo& p);
std::optional<FlowKey> answered_flow(const PacketInfo& p);

}  // namespace ovl::policy
