#include "ember/nn/functional.h"

#include <cmath>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"

namespace ember::nn::functional {
namespace {

Tensor reduce(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::None:
      return loss;
    case Reduction::Sum:
      return loss.sum();
    case Reduction::Mean:
      return loss.mean();
  }
  return loss;
}

// The class dim of an [N, C, ...] input, or 0 for an unbatched [C] one.
int64_t class_dim(const Tensor& input, const char* op) {
  EMBER_CHECK(input.dim() >= 1, ShapeError, op, ": expected an input with a class dim, got shape ",
              shape_str(input.sizes()));
  return input.dim() == 1 ? 0 : 1;
}

void check_targets(const Tensor& input, const Tensor& target, int64_t cd, const char* op) {
  EMBER_CHECK(target.dtype() == kInt64 || target.dtype() == kInt32, DTypeError, op,
              ": expected class indices of dtype int64 or int32, got ", target.dtype());
  Shape want = input.sizes().vec();
  want.erase(want.begin() + cd);
  EMBER_CHECK(target.sizes().vec() == want, ShapeError, op, ": target of shape ",
              shape_str(target.sizes()), " does not fit input ", shape_str(input.sizes()),
              " (expected ", shape_str(want), ")");
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  const Tensor d = input - target;
  return reduce(d * d, reduction);
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, int64_t ignore_index,
                Reduction reduction) {
  const int64_t cd = class_dim(log_probs, "nll_loss");
  check_targets(log_probs, target, cd, "nll_loss");
  const Tensor counted = target != ignore_index;
  const Tensor safe = where(counted, target.to(kInt64), int64_t(0));
  const Tensor picked = -gather(log_probs, cd, safe.unsqueeze(cd)).squeeze(cd);
  const Tensor weight = counted.to(log_probs.dtype());
  const Tensor loss = picked * weight;
  if (reduction == Reduction::Mean) return loss.sum() / weight.sum();
  return reduce(loss, reduction);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options) {
  const int64_t cd = class_dim(input, "cross_entropy");
  const Tensor log_probs = log_softmax(input, cd);
  const double s = options.label_smoothing_;
  EMBER_CHECK(s >= 0 && s <= 1, ValueError,
              "cross_entropy: label_smoothing must be between 0 and 1, got ", s);
  if (target.is_floating_point()) {  // class probabilities
    EMBER_CHECK(target.sizes().vec() == input.sizes().vec(), ShapeError,
                "cross_entropy: probability targets must have the input's shape ",
                shape_str(input.sizes()), ", got ", shape_str(target.sizes()));
    const int64_t classes = input.size(cd);
    const Tensor t = s > 0 ? target * (1 - s) + s / double(classes) : target;
    return reduce(-(t * log_probs).sum({cd}), options.reduction_);
  }
  const Tensor nll = nll_loss(log_probs, target, options.ignore_index_, Reduction::None);
  if (s == 0) {
    if (options.reduction_ != Reduction::Mean) return reduce(nll, options.reduction_);
    const Tensor counted = (target != options.ignore_index_).to(input.dtype());
    return nll.sum() / counted.sum();
  }
  const Tensor counted = (target != options.ignore_index_).to(input.dtype());
  const Tensor smooth = -log_probs.mean({cd}) * counted;
  const Tensor loss = nll * (1 - s) + smooth * s;
  if (options.reduction_ == Reduction::Mean) return loss.sum() / counted.sum();
  return reduce(loss, options.reduction_);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction) {
  EMBER_CHECK(input.sizes().vec() == target.sizes().vec(), ShapeError,
              "binary_cross_entropy_with_logits: target of shape ", shape_str(target.sizes()),
              " does not match the input's ", shape_str(input.sizes()));
  const Tensor loss = relu(input) - input * target + log1p(exp(-abs(input)));
  return reduce(loss, reduction);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, double dropout_p, bool is_causal) {
  EMBER_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, ShapeError,
              "scaled_dot_product_attention: q, k and v need at least 2 dims, got ",
              shape_str(q.sizes()), ", ", shape_str(k.sizes()), ", ", shape_str(v.sizes()));
  EMBER_CHECK(!(is_causal && mask.defined()), ValueError,
              "scaled_dot_product_attention: pass a mask or is_causal, not both");
  Tensor scores = matmul(q, k.transpose(-2, -1)) / std::sqrt(double(q.size(-1)));
  if (is_causal)
    scores = masked_fill(scores, triu(ones({q.size(-2), k.size(-2)}, kBool), 1), -INFINITY);
  if (mask.defined())
    scores = mask.dtype() == kBool ? masked_fill(scores, logical_not(mask), -INFINITY)
                                   : scores + mask.to(scores.dtype());
  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0) weights = dropout(weights, dropout_p, true);
  return matmul(weights, v);
}

}  // namespace ember::nn::functional

namespace ember::nn::utils {

Tensor get_total_norm(const std::vector<Tensor>& parameters) {
  NoGradGuard no_grad;
  Tensor total = zeros({}, kFloat64);
  for (const Tensor& p : parameters)
    if (p.grad().defined()) {
      const Tensor g = p.grad().to(kFloat64);
      total = total + (g * g).sum();
    }
  return total.sqrt();
}

void clip_grads_with_norm_(const std::vector<Tensor>& parameters, double max_norm,
                           const Tensor& total_norm) {
  NoGradGuard no_grad;
  const Tensor scale = clamp(max_norm / (total_norm + 1e-6), std::nullopt, 1.0);
  for (Tensor p : parameters)
    if (p.grad().defined()) p.mutable_grad().mul_(scale.to(p.grad().dtype()));
}

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm) {
  const Tensor norm = get_total_norm(parameters);
  clip_grads_with_norm_(parameters, max_norm, norm);
  return norm.item<double>();
}

}  // namespace ember::nn::utils
