// Joint graphs of IR graphs (ember-opt --autodiff), and the saved-bytes count of an eager tape.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "frontend/autograd/node.h"
#include "frontend/dispatch.h"

namespace ember::autograd {

JointGraph joint_graph(const ir::Graph& forward) {
  // Example sizes: each symbol a size no static dim has, so the tracer maps it back to the symbol.
  int64_t top = 2;
  for (const ir::Value* v : forward.inputs())
    for (const ir::SymInt& d : v->shape)
      if (d.is_constant()) top = std::max(top, d.value());
  std::vector<int64_t> symbol_sizes;
  for (int k = 0; k < forward.num_symbols(); ++k) symbol_sizes.push_back(top + 1 + 3 * k);
  TraceContext tc(forward.name());
  std::unordered_map<const ir::Value*, Tensor> env;
  std::vector<Tensor> leaves;
  int next_symbol = 0;
  for (const ir::Value* v : forward.inputs()) {
    Shape sizes;
    std::vector<bool> symbolic;
    for (const ir::SymInt& d : v->shape) {
      if (d.is_constant()) {
        sizes.push_back(d.value());
        symbolic.push_back(false);
        continue;
      }
      const auto syms = d.symbols();
      EMBER_CHECK(syms.size() == 1 && d == ir::SymInt::symbol(syms[0]) && syms[0] <= next_symbol,
                  ValueError, "joint_graph: input %", v->name, " has the shape ",
                  ir::shape_text(v->shape),
                  "; symbolic input dims must be plain symbols, first used in order s0, s1, ...");
      next_symbol = std::max(next_symbol, syms[0] + 1);
      sizes.push_back(symbol_sizes[size_t(syms[0])]);
      symbolic.push_back(true);
    }
    Tensor t = tc.add_input(Tensor(kernels::full(sizes, 0.0, v->dtype)), symbolic);
    if (t.is_floating_point()) {
      t.set_requires_grad(true);
      leaves.push_back(t);
    }
    env[v] = t;
  }
  for (const auto& n : forward.nodes()) {
    if (n->op == ir::Op::Guard) continue;  // a value read while tracing: nothing to differentiate
    std::vector<Tensor> inputs;
    for (const ir::Value* v : n->inputs) inputs.push_back(env.at(v));
    env[n->output] = detail::dispatch(n->op, inputs, n->attrs);
  }
  std::vector<Tensor> results, outs, tangents;
  JointGraph joint;
  for (const ir::Value* v : forward.outputs()) results.push_back(env.at(v));
  joint.num_forward_outputs = results.size();
  for (const Tensor& r : results) {
    if (!r.requires_grad()) continue;
    joint.tangents.push_back(tc.graph()->inputs().size());
    tangents.push_back(tc.add_input_like(r, "g" + std::to_string(tangents.size())));
    outs.push_back(r);
  }
  std::vector<Tensor> grads =
      outs.empty() ? std::vector<Tensor>(leaves.size())
                   : grad(outs, leaves, tangents, std::nullopt, false, /*allow_unused=*/true);
  for (size_t i = 0; i < grads.size(); ++i)
    if (!grads[i].defined()) grads[i] = zeros_like(leaves[i]);
  results.insert(results.end(), grads.begin(), grads.end());
  joint.graph = tc.finish(results).graph;
  return joint;
}

int64_t saved_tensor_bytes(const std::vector<Tensor>& outputs) {
  std::unordered_set<const Node*> seen;
  std::unordered_set<const void*> storages;
  int64_t bytes = 0;
  std::vector<const Node*> work;
  for (const Tensor& t : outputs)
    if (auto n = Access::grad_fn(t)) work.push_back(n.get());
  auto count = [&](const SavedTensor& s) {
    if (!s.defined() || s.tensor.is_traced()) return;
    const auto& storage = s.tensor.array().storage();
    if (storage && storages.insert(storage.get()).second) bytes += int64_t(storage->nbytes());
  };
  while (!work.empty()) {
    const Node* n = work.back();
    work.pop_back();
    if (!seen.insert(n).second) continue;
    for (const SavedTensor& s : n->saved_inputs) count(s);
    count(n->saved_output);
    for (const Edge& e : n->next)
      if (e.node) work.push_back(e.node.get());
  }
  return bytes;
}

}  // namespace ember::autograd
