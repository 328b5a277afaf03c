// The free-function ops: PyTorch's argument conventions and type promotion on top of the runtime
// kernels. Each op is one call into kernels:: after its Tensor-level checks, or, while tracing,
// records its primitive (composites record their decomposition, written with these same ops).
#include "ember/frontend/ops.h"

#include <cmath>

#include "ember/frontend/trace.h"

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

TraceContext* tracing() { return TraceContext::active(); }

ir::Op ir_op(UnaryOp op) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_UNARY_OP(name, text, props) \
  case UnaryOp::name:                     \
    return ir::Op::name;
#include "ember/ir/ops.def"
#undef EMBER_OP
    default:
      throw InternalError("ir_op: a composite unary op reached the recorder");
  }
}
ir::Op ir_op(BinaryOp op) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_BINARY_OP(name, text, props) \
  case BinaryOp::name:                     \
    return ir::Op::name;
#include "ember/ir/ops.def"
#undef EMBER_OP
  }
  throw InternalError("ir_op: unknown binary op");
}
ir::Op ir_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return ir::Op::ReduceSum;
    case ReduceOp::Prod:
      return ir::Op::ReduceProd;
    case ReduceOp::Max:
      return ir::Op::ReduceMax;
    case ReduceOp::Min:
      return ir::Op::ReduceMin;
    default:
      throw InternalError("ir_op: mean is a composite");
  }
}
std::vector<ir::SymInt> sym_list(IntArrayRef v) { return ir::sym_shape(v); }

Tensor unary(UnaryOp op, const Tensor& x) {
  if (TraceContext* tc = tracing()) {
    switch (op) {  // the composites, recorded as their decomposition
      case UnaryOp::Gelu:
      case UnaryOp::GeluTanh:
        return tc->record_composite(ir::Op::Gelu, {x}, {{"approximate", op == UnaryOp::GeluTanh}});
      case UnaryOp::Silu:
        return tc->record_composite(ir::Op::Silu, {x}, {});
      default:
        return tc->record(ir_op(op), {x});
    }
  }
  return Tensor(kernels::unary(op, x.array()));
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const DType dtype = result_type(a, b);
  if (TraceContext* tc = tracing()) return tc->record(ir_op(op), {a.to(dtype), b.to(dtype)});
  Array ha, hb;
  return Tensor(kernels::binary(op, as_dtype(a, dtype, ha), as_dtype(b, dtype, hb)));
}
Tensor binary(BinaryOp op, const Tensor& a, const Scalar& b) {
  const DType dtype = result_type(a, b);
  if (TraceContext* tc = tracing())
    return tc->record(ir_op(op), {a.to(dtype), tc->scalar(b.to_double(), dtype)});
  Array ha;
  return Tensor(kernels::binary(op, as_dtype(a, dtype, ha), Array::scalar(b.to_double(), dtype)));
}
Tensor binary(BinaryOp op, const Scalar& a, const Tensor& b) {
  const DType dtype = result_type(b, a);
  if (TraceContext* tc = tracing())
    return tc->record(ir_op(op), {tc->scalar(a.to_double(), dtype), b.to(dtype)});
  Array hb;
  return Tensor(kernels::binary(op, Array::scalar(a.to_double(), dtype), as_dtype(b, dtype, hb)));
}

Tensor reduce(ReduceOp op, const Tensor& x, IntArrayRef dims, bool keepdim) {
  if (TraceContext* tc = tracing()) {
    const std::vector<int64_t> wrapped = wrap_dims(dims, x.dim(), kernels::op_name(op));
    if (op == ReduceOp::Mean) {
      EMBER_CHECK(is_floating(x.dtype()), DTypeError,
                  "mean: could not infer output dtype. Input dtype must be a floating point "
                  "dtype, but got ",
                  x.dtype());
      return tc->record_composite(ir::Op::Mean, {x},
                                  {{"dims", sym_list(wrapped)}, {"keepdim", keepdim}});
    }
    return tc->record(ir_op(op), {x}, {{"dims", sym_list(wrapped)}, {"keepdim", keepdim}});
  }
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
  if (tracing()) return zeros(sizes, options);  // a graph has no uninitialized memory
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
  if (TraceContext* tc = tracing()) {
    check_sizes(sizes, "full");
    return tc->record(
        ir::Op::Constant, {},
        {{"value", value.to_double()}, {"shape", tc->symbolic_sizes(sizes)}, {"dtype", dtype}});
  }
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
  Array values = kernels::arange(start.to_double(), end.to_double(), step.to_double(), dtype);
  if (TraceContext* tc = tracing())
    return tc->record(ir::Op::Arange, {},
                      {{"start", start.to_double()},
                       {"step", step.to_double()},
                       {"shape", sym_list({values.numel()})},
                       {"dtype", dtype}});
  return make(std::move(values), options);
}
Tensor rand(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "rand");
  if (TraceContext* tc = tracing())
    return tc->random(ir::Op::RandUniform, sizes, options.dtype_or(kFloat32));
  return make(kernels::rand(sizes, options.dtype_or(kFloat32)), options);
}
Tensor randn(IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "randn");
  if (TraceContext* tc = tracing())
    return tc->random(ir::Op::RandNormal, sizes, options.dtype_or(kFloat32));
  return make(kernels::randn(sizes, options.dtype_or(kFloat32)), options);
}
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, TensorOptions options) {
  check_cpu(options, "randint");
  EMBER_CHECK(!tracing(), Error, "randint: not supported inside a traced function yet");
  return make(kernels::randint(low, high, sizes, options.dtype_or(kInt64)), options);
}
Tensor randint(int64_t high, IntArrayRef sizes, TensorOptions options) {
  return randint(0, high, sizes, options);
}
Tensor rand_like(const Tensor& t) { return rand(t.sizes(), t.dtype()); }
Tensor randn_like(const Tensor& t) { return randn(t.sizes(), t.dtype()); }
void manual_seed(uint64_t seed) {
  if (TraceContext* tc = tracing()) tc->note_manual_seed();
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
  if (TraceContext* tc = tracing()) {
    EMBER_CHECK(condition.dtype() == kBool, DTypeError,
                "where: expected condition to be a bool tensor, but got ", condition.dtype());
    return tc->record(ir::Op::Where, {condition, a.to(dtype), b.to(dtype)});
  }
  Array ha, hb;
  return Tensor(kernels::where(condition.array(), as_dtype(a, dtype, ha), as_dtype(b, dtype, hb)));
}
Tensor where(const Tensor& condition, const Tensor& a, const Scalar& b) {
  const DType dtype = result_type(a, b);
  if (TraceContext* tc = tracing())
    return where(condition, a.to(dtype), tc->scalar(b.to_double(), dtype));
  Array ha;
  return Tensor(kernels::where(condition.array(), as_dtype(a, dtype, ha),
                               Array::scalar(b.to_double(), dtype)));
}
Tensor where(const Tensor& condition, const Scalar& a, const Tensor& b) {
  const DType dtype = result_type(b, a);
  if (TraceContext* tc = tracing())
    return where(condition, tc->scalar(a.to_double(), dtype), b.to(dtype));
  Array hb;
  return Tensor(kernels::where(condition.array(), Array::scalar(a.to_double(), dtype),
                               as_dtype(b, dtype, hb)));
}
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  if (TraceContext* tc = tracing()) {
    EMBER_CHECK(min || max, ValueError, "clamp: at least one of min or max must be given");
    EMBER_CHECK(x.dtype() != kBool, DTypeError, "clamp: not supported for bool tensors");
    Tensor y = x;
    if (min) y = maximum(y, tc->scalar(min->to_double(), x.dtype()));
    if (max) y = minimum(y, tc->scalar(max->to_double(), x.dtype()));
    return y;
  }
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
  if (tracing()) return {amax(x, dim, keepdim), argmax(x, dim, keepdim)};
  auto [values, indices] = kernels::max_min_dim(true, x.array(), dim, keepdim);
  return {Tensor(std::move(values)), Tensor(std::move(indices))};
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  if (tracing()) return {amin(x, dim, keepdim), argmin(x, dim, keepdim)};
  auto [values, indices] = kernels::max_min_dim(false, x.array(), dim, keepdim);
  return {Tensor(std::move(values)), Tensor(std::move(indices))};
}
Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Max, x, dims, keepdim);
}
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return reduce(ReduceOp::Min, x, dims, keepdim);
}
namespace {
Tensor arg_reduce(ir::Op op, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  std::vector<ir::SymInt> dims;
  if (dim) dims.push_back(wrap_dim(*dim, x.dim(), std::string(ir::op_name(op)).c_str()));
  return tracing()->record(op, {x}, {{"dims", dims}, {"keepdim", keepdim}});
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (tracing()) return arg_reduce(ir::Op::ArgMax, x, dim, keepdim);
  return Tensor(kernels::arg_reduce(true, x.array(), dim, keepdim));
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (tracing()) return arg_reduce(ir::Op::ArgMin, x, dim, keepdim);
  return Tensor(kernels::arg_reduce(false, x.array(), dim, keepdim));
}
Tensor var(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  if (tracing()) {
    EMBER_CHECK(is_floating(x.dtype()), DTypeError,
                "var: only floating point dtypes are supported, but got ", x.dtype());
    return tracing()->record_composite(ir::Op::Var, {x},
                                       {{"dims", sym_list(wrap_dims(dims, x.dim(), "var"))},
                                        {"correction", unbiased ? 1.0 : 0.0},
                                        {"keepdim", keepdim}});
  }
  return Tensor(kernels::var(x.array(), dims, unbiased ? 1.0 : 0.0, keepdim));
}
Tensor std(const Tensor& x, IntArrayRef dims, bool unbiased, bool keepdim) {
  return sqrt(var(x, dims, unbiased, keepdim));
}

// ---- linear algebra and neural-network ops ----

Tensor matmul(const Tensor& a, const Tensor& b) {
  TraceContext* tc = tracing();
  if (!tc) return Tensor(kernels::matmul(a.array(), b.array()));
  // The eager op's checks and messages; the IR's rule covers the batch dims.
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
  Tensor y = tc->record(ir::Op::Matmul, {a2, b2});
  if (a.dim() == 1 || b.dim() == 1) {
    Shape shape(y.sizes().begin(), y.sizes().end() - 2);
    if (a.dim() > 1) shape.push_back(y.size(-2));
    if (b.dim() > 1) shape.push_back(y.size(-1));
    y = y.reshape(shape);
  }
  return y;
}
Tensor mm(const Tensor& a, const Tensor& b) {
  if (!tracing()) return Tensor(kernels::mm(a.array(), b.array()));
  EMBER_CHECK(a.dim() == 2 && b.dim() == 2, ShapeError, "mm: expected 2-D tensors, but got ",
              shape_str(a.sizes()), " and ", shape_str(b.sizes()));
  return matmul(a, b);
}
Tensor bmm(const Tensor& a, const Tensor& b) {
  if (!tracing()) return Tensor(kernels::bmm(a.array(), b.array()));
  EMBER_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0), ShapeError,
              "bmm: expected 3-D tensors with equal batch, but got ", shape_str(a.sizes()), " and ",
              shape_str(b.sizes()));
  return matmul(a, b);
}

namespace {

void check_float(const Tensor& x, const char* op) {
  EMBER_CHECK(is_floating(x.dtype()), DTypeError, op, ": expected a floating point input, but got ",
              x.dtype());
}

}  // namespace

// The composites: one fused kernel eagerly; traced, their decomposition (passes/decompose.cpp).
Tensor softmax(const Tensor& x, int64_t dim) {
  if (!tracing()) return Tensor(kernels::softmax(x.array(), dim));
  check_float(x, "softmax");
  return tracing()->record_composite(ir::Op::Softmax, {x},
                                     {{"dim", wrap_dim(dim, x.dim(), "softmax")}});
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (!tracing()) return Tensor(kernels::log_softmax(x.array(), dim));
  check_float(x, "log_softmax");
  return tracing()->record_composite(ir::Op::LogSoftmax, {x},
                                     {{"dim", wrap_dim(dim, x.dim(), "log_softmax")}});
}
Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  if (!tracing())
    return Tensor(kernels::layer_norm(x.array(), normalized_shape,
                                      weight.defined() ? &weight.array() : nullptr,
                                      bias.defined() ? &bias.array() : nullptr, eps));
  kernels::check_layer_norm_input(x.sizes(), x.dtype(), normalized_shape);
  const ir::Attrs attrs{{"ndims", int64_t(normalized_shape.size())}, {"eps", eps}};
  TraceContext* tc = tracing();
  if (weight.defined() && bias.defined())
    return tc->record_composite(ir::Op::LayerNorm, {x, weight.to(x.dtype()), bias.to(x.dtype())},
                                attrs);
  if (weight.defined())
    return tc->record_composite(ir::Op::LayerNorm, {x, weight.to(x.dtype())}, attrs);
  // A bias alone: normalize, then add it (the IR's layer_norm takes a weight before a bias).
  const Tensor y = tc->record_composite(ir::Op::LayerNorm, {x}, attrs);
  return bias.defined() ? y + bias.to(x.dtype()) : y;
}
Tensor dropout(const Tensor& x, double p, bool train) {
  if (!tracing()) return Tensor(kernels::dropout(x.array(), p, train));
  EMBER_CHECK(p >= 0 && p <= 1, ValueError,
              "dropout: probability has to be between 0 and 1, but got ", p);
  if (!train || p == 0) return x;
  check_float(x, "dropout");
  if (p == 1) return zeros_like(x);
  const Tensor keep = rand(x.sizes(), kFloat32) >= p;  // the draw eager dropout makes
  return where(keep, x * (1.0 / (1.0 - p)), 0.0);
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, IntArrayRef stride,
              IntArrayRef padding, IntArrayRef dilation, int64_t groups) {
  kernels::Conv2dParams p;
  p.stride = pair_of(stride, "conv2d", "stride");
  p.padding = pair_of(padding, "conv2d", "padding");
  p.dilation = pair_of(dilation, "conv2d", "dilation");
  p.groups = groups;
  TraceContext* tc = tracing();
  if (!tc)
    return Tensor(kernels::conv2d(input.array(), weight.array(),
                                  bias.defined() ? &bias.array() : nullptr, p));
  EMBER_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError,
              "conv2d: expected 3-D (unbatched) or 4-D (batched) input, but got input of size ",
              shape_str(input.sizes()));
  const Tensor x = input.dim() == 3 ? input.unsqueeze(0) : input;
  Tensor y = tc->record(ir::Op::Conv2d, {x, weight},
                        {{"stride", sym_list(p.stride)},
                         {"padding", sym_list(p.padding)},
                         {"dilation", sym_list(p.dilation)},
                         {"groups", groups}});
  if (bias.defined()) y = y + bias.reshape({1, bias.numel(), 1, 1});
  return input.dim() == 3 ? y.squeeze(0) : y;
}

namespace {

Tensor traced_pool(ir::Op op, const Tensor& input, const kernels::Pool2dParams& p) {
  EMBER_CHECK(input.dim() == 3 || input.dim() == 4, ShapeError, ir::op_name(op),
              ": expected 3-D (unbatched) or 4-D (batched) input, but got input of size ",
              shape_str(input.sizes()));
  const Tensor x = input.dim() == 3 ? input.unsqueeze(0) : input;
  ir::Attrs attrs{{"kernel", sym_list(p.kernel)},
                  {"stride", sym_list(p.stride)},
                  {"padding", sym_list(p.padding)},
                  {"ceil_mode", p.ceil_mode}};
  if (op == ir::Op::MaxPool2d)
    attrs.set("dilation", sym_list(p.dilation));
  else
    attrs.set("count_include_pad", p.count_include_pad);
  const Tensor y = tracing()->record(op, {x}, std::move(attrs));
  return input.dim() == 3 ? y.squeeze(0) : y;
}

}  // namespace

Tensor max_pool2d(const Tensor& input, IntArrayRef kernel_size, IntArrayRef stride,
                  IntArrayRef padding, IntArrayRef dilation, bool ceil_mode) {
  kernels::Pool2dParams p;
  p.kernel = pair_of(kernel_size, "max_pool2d", "kernel_size");
  p.stride = stride.empty() ? p.kernel : pair_of(stride, "max_pool2d", "stride");
  p.padding = pair_of(padding, "max_pool2d", "padding");
  p.dilation = pair_of(dilation, "max_pool2d", "dilation");
  p.ceil_mode = ceil_mode;
  if (tracing()) return traced_pool(ir::Op::MaxPool2d, input, p);
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
  if (tracing()) return traced_pool(ir::Op::AvgPool2d, input, p);
  return Tensor(kernels::avg_pool2d(input.array(), p));
}

// ---- joining and indexing ----

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TraceContext* tc = tracing();
  if (!tc) return Tensor(kernels::cat(arrays_of(tensors), dim));
  EMBER_CHECK(!tensors.empty(), ValueError, "cat: expected a non-empty list of tensors");
  DType dtype = tensors[0].dtype();
  for (const Tensor& t : tensors) dtype = promote_types(dtype, t.dtype());
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors)
    if (!(t.dim() == 1 && t.size(0) == 0)) parts.push_back(t.to(dtype));
  if (parts.empty()) return zeros({0}, dtype);
  EMBER_CHECK(parts[0].dim() > 0, ShapeError,
              "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  return tc->record(ir::Op::Concat, parts, {{"dim", wrap_dim(dim, parts[0].dim(), "cat")}});
}
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (!tracing()) return Tensor(kernels::stack(arrays_of(tensors), dim));
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
  TraceContext* tc = tracing();
  if (!tc) return Tensor(kernels::index_select(x.array(), dim, index.array()));
  const Tensor flat = index.dim() == 0 ? index.reshape({1}) : index;
  return tc->record(ir::Op::IndexSelect, {x, flat},
                    {{"dim", wrap_dim(dim, x.dim(), "index_select")}});
}
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  TraceContext* tc = tracing();
  if (!tc) return Tensor(kernels::gather(x.array(), dim, index.array()));
  return tc->record(ir::Op::Gather, {x, index}, {{"dim", wrap_dim(dim, x.dim(), "gather")}});
}
Tensor embedding(const Tensor& weight, const Tensor& indices) {
  if (!tracing()) return Tensor(kernels::embedding(weight.array(), indices.array()));
  EMBER_CHECK(weight.dim() == 2, ShapeError, "embedding: expected a 2-D weight, but got shape ",
              shape_str(weight.sizes()));
  Shape shape = indices.sizes().vec();
  shape.push_back(weight.size(1));
  return index_select(weight, 0, indices.reshape({indices.numel()})).reshape(shape);
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
