// The thread pool every CPU kernel splits its outer loop across: the eager kernels through the
// parallel_for template, the JIT's generated code through the C entry point ember_parallel_for.
// The calling thread takes the first chunk, so a pool of N threads has N-1 workers; a
// parallel_for inside a parallel_for runs inline.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ember {

class ThreadPool {
 public:
  using Task = void (*)(void* ctx, int64_t begin, int64_t end);

  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return int(workers_.size()) + 1; }

  // Runs task over [begin, end) in at most num_threads() contiguous chunks of at least grain
  // elements each; returns when all are done; rethrows the first exception a chunk threw.
  void run(int64_t begin, int64_t end, int64_t grain, Task task, void* ctx);

  // True on a pool worker, or on a caller while it runs a chunk: nested parallelism runs inline.
  static bool in_parallel_region();

 private:
  struct Job {
    Task task;
    void* ctx;
    int64_t begin, end, chunk;
    int num_chunks;
    std::atomic<int> pending;
    std::mutex error_mutex;
    std::exception_ptr error;
  };
  static void run_chunk(Job& job, int index);
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one job in flight at a time
  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  Job* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
};

// The process-wide pool, sized by $EMBER_NUM_THREADS or the number of cores.
ThreadPool& thread_pool();
// Replaces the process-wide pool with one of n threads (n >= 1).
void set_num_threads(int n);
int get_num_threads();

// f(chunk_begin, chunk_end) over [begin, end), split across the pool when the range is larger
// than grain.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (end <= begin) return;
  if (end - begin <= grain || ThreadPool::in_parallel_region() || get_num_threads() == 1) {
    f(begin, end);
    return;
  }
  thread_pool().run(
      begin, end, grain,
      [](void* ctx, int64_t b, int64_t e) { (*static_cast<const F*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace ember

extern "C" {
// The JIT's entry into the pool: fn(ctx, chunk_begin, chunk_end) over [begin, end).
void ember_parallel_for(int64_t begin, int64_t end, int64_t grain,
                        void (*fn)(void* ctx, int64_t begin, int64_t end), void* ctx);
}
