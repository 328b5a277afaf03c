#include "ember/nn/modules.h"

#include <cmath>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"

namespace ember::nn {

LinearImpl::LinearImpl(const LinearOptions& o) : Module("Linear"), options(o) {
  EMBER_CHECK(o.in_features_ > 0 && o.out_features_ > 0, ValueError,
              "Linear: in_features and out_features must be positive, got ", o.in_features_,
              " and ", o.out_features_);
  weight = register_parameter("weight", empty({o.out_features_, o.in_features_}));
  if (o.bias_) bias = register_parameter("bias", empty({o.out_features_}));
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  NoGradGuard no_grad;
  // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in).
  const double bound = 1.0 / std::sqrt(double(options.in_features_));
  weight.copy_(rand(weight.sizes()) * (2 * bound) - bound);
  if (bias.defined()) bias.copy_(rand(bias.sizes()) * (2 * bound) - bound);
}

Tensor LinearImpl::forward(const Tensor& x) const {
  EMBER_CHECK(x.dim() >= 1 && x.size(-1) == options.in_features_, ShapeError,
              "Linear: expected the last dim of the input to be ", options.in_features_,
              ", but got shape ", shape_str(x.sizes()));
  const Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

LayerNormImpl::LayerNormImpl(const LayerNormOptions& o) : Module("LayerNorm"), options(o) {
  if (o.elementwise_affine_) {
    weight = register_parameter("weight", ones(o.normalized_shape_));
    bias = register_parameter("bias", zeros(o.normalized_shape_));
  }
}

Tensor LayerNormImpl::forward(const Tensor& x) const {
  return layer_norm(x, options.normalized_shape_, weight, bias, options.eps_);
}

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim) : Module("Embedding") {
  EMBER_CHECK(num_embeddings > 0 && embedding_dim > 0, ValueError,
              "Embedding: sizes must be positive, got ", num_embeddings, " and ", embedding_dim);
  weight = register_parameter("weight", randn({num_embeddings, embedding_dim}));
}

Tensor EmbeddingImpl::forward(const Tensor& indices) const { return embedding(weight, indices); }

DropoutImpl::DropoutImpl(double p) : Module("Dropout"), p(p) {
  EMBER_CHECK(p >= 0 && p <= 1, ValueError,
              "Dropout: probability has to be between 0 and 1, but got ", p);
}

Tensor DropoutImpl::forward(const Tensor& x) const { return dropout(x, p, is_training()); }
Tensor ReLUImpl::forward(const Tensor& x) const { return relu(x); }
Tensor GELUImpl::forward(const Tensor& x) const { return gelu(x, approximate); }
Tensor SiLUImpl::forward(const Tensor& x) const { return silu(x); }
Tensor TanhImpl::forward(const Tensor& x) const { return tanh(x); }

Tensor SequentialImpl::forward(const Tensor& x) const {
  Tensor y = x;
  for (const auto& layer : layers_) y = layer(y);
  return y;
}

}  // namespace ember::nn
