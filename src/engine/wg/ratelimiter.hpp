// Per-source-address token bucket for handshake messages while under load
// (20 per second, bursts of 5, as in the WireGuard implementations).
#pragma once
#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "engine/net/ip.hpp"

namespace ovl::wg {

class RateLimiter {
 public:
  using Time = std::chrono::nanoseconds;
  static constexpr int64_t kPacketsPerSecond = 20;
  static constexpr int64_t kBurst = 5;
  static constexpr size_t kMaxEntries = 1 << 16;

  // True if a handshake from `ip` may be processed now.
  bool allow(const net::IpAddr& ip, Time now);
  size_t size() const { return table_.size(); }

 private:
  struct Entry {
    int64_t tokens;  // in ns of budget; one packet costs kCost
    Time last;
  };
  struct IpHash {
    size_t operator()(const net::IpAddr& a) const;
  };
  void collect(Time now);
  std::unordered_map<net::IpAddr, Entry, IpHash> table_;
  Time last_collect_{0};
};

}  // namespace ovl::wg
