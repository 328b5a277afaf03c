// The free-function ops: PyTorch's argument conventions and type promotion. Each op checks its
// arguments, then states its IR op, operands and attributes once and hands them to
// detail::dispatch (frontend/dispatch.h), which runs the eager kernel or records the node.
#include "ember/frontend/ops.h"
#include "ember/runtime/checked.h"

#include <cmath>

#include "ember/frontend/trace.h"
#include "ember/runtime/kernels.h"
#include "frontend/dispatch.h"

namespace ember {
namespace {

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

using detail::dispatch;
using ir::Op;

std::vector<ir::SymInt> sym_list(IntArrayRef v) { return ir::sym_shape(v); }

Tensor unary(Op op, const Tensor& x, ir::Attrs attrs = {}) {
  return dispatch(op, {x}, std::move(attrs));
}

// Binary ops compute in PyTorch's promoted dtype; a Scalar operand is a 0-dim tensor of it.
Tensor binary(Op op, const Tensor& a, const Tensor& b) {
  const DType dtype = result_type(a, b);
  return dispatch(op, {a.to(dtype), b.to(dtype)});
}
Tensor binary(Op op, const Tensor& a, const Scalar& b) {
  return detail::dispatch_with_scalar(op, a, b, result_type(a, b), false);
}
Tensor binary(Op op, const Scalar& a, const Tensor& b) {
  return detail::dispatch_with_scalar(op, b, a, result_type(b, a), true);
}

Tensor reduce(Op op, const Tensor& x, IntArrayRef dims, bool keepdim) {
  const std::vector<int64_t> wrapped = wrap_dims(dims, x.dim(), ir::op_name(op).data());
  return dispatch(op, {x}, {{ir::Attr::Dims, sym_list(wrapped)}, {ir::Attr::Keepdim, keepdim}});
}

// A 1- or 2-element size argument as two values (conv2d(x, w, b, 2) means stride {2, 2}).
std::array<int64_t, 2> pair_of(IntArrayRef v, const char* op, const char* what) {
  EMBER_CHECK(v.size() == 1 || v.size() == 2, ValueError, op, ": expected ", what,
              " to be a single int or a pair, but got ", shape_str(v));
  return v.size() == 1 ? std::array<int64_t, 2>{v[0], v[0]} : std::array<int64_t, 2>{v[0], v[1]};
}

void check_cpu(const TensorOptions& options, const char* op) {
  EMBER_CHECK(options.device_.is_cpu(), Error, op, ": device ", options.device_,
              " is not available yet (only cpu tensors exist before the GPU milestone)");
}

Tensor make(Tensor t, const TensorOptions& options) {
  if (options.requires_grad_) t.set_requires_grad(true);
  return t;
}

void check_float(const Tensor& x, const char* op) {
  EMBER_CHECK(is_floating(x.dtype()), DTypeError, op, ": expected a floating point input, but got ",
              x.dtype());
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
  return make(detail::empty(sizes, options.dtype_or(kFloat32)), options);
}
Tensor zeros(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "zeros");
  return full(sizes, 0.0, options.dtype(options.dtype_or(kFloat32)));
}
Tensor ones(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "ones");
  return full(sizes, 1.0, options.dtype(options.dtype_or(kFloat32)));
}
// Like torch.full, the dtype follows the fill value when none is given (full({2}, 7) is int64).
Tensor full(IntArrayRef sizes, const Scalar& value, TensorOptions options) {
  check_cpu(options, "full");
  check_sizes(sizes, "full");
  const DType dtype = options.dtype_or(default_dtype(value.kind()));
  detail::check_value_fits(value, dtype, "full");
  return make(dispatch(Op::Constant, {},
                       {{ir::Attr::Value, detail::number_attr(value, dtype)},
                        {ir::Attr::Shape, detail::size_list(sizes, "full")},
                        {ir::Attr::DType, dtype}}),
              options);
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
  if (!any_float && !is_floating(dtype)) {
    // Integers: the length in exact arithmetic, as PyTorch's integer arange; beyond 2^53, where a
    // double start or step would round, the values are start + i * step in int64.
    const int64_t a = start.to_int(), b = end.to_int(), s = step.to_int();
    EMBER_CHECK(s != 0, ValueError, "arange: step must be nonzero");
    EMBER_CHECK((s > 0 && b >= a) || (s < 0 && b <= a), ValueError,
                "arange: upper bound and larger bound inconsistent with step sign (start ", a,
                ", end ", b, ", step ", s, ")");
    const uint64_t span = s > 0 ? uint64_t(b) - uint64_t(a) : uint64_t(a) - uint64_t(b);
    const uint64_t magnitude = s > 0 ? uint64_t(s) : uint64_t(-(s + 1)) + 1;
    const uint64_t count = span == 0 ? 0 : (span - 1) / magnitude + 1;
    EMBER_CHECK(count <= uint64_t(INT64_MAX), ValueError, "arange: ", count,
                " elements are more than int64 can count");
    const int64_t n = int64_t(count);
    constexpr int64_t kExact = int64_t(1) << 53;
    auto exact = [&](int64_t v) { return v > -kExact && v < kExact; };
    if (!exact(a) || !exact(b) || !exact(s))
      return make(arange(0, n, 1, TensorOptions().dtype(dtype)) * s + a, options);
  }
  const int64_t n = kernels::arange_length(start.to_double(), end.to_double(), step.to_double());
  return make(dispatch(Op::Arange, {},
                       {{ir::Attr::Start, start.to_double()},
                        {ir::Attr::Step, step.to_double()},
                        {ir::Attr::Shape, detail::size_list({n}, "arange")},
                        {ir::Attr::DType, dtype}}),
              options);
}
Tensor rand(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "rand");
  return make(detail::random(Op::RandUniform, sizes, options.dtype_or(kFloat32)), options);
}
Tensor randn(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "randn");
  return make(detail::random(Op::RandNormal, sizes, options.dtype_or(kFloat32)), options);
}
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "randint");
  EMBER_CHECK(!TraceContext::active(), Error,
              "randint: not supported inside a traced function yet");
  return make(Tensor(kernels::randint(low, high, sizes, options.dtype_or(kInt64))), options);
}
Tensor randint(int64_t high, IntArrayRef sizes, TensorOptions options) {
  return randint(0, high, sizes, options);
}
Tensor rand_like(const Tensor& t) { return rand(t.sizes(), t.dtype()); }
Tensor randn_like(const Tensor& t) { return randn(t.sizes(), t.dtype()); }
void manual_seed(uint64_t seed) {
  if (TraceContext* tc = TraceContext::active()) tc->note_manual_seed();
  kernels::manual_seed(seed);
}

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
  for (size_t i = 0; i < strides.size(); ++i)
    EMBER_CHECK(strides[i] >= 0, ValueError, "from_blob: negative stride ", strides[i],
                " in dimension ", i, " (negative strides are not supported, as in PyTorch)");
  int64_t extent = numel_of(sizes) == 0 ? 0 : 1;
  for (size_t i = 0; i < sizes.size(); ++i)
    if (sizes[i] > 0)
      extent = checked_add(extent, checked_mul(sizes[i] - 1, strides[i], "from_blob"), "from_blob");
  auto storage = Storage::wrap(
      data, size_t(checked_mul(extent, int64_t(itemsize(dtype)), "from_blob")), Device());
  return make(Tensor(Array(std::move(storage), dtype, sizes.vec(), strides.vec(), 0)), options);
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
  return make(Tensor(std::move(out)), options);
}

// ---- elementwise ----

Tensor exp(const Tensor& x) { return unary(Op::Exp, x); }
Tensor log(const Tensor& x) { return unary(Op::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(Op::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(Op::Rsqrt, x); }
Tensor abs(const Tensor& x) { return unary(Op::Abs, x); }
Tensor neg(const Tensor& x) { return unary(Op::Neg, x); }
Tensor sin(const Tensor& x) { return unary(Op::Sin, x); }
Tensor cos(const Tensor& x) { return unary(Op::Cos, x); }
Tensor tanh(const Tensor& x) { return unary(Op::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(Op::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary(Op::Relu, x); }
Tensor gelu(const Tensor& x, std::string_view approximate) {
  EMBER_CHECK(approximate == "none" || approximate == "tanh", ValueError,
              "gelu: approximate must be \"none\" or \"tanh\", but got \"", approximate, "\"");
  return unary(Op::Gelu, x, {{ir::Attr::Approximate, approximate == "tanh"}});
}
Tensor silu(const Tensor& x) { return unary(Op::Silu, x); }
Tensor erf(const Tensor& x) { return unary(Op::Erf, x); }
Tensor reciprocal(const Tensor& x) { return unary(Op::Reciprocal, x); }
Tensor floor(const Tensor& x) { return unary(Op::Floor, x); }
Tensor ceil(const Tensor& x) { return unary(Op::Ceil, x); }
Tensor round(const Tensor& x) { return unary(Op::Round, x); }
Tensor sign(const Tensor& x) { return unary(Op::Sign, x); }
Tensor log1p(const Tensor& x) { return unary(Op::Log1p, x); }
Tensor expm1(const Tensor& x) { return unary(Op::Expm1, x); }
Tensor logical_not(const Tensor& x) { return unary(Op::LogicalNot, x); }

Tensor add(const Tensor& a, const Tensor& b) { return binary(Op::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(Op::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(Op::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(Op::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(Op::Pow, a, b); }
Tensor pow(const Tensor& a, const Scalar& b) {
  // PyTorch raises here for a scalar exponent (a tensor of exponents gives 0, 1 or -1 instead).
  EMBER_CHECK(is_floating(result_type(a, b)) || b.kind() == Scalar::Kind::Bool || b.to_int() >= 0,
              ValueError, "pow: integers to negative integer powers are not allowed (exponent ",
              b.to_int(), " for a ", a.dtype(), " tensor)");
  return binary(Op::Pow, a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(Op::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(Op::Minimum, a, b); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return binary(Op::LogicalAnd, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return binary(Op::LogicalOr, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(Op::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(Op::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(Op::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(Op::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(Op::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(Op::Ge, a, b); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  EMBER_CHECK(condition.dtype() == kBool, DTypeError,
              "where: expected condition to be a bool tensor, but got ", condition.dtype());
  const DType dtype = result_type(a, b);
  return dispatch(Op::Where, {condition, a.to(dtype), b.to(dtype)});
}
Tensor where(const Tensor& condition, const Tensor& a, const Scalar& b) {
  const DType dtype = result_type(a, b);
  return where(condition, a.to(dtype), detail::scalar_tensor(b, dtype, "where"));
}
Tensor where(const Tensor& condition, const Scalar& a, const Tensor& b) {
  const DType dtype = result_type(b, a);
  return where(condition, detail::scalar_tensor(a, dtype, "where"), b.to(dtype));
}
// A missing bound is an infinite one (the composite's form); the bounds take x's dtype.
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  EMBER_CHECK(min || max, ValueError, "clamp: at least one of min or max must be given");
  EMBER_CHECK(x.dtype() != kBool, DTypeError, "clamp: not supported for bool tensors");
  return dispatch(Op::Clamp, {x},
                  {{ir::Attr::Min, min ? min->to_double() : -INFINITY},
                   {ir::Attr::Max, max ? max->to_double() : INFINITY}});
}

Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, const Scalar& b) { return binary(Op::Add, a, b); }
Tensor operator-(const Tensor& a, const Scalar& b) { return binary(Op::Sub, a, b); }
Tensor operator*(const Tensor& a, const Scalar& b) { return binary(Op::Mul, a, b); }
Tensor operator/(const Tensor& a, const Scalar& b) { return binary(Op::Div, a, b); }
Tensor operator+(const Scalar& a, const Tensor& b) { return binary(Op::Add, a, b); }
Tensor operator-(const Scalar& a, const Tensor& b) { return binary(Op::Sub, a, b); }
Tensor operator*(const Scalar& a, const Tensor& b) { return binary(Op::Mul, a, b); }
Tensor operator/(const Scalar& a, const Tensor& b) { return binary(Op::Div, a, b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, const Scalar& b) { return binary(Op::Eq, a, b); }
Tensor operator!=(const Tensor& a, const Scalar& b) { return binary(Op::Ne, a, b); }
Tensor operator<(const Tensor& a, const Scalar& b) { return binary(Op::Lt, a, b); }
Tensor operator<=(const Tensor& a, const Scalar& b) { return binary(Op::Le, a, b); }
Tensor operator>(const Tensor& a, const Scalar& b) { return binary(Op::Gt, a, b); }
Tensor operator>=(const Tensor& a, const Scalar& b) { return binary(Op::Ge, a, b); }

// ---- reductions ----

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(Op::ReduceSum, x, dims, keepdim);
}
Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim) {
  EMBER_CHECK(is_floating(x.dtype()), DTypeError,
              "mean: could not infer output dtype. Input dtype must be a floating point dtype, "
              "but got ",
              x.dtype());
  return reduce(Op::Mean, x, dims, keepdim);
}
Tensor prod(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(Op::ReduceProd, x, dims, keepdim);
}
Tensor max(const Tensor& x) { return reduce(Op::ReduceMax, x, {}, false); }
Tensor min(const Tensor& x) { return reduce(Op::ReduceMin, x, {}, false); }
// Values and indices as two reductions (the IR's nodes have one result each).
namespace {
// max/min over one dim with their indices: the values are read at the indices (one reduction
// pass, and the gradient goes to the returned index, as PyTorch's does).
std::tuple<Tensor, Tensor> extremum_with_index(const Tensor& x, int64_t dim, bool keepdim,
                                               bool is_max) {
  if (x.dim() == 0)
    return {is_max ? amax(x, dim, keepdim) : amin(x, dim, keepdim),
            is_max ? argmax(x, dim, keepdim) : argmin(x, dim, keepdim)};
  const int64_t d = wrap_dim(dim, x.dim(), is_max ? "max" : "min");
  const Tensor index = is_max ? argmax(x, d, true) : argmin(x, d, true);
  const Tensor values = gather(x, d, index);
  if (keepdim) return {values, index};
  return {values.squeeze(d), index.squeeze(d)};
}
}  // namespace

std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_with_index(x, dim, keepdim, true);
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_with_index(x, dim, keepdim, false);
}
Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(Op::ReduceMax, x, dims, keepdim);
}
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(Op::ReduceMin, x, dims, keepdim);
}
namespace {
// Over one dim, or (no dim) over the flattened tensor.
Tensor arg_reduce(Op op, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  std::vector<ir::SymInt> dims;
  if (dim) dims.push_back(wrap_dim(*dim, x.dim(), ir::op_name(op).data()));
  return dispatch(op, {x}, {{ir::Attr::Dims, dims}, {ir::Attr::Keepdim, keepdim}});
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(Op::ArgMax, x, dim, keepdim);
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return arg_reduce(Op::ArgMin, x, dim, keepdim);
}
Tensor var(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  EMBER_CHECK(is_floating(x.dtype()), DTypeError,
              "var: only floating point dtypes are supported, but got ", x.dtype());
  return dispatch(Op::Var, {x},
                  {{ir::Attr::Dims, sym_list(wrap_dims(dims, x.dim(), "var"))},
                   {ir::Attr::Correction, unbiased ? 1.0 : 0.0},
                   {ir::Attr::Keepdim, keepdim}});
}
Tensor std(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return sqrt(var(x, dims, unbiased, keepdim));
}

// ---- linear algebra and neural-network ops ----

// torch.matmul: a 1-D operand is a row (left) or column (right) vector, dropped from the result.
Tensor matmul(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError,
              "matmul: both arguments need to be at least 1-D, but they are ", a.dim(), "-D and ",
              b.dim(), "-D");
  EMBER_CHECK(a.dtype() == b.dtype(), DTypeError,
              "matmul: expected both operands to have the same dtype, but got ", a.dtype(), " and ",
              b.dtype());
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t k = a2.size(-1), k2 = b2.size(-2);
  EMBER_CHECK(k == k2, ShapeError, "matmul: shapes ", shape_str(a.sizes()), " and ",
              shape_str(b.sizes()), " cannot be multiplied (", k, " != ", k2, ")");
  Tensor y = dispatch(Op::Matmul, {a2, b2});
  if (a.dim() == 1 || b.dim() == 1) {
    Shape shape(y.sizes().begin(), y.sizes().end() - 2);
    if (a.dim() > 1) shape.push_back(y.size(-2));
    if (b.dim() > 1) shape.push_back(y.size(-1));
    y = y.reshape(shape);
  }
  return y;
}
Tensor mm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2, ShapeError, "mm: expected 2-D tensors, but got ",
              shape_str(a.sizes()), " and ", shape_str(b.sizes()));
  return matmul(a, b);
}
Tensor bmm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0), ShapeError,
              "bmm: expected 3-D tensors with equal batch, but got ", shape_str(a.sizes()), " and ",
              shape_str(b.sizes()));
  return matmul(a, b);
}

// The composites: their IR op, which runs as one fused kernel eagerly and is recorded as its
// decomposition (passes/decompose.cpp) while tracing.
Tensor softmax(const Tensor& x, int64_t dim) {
  check_float(x, "softmax");
  return dispatch(Op::Softmax, {x}, {{ir::Attr::Dim, wrap_dim(dim, x.dim(), "softmax")}});
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_float(x, "log_softmax");
  return dispatch(Op::LogSoftmax, {x}, {{ir::Attr::Dim, wrap_dim(dim, x.dim(), "log_softmax")}});
}
Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  kernels::check_layer_norm_input(x.sizes(), x.dtype(), normalized_shape);
  const ir::Attrs attrs{{ir::Attr::Ndims, int64_t(normalized_shape.size())}, {ir::Attr::Eps, eps}};
  if (weight.defined() && bias.defined())
    return dispatch(Op::LayerNorm, {x, weight.to(x.dtype()), bias.to(x.dtype())}, attrs);
  if (weight.defined()) return dispatch(Op::LayerNorm, {x, weight.to(x.dtype())}, attrs);
  // A bias alone: normalize, then add it (the IR's layer_norm takes a weight before a bias).
  const Tensor y = dispatch(Op::LayerNorm, {x}, attrs);
  return bias.defined() ? y + bias.to(x.dtype()) : y;
}
Tensor dropout(const Tensor& x, double p, bool train) {
  EMBER_CHECK(p >= 0 && p <= 1, ValueError,
              "dropout: probability has to be between 0 and 1, but got ", p);
  if (!train || p == 0) return x;
  check_float(x, "dropout");
  if (p == 1) return zeros_like(x);
  const Tensor keep = rand(x.sizes(), kFloat32) >= p;
  return where(keep, x * (1.0 / (1.0 - p)), 0.0);
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              IntArrayRef padding, IntArrayRef dilation, int64_t groups) {
  const ir::Attrs attrs{{ir::Attr::Stride, sym_list(pair_of(stride, "conv2d", "stride"))},
                        {ir::Attr::Padding, sym_list(pair_of(padding, "conv2d", "padding"))},
                        {ir::Attr::Dilation, sym_list(pair_of(dilation, "conv2d", "dilation"))},
                        {ir::Attr::Groups, groups}};
  EMBER_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError,
              "conv2d: expected 3-D (unbatched) or 4-D (batched) input, but got input of size ",
              shape_str(input.sizes()));
  const Tensor x = input.dim() == 3 ? input.unsqueeze(0) : input;
  const Tensor y = bias.defined() ? dispatch(Op::Conv2d, {x, weight, bias}, attrs)
                                  : dispatch(Op::Conv2d, {x, weight}, attrs);
  return input.dim() == 3 ? y.squeeze(0) : y;
}

namespace {

// The pools' shared window attributes (stride defaults to the kernel size, as in PyTorch) and
// the op's own (`extra`); 3-D input is one unbatched image.
Tensor pool(Op op, const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
            IntArrayRef padding, bool ceil_mode, ir::Attrs extra) {
  const char* name = ir::op_name(op).data();
  EMBER_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError, name,
              ": expected 3-D (unbatched) or 4-D (batched) input, but got input of size ",
              shape_str(input.sizes()));
  const auto kernel = pair_of(kernel_size, name, "kernel_size");
  ir::Attrs attrs = std::move(extra);
  attrs.set(ir::Attr::Kernel, sym_list(kernel));
  attrs.set(ir::Attr::Stride, sym_list(stride.empty() ? kernel : pair_of(stride, name, "stride")));
  attrs.set(ir::Attr::Padding, sym_list(pair_of(padding, name, "padding")));
  attrs.set(ir::Attr::CeilMode, ceil_mode);
  const Tensor x = input.dim() == 3 ? input.unsqueeze(0) : input;
  const Tensor y = dispatch(op, {x}, std::move(attrs));
  return input.dim() == 3 ? y.squeeze(0) : y;
}

}  // namespace

Tensor max_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
                  IntArrayRef padding, IntArrayRef dilation, bool ceil_mode) {
  return pool(Op::MaxPool2d, input, kernel_size, stride, padding, ceil_mode,
              {{ir::Attr::Dilation, sym_list(pair_of(dilation, "max_pool2d", "dilation"))}});
}
Tensor avg_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
                  IntArrayRef padding, bool ceil_mode, bool count_include_pad) {
  return pool(Op::AvgPool2d, input, kernel_size, stride, padding, ceil_mode,
              {{ir::Attr::CountIncludePad, count_include_pad}});
}

// ---- joining and indexing ----

// PyTorch's cat: the dtypes promote; 1-D empty tensors (the legacy placeholder) are skipped.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), ValueError, "cat: expected a non-empty list of tensors");
  DType dtype = tensors[0].dtype();
  for (const Tensor& t : tensors) dtype = promote_types(dtype, t.dtype());
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors)
    if (!(t.dim() == 1 && t.size(0) == 0)) parts.push_back(t.to(dtype));
  if (parts.empty()) return zeros({0}, dtype);
  EMBER_CHECK(parts[0].dim() > 0, ShapeError,
              "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  return dispatch(Op::Concat, parts, {{ir::Attr::Dim, wrap_dim(dim, parts[0].dim(), "cat")}});
}
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), ValueError, "stack: expected a non-empty list of tensors");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) {
    EMBER_CHECK(t.sizes().vec() == tensors[0].sizes().vec(), ShapeError,
                "stack: expects each tensor to be equal size, but got ",
                shape_str(tensors[0].sizes()), " and ", shape_str(t.sizes()));
    parts.push_back(t.unsqueeze(d));
  }
  return cat(parts, d);
}
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const Tensor flat = index.dim() == 0 ? index.reshape({1}) : index;
  return dispatch(Op::IndexSelect, {x, flat},
                  {{ir::Attr::Dim, wrap_dim(dim, x.dim(), "index_select")}});
}
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  return dispatch(Op::Gather, {x, index}, {{ir::Attr::Dim, wrap_dim(dim, x.dim(), "gather")}});
}
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  EMBER_CHECK(x.dim() > 0, ShapeError, "index_add: expected an input with at least one dimension");
  const int64_t d = wrap_dim(dim, x.dim(), "index_add");
  const Tensor flat = index.dim() == 0 ? index.reshape({1}) : index;
  return dispatch(Op::IndexAdd, {x, flat, source}, {{ir::Attr::Dim, d}});
}
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  EMBER_CHECK(x.dim() > 0, ShapeError, "index_copy: expected an input with at least one dimension");
  const int64_t d = wrap_dim(dim, x.dim(), "index_copy");
  const Tensor flat = index.dim() == 0 ? index.reshape({1}) : index;
  return dispatch(Op::IndexCopy, {x, flat, source}, {{ir::Attr::Dim, d}});
}

// ---- along one dim ----

namespace {
int64_t line_dim(const Tensor& x, int64_t dim, const char* op) {
  return wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
}
}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  const Tensor in = dtype ? x.to(*dtype) : x;
  return dispatch(Op::Cumsum, {in}, {{ir::Attr::Dim, line_dim(x, dim, "cumsum")}});
}
Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  return dispatch(
      Op::Argsort, {x},
      {{ir::Attr::Descending, descending}, {ir::Attr::Dim, line_dim(x, dim, "argsort")}});
}
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  const int64_t d = line_dim(x, dim, "sort");
  const Tensor order = argsort(x, d, descending);
  return {x.dim() == 0 ? x.clone() : gather(x, d, order), order};
}
// sorted=false still returns them sorted: an order is one valid answer PyTorch allows.
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest,
                                bool /*sorted*/) {
  const int64_t d = line_dim(x, dim, "topk");
  if (TraceContext* tc = TraceContext::active()) tc->static_size(k, "topk", "k");
  const Tensor order =
      dispatch(Op::TopK, {x}, {{ir::Attr::Dim, d}, {ir::Attr::K, k}, {ir::Attr::Largest, largest}});
  return {x.dim() == 0 ? x.clone() : gather(x, d, order), order};
}

// Drawn from the counter-based generator with Tensor ops, so a traced sampler replays with fresh
// numbers. With replacement: the count of cumulative weights at or below u * total (inverse CDF;
// O(samples x categories) compares, each row at once). Without: the num_samples smallest keys
// -log(u) / w (exponential races, which pick without replacement in proportion to the weights).
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  EMBER_CHECK(probs.dim() == 1 || probs.dim() == 2, ShapeError,
              "multinomial: prob_dist must be 1 or 2 dim, got shape ", shape_str(probs.sizes()));
  EMBER_CHECK(is_floating(probs.dtype()), DTypeError,
              "multinomial: only floating-point dtypes are supported for probs, got ",
              probs.dtype());
  EMBER_CHECK(num_samples > 0, ValueError, "multinomial: cannot sample ", num_samples,
              " (<= 0) samples");
  const int64_t n = probs.size(-1);
  EMBER_CHECK(n > 0, ValueError, "multinomial: the distribution has no categories");
  EMBER_CHECK(replacement || num_samples <= n, ValueError,
              "multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
              "replacement (",
              num_samples, " > ", n, ")");
  const Tensor p = probs.dim() == 1 ? probs.unsqueeze(0) : probs;
  const Tensor w = p.to(kFloat64);
  if (!probs.is_traced()) {
    EMBER_CHECK((w >= 0.0).to(kInt32).min().item<int>() == 1 &&
                    (abs(w) < INFINITY).to(kInt32).min().item<int>() == 1,
                ValueError,
                "multinomial: probability tensor contains either inf, nan or element < 0");
    const Tensor positive = (w > 0.0).to(kInt64).sum({-1});
    EMBER_CHECK(positive.min().item<int64_t>() > 0, ValueError,
                "multinomial: invalid multinomial distribution (sum of probabilities <= 0)");
    EMBER_CHECK(replacement || positive.min().item<int64_t>() >= num_samples, ValueError,
                "multinomial: invalid multinomial distribution (with replacement=False, not "
                "enough non-negative category to sample)");
  }
  const int64_t rows = p.size(0);
  Tensor out;
  if (replacement) {
    const Tensor cdf = cumsum(w, -1);
    const Tensor u = rand({rows, num_samples}, kFloat64) * cdf.slice(-1, n - 1, n);
    const Tensor below = (cdf.unsqueeze(1) <= u.unsqueeze(-1)).to(kInt64).sum({-1});
    out = minimum(below, full({}, n - 1, kInt64));  // u rounds up to the total at most
  } else {
    const Tensor keys = -log(rand({rows, n}, kFloat64)) / w;  // a zero weight never wins
    out = std::get<1>(topk(keys, num_samples, -1, false));
  }
  return probs.dim() == 1 ? out.squeeze(0) : out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value) {
  EMBER_CHECK(mask.dtype() == kBool, DTypeError, "masked_fill: expected a bool mask, but got ",
              mask.dtype());
  return where(mask, full({}, value, x.dtype()), x);
}
namespace {
// Where column - row >= k (upper) or <= k (lower) over the last two dims of x.
Tensor triangle(const Tensor& x, int64_t k, bool upper, const char* op) {
  EMBER_CHECK(x.dim() >= 2, ShapeError, op, ": expected a tensor with at least 2 dims, got shape ",
              shape_str(x.sizes()));
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const Tensor offset = arange(cols, kInt64).unsqueeze(0) - arange(rows, kInt64).unsqueeze(1);
  const Tensor keep = upper ? offset >= k : offset <= k;
  return where(keep, x, full({}, 0, x.dtype()));
}
}  // namespace
Tensor tril(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, false, "tril"); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, true, "triu"); }
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  EMBER_CHECK(split_size > 0, ValueError, "split: split_size must be positive, got ", split_size);
  const int64_t d = wrap_dim(dim, x.dim(), "split"), n = x.size(d);
  std::vector<Tensor> out;
  for (int64_t start = 0; start < n || (n == 0 && out.empty()); start += split_size)
    out.push_back(x.slice(d, start, std::min(n, start + split_size)));
  return out;
}
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  EMBER_CHECK(chunks > 0, ValueError, "chunk: chunks must be positive, got ", chunks);
  const int64_t d = wrap_dim(dim, x.dim(), "chunk"), n = x.size(d);
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), d);
}
Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  EMBER_CHECK(indices.dtype() == kInt64, DTypeError,
              "one_hot: expected int64 class indices, but got ", indices.dtype());
  if (num_classes < 0) num_classes = indices.numel() ? indices.max().item<int64_t>() + 1 : 0;
  if (!indices.is_traced() && indices.numel()) {
    const int64_t lo = indices.min().item<int64_t>(), hi = indices.max().item<int64_t>();
    EMBER_CHECK(lo >= 0 && hi < num_classes, IndexError, "one_hot: class values must be in [0, ",
                num_classes, "), got ", lo < 0 ? lo : hi);
  }
  return (indices.unsqueeze(-1) == arange(num_classes, kInt64)).to(kInt64);
}
Tensor embedding(const Tensor& weight, const Tensor& indices) {
  EMBER_CHECK(weight.dim() == 2, ShapeError, "embedding: expected a 2-D weight, but got shape ",
              shape_str(weight.sizes()));
  Shape shape = indices.sizes().vec();
  shape.push_back(weight.size(1));
  try {
    return index_select(weight, 0, indices.reshape({indices.numel()})).reshape(shape);
  } catch (const IndexError& e) {  // name the op the user called
    const std::string_view what = e.what();
    throw IndexError("embedding" + std::string(what.substr(std::min(what.find(':'), what.size()))));
  }
}

// Written with Tensor ops, so that inside a traced function the read becomes a guard.
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  const Tensor da = a.to(kFloat64), db = b.to(kFloat64);
  // Equal infinities are close; NaN is close to nothing.
  const Tensor close = logical_or(abs(da - db) <= atol + rtol * abs(db), da == db);
  if (close.numel() == 0) return true;
  return close.to(kInt32).min().item<int>() == 1;
}

bool equal(const Tensor& a, const Tensor& b) {
  if (a.sizes().vec() != b.sizes().vec()) return false;
  if (a.numel() == 0) return true;
  return (a == b).to(kInt32).min().item<int>() == 1;
}

}  // namespace ember
