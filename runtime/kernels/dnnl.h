// The oneDNN paths of conv2d and batched matmul (runtime/kernels/dnnl.cpp), present when the build
// found oneDNN (EMBER_HAVE_DNNL).
#pragma once

#include "ember/runtime/array.h"
#include "ember/runtime/kernels.h"

namespace ember::kernels::detail {

// out = conv2d(x, w, bias) for contiguous NCHW float32 x, contiguous OIHW w and an out of the
// result's shape; false (out untouched) when oneDNN does not take the case, which im2col + GEMM
// then computes.
bool dnnl_conv2d(const Array& x, const Array& w, const Array* bias, const Conv2dParams& p,
                 Array& out);

// out[i] = a[i] @ b[i] for float32 [batch, m, k] and [batch, k, n] operands whose matrices are
// row- or column-major (batch stride 0: one matrix for all) and a contiguous out, when batch > 1
// and k > 0; false (out untouched) otherwise, and OpenBLAS computes it.
bool dnnl_batched_matmul(const Array& a, const Array& b, Array& out);

}  // namespace ember::kernels::detail
