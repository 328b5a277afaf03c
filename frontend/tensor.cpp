// Tensor's state and its methods; the methods forward to the free-function ops in ops.cpp.
#include "ember/frontend/tensor.h"

#include "ember/frontend/indexing.h"

#include <algorithm>
#include <cmath>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "frontend/autograd/node.h"
#include "frontend/dispatch.h"
#include "frontend/tensor_impl.h"
#include "ember/runtime/cuda.h"

namespace ember {

Tensor::Tensor(Array array) : impl_(std::make_shared<Impl>()) { impl_->array = std::move(array); }

Tensor Tensor::traced(TraceContext* ctx, ir::Value* v, Array meta) {
  Tensor t;
  t.impl_ = std::make_shared<Impl>(Impl{std::move(meta), false, ctx->id(), ctx->graph(), v});
  return t;
}

bool Tensor::is_traced() const { return impl_ && impl_->value; }
ir::Value* Tensor::traced_value() const { return impl_ ? impl_->value : nullptr; }
TraceContext* Tensor::trace_context() const {
  TraceContext* active = TraceContext::active();
  return is_traced() && active && active->id() == impl_->trace_id ? active : nullptr;
}

const Array& Tensor::array() const {
  EMBER_CHECK(impl_ != nullptr, Error, "Tensor: the tensor is undefined (default-constructed)");
  return impl_->array;
}

int64_t Tensor::size(int64_t dim) const {
  return array().size(wrap_dim(dim, std::max<int64_t>(this->dim(), 1), "size"));
}
int64_t Tensor::stride(int64_t dim) const {
  return array().stride(wrap_dim(dim, std::max<int64_t>(this->dim(), 1), "stride"));
}

void Tensor::check_data_ptr(DType requested, const char* op) const {
  EMBER_CHECK(!is_traced(), Error, op,
              ": a traced tensor has no data while tracing; read values with item()");
  EMBER_CHECK(requested == dtype(), DTypeError, op, ": expected the tensor's dtype ", dtype(),
              " but data_ptr was asked for ", requested);
}

Scalar Tensor::peek_item() const {
  EMBER_CHECK(numel() == 1, ValueError, "item: a Tensor with ", numel(),
              " elements cannot be converted to a scalar (shape ", shape_str(sizes()), ")");
  if (is_traced()) {
    TraceContext* tc = trace_context();
    EMBER_CHECK(tc != nullptr, Error, "item: a traced tensor was read outside its trace");
    const double v = tc->materialize(*this).element_as_double(0);
    if (is_floating(dtype())) return Scalar(v);
    if (dtype() == DType::Bool) return Scalar(v != 0);
    return Scalar(int64_t(v));
  }
  return dispatch_dtype(dtype(),
                        [&]<class T>() { return Scalar(compute_t<T>(*array().data_as<T>())); });
}

Scalar Tensor::item() const {
  const Scalar s = peek_item();
  TraceContext* tc = TraceContext::active();
  if (tc && is_traced() && trace_context() == tc) tc->record_guard(*this, s.to_double());
  return s;
}

Tensor::operator bool() const {
  const Scalar s = item();
  return s.kind() == Scalar::Kind::Float ? s.to_double() != 0 : s.to_int() != 0;
}

std::vector<double> Tensor::values_as_double() const {
  std::vector<double> out;
  if (is_traced()) {
    const Tensor flat = reshape({numel()});
    for (int64_t i = 0; i < numel(); ++i) out.push_back(flat.select(0, i).item().to_double());
    return out;
  }
  for (int64_t i = 0; i < numel(); ++i) out.push_back(array().element_as_double(i));
  return out;
}

bool Tensor::requires_grad() const { return impl_ && (impl_->requires_grad || impl_->grad_fn); }
Tensor& Tensor::set_requires_grad(bool requires_grad) {
  EMBER_CHECK(!requires_grad || is_floating_point(), DTypeError,
              "set_requires_grad: only Tensors of floating point dtype can require gradients, "
              "but got ",
              dtype());
  array();
  EMBER_CHECK(!impl_->grad_fn || requires_grad, Error,
              "set_requires_grad: you can only change requires_grad flags of leaf variables (this "
              "tensor is the result of ",
              impl_->grad_fn->name(), "); use detach() for a copy without its history");
  if (!impl_->grad_fn) impl_->requires_grad = requires_grad;
  return *this;
}
// Inside a traced function a real leaf's grad() is read anew on every run, and assigning it is a
// write the run applies (see TraceContext).
Tensor Tensor::grad() const {
  array();
  if (TraceContext* tc = TraceContext::active()) tc->note_grad_read(*this, impl_->grad);
  return impl_->grad;
}
Tensor& Tensor::mutable_grad() {
  array();
  if (TraceContext* tc = TraceContext::active()) {
    tc->note_grad_read(*this, impl_->grad);
    tc->note_grad_slot(*this, true);
  }
  return impl_->grad;
}
bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }
std::string Tensor::grad_fn_name() const {
  return impl_ && impl_->grad_fn ? impl_->grad_fn->name() : "";
}
Tensor Tensor::detach() const {
  array();
  Tensor t;
  t.impl_ = std::make_shared<Impl>(
      Impl{impl_->array, false, impl_->trace_id, impl_->graph, impl_->value, nullptr, 0, {}});
  return t;
}
void Tensor::set_data(const Tensor& data) {
  array();
  EMBER_CHECK(!is_traced() && !data.is_traced(), Error,
              "set_data: not supported on traced tensors");
  EMBER_CHECK(!impl_->requires_grad || data.is_floating_point(), DTypeError,
              "set_data: a tensor that requires grad needs floating data, got ", data.dtype());
  impl_->array = data.array();
  impl_->grad = Tensor();
}
void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph,
                      bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

namespace {

// The shape attribute of a reshape (or, with reshape false, an expand) of x to sizes.
ir::Attrs shape_attr(const Tensor& x, IntArrayRef sizes, bool reshape = true) {
  return {{ir::Attr::Shape,
           detail::size_list(sizes, reshape ? "reshape" : "expand", reshape ? &x : nullptr)}};
}

// A view whose IR form is a reshape to meta's sizes (view, squeeze, unsqueeze, ...).
Tensor reshape_view(const Tensor& x, Array meta) {
  const Shape shape = meta.sizes();
  return detail::view(x, std::move(meta), ir::Op::Reshape, [&] { return shape_attr(x, shape); });
}

}  // namespace

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  return detail::dispatch(ir::Op::Cast, {*this}, {{ir::Attr::DType, dtype}});
}
Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  EMBER_CHECK(!is_traced(), Error, "to(", device, "): a copy between devices is not traceable yet");
  EMBER_CHECK(!requires_grad(), Error, "to(", device,
              "): a copy between devices of a tensor that requires grad is not recorded by "
              "autograd yet");
  if (device.is_cuda()) return Tensor(cuda::copy_to_device(array()));
  return Tensor(cuda::copy_to_host(array()));
}
namespace {

// A copy of x's values (contiguous, or a copy of the storage), whose gradient is x's: recorded as
// an identity reshape.
Tensor copy_of(const Tensor& x, bool copy_storage) {
  Tensor out;
  if (TraceContext* tc =
          TraceContext::active()) {  // layout is not part of the IR, values immutable
    const Array meta(nullptr, x.dtype(), x.sizes().vec(), contiguous_strides(x.sizes()), 0);
    out = Tensor::traced(tc, tc->value_of(x), meta);
  } else {
    out =
        Tensor(copy_storage ? kernels::cast(x.array(), x.dtype()) : kernels::contiguous(x.array()));
  }
  const Tensor inputs[] = {x};
  if (autograd::should_record(inputs))
    autograd::record(ir::Op::Reshape, {{ir::Attr::Shape, ir::sym_shape(x.sizes())}}, inputs, out);
  return out;
}

}  // namespace

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : copy_of(*this, false); }
Tensor Tensor::clone() const { return copy_of(*this, true); }

namespace {

// An in-place write to x is refused on a leaf that requires grad (in grad mode); it counts in the
// storage's version, which saved tensors check. While tracing it is a TraceContext::write.
void check_in_place_allowed(const Tensor& x, const char* op) {
  EMBER_CHECK(!(GradMode::is_enabled() && x.is_leaf() && x.requires_grad()), Error, op,
              ": a leaf Variable that requires grad is being used in an in-place operation (wrap "
              "the update in a NoGradGuard)");
}
void check_in_place(const Tensor& x, const char* op) {
  check_in_place_allowed(x, op);
  if (const auto& storage = x.array().storage()) storage->bump_version();
}

}  // namespace

// x takes src's values and, where src requires grad, a history whose gradient flows to src
// (broadcast back to its shape); x's previous history gets nothing, as it is overwritten.
Tensor& Tensor::copy_(const Tensor& src) {
  check_in_place(*this, "copy_");
  if (TraceContext* tc = TraceContext::active()) {
    const Tensor value = src.to(dtype());
    tc->write(*this, value.sizes().vec() == sizes().vec() ? value : value.expand(sizes()));
  } else {
    kernels::copy_into(array(), src.array());
  }
  const Tensor inputs[] = {src};
  if (autograd::should_record(inputs))
    autograd::record(ir::Op::Expand, {{ir::Attr::Shape, ir::sym_shape(sizes())}}, inputs, *this);
  else if (GradMode::is_enabled())
    impl_->grad_fn = nullptr;
  return *this;
}
Tensor& Tensor::fill_(const Scalar& value) {
  check_in_place(*this, "fill_");
  detail::check_value_fits(value, dtype(), "fill_");
  if (TraceContext* tc = TraceContext::active())
    tc->write(*this, full(sizes(), value, dtype()));
  else if (value.kind() == Scalar::Kind::Float)
    kernels::fill(array(), value.to_double());
  else  // exact for int64 values beyond 2^53
    kernels::copy_into(array(), Array::scalar_int(value.to_int(), DType::Int64));
  if (GradMode::is_enabled()) impl_->grad_fn = nullptr;
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }

Tensor Tensor::view(IntArrayRef sizes) const {
  return reshape_view(*this, kernels::view(array(), sizes));
}
// A view where the strides allow one, else a view of a contiguous copy (a traced value has no
// layout: contiguous() is the same value there).
Tensor Tensor::reshape(IntArrayRef sizes) const {
  const Tensor source = kernels::is_viewable(array(), sizes) ? *this : contiguous();
  return reshape_view(source, kernels::view(source.array(), sizes));
}
Tensor Tensor::permute(IntArrayRef dims) const {
  Array meta = kernels::permute(array(), dims);
  return detail::view(*this, std::move(meta), ir::Op::Permute, [&] {
    std::vector<ir::SymInt> wrapped;
    for (int64_t d : dims) wrapped.push_back(wrap_dim(d, dim(), "permute"));
    return ir::Attrs{{ir::Attr::Dims, wrapped}};
  });
}
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  if (dim() == 0) return reshape_view(*this, kernels::transpose(array(), dim0, dim1));
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < dim(); ++d) perm.push_back(d);
  std::swap(perm[size_t(wrap_dim(dim0, dim(), "transpose"))],
            perm[size_t(wrap_dim(dim1, dim(), "transpose"))]);
  return permute(perm);
}
Tensor Tensor::t() const {
  EMBER_CHECK(dim() <= 2, ShapeError, "t: expects a tensor with <= 2 dimensions, but got ", dim(),
              "-D (shape ", shape_str(sizes()), ")");
  return dim() < 2 ? *this : transpose(0, 1);
}
Tensor Tensor::expand(IntArrayRef sizes) const {
  Array meta = kernels::expand(array(), sizes);
  const Shape shape = meta.sizes();
  return detail::view(*this, std::move(meta), ir::Op::Expand,
                      [&] { return shape_attr(*this, shape, false); });
}
Tensor Tensor::expand_as(const Tensor& other) const { return expand(other.sizes()); }
Tensor Tensor::squeeze() const {
  return reshape_view(*this, kernels::squeeze(array(), std::nullopt));
}
Tensor Tensor::squeeze(int64_t dim) const {
  return reshape_view(*this, kernels::squeeze(array(), dim));
}
Tensor Tensor::unsqueeze(int64_t dim) const {
  return reshape_view(*this, kernels::unsqueeze(array(), dim));
}
Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
                     int64_t step) const {
  Array meta = kernels::slice(array(), dim, start, end, step);
  return detail::view(*this, std::move(meta), ir::Op::Slice, [&] {
    // The bounds normalized as kernels::slice normalizes them.
    const int64_t d = wrap_dim(dim, this->dim(), "slice"), size = this->size(d);
    auto clip = [size](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + size : v, 0, size); };
    const int64_t first = start ? clip(*start) : 0;
    const int64_t stop = std::max(first, end ? clip(*end) : size);
    TraceContext* tc = TraceContext::active();  // sizes fn computed: symbolic by evidence
    auto bound = [&](int64_t v, const char* what) -> ir::AttrValue {
      if (tc) return tc->size(v, "slice", what);
      return v;
    };
    return ir::Attrs{{ir::Attr::Dim, d},
                     {ir::Attr::Start, bound(first, "start")},
                     {ir::Attr::End, bound(stop, "end")},
                     {ir::Attr::Step, tc ? tc->static_size(step, "slice", "step") : step}};
  });
}
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  kernels::narrow(array(), dim, start, length);  // its checks and messages
  const int64_t d = wrap_dim(dim, this->dim(), "narrow");
  const int64_t first = start < 0 ? start + size(d) : start;
  return slice(d, first, first + length);
}
// The IR form: a one-element slice, reshaped without the dim.
Tensor Tensor::select(int64_t dim, int64_t index) const {
  Array meta = kernels::select(array(), dim, index);
  const int64_t d = wrap_dim(dim, this->dim(), "select");
  const int64_t i = index < 0 ? index + size(d) : index;
  return reshape_view(slice(d, i, i + 1, 1), std::move(meta));
}
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int64_t s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  EMBER_CHECK(s <= e, IndexError, "flatten: start_dim (", s, ") cannot come after end_dim (", e,
              ")");
  Shape shape(sizes().begin(), sizes().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= size(d);
  shape.push_back(n);
  for (int64_t d = e + 1; d < dim(); ++d) shape.push_back(size(d));
  return reshape(shape);
}
Tensor Tensor::index_select(int64_t dim, const Tensor& index) const {
  return ember::index_select(*this, dim, index);
}
Tensor Tensor::gather(int64_t dim, const Tensor& index) const {
  return ember::gather(*this, dim, index);
}
Tensor Tensor::index_add(int64_t dim, const Tensor& index, const Tensor& source) const {
  return ember::index_add(*this, dim, index, source);
}
Tensor Tensor::index_copy(int64_t dim, const Tensor& index, const Tensor& source) const {
  return ember::index_copy(*this, dim, index, source);
}
Tensor Tensor::cumsum(int64_t dim, std::optional<DType> dtype) const {
  return ember::cumsum(*this, dim, dtype);
}
std::tuple<Tensor, Tensor> Tensor::sort(int64_t dim, bool descending) const {
  return ember::sort(*this, dim, descending);
}
Tensor Tensor::argsort(int64_t dim, bool descending) const {
  return ember::argsort(*this, dim, descending);
}
std::tuple<Tensor, Tensor> Tensor::topk(int64_t k, int64_t dim, bool largest, bool sorted) const {
  return ember::topk(*this, k, dim, largest, sorted);
}
Tensor Tensor::multinomial(int64_t num_samples, bool replacement) const {
  return ember::multinomial(*this, num_samples, replacement);
}

Tensor Tensor::sum(IntArrayRef dims, bool keepdim) const {
  return ember::sum(*this, dims, keepdim);
}
Tensor Tensor::mean(IntArrayRef dims, bool keepdim) const {
  return ember::mean(*this, dims, keepdim);
}
Tensor Tensor::prod(IntArrayRef dims, bool keepdim) const {
  return ember::prod(*this, dims, keepdim);
}
Tensor Tensor::max() const { return ember::max(*this); }
Tensor Tensor::min() const { return ember::min(*this); }
std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const {
  return ember::max(*this, dim, keepdim);
}
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const {
  return ember::min(*this, dim, keepdim);
}
Tensor Tensor::amax(IntArrayRef dims, bool keepdim) const {
  return ember::amax(*this, dims, keepdim);
}
Tensor Tensor::amin(IntArrayRef dims, bool keepdim) const {
  return ember::amin(*this, dims, keepdim);
}
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const {
  return ember::argmax(*this, dim, keepdim);
}
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const {
  return ember::argmin(*this, dim, keepdim);
}
Tensor Tensor::var(IntArrayRef dims, bool unbiased, bool keepdim) const {
  return ember::var(*this, dims, unbiased, keepdim);
}
Tensor Tensor::std(IntArrayRef dims, bool unbiased, bool keepdim) const {
  return ember::std(*this, dims, unbiased, keepdim);
}

Tensor Tensor::exp() const { return ember::exp(*this); }
Tensor Tensor::log() const { return ember::log(*this); }
Tensor Tensor::sqrt() const { return ember::sqrt(*this); }
Tensor Tensor::rsqrt() const { return ember::rsqrt(*this); }
Tensor Tensor::abs() const { return ember::abs(*this); }
Tensor Tensor::neg() const { return ember::neg(*this); }
Tensor Tensor::sin() const { return ember::sin(*this); }
Tensor Tensor::cos() const { return ember::cos(*this); }
Tensor Tensor::tanh() const { return ember::tanh(*this); }
Tensor Tensor::sigmoid() const { return ember::sigmoid(*this); }
Tensor Tensor::relu() const { return ember::relu(*this); }
Tensor Tensor::erf() const { return ember::erf(*this); }
Tensor Tensor::reciprocal() const { return ember::reciprocal(*this); }
Tensor Tensor::floor() const { return ember::floor(*this); }
Tensor Tensor::ceil() const { return ember::ceil(*this); }
Tensor Tensor::round() const { return ember::round(*this); }
Tensor Tensor::sign() const { return ember::sign(*this); }
Tensor Tensor::pow(const Tensor& exponent) const { return ember::pow(*this, exponent); }
Tensor Tensor::pow(const Scalar& exponent) const { return ember::pow(*this, exponent); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const {
  return ember::clamp(*this, min, max);
}
Tensor Tensor::matmul(const Tensor& other) const { return ember::matmul(*this, other); }
Tensor Tensor::softmax(int64_t dim) const { return ember::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return ember::log_softmax(*this, dim); }

namespace {

// x op= y: computes out of place with PyTorch's promotion, then checks that the result can be
// written back (same dtype category and a shape x already has), as PyTorch's in-place ops do.
// When autograd records, op reads a copy of x: the op may save its operand, which the write is
// about to change.
template <class Op>
Tensor& in_place(Tensor& x, const Tensor& other, Op op, const char* name) {
  check_in_place_allowed(x, name);
  const Tensor operands[] = {x, other};
  const Tensor result = op(autograd::should_record(operands) ? x.clone() : x);
  auto category = [](DType d) { return is_floating(d) ? 2 : d == DType::Bool ? 0 : 1; };
  EMBER_CHECK(category(result.dtype()) <= category(x.dtype()), DTypeError, name, ": result type ",
              result.dtype(), " can't be cast to the desired output type ", x.dtype());
  EMBER_CHECK(result.sizes().vec() == x.sizes().vec(), ShapeError, name, ": output with shape ",
              shape_str(x.sizes()), " doesn't match the broadcast shape ",
              shape_str(result.sizes()));
  return x.copy_(result);
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other) {
  return in_place(
      *this, other, [&](const Tensor& self) { return self + other; }, "add_");
}
Tensor& Tensor::add_(const Scalar& other) {
  return in_place(
      *this, Tensor(), [&](const Tensor& self) { return self + other; }, "add_");
}
Tensor& Tensor::sub_(const Tensor& other) {
  return in_place(
      *this, other, [&](const Tensor& self) { return self - other; }, "sub_");
}
Tensor& Tensor::mul_(const Tensor& other) {
  return in_place(
      *this, other, [&](const Tensor& self) { return self * other; }, "mul_");
}
Tensor& Tensor::mul_(const Scalar& other) {
  return in_place(
      *this, Tensor(), [&](const Tensor& self) { return self * other; }, "mul_");
}
Tensor& Tensor::div_(const Tensor& other) {
  return in_place(
      *this, other, [&](const Tensor& self) { return self / other; }, "div_");
}

Tensor Tensor::index(std::initializer_list<indexing::TensorIndex> indices) const {
  return ember::index(*this, std::vector<indexing::TensorIndex>(indices));
}
Tensor Tensor::index(const std::vector<indexing::TensorIndex>& indices) const {
  return ember::index(*this, indices);
}
Tensor& Tensor::index_put_(std::initializer_list<indexing::TensorIndex> indices,
                           const Tensor& values, bool accumulate) {
  return index_put_(std::vector<indexing::TensorIndex>(indices), values, accumulate);
}
Tensor& Tensor::index_put_(const std::vector<indexing::TensorIndex>& indices, const Tensor& values,
                           bool accumulate) {
  return in_place(
      *this, values,
      [&](const Tensor& self) { return ember::index_put(self, indices, values, accumulate); },
      "index_put_");
}
Tensor& Tensor::index_put_(std::initializer_list<indexing::TensorIndex> indices,
                           const Scalar& value) {
  return index_put_(std::vector<indexing::TensorIndex>(indices), value);
}
Tensor& Tensor::index_put_(const std::vector<indexing::TensorIndex>& indices, const Scalar& value) {
  return index_put_(indices, full({}, value, dtype()));
}
Tensor Tensor::masked_fill(const Tensor& mask, const Scalar& value) const {
  return ember::masked_fill(*this, mask, value);
}
Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& value) {
  return in_place(
      *this, mask, [&](const Tensor& self) { return ember::masked_fill(self, mask, value); },
      "masked_fill_");
}

}  // namespace ember
