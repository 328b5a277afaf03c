// Rebuilding a graph node by node (after Halide's IRMutator): GraphMutator::run copies a graph
// into a new one, asking visit() for the value that stands for each node's result there. The
// default visit copies the node with its operands mapped, so a pass that rebuilds overrides
// visit only for the ops it rewrites and builds their replacement with out() and mapped().
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "ember/ir/graph.h"

namespace ember::ir {

class GraphMutator {
 public:
  virtual ~GraphMutator() = default;

  // The rebuilt graph: the same name and inputs (names, kinds, types), the nodes visit() gives,
  // the outputs mapped. Named results keep their names; numbered ones are numbered anew.
  std::unique_ptr<Graph> run(const Graph& graph);
  // The same, replacing graph's contents (what an in-place pass does).
  void run_in_place(Graph& graph) { graph = std::move(*run(graph)); }

 protected:
  // The new graph's value for the node's result (null for a node without one). The default
  // copies the node, with its attributes and fusion group.
  virtual Value* visit(const Node& node);

  Graph& out() { return *out_; }
  // The new graph's value for a value of the graph being rebuilt.
  Value* mapped(const Value* old) const;
  std::vector<Value*> mapped_inputs(const Node& node) const;

 private:
  std::unique_ptr<Graph> out_;
  std::unordered_map<const Value*, Value*> map_;
};

}  // namespace ember::ir
