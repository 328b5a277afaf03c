// Reductions over any set of dims. The kept dims and the reduced dims are each coalesced; when the
// input's innermost dim is reduced, each output reduces a run of memory with several independent
// accumulators (the row path); when it is kept, blocks of neighbouring outputs accumulate
// together, so every load is contiguous (the column path). Float sums accumulate in double.
#include <cctype>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ember/runtime/kernels.h"
#include "runtime/kernels/loops.h"
#include "runtime/kernels/scalar_ops.h"

namespace ember::kernels {
namespace {

struct Dims {
  Shape sizes, strides;  // outermost first
  int64_t numel() const { return numel_of(sizes); }
};

// Drops size-1 dims and merges neighbours that step over each other.
Dims coalesce(const Dims& in) {
  Dims out;
  for (size_t i = 0; i < in.sizes.size(); ++i) {
    if (in.sizes[i] == 1) continue;
    if (!out.sizes.empty() && out.strides.back() == in.strides[i] * in.sizes[i]) {
      out.sizes.back() *= in.sizes[i];
      out.strides.back() = in.strides[i];
      continue;
    }
    out.sizes.push_back(in.sizes[i]);
    out.strides.push_back(in.strides[i]);
  }
  return out;
}

// Offset (in elements) of flat index i within a Dims space.
inline int64_t offset_of(const Dims& d, int64_t i) {
  int64_t off = 0;
  for (size_t k = d.sizes.size(); k-- > 0;) {
    off += (i % d.sizes[k]) * d.strides[k];
    i /= d.sizes[k];
  }
  return off;
}

// Accumulation rules of each op for storage type T.
template <ReduceOp Op, class T>
struct Reducer {
  using C = compute_t<T>;
  static constexpr bool kAdd = Op == ReduceOp::Sum || Op == ReduceOp::Mean;
  using Acc =
      std::conditional_t<(kAdd || Op == ReduceOp::Prod),
                         std::conditional_t<std::is_floating_point_v<C>, double, int64_t>, C>;
  using Out = std::conditional_t<(kAdd || Op == ReduceOp::Prod) && !std::is_floating_point_v<C>,
                                 int64_t, T>;
  static Acc init() {
    if constexpr (kAdd)
      return Acc(0);
    else if constexpr (Op == ReduceOp::Prod)
      return Acc(1);
    else if constexpr (Op == ReduceOp::Max) {
      if constexpr (std::is_floating_point_v<C>)
        return -std::numeric_limits<C>::infinity();
      else
        return std::numeric_limits<C>::lowest();
    } else {
      if constexpr (std::is_floating_point_v<C>)
        return std::numeric_limits<C>::infinity();
      else
        return std::numeric_limits<C>::max();
    }
  }
  static Acc combine(Acc a, Acc b) {
    if constexpr (kAdd)
      return wrap_add(a, b);
    else if constexpr (Op == ReduceOp::Prod)
      return wrap_mul(a, b);
    else if constexpr (Op == ReduceOp::Max)
      return nan_max(a, b);
    else
      return nan_min(a, b);
  }
  static Acc load(const T* p) { return Acc(C(*p)); }
};

// Reduces n elements at stride s (elements) with eight independent accumulators, which the
// compiler vectorizes for the contiguous case without reassociating a single running sum.
template <class R, class T>
typename R::Acc reduce_run(const T* p, int64_t n, int64_t s) {
  using Acc = typename R::Acc;
  Acc acc[8];
  for (auto& a : acc) a = R::init();
  int64_t i = 0;
  if (s == 1) {
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] = R::combine(acc[k], R::load(p + i + k));
  }
  for (; i < n; ++i) acc[0] = R::combine(acc[0], R::load(p + i * s));
  Acc total = acc[0];
  for (int k = 1; k < 8; ++k) total = R::combine(total, acc[k]);
  return total;
}

template <ReduceOp Op, class T>
void reduce_impl(const Array& in, const Dims& kept, const Dims& red, const Array& out,
                 int64_t count) {
  using R = Reducer<Op, T>;
  using Acc = typename R::Acc;
  using Out = typename R::Out;
  const T* src = in.data_as<T>();
  Out* dst = out.data_as<Out>();
  const int64_t nout = kept.numel();
  const int64_t nred = red.numel();
  auto finish = [&](Acc a) -> Out {
    if constexpr (Op == ReduceOp::Mean)
      return Out(compute_t<T>(double(a) / double(count)));
    else
      return Out(compute_t<Out>(a));
  };
  // Row path: the innermost reduced dim is the run; the rest of the reduced space is walked.
  const bool row = red.sizes.empty() || kept.sizes.empty() ||
                   std::abs(red.strides.back()) <= std::abs(kept.strides.back());
  if (row) {
    Dims red_outer = red;
    int64_t run = 1, run_stride = 1;
    if (!red.sizes.empty()) {
      run = red.sizes.back();
      run_stride = red.strides.back();
      red_outer.sizes.pop_back();
      red_outer.strides.pop_back();
    }
    const int64_t nouter = red_outer.numel();
    if (nout == 1 && nouter == 1 && run >= 4 * kParallelGrain) {
      // One long run (a full reduction of a contiguous array): fixed blocks reduced in parallel
      // and combined in order, so the result does not depend on the number of threads.
      constexpr int64_t kBlocks = 64;
      const int64_t block = (run + kBlocks - 1) / kBlocks;
      Acc partial[kBlocks];
      parallel_for(0, kBlocks, 1, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          const int64_t lo = std::min(run, k * block), hi = std::min(run, lo + block);
          partial[k] =
              reduce_run<R>(src + offset_of(kept, 0) + lo * run_stride, hi - lo, run_stride);
        }
      });
      Acc acc = R::init();
      for (Acc p : partial) acc = R::combine(acc, p);
      dst[0] = finish(acc);
      return;
    }
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(nred, 1));
    parallel_for(0, nout, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* base = src + offset_of(kept, o);
        Acc acc = R::init();
        for (int64_t r = 0; r < nouter; ++r)
          acc = R::combine(acc, reduce_run<R>(base + offset_of(red_outer, r), run, run_stride));
        dst[o] = finish(acc);
      }
    });
    return;
  }
  // Column path: outputs along the innermost kept dim accumulate in blocks.
  constexpr int64_t kBlock = 256;
  Dims kept_outer = kept;
  const int64_t inner = kept.sizes.back(), inner_stride = kept.strides.back();
  kept_outer.sizes.pop_back();
  kept_outer.strides.pop_back();
  const int64_t nblocks = (inner + kBlock - 1) / kBlock;
  const int64_t ntasks = kept_outer.numel() * nblocks;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(nred * kBlock, 1));
  parallel_for(0, ntasks, grain, [&](int64_t b, int64_t e) {
    Acc acc[kBlock];
    for (int64_t t = b; t < e; ++t) {
      const int64_t ko = t / nblocks, j0 = (t % nblocks) * kBlock;
      const int64_t m = std::min(kBlock, inner - j0);
      const T* base = src + offset_of(kept_outer, ko) + j0 * inner_stride;
      for (int64_t j = 0; j < m; ++j) acc[j] = R::init();
      for (int64_t r = 0; r < nred; ++r) {
        const T* p = base + offset_of(red, r);
        if (inner_stride == 1)
          for (int64_t j = 0; j < m; ++j) acc[j] = R::combine(acc[j], R::load(p + j));
        else
          for (int64_t j = 0; j < m; ++j)
            acc[j] = R::combine(acc[j], R::load(p + j * inner_stride));
      }
      Out* o = dst + ko * inner + j0;
      for (int64_t j = 0; j < m; ++j) o[j] = finish(acc[j]);
    }
  });
}

template <class F>
void dispatch_reduce_op(ReduceOp op, F&& fn) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_REDUCE_OP(name, kernel, text) \
  case ReduceOp::kernel:                    \
    return fn.template operator()<ReduceOp::kernel>();
#define EMBER_EAGER_REDUCE_OP(kernel, text) EMBER_REDUCE_OP(kernel, kernel, text)
#include "ember/ir/ops.def"
#undef EMBER_OP
  }
}

Shape reduced_shape(const Array& a, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < a.dim(); ++d) {
    const bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced)
      out.push_back(a.size(d));
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

}  // namespace

// The names in messages: the kernel's name in lower case (sum, prod, max, min, mean).
const char* op_name(ReduceOp op) {
  static const auto names = [] {
    std::vector<std::string> out = {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_REDUCE_OP(name, kernel, text) #kernel,
#define EMBER_EAGER_REDUCE_OP(kernel, text) #kernel,
#include "ember/ir/ops.def"
#undef EMBER_OP
    };
    for (std::string& s : out) s[0] = char(std::tolower(static_cast<unsigned char>(s[0])));
    return out;
  }();
  return names[static_cast<size_t>(op)].c_str();
}

Array reduce(ReduceOp op, const Array& a, IntArrayRef dims_in, bool keepdim) {
  const char* name = op_name(op);
  const std::vector<int64_t> dims = wrap_dims(dims_in, a.dim(), name);
  Dims kept, red;
  for (int64_t d = 0; d < a.dim(); ++d) {
    Dims& target = std::find(dims.begin(), dims.end(), d) != dims.end() ? red : kept;
    target.sizes.push_back(a.size(d));
    target.strides.push_back(a.stride(d));
  }
  const int64_t count = red.numel();
  if (op == ReduceOp::Mean)
    EMBER_CHECK(is_floating(a.dtype()), DTypeError,
                "mean: could not infer output dtype. Input dtype must be a floating point dtype, "
                "but got ",
                a.dtype());
  if (op == ReduceOp::Max || op == ReduceOp::Min)
    EMBER_CHECK(count > 0 || kept.numel() == 0, ShapeError, name,
                ": cannot reduce over a zero-size dimension (input shape ", shape_str(a.sizes()),
                ", dims ", shape_str(dims), "); the identity is undefined");
  const DType out_dtype = (op == ReduceOp::Sum || op == ReduceOp::Prod) && !is_floating(a.dtype())
                              ? DType::Int64
                              : a.dtype();
  Array out = Array::empty(reduced_shape(a, dims, keepdim), out_dtype);
  const Dims kept_c = coalesce(kept), red_c = coalesce(red);
  dispatch_reduce_op(op, [&]<ReduceOp Op>() {
    dispatch_dtype(a.dtype(), [&]<class T>() {
      if constexpr (Op == ReduceOp::Mean && !std::is_floating_point_v<compute_t<T>>)
        throw InternalError("mean reached an integer kernel");
      else
        reduce_impl<Op, T>(a, kept_c, red_c, out, count);
    });
  });
  return out;
}

std::pair<Array, Array> max_min_dim(bool is_max, const Array& a, int64_t dim_in, bool keepdim) {
  const char* name = is_max ? "max" : "min";
  const int64_t dim = wrap_dim(dim_in, a.dim(), name);
  const int64_t n = a.dim() == 0 ? 1 : a.size(dim);
  const std::vector<int64_t> dims = a.dim() == 0 ? std::vector<int64_t>{} : std::vector{dim};
  Dims kept;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d != dim) {
      kept.sizes.push_back(a.size(d));
      kept.strides.push_back(a.stride(d));
    }
  const int64_t stride = a.dim() == 0 ? 1 : a.stride(dim);
  const Shape shape = reduced_shape(a, dims, keepdim);
  EMBER_CHECK(n > 0 || numel_of(shape) == 0, ShapeError, name, ": expected reduction dim ", dim,
              " to have non-zero size (input shape ", shape_str(a.sizes()), ")");
  Array values = Array::empty(shape, a.dtype());
  Array indices = Array::empty(shape, DType::Int64);
  dispatch_dtype(a.dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const T* src = a.data_as<T>();
    T* vals = values.data_as<T>();
    int64_t* idx = indices.data_as<int64_t>();
    parallel_for(0, numel_of(shape), std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t o = b; o < e; ++o) {
                     const T* p = src + offset_of(kept, o);
                     C best = C(p[0]);
                     int64_t best_i = 0;
                     for (int64_t i = 1; i < n; ++i) {
                       const C v = C(p[i * stride]);
                       bool better = is_max ? v > best : v < best;
                       if constexpr (std::is_floating_point_v<C>)
                         better |= (v != v && best == best);
                       if (better) {
                         best = v;
                         best_i = i;
                       }
                     }
                     vals[o] = T(best);
                     idx[o] = best_i;
                   }
                 });
  });
  return {values, indices};
}

Array arg_reduce(bool is_max, const Array& a, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return max_min_dim(is_max, a, *dim, keepdim).second;
  const char* name = is_max ? "argmax" : "argmin";
  EMBER_CHECK(a.numel() > 0, ShapeError, name,
              ": expected a non-empty tensor when no dim is given (input shape ",
              shape_str(a.sizes()), ")");
  Array flat = reshape(a, {a.numel()});
  Array index = max_min_dim(is_max, flat, 0, false).second;
  if (keepdim) return reshape(index, Shape(size_t(a.dim()), 1));
  return index;
}

Array var(const Array& a, IntArrayRef dims_in, double correction, bool keepdim) {
  EMBER_CHECK(is_floating(a.dtype()), DTypeError,
              "var: only floating point dtypes are supported, but got ", a.dtype());
  const std::vector<int64_t> dims = wrap_dims(dims_in, a.dim(), "var");
  int64_t count = 1;
  for (int64_t d : dims) count *= a.size(d);
  const Array mean = reduce(ReduceOp::Mean, a, dims, true);
  const Array diff = binary(BinaryOp::Sub, a, mean);
  const Array sq = binary(BinaryOp::Mul, diff, diff);
  const Array sum = reduce(ReduceOp::Sum, sq, dims, keepdim);
  const double denom = std::max(0.0, double(count) - correction);
  return binary(BinaryOp::Div, sum, Array::scalar(denom, a.dtype()));
}

}  // namespace ember::kernels
