#include "ember/passes/fold_constants.h"

#include <cmath>

#include "ember/ir/interpreter.h"
#include "ember/passes/dead_code_elimination.h"
#include "ember/runtime/kernels.h"

namespace ember::passes {
namespace {

bool is_constant(const ir::Value* v) {
  return v->producer && (v->producer->op == ir::Op::Constant || v->producer->op == ir::Op::Arange);
}

bool foldable(const ir::Node& n) {
  if (!n.output || n.inputs.empty()) return false;
  const ir::OpCategory c = ir::op_category(n.op);
  if (c == ir::OpCategory::Random || c == ir::OpCategory::Guard || c == ir::OpCategory::Constant)
    return false;
  if (!ir::is_static(n.output->shape)) return false;
  for (const ir::Value* v : n.inputs)
    if (!is_constant(v) || !ir::is_static(v->shape)) return false;
  return true;
}

// Evaluates n on its constant operands: a two-level graph (the constants, then n) interpreted.
// Whether every element has the same value, and (into value) that value: an exact integer for
// integer dtypes.
bool evaluate_uniform(const ir::Node& n, ir::AttrValue& value) {
  ir::Graph g("fold");
  std::vector<ir::Value*> operands;
  for (const ir::Value* v : n.inputs)
    operands.push_back(g.add(v->producer->op, {}, v->producer->attrs));
  g.set_outputs({g.add(n.op, operands, n.attrs)});
  const Array result = ir::interpret(g, {})[0];
  if (result.numel() == 0) return false;
  if (!is_floating(result.dtype())) {
    const std::optional<int64_t> uniform =
        dispatch_dtype(result.dtype(), [&]<class T>() -> std::optional<int64_t> {
          const Array dense = kernels::contiguous(result);
          const T* p = dense.data_as<T>();
          for (int64_t i = 1; i < dense.numel(); ++i)
            if (p[i] != p[0]) return std::nullopt;
          return int64_t(p[0]);
        });
    if (!uniform) return false;
    value = *uniform;
    return true;
  }
  const double first = result.element_as_double(0);
  for (int64_t i = 1; i < result.numel(); ++i) {
    const double v = result.element_as_double(i);
    if (!(v == first || (std::isnan(v) && std::isnan(first)))) return false;
  }
  value = first;
  return true;
}

}  // namespace

bool fold_constants(ir::Graph& graph) {
  bool changed = false;
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    ir::Node& n = *graph.nodes()[i];
    if (!foldable(n)) continue;
    ir::AttrValue value;
    if (!evaluate_uniform(n, value)) continue;
    std::vector<ir::SymInt> shape(n.output->shape.begin(), n.output->shape.end());
    ir::Value* folded = graph.insert(
        i, ir::Op::Constant, {},
        {{ir::Attr::Value, value}, {ir::Attr::Shape, shape}, {ir::Attr::DType, n.output->dtype}});
    graph.replace_all_uses(n.output, folded);
    ++i;  // n moved one place down
    changed = true;
  }
  if (changed) dead_code_elimination(graph);
  return changed;
}

}  // namespace ember::passes
