// The caching CPU allocator: alignment, reuse of freed blocks by size class, huge-page alignment
// for large blocks, statistics, and the cache limit.
#include <gtest/gtest.h>

#include <cstdint>

#include "ember/runtime/allocator.h"
#include "ember/runtime/storage.h"

namespace ember {
namespace {

TEST(Allocator, BlocksAreAlignedAndLargeOnesHugePageAligned) {
  auto& a = CachingCpuAllocator::instance();
  for (size_t n : {size_t(1), size_t(100), size_t(5000), size_t(300000), size_t(3) << 20}) {
    void* p = a.allocate(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << n;
    if (n >= CachingCpuAllocator::kHugePage) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % CachingCpuAllocator::kHugePage, 0u);
    }
    a.deallocate(p, n);
  }
}

TEST(Allocator, FreedBlocksAreReusedForTheSameSizeClass) {
  auto& a = CachingCpuAllocator::instance();
  const size_t n = (size_t(64) << 20) + 123;  // a 64 MB tensor
  void* p = a.allocate(n);
  a.deallocate(p, n);
  const AllocatorStats before = a.stats();
  void* q = a.allocate(n - 100);  // same 2 MiB-rounded class
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().cache_hits, before.cache_hits + 1);
  a.deallocate(q, n - 100);
}

TEST(Allocator, SizeClassesBoundTheWaste) {
  for (size_t n = 1; n < (size_t(8) << 20); n = n * 3 / 2 + 1) {
    const size_t b = CachingCpuAllocator::block_size(n);
    EXPECT_GE(b, n);
    EXPECT_LE(double(b),
              std::max(double(n) * 1.25 + 64, double(n + CachingCpuAllocator::kHugePage)))
        << n;
    EXPECT_EQ(CachingCpuAllocator::block_size(b), b) << "classes are fixed points";
  }
}

TEST(Allocator, StatsTrackUseAndCacheLimitReleasesMemory) {
  auto& a = CachingCpuAllocator::instance();
  a.empty_cache();
  EXPECT_EQ(a.stats().bytes_cached, 0u);
  const size_t n = size_t(4) << 20;
  const size_t in_use = a.stats().bytes_in_use;
  void* p = a.allocate(n);
  EXPECT_EQ(a.stats().bytes_in_use, in_use + n);
  a.deallocate(p, n);
  EXPECT_EQ(a.stats().bytes_cached, n);
  a.set_cache_limit(0);
  EXPECT_EQ(a.stats().bytes_cached, 0u);
  void* q = a.allocate(n);
  a.deallocate(q, n);
  EXPECT_EQ(a.stats().bytes_cached, 0u) << "over the limit, freed blocks go back to the system";
  a.set_cache_limit(size_t(4) << 30);
}

TEST(Storage, ReturnsMemoryToTheAllocatorOrTheOwner) {
  auto& a = CachingCpuAllocator::instance();
  const size_t in_use = a.stats().bytes_in_use;
  {
    auto s = Storage::allocate(1000);
    EXPECT_EQ(a.stats().bytes_in_use, in_use + CachingCpuAllocator::block_size(1000));
  }
  EXPECT_EQ(a.stats().bytes_in_use, in_use);
  int deleted = 0;
  float buf[4];
  {
    auto s = Storage::wrap(buf, sizeof buf, Device(), [&](void* p) { deleted += p == buf; });
  }
  EXPECT_EQ(deleted, 1);
}

}  // namespace
}  // namespace ember
