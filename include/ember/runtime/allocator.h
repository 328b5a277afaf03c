// The caching CPU allocator. Every tensor's memory comes from here: blocks are 64-byte aligned,
// freed blocks are kept and reused for the next request of the same size class, and blocks of
// 2 MiB or more are 2 MiB aligned and advised as transparent huge pages. Reuse is what makes a
// large eager op cost its arithmetic and not its page faults (a fresh 64 MB buffer costs ~95 ms of
// faults on this kind of machine, about 20x the add that fills it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ember {

struct AllocatorStats {
  size_t bytes_in_use = 0;    // handed out and not yet freed
  size_t bytes_cached = 0;    // freed, kept for reuse
  uint64_t cache_hits = 0;    // requests served from the cache
  uint64_t cache_misses = 0;  // requests that went to the system
};

class CachingCpuAllocator {
 public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kHugePage = size_t{2} << 20;

  // The process-wide allocator.
  static CachingCpuAllocator& instance();

  // Returns a block of at least nbytes; block_size(nbytes) bytes are usable. Throws
  // OutOfMemoryError after emptying the cache and trying once more.
  void* allocate(size_t nbytes);
  // Returns a block from allocate(nbytes) to the cache (or to the system past the cache limit).
  void deallocate(void* ptr, size_t nbytes);
  // Gives every cached block back to the system.
  void empty_cache();
  AllocatorStats stats() const;
  // At most this many bytes stay cached (default 4 GiB, or $EMBER_CPU_CACHE_LIMIT_MB).
  void set_cache_limit(size_t bytes);

  // The size class a request is rounded up to: a multiple of 64 below 4 KiB, a quarter-power of
  // two up to 2 MiB (at most 25% waste), then a multiple of 2 MiB.
  static size_t block_size(size_t nbytes);

  ~CachingCpuAllocator();

 private:
  CachingCpuAllocator();
  static void* system_allocate(size_t size);

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;
  AllocatorStats stats_;
  size_t cache_limit_;
};

}  // namespace ember
