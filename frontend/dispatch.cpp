#include "frontend/dispatch.h"

#include <cmath>
#include <limits>

#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "ember/ir/interpreter.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/small_vector.h"
#include "frontend/autograd/node.h"

namespace ember::detail {

Tensor dispatch(ir::Op op, std::span<const Tensor> inputs, ir::Attrs attrs) {
  const bool grad = autograd::should_record(inputs);
  Tensor out;
  if (TraceContext* tc = TraceContext::active()) {
    out = tc->record(op, inputs, grad ? attrs : std::move(attrs));
  } else {
    SmallVector<const Array*, 4> operands;
    for (const Tensor& t : inputs) operands.push_back(&t.array());
    out = Tensor(ir::evaluate(op, attrs, operands.data(), operands.size()));
  }
  if (grad) autograd::record(op, attrs, inputs, out);
  return out;
}

Tensor dispatch(ir::Op op, std::initializer_list<Tensor> inputs, ir::Attrs attrs) {
  return dispatch(op, std::span<const Tensor>(inputs.begin(), inputs.size()), std::move(attrs));
}

namespace {

Array scalar_array(const Scalar& value, DType dtype) {
  return is_floating(dtype) ? Array::scalar(value.to_double(), dtype)
                            : Array::scalar_int(value.to_int(), dtype);
}

}  // namespace

Tensor dispatch_with_scalar(ir::Op op, const Tensor& tensor, const Scalar& scalar, DType dtype,
                            bool scalar_first) {
  const Tensor inputs[] = {tensor};
  if (TraceContext::active() || autograd::should_record(inputs)) {
    const Tensor t = tensor.to(dtype), s = scalar_tensor(scalar, dtype, ir::op_name(op));
    return scalar_first ? dispatch(op, {s, t}) : dispatch(op, {t, s});
  }
  const Array s = scalar_array(scalar, dtype);
  const Array cast = tensor.dtype() == dtype ? Array() : kernels::cast(tensor.array(), dtype);
  const Array& t = cast.defined() ? cast : tensor.array();
  const Array* operands[2] = {scalar_first ? &s : &t, scalar_first ? &t : &s};
  return Tensor(ir::evaluate(op, {}, operands, 2));
}

void check_value_fits(const Scalar& value, DType dtype, const char* op) {
  if (dtype == DType::Bool) return;
  dispatch_dtype(dtype, [&]<class T>() {
    using C = compute_t<T>;
    bool fits;
    if constexpr (std::is_floating_point_v<C>) {
      // Infinities and NaN convert; a finite value beyond the type's range does not.
      const double v = value.to_double();
      const double max = std::is_same_v<T, Half>       ? 65504.0
                         : std::is_same_v<T, BFloat16> ? 3.3895313892515355e38
                                                       : double(std::numeric_limits<C>::max());
      fits = !std::isfinite(v) || std::fabs(v) <= max;
    } else if (value.kind() == Scalar::Kind::Float) {
      const double v = value.to_double();
      fits = v >= double(std::numeric_limits<C>::lowest()) &&
             v < double(std::numeric_limits<C>::max()) + 1.0;
    } else {
      const int64_t v = value.to_int();
      fits = std::is_signed_v<C>
                 ? v >= int64_t(std::numeric_limits<C>::lowest()) &&
                       (sizeof(C) == 8 || v <= int64_t(std::numeric_limits<C>::max()))
                 : v >= 0 && (sizeof(C) == 8 || v <= int64_t(std::numeric_limits<C>::max()));
    }
    EMBER_CHECK(fits, ValueError, op, ": value ", value.to_double(),
                " cannot be converted to type ", dtype, " without overflow");
  });
}

ir::AttrValue number_attr(const Scalar& value, DType dtype) {
  if (is_floating(dtype)) return value.to_double();
  return value.to_int();
}

Tensor scalar_tensor(const Scalar& value, DType dtype, std::string_view op) {
  // Eagerly a plain 0-dim array, without building the constant's attributes.
  if (TraceContext* tc = TraceContext::active())
    return tc->scalar(number_attr(value, dtype), dtype, op);
  return Tensor(scalar_array(value, dtype));
}

Tensor empty(IntArrayRef sizes, DType dtype) {
  if (TraceContext::active()) return full(sizes, 0, dtype);
  return Tensor(Array::empty(sizes, dtype));
}

std::vector<ir::SymInt> size_list(IntArrayRef sizes, const char* op, const Tensor* reshaped) {
  if (TraceContext* tc = TraceContext::active()) return tc->symbolic_sizes(sizes, op, reshaped);
  return ir::sym_shape(sizes);
}

Tensor random(ir::Op op, IntArrayRef sizes, DType dtype) {
  if (TraceContext* tc = TraceContext::active()) return tc->random(op, sizes, dtype);
  const kernels::RngState state = kernels::next_rng_state();
  return Tensor(op == ir::Op::RandUniform ? kernels::rand_uniform(state, sizes, dtype)
                                          : kernels::rand_normal(state, sizes, dtype));
}

}  // namespace ember::detail
