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

RMSNormImpl::RMSNormImpl(const RMSNormOptions& o) : Module("RMSNorm"), options(o) {
  if (o.elementwise_affine_) weight = register_parameter("weight", ones(o.normalized_shape_));
}

Tensor RMSNormImpl::forward(const Tensor& x) const {
  const int64_t n = int64_t(options.normalized_shape_.size());
  EMBER_CHECK(x.dim() >= n, ShapeError, "RMSNorm: input of shape ", shape_str(x.sizes()),
              " has fewer dims than the normalized shape");
  std::vector<int64_t> dims;
  for (int64_t d = x.dim() - n; d < x.dim(); ++d) {
    EMBER_CHECK(x.size(d) == options.normalized_shape_[size_t(d - x.dim() + n)], ShapeError,
                "RMSNorm: input of shape ", shape_str(x.sizes()),
                " does not end in the normalized shape");
    dims.push_back(d);
  }
  const double eps =
      options.eps_.value_or(x.dtype() == kFloat64 ? 2.220446049250313e-16 : 1.1920928955078125e-07);
  const Tensor y = x * rsqrt((x * x).mean(dims, true) + eps);
  return weight.defined() ? y * weight : y;
}

Conv2dImpl::Conv2dImpl(const Conv2dOptions& o) : Module("Conv2d"), options(o) {
  EMBER_CHECK(o.kernel_size_.size() == 2 && o.groups_ > 0 && o.in_channels_ % o.groups_ == 0 &&
                  o.out_channels_ % o.groups_ == 0,
              ValueError, "Conv2d: channels (", o.in_channels_, ", ", o.out_channels_,
              ") must divide by groups (", o.groups_, ") and the kernel size have 2 dims");
  const int64_t per_group = o.in_channels_ / o.groups_;
  weight = register_parameter(
      "weight", empty({o.out_channels_, per_group, o.kernel_size_[0], o.kernel_size_[1]}));
  if (o.bias_) bias = register_parameter("bias", empty({o.out_channels_}));
  NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(double(per_group * o.kernel_size_[0] * o.kernel_size_[1]));
  weight.copy_(rand(weight.sizes()) * (2 * bound) - bound);
  if (bias.defined()) bias.copy_(rand(bias.sizes()) * (2 * bound) - bound);
}

Tensor Conv2dImpl::forward(const Tensor& x) const {
  return conv2d(x, weight, bias, options.stride_, options.padding_, options.dilation_,
                options.groups_);
}

BatchNorm2dImpl::BatchNorm2dImpl(const BatchNorm2dOptions& o) : Module("BatchNorm2d"), options(o) {
  if (o.affine_) {
    weight = register_parameter("weight", ones({o.num_features_}));
    bias = register_parameter("bias", zeros({o.num_features_}));
  }
  running_mean = register_buffer("running_mean", zeros({o.num_features_}));
  running_var = register_buffer("running_var", ones({o.num_features_}));
  num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, kInt64));
}

Tensor BatchNorm2dImpl::forward(const Tensor& x) {
  EMBER_CHECK(x.dim() == 4 && x.size(1) == options.num_features_, ShapeError,
              "BatchNorm2d: expected [N, ", options.num_features_, ", H, W], got shape ",
              shape_str(x.sizes()));
  const int64_t c = options.num_features_;
  Tensor mean, var;
  if (is_training()) {
    mean = x.mean({0, 2, 3});
    var = x.var({0, 2, 3}, false);
    NoGradGuard no_grad;
    const int64_t n = x.numel() / c;
    const double m = options.momentum_;
    running_mean.copy_(running_mean * (1 - m) + mean.detach() * m);
    running_var.copy_(running_var * (1 - m) +
                      var.detach() * (m * double(n) / double(std::max<int64_t>(n - 1, 1))));
    num_batches_tracked.add_(1);
  } else {
    mean = running_mean;
    var = running_var;
  }
  const std::vector<int64_t> channel{1, c, 1, 1};
  Tensor y = (x - mean.reshape(channel)) * rsqrt(var.reshape(channel) + options.eps_);
  if (weight.defined()) y = y * weight.reshape(channel) + bias.reshape(channel);
  return y;
}

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads)
    : Module("MultiheadAttention"), embed_dim(embed_dim), num_heads(num_heads) {
  EMBER_CHECK(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, ValueError,
              "MultiheadAttention: embed_dim (", embed_dim, ") must divide by num_heads (",
              num_heads, ")");
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}));
  in_proj_bias = register_parameter("in_proj_bias", zeros({3 * embed_dim}));
  out_proj = register_module("out_proj", Linear(embed_dim, embed_dim));
  NoGradGuard no_grad;
  const double bound = std::sqrt(6.0 / double(embed_dim + 3 * embed_dim));
  in_proj_weight.copy_(rand(in_proj_weight.sizes()) * (2 * bound) - bound);
  out_proj->bias.zero_();
}

std::tuple<Tensor, Tensor> MultiheadAttentionImpl::forward(const Tensor& query, const Tensor& key,
                                                           const Tensor& value,
                                                           const Tensor& attn_mask) const {
  EMBER_CHECK(query.dim() == 3 && key.dim() == 3 && value.dim() == 3 &&
                  query.size(2) == embed_dim && key.size(2) == embed_dim &&
                  value.size(2) == embed_dim && key.size(0) == value.size(0),
              ShapeError, "MultiheadAttention: expected query [L, N, ", embed_dim,
              "] and key, value [S, N, ", embed_dim, "], got ", shape_str(query.sizes()), ", ",
              shape_str(key.sizes()), ", ", shape_str(value.sizes()));
  const int64_t L = query.size(0), S = key.size(0), N = query.size(1), h = num_heads,
                dh = embed_dim / num_heads;
  const auto w = chunk(in_proj_weight, 3, 0);
  const auto b = chunk(in_proj_bias, 3, 0);
  // [T, N, E] -> [N, h, T, dh]
  auto heads = [&](const Tensor& x, int64_t i, int64_t t) {
    return (matmul(x, w[size_t(i)].t()) + b[size_t(i)])
        .reshape({t, N, h, dh})
        .permute({1, 2, 0, 3});
  };
  const Tensor q = heads(query, 0, L), k = heads(key, 1, S), v = heads(value, 2, S);
  Tensor scores = matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh));
  if (attn_mask.defined())
    scores = attn_mask.dtype() == kBool ? masked_fill(scores, logical_not(attn_mask), -INFINITY)
                                        : scores + attn_mask.to(scores.dtype());
  const Tensor weights = softmax(scores, -1);  // [N, h, L, S]
  const Tensor context = matmul(weights, v).permute({2, 0, 1, 3}).reshape({L, N, embed_dim});
  return {out_proj(context), weights.mean({1})};
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
