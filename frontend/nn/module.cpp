#include "ember/nn/module.h"

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"

namespace ember::nn {

void Module::check_name(const std::string& name, const char* what) const {
  EMBER_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError, what, ": name '",
              name, "' must be non-empty and contain no dot");
  EMBER_CHECK(!parameters_.contains(name) && !buffers_.contains(name) && !children_.contains(name),
              ValueError, what, ": '", name, "' is already registered in ", name_);
}

Tensor& Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_name(name, "register_parameter");
  EMBER_CHECK(tensor.defined(), ValueError, "register_parameter: '", name, "' is undefined");
  if (requires_grad) tensor.set_requires_grad(true);
  return parameters_.insert(std::move(name), std::move(tensor));
}

Tensor& Module::register_buffer(std::string name, Tensor tensor) {
  check_name(name, "register_buffer");
  return buffers_.insert(std::move(name), std::move(tensor));
}

template <class F>
void Module::collect(const std::string& prefix, bool recurse, const F& f) const {
  f(*this, prefix);
  if (!recurse) return;
  for (const auto& child : children_) child.value()->collect(prefix + child.key() + ".", true, f);
}

OrderedDict<std::string, Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<std::string, Tensor> out;
  collect("", recurse, [&](const Module& m, const std::string& prefix) {
    for (const auto& p : m.parameters_) out.insert(prefix + p.key(), p.value());
  });
  return out;
}
std::vector<Tensor> Module::parameters(bool recurse) const {
  return named_parameters(recurse).values();
}
OrderedDict<std::string, Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<std::string, Tensor> out;
  collect("", recurse, [&](const Module& m, const std::string& prefix) {
    for (const auto& b : m.buffers_) out.insert(prefix + b.key(), b.value());
  });
  return out;
}
std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

std::vector<std::shared_ptr<Module>> Module::children() const { return children_.values(); }
OrderedDict<std::string, std::shared_ptr<Module>> Module::named_children() const {
  return children_;
}

std::vector<std::shared_ptr<Module>> Module::modules(bool include_self) {
  std::vector<std::shared_ptr<Module>> out;
  if (include_self) out.push_back(shared_from_this());
  for (const auto& child : children_)
    for (auto& m : child.value()->modules(true)) out.push_back(m);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (const auto& child : children_) child.value()->train(on);
}

void Module::to(DType dtype) {
  EMBER_CHECK(is_floating(dtype), DTypeError,
              "Module::to only accepts floating point dtypes, but got ", dtype);
  NoGradGuard no_grad;
  auto convert = [&](Tensor& t) {
    if (t.is_floating_point() && t.dtype() != dtype) t.set_data(t.to(dtype));
  };
  for (auto& p : parameters_) convert(p.value());
  for (auto& b : buffers_) convert(b.value());
  for (const auto& child : children_) child.value()->to(dtype);
}

void Module::to(Device device) {
  EMBER_CHECK(device.is_cpu(), Error, "Module::to: device ", device,
              " is not available yet (only cpu tensors exist before the GPU milestone)");
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none) {
      p.mutable_grad() = Tensor();
    } else {
      NoGradGuard no_grad;
      p.mutable_grad().zero_();
    }
  }
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& child : children_) child.value()->apply(fn);
  fn(*this);
}

}  // namespace ember::nn
