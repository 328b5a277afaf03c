// The CUDA backend's compiler half: CUDA C printed from the kernel IR (the same legalized IR the
// LLVM backend lowers), and NVRTC, loaded with dlopen, which compiles it to cubins. Nothing here
// needs a GPU or a driver: the test suite compiles every kernel it generates for sm_80 and sm_90.
//
// The printed kernels are shape-generic: sizes and strides are arguments (one KernelArgs by
// value, whose layout the printed source declares too), so one binary serves every shape.
// - Elementwise: a grid-stride loop over the domain's flat index. Dense launches (every buffer
//   contiguous in the domain's order) use the index as every buffer's offset and, where each
//   pointer is aligned to its vector, load and store `vector_width` elements at a time (128-bit
//   accesses for the narrowest dtype); other launches walk the dims with each buffer's strides.
// - Rows: blockDim.x threads per row (a power of two; a warp or a block of warps), blockDim.y
//   rows per block. Each reduction is one strided pass over the row, combined with warp shuffles
//   and, across warps, shared memory; then one pass writes the element-level outputs. Values a
//   later pass reads again are recomputed (the CPU kernel's scratch rows are not used).
// 16-bit floats compute in float32 and round after every op with the CPU's rounding (nearest
// even); float max/min propagate NaN; integer arithmetic wraps; float-to-integer casts truncate
// and saturate (NaN gives 0). exp, tanh, erf and the other transcendentals are CUDA's libdevice
// functions (within their documented ulps of the CPU's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ember/codegen/disk_cache.h"
#include "ember/codegen/kernel_ir.h"

namespace ember::codegen::cuda {

inline constexpr int kMaxBuffers = 32;
inline constexpr int kMaxDims = 8;

// A launch's arguments, passed by value (2,648 bytes; the kernel parameter limit is 4 KiB).
// Strides are in elements. Elementwise: size[0..rank) is the domain, n its element count.
// Rows: size[0..rank) are the outer (row) dims, n the row count, cols the reduced extent, and
// stride[b][rank] buffer b's column stride.
struct KernelArgs {
  void* buf[kMaxBuffers];
  int64_t stride[kMaxBuffers][kMaxDims + 1];
  int64_t size[kMaxDims];
  int64_t n;
  int64_t cols;
  int32_t rank;
  int32_t flags;  // kDense | kAligned
};
inline constexpr int32_t kDense = 1;    // every buffer contiguous in the domain's order
inline constexpr int32_t kAligned = 2;  // and every pointer aligned to its vector

struct Source {
  std::string name;  // the kernel's entry point (extern "C")
  std::string code;
  bool rows = false;
  int vector_width = 1;  // elementwise: elements per vector access on aligned dense launches
};

// A launch of a printed kernel: its arguments and its geometry (grid blocks of block_x *
// block_y threads; rows: block_x threads per row, block_y rows per block).
struct Launch {
  KernelArgs args{};
  unsigned grid = 0, block_x = 1, block_y = 1;  // grid 0: nothing to run
  std::vector<Array> keep;                      // copies the arguments point into
};
// The launch of `source` (kernel's printed form) over `domain` on `buffers` (bound as for any
// backend: inputs broadcast to the domain, then outputs; gathers bound). Elementwise dims are
// merged where every buffer allows it (at most kMaxDims remain, else BackendError); row kernels
// bind as the CPU's do (codegen::bind_rows). max_blocks caps an elementwise grid (the
// grid-stride loop does the rest); threads_per_row 0 picks a power of two from the row length.
Launch prepare_launch(const KernelIR& kernel, const Source& source, const Array* const* buffers,
                      size_t num_buffers, IntArrayRef domain, int64_t reduced, unsigned max_blocks,
                      unsigned threads_per_row = 0);

// Why the printer cannot print this kernel (an op on a dtype it does not cover, too many
// buffers), or nullopt.
std::optional<std::string> unsupported(const KernelIR& kernel);

// The CUDA C of a kernel (legalized: codegen/legalize.h). Throws BackendError("cuda", ...) for
// a kernel unsupported() refuses.
Source print(const KernelIR& kernel);
// The elements per vector access of an elementwise kernel (16 bytes of its narrowest dtype, at
// most 8), Source::vector_width; 1 for a row kernel.
int vector_width(const KernelIR& kernel);

// NVRTC, loaded on first use (EMBER_NVRTC_LIBRARY, else libnvrtc.so.13, libnvrtc.so, then
// /usr/local/cuda/lib64): whether it loads (why not, in `why`), and its version ("13.0").
bool nvrtc_available(std::string* why = nullptr);
std::string nvrtc_version();

// The cubin of `source` for compute capability `arch` (80: sm_80, 90: sm_90). BackendError with
// NVRTC's log and the kernel's name when it does not compile or NVRTC is missing.
std::string compile_cubin(const Source& source, int arch);

// A kernel's cubin for `arch` from the memory cache, the disk cache ("cuda-*.cubin", keyed by the
// kernel's text, the architecture, NVRTC's version and this build), or NVRTC; and how many
// times NVRTC ran for it in this process.
std::string cubin(const KernelIR& kernel, int arch, const KernelCacheOptions& options = {});
int64_t cubin_compile_count();
// The architecture kernels are built for: EMBER_CUDA_ARCH, else device 0's, else 90.
int default_arch();

}  // namespace ember::codegen::cuda
