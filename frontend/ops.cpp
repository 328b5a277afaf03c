// The free-function ops: PyTorch's argument conventions and type promotion on top of the runtime
// kernels. Each op is one call into kernels:: after its Tensor-level checks.
#include "ember/frontend/ops.h"

#include <cmath>

namespace ember {
namespace {

using kernels::BinaryOp;
using kernels::ReduceOp;
using kernels::UnaryOp;

enum Category { kBoolCat = 0, kIntCat = 1, kFloatCat = 2 };
Category category(Scalar::Kind k) {
  return k == Scalar::Kind::Float ? kFloatCat : k == Scalar::Kind::Int ? kIntCat : kBoolCat;
}
// The dtype a Scalar of this kind has on its own (PyTorch's wrapped numbers).
DType default_dtype(Scalar::Kind k) {
  return k == Scalar::Kind::Float ? DType::Float32
         : k == Scalar::Kind::Int ? DType::Int64
                                  : DType::Bool;
}

// PyTorch's combine_categories: the higher-priority dtype wins unless the lower one is of a
// higher category.
std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (is_floating(*higher)) return higher;
  if (*higher == DType::Bool || is_floating(*lower)) return promote_types(*higher, *lower);
  return higher;
}

struct PromotionState {
  std::optional<DType> dim, zero, wrapped;
  void add(const Tensor& t) {
    auto& slot = t.dim() > 0 ? dim : zero;
    slot = slot ? promote_types(*slot, t.dtype()) : t.dtype();
  }
  void add(const Scalar& s) {
    const DType d = default_dtype(s.kind());
    wrapped = wrapped ? promote_types(*wrapped, d) : d;
  }
  DType result() const { return *combine(dim, combine(zero, wrapped)); }
};

// t's array in dtype: t's own when it already is (no copy), else a converted one kept in `holder`.
const Array& as_dtype(const Tensor& t, DType dtype, Array& holder) {
  if (t.dtype() == dtype) return t.array();
  holder = kernels::cast(t.array(), dtype);
  return holder;
}

Tensor unary(UnaryOp op, const Tensor& x) { return Tensor(kernels::unary(op, x.array())); }

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const DType dtype = result_type(a, b);
  Array ha, hb;
  return Tensor(kernels::binary(op, as_dtype(a, dtype, ha), as_dtype(b, dtype, hb)));
}
Tensor binary(BinaryOp op, const Tensor& a, const Scalar& b) {
  const DType dtype = result_type(a, b);
  Array ha;
  return Tensor(kernels::binary(op, as_dtype(a, dtype, ha), Array::scalar(b.to_double(), dtype)));
}
Tensor binary(BinaryOp op, const Scalar& a, const Tensor& b) {
  const DType dtype = result_type(b, a);
  Array hb;
  return Tensor(kernels::binary(op, Array::scalar(a.to_double(), dtype), as_dtype(b, dtype, hb)));
}

Tensor reduce(ReduceOp op, const Tensor& x, IntArrayRef dims, bool keepdim) {
  return Tensor(kernels::reduce(op, x.array(), dims, keepdim));
}

// A 1- or 2-element size argument as two values (conv2d(x, w, b, 2) means stride {2, 2}).
std::array<int64_t, 2> pair_of(IntArrayRef v, const char* op, const char* what) {
  EMBER_CHECK(v.size() == 1 || v.size() == 2, ValueError, op, ": expected ", what,
              " to be a single int or a pair, but got ", shape_str(v));
  return v.size() == 1 ? std::array<int64_t, 2>{v[0], v[0]} : std::array<int64_t, 2>{v[0], v[1]};
}

std::vector<Array> arrays_of(const std::vector<Tensor>& tensors) {
  std::vector<Array> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(t.array());
  return out;
}

void check_cpu(const TensorOptions& options, const char* op) {
  EMBER_CHECK(options.device_.is_cpu(), Error, op, ": device ", options.device_,
              " is not available yet (only cpu tensors exist before the GPU milestone)");
}

Tensor make(Array a, const TensorOptions& options) {
  Tensor t(std::move(a));
  if (options.requires_grad_) t.set_requires_grad(true);
  return t;
}

}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  PromotionState s;
  s.add(a);
  s.add(b);
  return s.result();
}
DType result_type(const Tensor& a, const Scalar& b) {
  PromotionState s;
  s.add(a);
  s.add(b);
  return s.result();
}

// ---- creation ----

Tensor empty(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "empty");
  return make(Array::empty(sizes, options.dtype_or(kFloat32)), options);
}
Tensor zeros(IntArrayRef sizes, TensorOptions options) {
  return full(sizes, 0.0, options.dtype(options.dtype_or(kFloat32)));
}
Tensor ones(IntArrayRef sizes, TensorOptions options) {
  return full(sizes, 1.0, options.dtype(options.dtype_or(kFloat32)));
}
// Like torch.full, the dtype follows the fill value when none is given (full({2}, 7) is int64).
Tensor full(IntArrayRef sizes, const Scalar& value, TensorOptions options) {
  check_cpu(options, "full");
  const DType dtype = options.dtype_or(default_dtype(value.kind()));
  return make(kernels::full(sizes, value.to_double(), dtype), options);
}
Tensor empty_like(const Tensor& t) { return empty(t.sizes(), t.dtype()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.sizes(), t.dtype()); }
Tensor full_like(const Tensor& t, const Scalar& value) { return full(t.sizes(), value, t.dtype()); }

Tensor arange(const Scalar& end, TensorOptions options) { return arange(0, end, 1, options); }
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions options) {
  check_cpu(options, "arange");
  const bool any_float = start.kind() == Scalar::Kind::Float || end.kind() == Scalar::Kind::Float ||
                         step.kind() == Scalar::Kind::Float;
  const DType dtype = options.dtype_or(any_float ? kFloat32 : kInt64);
  return make(kernels::arange(start.to_double(), end.to_double(), step.to_double(), dtype),
              options);
}
Tensor rand(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "rand");
  return make(kernels::rand(sizes, options.dtype_or(kFloat32)), options);
}
Tensor randn(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "randn");
  return make(kernels::randn(sizes, options.dtype_or(kFloat32)), options);
}
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "randint");
  return make(kernels::randint(low, high, sizes, options.dtype_or(kInt64)), options);
}
Tensor randint(int64_t high, IntArrayRef sizes, TensorOptions options) {
  return randint(0, high, sizes, options);
}
Tensor rand_like(const Tensor& t) { return rand(t.sizes(), t.dtype()); }
Tensor randn_like(const Tensor& t) { return randn(t.sizes(), t.dtype()); }
void manual_seed(uint64_t seed) { kernels::manual_seed(seed); }

Tensor from_blob(void* data, IntArrayRef sizes, TensorOptions options) {
  return from_blob(data, sizes, contiguous_strides(sizes), options);
}
Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, TensorOptions options) {
  check_cpu(options, "from_blob");
  check_sizes(sizes, "from_blob");
  EMBER_CHECK(sizes.size() == strides.size(), ShapeError, "from_blob: sizes ", shape_str(sizes),
              " and strides ", shape_str(strides), " differ in length");
  EMBER_CHECK(data != nullptr || numel_of(sizes) == 0, ValueError,
              "from_blob: null data pointer for a non-empty tensor of shape ", shape_str(sizes));
  const DType dtype = options.dtype_or(kFloat32);
  int64_t extent = numel_of(sizes) == 0 ? 0 : 1;
  for (size_t i = 0; i < sizes.size(); ++i)
    if (sizes[i] > 0) extent += (sizes[i] - 1) * strides[i];
  auto storage = Storage::wrap(data, size_t(extent) * itemsize(dtype), Device());
  return make(Array(std::move(storage), dtype, sizes.vec(), strides.vec(), 0), options);
}

namespace {

// Walks a NestedList, recording its shape (checked rectangular) and its values.
void flatten_nested(const NestedList& node, size_t depth, Shape& shape, bool& shape_known,
                    std::vector<Scalar>& values) {
  if (node.is_scalar()) {
    EMBER_CHECK(!shape_known || depth == shape.size(), ShapeError,
                "tensor: nested list is not rectangular (a number at depth ", depth,
                " where lists of depth ", shape.size(), " were seen)");
    if (!shape_known) {
      shape.resize(depth);
      shape_known = true;
    }
    values.push_back(node.value());
    return;
  }
  const int64_t n = int64_t(node.items().size());
  if (!shape_known && shape.size() <= depth) shape.push_back(n);
  EMBER_CHECK(depth < shape.size() && shape[depth] == n, ShapeError,
              "tensor: nested list is not rectangular (expected ",
              depth < shape.size() ? shape[depth] : 0, " items at depth ", depth, ", got ", n, ")");
  for (const NestedList& child : node.items())
    flatten_nested(child, depth + 1, shape, shape_known, values);
  if (n == 0 && !shape_known) shape_known = true;
}

}  // namespace

Tensor tensor(const NestedList& data, TensorOptions options) {
  check_cpu(options, "tensor");
  Shape shape;
  bool shape_known = false;
  std::vector<Scalar> values;
  flatten_nested(data, 0, shape, shape_known, values);
  Category cat = kBoolCat;
  for (const Scalar& v : values) cat = std::max(cat, category(v.kind()));
  const DType inferred = values.empty()     ? kFloat32
                         : cat == kFloatCat ? kFloat32
                         : cat == kIntCat   ? kInt64
                                            : kBool;
  const DType dtype = options.dtype_or(inferred);
  Array out = Array::empty(shape, dtype);
  dispatch_dtype(dtype, [&]<class T>() {
    T* dst = out.data_as<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      if constexpr (std::is_same_v<T, int64_t>)
        dst[i] = values[i].kind() == Scalar::Kind::Float ? int64_t(values[i].to_double())
                                                         : values[i].to_int();
      else
        dst[i] = T(compute_t<T>(values[i].to_double()));
    }
  });
  return make(std::move(out), options);
}

// ---- elementwise ----

Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::Rsqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor sin(const Tensor& x) { return unary(UnaryOp::Sin, x); }
Tensor cos(const Tensor& x) { return unary(UnaryOp::Cos, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
Tensor gelu(const Tensor& x, std::string_view approximate) {
  EMBER_CHECK(approximate == "none" || approximate == "tanh", ValueError,
              "gelu: approximate must be \"none\" or \"tanh\", but got \"", approximate, "\"");
  return unary(approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::Gelu, x);
}
Tensor silu(const Tensor& x) { return unary(UnaryOp::Silu, x); }
Tensor erf(const Tensor& x) { return unary(UnaryOp::Erf, x); }
Tensor reciprocal(const Tensor& x) { return unary(UnaryOp::Reciprocal, x); }
Tensor floor(const Tensor& x) { return unary(UnaryOp::Floor, x); }
Tensor ceil(const Tensor& x) { return unary(UnaryOp::Ceil, x); }
Tensor round(const Tensor& x) { return unary(UnaryOp::Round, x); }
Tensor sign(const Tensor& x) { return unary(UnaryOp::Sign, x); }
Tensor log1p(const Tensor& x) { return unary(UnaryOp::Log1p, x); }
Tensor expm1(const Tensor& x) { return unary(UnaryOp::Expm1, x); }
Tensor logical_not(const Tensor& x) { return unary(UnaryOp::LogicalNot, x); }

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
Tensor pow(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return binary(BinaryOp::LogicalAnd, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return binary(BinaryOp::LogicalOr, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ge, a, b); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  const DType dtype = result_type(a, b);
  Array ha, hb;
  return Tensor(kernels::where(condition.array(), as_dtype(a, dtype, ha), as_dtype(b, dtype, hb)));
}
Tensor where(const Tensor& condition, const Tensor& a, const Scalar& b) {
  const DType dtype = result_type(a, b);
  Array ha;
  return Tensor(kernels::where(condition.array(), as_dtype(a, dtype, ha),
                               Array::scalar(b.to_double(), dtype)));
}
Tensor where(const Tensor& condition, const Scalar& a, const Tensor& b) {
  const DType dtype = result_type(b, a);
  Array hb;
  return Tensor(kernels::where(condition.array(), Array::scalar(a.to_double(), dtype),
                               as_dtype(b, dtype, hb)));
}
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  std::optional<double> lo, hi;
  if (min) lo = min->to_double();
  if (max) hi = max->to_double();
  return Tensor(kernels::clamp(x.array(), lo, hi));
}

Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Add, a, b); }
Tensor operator-(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Sub, a, b); }
Tensor operator*(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Mul, a, b); }
Tensor operator/(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Div, a, b); }
Tensor operator+(const Scalar& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor operator-(const Scalar& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor operator*(const Scalar& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor operator/(const Scalar& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Eq, a, b); }
Tensor operator!=(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Ne, a, b); }
Tensor operator<(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Lt, a, b); }
Tensor operator<=(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Le, a, b); }
Tensor operator>(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Gt, a, b); }
Tensor operator>=(const Tensor& a, const Scalar& b) { return binary(BinaryOp::Ge, a, b); }

// ---- reductions ----

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Sum, x, dims, keepdim);
}
Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Mean, x, dims, keepdim);
}
Tensor prod(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Prod, x, dims, keepdim);
}
Tensor max(const Tensor& x) { return reduce(ReduceOp::Max, x, {}, false); }
Tensor min(const Tensor& x) { return reduce(ReduceOp::Min, x, {}, false); }
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  auto [values, indices] = kernels::max_min_dim(true, x.array(), dim, keepdim);
  return {Tensor(std::move(values)), Tensor(std::move(indices))};
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  auto [values, indices] = kernels::max_min_dim(false, x.array(), dim, keepdim);
  return {Tensor(std::move(values)), Tensor(std::move(indices))};
}
Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Max, x, dims, keepdim);
}
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Min, x, dims, keepdim);
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return Tensor(kernels::arg_reduce(true, x.array(), dim, keepdim));
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return Tensor(kernels::arg_reduce(false, x.array(), dim, keepdim));
}
Tensor var(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return Tensor(kernels::var(x.array(), dims, unbiased ? 1.0 : 0.0, keepdim));
}
Tensor std(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return sqrt(var(x, dims, unbiased, keepdim));
}

// ---- linear algebra and neural-network ops ----

Tensor matmul(const Tensor& a, const Tensor& b) {
  return Tensor(kernels::matmul(a.array(), b.array()));
}
Tensor mm(const Tensor& a, const Tensor& b) { return Tensor(kernels::mm(a.array(), b.array())); }
Tensor bmm(const Tensor& a, const Tensor& b) { return Tensor(kernels::bmm(a.array(), b.array())); }
Tensor softmax(const Tensor& x, int64_t dim) { return Tensor(kernels::softmax(x.array(), dim)); }
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return Tensor(kernels::log_softmax(x.array(), dim));
}
Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  return Tensor(kernels::layer_norm(x.array(), normalized_shape,
                                    weight.defined() ? &weight.array() : nullptr,
                                    bias.defined() ? &bias.array() : nullptr, eps));
}
Tensor dropout(const Tensor& x, double p, bool train) {
  return Tensor(kernels::dropout(x.array(), p, train));
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              IntArrayRef padding, IntArrayRef dilation, int64_t groups) {
  kernels::Conv2dParams p;
  p.stride = pair_of(stride, "conv2d", "stride");
  p.padding = pair_of(padding, "conv2d", "padding");
  p.dilation = pair_of(dilation, "conv2d", "dilation");
  p.groups = groups;
  return Tensor(
      kernels::conv2d(input.array(), weight.array(), bias.defined() ? &bias.array() : nullptr, p));
}
Tensor max_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
                  IntArrayRef padding, IntArrayRef dilation, bool ceil_mode) {
  kernels::Pool2dParams p;
  p.kernel = pair_of(kernel_size, "max_pool2d", "kernel_size");
  p.stride = stride.empty() ? p.kernel : pair_of(stride, "max_pool2d", "stride");
  p.padding = pair_of(padding, "max_pool2d", "padding");
  p.dilation = pair_of(dilation, "max_pool2d", "dilation");
  p.ceil_mode = ceil_mode;
  return Tensor(kernels::max_pool2d(input.array(), p));
}
Tensor avg_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
                  IntArrayRef padding, bool ceil_mode, bool count_include_pad) {
  kernels::Pool2dParams p;
  p.kernel = pair_of(kernel_size, "avg_pool2d", "kernel_size");
  p.stride = stride.empty() ? p.kernel : pair_of(stride, "avg_pool2d", "stride");
  p.padding = pair_of(padding, "avg_pool2d", "padding");
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  return Tensor(kernels::avg_pool2d(input.array(), p));
}

// ---- joining and indexing ----

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  return Tensor(kernels::cat(arrays_of(tensors), dim));
}
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  return Tensor(kernels::stack(arrays_of(tensors), dim));
}
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  return Tensor(kernels::index_select(x.array(), dim, index.array()));
}
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  return Tensor(kernels::gather(x.array(), dim, index.array()));
}
Tensor embedding(const Tensor& weight, const Tensor& indices) {
  return Tensor(kernels::embedding(weight.array(), indices.array()));
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  const Array da = kernels::cast(a.array(), kFloat64), db = kernels::cast(b.array(), kFloat64);
  const Array diff = kernels::unary(UnaryOp::Abs, kernels::binary(BinaryOp::Sub, da, db));
  const Array tol = kernels::binary(BinaryOp::Add, Array::scalar(atol, kFloat64),
                                    kernels::binary(BinaryOp::Mul, Array::scalar(rtol, kFloat64),
                                                    kernels::unary(UnaryOp::Abs, db)));
  // Equal infinities are close; NaN is close to nothing.
  const Array close = kernels::binary(BinaryOp::LogicalOr, kernels::binary(BinaryOp::Le, diff, tol),
                                      kernels::binary(BinaryOp::Eq, da, db));
  if (close.numel() == 0) return true;
  return kernels::reduce(ReduceOp::Min, kernels::cast(close, kInt32), {}, false)
             .data_as<int32_t>()[0] == 1;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.sizes().vec() != b.sizes().vec()) return false;
  if (a.numel() == 0) return true;
  const Array same = kernels::binary(BinaryOp::Eq, a.array(), b.array());
  return kernels::reduce(ReduceOp::Min, kernels::cast(same, kInt32), {}, false)
             .data_as<int32_t>()[0] == 1;
}

}  // namespace ember
