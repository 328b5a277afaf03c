// The layers of ember::nn, as LibTorch's: each NameImpl is a Module, each Name its holder.
// Initializations follow PyTorch's defaults (Linear: kaiming-uniform weight with a = sqrt(5),
// i.e. U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias; Embedding: N(0, 1);
// LayerNorm: ones and zeros), so a ported model starts from the same distribution.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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

}  // namespace ember::nn
