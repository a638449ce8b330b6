// The flows this node opened, so that their replies pass a filter that
// would not admit them on their own ("stateful").
//
// A fixed-size open-addressing hash table: memory is allocated once, at
// construction; a lookup or insert touches at most kProbe slots. When every
// slot of a key's probe window is taken by a live flow, the one expiring
// first is evicted (counted): the table stays bounded however many flows a
// node opens, at the price of forgetting the stalest ones. Only packets this
// node sends insert; received packets only look up (and refresh) entries.
// The hash is seeded (randomness passed in), so which flows share a window is
// not predictable from outside.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/policy/packet.hpp"

namespace ovl::policy {

using Time = std::chrono::nanoseconds;  // monotonic, arbitrary epoch

class FlowTable {
 public:
  static constexpr size_t kProbe = 8;
  static constexpr size_t kMinCapacity = 16;

  // `capacity` slots, rounded up to a power of two (at least kMinCapacity).
  FlowTable(size_t capacity, uint64_t seed);

  // Records (or extends) a flow until `expires`; slots whose flow expired
  // by `now` are free again.
  void note(const FlowKey& k, Time now, Time expires);
  // True if `k` is a live flow at `now`; if so it is extended to `expires`.
  bool touch(const FlowKey& k, Time now, Time expires);
  bool contains(const FlowKey& k, Time now) const;

  size_t capacity() const { return slots_.size(); }
  size_t live(Time now) const;  // O(capacity): for status and tests
  uint64_t evictions() const { return evictions_; }

 private:
  struct Slot {
    FlowKey key;
    Time expires{0};
    bool used = false;
  };
  size_t home(const FlowKey& k) const;
  std::vector<Slot> slots_;
  size_t mask_;
  uint64_t seed_;
  uint64_t evictions_ = 0;
};

}  // namespace ovl::policy
