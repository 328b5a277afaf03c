#include "ember/nn/functional.h"

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

}  // namespace ember::nn::functional
