// Allowed-IPs table: which peer owns a destination (sending) and whether a
// peer may use a source address (receiving). Longest-prefix match over a
// path-compressed binary trie, one root for IPv4 and one for IPv6.
//
// Semantics follow WireGuard: a prefix belongs to at most one peer; inserting
// a prefix that is already present moves it to the new peer. Prefixes are
// stored masked (10.0.0.1/24 is 10.0.0.0/24).
//
// lookup() is on the per-packet path: it walks at most one node per distinct
// prefix length along the path, never allocates and never throws. Changes
// (insert/remove_peer/clear) happen on the control path and may allocate.
// Not thread-safe: writers must exclude readers.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::wg {

class AllowedIps {
 public:
  using PeerId = uint32_t;

  // A prefix longer than its family allows (e.g. /40 for IPv4) is treated as
  // a host route (/32 or /128).
  void insert(const net::Prefix& prefix, PeerId peer);
  void remove_peer(PeerId peer);
  std::optional<PeerId> lookup(const net::IpAddr& addr) const;
  // Masked prefixes owned by `peer`: IPv4 first, then by address and length.
  std::vector<net::Prefix> prefixes_of(PeerId peer) const;
  void clear();
  size_t size() const;  // number of prefixes stored

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  // A 128-bit key in two big-endian words; IPv4 uses the top 32 bits of hi.
  struct Key {
    uint64_t hi = 0, lo = 0;
  };
  struct Node {
    Key key;                 // masked to cidr
    uint32_t child[2] = {kNone, kNone};
    PeerId peer = 0;
    uint8_t cidr = 0;        // bits of key that matter
    bool has_peer = false;   // false for branch-only nodes
    bool v6 = false;
  };

  static Key key_of(const net::IpAddr& a);
  static net::IpAddr addr_of(const Key& k, bool v6);
  uint32_t new_node(const Key& k, uint8_t cidr, bool v6);

  std::vector<Node> nodes_;  // every node is reachable; removal rebuilds
  uint32_t root4_ = kNone, root6_ = kNone;
  size_t count_ = 0;
};

}  // namespace ovl::wg
