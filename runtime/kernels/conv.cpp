// conv2d as im2col + GEMM (OpenBLAS), with groups, stride, padding and dilation; 1x1 convolutions
// with unit stride and no padding skip im2col. float32 goes through oneDNN's direct convolutions
// instead when the build has it (dnnl.cpp). max_pool2d and avg_pool2d loop over planes in
// parallel. float32 and float64 compute natively, float16/bfloat16 in float32.
#include <cblas.h>

#include <cmath>
#include <limits>

#include "ember/runtime/checked.h"
#include "ember/runtime/kernels.h"
#include "runtime/kernels/loops.h"
#ifdef EMBER_HAVE_DNNL
#include "runtime/kernels/dnnl.h"
#endif

namespace ember::kernels {
namespace {

void check_spatial(const Array& x, const char* op) {
  EMBER_CHECK(x.dim() == 3 || x.dim() == 4, ShapeError, op,
              ": expected 3-D (unbatched) or 4-D (batched) input, but got input of size ",
              shape_str(x.sizes()));
  EMBER_CHECK(is_floating(x.dtype()), DTypeError, op, ": expected a floating point input, but got ",
              x.dtype());
}

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c) {
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, a, int(k),
                b, int(n), 0.0f, c, int(n));
  else
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0, a, int(k),
                b, int(n), 0.0, c, int(n));
}

template <class T>
void conv2d_impl(const Array& x, const Array& w, const Array* bias, const Conv2dParams& p,
                 const Array& out) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t Ho = out.size(2), Wo = out.size(3), G = p.groups;
  const int64_t Cg = C / G, Og = O / G, K = Cg * kh * kw, L = Ho * Wo;
  const bool direct = kh == 1 && kw == 1 && p.stride == std::array<int64_t, 2>{1, 1} &&
                      p.padding == std::array<int64_t, 2>{0, 0};
  std::vector<T> col(direct ? 0 : size_t(K * L));
  const T* src = x.data_as<T>();
  const T* wt = w.data_as<T>();
  T* dst = out.data_as<T>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const T* xin = src + (n * C + g * Cg) * H * W;
      const T* cols = xin;
      if (!direct) {
        parallel_for(0, K, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(L, 1)),
                     [&](int64_t b, int64_t e) {
                       for (int64_t r = b; r < e; ++r) {
                         const int64_t c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
                         T* crow = col.data() + r * L;
                         for (int64_t oh = 0; oh < Ho; ++oh) {
                           const int64_t ih = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
                           for (int64_t ow = 0; ow < Wo; ++ow) {
                             const int64_t iw = ow * p.stride[1] - p.padding[1] + j * p.dilation[1];
                             crow[oh * Wo + ow] = (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                                      ? xin[(c * H + ih) * W + iw]
                                                      : T(0);
                           }
                         }
                       }
                     });
        cols = col.data();
      }
      gemm<T>(Og, L, K, wt + g * Og * K, cols, dst + (n * O + g * Og) * L);
    }
  }
  if (bias) {
    const Array b = contiguous(cast(*bias, out.dtype()));
    const T* bv = b.data_as<T>();
    parallel_for(0, N * O, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(L, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t r = lo; r < hi; ++r)
                     for (int64_t l = 0; l < L; ++l) dst[r * L + l] += bv[r % O];
                 });
  }
}

}  // namespace

int64_t window_output_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const char* op = "conv/pool window";  // sizes from the caller or an IR file: checked
  const int64_t span = checked_sub(checked_add(in, checked_mul(2, p, op), op),
                                   checked_add(checked_mul(d, k - 1, op), 1, op), op);
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? span / s + (span % s != 0) : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

Array conv2d(const Array& input, const Array& weight, const Array* bias, const Conv2dParams& p) {
  check_spatial(input, "conv2d");
  EMBER_CHECK(weight.dim() == 4, ShapeError,
              "conv2d: expected a 4-D weight, but got weight of size ", shape_str(weight.sizes()));
  EMBER_CHECK(weight.dtype() == input.dtype(), DTypeError,
              "conv2d: input and weight must have the same dtype, but got ", input.dtype(), " and ",
              weight.dtype());
  EMBER_CHECK(p.groups >= 1, ValueError, "conv2d: groups must be positive, but got ", p.groups);
  for (int k = 0; k < 2; ++k) {
    EMBER_CHECK(p.stride[k] >= 1, ValueError, "conv2d: stride must be positive, but got ",
                p.stride[k], " in dimension ", k);
    EMBER_CHECK(p.dilation[k] >= 1, ValueError, "conv2d: dilation must be positive, but got ",
                p.dilation[k], " in dimension ", k);
    EMBER_CHECK(p.padding[k] >= 0, ValueError, "conv2d: padding must be non-negative, but got ",
                p.padding[k], " in dimension ", k);
  }
  const bool batched = input.dim() == 4;
  const Array x = batched ? input : unsqueeze(input, 0);
  const int64_t C = x.size(1), O = weight.size(0);
  EMBER_CHECK(p.groups <= std::max<int64_t>(C, 1) && C == weight.size(1) * p.groups, ShapeError,
              "conv2d: given groups=", p.groups, ", weight of size ", shape_str(weight.sizes()),
              ", expected input ", shape_str(input.sizes()), " to have ", weight.size(1) * p.groups,
              " channels, but got ", C, " channels instead");
  EMBER_CHECK(O % p.groups == 0, ShapeError, "conv2d: out_channels (", O,
              ") must be divisible by groups (", p.groups, ")");
  if (bias)
    EMBER_CHECK(bias->dim() == 1 && bias->size(0) == O, ShapeError,
                "conv2d: expected bias of shape [", O, "], but got ", shape_str(bias->sizes()));
  const int64_t Ho = window_output_size(x.size(2), weight.size(2), p.stride[0], p.padding[0],
                                        p.dilation[0], false);
  const int64_t Wo = window_output_size(x.size(3), weight.size(3), p.stride[1], p.padding[1],
                                        p.dilation[1], false);
  EMBER_CHECK(Ho > 0 && Wo > 0, ShapeError, "conv2d: calculated output size [", Ho, ", ", Wo,
              "] is too small for input ", shape_str(input.sizes()), " and kernel ",
              shape_str(weight.sizes()));
  Array out;
  if (input.dtype() == DType::Float16 || input.dtype() == DType::BFloat16) {
    const Array b32 = bias ? cast(*bias, DType::Float32) : Array();
    out = cast(
        conv2d(cast(x, DType::Float32), cast(weight, DType::Float32), bias ? &b32 : nullptr, p),
        input.dtype());
  } else {
    out = Array::empty({x.size(0), O, Ho, Wo}, x.dtype());
    const Array xc = contiguous(x), wc = contiguous(weight);
#ifdef EMBER_HAVE_DNNL
    if (detail::dnnl_conv2d(xc, wc, bias, p, out)) return batched ? out : select(out, 0, 0);
#endif
    if (x.dtype() == DType::Float32)
      conv2d_impl<float>(xc, wc, bias, p, out);
    else
      conv2d_impl<double>(xc, wc, bias, p, out);
  }
  return batched ? out : select(out, 0, 0);
}

namespace {

template <bool kMax>
Array pool2d(const Array& input, const Pool2dParams& p, const char* name) {
  check_spatial(input, name);
  for (int k = 0; k < 2; ++k) {
    EMBER_CHECK(p.kernel[k] >= 1 && p.stride[k] >= 1 && p.dilation[k] >= 1, ValueError, name,
                ": kernel, stride and dilation must be positive (dimension ", k, ")");
    EMBER_CHECK(p.padding[k] >= 0 && p.padding[k] * 2 <= (p.kernel[k] - 1) * p.dilation[k] + 1,
                ValueError, name,
                ": pad should be at most half of effective kernel size, but got pad=", p.padding[k],
                ", kernel_size=", p.kernel[k], " and dilation=", p.dilation[k]);
  }
  const bool batched = input.dim() == 4;
  const Array x = contiguous(batched ? input : unsqueeze(input, 0));
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho =
      window_output_size(H, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0], p.ceil_mode);
  const int64_t Wo =
      window_output_size(W, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1], p.ceil_mode);
  EMBER_CHECK(Ho > 0 && Wo > 0, ShapeError, name, ": output size [", Ho, ", ", Wo,
              "] is too small for input ", shape_str(input.sizes()));
  Array out = Array::empty({N, C, Ho, Wo}, x.dtype());
  dispatch_dtype(x.dtype(), [&]<class T>() {
    using Acc = std::conditional_t<std::is_same_v<compute_t<T>, double>, double, float>;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      const T* src = x.data_as<T>();
      T* dst = out.data_as<T>();
      // Max pooling whose windows all lie inside the plane (no padding, no partial ceil-mode
      // window), in float32 or float64: each output row is the running max of the window's
      // shifted input rows, a loop over the row that vectorizes. NaN wins, as below.
      const bool inside = p.padding == std::array<int64_t, 2>{0, 0} &&
                          (Ho - 1) * p.stride[0] + (p.kernel[0] - 1) * p.dilation[0] < H &&
                          (Wo - 1) * p.stride[1] + (p.kernel[1] - 1) * p.dilation[1] < W;
      if constexpr (kMax && std::is_same_v<T, compute_t<T>>) {
        if (inside) {
          const int64_t s0 = p.stride[0], s1 = p.stride[1];
          parallel_for(0, N * C, std::max<int64_t>(1, kParallelGrain / (H * W + 1)),
                       [&](int64_t b, int64_t e) {
                         for (int64_t plane = b; plane < e; ++plane)
                           for (int64_t oh = 0; oh < Ho; ++oh) {
                             const T* row = src + plane * H * W + oh * s0 * W;
                             T* o = dst + (plane * Ho + oh) * Wo;
                             for (int64_t ow = 0; ow < Wo; ++ow) o[ow] = row[ow * s1];
                             for (int64_t i = 0; i < p.kernel[0]; ++i)
                               for (int64_t j = i == 0; j < p.kernel[1]; ++j) {
                                 const T* in = row + i * p.dilation[0] * W + j * p.dilation[1];
                                 for (int64_t ow = 0; ow < Wo; ++ow) {
                                   const T v = in[ow * s1];
                                   o[ow] = (v > o[ow] || v != v) ? v : o[ow];
                                 }
                               }
                           }
                       });
          return;
        }
      }
      parallel_for(
          0, N * C, std::max<int64_t>(1, kParallelGrain / (H * W + 1)), [&](int64_t b, int64_t e) {
            for (int64_t plane = b; plane < e; ++plane) {
              const T* xin = src + plane * H * W;
              T* o = dst + plane * Ho * Wo;
              for (int64_t oh = 0; oh < Ho; ++oh)
                for (int64_t ow = 0; ow < Wo; ++ow) {
                  const int64_t h0 = oh * p.stride[0] - p.padding[0];
                  const int64_t w0 = ow * p.stride[1] - p.padding[1];
                  if constexpr (kMax) {
                    Acc best = -std::numeric_limits<Acc>::infinity();
                    for (int64_t i = 0; i < p.kernel[0]; ++i)
                      for (int64_t j = 0; j < p.kernel[1]; ++j) {
                        const int64_t ih = h0 + i * p.dilation[0], iw = w0 + j * p.dilation[1];
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        const Acc v = Acc(compute_t<T>(xin[ih * W + iw]));
                        if (v > best || v != v) best = v;
                        if (v != v) break;
                      }
                    o[oh * Wo + ow] = T(compute_t<T>(best));
                  } else {
                    int64_t h1 = std::min(h0 + p.kernel[0], H + p.padding[0]);
                    int64_t w1 = std::min(w0 + p.kernel[1], W + p.padding[1]);
                    const int64_t pool = (h1 - h0) * (w1 - w0);
                    const int64_t hs = std::max<int64_t>(h0, 0), ws = std::max<int64_t>(w0, 0);
                    h1 = std::min(h1, H);
                    w1 = std::min(w1, W);
                    Acc sum = 0;
                    for (int64_t ih = hs; ih < h1; ++ih)
                      for (int64_t iw = ws; iw < w1; ++iw)
                        sum += Acc(compute_t<T>(xin[ih * W + iw]));
                    const int64_t divisor = p.count_include_pad ? pool : (h1 - hs) * (w1 - ws);
                    o[oh * Wo + ow] = T(compute_t<T>(sum / Acc(divisor)));
                  }
                }
            }
          });
    }
  });
  return batched ? out : select(out, 0, 0);
}

}  // namespace

Array max_pool2d(const Array& input, const Pool2dParams& p) {
  return pool2d<true>(input, p, "max_pool2d");
}

Array avg_pool2d(const Array& input, const Pool2dParams& p) {
  EMBER_CHECK(p.dilation == (std::array<int64_t, 2>{1, 1}), ValueError,
              "avg_pool2d: dilation is not supported (got ", p.dilation[0], ", ", p.dilation[1],
              ")");
  return pool2d<false>(input, p, "avg_pool2d");
}

}  // namespace ember::kernels
