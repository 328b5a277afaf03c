// matmul with torch.matmul's semantics (1-D operands, broadcast batch dims). float32 and float64
// call OpenBLAS on the operands in place when each matrix is row- or column-major (a transposed
// view costs nothing), a float32 batch through one oneDNN matmul when the build has it (dnnl.cpp);
// float16/bfloat16 compute in float32; integers use a plain loop.
#include <cblas.h>

#include <mutex>

#include "ember/runtime/kernels.h"
#ifdef EMBER_HAVE_DNNL
#include "runtime/kernels/dnnl.h"
#endif
#include "runtime/kernels/loops.h"
#include "runtime/kernels/scalar_ops.h"

namespace ember::kernels {
namespace {

void init_blas_threads() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(get_num_threads()); });
}

// How BLAS sees one matrix of `rows x cols` with element strides (rs, cs).
struct BlasMatrix {
  bool ok = false;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int64_t ld = 1;
};
BlasMatrix blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  // An empty matrix has no elements to read, whatever its strides (an expanded
  // [1, 0] has row stride 0).
  if (rows == 0 || cols == 0) return {true, CblasNoTrans, std::max<int64_t>(cols, 1)};
  if ((cs == 1 || cols == 1) && (rs >= std::max<int64_t>(cols, 1) || rows == 1))
    return {true, CblasNoTrans, std::max<int64_t>({rs, cols, 1})};
  if ((rs == 1 || rows == 1) && (cs >= std::max<int64_t>(rows, 1) || cols == 1))
    return {true, CblasTrans, std::max<int64_t>({cs, rows, 1})};
  return {};
}

// out[b] = a[b] @ b[b] for 3-D arrays with equal batch (strides may be 0 for broadcast batches);
// out is contiguous.
template <class T>
void batched_gemm(const Array& a, const Array& b, const Array& out) {
  const int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  T* c = out.data_as<T>();
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    init_blas_threads();
    const BlasMatrix la = blas_layout(m, k, a.stride(1), a.stride(2));
    const BlasMatrix lb = blas_layout(k, n, b.stride(1), b.stride(2));
    EMBER_INTERNAL_ASSERT(la.ok && lb.ok, "operands must be made BLAS-compatible first");
    for (int64_t i = 0; i < batch; ++i) {
      const T* pa = a.data_as<T>() + i * a.stride(0);
      const T* pb = b.data_as<T>() + i * b.stride(0);
      T* pc = c + i * m * n;
      if (k == 0) {
        std::fill(pc, pc + m * n, T(0));
        continue;
      }
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, la.trans, lb.trans, int(m), int(n), int(k), 1.0f, pa, int(la.ld),
                    pb, int(lb.ld), 0.0f, pc, int(std::max<int64_t>(n, 1)));
      else
        cblas_dgemm(CblasRowMajor, la.trans, lb.trans, int(m), int(n), int(k), 1.0, pa, int(la.ld),
                    pb, int(lb.ld), 0.0, pc, int(std::max<int64_t>(n, 1)));
    }
  } else {
    using Acc = std::conditional_t<std::is_same_v<T, bool>, bool, int64_t>;
    parallel_for(0, batch * m, std::max<int64_t>(1, 4096 / std::max<int64_t>(n * k, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t r = lo; r < hi; ++r) {
                     const int64_t bi = r / m, i = r % m;
                     const T* pa = a.data_as<T>() + bi * a.stride(0) + i * a.stride(1);
                     const T* pb = b.data_as<T>() + bi * b.stride(0);
                     for (int64_t j = 0; j < n; ++j) {
                       Acc acc = 0;
                       for (int64_t p = 0; p < k; ++p)
                         acc = wrap_add<Acc>(
                             acc, wrap_mul<Acc>(Acc(pa[p * a.stride(2)]),
                                                Acc(pb[p * b.stride(1) + j * b.stride(2)])));
                       c[r * n + j] = T(acc);
                     }
                   }
                 });
  }
}

// A 3-D operand whose matrices BLAS can read (copied only when neither layout fits).
Array blas_ready(const Array& x) {
  if (blas_layout(x.size(1), x.size(2), x.stride(1), x.stride(2)).ok) return x;
  return contiguous(x);
}

Array matmul_3d(const Array& a, const Array& b) {
  Array out = Array::empty({a.size(0), a.size(1), b.size(2)}, a.dtype());
  if (out.numel() == 0) return out;
  switch (a.dtype()) {
    case DType::Float32: {
      const Array ra = blas_ready(a), rb = blas_ready(b);
#ifdef EMBER_HAVE_DNNL
      if (detail::dnnl_batched_matmul(ra, rb, out)) break;
#endif
      batched_gemm<float>(ra, rb, out);
      break;
    }
    case DType::Float64:
      batched_gemm<double>(blas_ready(a), blas_ready(b), out);
      break;
    case DType::Float16:
    case DType::BFloat16:
      copy_into(out, matmul_3d(cast(a, DType::Float32), cast(b, DType::Float32)));
      break;
    default:
      dispatch_dtype(a.dtype(), [&]<class T>() {
        if constexpr (!std::is_floating_point_v<compute_t<T>>) batched_gemm<T>(a, b, out);
      });
  }
  return out;
}

// x ([..., rows, cols]) broadcast over batch and viewed as [numel(batch), rows, cols]. An operand
// that is one matrix for every batch gets batch stride 0 instead of a copy.
Array flatten_batch(const Array& x, const Shape& batch, int64_t rows, int64_t cols) {
  const int64_t nb = numel_of(batch);
  if (numel_of(IntArrayRef(x.sizes().data(), size_t(x.dim() - 2))) == 1) {
    const Array mat = reshape(x, {rows, cols});  // only size-1 dims go: always a view
    return mat.as_strided({nb, rows, cols}, {0, mat.stride(0), mat.stride(1)}, mat.offset());
  }
  Shape sizes = batch;
  sizes.push_back(rows);
  sizes.push_back(cols);
  return reshape(expand(x, sizes), {nb, rows, cols});
}

void check_matmul_dtypes(const Array& a, const Array& b, const char* op) {
  EMBER_CHECK(a.dtype() == b.dtype(), DTypeError, op,
              ": expected both operands to have the same dtype, but got ", a.dtype(), " and ",
              b.dtype());
  EMBER_CHECK(a.dtype() != DType::Bool, DTypeError, op, ": not supported for bool tensors");
}

}  // namespace

Array matmul(const Array& a, const Array& b) {
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError,
              "matmul: both arguments need to be at least 1-D, but they are ", a.dim(), "-D and ",
              b.dim(), "-D");
  check_matmul_dtypes(a, b, "matmul");
  const Array a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  const Array b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  const int64_t m = a2.size(a2.dim() - 2), k = a2.size(a2.dim() - 1);
  const int64_t k2 = b2.size(b2.dim() - 2), n = b2.size(b2.dim() - 1);
  EMBER_CHECK(k == k2, ShapeError, "matmul: shapes ", shape_str(a.sizes()), " and ",
              shape_str(b.sizes()), " cannot be multiplied (", k, " != ", k2, ")");
  const Shape batch_a(a2.sizes().begin(), a2.sizes().end() - 2);
  const Shape batch_b(b2.sizes().begin(), b2.sizes().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape out_sizes = batch;
  if (a.dim() > 1) out_sizes.push_back(m);
  if (b.dim() > 1) out_sizes.push_back(n);
  Array out3 = matmul_3d(flatten_batch(a2, batch, m, k), flatten_batch(b2, batch, k, n));
  return reshape(out3, out_sizes);
}

Array mm(const Array& a, const Array& b) {
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2, ShapeError, "mm: expected 2-D tensors, but got ",
              shape_str(a.sizes()), " and ", shape_str(b.sizes()));
  return matmul(a, b);
}

Array bmm(const Array& a, const Array& b) {
  EMBER_CHECK(a.dim() == 3 && b.dim() == 3, ShapeError, "bmm: expected 3-D tensors, but got ",
              shape_str(a.sizes()), " and ", shape_str(b.sizes()));
  EMBER_CHECK(a.size(0) == b.size(0), ShapeError, "bmm: batch sizes differ: ", shape_str(a.sizes()),
              " and ", shape_str(b.sizes()));
  return matmul(a, b);
}

}  // namespace ember::kernels
