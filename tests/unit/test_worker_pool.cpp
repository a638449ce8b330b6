// The data plane's fork-join pool: every index runs exactly once per batch,
// all of them before run() returns, batch after batch, with any number of
// workers (including none, and more workers than work).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/io/worker_pool.hpp"

using ovl::io::WorkerPool;

TEST_CASE("worker pool: each index once per batch, all done on return") {
  for (unsigned workers : {0u, 1u, 3u}) {
    CAPTURE(workers);
    WorkerPool pool(workers);
    CHECK(pool.workers() == workers);
    std::vector<std::atomic<int>> hits(3000);
    std::atomic<int> other_threads{0};
    const auto self = std::this_thread::get_id();
    for (int batch = 0; batch < 300; ++batch) {
      const size_t n = static_cast<size_t>(batch * 37 % 3000);
      for (size_t i = 0; i < n; ++i) hits[i].store(0, std::memory_order_relaxed);
      auto fn = [&](size_t i) {
        hits[i].fetch_add(1, std::memory_order_relaxed);
        if (std::this_thread::get_id() != self) other_threads.fetch_add(1, std::memory_order_relaxed);
      };
      pool.run(n, fn);
      size_t wrong = 0;
      for (size_t i = 0; i < n; ++i) wrong += hits[i].load(std::memory_order_relaxed) != 1;
      REQUIRE(wrong == 0);
    }
    if (workers == 0) CHECK(other_threads.load() == 0);
  }
}

TEST_CASE("worker pool: results written by workers are visible after run") {
  WorkerPool pool(2);
  std::vector<uint64_t> out(4096);
  for (int round = 1; round <= 50; ++round) {
    auto fn = [&](size_t i) { out[i] = i * 2654435761u + static_cast<uint64_t>(round); };
    pool.run(out.size(), fn);
    size_t bad = 0;
    for (size_t i = 0; i < out.size(); ++i) bad += out[i] != i * 2654435761u + static_cast<uint64_t>(round);
    REQUIRE(bad == 0);
  }
}
