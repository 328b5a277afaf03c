// Tensor's state and its methods; the methods forward to the free-function ops in ops.cpp.
#include "ember/frontend/tensor.h"

#include <cmath>

#include "ember/frontend/ops.h"

namespace ember {

// The shared state behind a Tensor handle. Autograd and tracing metadata join it later.
struct Tensor::Impl {
  Array array;
  bool requires_grad = false;
};

Tensor::Tensor(Array array) : impl_(std::make_shared<Impl>(Impl{std::move(array), false})) {}

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
  EMBER_CHECK(requested == dtype(), DTypeError, op, ": expected the tensor's dtype ", dtype(),
              " but data_ptr was asked for ", requested);
}

Scalar Tensor::item() const {
  EMBER_CHECK(numel() == 1, ValueError, "item: a Tensor with ", numel(),
              " elements cannot be converted to a scalar (shape ", shape_str(sizes()), ")");
  return dispatch_dtype(dtype(),
                        [&]<class T>() { return Scalar(compute_t<T>(*array().data_as<T>())); });
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
Tensor& Tensor::set_requires_grad(bool requires_grad) {
  EMBER_CHECK(!requires_grad || is_floating_point(), DTypeError,
              "set_requires_grad: only floating point tensors can require gradients, but got ",
              dtype());
  array();
  impl_->requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::to(DType dtype) const {
  return dtype == this->dtype() ? *this : Tensor(kernels::cast(array(), dtype));
}
Tensor Tensor::to(Device device) const {
  EMBER_CHECK(device.is_cpu(), Error, "to: device ", device,
              " is not available yet (only cpu tensors exist before the GPU milestone)");
  return *this;
}
Tensor Tensor::contiguous() const {
  return is_contiguous() ? *this : Tensor(kernels::contiguous(array()));
}
Tensor Tensor::clone() const { return Tensor(kernels::cast(array(), dtype())); }
Tensor& Tensor::copy_(const Tensor& src) {
  kernels::copy_into(array(), src.array());
  return *this;
}
Tensor& Tensor::fill_(const Scalar& value) {
  kernels::fill(array(), value.to_double());
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }

Tensor Tensor::view(IntArrayRef sizes) const { return Tensor(kernels::view(array(), sizes)); }
Tensor Tensor::reshape(IntArrayRef sizes) const { return Tensor(kernels::reshape(array(), sizes)); }
Tensor Tensor::permute(IntArrayRef dims) const { return Tensor(kernels::permute(array(), dims)); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  return Tensor(kernels::transpose(array(), dim0, dim1));
}
Tensor Tensor::t() const {
  EMBER_CHECK(dim() <= 2, ShapeError, "t: expects a tensor with <= 2 dimensions, but got ", dim(),
              "-D (shape ", shape_str(sizes()), ")");
  return dim() < 2 ? *this : transpose(0, 1);
}
Tensor Tensor::expand(IntArrayRef sizes) const { return Tensor(kernels::expand(array(), sizes)); }
Tensor Tensor::expand_as(const Tensor& other) const { return expand(other.sizes()); }
Tensor Tensor::squeeze() const { return Tensor(kernels::squeeze(array(), std::nullopt)); }
Tensor Tensor::squeeze(int64_t dim) const { return Tensor(kernels::squeeze(array(), dim)); }
Tensor Tensor::unsqueeze(int64_t dim) const { return Tensor(kernels::unsqueeze(array(), dim)); }
Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
                     int64_t step) const {
  return Tensor(kernels::slice(array(), dim, start, end, step));
}
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return Tensor(kernels::narrow(array(), dim, start, length));
}
Tensor Tensor::select(int64_t dim, int64_t index) const {
  return Tensor(kernels::select(array(), dim, index));
}
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  return Tensor(kernels::flatten(array(), start_dim, end_dim));
}
Tensor Tensor::index_select(int64_t dim, const Tensor& index) const {
  return ember::index_select(*this, dim, index);
}
Tensor Tensor::gather(int64_t dim, const Tensor& index) const {
  return ember::gather(*this, dim, index);
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
Tensor& in_place(Tensor& x, const Tensor& result, const char* op) {
  auto category = [](DType d) { return is_floating(d) ? 2 : d == DType::Bool ? 0 : 1; };
  EMBER_CHECK(category(result.dtype()) <= category(x.dtype()), DTypeError, op, ": result type ",
              result.dtype(), " can't be cast to the desired output type ", x.dtype());
  EMBER_CHECK(result.sizes().vec() == x.sizes().vec(), ShapeError, op, ": output with shape ",
              shape_str(x.sizes()), " doesn't match the broadcast shape ",
              shape_str(result.sizes()));
  return x.copy_(result);
}

}  // namespace

Tensor& Tensor::add_(const Tensor& other) { return in_place(*this, *this + other, "add_"); }
Tensor& Tensor::add_(const Scalar& other) { return in_place(*this, *this + other, "add_"); }
Tensor& Tensor::sub_(const Tensor& other) { return in_place(*this, *this - other, "sub_"); }
Tensor& Tensor::mul_(const Tensor& other) { return in_place(*this, *this * other, "mul_"); }
Tensor& Tensor::mul_(const Scalar& other) { return in_place(*this, *this * other, "mul_"); }
Tensor& Tensor::div_(const Tensor& other) { return in_place(*this, *this / other, "div_"); }

}  // namespace ember
