#include "engine/wg/ratelimiter.hpp"

#include <algorithm>

namespace ovl::wg {

namespace {
constexpr int64_t kCost = 1000000000 / RateLimiter::kPacketsPerSecond;  // ns of budget per packet
constexpr int64_t kMaxTokens = kCost * RateLimiter::kBurst;
}  // namespace

size_t RateLimiter::IpHash::operator()(const net::IpAddr& a) const {
  // FNV-1a over the address bytes: cheap, and the table is bounded anyway.
  uint64_t h = 1469598103934665603ULL ^ a.v6;
  for (uint8_t c : a.bytes()) h = (h ^ c) * 1099511628211ULL;
  return h;
}

void RateLimiter::collect(Time now) {
  // Entries idle for a second have refilled completely; forget them.
  for (auto it = table_.begin(); it != table_.end();) {
    if (now - it->second.last > std::chrono::seconds(1)) it = table_.erase(it);
    else ++it;
  }
  last_collect_ = now;
}

bool RateLimiter::allow(const net::IpAddr& ip, Time now) {
  if (now - last_collect_ > std::chrono::seconds(1)) collect(now);
  auto it = table_.find(ip);
  if (it == table_.end()) {
    if (table_.size() >= kMaxEntries) return false;  // flooded by too many sources: shed load
    table_.emplace(ip, Entry{kMaxTokens - kCost, now});
    return true;
  }
  Entry& e = it->second;
  e.tokens = std::min(kMaxTokens, e.tokens + (now - e.last).count());
  e.last = now;
  if (e.tokens < kCost) return false;
  e.tokens -= kCost;
  return true;
}

}  // namespace ovl::wg
