// The arguments and geometry of a CUDA kernel's launch (include/ember/codegen/cuda.h).
#include <algorithm>

#include "ember/codegen/cuda.h"
#include "ember/runtime/error.h"

namespace ember::codegen::cuda {
namespace {

static_assert(sizeof(KernelArgs) == 2648, "KernelArgs must match the printed ember_args");

unsigned ceil_pow2(int64_t x) {
  unsigned p = 1;
  while (int64_t(p) < x && p < (1u << 30)) p *= 2;
  return p;
}

}  // namespace

Launch prepare_launch(const KernelIR& kernel, const Source& source, const Array* const* buffers,
                      size_t nb, IntArrayRef domain, int64_t reduced, unsigned max_blocks,
                      unsigned threads_per_row) {
  EMBER_INTERNAL_ASSERT(nb == kernel.buffers.size() && nb <= size_t(kMaxBuffers), "kernel ",
                        kernel.name, " has ", kernel.buffers.size(), " buffers, the launch ", nb);
  Launch l;
  KernelArgs& a = l.args;
  const size_t rank = domain.size();
  if (kernel.rows) {
    RowBinding r = bind_rows(kernel, buffers, nb, domain, reduced);
    if (r.rows == 0) return l;
    for (size_t b = 0; b < nb; ++b) {
      const int64_t item = int64_t(itemsize(kernel.buffers[b].dtype));
      a.buf[b] = r.bound[b]->device_data();
      a.stride[b][0] = r.strides[2 * b] / item;
      a.stride[b][1] = r.strides[2 * b + 1] / item;
    }
    a.rank = 1;
    a.size[0] = r.rows;
    a.n = r.rows;
    a.cols = r.cols;
    l.keep = std::move(r.dense);
    // About four columns per thread, a warp or a block of warps per row, and at least 256
    // threads per block (several short rows share one).
    l.block_x = threads_per_row
                    ? threads_per_row
                    : std::min(1024u, ceil_pow2((std::max<int64_t>(r.cols, 1) + 3) / 4));
    l.block_y = l.block_x < 256 ? 256 / l.block_x : 1;
    if (threads_per_row) l.block_y = std::max(1u, 32 / std::min(32u, l.block_x));
    l.grid = unsigned((r.rows + l.block_y - 1) / l.block_y);
    return l;
  }
  int64_t n = 1;
  for (int64_t d : domain) n *= d;
  if (n == 0) return l;
  // Element strides over the domain, then size-1 dims dropped and dims merged where every
  // buffer steps through them as one.
  std::vector<std::vector<int64_t>> strides(nb, std::vector<int64_t>(rank));
  for (size_t b = 0; b < nb; ++b) {
    broadcast_strides(*buffers[b], domain, strides[b].data());
    const int64_t item = int64_t(itemsize(kernel.buffers[b].dtype));
    for (int64_t& s : strides[b]) s /= item;
  }
  std::vector<int64_t> sizes;
  std::vector<std::vector<int64_t>> merged(nb);
  for (size_t d = 0; d < rank; ++d) {
    if (domain[d] == 1) continue;
    bool joins = !sizes.empty();
    for (size_t b = 0; b < nb && joins; ++b) joins = merged[b].back() == strides[b][d] * domain[d];
    if (joins) {
      sizes.back() *= domain[d];
      for (size_t b = 0; b < nb; ++b) merged[b].back() = strides[b][d];
    } else {
      sizes.push_back(domain[d]);
      for (size_t b = 0; b < nb; ++b) merged[b].push_back(strides[b][d]);
    }
  }
  if (sizes.size() > size_t(kMaxDims))
    throw BackendError("cuda", kernel.name,
                       "a launch over " + std::to_string(sizes.size()) +
                           " dims that do not merge (at most " + std::to_string(kMaxDims) + ")");
  a.rank = int32_t(sizes.size());
  std::copy(sizes.begin(), sizes.end(), a.size);
  a.n = n;
  bool dense = true, aligned = true;
  for (size_t b = 0; b < nb; ++b) {
    std::copy(merged[b].begin(), merged[b].end(), a.stride[b]);
    a.buf[b] = buffers[b]->device_data();
    dense &= sizes.empty() || (sizes.size() == 1 && merged[b][0] == 1);
    const size_t vector = std::min<size_t>(
        16, itemsize(kernel.buffers[b].dtype) * size_t(std::max(1, source.vector_width)));
    aligned &= reinterpret_cast<uintptr_t>(a.buf[b]) % vector == 0;
  }
  a.flags = (dense ? kDense : 0) | (dense && aligned ? kAligned : 0);
  const int64_t work =
      a.flags == (kDense | kAligned) ? (n + source.vector_width - 1) / source.vector_width : n;
  l.block_x = 256;
  l.grid = unsigned(std::clamp<int64_t>((work + 255) / 256, 1, std::max(1u, max_blocks)));
  return l;
}

}  // namespace ember::codegen::cuda
