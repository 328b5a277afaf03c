#include "ember/optim/optim.h"

#include <cmath>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "ember/runtime/kernels.h"

namespace ember::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr, const char* name) : name_(name) {
  add_param_group(std::move(params), lr);
}

void Optimizer::add_param_group(std::vector<Tensor> params, double lr) {
  EMBER_CHECK(lr >= 0, ValueError, name_, ": invalid learning rate ", lr);
  for (const Tensor& p : params) {
    EMBER_CHECK(p.defined() && p.is_leaf() && p.requires_grad(), ValueError, name_,
                ": can only optimize leaf tensors that require grad");
    for (const ParamGroup& g : groups_)
      for (const Tensor& q : g.params)
        EMBER_CHECK(q.identity() != p.identity(), ValueError, name_,
                    ": a parameter appears in more than one parameter group");
  }
  groups_.push_back({std::move(params), lr});
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) {
      // Set to none even when already none: inside a compiled step that makes the step's
      // gradients independent of whether the previous call left any.
      if (set_to_none)
        p.mutable_grad() = Tensor();
      else if (p.grad().defined())
        p.mutable_grad().zero_();
    }
}

template <class F>
void Optimizer::for_each_update(int slots, const F& f) {
  NoGradGuard no_grad;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (Tensor& p : groups_[gi].params) {
      if (!p.grad().defined()) continue;
      State& s = state_of(p);
      if (!s.step.defined()) {
        TracePause eager;
        s.step = zeros({}, kInt64);
        Tensor* slot[] = {&s.a, &s.b, &s.c};
        for (int k = 0; k < slots; ++k) *slot[k] = zeros(p.sizes(), p.dtype());
      }
      f(p, gi, s);
    }
}

Tensor Optimizer::hyper(std::function<double()> read, DType dtype) {
  if (TraceContext* tc = TraceContext::active()) return tc->host_scalar(std::move(read), dtype);
  return full({}, read(), dtype);
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    out["group." + std::to_string(g) + ".lr"] = full({}, groups_[g].lr, kFloat64);
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      auto it = state_.find(groups_[g].params[i].identity());
      if (it == state_.end()) continue;
      const std::string key = "state." + std::to_string(g) + "." + std::to_string(i) + ".";
      if (it->second.step.defined()) out[key + "step"] = it->second.step.clone();
      const Tensor* slots[] = {&it->second.a, &it->second.b, &it->second.c};
      const char* names[] = {"a", "b", "c"};
      for (int k = 0; k < 3; ++k)
        if (slots[k]->defined()) out[key + names[k]] = slots[k]->detach().clone();
    }
  }
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  NoGradGuard no_grad;
  std::unordered_map<const void*, State> loaded;
  std::vector<double> lrs;
  for (size_t g = 0; g < groups_.size(); ++g) {
    auto lr = state.find("group." + std::to_string(g) + ".lr");
    EMBER_CHECK(lr != state.end(), ValueError, name_, ": the state has no group ", g);
    lrs.push_back(lr->second.item<double>());
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const std::string key = "state." + std::to_string(g) + "." + std::to_string(i) + ".";
      auto step = state.find(key + "step");
      if (step == state.end()) continue;
      State s;
      s.step = full({}, int64_t(step->second.item<int64_t>()), kInt64);
      Tensor* slots[] = {&s.a, &s.b, &s.c};
      const char* names[] = {"a", "b", "c"};
      const Tensor& p = groups_[g].params[i];
      for (int k = 0; k < 3; ++k) {
        auto it = state.find(key + names[k]);
        if (it == state.end()) continue;
        EMBER_CHECK(it->second.sizes().vec() == p.sizes().vec(), ValueError, name_, ": state ", key,
                    names[k], " has shape ", shape_str(it->second.sizes()),
                    " for a parameter of shape ", shape_str(p.sizes()));
        *slots[k] = it->second.to(p.dtype()).clone();
      }
      loaded[p.identity()] = std::move(s);
    }
  }
  EMBER_CHECK(state.count("group." + std::to_string(groups_.size()) + ".lr") == 0, ValueError,
              name_, ": the state has more parameter groups than this optimizer");
  state_ = std::move(loaded);
  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].lr = lrs[g];
}

SGD::SGD(std::vector<Tensor> params, SGDOptions o)
    : Optimizer(std::move(params), o.lr_, "SGD"), options(o) {
  EMBER_CHECK(o.momentum_ >= 0 && o.weight_decay_ >= 0, ValueError,
              "SGD: momentum and weight_decay must be non-negative");
  EMBER_CHECK(!o.nesterov_ || (o.momentum_ > 0 && o.dampening_ == 0), ValueError,
              "SGD: Nesterov momentum requires a momentum and zero dampening");
}

namespace {

// The fused kernels' slot for p, or an undefined param where they do not take it (an odd dtype or
// layout, or while tracing: a traced step records Tensor ops).
kernels::UpdateSlot fused_slot(bool fused, const Tensor& p, double lr, const Optimizer::State& s,
                               int states) {
  kernels::UpdateSlot slot{p.array(),
                           p.grad().array(),
                           s.a.defined() ? s.a.array() : Array(),
                           s.b.defined() ? s.b.array() : Array(),
                           s.c.defined() ? s.c.array() : Array(),
                           lr,
                           0};
  if (!fused || TraceContext::active() || p.grad().is_traced() ||
      !kernels::can_fuse_update(slot, states))
    slot.param = Array();
  return slot;
}

// One more update in s.step; the fused kernels take the count as a number.
int64_t count_step(Optimizer::State& s) {
  if (TraceContext::active()) {
    s.step.add_(1);
    return 0;
  }
  int64_t& n = *s.step.data_ptr<int64_t>();
  return ++n;
}

}  // namespace

void SGD::step() {
  const bool momentum = options.momentum_ != 0;
  std::vector<kernels::UpdateSlot> fused;
  for_each_update(momentum ? 1 : 0, [&](Tensor& p, size_t gi, State& s) {
    const int64_t n = count_step(s);
    const double lr_now = param_groups()[gi].lr;
    kernels::UpdateSlot slot = fused_slot(options.fused_, p, lr_now, s, momentum ? 1 : 0);
    if (slot.param.defined()) {
      slot.step = n;
      fused.push_back(std::move(slot));
      return;
    }
    const DType dt = p.dtype();
    const Tensor lr = hyper([this, gi] { return param_groups()[gi].lr; }, dt);
    Tensor g = p.grad();
    if (options.weight_decay_ != 0) g = g + p * hyper([this] { return options.weight_decay_; }, dt);
    if (momentum) {
      const Tensor mom = hyper([this] { return options.momentum_; }, dt);
      const Tensor keep = hyper([this] { return 1 - options.dampening_; }, dt);
      s.a.copy_(where(s.step == int64_t(1), g, s.a * mom + g * keep));  // buf = g at first
      g = options.nesterov_ ? g + s.a * mom : s.a;
    }
    p.sub_(g * lr);
  });
  kernels::sgd_update(
      fused, {options.momentum_, options.dampening_, options.weight_decay_, options.nesterov_});
}

namespace {

template <class Options>
void check_adam(const Options& o, const char* name) {
  EMBER_CHECK(o.eps_ >= 0 && o.weight_decay_ >= 0, ValueError, name,
              ": eps and weight_decay must be non-negative");
  EMBER_CHECK(
      o.betas_.first >= 0 && o.betas_.first < 1 && o.betas_.second >= 0 && o.betas_.second < 1,
      ValueError, name, ": betas must be in [0, 1), got (", o.betas_.first, ", ", o.betas_.second,
      ")");
}

}  // namespace

// Adam's and AdamW's step: fused where the kernel takes the parameter, Tensor ops otherwise (the
// step count and every hyperparameter as tensors, so the same ops trace).
template <class Options>
void Optimizer::adam_step(const Options& o, bool decoupled) {
  std::vector<kernels::UpdateSlot> fused;
  for_each_update(o.amsgrad_ ? 3 : 2, [&](Tensor& p, size_t gi, State& s) {
    const int64_t n = count_step(s);
    kernels::UpdateSlot slot = fused_slot(o.fused_, p, groups_[gi].lr, s, o.amsgrad_ ? 3 : 2);
    if (slot.param.defined()) {
      slot.step = n;
      fused.push_back(std::move(slot));
      return;
    }
    const DType dt = p.dtype();
    const Tensor lr = hyper([this, gi] { return groups_[gi].lr; }, dt);
    const Tensor b1 = hyper([&o] { return o.betas_.first; }, dt);
    const Tensor b2 = hyper([&o] { return o.betas_.second; }, dt);
    const Tensor eps = hyper([&o] { return o.eps_; }, dt);
    const Tensor wd = hyper([&o] { return o.weight_decay_; }, dt);
    Tensor g = p.grad();
    if (o.weight_decay_ != 0) {
      if (decoupled)
        p.mul_(1.0 - lr * wd);
      else
        g = g + p * wd;
    }
    s.a.mul_(b1).add_(g * (1.0 - b1));
    s.b.mul_(b2).add_(g * g * (1.0 - b2));
    const Tensor step = s.step.to(dt);
    const Tensor bias1 = 1.0 - b1.pow(step), bias2 = 1.0 - b2.pow(step);
    Tensor second = s.b;
    if (o.amsgrad_) second = s.c.copy_(maximum(s.c, s.b));
    const Tensor denom = second.sqrt() / bias2.sqrt() + eps;
    p.sub_(s.a / denom * (lr / bias1));
  });
  kernels::adam_update(
      fused, {o.betas_.first, o.betas_.second, o.eps_, o.weight_decay_, decoupled, o.amsgrad_});
}

Adam::Adam(std::vector<Tensor> params, AdamOptions o)
    : Optimizer(std::move(params), o.lr_, "Adam"), options(std::move(o)) {
  check_adam(o, "Adam");
}

void Adam::step() { adam_step(options, false); }

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Optimizer(std::move(params), o.lr_, "AdamW"), options(o) {
  check_adam(o, "AdamW");
}

void AdamW::step() { adam_step(options, true); }

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : optimizer_(optimizer), step_size_(step_size), gamma_(gamma) {
  EMBER_CHECK(step_size > 0, ValueError, "StepLR: step_size must be positive, got ", step_size);
}

void StepLR::step() {
  if (++count_ % step_size_ != 0) return;
  for (ParamGroup& g : optimizer_.param_groups()) g.lr *= gamma_;
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min,
                                     int64_t warmup_steps)
    : optimizer_(optimizer), t_max_(T_max), warmup_(warmup_steps), eta_min_(eta_min) {
  EMBER_CHECK(T_max > 0 && warmup_steps >= 0, ValueError,
              "CosineAnnealingLR: T_max must be positive and warmup_steps non-negative");
  for (const ParamGroup& g : optimizer.param_groups()) base_lrs_.push_back(g.lr);
  if (warmup_ > 0)
    for (ParamGroup& g : optimizer.param_groups()) g.lr = 0;
}

void CosineAnnealingLR::step() {
  ++count_;
  auto& groups = optimizer_.param_groups();
  for (size_t i = 0; i < groups.size() && i < base_lrs_.size(); ++i) {
    const double base = base_lrs_[i];
    if (count_ <= warmup_) {
      groups[i].lr = base * double(count_) / double(warmup_);
      continue;
    }
    const double t = double(std::min(count_ - warmup_, t_max_));
    groups[i].lr = eta_min_ + (base - eta_min_) * (1 + std::cos(M_PI * t / double(t_max_))) / 2;
  }
}

}  // namespace ember::optim
