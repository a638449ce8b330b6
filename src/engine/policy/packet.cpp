#include "engine/policy/packet.hpp"

#include <algorithm>
#include <cstring>

namespace ovl::policy {

namespace {

// The network layer of a packet: addresses, where the transport header
// starts and where the packet ends.
struct Net {
  net::IpAddr src, dst;
  uint8_t proto = 0;
  size_t l4 = 0, end = 0;
  size_t frag_offset = 0;  // bytes
};

uint16_t be16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

// `quoted`: the packet is the quote inside an ICMP error, cut short by the
// sender of the error, so its length field may promise more than is there.
std::optional<Net> parse_net(std::span<const uint8_t> b, bool quoted) {
  Net n;
  if (b.empty()) return std::nullopt;
  if ((b[0] >> 4) == 4) {
    if (b.size() < 20) return std::nullopt;
    const size_t ihl = size_t(b[0] & 15) * 4;
    const size_t total = be16(b, 2);
    if (ihl < 20 || ihl > b.size() || total < ihl) return std::nullopt;
    if (!quoted && total > b.size()) return std::nullopt;
    n.end = std::min(total, b.size());
    if (ihl > n.end) return std::nullopt;
    n.src = net::IpAddr::from_bytes(b.subspan(12, 4));
    n.dst = net::IpAddr::from_bytes(b.subspan(16, 4));
    n.proto = b[9];
    n.l4 = ihl;
    n.frag_offset = size_t(be16(b, 6) & 0x1fff) * 8;
    return n;
  }
  if ((b[0] >> 4) != 6 || b.size() < 40) return std::nullopt;
  const size_t total = 40 + size_t(be16(b, 4));
  if (!quoted && total > b.size()) return std::nullopt;
  n.end = std::min(total, b.size());
  n.src = net::IpAddr::from_bytes(b.subspan(8, 16));
  n.dst = net::IpAddr::from_bytes(b.subspan(24, 16));
  uint8_t next = b[6];
  size_t off = 40;
  for (int i = 0;; ++i) {
    size_t len = 0;
    switch (next) {
      case 0:    // hop-by-hop options
      case 43:   // routing
      case 60:   // destination options
        if (off + 8 > n.end) return std::nullopt;
        len = (size_t(b[off + 1]) + 1) * 8;
        break;
      case 44:  // fragment
        if (off + 8 > n.end) return std::nullopt;
        n.frag_offset = be16(b, off + 2) & 0xfff8;
        len = 8;
        break;
      case 51:  // authentication header
        if (off + 8 > n.end) return std::nullopt;
        len = (size_t(b[off + 1]) + 2) * 4;
        break;
      default:
        n.proto = next;
        n.l4 = off;
        return n;
    }
    if (i == kMaxExtHeaders || off + len > n.end) return std::nullopt;
    next = b[off];
    off += len;
    // Later fragments carry the rest of the chain's payload, not headers.
    if (n.frag_offset != 0) {
      n.proto = next;
      n.l4 = off;
      return n;
    }
  }
}

IcmpKind icmp_kind(bool v6, uint8_t type) {
  if (!v6) {
    if (type == 8) return IcmpKind::echo_request;
    if (type == 0) return IcmpKind::echo_reply;
    if (type == 3 || type == 11 || type == 12) return IcmpKind::error;
    return IcmpKind::other;
  }
  if (type == 128) return IcmpKind::echo_request;
  if (type == 129) return IcmpKind::echo_reply;
  if (type >= 1 && type <= 4) return IcmpKind::error;
  return IcmpKind::other;
}

void copy_addr(std::array<uint8_t, 16>& to, const net::IpAddr& a) { to = a.b; }

// The flow of the packet an ICMP error quotes, if the filter tracks it. At
// least the first 8 bytes of its transport header are quoted (RFC 792).
std::optional<FlowKey> quoted_flow(std::span<const uint8_t> q, bool v6) {
  auto n = parse_net(q, /*quoted=*/true);
  if (!n || n->src.v6 != v6 || n->frag_offset != 0 || n->l4 + 8 > n->end) return std::nullopt;
  FlowKey k;
  k.v6 = v6;
  k.proto = n->proto;
  copy_addr(k.local, n->src);
  copy_addr(k.remote, n->dst);
  if (n->proto == kProtoTcp || n->proto == kProtoUdp) {
    k.local_port = be16(q, n->l4);
    k.remote_port = be16(q, n->l4 + 2);
    return k;
  }
  if (n->proto == (v6 ? kProtoIcmp6 : kProtoIcmp) && icmp_kind(v6, q[n->l4]) == IcmpKind::echo_request) {
    k.local_port = k.remote_port = be16(q, n->l4 + 4);
    return k;
  }
  return std::nullopt;
}

}  // namespace

bool is_icmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmp6; }

std::optional<PacketInfo> classify(std::span<const uint8_t> pkt) {
  auto n = parse_net(pkt, /*quoted=*/false);
  if (!n) return std::nullopt;
  PacketInfo p;
  p.src = n->src;
  p.dst = n->dst;
  p.proto = n->proto;
  const bool v6 = n->src.v6;
  if (n->frag_offset != 0) {
    // A TCP fragment at offset 8 could overwrite the first fragment's flags
    // and window after the filter passed it (RFC 1858).
    if (n->proto == kProtoTcp && n->frag_offset == 8) return std::nullopt;
    p.later_fragment = true;
    return p;
  }
  const auto l4 = pkt.subspan(n->l4, n->end - n->l4);
  if (n->proto == kProtoTcp || n->proto == kProtoUdp) {
    // The whole minimal header, so no fragment can carry the ports elsewhere.
    if (l4.size() < (n->proto == kProtoTcp ? 20u : 8u)) return std::nullopt;
    p.has_ports = true;
    p.src_port = be16(l4, 0);
    p.dst_port = be16(l4, 2);
    return p;
  }
  if (n->proto == (v6 ? kProtoIcmp6 : kProtoIcmp)) {
    if (l4.size() < 8) return std::nullopt;
    p.icmp = icmp_kind(v6, l4[0]);
    if (p.icmp == IcmpKind::echo_request || p.icmp == IcmpKind::echo_reply) p.icmp_id = be16(l4, 4);
    if (p.icmp == IcmpKind::error)
      if (auto c = quoted_flow(l4.subspan(8), v6)) {
        p.has_cause = true;
        p.cause = *c;
      }
  }
  return p;
}

namespace {

// The flow a packet belongs to, seen from this node: `outgoing` packets have
// us as source, received ones as destination. Ports identify TCP/UDP flows;
// an ICMP echo of the kind that opens (sent request) or answers (received
// reply) a flow is keyed by its identifier in both port fields.
std::optional<FlowKey> own_flow(const PacketInfo& p, bool outgoing, IcmpKind echo) {
  FlowKey k;
  k.v6 = p.src.v6;
  k.proto = p.proto;
  copy_addr(k.local, outgoing ? p.src : p.dst);
  copy_addr(k.remote, outgoing ? p.dst : p.src);
  if (p.has_ports) {
    k.local_port = outgoing ? p.src_port : p.dst_port;
    k.remote_port = outgoing ? p.dst_port : p.src_port;
    return k;
  }
  if (p.icmp == echo) {
    k.local_port = k.remote_port = p.icmp_id;
    return k;
  }
  return std::nullopt;
}

}  // namespace

std::optional<FlowKey> sent_flow(const PacketInfo& p) { return own_flow(p, true, IcmpKind::echo_request); }

std::optional<FlowKey> answered_flow(const PacketInfo& p) {
  if (p.icmp == IcmpKind::error) {
    // Addressed to whoever sent the quoted packet, or it answers nothing of ours.
    if (!p.has_cause || std::memcmp(p.cause.local.data(), p.dst.b.data(), 16) != 0) return std::nullopt;
    return p.cause;
  }
  return own_flow(p, false, IcmpKind::echo_reply);
}

}  // namespace ovl::policy
