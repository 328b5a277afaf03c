#include "ember/passes/split_joint.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace ember::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Value;

// Cheap enough to compute twice: one pass over memory that the backward's kernels fuse.
bool cheap(const Node& n) {
  const ir::OpCategory c = ir::op_category(n.op);
  return ir::is_elementwise(n.op) || ir::is_movement(n.op) || c == ir::OpCategory::Constant;
}

// Copies nodes into `out` in order, mapping operands through `map` (which holds the inputs).
void copy_nodes(const Graph& joint, const std::vector<bool>& take, Graph& out,
                std::unordered_map<const Value*, Value*>& map) {
  const auto& nodes = joint.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!take[i]) continue;
    const Node& n = *nodes[i];
    std::vector<Value*> inputs;
    for (const Value* v : n.inputs) inputs.push_back(map.at(v));
    Value* r = out.add(n.op, std::move(inputs), n.attrs);
    if (n.output) map[n.output] = r;
  }
}

}  // namespace

JointSplit split_joint(const Graph& joint, size_t num_forward_outputs,
                       const std::vector<size_t>& tangents, bool recompute) {
  const auto& nodes = joint.nodes();
  const auto& outputs = joint.outputs();
  EMBER_CHECK(num_forward_outputs <= outputs.size(), ValueError,
              "split_joint: ", num_forward_outputs, " forward outputs of ", outputs.size());
  std::unordered_set<const Value*> tangent;
  for (size_t t : tangents) {
    EMBER_CHECK(t < joint.inputs().size(), ValueError, "split_joint: tangent input ", t, " of ",
                joint.inputs().size());
    tangent.insert(joint.inputs()[t]);
  }
  std::unordered_map<const Value*, size_t> index_of;  // node results -> node index
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i]->output) index_of[nodes[i]->output] = i;

  // Which nodes depend on a tangent: they can only run in the backward.
  std::vector<bool> depends(nodes.size(), false);
  std::unordered_set<const Value*> dependent(tangent.begin(), tangent.end());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const Value* v : nodes[i]->inputs) depends[i] = depends[i] || dependent.count(v);
    if (depends[i] && nodes[i]->output) dependent.insert(nodes[i]->output);
    EMBER_CHECK(!(depends[i] && nodes[i]->op == ir::Op::Guard), Error,
                "split_joint: a guard reads a gradient");
  }

  // Backward placement, from the gradients back: a node is placed there when it depends on a
  // tangent, or is cheap and read by the backward; what the backward reads and does not compute
  // is a residual.
  std::vector<bool> in_backward(nodes.size(), false);
  std::unordered_set<const Value*> read_by_backward(outputs.begin() + long(num_forward_outputs),
                                                    outputs.end());
  for (size_t i = nodes.size(); i-- > 0;) {
    const Node& n = *nodes[i];
    if (!n.output || !read_by_backward.count(n.output)) continue;
    if (depends[i] || (recompute && cheap(n))) {
      in_backward[i] = true;
      for (const Value* v : n.inputs) read_by_backward.insert(v);
    }
  }
  std::vector<const Value*> residuals;
  for (const Value* v : joint.inputs())
    if (read_by_backward.count(v) && !tangent.count(v)) residuals.push_back(v);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i]->output && read_by_backward.count(nodes[i]->output) && !in_backward[i])
      residuals.push_back(nodes[i]->output);

  // The backward graph must get every symbol from an input dim: add the forward inputs that
  // carry the ones its inputs lack (by reference, free).
  std::vector<bool> sourced(size_t(joint.num_symbols()), false);
  auto note_sources = [&](const Value* v) {
    for (const ir::SymInt& d : v->shape) {
      const auto syms = d.symbols();
      if (syms.size() == 1 && d == ir::SymInt::symbol(syms[0])) sourced[size_t(syms[0])] = true;
    }
  };
  for (const Value* v : residuals) note_sources(v);
  for (const Value* v : tangent) note_sources(v);
  for (const Value* v : joint.inputs()) {
    if (tangent.count(v) || std::find(residuals.begin(), residuals.end(), v) != residuals.end())
      continue;
    const std::vector<bool> before = sourced;
    note_sources(v);
    if (sourced != before) residuals.push_back(v);
  }

  // The forward: what its outputs and the residuals need, and every guard.
  std::vector<bool> in_forward(nodes.size(), false);
  std::vector<const Value*> work(outputs.begin(), outputs.begin() + long(num_forward_outputs));
  work.insert(work.end(), residuals.begin(), residuals.end());
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i]->op == ir::Op::Guard) {
      in_forward[i] = true;
      work.insert(work.end(), nodes[i]->inputs.begin(), nodes[i]->inputs.end());
    }
  while (!work.empty()) {
    const Value* v = work.back();
    work.pop_back();
    auto it = index_of.find(v);
    if (it == index_of.end() || in_forward[it->second]) continue;
    EMBER_CHECK(!depends[it->second], Error, "split_joint: forward output %", v->name,
                " depends on a gradient input");
    in_forward[it->second] = true;
    work.insert(work.end(), nodes[it->second]->inputs.begin(), nodes[it->second]->inputs.end());
  }

  JointSplit split;
  split.num_forward_outputs = num_forward_outputs;
  split.num_residuals = residuals.size();
  split.forward = std::make_unique<Graph>(joint.name() + "_forward");
  std::unordered_map<const Value*, Value*> fmap;
  for (const Value* v : joint.inputs())
    if (!tangent.count(v)) fmap[v] = split.forward->add_input(v->dtype, v->shape, v->kind, v->name);
  copy_nodes(joint, in_forward, *split.forward, fmap);
  std::vector<Value*> fouts;
  for (size_t i = 0; i < num_forward_outputs; ++i) fouts.push_back(fmap.at(outputs[i]));
  for (const Value* r : residuals) {
    fouts.push_back(fmap.at(r));
    split.residual_is_input.push_back(r->kind != ir::ValueKind::Node);
  }
  split.forward->set_outputs(std::move(fouts));

  split.backward = std::make_unique<Graph>(joint.name() + "_backward");
  std::unordered_map<const Value*, Value*> bmap;
  for (size_t k = 0; k < residuals.size(); ++k)
    bmap[residuals[k]] = split.backward->add_input(residuals[k]->dtype, residuals[k]->shape,
                                                   ir::ValueKind::Input, "r" + std::to_string(k));
  for (const Value* v : joint.inputs())
    if (tangent.count(v))
      bmap[v] = split.backward->add_input(v->dtype, v->shape, ir::ValueKind::Input, v->name);
  copy_nodes(joint, in_backward, *split.backward, bmap);
  std::vector<Value*> bouts;
  for (size_t i = num_forward_outputs; i < outputs.size(); ++i)
    bouts.push_back(bmap.at(outputs[i]));
  split.backward->set_outputs(std::move(bouts));
  for (size_t i = 0; i < nodes.size(); ++i) split.recomputed += in_backward[i] && !depends[i];
  return split;
}

std::string print_split(const JointSplit& split) {
  std::string text = "// residuals:";
  const auto& fouts = split.forward->outputs();
  for (size_t k = 0; k < split.num_residuals; ++k)
    text += " %" + fouts[split.num_forward_outputs + k]->name +
            (split.residual_is_input[k] ? " (input)" : "");
  text += "; recomputed in the backward: " + std::to_string(split.recomputed) + " node(s)\n";
  return text + ir::print(*split.forward) + ir::print(*split.backward);
}

}  // namespace ember::passes
