// The thread pool: every index is visited exactly once, chunks respect the grain, nested loops
// run inline, exceptions reach the caller, and the C entry point the JIT calls behaves the same.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "ember/runtime/thread_pool.h"

namespace ember {
namespace {

TEST(ThreadPool, VisitsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    EXPECT_EQ(get_num_threads(), threads);
    for (int64_t n : {0, 1, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(0, n, 10, [&](int64_t b, int64_t e) {
        EXPECT_LE(b, e);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
  set_num_threads(2);
}

TEST(ThreadPool, SmallRangesStayOnTheCaller) {
  set_num_threads(2);
  int calls = 0;
  parallel_for(0, 100, 1000, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 100);
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, NestedParallelForRunsInline) {
  set_num_threads(2);
  std::atomic<int64_t> total{0};
  parallel_for(0, 4, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(0, 1000, 1, [&](int64_t b2, int64_t e2) {
        EXPECT_TRUE(ThreadPool::in_parallel_region());
        total += e2 - b2;
      });
  });
  EXPECT_EQ(total.load(), 4000);
}

TEST(ThreadPool, ExceptionsPropagateToTheCaller) {
  set_num_threads(2);
  EXPECT_THROW(parallel_for(0, 1000, 1,
                            [](int64_t b, int64_t) {
                              if (b > 0) throw std::runtime_error("chunk failed");
                            }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> n{0};
  parallel_for(0, 1000, 1, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
}

TEST(ThreadPool, CEntryPointForGeneratedCode) {
  set_num_threads(2);
  std::vector<int> out(5000, 0);
  ember_parallel_for(
      0, 5000, 100,
      [](void* ctx, int64_t b, int64_t e) {
        auto* v = static_cast<std::vector<int>*>(ctx);
        for (int64_t i = b; i < e; ++i) (*v)[size_t(i)] = int(i) * 2;
      },
      &out);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(out[size_t(i)], i * 2);
}

TEST(ThreadPool, ManyBackToBackJobs) {
  set_num_threads(2);
  std::atomic<int64_t> total{0};
  for (int job = 0; job < 2000; ++job)
    parallel_for(0, 64, 1, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total.load(), 2000 * 64);
}

TEST(ThreadPool, RejectsZeroThreads) { EXPECT_ANY_THROW(set_num_threads(0)); }

}  // namespace
}  // namespace ember
