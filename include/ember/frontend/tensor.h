// ember::Tensor, the user-facing tensor, with LibTorch's names and semantics: a handle to
// (shared) tensor state, so copying a Tensor aliases it, and views share storage. Eager ops run
// the runtime's CPU kernels; tracing and autograd hook in here in later milestones.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ember/ir/ops.h"
#include "ember/runtime/array.h"
#include "ember/runtime/kernels.h"

namespace ember {
namespace indexing {
class TensorIndex;
}

namespace ir {
struct Value;
}
class TraceContext;
namespace autograd {
struct Node;
struct Access;
}  // namespace autograd

// A number argument (x + 2, clamp(x, 0.5)), which remembers whether it was written as a bool, an
// integer or a float: PyTorch's type promotion treats each differently.
class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };
  Scalar(bool v) : kind_(Kind::Bool), d_(v), i_(v) {}
  template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Scalar(T v)
      : kind_(Kind::Int), d_(double(v)), i_(int64_t(v)) {}
  template <class T>
  requires std::is_floating_point_v<T> Scalar(T v)
      : kind_(Kind::Float),
        d_(double(v)),
        i_(d_ > -9.2e18 && d_ < 9.2e18 ? int64_t(d_) : 0) {}  // no UB for NaN or huge values
  Scalar(Half v) : Scalar(float(v)) {}
  Scalar(BFloat16 v) : Scalar(float(v)) {}

  Kind kind() const { return kind_; }
  double to_double() const { return d_; }
  int64_t to_int() const { return i_; }

 private:
  Kind kind_;
  double d_;
  int64_t i_;
};

struct TensorOptions {
  std::optional<DType> dtype_;
  Device device_;
  bool requires_grad_ = false;

  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}
  TensorOptions(Device d) : device_(d) {}
  TensorOptions dtype(DType d) const {
    TensorOptions o = *this;
    o.dtype_ = d;
    return o;
  }
  TensorOptions device(Device d) const {
    TensorOptions o = *this;
    o.device_ = d;
    return o;
  }
  TensorOptions requires_grad(bool r) const {
    TensorOptions o = *this;
    o.requires_grad_ = r;
    return o;
  }
  DType dtype_or(DType fallback) const { return dtype_.value_or(fallback); }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Array array);
  // A tracer tensor: stands for value v of the graph ctx is tracing. meta holds its sizes (and the
  // strides eager would give it) but no storage.
  static Tensor traced(TraceContext* ctx, ir::Value* v, Array meta);

  bool defined() const { return impl_ != nullptr; }
  // The eager data (for a tracer tensor: sizes and strides only, no storage).
  const Array& array() const;
  bool is_traced() const;
  // The trace this tracer tensor belongs to, while that trace is the active one; else null.
  // Identifies the tensor state this handle shares (equal for copies of one handle).
  const void* identity() const { return impl_.get(); }
  ir::Value* traced_value() const;
  TraceContext* trace_context() const;

  // ---- metadata ----
  IntArrayRef sizes() const { return array().sizes(); }
  IntArrayRef strides() const { return array().strides(); }
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return array().dim(); }
  int64_t ndimension() const { return dim(); }
  int64_t numel() const { return array().numel(); }
  int64_t storage_offset() const { return array().offset(); }
  DType dtype() const { return array().dtype(); }
  DType scalar_type() const { return dtype(); }
  Device device() const { return array().device(); }
  bool is_contiguous() const { return array().is_contiguous(); }
  bool is_floating_point() const { return is_floating(dtype()); }
  size_t element_size() const { return array().itemsize(); }

  // Typed pointer to the first element; DTypeError when T is not the tensor's storage type.
  template <class T>
  T* data_ptr() const {
    check_data_ptr(dtype_of<T>(), "data_ptr");
    return array().data_as<T>();
  }
  void* data_ptr() const {
    check_data_ptr(dtype(), "data_ptr");
    return array().data();
  }
  // The single value of a one-element tensor (ValueError otherwise); integers stay exact. While
  // tracing, the read runs the graph so far and records a guard on the value.
  Scalar item() const;
  // A one-element tensor's truth (item() != 0), for if (x.sum() > 0) ...
  explicit operator bool() const;
  // Every element, in row-major order, converted to T (PyTorch's tolist, flattened). While
  // tracing this reads the values like item() does, with a guard per element.
  template <class T>
  std::vector<T> tolist() const {
    std::vector<T> out;
    for (double v : values_as_double()) out.push_back(T(v));
    return out;
  }
  std::vector<double> values_as_double() const;
  // The value as T, like LibTorch's item<T>(). While tracing, the number is baked into the
  // graph, so the read guards the value itself: a compiled function replays only for inputs with
  // that same value. To branch on data and replay for every input that takes the same branch,
  // test a predicate tensor instead: `if (bool(x.sum() > 0))` guards the comparison's outcome.
  template <class T>
  T item() const;
  // item() without a guard (no trace reads it).
  Scalar peek_item() const;

  // ---- autograd (PyTorch's semantics; see ember/frontend/autograd.h) ----
  // A leaf that asked for gradients, or a result computed (with grad mode on) from one.
  bool requires_grad() const;
  // Only a floating-point leaf can require gradients (DTypeError otherwise, Error on a non-leaf).
  Tensor& set_requires_grad(bool requires_grad);
  Tensor& requires_grad_(bool requires_grad = true) { return set_requires_grad(requires_grad); }
  // The gradient accumulated into a leaf by backward() (undefined until then).
  Tensor grad() const;
  Tensor& mutable_grad();
  bool is_leaf() const;  // no grad_fn: created by the user, or computed without grad
  // The backward node that produced the tensor ("MulBackward"), empty for a leaf.
  std::string grad_fn_name() const;
  // The same values (shared storage), cut from the graph: a leaf that does not require grad.
  Tensor detach() const;
  // Every handle of this tensor now sees data's values (sizes, dtype, storage), keeping its own
  // autograd flags: how nn::Module::to converts parameters an optimizer already holds.
  void set_data(const Tensor& data);
  // Accumulates d(this)/d(leaf) * gradient into every leaf's grad(). gradient may be omitted for
  // a one-element tensor (it is 1). The graph's saved tensors are freed unless retain_graph
  // (which defaults to create_graph); create_graph records the backward itself, for higher-order
  // gradients.
  void backward(const Tensor& gradient = {}, std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;

  // ---- conversion and copies ----
  Tensor to(DType dtype) const;
  // A copy on `device` (contiguous), or *this when it is there: cpu <-> cuda:0. BackendError
  // without a CUDA device. Not traced and not recorded by autograd yet (Error).
  Tensor to(Device device) const;
  Tensor cuda() const { return to(Device(kCUDA, 0)); }
  Tensor cpu() const { return to(Device(kCPU)); }
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(const Scalar& value);
  Tensor& zero_();

  // ---- views and movement ----
  Tensor view(IntArrayRef sizes) const;
  Tensor reshape(IntArrayRef sizes) const;
  Tensor permute(IntArrayRef dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;
  Tensor expand(IntArrayRef sizes) const;
  Tensor expand_as(const Tensor& other) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor slice(int64_t dim = 0, std::optional<int64_t> start = std::nullopt,
               std::optional<int64_t> end = std::nullopt, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor index_add(int64_t dim, const Tensor& index, const Tensor& source) const;
  Tensor index_copy(int64_t dim, const Tensor& index, const Tensor& source) const;

  // ---- indexing (ember/frontend/indexing.h, which callers include) ----
  Tensor index(std::initializer_list<indexing::TensorIndex> indices) const;
  Tensor index(const std::vector<indexing::TensorIndex>& indices) const;
  // this[indices] = values (accumulate: +=), in place.
  Tensor& index_put_(std::initializer_list<indexing::TensorIndex> indices, const Tensor& values,
                     bool accumulate = false);
  Tensor& index_put_(const std::vector<indexing::TensorIndex>& indices, const Tensor& values,
                     bool accumulate = false);
  Tensor& index_put_(std::initializer_list<indexing::TensorIndex> indices, const Scalar& value);
  Tensor& index_put_(const std::vector<indexing::TensorIndex>& indices, const Scalar& value);
  Tensor masked_fill(const Tensor& mask, const Scalar& value) const;
  Tensor& masked_fill_(const Tensor& mask, const Scalar& value);

  // ---- along one dim (see ember/frontend/ops.h) ----
  Tensor cumsum(int64_t dim, std::optional<DType> dtype = std::nullopt) const;
  std::tuple<Tensor, Tensor> sort(int64_t dim = -1, bool descending = false) const;
  Tensor argsort(int64_t dim = -1, bool descending = false) const;
  std::tuple<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true,
                                  bool sorted = true) const;
  Tensor multinomial(int64_t num_samples, bool replacement = false) const;

  // ---- reductions (dims empty = all) ----
  Tensor sum(IntArrayRef dims = {}, bool keepdim = false) const;
  Tensor mean(IntArrayRef dims = {}, bool keepdim = false) const;
  Tensor prod(IntArrayRef dims = {}, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor amax(IntArrayRef dims = {}, bool keepdim = false) const;
  Tensor amin(IntArrayRef dims = {}, bool keepdim = false) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor var(IntArrayRef dims = {}, bool unbiased = true, bool keepdim = false) const;
  Tensor std(IntArrayRef dims = {}, bool unbiased = true, bool keepdim = false) const;

  // ---- elementwise (method forms) ----
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor abs() const;
  Tensor neg() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor erf() const;
  Tensor reciprocal() const;
  Tensor floor() const;
  Tensor ceil() const;
  Tensor round() const;
  Tensor sign() const;
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(const Scalar& exponent) const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;

  // ---- in place ----
  Tensor& add_(const Tensor& other);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);

 private:
  struct Impl;
  friend struct autograd::Access;
  friend class TraceContext;
  void check_data_ptr(DType requested, const char* op) const;
  std::shared_ptr<Impl> impl_;
};

template <class T>
T Tensor::item() const {
  const Scalar s = item();
  if constexpr (std::is_integral_v<T>)
    return s.kind() == Scalar::Kind::Float ? T(s.to_double()) : T(s.to_int());
  else
    return T(s.to_double());
}

std::ostream& operator<<(std::ostream& os, const Tensor& t);
// The text operator<< writes: PyTorch's format.
std::string to_string(const Tensor& t);

}  // namespace ember
