#include "engine/relay/server.hpp"

#include <algorithm>
#include <cstring>

namespace ovl::relay {

namespace {

constexpr uint64_t kNsPerSec = 1000000000ull;

bool credential_expired(uint64_t expires_unix, int64_t now_unix) {
  // A clock before 1970 is treated as 0: nothing unsigned is less than it.
  return expires_unix <= static_cast<uint64_t>(std::max<int64_t>(now_unix, 0));
}

}  // namespace

size_t Server::KeyHash::operator()(const crypto::PublicKey& k) const {
  // Keys in these tables were authenticated by a credential or came from
  // the coordinator, so they cannot be chosen to collide; a slice is enough.
  uint64_t h;
  std::memcpy(&h, k.data(), sizeof h);
  return static_cast<size_t>(h);
}

size_t Server::IdHash::operator()(const NodeId& id) const {
  uint64_t h;  // as KeyHash: ids come from authenticated keys
  std::memcpy(&h, id.data(), sizeof h);
  return static_cast<size_t>(h);
}

size_t Server::EndpointHash::operator()(const net::Endpoint& e) const {
  uint64_t h = 1469598103934665603ULL ^ e.ip.v6;
  for (uint8_t c : e.ip.bytes()) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ (e.port >> 8)) * 1099511628211ULL;
  h = (h ^ (e.port & 0xff)) * 1099511628211ULL;
  return static_cast<size_t>(h);
}

Server::Server(RelaySecret secret, Options opts)
    : secret_(secret), relay_key_(relay_private_key(secret)), cookie_key_(cookie_key(secret)), opts_(opts) {
  opts_.burst_bytes = std::min(opts_.burst_bytes, kMaxBurstBytes);
  burst_scaled_ = opts_.burst_bytes * kNsPerSec;
}

Server::~Server() { crypto::wipe(secret_.data(), secret_.size()); }

size_t Server::on_datagram(std::span<uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                           net::Endpoint& to) {
  const auto type = message_type(d);
  if (!type) {
    ++counters_.bad;
    return 0;
  }
  switch (*type) {
    case MsgType::allocate: return on_allocate(d, from, now, now_unix, to);
    case MsgType::send: return on_send(d, from, now, now_unix, to);
    case MsgType::revoke: {
      // From the coordinator (it holds the secret); never answered, so a
      // forged or replayed one earns its sender nothing.
      auto r = parse_revoke(d);
      const int64_t issued = r ? static_cast<int64_t>(std::min<uint64_t>(r->issued_unix, INT64_MAX)) : 0;
      if (!r || issued < now_unix - kRevokeWindow || issued > now_unix + kRevokeWindow || !verify_revoke(secret_, *r)) {
        ++counters_.bad;
        return 0;
      }
      // The coordinator repeats its revocations (a relay forgets them when
      // it restarts): only a new one counts.
      if (revoke(r->node)) ++counters_.revoked;
      return 0;
    }
    default: ++counters_.bad; return 0;  // relay->client messages are never valid here
  }
}

// Callers only refuse datagrams of at least kMinForwardSize bytes.
size_t Server::refuse(std::span<uint8_t> d, RefuseReason why) {
  serialize(Refused{why}, d.first<kRefusedSize>());
  ++counters_.refused;
  return kRefusedSize;
}

void Server::forget(std::unordered_map<crypto::PublicKey, Allocation, KeyHash>::iterator it) {
  by_ep_.erase(it->second.ep);
  by_id_.erase(node_id(it->first));
  by_key_.erase(it);
}

void Server::erase(const crypto::PublicKey& node) {
  auto it = by_key_.find(node);
  if (it != by_key_.end()) forget(it);
}

bool Server::cookie_ok(const Cookie& c, const net::Endpoint& from, Time now) const {
  const uint64_t bucket = static_cast<uint64_t>(std::max<int64_t>(0, now / kCookieBucket));
  // Both compared every time: how long the check takes says nothing.
  const bool cur = crypto::ct_equal(c, make_cookie(cookie_key_, from, bucket));
  const bool prev = bucket > 0 && crypto::ct_equal(c, make_cookie(cookie_key_, from, bucket - 1));
  return cur || prev;
}

const crypto::SecretKey* Server::proof_key_for(const crypto::PublicKey& node) {
  auto it = proof_keys_.find(node);
  if (it != proof_keys_.end()) return &it->second;
  crypto::SecretKey k;
  if (!proof_key(k, relay_key_, node)) return nullptr;
  // Bounded like the allocation table; clearing only costs recomputation.
  if (proof_keys_.size() >= opts_.max_nodes) proof_keys_.clear();
  return &proof_keys_.emplace(node, k).first->second;
}

size_t Server::on_allocate(std::span<uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                           net::Endpoint& to) {
  const auto m = parse_allocate(d);
  if (!m) {
    ++counters_.bad;
    return 0;
  }
  to = from;
  // MAC first: only a holder of a genuine credential learns whether it
  // expired or was revoked. Each REFUSED (6 bytes) answers 125 bytes.
  std::optional<RefuseReason> why;
  if (!verify_credential(secret_, m->node, m->expires_unix, m->mac)) why = RefuseReason::bad_credential;
  else if (credential_expired(m->expires_unix, now_unix)) why = RefuseReason::expired_credential;
  else if (revoked_.count(m->node)) why = RefuseReason::revoked;
  if (why) {
    ++counters_.dropped_unauth;
    return refuse(d, *why);
  }
  // The credential may have been captured: the sender must show that it
  // receives at `from` (the cookie) and holds the node's key (the proof).
  if (!cookie_ok(m->cookie, from, now)) {
    const uint64_t bucket = static_cast<uint64_t>(std::max<int64_t>(0, now / kCookieBucket));
    serialize(Challenge{make_cookie(cookie_key_, from, bucket)}, d.first<kChallengeSize>());
    ++counters_.challenged;
    return kChallengeSize;
  }
  const crypto::SecretKey* pk = proof_key_for(m->node);
  if (!pk || !crypto::ct_equal(m->proof, allocate_proof(*pk, proofed_part(d.first<kAllocateSize>())))) {
    ++counters_.dropped_unauth;
    return refuse(d, RefuseReason::bad_proof);
  }

  auto it = by_key_.find(m->node);
  if (it == by_key_.end()) {
    if (by_key_.size() >= opts_.max_nodes) {
      // Reclaim idle allocations, at most once a second so a full table of
      // live nodes does not turn every ALLOCATE into a full scan.
      if (!swept_once_ || now - last_full_sweep_ >= std::chrono::seconds(1)) {
        swept_once_ = true;
        last_full_sweep_ = now;
        expire(now);
      }
      if (by_key_.size() >= opts_.max_nodes) {
        ++counters_.full;  // silent: the node retries, and may use another relay
        return 0;
      }
    }
    if (by_id_.count(node_id(m->node))) {
      ++counters_.id_taken;  // silent: see protocol.hpp on node ids
      return 0;
    }
    Allocation a;
    a.tokens = burst_scaled_;
    a.refilled = now;
    it = by_key_.emplace(m->node, a).first;
    it->second.ep = from;
    by_id_[node_id(m->node)] = m->node;
  } else if (it->second.ep != from) {
    by_ep_.erase(it->second.ep);  // roamed
    it->second.ep = from;
  }
  // One key per endpoint: another node that held this address is gone from it.
  auto holder = by_ep_.find(from);
  if (holder != by_ep_.end() && holder->second != m->node) forget(by_key_.find(holder->second));
  by_ep_[from] = m->node;
  it->second.expires_unix = m->expires_unix;
  it->second.last_seen = now;

  serialize(Allocated{m->expires_unix}, d.first<kAllocatedSize>());
  return kAllocatedSize;
}

bool Server::take_tokens(Allocation& a, size_t bytes, Time now) {
  const uint64_t rate = opts_.bytes_per_sec_per_node;
  if (now > a.refilled && rate > 0) {
    const uint64_t elapsed = static_cast<uint64_t>((now - a.refilled).count());
    // elapsed * rate only when it cannot exceed the burst (so never overflows).
    if (elapsed >= burst_scaled_ / rate) a.tokens = burst_scaled_;
    else a.tokens = std::min(burst_scaled_, a.tokens + elapsed * rate);
    a.refilled = now;
  }
  const uint64_t cost = static_cast<uint64_t>(bytes) * kNsPerSec;
  if (a.tokens < cost) return false;
  a.tokens -= cost;
  return true;
}

size_t Server::on_send(std::span<uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                       net::Endpoint& to) {
  if (!parse_send(d)) {
    ++counters_.bad;
    return 0;
  }
  to = from;
  const auto sender_it = by_ep_.find(from);
  if (sender_it == by_ep_.end()) {
    ++counters_.dropped_unauth;
    return refuse(d, RefuseReason::not_allocated);  // 6 bytes for >= 38
  }
  const crypto::PublicKey sender = sender_it->second;
  Allocation& a = by_key_.at(sender);
  if (credential_expired(a.expires_unix, now_unix)) {
    erase(sender);
    ++counters_.dropped_unauth;
    return refuse(d, RefuseReason::expired_credential);
  }
  a.last_seen = now;
  if (!take_tokens(a, d.size(), now)) {
    ++counters_.rate_limited;
    if (!a.refused_rate_once || now - a.last_rate_refusal >= std::chrono::seconds(1)) {
      a.refused_rate_once = true;
      a.last_rate_refusal = now;
      return refuse(d, RefuseReason::rate_limited);
    }
    return 0;
  }
  NodeId dest_id;
  std::memcpy(dest_id.data(), d.data() + kHeaderSize, kNodeIdSize);
  const auto dest_key = by_id_.find(dest_id);
  if (dest_key == by_id_.end() || dest_key->second == sender) {
    ++counters_.no_destination;
    return 0;
  }
  const auto dest = by_key_.find(dest_key->second);
  if (credential_expired(dest->second.expires_unix, now_unix)) {
    forget(dest);
    ++counters_.no_destination;
    return 0;
  }
  // In place: the SEND header becomes a DATA header naming the sender.
  write_data_header(node_id(sender), d.first<kForwardHeaderSize>());
  to = dest->second.ep;
  ++counters_.forwarded;
  return d.size();
}

bool Server::revoke(const crypto::PublicKey& node) {
  erase(node);
  return revoked_.insert(node).second;
}

void Server::unrevoke(const crypto::PublicKey& node) { revoked_.erase(node); }

void Server::expire(Time now) {
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    if (now - it->second.last_seen > opts_.idle_timeout) {
      by_ep_.erase(it->second.ep);
      by_id_.erase(node_id(it->first));
      it = by_key_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ovl::relay
