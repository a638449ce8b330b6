#include "engine/wg/replay.hpp"

#include <algorithm>

namespace ovl::wg {

static_assert((ReplayWindow::kBitsTotal & (ReplayWindow::kBitsTotal - 1)) == 0, "ring size must be a power of two");

bool ReplayWindow::check_and_update(uint64_t counter, uint64_t limit) {
  if (counter >= limit) return false;
  // counter < limit <= UINT64_MAX, so this cannot wrap.
  const uint64_t n = counter + 1;
  // Written as a subtraction guarded by the comparison so that huge counters
  // cannot overflow `n + kWindowSize`.
  if (top_ > kWindowSize && n < top_ - kWindowSize) return false;

  const uint64_t word = n / kWordBits;
  if (n > top_) {
    // Zero the words the window slides over. A jump of a whole ring or more
    // clears everything; the loop is bounded by the ring size either way.
    const uint64_t current = top_ / kWordBits;
    const uint64_t steps = std::min<uint64_t>(word - current, kWords);
    for (uint64_t i = 1; i <= steps; ++i) bits_[(current + i) % kWords] = 0;
    top_ = n;
  }
  uint64_t& w = bits_[word % kWords];
  const uint64_t mask = uint64_t{1} << (n % kWordBits);
  if (w & mask) return false;
  w |= mask;
  return true;
}

void ReplayWindow::reset() {
  top_ = 0;
  bits_.fill(0);
}

}  // namespace ovl::wg
