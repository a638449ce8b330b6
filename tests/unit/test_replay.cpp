#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>

#include "engine/wg/replay.hpp"

using ovl::wg::ReplayWindow;

namespace {
constexpr uint64_t kLimit = UINT64_MAX - (uint64_t{1} << 13);  // REJECT_AFTER_MESSAGES in WireGuard
constexpr uint64_t W = ReplayWindow::kWindowSize;
}  // namespace

TEST_CASE("replay: window size is the WireGuard one") {
  CHECK(ReplayWindow::kWindowSize == 8128);
  CHECK(ReplayWindow::kBitsTotal == 8192);
}

TEST_CASE("replay: counter 0 is accepted once") {
  ReplayWindow w;
  CHECK(w.check_and_update(0, kLimit));
  CHECK_FALSE(w.check_and_update(0, kLimit));
  CHECK(w.check_and_update(1, kLimit));
  CHECK_FALSE(w.check_and_update(0, kLimit));
}

TEST_CASE("replay: in-order counters all pass, each only once") {
  ReplayWindow w;
  int accepted = 0, replayed = 0;
  for (uint64_t i = 0; i < 20000; ++i) accepted += w.check_and_update(i, kLimit);
  for (uint64_t i = 20000 - W; i < 20000; ++i) replayed += !w.check_and_update(i, kLimit);
  CHECK(accepted == 20000);
  CHECK(replayed == int(W));
}

TEST_CASE("replay: reordering within the window is accepted") {
  ReplayWindow w;
  CHECK(w.check_and_update(100, kLimit));
  CHECK(w.check_and_update(5, kLimit));
  CHECK(w.check_and_update(99, kLimit));
  CHECK(w.check_and_update(0, kLimit));
  CHECK(w.check_and_update(101, kLimit));
  CHECK(w.check_and_update(50, kLimit));
  CHECK_FALSE(w.check_and_update(5, kLimit));
  CHECK_FALSE(w.check_and_update(100, kLimit));
  CHECK_FALSE(w.check_and_update(50, kLimit));
  CHECK(w.check_and_update(51, kLimit));
}

TEST_CASE("replay: exact edge of the window") {
  ReplayWindow w;
  const uint64_t g = 100000;
  REQUIRE(w.check_and_update(g, kLimit));
  CHECK_FALSE(w.check_and_update(g - W - 1, kLimit));  // one too old
  CHECK(w.check_and_update(g - W, kLimit));            // oldest acceptable
  CHECK_FALSE(w.check_and_update(g - W, kLimit));      // and only once
  CHECK(w.check_and_update(g - 1, kLimit));
  // Moving the top by one pushes the old edge out.
  REQUIRE(w.check_and_update(g + 1, kLimit));
  CHECK_FALSE(w.check_and_update(g - W, kLimit));
  CHECK(w.check_and_update(g + 1 - W, kLimit));
}

TEST_CASE("replay: edge holds at every alignment of the bitmap") {
  // The ring is word-granular; no offset may lose a bit it should keep or keep
  // one it should drop.
  for (uint64_t g = W + 1; g < W + 200; ++g) {
    ReplayWindow w;
    bool all = true;
    for (uint64_t c = g - W; c <= g; ++c) all &= w.check_and_update(c, kLimit);
    REQUIRE(all);
    REQUIRE_FALSE(w.check_and_update(g - W - 1, kLimit));  // too old
    REQUIRE_FALSE(w.check_and_update(g - W, kLimit));      // edge, seen
    REQUIRE(w.check_and_update(g + 1, kLimit));
    REQUIRE_FALSE(w.check_and_update(g - W, kLimit));      // now too old
    REQUIRE_FALSE(w.check_and_update(g + 1 - W, kLimit));  // new edge, still seen
  }
}

TEST_CASE("replay: too old is rejected") {
  ReplayWindow w;
  REQUIRE(w.check_and_update(1'000'000, kLimit));
  CHECK_FALSE(w.check_and_update(0, kLimit));
  CHECK_FALSE(w.check_and_update(1'000'000 - 10'000, kLimit));
  CHECK(w.check_and_update(1'000'000 - 8'000, kLimit));
}

TEST_CASE("replay: big jump forward clears stale bits") {
  ReplayWindow w;
  for (uint64_t i = 0; i < 500; ++i) REQUIRE(w.check_and_update(i, kLimit));
  // Jump by exactly one ring: counters that alias the old bits must be fresh.
  const uint64_t jump = ReplayWindow::kBitsTotal;
  REQUIRE(w.check_and_update(jump + 499, kLimit));
  for (uint64_t i = jump; i < jump + 499; ++i) REQUIRE(w.check_and_update(i, kLimit));
  // A much larger jump too.
  const uint64_t far = uint64_t{1} << 40;
  REQUIRE(w.check_and_update(far, kLimit));
  for (uint64_t i = far - W; i < far; ++i) REQUIRE(w.check_and_update(i, kLimit));
  CHECK_FALSE(w.check_and_update(jump + 10, kLimit));
}

TEST_CASE("replay: partial jumps keep bits still in the window") {
  ReplayWindow w;
  REQUIRE(w.check_and_update(1000, kLimit));
  REQUIRE(w.check_and_update(1000 + 4000, kLimit));
  CHECK_FALSE(w.check_and_update(1000, kLimit));  // still inside, still seen
  REQUIRE(w.check_and_update(1000 + W, kLimit));
  CHECK_FALSE(w.check_and_update(1000, kLimit));  // exactly at the edge, seen
  REQUIRE(w.check_and_update(1000 + W + 1, kLimit));
  CHECK_FALSE(w.check_and_update(1000, kLimit));  // now too old
  CHECK_FALSE(w.check_and_update(5000, kLimit));
}

TEST_CASE("replay: limit") {
  ReplayWindow w;
  CHECK_FALSE(w.check_and_update(10, 10));
  CHECK_FALSE(w.check_and_update(11, 10));
  CHECK(w.check_and_update(9, 10));
  CHECK_FALSE(w.check_and_update(0, 0));
  // Rejected counters do not move the window.
  ReplayWindow v;
  CHECK_FALSE(v.check_and_update(1'000'000, 100));
  CHECK(v.check_and_update(0, 100));
  // Counters near the top of the 64-bit range do not overflow.
  ReplayWindow x;
  CHECK(x.check_and_update(UINT64_MAX - 1, UINT64_MAX));
  CHECK_FALSE(x.check_and_update(UINT64_MAX - 1, UINT64_MAX));
  CHECK(x.check_and_update(UINT64_MAX - 2, UINT64_MAX));
  CHECK_FALSE(x.check_and_update(UINT64_MAX, UINT64_MAX));
  CHECK_FALSE(x.check_and_update(0, UINT64_MAX));
}

TEST_CASE("replay: reset forgets everything") {
  ReplayWindow w;
  REQUIRE(w.check_and_update(50000, kLimit));
  REQUIRE(w.check_and_update(3, kLimit) == false);
  w.reset();
  CHECK(w.check_and_update(3, kLimit));
  CHECK(w.check_and_update(50000, kLimit));
}

TEST_CASE("replay: matches a reference model on random traffic") {
  // Reference: a set of seen counters and the greatest one.
  std::mt19937_64 rng(0x5eed);
  for (int round = 0; round < 20; ++round) {
    ReplayWindow w;
    std::set<uint64_t> seen;
    uint64_t greatest = 0;
    bool any = false;
    uint64_t base = 0;
    for (int i = 0; i < 20000; ++i) {
      // Mostly near the top, sometimes a duplicate, sometimes a jump.
      uint64_t c;
      switch (rng() % 8) {
        case 0: base += rng() % 20000; c = base; break;
        case 1: c = seen.empty() ? 0 : *std::next(seen.begin(), static_cast<long>(rng() % std::min<size_t>(seen.size(), 50))); break;
        default: {
          uint64_t back = rng() % (W + 200);
          c = base > back ? base - back : 0;
          base += rng() % 3;
        }
      }
      bool expect = !(any && c + W < greatest) && !seen.count(c);
      bool got = w.check_and_update(c, kLimit);
      if (got != expect) REQUIRE_MESSAGE(got == expect, "counter ", c, " greatest ", greatest);
      if (got) {
        seen.insert(c);
        if (!any || c > greatest) greatest = c;
        any = true;
      }
      // Keep the model small: forget what is far out of the window.
      while (!seen.empty() && *seen.begin() + W + 10 < greatest) seen.erase(seen.begin());
    }
  }
}
