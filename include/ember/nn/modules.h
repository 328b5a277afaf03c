// The layers of ember::nn, as LibTorch's: each NameImpl is a Module, each Name its holder.
// Initializations follow PyTorch's defaults (Linear: kaiming-uniform weight with a = sqrt(5),
// i.e. U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias; Embedding: N(0, 1);
// LayerNorm: ones and zeros), so a ported model starts from the same distribution.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ember/frontend/options.h"
#include "ember/nn/module.h"

namespace ember::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  int64_t in_features_, out_features_;
  EMBER_OPTION(LinearOptions, bool, bias) = true;
};

// y = x W^T + b, over the last dim of x.
class LinearImpl : public Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const LinearOptions& options);
  Tensor forward(const Tensor& x) const;
  // Draws the weights again as PyTorch's reset_parameters.
  void reset_parameters();

  LinearOptions options;
  Tensor weight, bias;  // [out, in], [out] (undefined without bias)
};
EMBER_MODULE(Linear);

struct LayerNormOptions {
  explicit LayerNormOptions(std::vector<int64_t> normalized_shape)
      : normalized_shape_(std::move(normalized_shape)) {}
  std::vector<int64_t> normalized_shape_;
  EMBER_OPTION(LayerNormOptions, double, eps) = 1e-5;
  EMBER_OPTION(LayerNormOptions, bool, elementwise_affine) = true;
};

class LayerNormImpl : public Module {
 public:
  explicit LayerNormImpl(std::vector<int64_t> normalized_shape)
      : LayerNormImpl(LayerNormOptions(std::move(normalized_shape))) {}
  explicit LayerNormImpl(const LayerNormOptions& options);
  Tensor forward(const Tensor& x) const;

  LayerNormOptions options;
  Tensor weight, bias;
};
EMBER_MODULE(LayerNorm);

// RMS normalization over the trailing normalized_shape dims: x / sqrt(mean(x^2) + eps) * weight;
// eps unset is the dtype's machine epsilon, as PyTorch's.
struct RMSNormOptions {
  explicit RMSNormOptions(std::vector<int64_t> normalized_shape)
      : normalized_shape_(std::move(normalized_shape)) {}
  std::vector<int64_t> normalized_shape_;
  EMBER_OPTION(RMSNormOptions, std::optional<double>, eps);
  EMBER_OPTION(RMSNormOptions, bool, elementwise_affine) = true;
};

class RMSNormImpl : public Module {
 public:
  explicit RMSNormImpl(std::vector<int64_t> normalized_shape)
      : RMSNormImpl(RMSNormOptions(std::move(normalized_shape))) {}
  explicit RMSNormImpl(const RMSNormOptions& options);
  Tensor forward(const Tensor& x) const;

  RMSNormOptions options;
  Tensor weight;
};
EMBER_MODULE(RMSNorm);

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size)
      : in_channels_(in_channels),
        out_channels_(out_channels),
        kernel_size_(std::move(kernel_size)) {}
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : Conv2dOptions(in_channels, out_channels, std::vector<int64_t>{kernel_size, kernel_size}) {}
  int64_t in_channels_, out_channels_;
  std::vector<int64_t> kernel_size_;
  EMBER_OPTION(Conv2dOptions, std::vector<int64_t>, stride) = {1, 1};
  EMBER_OPTION(Conv2dOptions, std::vector<int64_t>, padding) = {0, 0};
  EMBER_OPTION(Conv2dOptions, std::vector<int64_t>, dilation) = {1, 1};
  EMBER_OPTION(Conv2dOptions, int64_t, groups) = 1;
  EMBER_OPTION(Conv2dOptions, bool, bias) = true;
};

// conv2d with a [out, in / groups, kh, kw] weight (kaiming-uniform as PyTorch's).
class Conv2dImpl : public Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : Conv2dImpl(Conv2dOptions(in_channels, out_channels, kernel_size)) {}
  explicit Conv2dImpl(const Conv2dOptions& options);
  Tensor forward(const Tensor& x) const;

  Conv2dOptions options;
  Tensor weight, bias;
};
EMBER_MODULE(Conv2d);

struct BatchNorm2dOptions {
  explicit BatchNorm2dOptions(int64_t num_features) : num_features_(num_features) {}
  int64_t num_features_;
  EMBER_OPTION(BatchNorm2dOptions, double, eps) = 1e-5;
  EMBER_OPTION(BatchNorm2dOptions, double, momentum) = 0.1;
  EMBER_OPTION(BatchNorm2dOptions, bool, affine) = true;
};

// Normalizes each channel of [N, C, H, W] with the batch's statistics while training (updating
// the running_mean / running_var buffers with the unbiased variance, as PyTorch), with the
// running ones in eval. The running update is an in-place write: a compiled function that trains
// a BatchNorm runs eagerly (compile() refuses in-place ops and says so).
class BatchNorm2dImpl : public Module {
 public:
  explicit BatchNorm2dImpl(int64_t num_features)
      : BatchNorm2dImpl(BatchNorm2dOptions(num_features)) {}
  explicit BatchNorm2dImpl(const BatchNorm2dOptions& options);
  Tensor forward(const Tensor& x);

  BatchNorm2dOptions options;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
EMBER_MODULE(BatchNorm2d);

// Multi-head attention as PyTorch's default (batch_first = false): query [L, N, E], key and
// value [S, N, E]; returns the output [L, N, E] and the attention weights averaged over heads
// [N, L, S]. attn_mask: bool (true = attend) or additive, [L, S]. in_proj is xavier-uniform,
// the biases zero.
class MultiheadAttentionImpl : public Module {
 public:
  MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads);
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& attn_mask = {}) const;
  int64_t embed_dim, num_heads;
  Tensor in_proj_weight, in_proj_bias;
  Linear out_proj{nullptr};
};
EMBER_MODULE(MultiheadAttention);

// Rows of a [num_embeddings, embedding_dim] table.
class EmbeddingImpl : public Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& indices) const;
  Tensor weight;
};
EMBER_MODULE(Embedding);

// Zeroes elements with probability p while training, scaling the rest by 1 / (1 - p).
class DropoutImpl : public Module {
 public:
  explicit DropoutImpl(double p = 0.5);
  Tensor forward(const Tensor& x) const;
  double p;
};
EMBER_MODULE(Dropout);

class ReLUImpl : public Module {
 public:
  ReLUImpl() : Module("ReLU") {}
  Tensor forward(const Tensor& x) const;
};
EMBER_MODULE(ReLU);

class GELUImpl : public Module {
 public:
  explicit GELUImpl(std::string approximate = "none")
      : Module("GELU"), approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& x) const;
  std::string approximate;
};
EMBER_MODULE(GELU);

class SiLUImpl : public Module {
 public:
  SiLUImpl() : Module("SiLU") {}
  Tensor forward(const Tensor& x) const;
};
EMBER_MODULE(SiLU);

class TanhImpl : public Module {
 public:
  TanhImpl() : Module("Tanh") {}
  Tensor forward(const Tensor& x) const;
};
EMBER_MODULE(Tanh);

// Submodules applied in order, each a Tensor -> Tensor forward; registered as "0", "1", ...
class SequentialImpl : public Module {
 public:
  SequentialImpl() : Module("Sequential") {}
  template <class... H>
  explicit SequentialImpl(H&&... holders) : Module("Sequential") {
    (push_back(std::forward<H>(holders)), ...);
  }
  template <class H>
  void push_back(H holder) {
    auto impl = holder.ptr();
    register_module(std::to_string(layers_.size()), impl);
    layers_.push_back([impl](const Tensor& x) { return impl->forward(x); });
  }
  Tensor forward(const Tensor& x) const;
  size_t size() const { return layers_.size(); }

 private:
  std::vector<std::function<Tensor(const Tensor&)>> layers_;
};
EMBER_MODULE(Sequential);

// Submodules held in order, registered as "0", "1", ...; forward is the caller's.
class ModuleListImpl : public Module {
 public:
  ModuleListImpl() : Module("ModuleList") {}
  template <class H>
  void push_back(H holder) {
    items_.push_back(holder.ptr());
    register_module(std::to_string(items_.size() - 1), holder.ptr());
  }
  size_t size() const { return items_.size(); }
  // The i-th module as its type (Error when it is another one).
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    EMBER_CHECK(i < items_.size(), IndexError, "ModuleList: index ", i, " out of range for ",
                items_.size(), " modules");
    auto m = std::dynamic_pointer_cast<M>(items_[i]);
    EMBER_CHECK(m != nullptr, ValueError, "ModuleList: module ", i, " is a ", items_[i]->name());
    return m;
  }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};
EMBER_MODULE(ModuleList);

// Submodules by name, in insertion order; forward is the caller's.
class ModuleDictImpl : public Module {
 public:
  ModuleDictImpl() : Module("ModuleDict") {}
  template <class H>
  void insert(const std::string& name, H holder) {
    register_module(name, holder.ptr());
  }
  bool contains(const std::string& name) const { return named_children().contains(name); }
  size_t size() const { return children().size(); }
  std::vector<std::string> keys() const { return named_children().keys(); }
  // The module of that name as its type (Error when absent or of another type).
  template <class M>
  std::shared_ptr<M> at(const std::string& name) const {
    const auto children = named_children();
    const std::shared_ptr<Module>* m = children.find(name);
    EMBER_CHECK(m != nullptr, ValueError, "ModuleDict: no module '", name, "'");
    auto typed = std::dynamic_pointer_cast<M>(*m);
    EMBER_CHECK(typed != nullptr, ValueError, "ModuleDict: '", name, "' is a ", (*m)->name());
    return typed;
  }
};
EMBER_MODULE(ModuleDict);

}  // namespace ember::nn
