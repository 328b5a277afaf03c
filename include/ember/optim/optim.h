// ember::optim: SGD, Adam and AdamW with LibTorch's option classes and param groups, and StepLR.
// step() updates each parameter that has a gradient, under no grad; state is per parameter
// (momentum buffers, moments) and lives in the optimizer. The updates are fused (PyTorch's
// fused=True): every float32/float64 parameter with a contiguous gradient is updated in one
// parallel pass over all of them, each element of parameter, gradient and state read and written
// once; other parameters (and every parameter with fused(false)) take the same update as Tensor
// ops. Inside compile() (a whole step: zero_grad, loss, backward, step) the update is traced as
// Tensor ops, its writes to the parameters and state applied by every run; the learning rate and
// the other hyperparameters are re-read from the optimizer on every run, and the step count is a
// tensor, so a compiled step equals an eager one. The optimizer must outlive the compiled
// function that steps it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ember/frontend/options.h"
#include "ember/frontend/tensor.h"

namespace ember::optim {

using Betas = std::pair<double, double>;

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  EMBER_OPTION(SGDOptions, double, lr);
  EMBER_OPTION(SGDOptions, double, momentum) = 0;
  EMBER_OPTION(SGDOptions, double, dampening) = 0;
  EMBER_OPTION(SGDOptions, double, weight_decay) = 0;
  EMBER_OPTION(SGDOptions, bool, nesterov) = false;
  // One pass over each parameter (see below); false runs the update as separate Tensor ops.
  EMBER_OPTION(SGDOptions, bool, fused) = true;
};

// Adam's and AdamW's options (they differ in weight_decay's default and in how it applies).
template <class Self>
struct AdamLikeOptions {
  double lr_ = 1e-3;
  Betas betas_ = {0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_ = 0;
  bool amsgrad_ = false;
  bool fused_ = true;
  Self& lr(double v) { return set(lr_, v); }
  Self& betas(Betas v) { return set(betas_, v); }
  Self& eps(double v) { return set(eps_, v); }
  Self& weight_decay(double v) { return set(weight_decay_, v); }
  Self& amsgrad(bool v) { return set(amsgrad_, v); }
  Self& fused(bool v) { return set(fused_, v); }

 private:
  template <class T>
  Self& set(T& field, T v) {
    field = v;
    return static_cast<Self&>(*this);
  }
};

struct AdamOptions : AdamLikeOptions<AdamOptions> {
  explicit AdamOptions(double lr = 1e-3) { lr_ = lr; }
};

struct AdamWOptions : AdamLikeOptions<AdamWOptions> {
  explicit AdamWOptions(double lr = 1e-3) {
    lr_ = lr;
    weight_decay_ = 1e-2;
  }
};

// A group of parameters with its own learning rate (the rest of the options are the
// optimizer's).
struct ParamGroup {
  std::vector<Tensor> params;
  double lr;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Drops each parameter's gradient (set_to_none), or fills it with zeros.
  void zero_grad(bool set_to_none = true);
  virtual void step() = 0;
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Adds a group at the given learning rate.
  void add_param_group(std::vector<Tensor> params, double lr);
  // The optimizer's state as named tensors ("group.0.lr", "state.0.3.step", "state.0.3.a", ...:
  // group, then parameter index within it), for save_safetensors; load_state_dict restores it into
  // an optimizer over parameters of the same shapes (ValueError when it does not fit).
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state);

  // The optimizer's state tensors of one parameter (created zeros of its shape on first use).
  struct State {
    Tensor step;     // int64 0-dim: the updates so far (a tensor, so a compiled step counts too)
    Tensor a, b, c;  // SGD: momentum buffer; Adam: exp_avg, exp_avg_sq, max_exp_avg_sq
  };

 protected:
  explicit Optimizer(std::vector<Tensor> params, double lr, const char* name);
  State& state_of(const Tensor& p) { return state_[p.identity()]; }
  // f(param, its group's index, its state) for every parameter with a gradient, under no grad,
  // the state created (zeros: step and `slots` of a, b, c) on the first update; inside a traced
  // function the state is created eagerly, so it outlives the trace.
  template <class F>
  void for_each_update(int slots, const F& f);
  // A hyperparameter as the Tensor-op updates use it: a 0-dim tensor of dtype holding read();
  // inside a traced function one that every run re-reads (a scheduler may change it).
  static Tensor hyper(std::function<double()> read, DType dtype);
  template <class Options>
  void adam_step(const Options& options, bool decoupled);

 private:
  std::vector<ParamGroup> groups_;
  std::unordered_map<const void*, State> state_;
  const char* name_;
};

// PyTorch's SGD: g = grad + weight_decay * p; with momentum, buf = momentum * buf +
// (1 - dampening) * g (buf = g on the first step) and g = nesterov ? g + momentum * buf : buf;
// p -= lr * g.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  void step() override;
  SGDOptions options;
};

// Adam (weight_decay as L2 on the gradient), and AdamW (decoupled: p *= 1 - lr * weight_decay
// first); bias-corrected moments, eps outside the square root, amsgrad keeping the largest
// second moment.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  void step() override;
  AdamOptions options;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options);
  void step() override;
  AdamWOptions options;
};

// Multiplies every group's learning rate by gamma every step_size calls of step().
class StepLR {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  void step();

 private:
  Optimizer& optimizer_;
  int64_t step_size_, count_ = 0;
  double gamma_;
};

// Cosine annealing from each group's learning rate at construction down to eta_min over T_max
// steps (PyTorch's closed form), after an optional linear warmup of warmup_steps from 0.
class CosineAnnealingLR {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0,
                    int64_t warmup_steps = 0);
  void step();

 private:
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t t_max_, warmup_, count_ = 0;
  double eta_min_;
};

}  // namespace ember::optim
