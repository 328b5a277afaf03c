// Elementwise eager kernels: unary and binary math, comparisons, where, clamp, casts and copies.
// Every one runs through StridedLoop; the inner loops have a contiguous path (which the compiler
// vectorizes), a broadcast-scalar path, and a general strided path.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ember/ir/op_properties.h"
#include "ember/runtime/kernels.h"
#include "runtime/kernels/loops.h"
#include "runtime/kernels/scalar_ops.h"
#include "runtime/kernels/vec_math.h"

namespace ember::kernels {
namespace {

template <class C>
C int_pow(C base, C exp) {
  if (exp < 0) return base == 1 ? C(1) : base == C(-1) ? C(exp % 2 ? -1 : 1) : C(0);
  C result = 1;
  while (exp) {
    if (exp & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    exp >>= 1;
  }
  return result;
}

// The scalar function of each unary op, on the compute type C.
template <UnaryOp Op, class C>
EMBER_VEC_INLINE auto apply_unary(C x) {
  constexpr bool f32 = std::is_same_v<C, float>;
  if constexpr (Op == UnaryOp::Neg)
    return C(-x);
  else if constexpr (Op == UnaryOp::Abs) {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else
      return C(x < 0 ? -x : x);
  } else if constexpr (Op == UnaryOp::Exp) {
    if constexpr (f32)
      return vec_math::exp(x);
    else
      return std::exp(x);
  } else if constexpr (Op == UnaryOp::Log)
    return C(std::log(x));
  else if constexpr (Op == UnaryOp::Sqrt)
    return C(std::sqrt(x));
  else if constexpr (Op == UnaryOp::Rsqrt)
    return C(C(1) / std::sqrt(x));
  else if constexpr (Op == UnaryOp::Sin)
    return C(std::sin(x));
  else if constexpr (Op == UnaryOp::Cos)
    return C(std::cos(x));
  else if constexpr (Op == UnaryOp::Tanh) {
    if constexpr (f32)
      return vec_math::tanh(x);
    else
      return std::tanh(x);
  } else if constexpr (Op == UnaryOp::Sigmoid) {
    if constexpr (f32)
      return vec_math::sigmoid(x);
    else
      return C(1) / (C(1) + std::exp(-x));
  } else if constexpr (Op == UnaryOp::Relu)
    return C(x < C(0) ? C(0) : x);
  else if constexpr (Op == UnaryOp::Gelu) {
    constexpr C kInvSqrt2 = C(0.70710678118654752440);
    if constexpr (f32)
      return C(0.5f * x * (1.0f + vec_math::erf(x * kInvSqrt2)));
    else
      return C(0.5 * x * (1.0 + std::erf(x * kInvSqrt2)));
  } else if constexpr (Op == UnaryOp::GeluTanh) {
    constexpr C kAlpha = C(0.79788456080286535588);  // sqrt(2 / pi)
    const C inner = kAlpha * (x + C(0.044715) * x * x * x);
    // 0.5 * (1 + tanh(u)) == sigmoid(2u): the sigmoid form does not cancel to ~1e-6 where the
    // value is ~0 (large negative x), which the tanh form does.
    if constexpr (f32)
      return x * vec_math::sigmoid(2.0f * inner);
    else
      return x / (C(1) + std::exp(C(-2) * inner));
  } else if constexpr (Op == UnaryOp::Silu) {
    if constexpr (f32)
      return x * vec_math::sigmoid(x);
    else
      return x / (C(1) + std::exp(-x));
  } else if constexpr (Op == UnaryOp::Erf) {
    if constexpr (f32)
      return vec_math::erf(x);
    else
      return std::erf(x);
  } else if constexpr (Op == UnaryOp::Reciprocal)
    return C(C(1) / x);
  else if constexpr (Op == UnaryOp::Floor) {
    if constexpr (std::is_floating_point_v<C>)
      return std::floor(x);
    else
      return x;
  } else if constexpr (Op == UnaryOp::Ceil) {
    if constexpr (std::is_floating_point_v<C>)
      return std::ceil(x);
    else
      return x;
  } else if constexpr (Op == UnaryOp::Round) {
    if constexpr (std::is_floating_point_v<C>)
      return std::nearbyint(x);
    else
      return x;
  } else if constexpr (Op == UnaryOp::Sign)
    return C((C(0) < x) - (x < C(0)));
  else if constexpr (Op == UnaryOp::Log1p)
    return C(std::log1p(x));
  else if constexpr (Op == UnaryOp::Expm1)
    return C(std::expm1(x));
  else if constexpr (Op == UnaryOp::LogicalNot)
    return !bool(x);
}

template <BinaryOp Op, class C>
EMBER_VEC_INLINE auto apply_binary(C a, C b) {
  if constexpr (Op == BinaryOp::Add)
    return wrap_add(a, b);
  else if constexpr (Op == BinaryOp::Sub)
    return wrap_sub(a, b);
  else if constexpr (Op == BinaryOp::Mul)
    return wrap_mul(a, b);
  else if constexpr (Op == BinaryOp::Div)
    return C(a / b);
  else if constexpr (Op == BinaryOp::Pow) {
    if constexpr (std::is_floating_point_v<C>)
      return C(std::pow(a, b));
    else if constexpr (std::is_same_v<C, bool>)
      return bool(a || !b);
    else
      return int_pow(a, b);
  } else if constexpr (Op == BinaryOp::Maximum)
    return nan_max(a, b);
  else if constexpr (Op == BinaryOp::Minimum)
    return nan_min(a, b);
  else if constexpr (Op == BinaryOp::Eq)
    return a == b;
  else if constexpr (Op == BinaryOp::Ne)
    return a != b;
  else if constexpr (Op == BinaryOp::Lt)
    return a < b;
  else if constexpr (Op == BinaryOp::Le)
    return a <= b;
  else if constexpr (Op == BinaryOp::Gt)
    return a > b;
  else if constexpr (Op == BinaryOp::Ge)
    return a >= b;
  else if constexpr (Op == BinaryOp::LogicalAnd)
    return bool(a) && bool(b);
  else if constexpr (Op == BinaryOp::LogicalOr)
    return bool(a) || bool(b);
}

// out[i] = f(in[i]) over a run; T and R are storage types, f works on compute types.
template <class R, class T, class F>
void unary_run(char** p, const int64_t* s, int64_t n, const F& f) {
  using C = compute_t<T>;
  if (s[0] == sizeof(R) && s[1] == sizeof(T)) {
    R* out = reinterpret_cast<R*>(p[0]);
    const T* in = reinterpret_cast<const T*>(p[1]);
    for (int64_t i = 0; i < n; ++i) out[i] = R(f(C(in[i])));
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<R*>(p[0] + i * s[0]) =
          R(f(C(*reinterpret_cast<const T*>(p[1] + i * s[1]))));
  }
}

template <class R, class T, class F>
void binary_run(char** p, const int64_t* s, int64_t n, const F& f) {
  using C = compute_t<T>;
  R* out = reinterpret_cast<R*>(p[0]);
  const T* a = reinterpret_cast<const T*>(p[1]);
  const T* b = reinterpret_cast<const T*>(p[2]);
  if (s[0] == sizeof(R) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
    for (int64_t i = 0; i < n; ++i) out[i] = R(f(C(a[i]), C(b[i])));
  } else if (s[0] == sizeof(R) && s[1] == sizeof(T) && s[2] == 0) {
    const C bv = C(*b);
    for (int64_t i = 0; i < n; ++i) out[i] = R(f(C(a[i]), bv));
  } else if (s[0] == sizeof(R) && s[1] == 0 && s[2] == sizeof(T)) {
    const C av = C(*a);
    for (int64_t i = 0; i < n; ++i) out[i] = R(f(av, C(b[i])));
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<R*>(p[0] + i * s[0]) =
          R(f(C(*reinterpret_cast<const T*>(p[1] + i * s[1])),
              C(*reinterpret_cast<const T*>(p[2] + i * s[2]))));
  }
}

// The kernels' names and properties, from ops.def.
namespace table {
using namespace ir::prop;
struct KernelInfo {
  const char* name;
  uint32_t properties;
};
constexpr KernelInfo kUnary[] = {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_UNARY_OP(name, text, props) {text, (props) | Elementwise},
#define EMBER_EAGER_UNARY_OP(name, text, props) {text, (props) | Elementwise},
#include "ember/ir/ops.def"
#undef EMBER_OP
};
constexpr KernelInfo kBinary[] = {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_BINARY_OP(name, text, props) {text, (props) | Elementwise},
#include "ember/ir/ops.def"
#undef EMBER_OP
};
}  // namespace table

bool has(UnaryOp op, uint32_t flag) { return table::kUnary[size_t(op)].properties & flag; }
bool has(BinaryOp op, uint32_t flag) { return table::kBinary[size_t(op)].properties & flag; }

// Runs fn.template operator()<Op>() with the op as a compile-time constant.
template <class F>
void dispatch_unary_op(UnaryOp op, F&& fn) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_UNARY_OP(name, text, props) \
  case UnaryOp::name:                     \
    return fn.template operator()<UnaryOp::name>();
#define EMBER_EAGER_UNARY_OP(name, text, props) EMBER_UNARY_OP(name, text, props)
#include "ember/ir/ops.def"
#undef EMBER_OP
  }
}
template <class F>
void dispatch_binary_op(BinaryOp op, F&& fn) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_BINARY_OP(name, text, props) \
  case BinaryOp::name:                     \
    return fn.template operator()<BinaryOp::name>();
#include "ember/ir/ops.def"
#undef EMBER_OP
  }
}

// Integer and bool inputs compute in float32 (exp of an int64 tensor).
bool is_float_unary(UnaryOp op) { return has(op, ir::prop::FloatResult); }
bool is_comparison(BinaryOp op) { return has(op, ir::prop::Predicate); }

}  // namespace

const char* op_name(UnaryOp op) { return table::kUnary[size_t(op)].name; }
const char* op_name(BinaryOp op) { return table::kBinary[size_t(op)].name; }

DType unary_result_type(UnaryOp op, DType input) {
  if (op == UnaryOp::LogicalNot) return DType::Bool;
  if (is_float_unary(op)) return is_floating(input) ? input : DType::Float32;
  EMBER_CHECK(input != DType::Bool || op == UnaryOp::Abs || op == UnaryOp::Floor ||
                  op == UnaryOp::Ceil || op == UnaryOp::Round,
              DTypeError, op_name(op), ": not supported for bool tensors",
              op == UnaryOp::Neg ? " (use logical_not to invert a bool tensor)" : "");
  return input;
}

DType binary_compute_type(BinaryOp op, DType common) {
  if (has(op, ir::prop::FloatResult) && !is_floating(common)) return DType::Float32;
  return common;
}

DType binary_result_type(BinaryOp op, DType common) {
  if (is_comparison(op)) return DType::Bool;
  EMBER_CHECK(!(op == BinaryOp::Sub && common == DType::Bool), DTypeError,
              "sub: subtraction of two bool tensors is not supported (use logical_xor or ^)");
  return binary_compute_type(op, common);
}

Array unary(UnaryOp op, const Array& a) {
  const DType result = unary_result_type(op, a.dtype());
  // Float ops on integers compute on a float copy, as PyTorch's promotion does.
  Array converted;
  if (is_float_unary(op) && a.dtype() != result) converted = cast(a, result);
  const Array& in = converted.defined() ? converted : a;
  Array out = Array::empty(in.sizes(), result);
  std::array<Shape, 1> storage;
  auto loop = make_loop<2>(out, {&in}, storage);
  dispatch_unary_op(op, [&]<UnaryOp Op>() {
    dispatch_dtype(in.dtype(), [&]<class T>() {
      using C = compute_t<T>;
      if constexpr ((Op == UnaryOp::Neg || Op == UnaryOp::Relu || Op == UnaryOp::Sign) &&
                    std::is_same_v<T, bool>) {
        throw InternalError("unary: bool reached a kernel that rejects it");
      } else if constexpr (Op == UnaryOp::LogicalNot) {
        loop.run([](char** p, const int64_t* s, int64_t n) {
          unary_run<bool, T>(p, s, n, [](C x) EMBER_LAMBDA_INLINE { return apply_unary<Op>(x); });
        });
      } else if constexpr (!std::is_floating_point_v<C> &&
                           (Op != UnaryOp::Neg && Op != UnaryOp::Abs && Op != UnaryOp::Relu &&
                            Op != UnaryOp::Sign && Op != UnaryOp::Floor && Op != UnaryOp::Ceil &&
                            Op != UnaryOp::Round)) {
        throw InternalError("unary: integer input reached a float-only kernel");
      } else {
        loop.run([](char** p, const int64_t* s, int64_t n) {
          unary_run<T, T>(p, s, n, [](C x) EMBER_LAMBDA_INLINE { return C(apply_unary<Op>(x)); });
        });
      }
    });
  });
  return out;
}

Array binary(BinaryOp op, const Array& a, const Array& b) {
  const DType common = promote_types(a.dtype(), b.dtype());
  const DType compute = binary_compute_type(op, common);
  const DType result = binary_result_type(op, common);
  // Inputs of another dtype are converted first (no copy of the Array otherwise).
  Array a_cast, b_cast;
  if (a.dtype() != compute) a_cast = cast(a, compute);
  if (b.dtype() != compute) b_cast = cast(b, compute);
  const Array& ac = a_cast.defined() ? a_cast : a;
  const Array& bc = b_cast.defined() ? b_cast : b;
  Array out = Array::empty(broadcast_shapes(a.sizes(), b.sizes(), op_name(op)), result);
  std::array<Shape, 2> storage;
  auto loop = make_loop<3>(out, {&ac, &bc}, storage);
  dispatch_binary_op(op, [&]<BinaryOp Op>() {
    dispatch_dtype(compute, [&]<class T>() {
      using C = compute_t<T>;
      using R = std::conditional_t<(Op >= BinaryOp::Eq), bool, T>;
      loop.run([](char** p, const int64_t* s, int64_t n) {
        binary_run<R, T>(p, s, n,
                         [](C x, C y) EMBER_LAMBDA_INLINE { return apply_binary<Op>(x, y); });
      });
    });
  });
  return out;
}

Array where(const Array& cond, const Array& a, const Array& b) {
  EMBER_CHECK(cond.dtype() == DType::Bool, DTypeError,
              "where: expected condition to be a bool tensor, but got ", cond.dtype());
  const DType common = promote_types(a.dtype(), b.dtype());
  const Array ac = a.dtype() == common ? a : cast(a, common);
  const Array bc = b.dtype() == common ? b : cast(b, common);
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.sizes(), a.sizes(), "where"), b.sizes(), "where");
  Array out = Array::empty(shape, common);
  std::array<Shape, 3> storage;
  auto loop = make_loop<4>(out, {&cond, &ac, &bc}, storage);
  dispatch_dtype(common, [&]<class T>() {
    loop.run([](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                     ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                     : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
  });
  return out;
}

Array clamp(const Array& a, std::optional<double> min, std::optional<double> max) {
  EMBER_CHECK(min || max, ValueError, "clamp: at least one of min or max must be given");
  EMBER_CHECK(a.dtype() != DType::Bool, DTypeError, "clamp: not supported for bool tensors");
  Array out = Array::empty(a.sizes(), a.dtype());
  std::array<Shape, 1> storage;
  auto loop = make_loop<2>(out, {&a}, storage);
  dispatch_dtype(a.dtype(), [&]<class T>() {
    using C = compute_t<T>;
    const C lo = min ? C(*min) : C(0), hi = max ? C(*max) : C(0);
    const bool has_lo = bool(min), has_hi = bool(max);
    loop.run([&](char** p, const int64_t* s, int64_t n) {
      unary_run<T, T>(p, s, n, [&](C x) EMBER_LAMBDA_INLINE {
        if (has_lo) x = nan_max(x, lo);
        if (has_hi) x = nan_min(x, hi);
        return x;
      });
    });
  });
  return out;
}

namespace {

// The element offsets [first, last] an array can touch (numel > 0).
std::pair<int64_t, int64_t> extent(const Array& a) {
  int64_t lo = a.offset(), hi = a.offset();
  for (int64_t d = 0; d < a.dim(); ++d)
    (a.stride(d) < 0 ? lo : hi) += (a.size(d) - 1) * a.stride(d);
  return {lo, hi};
}

// PyTorch's write checks: a destination where two elements share memory (an expanded view) has
// no well-defined result, and neither has a copy whose source partly overlaps its destination.
// Identical views (x.copy_(x)) are fine, and so, as in PyTorch, are layouts too irregular to
// decide cheaply (non-contiguous sources).
void check_writable(const Array& dst, const Array* src) {
  if (dst.numel() <= 1 || !dst.storage()) return;
  for (int64_t d = 0; d < dst.dim(); ++d)
    EMBER_CHECK(dst.stride(d) != 0 || dst.size(d) == 1, Error,
                "unsupported operation: more than one element of the written-to tensor refers to a "
                "single memory location (dimension ",
                d, " of size ", dst.size(d),
                " has stride 0). Please clone() the tensor before "
                "performing the operation.");
  if (!src || src->storage() != dst.storage() || src->numel() == 0) return;
  if (src->offset() == dst.offset() && src->sizes() == dst.sizes() &&
      src->strides() == dst.strides())
    return;
  if (!src->is_contiguous() || !dst.is_contiguous()) return;
  const auto [a0, a1] = extent(dst);
  const auto [b0, b1] = extent(*src);
  const bool disjoint =
      (a1 + 1) * int64_t(itemsize(dst.dtype())) <= b0 * int64_t(itemsize(src->dtype())) ||
      (b1 + 1) * int64_t(itemsize(src->dtype())) <= a0 * int64_t(itemsize(dst.dtype()));
  EMBER_CHECK(disjoint, Error,
              "unsupported operation: some elements of the input tensor and the written-to tensor "
              "refer to a single memory location. Please clone() the tensor before performing "
              "the operation.");
}

}  // namespace

void copy_into(const Array& dst, const Array& src) {
  broadcast_shapes(dst.sizes(), src.sizes(), "copy_");
  check_writable(dst, &src);
  EMBER_CHECK(broadcast_shapes(dst.sizes(), src.sizes(), "copy_") == dst.sizes(), ShapeError,
              "copy_: source of shape ", shape_str(src.sizes()),
              " cannot be broadcast to destination of shape ", shape_str(dst.sizes()));
  std::array<Shape, 1> storage;
  auto loop = make_loop<2>(dst, {&src}, storage);
  dispatch_dtype(dst.dtype(), [&]<class R>() {
    dispatch_dtype(src.dtype(), [&]<class T>() {
      loop.run([](char** p, const int64_t* s, int64_t n) {
        using C = compute_t<T>;
        if constexpr (std::is_same_v<R, bool>)
          unary_run<R, T>(p, s, n, [](C x) EMBER_LAMBDA_INLINE { return x != C(0); });
        else if constexpr (std::is_floating_point_v<C> && !std::is_floating_point_v<compute_t<R>>)
          // Float to integer truncates toward zero; out-of-range values are unspecified in
          // PyTorch too, but must not be undefined behaviour here, so they saturate.
          unary_run<R, T>(p, s, n, [](C x) EMBER_LAMBDA_INLINE {
            using RC = compute_t<R>;
            constexpr double lo = double(std::numeric_limits<RC>::lowest());
            constexpr double hi = double(std::numeric_limits<RC>::max());
            const double v = double(x);
            return v != v    ? RC(0)
                   : v <= lo ? std::numeric_limits<RC>::lowest()
                   : v >= hi ? std::numeric_limits<RC>::max()
                             : RC(v);
          });
        else
          unary_run<R, T>(p, s, n, [](C x) EMBER_LAMBDA_INLINE { return compute_t<R>(x); });
      });
    });
  });
}

Array cast(const Array& a, DType dtype) {
  Array out = Array::empty(a.sizes(), dtype);
  copy_into(out, a);
  return out;
}

Array contiguous(const Array& a) {
  if (a.is_contiguous()) return a;
  return cast(a, a.dtype());
}

void fill(const Array& dst, double value) { copy_into(dst, Array::scalar(value, DType::Float64)); }

}  // namespace ember::kernels
