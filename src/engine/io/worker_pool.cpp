#include "engine/io/worker_pool.hpp"

#include <algorithm>

namespace ovl::io {

WorkerPool::WorkerPool(unsigned workers) {
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

unsigned WorkerPool::default_workers() {
  unsigned n = std::thread::hardware_concurrency();
  return n <= 1 ? 0 : std::min(n - 1, 3u);
}

void WorkerPool::work(Call call, void* ctx, size_t n) {
  for (;;) {
    size_t i = next_.fetch_add(kChunk, std::memory_order_relaxed);
    if (i >= n) return;
    for (size_t e = std::min(n, i + kChunk); i < e; ++i) call(ctx, i);
  }
}

void WorkerPool::run_erased(size_t n, Call call, void* ctx) {
  if (threads_.empty() || n < kMinParallel) {
    for (size_t i = 0; i < n; ++i) call(ctx, i);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(m_);
    call_ = call;
    ctx_ = ctx;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    open_ = true;
    ++gen_;
  }
  cv_.notify_all();
  work(call, ctx, n);
  {
    // From here no worker joins this batch; wait for those that did.
    std::lock_guard<std::mutex> lk(m_);
    open_ = false;
  }
  for (int spins = 0;; ++spins) {
    int v = inflight_.load(std::memory_order_acquire);
    if (v == 0) break;
    if (spins < 2000) continue;
    inflight_.wait(v, std::memory_order_acquire);
  }
}

void WorkerPool::loop() {
  uint64_t seen = 0;
  for (;;) {
    Call call;
    void* ctx;
    size_t n;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return stop_ || (open_ && gen_ != seen); });
      if (stop_) return;
      seen = gen_;
      inflight_.fetch_add(1, std::memory_order_relaxed);
      call = call_;
      ctx = ctx_;
      n = n_;
    }
    work(call, ctx, n);
    inflight_.fetch_sub(1, std::memory_order_release);
    inflight_.notify_one();
  }
}

}  // namespace ovl::io
