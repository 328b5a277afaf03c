// ember::nn::Module, with LibTorch's names: parameters, buffers and submodules registered by
// name (dotted paths for nested ones: "fc1.weight"), train/eval, to(dtype), zero_grad. A model is
// a subclass (NetImpl) whose holder (EMBER_MODULE(Net), as TORCH_MODULE) is a shared handle with
// operator->, so `Net net; net->forward(x)` and `net(x)` read as in LibTorch.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/frontend/tensor.h"

namespace ember::nn {

// Insertion-ordered name -> value map, as torch::OrderedDict: items with key() and value(),
// find(key) (null when absent), operator[] (Error when absent).
template <class Key, class Value>
class OrderedDict {
 public:
  class Item {
   public:
    Item(Key key, Value value) : key_(std::move(key)), value_(std::move(value)) {}
    const Key& key() const { return key_; }
    Value& value() { return value_; }
    const Value& value() const { return value_; }

   private:
    Key key_;
    Value value_;
  };

  Value& insert(Key key, Value value) {
    EMBER_CHECK(!find(key), ValueError, "OrderedDict: key '", key, "' already exists");
    items_.emplace_back(std::move(key), std::move(value));
    return items_.back().value();
  }
  Value* find(const Key& key) {
    for (Item& i : items_)
      if (i.key() == key) return &i.value();
    return nullptr;
  }
  const Value* find(const Key& key) const {
    for (const Item& i : items_)
      if (i.key() == key) return &i.value();
    return nullptr;
  }
  const Value& operator[](const Key& key) const {
    const Value* v = find(key);
    EMBER_CHECK(v != nullptr, ValueError, "OrderedDict: no key '", key, "'");
    return *v;
  }
  bool contains(const Key& key) const { return find(key) != nullptr; }
  size_t size() const { return items_.size(); }
  bool is_empty() const { return items_.empty(); }
  std::vector<Key> keys() const {
    std::vector<Key> out;
    for (const Item& i : items_) out.push_back(i.key());
    return out;
  }
  std::vector<Value> values() const {
    std::vector<Value> out;
    for (const Item& i : items_) out.push_back(i.value());
    return out;
  }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string name = "Module") : name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }

  // This module's own entries first, then each submodule's, depth first.
  std::vector<Tensor> parameters(bool recurse = true) const;
  OrderedDict<std::string, Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<std::string, Tensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  OrderedDict<std::string, std::shared_ptr<Module>> named_children() const;
  // This module (include_self) and every submodule, depth first.
  std::vector<std::shared_ptr<Module>> modules(bool include_self = true);

  // A parameter: a leaf that requires grad (unless told otherwise). Returns the stored handle.
  Tensor& register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  // State that is not trained (running statistics): saved with the module, moved by to().
  Tensor& register_buffer(std::string name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    EMBER_CHECK(module != nullptr, ValueError, "register_module: submodule '", name, "' is null");
    check_name(name, "register_module");
    children_.insert(std::move(name), module);
    return module;
  }
  // A holder (EMBER_MODULE): registers what it holds, returns the holder.
  template <class H>
  requires requires(H h) { h.ptr(); }
  H register_module(std::string name, H holder) {
    register_module(std::move(name), holder.ptr());
    return holder;
  }

  // Training mode for this module and every submodule (Dropout and BatchNorm read it).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Every parameter and buffer converted in place (handles held elsewhere, as an optimizer's,
  // see the new values); parameters keep requiring grad.
  void to(DType dtype);
  void to(Device device);
  // Drops every parameter's gradient (set_to_none), or fills it with zeros.
  void zero_grad(bool set_to_none = true);
  // fn on this module and every submodule, depth first, children before their parent.
  void apply(const std::function<void(Module&)>& fn);

 private:
  void check_name(const std::string& name, const char* what) const;
  template <class F>
  void collect(const std::string& prefix, bool recurse, const F& f) const;

  std::string name_;
  OrderedDict<std::string, Tensor> parameters_, buffers_;
  OrderedDict<std::string, std::shared_ptr<Module>> children_;
  bool training_ = true;
};

// What EMBER_MODULE(Name) derives from: a shared handle to a NameImpl, built from NameImpl's
// constructor arguments, callable as its forward.
template <class Impl>
class ModuleHolder {
 public:
  using ContainedType = Impl;
  template <class... Args>
  requires std::is_constructible_v<Impl, Args...>
  explicit ModuleHolder(Args&&... args)
      : impl_(std::make_shared<Impl>(std::forward<Args>(args)...)) {}
  ModuleHolder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}  // NOLINT: as LibTorch's
  ModuleHolder(std::nullptr_t) {}                                       // NOLINT: empty holder

  Impl* operator->() const { return impl_.get(); }
  Impl& operator*() const { return *impl_; }
  const std::shared_ptr<Impl>& ptr() const { return impl_; }
  bool is_empty() const { return impl_ == nullptr; }
  template <class... Args>
  auto operator()(Args&&... args) const {
    return impl_->forward(std::forward<Args>(args)...);
  }

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ember::nn

// EMBER_MODULE(Net): the holder Net of a module class NetImpl, as LibTorch's TORCH_MODULE.
#define EMBER_MODULE(Name)                                     \
  class Name : public ::ember::nn::ModuleHolder<Name##Impl> {  \
   public:                                                     \
    using ::ember::nn::ModuleHolder<Name##Impl>::ModuleHolder; \
  }
