#include "ember/passes/plan_memory.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace ember::passes {
namespace {

using ir::Node;
using ir::Value;

bool is_input(const Value* v) { return v->kind != ir::ValueKind::Node; }

// A kernel may write over an operand only when every output element depends on the same element
// of the operand: elementwise ops and constants (which read nothing) alone, no reduction, library
// call or movement.
bool in_place_safe(const std::vector<const Node*>& kernel) {
  return std::all_of(kernel.begin(), kernel.end(), [](const Node* n) {
    return ir::is_elementwise(n->op) || ir::op_category(n->op) == ir::OpCategory::Constant;
  });
}

}  // namespace

MemoryPlan plan_memory(const ir::Graph& g) {
  // Steps: each kernel in order; a node outside any kernel (constant, view, guard) belongs to
  // the step of the kernel around it.
  std::map<int, int> step_of_group;
  std::unordered_map<const Node*, int> step;
  std::vector<std::vector<const Node*>> kernels;
  int current = -1;
  for (const auto& n : g.nodes()) {
    if (n->group >= 0 && !step_of_group.count(n->group)) {
      step_of_group[n->group] = int(kernels.size());
      kernels.emplace_back();
    }
    if (n->group >= 0) {
      current = step_of_group[n->group];
      kernels[size_t(current)].push_back(n.get());
    }
    step[n.get()] = std::max(current, 0);
  }
  // Views alias their operand: a read of the view is a read of the operand.
  auto source = [](const Value* v) {
    while (v->producer && v->producer->group < 0 && ir::is_movement(v->producer->op))
      v = v->producer->inputs[0];
    return v;
  };
  // Liveness of every value written by one kernel and read by another step (or a guard).
  std::unordered_map<const Value*, std::pair<int, int>> live;  // [def, last use]
  for (const auto& n : g.nodes()) {
    for (const Value* in : n->inputs) {
      const Value* v = source(in);
      if (is_input(v) || !v->producer || v->producer->group < 0) continue;
      const bool other_kernel = n->group != v->producer->group;
      if (!other_kernel) continue;
      auto [it, fresh] = live.try_emplace(v, step[v->producer], step[n.get()]);
      if (!fresh) it->second.second = std::max(it->second.second, step[n.get()]);
    }
  }
  for (const Value* out : g.outputs()) live.erase(source(out));  // the caller's
  MemoryPlan plan;
  std::vector<std::pair<const Value*, std::pair<int, int>>> order(live.begin(), live.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.first != b.second.first ? a.second.first < b.second.first
                                            : a.first->name < b.first->name;
  });
  std::vector<int> free_at;  // per buffer: the step after which it is free (-1: in use forever)
  std::vector<const Value*> holder;
  for (const auto& [v, span] : order) {
    const int64_t numel = ir::numel_if_static(v->shape, -1);
    EMBER_CHECK(numel >= 0, Error, "plan_memory: %", v->name, " has the symbolic shape ",
                ir::shape_text(v->shape), "; plan once its sizes are known");
    const int64_t bytes = numel * int64_t(itemsize(v->dtype));
    plan.naive_bytes += bytes;
    int chosen = -1;
    // In place: a buffer whose value dies in this very kernel, read by it, same size.
    if (in_place_safe(kernels[size_t(span.first)])) {
      for (size_t b = 0; b < plan.buffer_bytes.size(); ++b) {
        if (free_at[b] != span.first || plan.buffer_bytes[b] != bytes) continue;
        chosen = int(b);
        plan.in_place.insert(v);
        break;
      }
    }
    // Else the smallest free buffer that fits.
    if (chosen < 0) {
      for (size_t b = 0; b < plan.buffer_bytes.size(); ++b)
        if (free_at[b] >= 0 && free_at[b] < span.first && plan.buffer_bytes[b] >= bytes &&
            (chosen < 0 || plan.buffer_bytes[b] < plan.buffer_bytes[size_t(chosen)]))
          chosen = int(b);
    }
    if (chosen < 0) {
      plan.buffer_bytes.push_back(bytes);
      free_at.push_back(-1);
      holder.push_back(nullptr);
      chosen = int(plan.buffer_bytes.size()) - 1;
    }
    free_at[size_t(chosen)] = span.second;
    holder[size_t(chosen)] = v;
    plan.buffer_of[v] = chosen;
  }
  for (int64_t b : plan.buffer_bytes) plan.peak_bytes += b;
  return plan;
}

std::string print_plan(const ir::Graph& g, const MemoryPlan& plan) {
  std::ostringstream os;
  std::vector<std::vector<std::string>> held(plan.buffer_bytes.size());
  for (const auto& n : g.nodes()) {
    if (!n->output) continue;
    auto it = plan.buffer_of.find(n->output);
    if (it == plan.buffer_of.end()) continue;
    held[size_t(it->second)].push_back("%" + n->output->name +
                                       (plan.in_place.count(n->output) ? " (in place)" : ""));
  }
  for (size_t b = 0; b < held.size(); ++b) {
    os << "// buffer b" << b << ": " << plan.buffer_bytes[b] << " bytes:";
    for (const std::string& s : held[b]) os << ' ' << s;
    os << '\n';
  }
  os << "// peak " << plan.peak_bytes << " bytes, " << plan.naive_bytes << " without reuse\n";
  return os.str();
}

}  // namespace ember::passes
