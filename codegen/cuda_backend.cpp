// The CUDA backend behind codegen::Backend: cubins from NVRTC through the memory and disk
// caches, loaded and launched through the driver (include/ember/runtime/cuda.h).
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "ember/codegen/backend.h"
#include "ember/codegen/cuda.h"
#include "ember/codegen/llvm_backend.h"
#include "ember/runtime/cuda.h"
#include "ember/runtime/error.h"

namespace ember::codegen::cuda {
namespace {

std::atomic<int64_t> nvrtc_compiles{0};

// What a cubin depends on besides the kernel: the architecture, NVRTC, and this printer's build
// (a rebuilt printer never reuses stale cubins).
std::string cubin_key(const KernelIR& kernel, int arch) {
  return kernel.text() + "\nsm_" + std::to_string(arch) + "\nnvrtc " + nvrtc_version() +
         "\nember " EMBER_VERSION_STRING " cuda printer built " __DATE__ " " __TIME__ "\n";
}

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  std::optional<std::string> unsupported(const KernelIR& kernel) const override {
    return cuda::unsupported(kernel);
  }
  std::shared_ptr<TieredKernel> compile(const KernelIR& kernel,
                                        const KernelCacheOptions& options) override {
    require_device(kernel);
    return load(kernel, binary(kernel, options));
  }
  std::string binary(const KernelIR& kernel, const KernelCacheOptions& options) override {
    return cubin(kernel, default_arch(), options);
  }
  std::shared_ptr<TieredKernel> load(const KernelIR& kernel, std::string_view binary) override {
    require_device(kernel);
    auto handle = std::make_shared<TieredKernel>();
    handle->set(uint64_t(reinterpret_cast<uintptr_t>(
                    ember::cuda::load_function(std::string(binary), kernel.name))),
                true);
    return handle;
  }
  void launch(const TieredKernel& compiled, const KernelIR& kernel, const Array* const* buffers,
              size_t num_buffers, IntArrayRef domain, int64_t reduced) override {
    require_device(kernel);
    for (size_t b = 0; b < num_buffers; ++b)
      if (!buffers[b]->device().is_cuda())
        throw BackendError("cuda", kernel.name,
                           "buffer " + std::to_string(b) + " is in CPU memory, not on the device");
    // The printed form's vector width is all the launch reads of it.
    Source source;
    source.name = kernel.name;
    source.rows = kernel.rows;
    source.vector_width = vector_width(kernel);
    Launch l = prepare_launch(kernel, source, buffers, num_buffers, domain, reduced,
                              /*max_blocks=*/132 * 32);
    if (l.grid)
      ember::cuda::launch(reinterpret_cast<void*>(compiled.entry<uintptr_t>()), kernel.name, l.grid,
                          l.block_x, l.block_y, &l.args);
  }

 private:
  static void require_device(const KernelIR& kernel) {
    if (!ember::cuda::is_available())
      throw BackendError("cuda", kernel.name,
                         "no CUDA device: " + ember::cuda::unavailable_reason());
  }
};

}  // namespace

int default_arch() {
  if (const char* arch = std::getenv("EMBER_CUDA_ARCH"); arch && *arch) return std::atoi(arch);
  return ember::cuda::is_available() ? ember::cuda::compute_capability(0) : 90;
}

std::string cubin(const KernelIR& kernel, int arch, const KernelCacheOptions& options) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::string> memory;
  const std::string key = cubin_key(kernel, arch);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = memory.find(key); it != memory.end()) return it->second;
  }
  const DiskCache disk("cuda", "cubin", options);
  std::optional<std::string> binary = disk.load(key);
  if (!binary) {
    binary = compile_cubin(print(kernel), arch);
    ++nvrtc_compiles;
    disk.store(key, *binary);
  }
  std::lock_guard<std::mutex> lock(mutex);
  return memory.emplace(key, std::move(*binary)).first->second;
}

int64_t cubin_compile_count() { return nvrtc_compiles.load(); }

}  // namespace ember::codegen::cuda

namespace ember::codegen {

Backend& cuda_backend() {
  static cuda::CudaBackend backend;
  return backend;
}

}  // namespace ember::codegen
