#include "ember/passes/canonicalize.h"

#include <cmath>
#include <optional>

#include "ember/passes/dead_code_elimination.h"

namespace ember::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Op;
using ir::Value;

// What a rule may do: replace the node's result with an existing value, or with a new node
// built just before it.
struct Rewrite {
  Value* with = nullptr;
};

// The scalar a value holds when it is a Constant (any shape), else nullopt.
std::optional<double> constant_value(const Value* v) {
  if (!v->producer || v->producer->op != Op::Constant) return std::nullopt;
  return v->producer->attrs.get_float("value");
}

bool same_type(const Value* a, const Value* b) {
  return a->dtype == b->dtype && a->shape == b->shape;
}

// x op c (or c op x, when op commutes) where c is the constant `identity` and the result is x
// itself (same type).
Value* identity_operand(const Node& n, double identity) {
  const Value *a = n.inputs[0], *b = n.inputs[1];
  if (constant_value(b) == identity && same_type(a, n.output)) return n.inputs[0];
  if (ir::is_commutative(n.op) && constant_value(a) == identity && same_type(b, n.output))
    return n.inputs[1];
  return nullptr;
}

// Every value of `from` is exactly representable in `to`.
bool widens_losslessly(DType from, DType to) {
  if (from == to) return true;
  switch (to) {
    case DType::Float64:
      return from != DType::Int64;  // int64 has 63 bits, float64 53
    case DType::Float32:
      return from == DType::Bool || from == DType::UInt8 || from == DType::Int8 ||
             from == DType::Float16 || from == DType::BFloat16;
    case DType::Int64:
      return is_integral(from, true);
    case DType::Int32:
      return from == DType::Bool || from == DType::UInt8 || from == DType::Int8;
    default:
      return false;
  }
}

using Rule = Rewrite (*)(Graph&, Node&, size_t index);

Rewrite mul_by_one(Graph&, Node& n, size_t) {
  return {n.op == Op::Mul ? identity_operand(n, 1.0) : nullptr};
}
// x + 0 and x - 0 are x for integers. For floats the zero's sign matters, because -0.0 + 0.0
// and -0.0 - (-0.0) are +0.0: x + (-0.0) is x (either order), and x - (+0.0) is x.
Rewrite add_zero(Graph&, Node& n, size_t) {
  if (n.op != Op::Add && n.op != Op::Sub) return {};
  if (!is_floating(n.output->dtype)) return {identity_operand(n, 0.0)};
  const bool want_negative = n.op == Op::Add;
  auto identity_zero = [&](const Value* v) {
    const auto c = constant_value(v);
    return c && *c == 0.0 && std::signbit(*c) == want_negative;
  };
  if (identity_zero(n.inputs[1]) && same_type(n.inputs[0], n.output)) return {n.inputs[0]};
  if (n.op == Op::Add && identity_zero(n.inputs[0]) && same_type(n.inputs[1], n.output))
    return {n.inputs[1]};
  return {};
}
Rewrite div_by_one(Graph&, Node& n, size_t) {
  return {n.op == Op::Div ? identity_operand(n, 1.0) : nullptr};
}
Rewrite double_negation(Graph&, Node& n, size_t) {
  if (n.op != Op::Neg) return {};
  const Value* x = n.inputs[0];
  if (x->producer && x->producer->op == Op::Neg) return {x->producer->inputs[0]};
  return {};
}
// reshape, expand, permute or slice whose result has the input's type and order: the input.
Rewrite no_op_movement(Graph&, Node& n, size_t) {
  const Value* x = n.inputs.empty() ? nullptr : n.inputs[0];
  switch (n.op) {
    case Op::Reshape:
    case Op::Expand:
      return {same_type(x, n.output) ? n.inputs[0] : nullptr};
    case Op::Permute: {
      const auto dims = n.attrs.get_ints("dims");
      for (size_t i = 0; i < dims.size(); ++i)
        if (dims[i] != int64_t(i) && dims[i] != int64_t(i) - int64_t(dims.size())) return {};
      return {n.inputs[0]};
    }
    case Op::Slice:
      return {n.attrs.get_int("step") == 1 && same_type(x, n.output) ? n.inputs[0] : nullptr};
    case Op::Cast:
      return {x->dtype == n.output->dtype ? n.inputs[0] : nullptr};
    default:
      return {};
  }
}
Rewrite reshape_of_reshape(Graph& g, Node& n, size_t index) {
  if (n.op != Op::Reshape) return {};
  const Value* x = n.inputs[0];
  if (!x->producer || x->producer->op != Op::Reshape) return {};
  return {g.insert(index, Op::Reshape, {x->producer->inputs[0]}, n.attrs)};
}
Rewrite permute_of_permute(Graph& g, Node& n, size_t index) {
  if (n.op != Op::Permute) return {};
  const Value* x = n.inputs[0];
  if (!x->producer || x->producer->op != Op::Permute) return {};
  const auto inner = x->producer->attrs.get_ints("dims"), outer = n.attrs.get_ints("dims");
  std::vector<ir::SymInt> composed;
  const int64_t r = int64_t(inner.size());
  for (int64_t d : outer) composed.push_back((inner[size_t((d + r) % r)] + r) % r);
  return {g.insert(index, Op::Permute, {x->producer->inputs[0]}, {{"dims", composed}})};
}
Rewrite expand_of_expand(Graph& g, Node& n, size_t index) {
  if (n.op != Op::Expand) return {};
  const Value* x = n.inputs[0];
  if (!x->producer || x->producer->op != Op::Expand) return {};
  return {g.insert(index, Op::Expand, {x->producer->inputs[0]}, n.attrs)};
}
// cast(cast(x, A), B) -> cast(x, B) when x's dtype widens losslessly to A (and the two paths
// convert every value alike).
Rewrite cast_chain(Graph& g, Node& n, size_t index) {
  if (n.op != Op::Cast) return {};
  const Value* mid = n.inputs[0];
  if (!mid->producer || mid->producer->op != Op::Cast) return {};
  Value* x = mid->producer->inputs[0];
  if (!widens_losslessly(x->dtype, mid->dtype)) return {};
  // An integer that went through a float and comes back to an integer type saturates on the way
  // back, where a direct integer cast wraps: not the same value out of range.
  if (is_integral(x->dtype, false) && is_floating(mid->dtype) &&
      is_integral(n.output->dtype, false))
    return {};
  if (x->dtype == n.output->dtype) return {x};
  return {g.insert(index, Op::Cast, {x}, n.attrs)};
}

constexpr Rule kRules[] = {mul_by_one,         add_zero,         div_by_one,
                           double_negation,    no_op_movement,   reshape_of_reshape,
                           permute_of_permute, expand_of_expand, cast_chain};

}  // namespace

bool canonicalize(ir::Graph& graph) {
  // One rewrite at a time, then dead code goes and the sweep restarts: a rule never sees a node
  // whose result was already replaced.
  bool changed_any = false;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < graph.nodes().size() && !changed; ++i) {
      Node& n = *graph.nodes()[i];
      if (!n.output) continue;
      for (Rule rule : kRules) {
        const Rewrite r = rule(graph, n, i);
        if (!r.with || r.with == n.output) continue;
        graph.replace_all_uses(n.output, r.with);
        changed = changed_any = true;
        break;
      }
    }
    if (changed) dead_code_elimination(graph);
  }
  return changed_any;
}

}  // namespace ember::passes
