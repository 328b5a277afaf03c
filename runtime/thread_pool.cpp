#include "ember/runtime/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "ember/runtime/error.h"

namespace ember {
namespace {

[[gnu::tls_model("initial-exec")]] thread_local bool tls_in_parallel_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

int default_num_threads() {
  if (const char* env = std::getenv("EMBER_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::mutex pool_mutex;
std::unique_ptr<ThreadPool> pool;
std::atomic<int> pool_threads{0};

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  EMBER_CHECK(num_threads >= 1, ValueError, "set_num_threads: expected at least 1 thread, got ",
              num_threads);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

bool ThreadPool::in_parallel_region() { return tls_in_parallel_region; }

void ThreadPool::run_chunk(Job& job, int index) {
  const int64_t b = job.begin + index * job.chunk;
  const int64_t e = std::min(job.end, b + job.chunk);
  const bool was = tls_in_parallel_region;
  tls_in_parallel_region = true;
  try {
    if (b < e) job.task(job.ctx, b, e);
  } catch (...) {
    std::lock_guard<std::mutex> lock(job.error_mutex);
    if (!job.error) job.error = std::current_exception();
  }
  tls_in_parallel_region = was;
}

void ThreadPool::run(int64_t begin, int64_t end, int64_t grain, Task task, void* ctx) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t range = end - begin;
  const int num_chunks = int(std::min<int64_t>(num_threads(), (range + grain - 1) / grain));
  if (num_chunks <= 1 || tls_in_parallel_region) {
    task(ctx, begin, end);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mutex_);
  Job job;
  job.task = task;
  job.ctx = ctx;
  job.begin = begin;
  job.end = end;
  job.chunk = (range + num_chunks - 1) / num_chunks;
  job.num_chunks = num_chunks;
  job.pending.store(num_chunks - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.notify_all();
  run_chunk(job, 0);
  // The workers' chunks are usually done by now; spin briefly before sleeping.
  for (int spin = 0; spin < 20000 && job.pending.load(std::memory_order_acquire) != 0; ++spin)
    cpu_relax();
  if (job.pending.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return job.pending.load(std::memory_order_acquire) == 0; });
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = nullptr;
  }
  if (job.error) std::rethrow_exception(job.error);
}

void ThreadPool::worker_loop(int index) {
  tls_in_parallel_region = true;
  uint64_t seen = 0;
  for (;;) {
    // Spin a little for the next job (kernels often come back to back), then sleep.
    for (int spin = 0; spin < 4000 && generation_.load(std::memory_order_acquire) == seen; ++spin)
      cpu_relax();
    Job* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
      if (stop_) return;
      seen = generation_.load();
      job = job_;
    }
    // A job whose chunks do not reach this worker is not waiting for it.
    if (!job || index >= job->num_chunks) continue;
    run_chunk(*job, index);
    if (job->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_all();
    }
  }
}

ThreadPool& thread_pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool) {
    pool = std::make_unique<ThreadPool>(default_num_threads());
    pool_threads = pool->num_threads();
  }
  return *pool;
}

void set_num_threads(int n) {
  EMBER_CHECK(n >= 1, ValueError, "set_num_threads: expected at least 1 thread, got ", n);
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool && pool->num_threads() == n) return;
  pool.reset();
  pool = std::make_unique<ThreadPool>(n);
  pool_threads = n;
}

int get_num_threads() {
  const int n = pool_threads.load(std::memory_order_relaxed);
  return n ? n : thread_pool().num_threads();
}

}  // namespace ember

extern "C" void ember_parallel_for(int64_t begin, int64_t end, int64_t grain,
                                   void (*fn)(void* ctx, int64_t begin, int64_t end), void* ctx) {
  if (end <= begin) return;
  if (end - begin <= grain || ember::ThreadPool::in_parallel_region()) {
    fn(ctx, begin, end);
    return;
  }
  ember::thread_pool().run(begin, end, grain, fn, ctx);
}
