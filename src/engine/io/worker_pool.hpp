// Fork-join over a batch for the data plane's crypto: run(n, fn) calls
// fn(i) for every i in [0, n) on the calling thread and on the pool's
// worker threads, and returns when all calls are done.
//
// Work is claimed in small chunks from one atomic counter, so the caller
// never waits for a worker that has not started: on a busy machine it simply
// does the whole batch itself, and the cost is one futex wake per batch. The
// only waiting is for chunks a worker already claimed (a few packets). No
// lock is taken per item. One run() at a time, from one thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ovl::io {

class WorkerPool {
 public:
  // `workers` extra threads (0: run() is a plain loop).
  explicit WorkerPool(unsigned workers);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  unsigned workers() const { return static_cast<unsigned>(threads_.size()); }

  template <class Fn>
  void run(size_t n, Fn& fn) {
    run_erased(n, [](void* f, size_t i) { (*static_cast<Fn*>(f))(i); }, &fn);
  }

  // Extra threads worth having for crypto on this machine: one per further
  // core, at most 3 (packets per batch are few).
  static unsigned default_workers();

 private:
  using Call = void (*)(void*, size_t);
  void run_erased(size_t n, Call call, void* ctx);
  void work(Call call, void* ctx, size_t n);
  void loop();

  static constexpr size_t kChunk = 4;
  // Smaller batches run inline: waking a worker (a futex call, a context
  // switch on a busy machine) costs more than sealing a few packets.
  static constexpr size_t kMinParallel = 16;
  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_;
  // Guarded by m_: the current batch, and whether workers may still join it.
  uint64_t gen_ = 0;
  bool open_ = false, stop_ = false;
  Call call_ = nullptr;
  void* ctx_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<int> inflight_{0};  // workers inside the current batch
};

}  // namespace ovl::io
