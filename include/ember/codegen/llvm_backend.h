// The CPU backend: LLVM IR from the kernel IR, compiled by one process-wide ORC LLJIT at O3 for
// the host CPU. A compiled elementwise kernel is the inner loop over one run of its domain, with
// the signature of the runtime's strided loop engine: (buffer pointers, byte strides, count). A
// run whose buffers are all contiguous takes a loop LLVM vectorizes; any other takes a strided one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/codegen/disk_cache.h"
#include "ember/codegen/kernel_ir.h"
#include "ember/runtime/array.h"

namespace ember::codegen {

using InnerLoopFn = void (*)(char** buffers, const int64_t* byte_strides, int64_t n);

// The key of a kernel in the caches (memory, and disk_cache.h's files cpu-<hash>.o) is its
// canonical text, the host target (triple, CPU, features) and the versions of LLVM and of this
// backend.

// Compiles (once per distinct kernel per process: later calls hit an in-memory cache; a kernel
// another process compiled loads from the disk cache) and returns the kernel's entry point.
// Throws BackendError with LLVM's message and the kernel's name when LLVM refuses the kernel.
InnerLoopFn compile_cpu(const KernelIR& kernel, const KernelCacheOptions& options = {});

// A row kernel: rows [row_begin, row_end) of its [rows, cols] domain; byte_strides holds (row,
// column) strides per buffer.
using RowKernelFn = void (*)(char** buffers, const int64_t* byte_strides, int64_t row_begin,
                             int64_t row_end, int64_t cols);
RowKernelFn compile_rows(const KernelIR& kernel, const KernelCacheOptions& options = {});

// A kernel whose entry point may be replaced by faster code (compile_tiered).
class TieredKernel {
 public:
  template <class Fn>
  Fn entry() const {
    return reinterpret_cast<Fn>(entry_.load(std::memory_order_acquire));
  }
  bool optimized() const { return optimized_.load(std::memory_order_acquire); }
  void set(uint64_t address, bool optimized) {
    entry_.store(uintptr_t(address), std::memory_order_release);
    optimized_.store(optimized, std::memory_order_release);
  }

 private:
  std::atomic<uintptr_t> entry_{0};
  std::atomic<bool> optimized_{false};
};

// The optimized kernel when the memory or disk cache has it (or options.tiered is off);
// otherwise, at once, code compiled quickly (LLVM O1, -O0 instruction selection: a fraction of
// the compile time, slower code), while the optimized version compiles on a background thread
// and replaces it when ready (and goes to the disk cache). The first call of a compiled function
// pays the quick tier only.
std::shared_ptr<TieredKernel> compile_tiered(const KernelIR& kernel,
                                             const KernelCacheOptions& options = {});
// What an exported model needs: a kernel's optimized object code, position-independent (to be
// linked into a shared object), its entry point named `symbol` (not cached: export is rare); and
// the host target the code is for, with the CPU features it may use (LLVM's names: "avx2",
// "fma") and whether it calls glibc's vector math library (libmvec).
std::string export_object(const KernelIR& kernel, const std::string& symbol);
struct HostTarget {
  std::string description;  // triple and CPU
  std::vector<std::string> features;
  bool libmvec = false;
};
HostTarget host_target();

// Blocks until the background thread has compiled everything queued.
void wait_for_background_compiles();

// How many kernels LLVM has compiled in this process (optimized: misses of both caches; quick
// tiers counted apart), and how many were loaded from the disk cache instead.
int64_t cpu_compile_count();
int64_t cpu_quick_compile_count();
int64_t cpu_disk_cache_hits();

}  // namespace ember::codegen

namespace ember::codegen {

// Runs a compiled elementwise kernel over `domain`: buffers[i] is bound to the kernel's buffer i
// (inputs broadcast to the domain, outputs of the domain's shape). Rows of the domain are split
// across the thread pool; each row is one call of the inner loop.
void run_elementwise(InnerLoopFn fn, const std::vector<Array>& buffers, IntArrayRef domain);
void run_elementwise(InnerLoopFn fn, const Array* const* buffers, size_t num_buffers,
                     IntArrayRef domain);

// Runs a compiled row kernel over `domain` whose last `reduced` dims are the columns. Element-level
// buffers broadcast to the domain; row-level ones have the domain's shape with the reduced dims
// 1 or dropped. The kernel reads each buffer through one row stride and element-level buffers
// contiguously along the columns; an input laid out otherwise (transposed, broadcast along the
// columns) is first copied densely.
void run_rows(RowKernelFn fn, const KernelIR& kernel, const std::vector<Array>& buffers,
              IntArrayRef domain, int64_t reduced);
void run_rows(RowKernelFn fn, const KernelIR& kernel, const Array* const* buffers,
              size_t num_buffers, IntArrayRef domain, int64_t reduced);
// A compiled host kernel (elementwise or rows, as kernel says) over domain: what every CPU
// backend's launch does, whether its code came from the JIT or from an exported model.
void launch_host_kernel(const TieredKernel& compiled, const KernelIR& kernel,
                        const Array* const* buffers, size_t num_buffers, IntArrayRef domain,
                        int64_t reduced);

}  // namespace ember::codegen
