// The overlay's DNS responder for peer names: answers A/AAAA for
// NAME.DOMAIN (e.g. server.home.ovl) and the short NAME, from the zone the
// network map gives it. Authoritative only; never recursive. Pure: the node
// hands it query bytes (or whole IPv4 packets it took off the TUN device
// because they were sent to the resolver address) and sends what it returns.
//
// Answers, for a well-formed query of class IN (or ANY):
//   NAME.DOMAIN or short NAME, type A / AAAA / ANY -> NOERROR, AA, the
//       matching addresses (TTL kTtlSeconds); no address of that family, or
//       another type -> NOERROR with no answer (NODATA)
//   DOMAIN itself                          -> NODATA (it exists; an NXDOMAIN
//       here would let RFC 8020 resolvers deny every name below it)
//   any other name inside DOMAIN           -> NXDOMAIN, AA
//   names outside DOMAIN, other classes    -> REFUSED
// Malformed but headed (>= 12 bytes, QR clear) -> FORMERR; opcode other than
// QUERY -> NOTIMP; EDNS version above 0 -> BADVERS. Anything shorter, or a
// response -> no reply at all (nullopt).
//
// IPv4/UDP wrapper layout (what answer_ip_packet reads and writes):
//   IPv4:  0 ver=4|IHL (1) | 1 TOS | 2 total length (2) | 4 id (2) |
//          6 flags|fragment offset (2) | 8 TTL | 9 protocol=17 |
//          10 header checksum (2) | 12 source (4) | 16 destination (4) | options
//   UDP:   0 source port (2) | 2 destination port=53 (2) | 4 length (2) |
//          6 checksum (2) over the pseudo-header {src, dst, 0, 17, length}
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/dns/message.hpp"
#include "engine/net/ip.hpp"

namespace ovl::dns {

inline constexpr uint32_t kTtlSeconds = 60;
inline constexpr uint16_t kDnsPort = 53;
inline constexpr uint8_t kReplyIpTtl = 64;

struct Record {
  std::string name;                 // one label, e.g. "server" (matched case-insensitively)
  std::vector<net::IpAddr> addrs;   // IPv4 and IPv6 overlay addresses
};

class Responder {
 public:
  // Replaces the zone. `domain` is dotted ("home.ovl", trailing dot allowed).
  // Names that are not valid labels (empty, over 63 bytes, containing '.')
  // or that make NAME.DOMAIN longer than 255 bytes are skipped; records with
  // the same name (any case) merge. An invalid domain empties the zone, so
  // every query is REFUSED.
  void set_zone(std::string domain, std::vector<Record> records);

  // The response datagram for a query datagram, or nullopt for no reply.
  std::optional<std::vector<uint8_t>> answer(std::span<const uint8_t> query) const;

  // For an IPv4 packet carrying UDP to resolver_ip:53, the IPv4 packet
  // carrying the answer back (from resolver_ip:53 to the sender, correct
  // header and UDP checksums, TTL 64, DF clear). nullopt when the packet is
  // not that (checked: version 4, IHL >= 5 and within the packet, total
  // length within the buffer (bytes after it are ignored), header checksum,
  // not a fragment, protocol 17, destination, port 53, UDP length equal to
  // the IP payload, source port not 0) or when answer() gives nothing. The
  // query's UDP checksum is not verified: with TUN checksum offload the
  // kernel hands over packets whose checksum is not filled in yet.
  // resolver_ip must be IPv4.
  std::optional<std::vector<uint8_t>> answer_ip_packet(std::span<const uint8_t> ip_packet,
                                                       const net::IpAddr& resolver_ip) const;

 private:
  struct Entry {
    std::vector<net::IpAddr> addrs;
  };
  bool has_zone_ = false;
  Name domain_;                         // lowered
  std::map<std::string, Entry, std::less<>> by_label_;  // lowered label -> addresses
};

// RFC 1071 ones' complement sum over `data`, folded to 16 bits (not inverted),
// continuing from `sum`. Exposed for the tests.
uint32_t checksum_add(uint32_t sum, std::span<const uint8_t> data);
uint16_t checksum_finish(uint32_t sum);  // fold and invert

}  // namespace ovl::dns
