// ember::nn::functional: losses and layers as functions, with PyTorch's semantics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/frontend/tensor.h"

namespace ember::nn::functional {

enum class Reduction { None, Mean, Sum };

// x W^T + b.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

// (input - target)^2, reduced.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// -log_probs[n, target[n], ...] for class indices in target (int64), over the class dim 1 of an
// [N, C, ...] input (or dim 0 of a [C] one); targets equal to ignore_index count nothing, and
// the mean divides by the targets that count.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, int64_t ignore_index = -100,
                Reduction reduction = Reduction::Mean);

struct CrossEntropyOptions {
  int64_t ignore_index_ = -100;
  double label_smoothing_ = 0;
  Reduction reduction_ = Reduction::Mean;
  CrossEntropyOptions& ignore_index(int64_t v) {
    ignore_index_ = v;
    return *this;
  }
  CrossEntropyOptions& label_smoothing(double v) {
    label_smoothing_ = v;
    return *this;
  }
  CrossEntropyOptions& reduction(Reduction v) {
    reduction_ = v;
    return *this;
  }
};

// log_softmax over the class dim, then nll_loss for class-index targets (with label smoothing:
// (1 - s) * nll + s * the mean over classes of -log_probs), or, for a floating target of the
// input's shape, -(target * log_probs) summed over classes.
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options = {});

// -[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] computed stably from logits x (as
// max(x, 0) - x y + log(1 + exp(-|x|))), reduced.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction = Reduction::Mean);

// softmax(q k^T / sqrt(d) + mask) v over the last two dims: mask is bool (true = attend) or
// floating (added); is_causal masks keys after each query; dropout_p drops attention weights
// (training only, as PyTorch's functional form, which applies it whenever dropout_p > 0).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask = {}, double dropout_p = 0,
                                    bool is_causal = false);

}  // namespace ember::nn::functional

namespace ember::nn::utils {

// Scales every gradient so that their joint 2-norm is at most max_norm; returns the norm before.
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm);
// Its two halves, as PyTorch's get_total_norm and clip_grads_with_norm_: the 2-norm of the
// parameters' gradients as a 0-dim float64 tensor, and the gradients scaled by
// min(1, max_norm / (total_norm + 1e-6)) in place, without reading the norm on the host (so a
// compiled step that clips does not depend on its value).
Tensor get_total_norm(const std::vector<Tensor>& parameters);
void clip_grads_with_norm_(const std::vector<Tensor>& parameters, double max_norm,
                           const Tensor& total_norm);

}  // namespace ember::nn::utils
