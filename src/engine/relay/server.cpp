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

size_t Server::EndpointHash::operator()(const net::Endpoint& e) const {
  uint64_t h = 1469598103934665603ULL ^ e.ip.v6;
  for (uint8_t c : e.ip.bytes()) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ (e.port >> 8)) * 1099511628211ULL;
  h = (h ^ (e.port & 0xff)) * 1099511628211ULL;
  return static_cast<size_t>(h);
}

Server::Server(RelaySecret secret, Options opts) : secret_(secret), opts_(opts) {
  opts_.burst_bytes = std::min(opts_.burst_bytes, kMaxBurstBytes);
  burst_scaled_ = opts_.burst_bytes * kNsPerSec;
}

Server::~Server() { crypto::wipe(secret_.data(), secret_.size()); }

void Server::on_datagram(std::span<const uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                         std::vector<Out>& out) {
  const auto type = message_type(d);
  if (!type) {
    ++counters_.bad;
    return;
  }
  switch (*type) {
    case MsgType::allocate: on_allocate(d, from, now, now_unix, out); return;
    case MsgType::send: on_send(d, from, now, now_unix, out); return;
    default: ++counters_.bad; return;  // relay->client messages are never valid here
  }
}

void Server::refuse(const net::Endpoint& to, RefuseReason why, std::vector<Out>& out) {
  Out o{to, std::vector<uint8_t>(kRefusedSize)};
  serialize(Refused{why}, std::span<uint8_t, kRefusedSize>(o.bytes.data(), kRefusedSize));
  out.push_back(std::move(o));
  ++counters_.refused;
}

void Server::erase(const crypto::PublicKey& node) {
  auto it = by_key_.find(node);
  if (it == by_key_.end()) return;
  by_ep_.erase(it->second.ep);
  by_key_.erase(it);
}

void Server::on_allocate(std::span<const uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                         std::vector<Out>& out) {
  const auto m = parse_allocate(d);
  if (!m) {
    ++counters_.bad;
    return;
  }
  // MAC first: only a holder of a genuine credential learns whether it
  // expired or was revoked. Each REFUSED (6 bytes) answers 77 bytes.
  std::optional<RefuseReason> why;
  if (!verify_credential(secret_, m->node, m->expires_unix, m->mac)) why = RefuseReason::bad_credential;
  else if (credential_expired(m->expires_unix, now_unix)) why = RefuseReason::expired_credential;
  else if (revoked_.count(m->node)) why = RefuseReason::revoked;
  if (why) {
    ++counters_.dropped_unauth;
    refuse(from, *why, out);
    return;
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
        return;
      }
    }
    Allocation a;
    a.tokens = burst_scaled_;
    a.refilled = now;
    it = by_key_.emplace(m->node, a).first;
    it->second.ep = from;
  } else if (it->second.ep != from) {
    by_ep_.erase(it->second.ep);  // roamed
    it->second.ep = from;
  }
  // One key per endpoint: another node that held this address is gone from it.
  auto holder = by_ep_.find(from);
  if (holder != by_ep_.end() && holder->second != m->node) {
    by_key_.erase(holder->second);
    by_ep_.erase(holder);
  }
  by_ep_[from] = m->node;
  it->second.expires_unix = m->expires_unix;
  it->second.last_seen = now;

  Out o{from, std::vector<uint8_t>(kAllocatedSize)};
  serialize(Allocated{m->expires_unix}, std::span<uint8_t, kAllocatedSize>(o.bytes.data(), kAllocatedSize));
  out.push_back(std::move(o));
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

void Server::on_send(std::span<const uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                     std::vector<Out>& out) {
  const auto m = parse_send(d);
  if (!m) {
    ++counters_.bad;
    return;
  }
  const auto sender_it = by_ep_.find(from);
  if (sender_it == by_ep_.end()) {
    ++counters_.dropped_unauth;
    refuse(from, RefuseReason::not_allocated, out);  // 6 bytes for >= 38
    return;
  }
  const crypto::PublicKey sender = sender_it->second;
  Allocation& a = by_key_.at(sender);
  if (credential_expired(a.expires_unix, now_unix)) {
    erase(sender);
    ++counters_.dropped_unauth;
    refuse(from, RefuseReason::expired_credential, out);
    return;
  }
  a.last_seen = now;
  if (!take_tokens(a, d.size(), now)) {
    ++counters_.rate_limited;
    if (!a.refused_rate_once || now - a.last_rate_refusal >= std::chrono::seconds(1)) {
      a.refused_rate_once = true;
      a.last_rate_refusal = now;
      refuse(from, RefuseReason::rate_limited, out);
    }
    return;
  }
  if (m->destination == sender) {
    ++counters_.no_destination;
    return;
  }
  const auto dest = by_key_.find(m->destination);
  if (dest == by_key_.end()) {
    ++counters_.no_destination;
    return;
  }
  if (credential_expired(dest->second.expires_unix, now_unix)) {
    erase(m->destination);
    ++counters_.no_destination;
    return;
  }
  Out o{dest->second.ep, make_data(sender, m->payload)};
  out.push_back(std::move(o));
  ++counters_.forwarded;
}

void Server::revoke(const crypto::PublicKey& node) {
  revoked_.insert(node);
  erase(node);
}

void Server::unrevoke(const crypto::PublicKey& node) { revoked_.erase(node); }

void Server::expire(Time now) {
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    if (now - it->second.last_seen > opts_.idle_timeout) {
      by_ep_.erase(it->second.ep);
      it = by_key_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ovl::relay
