// Anti-replay window for WireGuard transport counters (RFC 6479 style).
//
// A ring of 8192 bits held in 128 64-bit words. One word is always being
// recycled as the window slides, so the usable window is 8192 - 64 = 8128
// counters, as in the WireGuard paper and the Linux implementation:
//
//   greatest counter seen = G
//   accepted:  counter > G                          (window slides forward)
//              G - 8128 <= counter <= G, not seen yet
//   rejected:  counter < G - 8128                   (too old)
//              counter already seen                 (replay)
//              counter >= limit                     (REJECT_AFTER_MESSAGES)
//
//        word ring (128 x 64 bits), indexed by (counter + 1) / 64 mod 128
//   +------+------+------+-- ... --+------+
//   |  w0  |  w1  |  w2  |         | w127 |
//   +------+------+------+-- ... --+------+
//
// Only call check_and_update after the packet authenticated: an unauthenticated
// counter must never move the window. Not thread-safe: a session that decrypts
// on several threads guards its window with a lock (it is a few instructions).
#pragma once
#include <array>
#include <cstdint>

namespace ovl::wg {

class ReplayWindow {
 public:
  static constexpr uint64_t kBitsTotal = 8192;
  static constexpr uint64_t kWordBits = 64;
  static constexpr uint64_t kWindowSize = kBitsTotal - kWordBits;  // 8128

  // True if `counter` is new and acceptable; it is then recorded.
  // False if counter >= limit, older than the window, or already seen.
  bool check_and_update(uint64_t counter, uint64_t limit);
  // Forget everything (new session).
  void reset();

 private:
  static constexpr uint64_t kWords = kBitsTotal / kWordBits;
  // Greatest accepted counter plus one; 0 means nothing accepted yet, so
  // counter 0 is handled like any other.
  uint64_t top_ = 0;
  std::array<uint64_t, kWords> bits_{};
};

}  // namespace ovl::wg
