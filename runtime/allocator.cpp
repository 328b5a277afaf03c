#include "ember/runtime/allocator.h"

#include <sys/mman.h>

#include <bit>
#include <cstdlib>
#include <string>

#include "ember/runtime/error.h"

namespace ember {

CachingCpuAllocator& CachingCpuAllocator::instance() {
  // Leaked on purpose: tensors held by static objects may be freed after main returns.
  static CachingCpuAllocator* allocator = new CachingCpuAllocator();
  return *allocator;
}

CachingCpuAllocator::CachingCpuAllocator() : cache_limit_(size_t{4} << 30) {
  if (const char* env = std::getenv("EMBER_CPU_CACHE_LIMIT_MB"))
    cache_limit_ = size_t(std::stoull(env)) << 20;
}

CachingCpuAllocator::~CachingCpuAllocator() { empty_cache(); }

size_t CachingCpuAllocator::block_size(size_t nbytes) {
  if (nbytes <= 4096) return (std::max<size_t>(nbytes, 1) + kAlignment - 1) & ~(kAlignment - 1);
  if (nbytes >= kHugePage) return (nbytes + kHugePage - 1) & ~(kHugePage - 1);
  const size_t pow2 = std::bit_floor(nbytes);
  const size_t quarter = pow2 / 4;
  return (nbytes + quarter - 1) / quarter * quarter;
}

void* CachingCpuAllocator::system_allocate(size_t size) {
  const size_t alignment = size >= kHugePage ? kHugePage : kAlignment;
  void* p = std::aligned_alloc(alignment, size);
  if (p && size >= kHugePage) madvise(p, size, MADV_HUGEPAGE);  // advice only: failure is fine
  return p;
}

void* CachingCpuAllocator::allocate(size_t nbytes) {
  // No machine has 2^62 bytes; the bound also keeps block_size's rounding from wrapping.
  EMBER_CHECK(nbytes <= (size_t(1) << 62), OutOfMemoryError,
              "CPU allocator: out of memory allocating ", nbytes, " bytes");
  const size_t size = block_size(nbytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_blocks_.find(size);
    if (it != free_blocks_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= size;
      stats_.bytes_in_use += size;
      ++stats_.cache_hits;
      return p;
    }
    ++stats_.cache_misses;
  }
  void* p = system_allocate(size);
  if (!p) {
    empty_cache();
    p = system_allocate(size);
  }
  EMBER_CHECK(p != nullptr, OutOfMemoryError, "CPU allocator: out of memory allocating ", nbytes,
              " bytes");
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.bytes_in_use += size;
  return p;
}

void CachingCpuAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  const size_t size = block_size(nbytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= size;
    if (stats_.bytes_cached + size <= cache_limit_) {
      free_blocks_[size].push_back(ptr);
      stats_.bytes_cached += size;
      return;
    }
  }
  std::free(ptr);
}

void CachingCpuAllocator::empty_cache() {
  std::unordered_map<size_t, std::vector<void*>> blocks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    blocks.swap(free_blocks_);
    stats_.bytes_cached = 0;
  }
  for (auto& [size, list] : blocks)
    for (void* p : list) std::free(p);
}

AllocatorStats CachingCpuAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingCpuAllocator::set_cache_limit(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_limit_ = bytes;
    if (stats_.bytes_cached <= bytes) return;
  }
  empty_cache();
}

}  // namespace ember
