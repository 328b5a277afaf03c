#include "ember/codegen/llvm_backend.h"
#include "ember/runtime/thread_pool.h"

namespace ember::codegen {

void run_elementwise(InnerLoopFn fn, const std::vector<Array>& buffers, IntArrayRef domain) {
  const size_t nb = buffers.size(), rank = domain.size();
  // Byte strides of each buffer over the domain (0 where it broadcasts).
  std::vector<std::vector<int64_t>> strides(nb, std::vector<int64_t>(rank, 0));
  for (size_t b = 0; b < nb; ++b) {
    const Array& a = buffers[b];
    const size_t lead = rank - size_t(a.dim());
    for (size_t d = 0; d < size_t(a.dim()); ++d)
      if (a.size(int64_t(d)) != 1)
        strides[b][lead + d] = a.stride(int64_t(d)) * int64_t(a.itemsize());
  }
  const int64_t inner = rank ? domain[rank - 1] : 1;
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= domain[d];
  if (inner == 0 || rows == 0) return;
  std::vector<int64_t> inner_strides(nb);
  for (size_t b = 0; b < nb; ++b) inner_strides[b] = rank ? strides[b][rank - 1] : 0;
  parallel_for(0, rows, std::max<int64_t>(1, 32768 / inner), [&](int64_t lo, int64_t hi) {
    std::vector<char*> ptrs(nb);
    for (int64_t r = lo; r < hi; ++r) {
      for (size_t b = 0; b < nb; ++b) {
        int64_t offset = 0, rest = r;
        for (size_t d = rank - 1; d-- > 0;) {
          offset += (rest % domain[d]) * strides[b][d];
          rest /= domain[d];
        }
        ptrs[b] = buffers[b].data() + offset;
      }
      fn(ptrs.data(), inner_strides.data(), inner);
    }
  });
}

}  // namespace ember::codegen
