// The one dispatch point of every Tensor op. An op function checks its arguments, states its IR
// op, operands and attributes once, and calls dispatch(): under a TraceContext the op is recorded
// (a composite as its decomposition); otherwise it runs eagerly through ir::evaluate, the
// reference interpreter's own evaluation of that node, so an eager result and the traced graph's
// cannot drift apart. Autograd will record its edge here, and the GPU backend choose its kernels
// by the inputs' device.
#pragma once

#include <initializer_list>
#include <span>

#include "ember/frontend/tensor.h"
#include "ember/frontend/trace.h"
#include "ember/ir/graph.h"
#include "frontend/autograd/node.h"

namespace ember::detail {

Tensor dispatch(ir::Op op, std::span<const Tensor> inputs, ir::Attrs attrs = {});
Tensor dispatch(ir::Op op, std::initializer_list<Tensor> inputs, ir::Attrs attrs = {});

// op on a tensor and a Scalar (scalar_first: the Scalar is the left operand), both in dtype: the
// Scalar becomes a 0-dim constant of dtype. Eagerly without a Tensor for the Scalar or the cast.
Tensor dispatch_with_scalar(ir::Op op, const Tensor& tensor, const Scalar& scalar, DType dtype,
                            bool scalar_first);

// A view op: `meta` is its eager result, computed by the eager view kernel (so sizes, strides and
// errors are eager's in both modes), which shares x's storage. While tracing, the IR op that
// expresses it is recorded on x with the attributes make_attrs() builds (only then), and the
// result keeps meta's sizes and strides.
template <class MakeAttrs>
Tensor view(const Tensor& x, Array meta, ir::Op op, MakeAttrs&& make_attrs) {
  TraceContext* tc = TraceContext::active();
  const Tensor inputs[] = {x};
  const bool grad = autograd::should_record(inputs);
  if (!tc && !grad) return Tensor(std::move(meta));
  const ir::Attrs attrs = make_attrs();
  Tensor out = tc ? Tensor::traced(tc, tc->record(op, {x}, attrs).traced_value(), std::move(meta))
                  : Tensor(std::move(meta));
  if (tc) tc->note_view(x, out);
  if (grad) autograd::record(op, attrs, inputs, out);
  return out;
}

// A number as the value attribute of a constant of dtype: an exact integer for integer and bool
// dtypes (a float Scalar truncated, as a cast would), a double otherwise.
ir::AttrValue number_attr(const Scalar& value, DType dtype);
// ValueError (PyTorch's "cannot be converted ... without overflow") when value is out of dtype's
// range: a finite number beyond a float type's largest, NaN or an out-of-range number for an
// integer type. Bool takes anything.
void check_value_fits(const Scalar& value, DType dtype, const char* op);
// A 0-dim tensor holding value in dtype: a constant node while tracing. What Scalar operands
// become.
Tensor scalar_tensor(const Scalar& value, DType dtype, std::string_view op);

// An uninitialized tensor eagerly; zeros while tracing (a graph has no uninitialized memory).
Tensor empty(IntArrayRef sizes, DType dtype);

// Sizes passed to op as an IR attribute: while tracing, symbolic where the trace's evidence says
// so (see TraceContext::symbolic_sizes, and `reshaped` there); plain integers eagerly.
std::vector<ir::SymInt> size_list(IntArrayRef sizes, const char* op,
                                  const Tensor* reshaped = nullptr);

// A draw of the global generator (op: RandUniform or RandNormal): eagerly the next state of the
// generator; while tracing the same state, recorded as graph inputs so that replays draw anew.
Tensor random(ir::Op op, IntArrayRef sizes, DType dtype);

}  // namespace ember::detail
