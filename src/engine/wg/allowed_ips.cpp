#include "engine/wg/allowed_ips.hpp"

#include <algorithm>
#include <bit>
#include <tuple>
#include <utility>

namespace ovl::wg {

namespace {

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void store_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

// Masks keeping the first `cidr` bits (0..128) of a two-word key.
inline uint64_t mask_hi(unsigned cidr) { return cidr == 0 ? 0 : cidr >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - cidr); }
inline uint64_t mask_lo(unsigned cidr) {
  return cidr <= 64 ? 0 : cidr >= 128 ? ~uint64_t{0} : ~uint64_t{0} << (128 - cidr);
}

// Bit `i` (0 = most significant) of a key; i < 128.
template <class K>
inline unsigned bit_at(const K& k, unsigned i) {
  return i < 64 ? static_cast<unsigned>(k.hi >> (63 - i)) & 1u : static_cast<unsigned>(k.lo >> (127 - i)) & 1u;
}

// Number of leading bits two keys share, capped at `limit`.
template <class K>
inline unsigned common_bits(const K& a, const K& b, unsigned limit) {
  uint64_t x = a.hi ^ b.hi;
  unsigned n = x ? static_cast<unsigned>(std::countl_zero(x))
                 : 64u + static_cast<unsigned>(std::countl_zero(a.lo ^ b.lo));  // countl_zero(0) == 64
  return std::min(n, limit);
}

template <class K>
inline bool matches(const K& node_key, unsigned cidr, const K& addr) {
  return (((node_key.hi ^ addr.hi) & mask_hi(cidr)) | ((node_key.lo ^ addr.lo) & mask_lo(cidr))) == 0;
}

}  // namespace

AllowedIps::Key AllowedIps::key_of(const net::IpAddr& a) {
  Key k;
  if (a.v6) {
    k.hi = load_be64(a.b.data());
    k.lo = load_be64(a.b.data() + 8);
  } else {
    k.hi = (uint64_t{a.b[0]} << 56) | (uint64_t{a.b[1]} << 48) | (uint64_t{a.b[2]} << 40) | (uint64_t{a.b[3]} << 32);
  }
  return k;
}

net::IpAddr AllowedIps::addr_of(const Key& k, bool v6) {
  net::IpAddr a;
  a.v6 = v6;
  store_be64(a.b.data(), k.hi);
  if (v6) store_be64(a.b.data() + 8, k.lo);
  else std::fill(a.b.begin() + 4, a.b.end(), uint8_t{0});
  return a;
}

uint32_t AllowedIps::new_node(const Key& k, uint8_t cidr, bool v6) {
  Node n;
  n.key = {k.hi & mask_hi(cidr), k.lo & mask_lo(cidr)};
  n.cidr = cidr;
  n.v6 = v6;
  nodes_.push_back(n);
  return static_cast<uint32_t>(nodes_.size() - 1);
}

void AllowedIps::insert(const net::Prefix& prefix, PeerId peer) {
  const bool v6 = prefix.addr.v6;
  const unsigned max = v6 ? 128 : 32;
  const uint8_t cidr = static_cast<uint8_t>(std::min<unsigned>(prefix.len, max));
  Key key = key_of(prefix.addr);
  key = {key.hi & mask_hi(cidr), key.lo & mask_lo(cidr)};

  // `slot` names the link to follow: the root or a child of `parent`. Indices,
  // not references, because new_node() may reallocate nodes_.
  uint32_t parent = kNone;
  unsigned dir = 0;
  auto slot = [&]() -> uint32_t& { return parent == kNone ? (v6 ? root6_ : root4_) : nodes_[parent].child[dir]; };

  for (;;) {
    const uint32_t cur = slot();
    if (cur == kNone) {
      uint32_t leaf = new_node(key, cidr, v6);
      nodes_[leaf].peer = peer;
      nodes_[leaf].has_peer = true;
      slot() = leaf;
      ++count_;
      return;
    }
    const Node n = nodes_[cur];
    const unsigned common = common_bits(n.key, key, std::min<unsigned>(n.cidr, cidr));
    if (common == n.cidr && n.cidr == cidr) {  // same prefix: (re)assign owner
      if (!n.has_peer) ++count_;
      nodes_[cur].peer = peer;
      nodes_[cur].has_peer = true;
      return;
    }
    if (common == n.cidr) {  // n is a shorter prefix of ours: go down
      parent = cur;
      dir = bit_at(key, n.cidr);
      continue;
    }
    if (common == cidr) {  // ours is a shorter prefix of n: put it above n
      uint32_t up = new_node(key, cidr, v6);
      nodes_[up].peer = peer;
      nodes_[up].has_peer = true;
      nodes_[up].child[bit_at(n.key, cidr)] = cur;
      slot() = up;
      ++count_;
      return;
    }
    // The two diverge at bit `common`: a branch node holds both.
    uint32_t leaf = new_node(key, cidr, v6);
    nodes_[leaf].peer = peer;
    nodes_[leaf].has_peer = true;
    uint32_t branch = new_node(key, static_cast<uint8_t>(common), v6);
    nodes_[branch].child[bit_at(key, common)] = leaf;
    nodes_[branch].child[bit_at(n.key, common)] = cur;
    slot() = branch;
    ++count_;
    return;
  }
}

std::optional<AllowedIps::PeerId> AllowedIps::lookup(const net::IpAddr& addr) const {
  const Key k = key_of(addr);
  const unsigned max = addr.v6 ? 128 : 32;
  std::optional<PeerId> best;
  uint32_t cur = addr.v6 ? root6_ : root4_;
  while (cur != kNone) {
    const Node& n = nodes_[cur];
    if (!matches(n.key, n.cidr, k)) break;
    if (n.has_peer) best = n.peer;
    if (n.cidr >= max) break;
    cur = n.child[bit_at(k, n.cidr)];
  }
  return best;
}

void AllowedIps::remove_peer(PeerId peer) {
  // Rare and off the packet path: rebuild from what remains, which keeps the
  // trie free of dead branch nodes without per-node bookkeeping.
  std::vector<std::pair<net::Prefix, PeerId>> keep;
  keep.reserve(count_);
  bool found = false;
  for (const Node& n : nodes_) {
    if (!n.has_peer) continue;
    if (n.peer == peer) {
      found = true;
      continue;
    }
    keep.emplace_back(net::Prefix{addr_of(n.key, n.v6), n.cidr}, n.peer);
  }
  if (!found) return;
  clear();
  nodes_.reserve(keep.size() * 2);
  for (const auto& [p, id] : keep) insert(p, id);
}

std::vector<net::Prefix> AllowedIps::prefixes_of(PeerId peer) const {
  std::vector<net::Prefix> out;
  for (const Node& n : nodes_)
    if (n.has_peer && n.peer == peer) out.push_back(net::Prefix{addr_of(n.key, n.v6), n.cidr});
  std::sort(out.begin(), out.end(), [](const net::Prefix& a, const net::Prefix& b) {
    return std::tie(a.addr.v6, a.addr.b, a.len) < std::tie(b.addr.v6, b.addr.b, b.len);
  });
  return out;
}

void AllowedIps::clear() {
  nodes_.clear();
  root4_ = root6_ = kNone;
  count_ = 0;
}

size_t AllowedIps::size() const { return count_; }

}  // namespace ovl::wg
