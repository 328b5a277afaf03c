// The narrow interface between executable plans and a code generator (after tinygrad's
// device.py and ggml's backend interface): which kernels it covers, compiling one (through the
// kernel caches, keyed by content), and launching a compiled one over its domain. The CPU backend
// (LLVM) and the CUDA backend (NVRTC) implement it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ember/codegen/disk_cache.h"
#include "ember/codegen/kernel_ir.h"
#include "ember/runtime/array.h"

namespace ember::codegen {

class TieredKernel;

class Backend {
 public:
  virtual ~Backend() = default;
  // "cpu", "cuda": the disk cache's file prefix and the name in messages.
  virtual const char* name() const = 0;
  // Why the backend cannot compile this kernel (an op on a dtype it does not cover), or nullopt.
  // A plan runs such a kernel's nodes eagerly instead, saying why under EMBER_LOG=kernels.
  virtual std::optional<std::string> unsupported(const KernelIR& kernel) const = 0;
  // The kernel's entry point, from the memory or disk cache or compiled; BackendError when the
  // compiler fails.
  virtual std::shared_ptr<TieredKernel> compile(const KernelIR& kernel,
                                                const KernelCacheOptions& options) = 0;
  // The kernel's binary for this backend and machine (object code; cubins next), what an
  // exported model embeds: from the disk cache or compiled, not loaded. And a binary of this
  // kernel made runnable; BackendError when it is not one (not an object file, another kernel).
  virtual std::string binary(const KernelIR& kernel, const KernelCacheOptions& options) = 0;
  virtual std::shared_ptr<TieredKernel> load(const KernelIR& kernel, std::string_view binary) = 0;
  // Runs a compiled kernel over `domain`, buffers[i] bound to the kernel's buffer i (inputs
  // broadcast to the domain, then the outputs); a row kernel reduces the last `reduced` dims.
  virtual void launch(const TieredKernel& compiled, const KernelIR& kernel,
                      const Array* const* buffers, size_t num_buffers, IntArrayRef domain,
                      int64_t reduced) = 0;
};

// The LLVM backend for the host CPU.
Backend& cpu_backend();
// The CUDA backend (codegen/cuda.h): binary() works without a GPU (a cubin for default_arch());
// compile, load and launch need a device (BackendError naming the kernel otherwise) and buffers
// on it.
Backend& cuda_backend();

}  // namespace ember::codegen
