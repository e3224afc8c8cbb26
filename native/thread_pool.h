// A persistent pool of worker threads (created once, on first use) running parallel loops.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace axnn {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  int size() const { return int(workers_.size()) + 1; }  // the calling thread works too
  // Runs fn(i) for i in [0, n), spread over the pool; returns when all are done. Not reentrant: fn must not call parallelFor.
  void parallelFor(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void workerLoop();
  void drain();

  std::vector<std::thread> workers_;
  std::mutex callMutex_;  // one parallel loop at a time (several Node worker threads may call)
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::atomic<int64_t> next_{0};
  int64_t total_ = 0;
  uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

// The process-wide pool: AXNN_THREADS threads if set, else one per hardware thread.
ThreadPool& pool();

}  // namespace axnn
