// Running compiled kernels: binding buffers, folding their strides, and splitting the work across
// the thread pool (run_elementwise, run_rows).
#include "ember/codegen/llvm_backend.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/small_vector.h"
#include "ember/runtime/thread_pool.h"

namespace ember::codegen {

void broadcast_strides(const Array& a, IntArrayRef domain, int64_t* out) {
  const size_t rank = domain.size();
  EMBER_INTERNAL_ASSERT(size_t(a.dim()) <= rank, "a kernel buffer of shape ", shape_str(a.sizes()),
                        " has more dims than the domain ", shape_str(domain));
  const size_t lead = rank - size_t(a.dim());
  for (size_t d = 0; d < rank; ++d) out[d] = 0;
  for (size_t d = 0; d < size_t(a.dim()); ++d)
    if (a.size(int64_t(d)) != 1) out[lead + d] = a.stride(int64_t(d)) * int64_t(a.itemsize());
}

void run_elementwise(InnerLoopFn fn, const std::vector<Array>& buffers, IntArrayRef domain) {
  SmallVector<const Array*, 16> ptrs;
  for (const Array& a : buffers) ptrs.push_back(&a);
  run_elementwise(fn, ptrs.data(), ptrs.size(), domain);
}

void run_elementwise(InnerLoopFn fn, const Array* const* buffers, size_t nb, IntArrayRef domain) {
  constexpr size_t kMaxRank = 8;
  const size_t rank = domain.size();
  EMBER_CHECK(rank <= kMaxRank, Error, "run_elementwise: rank ", rank, " is above ", kMaxRank);
  // Byte strides of each buffer over the domain (0 where it broadcasts), buffer-major.
  SmallVector<int64_t, 64> strides(nb * kMaxRank, 0);
  for (size_t b = 0; b < nb; ++b) broadcast_strides(*buffers[b], domain, &strides[b * kMaxRank]);
  const int64_t inner = rank ? domain[rank - 1] : 1;
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= domain[d];
  if (inner == 0 || rows == 0) return;
  SmallVector<int64_t, 16> inner_strides(nb, 0);
  for (size_t b = 0; b < nb; ++b) inner_strides[b] = rank ? strides[b * kMaxRank + rank - 1] : 0;
  // The flat range of elements is split across the pool (so one long row still uses every
  // thread); each chunk is walked in runs along the innermost dim.
  parallel_for(0, rows * inner, 32768, [&](int64_t lo, int64_t hi) {
    SmallVector<char*, 16> ptrs(nb, nullptr);
    for (int64_t pos = lo; pos < hi;) {
      const int64_t r = pos / inner, col = pos % inner, n = std::min(inner - col, hi - pos);
      for (size_t b = 0; b < nb; ++b) {
        int64_t offset = col * inner_strides[b], rest = r;
        for (size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {  // the outer dims (none for 0-dim)
          offset += (rest % domain[d]) * strides[b * kMaxRank + d];
          rest /= domain[d];
        }
        ptrs[b] = buffers[b]->data() + offset;
      }
      fn(ptrs.data(), inner_strides.data(), n);
      pos += n;
    }
  });
}

void bind_gathers(const KernelIR& kernel, const Array** bound, std::vector<Array>& keep) {
  size_t gathers = 0;
  for (const KernelIR::Expr& e : kernel.exprs) gathers += e.kind == KernelIR::ExprKind::Gather;
  if (!gathers) return;
  keep.reserve(keep.size() + 3 * gathers);
  for (const KernelIR::Expr& e : kernel.exprs) {
    if (e.kind != KernelIR::ExprKind::Gather) continue;
    const size_t t = size_t(e.buffer), j = size_t(kernel.exprs[size_t(e.args[0])].buffer);
    const Array& table = *bound[t];
    const Array& index = *bound[j];
    const int64_t d = e.dim;
    EMBER_CHECK(d < table.dim() && (e.op != ir::Op::Gather || index.dim() == table.dim()),
                ValueError, "bind_gathers: a ", ir::op_name(e.op), " along dim ", d, " of ",
                shape_str(table.sizes()), " with an index of ", shape_str(index.sizes()));
    const int64_t size = table.size(d);
    kernels::check_indices(index, size, d, std::string(ir::op_name(e.op)).c_str());
    Array source = table;
    if (size > 1 && source.stride(d) != e.int_value) source = kernels::contiguous(table);
    EMBER_INTERNAL_ASSERT(size <= 1 || source.stride(d) == e.int_value, "bind_gathers: table of ",
                          shape_str(table.sizes()), " has stride ", source.stride(d), " along ", d,
                          ", the kernel ", e.int_value);
    if (e.op == ir::Op::Gather) {
      for (int64_t k = 0; k < table.dim(); ++k)
        if (k != d) source = kernels::narrow(source, k, 0, index.size(k));
    } else {
      Shape lined_up{index.numel()};
      lined_up.resize(size_t(table.dim() - d), 1);
      keep.push_back(kernels::reshape(index, lined_up));
      bound[j] = &keep.back();
    }
    keep.push_back(kernels::narrow(source, d, 0, std::min<int64_t>(size, 1)));
    bound[t] = &keep.back();
  }
}

}  // namespace ember::codegen

namespace ember::codegen {
namespace {

// Byte strides of the dims [begin, end) of a buffer viewed over `domain`, folded into one stride
// (0 when they are all broadcast), or -1 when they do not fold.
int64_t folded_stride(const std::vector<int64_t>& strides, IntArrayRef domain, size_t begin,
                      size_t end) {
  int64_t inner = -1, span = 1;
  for (size_t d = end; d-- > begin;) {
    if (domain[d] == 1) continue;
    if (inner < 0)
      inner = strides[d];
    else if (strides[d] != inner * span)
      return -1;
    span *= domain[d];
  }
  return inner < 0 ? 0 : inner;
}

// The (row, column) strides of buffer a over domain, or false when its dims do not fold.
// Inputs line up with the domain as broadcasting does (right-aligned); an output that is one
// value per row without the reduced dims (a keepdim=false reduction) lines up with the leading
// dims (lower_rows stores no other lower-rank row output).
bool row_col_strides(const Array& a, bool leading, IntArrayRef domain, size_t split,
                     int64_t* pair) {
  const size_t rank = domain.size();
  std::vector<int64_t> strides(rank, 0);
  const size_t lead = leading ? 0 : rank - size_t(a.dim());
  for (size_t d = 0; d < size_t(a.dim()); ++d)
    if (a.size(int64_t(d)) != 1) strides[lead + d] = a.stride(int64_t(d)) * int64_t(a.itemsize());
  pair[0] = folded_stride(strides, domain, 0, split);
  pair[1] = folded_stride(strides, domain, split, rank);
  return pair[0] >= 0 && pair[1] >= 0;
}

// An input whose dims do not fold (a transposed or partly broadcast layout), copied to the
// dense layout the row kernel reads: the domain's shape, with the reduced dims 1 for a row-level
// input.
Array dense_for_rows(const Array& a, bool row_level, IntArrayRef domain, size_t split) {
  Shape target(domain.begin(), domain.end());
  if (row_level)
    for (size_t d = split; d < target.size(); ++d) target[d] = 1;
  return kernels::contiguous(kernels::expand(a, target));  // right-aligned, as broadcasting
}

}  // namespace

void run_rows(RowKernelFn fn, const KernelIR& kernel, const std::vector<Array>& buffers,
              IntArrayRef domain, int64_t reduced) {
  SmallVector<const Array*, 16> ptrs;
  for (const Array& a : buffers) ptrs.push_back(&a);
  run_rows(fn, kernel, ptrs.data(), ptrs.size(), domain, reduced);
}

RowBinding bind_rows(const KernelIR& kernel, const Array* const* buffers, size_t nb,
                     IntArrayRef domain, int64_t reduced) {
  RowBinding r;
  const size_t rank = domain.size(), split = rank - size_t(reduced);
  // Which buffers are per row.
  SmallVector<bool, 16> row_level(nb, false);
  for (const auto& e : kernel.exprs)
    if (e.kind == KernelIR::ExprKind::Load) row_level[size_t(e.buffer)] = e.row_level;
  for (const auto& [b, e] : kernel.stores) row_level[size_t(b)] = kernel.exprs[size_t(e)].row_level;
  for (size_t d = 0; d < rank; ++d) (d < split ? r.rows : r.cols) *= domain[d];
  r.strides.assign(2 * nb, 0);
  r.bound.assign(buffers, buffers + nb);
  if (r.rows == 0) return r;
  // Whether the kernel can read buffer b as laid out: its dims fold into a row and a column
  // stride, and element-level buffers are contiguous along the columns.
  SmallVector<bool, 16> stored(nb, false);
  for (const auto& [b, e] : kernel.stores) stored[size_t(b)] = true;
  auto readable = [&](const Array& a, size_t b) {
    if (a.numel() == 0) {  // an empty reduced dim (cols == 0): never read or written
      r.strides[2 * b] = r.strides[2 * b + 1] = 0;
      return true;
    }
    const bool leading = stored[b] && row_level[b] && size_t(a.dim()) == split;
    return row_col_strides(a, leading, domain, split, &r.strides[2 * b]) &&
           (row_level[b] || r.cols <= 1 || r.strides[2 * b + 1] == int64_t(a.itemsize()));
  };
  r.dense.reserve(nb);  // the pointers to its arrays stay valid
  for (size_t b = 0; b < nb; ++b) {
    if (readable(*buffers[b], b)) continue;
    EMBER_CHECK(!kernel.buffers[b].output, Error, "run_rows: output buffer ", b,
                " has a layout whose dims do not fold");
    r.dense.push_back(dense_for_rows(*buffers[b], row_level[b], domain, split));
    r.bound[b] = &r.dense.back();
    EMBER_INTERNAL_ASSERT(readable(*r.bound[b], b), "a dense row-kernel input must be readable");
  }
  return r;
}

void run_rows(RowKernelFn fn, const KernelIR& kernel, const Array* const* buffers, size_t nb,
              IntArrayRef domain, int64_t reduced) {
  const RowBinding r = bind_rows(kernel, buffers, nb, domain, reduced);
  if (r.rows == 0) return;
  const int64_t cols = r.cols;
  size_t scratch_rows = 0;
  for (const auto& e : kernel.exprs) scratch_rows += e.scratch;
  parallel_for(0, r.rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1)),
               [&](int64_t lo, int64_t hi) {
                 // Each chunk gets its own scratch rows, 8 bytes per column each.
                 std::vector<int64_t> scratch(scratch_rows * size_t(cols));
                 std::vector<char*> ptrs(nb + scratch_rows);
                 for (size_t b = 0; b < nb; ++b) ptrs[b] = r.bound[b]->data();
                 for (size_t s = 0; s < scratch_rows; ++s)
                   ptrs[nb + s] = reinterpret_cast<char*>(scratch.data() + s * size_t(cols));
                 fn(ptrs.data(), r.strides.data(), lo, hi, cols);
               });
}

void launch_host_kernel(const TieredKernel& compiled, const KernelIR& kernel,
                        const Array* const* buffers, size_t num_buffers, IntArrayRef domain,
                        int64_t reduced) {
  if (kernel.rows)
    run_rows(compiled.entry<RowKernelFn>(), kernel, buffers, num_buffers, domain, reduced);
  else
    run_elementwise(compiled.entry<InnerLoopFn>(), buffers, num_buffers, domain);
}

}  // namespace ember::codegen
