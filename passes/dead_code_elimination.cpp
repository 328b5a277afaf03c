#include "ember/passes/dead_code_elimination.h"

#include <unordered_set>

namespace ember::passes {

bool dead_code_elimination(ir::Graph& graph) {
  std::unordered_set<const ir::Value*> live(graph.outputs().begin(), graph.outputs().end());
  std::unordered_set<const ir::Node*> keep;
  const auto& nodes = graph.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const ir::Node& n = **it;
    if (n.op != ir::Op::Guard && !(n.output && live.count(n.output))) continue;
    keep.insert(&n);
    for (const ir::Value* v : n.inputs) live.insert(v);
  }
  const size_t before = nodes.size();
  graph.erase_nodes_if([&](const ir::Node& n) { return !keep.count(&n); });
  return graph.nodes().size() != before;
}

}  // namespace ember::passes
