#include "ember/passes/decompose.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "ember/ir/mutator.h"
#include "ember/passes/dead_code_elimination.h"

namespace ember::passes {
namespace {

using ir::Op;
using ir::Value;

// Emits primitives at a fixed position of the graph, moving forward as it goes.
struct Emitter {
  ir::Graph& g;
  size_t at;

  Value* op(Op o, std::vector<Value*> in, ir::Attrs attrs = {}) {
    return g.insert(at++, o, std::move(in), std::move(attrs));
  }
  Value* scalar(double v, DType dtype) {
    return op(Op::Constant, {},
              {{ir::Attr::Value, v},
               {ir::Attr::Shape, std::vector<ir::SymInt>{}},
               {ir::Attr::DType, dtype}});
  }
  Value* cast(Value* x, DType dtype) {
    return x->dtype == dtype ? x : op(Op::Cast, {x}, {{ir::Attr::DType, dtype}});
  }
  Value* mul(Value* a, double c) { return op(Op::Mul, {a, scalar(c, a->dtype)}); }
  Value* add(Value* a, double c) { return op(Op::Add, {a, scalar(c, a->dtype)}); }
  Value* reduce(Op o, Value* x, const std::vector<ir::SymInt>& dims, bool keepdim) {
    return op(o, {x}, {{ir::Attr::Dims, dims}, {ir::Attr::Keepdim, keepdim}});
  }
  // How many elements of x a reduction over dims combines, when those dims are static.
  static std::optional<int64_t> static_count(const Value* x, const std::vector<int64_t>& dims) {
    int64_t n = 1;
    for (int64_t d : dims) {
      const ir::SymInt& s = x->shape[size_t(d)];
      if (!s.is_constant()) return std::nullopt;
      n *= s.value();
    }
    return n;
  }
  // The same as a 0-dim value of dtype: a constant when the dims are static, else computed when
  // the graph runs (a sum of ones over x's reduced dims), so a symbolic batch size needs no
  // recompile.
  Value* count(Value* x, const std::vector<int64_t>& dims, DType dtype) {
    if (const auto n = static_count(x, dims)) return scalar(double(*n), dtype);
    std::vector<ir::SymInt> ones_shape(x->shape.size(), ir::SymInt(1));
    for (int64_t d : dims) ones_shape[size_t(d)] = x->shape[size_t(d)];
    Value* ones = op(Op::Expand, {scalar(1.0, dtype)}, {{ir::Attr::Shape, ones_shape}});
    return reduce(Op::ReduceSum, ones, {}, false);
  }
  Value* mean(Value* x, const std::vector<int64_t>& dims, bool keepdim) {
    return op(Op::Div,
              {reduce(Op::ReduceSum, x, ir::sym_shape(dims), keepdim), count(x, dims, x->dtype)});
  }
};

bool is_16bit(DType d) { return d == DType::Float16 || d == DType::BFloat16; }

// The primitives of composite op applied to inputs (with attrs, result dtype out), emitted into
// graph before nodes()[at]; returns the value standing for the composite's result.
Value* emit_decomposition(ir::Graph& graph, size_t at, Op op, const std::vector<Value*>& inputs,
                          const ir::Attrs& attrs, DType out) {
  EMBER_INTERNAL_ASSERT(ir::op_category(op) == ir::OpCategory::Composite);
  auto reduced_axes = [&](const Value* x) {
    return wrap_dims(attrs.get_ints(ir::Attr::Dims), x->rank(),
                     std::string(ir::op_name(op)).c_str());
  };
  Emitter e{graph, at};
  Value* x = inputs[0];
  if (op == Op::Clamp) {  // in x's own dtype; an infinite bound is none
    const double lo = attrs.get_float(ir::Attr::Min), hi = attrs.get_float(ir::Attr::Max);
    Value* r = x;
    if (lo != -INFINITY) r = e.op(Op::Maximum, {r, e.scalar(lo, out)});
    if (hi != INFINITY) r = e.op(Op::Minimum, {r, e.scalar(hi, out)});
    return r;
  }
  // Compute in float32 for 16-bit floats (and integers, which these ops promote), then round.
  const DType compute = is_16bit(out) || !is_floating(out) ? DType::Float32 : out;
  Value* v = e.cast(x, compute);
  Value* r = nullptr;
  switch (op) {
    case Op::Gelu:
      if (attrs.get_bool(ir::Attr::Approximate)) {
        Value* cube = e.op(Op::Mul, {e.op(Op::Mul, {v, v}), v});
        // x * sigmoid(2u) with u = sqrt(2/pi) (x + 0.044715 x^3): the value of
        // 0.5 x (1 + tanh(u)) without its cancellation where x is large and negative.
        Value* twice_inner =
            e.mul(e.op(Op::Add, {v, e.mul(cube, 0.044715)}), 2 * 0.79788456080286535588);
        r = e.op(Op::Mul, {v, e.op(Op::Sigmoid, {twice_inner})});
      } else {
        r = e.op(Op::Mul, {e.mul(v, 0.5), e.add(e.op(Op::Erf, {e.mul(v, M_SQRT1_2)}), 1.0)});
      }
      break;
    case Op::Silu:
      r = e.op(Op::Mul, {v, e.op(Op::Sigmoid, {v})});
      break;
    case Op::Softmax:
    case Op::LogSoftmax: {
      const std::vector<ir::SymInt> dim{
          wrap_dim(attrs.get_int(ir::Attr::Dim), x->rank(), "softmax")};
      const ir::SymInt& size = v->shape[size_t(dim[0].value())];
      if (size.is_constant() && size.value() == 0) {  // nothing to normalize: x's empty shape
        r = v;
        break;
      }
      Value* shifted = e.op(Op::Sub, {v, e.reduce(Op::ReduceMax, v, dim, true)});
      if (op == Op::Softmax) {
        Value* ex = e.op(Op::Exp, {shifted});
        r = e.op(Op::Div, {ex, e.reduce(Op::ReduceSum, ex, dim, true)});
      } else {
        Value* total = e.reduce(Op::ReduceSum, e.op(Op::Exp, {shifted}), dim, true);
        r = e.op(Op::Sub, {shifted, e.op(Op::Log, {total})});
      }
      break;
    }
    case Op::LayerNorm: {
      std::vector<int64_t> dims;
      for (int64_t d = x->rank() - attrs.get_int(ir::Attr::Ndims); d < x->rank(); ++d)
        dims.push_back(d);
      Value* centered = e.op(Op::Sub, {v, e.mean(v, dims, true)});
      Value* variance = e.mean(e.op(Op::Mul, {centered, centered}), dims, true);
      r = e.op(Op::Mul,
               {centered, e.op(Op::Rsqrt, {e.add(variance, attrs.get_float(ir::Attr::Eps))})});
      if (inputs.size() > 1) r = e.op(Op::Mul, {r, e.cast(inputs[1], compute)});
      if (inputs.size() > 2) r = e.op(Op::Add, {r, e.cast(inputs[2], compute)});
      break;
    }
    case Op::Mean:
      r = e.mean(v, reduced_axes(x), attrs.get_bool(ir::Attr::Keepdim));
      break;
    case Op::Var: {
      const std::vector<int64_t> dims = reduced_axes(x);
      Value* diff = e.op(Op::Sub, {v, e.mean(v, dims, true)});
      Value* sum = e.reduce(Op::ReduceSum, e.op(Op::Mul, {diff, diff}), ir::sym_shape(dims),
                            attrs.get_bool(ir::Attr::Keepdim));
      // PyTorch's divisor: max(0, count - correction).
      const double correction = attrs.get_float(ir::Attr::Correction);
      Value* denom = nullptr;
      if (const auto count = Emitter::static_count(v, dims))
        denom = e.scalar(std::max(0.0, double(*count) - correction), compute);
      else
        denom = e.op(Op::Maximum,
                     {e.add(e.count(v, dims, compute), -correction), e.scalar(0.0, compute)});
      r = e.op(Op::Div, {sum, denom});
      break;
    }
    default:
      throw InternalError("decompose: not a composite");
  }
  return e.cast(r, out);
}

// The pass: the graph rebuilt with each composite replaced by its primitives.
class Decomposer : public ir::GraphMutator {
 protected:
  Value* visit(const ir::Node& n) override {
    if (ir::op_category(n.op) != ir::OpCategory::Composite) return GraphMutator::visit(n);
    return emit_decomposition(out(), out().nodes().size(), n.op, mapped_inputs(n), n.attrs,
                              n.output->dtype);
  }
};

}  // namespace

Value* decompose_node(ir::Graph& graph, size_t index) {
  const ir::Node& n = *graph.nodes()[index];
  return emit_decomposition(graph, index, n.op, n.inputs, n.attrs, n.output->dtype);
}

bool decompose(ir::Graph& graph) {
  const bool any = std::any_of(graph.nodes().begin(), graph.nodes().end(), [](const auto& n) {
    return ir::op_category(n->op) == ir::OpCategory::Composite;
  });
  if (!any) return false;
  Decomposer().run_in_place(graph);
  dead_code_elimination(graph);  // a decomposition may leave an input unread (clamp's bounds)
  return true;
}

}  // namespace ember::passes
