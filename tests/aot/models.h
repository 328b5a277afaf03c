// The models the AOT tests export: an MLP and a causal self-attention block (layer norm, q/k/v
// projections, masked softmax attention, output projection, residual), weights drawn from a
// fixed seed, batch as the dynamic dim.
#pragma once

#include <cmath>

#include "ember/ember.h"

namespace ember::aot_test {

struct Mlp {
  Tensor w1, b1, w2, b2;
  static constexpr int64_t kIn = 24, kHidden = 40, kOut = 10;
  Mlp() {
    manual_seed(7);
    w1 = randn({kIn, kHidden}) * 0.2;
    b1 = randn({kHidden}) * 0.1;
    w2 = randn({kHidden, kOut}) * 0.2;
    b2 = randn({kOut}) * 0.1;
  }
  Tensor operator()(const Tensor& x) const {
    return log_softmax(matmul(gelu(matmul(x, w1) + b1), w2) + b2, -1);
  }
};

struct Attention {
  Tensor ln_w, ln_b, wq, wk, wv, wo;
  static constexpr int64_t kT = 12, kC = 16;
  Attention() {
    manual_seed(11);
    ln_w = ones({kC}) + randn({kC}) * 0.1;
    ln_b = randn({kC}) * 0.1;
    wq = randn({kC, kC}) * 0.25;
    wk = randn({kC, kC}) * 0.25;
    wv = randn({kC, kC}) * 0.25;
    wo = randn({kC, kC}) * 0.25;
  }
  Tensor operator()(const Tensor& x) const {  // x: [B, T, C]
    const Tensor h = layer_norm(x, {kC}, ln_w, ln_b);
    const Tensor q = matmul(h, wq), k = matmul(h, wk), v = matmul(h, wv);
    const Tensor scores = matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(kC)));
    const Tensor causal = tril(ones({kT, kT})) == 0;
    const Tensor att = softmax(scores.masked_fill(causal, -1e9), -1);
    return x + matmul(matmul(att, v), wo);
  }
};

}  // namespace ember::aot_test
