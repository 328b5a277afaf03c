#include "ember/passes/canonicalize.h"

#include <array>
#include <cmath>
#include <deque>
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
  return v->producer->attrs.get_float(ir::Attr::Value);
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

// Builds a node just before `at` (so it is defined before every reader of at's result).
Value* insert_before(Graph& g, const Node& at, Op op, std::vector<Value*> inputs, ir::Attrs attrs) {
  const auto& nodes = g.nodes();
  size_t index = 0;
  while (nodes[index].get() != &at) ++index;
  return g.insert(index, op, std::move(inputs), std::move(attrs));
}

// ---- the rules: each is given a node of its op ----

Rewrite times_one(Graph&, Node& n) { return {identity_operand(n, 1.0)}; }
Rewrite divided_by_one(Graph&, Node& n) { return {identity_operand(n, 1.0)}; }
// x + 0 and x - 0 are x for integers. For floats the zero's sign matters, because -0.0 + 0.0
// and -0.0 - (-0.0) are +0.0: x + (-0.0) is x (either order), and x - (+0.0) is x.
Rewrite plus_or_minus_zero(Graph&, Node& n) {
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
Rewrite double_negation(Graph&, Node& n) {
  const Value* x = n.inputs[0];
  if (x->producer && x->producer->op == Op::Neg) return {x->producer->inputs[0]};
  return {};
}
// A reshape, expand or step-1 slice whose result has the input's type, a cast to the input's
// dtype: the input.
Rewrite same_type_movement(Graph&, Node& n) {
  if (n.op == Op::Slice && n.attrs.get_int(ir::Attr::Step) != 1) return {};
  return {same_type(n.inputs[0], n.output) ? n.inputs[0] : nullptr};
}
Rewrite identity_permute(Graph&, Node& n) {
  const auto dims = n.attrs.get_ints(ir::Attr::Dims);
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] != int64_t(i) && dims[i] != int64_t(i) - int64_t(dims.size())) return {};
  return {n.inputs[0]};
}
// reshape(reshape(x)) and expand(expand(x)): one op on x.
Rewrite movement_of_same_movement(Graph& g, Node& n) {
  const Value* x = n.inputs[0];
  if (!x->producer || x->producer->op != n.op) return {};
  return {insert_before(g, n, n.op, {x->producer->inputs[0]}, n.attrs)};
}
Rewrite permute_of_permute(Graph& g, Node& n) {
  const Value* x = n.inputs[0];
  if (!x->producer || x->producer->op != Op::Permute) return {};
  const auto inner = x->producer->attrs.get_ints(ir::Attr::Dims),
             outer = n.attrs.get_ints(ir::Attr::Dims);
  std::vector<ir::SymInt> composed;
  const int64_t r = int64_t(inner.size());
  for (int64_t d : outer) composed.push_back((inner[size_t((d + r) % r)] + r) % r);
  return {insert_before(g, n, Op::Permute, {x->producer->inputs[0]}, {{ir::Attr::Dims, composed}})};
}
// cast(cast(x, A), B) -> cast(x, B) when x's dtype widens losslessly to A (and the two paths
// convert every value alike).
Rewrite cast_chain(Graph& g, Node& n) {
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
  return {insert_before(g, n, Op::Cast, {x}, n.attrs)};
}

// (op, rule) pairs: a node is tried against the rules of its op, in this order.
struct Rule {
  Op op;
  Rewrite (*apply)(Graph&, Node&);
};
constexpr Rule kRules[] = {
    {Op::Mul, times_one},
    {Op::Div, divided_by_one},
    {Op::Add, plus_or_minus_zero},
    {Op::Sub, plus_or_minus_zero},
    {Op::Neg, double_negation},
    {Op::Reshape, same_type_movement},
    {Op::Expand, same_type_movement},
    {Op::Slice, same_type_movement},
    {Op::Cast, same_type_movement},
    {Op::Permute, identity_permute},
    {Op::Reshape, movement_of_same_movement},
    {Op::Expand, movement_of_same_movement},
    {Op::Permute, permute_of_permute},
    {Op::Cast, cast_chain},
};

}  // namespace

bool canonicalize(ir::Graph& graph) {
  // The rules of each op, and a worklist of the nodes to try: every node once, then the readers
  // of each value a rewrite replaced (their operand changed, so a rule may now match) and the
  // nodes rewrites built. Nodes left unread go at the end, with dead-code elimination.
  static const auto rules_of = [] {
    std::array<std::vector<Rewrite (*)(Graph&, Node&)>, ir::kNumOps> table;
    for (const Rule& r : kRules) table[size_t(r.op)].push_back(r.apply);
    return table;
  }();
  std::deque<Node*> worklist;
  for (const auto& n : graph.nodes()) worklist.push_back(n.get());
  bool changed = false;
  while (!worklist.empty()) {
    Node& n = *worklist.front();
    worklist.pop_front();
    if (!n.output || graph.use_count(n.output) == 0) continue;  // no result, or dead
    for (auto rule : rules_of[size_t(n.op)]) {
      const Rewrite r = rule(graph, n);
      if (!r.with || r.with == n.output) continue;
      const std::vector<Node*> readers = n.output->users;
      graph.replace_all_uses(n.output, r.with);
      worklist.insert(worklist.end(), readers.begin(), readers.end());
      if (r.with->producer) worklist.push_back(r.with->producer);
      changed = true;
      break;
    }
  }
  if (changed) dead_code_elimination(graph);
  return changed;
}

}  // namespace ember::passes
