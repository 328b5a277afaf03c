// The hot composites as fused eager kernels: softmax, log_softmax and layer_norm read each row
// once from memory (the row stays in L1 for the passes over it). Rows along a non-last dim are read
// with their stride, no copies. The row reductions use `omp simd` (with -fopenmp-simd, no runtime)
// to let the compiler vectorize them, which reassociates the sums within a row.
#include <cmath>
#include <limits>
#include <vector>

#include "ember/runtime/kernels.h"
#include "runtime/kernels/loops.h"
#include "runtime/kernels/vec_math.h"

namespace ember::kernels {
namespace {

template <class C>
EMBER_VEC_INLINE C exp_c(C x) {
  if constexpr (std::is_same_v<C, float>)
    return vec_math::exp(x);
  else
    return std::exp(x);
}

// The rows of `a` along dim: offsets of each row's first element in a and in a contiguous output.
struct Rows {
  int64_t count = 1, length = 1, in_stride = 1, out_stride = 1;
  Shape sizes, in_strides, out_strides;  // the other dims
  void offsets(int64_t r, int64_t& in, int64_t& out) const {
    in = out = 0;
    for (size_t k = sizes.size(); k-- > 0;) {
      const int64_t i = r % sizes[k];
      r /= sizes[k];
      in += i * in_strides[k];
      out += i * out_strides[k];
    }
  }
};
Rows rows_of(const Array& a, int64_t dim) {
  Rows rows;
  const Shape out_strides = contiguous_strides(a.sizes());
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (d == dim) {
      rows.length = a.size(d);
      rows.in_stride = a.stride(d);
      rows.out_stride = out_strides[size_t(d)];
      continue;
    }
    rows.sizes.push_back(a.size(d));
    rows.in_strides.push_back(a.stride(d));
    rows.out_strides.push_back(out_strides[size_t(d)]);
    rows.count *= a.size(d);
  }
  return rows;
}

template <bool kLog>
Array softmax_impl(const Array& a, int64_t dim_in, const char* name) {
  EMBER_CHECK(is_floating(a.dtype()), DTypeError, name,
              ": expected a floating point input, but got ", a.dtype());
  const int64_t dim = wrap_dim(dim_in, a.dim(), name);
  Array out = Array::empty(a.sizes(), a.dtype());
  if (a.numel() == 0) return out;
  const Rows rows = a.dim() == 0 ? Rows{} : rows_of(a, dim);
  dispatch_dtype(a.dtype(), [&]<class T>() {
    using C = compute_t<T>;
    if constexpr (std::is_floating_point_v<C>) {
      const T* src = a.data_as<T>();
      T* dst = out.data_as<T>();
      const int64_t n = rows.length, is = rows.in_stride, os = rows.out_stride;
      parallel_for(0, rows.count, std::max<int64_t>(1, kParallelGrain / n),
                   [&](int64_t b, int64_t e) {
                     std::vector<C> buf(static_cast<size_t>(n));
                     for (int64_t r = b; r < e; ++r) {
                       int64_t io, oo;
                       rows.offsets(r, io, oo);
                       const T* x = src + io;
                       for (int64_t i = 0; i < n; ++i) buf[size_t(i)] = C(x[i * is]);
                       C mx = -std::numeric_limits<C>::infinity();
                       const C* v = buf.data();
#pragma omp simd reduction(max : mx)
                       for (int64_t i = 0; i < n; ++i) mx = std::max(mx, v[i]);
                       if (std::isinf(mx)) mx = 0;  // all -inf rows give NaN below, as in PyTorch
                       C sum = 0;
                       if constexpr (kLog) {
#pragma omp simd reduction(+ : sum)
                         for (int64_t i = 0; i < n; ++i) sum += exp_c(v[i] - mx);
                         const C shift = mx + std::log(sum);
                         for (int64_t i = 0; i < n; ++i)
                           dst[oo + i * os] = T(buf[size_t(i)] - shift);
                       } else {
                         C* w = buf.data();
#pragma omp simd reduction(+ : sum)
                         for (int64_t i = 0; i < n; ++i) {
                           w[i] = exp_c(w[i] - mx);
                           sum += w[i];
                         }
                         const C inv = C(1) / sum;
                         for (int64_t i = 0; i < n; ++i) dst[oo + i * os] = T(buf[size_t(i)] * inv);
                       }
                       // NaN anywhere in the row makes the whole row NaN (max skips it, sum catches
                       // it).
                     }
                   });
    }
  });
  return out;
}

}  // namespace

Array softmax(const Array& a, int64_t dim) { return softmax_impl<false>(a, dim, "softmax"); }
Array log_softmax(const Array& a, int64_t dim) { return softmax_impl<true>(a, dim, "log_softmax"); }

void check_layer_norm_input(IntArrayRef sizes, DType dtype, IntArrayRef normalized_shape) {
  const size_t nd = normalized_shape.size();
  bool fits = nd >= 1 && sizes.size() >= nd;
  for (size_t i = 0; fits && i < nd; ++i)
    fits = sizes[sizes.size() - nd + i] == normalized_shape[i];
  EMBER_CHECK(fits, ShapeError, "layer_norm: given normalized_shape=", shape_str(normalized_shape),
              ", expected input with shape [*, ", shape_str(normalized_shape),
              "] (trailing dims), but got input of size ", shape_str(sizes));
  EMBER_CHECK(is_floating(dtype), DTypeError,
              "layer_norm: expected a floating point input, but got ", dtype);
}

Array layer_norm(const Array& a, IntArrayRef normalized_shape, const Array* weight,
                 const Array* bias, double eps) {
  check_layer_norm_input(a.sizes(), a.dtype(), normalized_shape);
  for (const Array* p : {weight, bias}) {
    if (!p) continue;
    EMBER_CHECK(p->sizes() == normalized_shape.vec(), ShapeError, "layer_norm: expected ",
                p == weight ? "weight" : "bias", " of shape ", shape_str(normalized_shape),
                ", but got ", shape_str(p->sizes()));
  }
  const Array x = contiguous(a);
  const int64_t n = numel_of(normalized_shape);
  const int64_t count = n == 0 ? 0 : x.numel() / n;
  Array out = Array::empty(a.sizes(), a.dtype());
  dispatch_dtype(a.dtype(), [&]<class T>() {
    using C = compute_t<T>;
    if constexpr (std::is_floating_point_v<C>) {
      const Array w = weight ? contiguous(cast(*weight, DType::Float64)) : Array();
      const Array bb = bias ? contiguous(cast(*bias, DType::Float64)) : Array();
      // Weight and bias in the compute type, once.
      std::vector<C> wv(size_t(n), C(1)), bv(size_t(n), C(0));
      for (int64_t i = 0; i < n; ++i) {
        if (weight) wv[size_t(i)] = C(w.data_as<double>()[i]);
        if (bias) bv[size_t(i)] = C(bb.data_as<double>()[i]);
      }
      const T* src = x.data_as<T>();
      T* dst = out.data_as<T>();
      parallel_for(0, count, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t r = b; r < e; ++r) {
                       const T* row = src + r * n;
                       double s = 0;
#pragma omp simd reduction(+ : s)
                       for (int64_t i = 0; i < n; ++i) s += double(C(row[i]));
                       const C mean = C(s / double(n));
                       double ss = 0;
#pragma omp simd reduction(+ : ss)
                       for (int64_t i = 0; i < n; ++i) {
                         const double dv = double(C(row[i]) - mean);
                         ss += dv * dv;
                       }
                       const C rstd = C(1.0 / std::sqrt(ss / double(n) + eps));
                       T* o = dst + r * n;
                       for (int64_t i = 0; i < n; ++i)
                         o[i] = T((C(row[i]) - mean) * rstd * wv[size_t(i)] + bv[size_t(i)]);
                     }
                   });
    }
  });
  return out;
}

Array dropout(const Array& a, double p, bool train) {
  EMBER_CHECK(p >= 0 && p <= 1, ValueError,
              "dropout: probability has to be between 0 and 1, but got ", p);
  if (!train || p == 0) return a;
  EMBER_CHECK(is_floating(a.dtype()), DTypeError,
              "dropout: expected a floating point input, but got ", a.dtype());
  if (p == 1) return full(a.sizes(), 0.0, a.dtype());
  const Array keep =
      binary(BinaryOp::Ge, rand(a.sizes(), DType::Float32), Array::scalar(p, DType::Float32));
  const Array scaled = binary(BinaryOp::Mul, a, Array::scalar(1.0 / (1.0 - p), a.dtype()));
  return where(keep, scaled, Array::scalar(0.0, a.dtype()));
}

}  // namespace ember::kernels
