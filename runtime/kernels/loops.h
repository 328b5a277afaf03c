// The iteration engine shared by the eager elementwise kernels: N operands (operand 0 is the
// output) over one shape, each with its own element strides (0 = broadcast). Size-1 dims are
// dropped and adjacent dims that are contiguous in every operand are merged, so most calls reduce
// to one long inner loop; the outer space is split across the thread pool.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ember/runtime/array.h"
#include "ember/runtime/thread_pool.h"

namespace ember::kernels {

// Elements per chunk below which an elementwise loop stays on the calling thread.
inline constexpr int64_t kParallelGrain = 32768;

// The strides of a viewed through a broadcast to shape (which a must broadcast to).
inline Shape broadcast_strides(const Array& a, IntArrayRef shape) {
  Shape strides(shape.size(), 0);
  const size_t lead = shape.size() - size_t(a.dim());
  for (size_t i = 0; i < size_t(a.dim()); ++i)
    strides[lead + i] = a.size(int64_t(i)) == 1 ? 0 : a.stride(int64_t(i));
  return strides;
}

template <size_t N>
struct StridedLoop {
  SmallVector<int64_t, 6> sizes;                   // outermost first, size-1 dims dropped, merged
  SmallVector<std::array<int64_t, N>, 6> strides;  // in bytes, per dim and operand
  std::array<char*, N> base;
  int64_t numel = 1;

  // operands[k] is viewed with element strides op_strides[k] over shape.
  StridedLoop(IntArrayRef shape, const std::array<char*, N>& ptrs,
              const std::array<const int64_t*, N>& op_strides,
              const std::array<size_t, N>& itemsizes)
      : base(ptrs) {
    for (int64_t size : shape)
      if (size == 0) {  // nothing to visit (and the strides of an empty tensor may be huge)
        numel = 0;
        return;
      }
    for (size_t d = 0; d < shape.size(); ++d) {
      numel *= shape[d];
      if (shape[d] == 1) continue;
      std::array<int64_t, N> s;
      for (size_t k = 0; k < N; ++k) s[k] = op_strides[k][d] * int64_t(itemsizes[k]);
      if (!sizes.empty()) {
        // Merge into the previous (outer) dim when it steps exactly over this one everywhere.
        bool mergeable = true;
        for (size_t k = 0; k < N; ++k) mergeable &= strides.back()[k] == s[k] * shape[d];
        if (mergeable) {
          sizes.back() *= shape[d];
          strides.back() = s;
          continue;
        }
      }
      sizes.push_back(shape[d]);
      strides.push_back(s);
    }
  }

  // inner(ptrs, inner_strides, n) over every element, in runs along the innermost dim.
  template <class Inner>
  void run(const Inner& inner, int64_t grain = kParallelGrain) const {
    if (numel == 0) return;
    if (sizes.empty()) {
      std::array<int64_t, N> zero{};
      std::array<char*, N> p = base;
      inner(p.data(), zero.data(), int64_t(1));
      return;
    }
    const size_t nd = sizes.size();
    const int64_t inner_size = sizes[nd - 1];
    parallel_for(0, numel, grain, [&](int64_t begin, int64_t end) {
      // Multi-index of `begin`, innermost last (on the stack for the usual ranks).
      int64_t idx_buf[12];
      std::vector<int64_t> idx_heap(nd > 12 ? nd : 0);
      int64_t* idx = nd > 12 ? idx_heap.data() : idx_buf;
      int64_t rest = begin;
      for (size_t d = nd; d-- > 0;) {
        idx[d] = rest % sizes[d];
        rest /= sizes[d];
      }
      int64_t pos = begin;
      while (pos < end) {
        std::array<char*, N> p = base;
        for (size_t d = 0; d < nd; ++d)
          for (size_t k = 0; k < N; ++k) p[k] += idx[d] * strides[d][k];
        const int64_t n = std::min(inner_size - idx[nd - 1], end - pos);
        inner(p.data(), strides[nd - 1].data(), n);
        pos += n;
        // Advance the multi-index past the run.
        idx[nd - 1] += n;
        for (size_t d = nd - 1; d > 0 && idx[d] == sizes[d]; --d) {
          idx[d] = 0;
          ++idx[d - 1];
        }
      }
    });
  }
};

// Builds the loop for an output and inputs that broadcast to out's shape.
template <size_t N>
StridedLoop<N> make_loop(const Array& out, const std::array<const Array*, N - 1>& inputs,
                         std::array<Shape, N - 1>& strides_storage) {
  std::array<char*, N> ptrs;
  std::array<const int64_t*, N> strides;
  std::array<size_t, N> itemsizes;
  ptrs[0] = out.data();
  strides[0] = out.strides().data();
  itemsizes[0] = out.itemsize();
  for (size_t k = 0; k + 1 < N; ++k) {
    strides_storage[k] = broadcast_strides(*inputs[k], out.sizes());
    ptrs[k + 1] = inputs[k]->data();
    strides[k + 1] = strides_storage[k].data();
    itemsizes[k + 1] = inputs[k]->itemsize();
  }
  return StridedLoop<N>(out.sizes(), ptrs, strides, itemsizes);
}

}  // namespace ember::kernels
