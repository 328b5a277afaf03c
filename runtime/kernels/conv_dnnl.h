// conv2d's oneDNN path (runtime/kernels/conv_dnnl.cpp), present when the build found oneDNN
// (EMBER_HAVE_DNNL).
#pragma once

#include "ember/runtime/array.h"
#include "ember/runtime/kernels.h"

namespace ember::kernels::detail {

// out = conv2d(x, w, bias) for contiguous NCHW float32 x, contiguous OIHW w and an out of the
// result's shape; false (out untouched) when oneDNN does not take the case, which im2col + GEMM
// then computes.
bool dnnl_conv2d(const Array& x, const Array& w, const Array* bias, const Conv2dParams& p,
                 Array& out);

}  // namespace ember::kernels::detail
