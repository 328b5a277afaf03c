// Ops along one dim that look at a whole line of it: cumsum, argsort and topk. Each works on the
// lines of a contiguous copy (outer x n x inner), one line per task.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ember/runtime/kernels.h"
#include "ember/runtime/thread_pool.h"

namespace ember::kernels {
namespace {

// The lines along dim d of a contiguous array: element j of line (o, i) is at
// o * n * inner + j * inner + i.
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
  Lines(const Array& a, int64_t d) {
    if (a.dim() == 0) return;
    n = a.size(d);
    for (int64_t k = 0; k < d; ++k) outer *= a.size(k);
    for (int64_t k = d + 1; k < a.dim(); ++k) inner *= a.size(k);
  }
  int64_t count() const { return outer * inner; }
  int64_t base(int64_t line) const { return (line / inner) * n * inner + line % inner; }
  // Lines per task: about 32k elements each.
  int64_t grain() const { return std::max<int64_t>(1, 32768 / std::max<int64_t>(n, 1)); }
};

int64_t line_dim(const Array& a, int64_t dim, const char* op) {
  return a.dim() == 0 ? 0 : wrap_dim(dim, a.dim(), op);
}

// Whether x sorts before y in ascending order: NaN is larger than every number, as in PyTorch.
template <class C>
bool ascending_before(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
  }
  return x < y;
}

// The positions of a line in sorted order (ascending, or descending when `descending`), equal
// values in their original order; only the first `k` are ordered when k < n.
template <class T>
void order_line(const T* x, int64_t n, int64_t inner, int64_t k, bool descending,
                std::vector<int64_t>& pos) {
  using C = compute_t<T>;
  pos.resize(size_t(n));
  std::iota(pos.begin(), pos.end(), 0);
  auto before = [&](int64_t i, int64_t j) {
    const C a = C(x[i * inner]), b = C(x[j * inner]);
    if (descending ? ascending_before(b, a) : ascending_before(a, b)) return true;
    if (descending ? ascending_before(a, b) : ascending_before(b, a)) return false;
    return i < j;  // ties keep their order: the sort is stable
  };
  if (k < n)
    std::partial_sort(pos.begin(), pos.begin() + k, pos.end(), before);
  else
    std::sort(pos.begin(), pos.end(), before);
}

// The indices of the first k positions of every line's order, along dim.
Array order(const Array& a, int64_t dim, int64_t k, bool descending, const char* op) {
  const int64_t d = line_dim(a, dim, op);
  const Array x = contiguous(a);
  const Lines lines(x, d);
  Shape sizes = a.sizes();
  if (a.dim() > 0) sizes[size_t(d)] = k;
  Array out = Array::empty(sizes, DType::Int64);
  int64_t* dst = out.data_as<int64_t>();
  dispatch_dtype(a.dtype(), [&]<class T>() {
    const T* src = x.data_as<T>();
    parallel_for(0, lines.count(), lines.grain(), [&](int64_t begin, int64_t end) {
      std::vector<int64_t> pos;
      for (int64_t line = begin; line < end; ++line) {
        const int64_t in_base = lines.base(line);
        const int64_t out_base = (line / lines.inner) * k * lines.inner + line % lines.inner;
        order_line(src + in_base, lines.n, lines.inner, k, descending, pos);
        for (int64_t j = 0; j < k; ++j) dst[out_base + j * lines.inner] = pos[size_t(j)];
      }
    });
  });
  return out;
}

}  // namespace

DType cumsum_result_type(DType input) { return is_floating(input) ? input : DType::Int64; }

Array cumsum(const Array& a, int64_t dim) {
  const int64_t d = line_dim(a, dim, "cumsum");
  const Array x = contiguous(a);
  const Lines lines(x, d);
  const DType out_dtype = cumsum_result_type(a.dtype());
  Array out = Array::empty(a.sizes(), out_dtype);
  dispatch_dtype(a.dtype(), [&]<class T>() {
    dispatch_dtype(out_dtype, [&]<class R>() {
      if constexpr (std::is_same_v<R, int64_t> || !std::is_integral_v<R>) {
        // Floats accumulate in double (PyTorch's CPU accumulation type), integers in int64.
        using Acc = std::conditional_t<std::is_integral_v<R>, int64_t, double>;
        const T* src = x.data_as<T>();
        R* dst = out.data_as<R>();
        parallel_for(0, lines.count(), lines.grain(), [&](int64_t begin, int64_t end) {
          for (int64_t line = begin; line < end; ++line) {
            const int64_t base = lines.base(line);
            Acc acc = 0;
            for (int64_t j = 0; j < lines.n; ++j) {
              const int64_t at = base + j * lines.inner;
              acc += Acc(compute_t<T>(src[at]));
              dst[at] = R(compute_t<R>(acc));
            }
          }
        });
      }
    });
  });
  return out;
}

Array argsort(const Array& a, int64_t dim, bool descending) {
  const int64_t d = line_dim(a, dim, "argsort");
  return order(a, d, a.dim() == 0 ? 1 : a.size(d), descending, "argsort");
}

Array topk(const Array& a, int64_t k, int64_t dim, bool largest) {
  const int64_t d = line_dim(a, dim, "topk");
  const int64_t n = a.dim() == 0 ? 1 : a.size(d);
  EMBER_CHECK(k >= 0 && k <= n, IndexError, "topk: k (", k, ") is out of range for dimension ", d,
              " of size ", n, " (shape ", shape_str(a.sizes()), ")");
  return order(a, d, k, largest, "topk");
}

}  // namespace ember::kernels
