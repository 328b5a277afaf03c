// The verifier: the invariants Graph::add keeps, checked from the outside, so that a pass that
// edits a graph by hand cannot leave it broken unseen.
#include <map>
#include <set>
#include <unordered_set>

#include "ember/ir/graph.h"

namespace ember::ir {

void verify(const Graph& g) {
  std::unordered_set<const Value*> defined;
  std::set<std::string> names;
  auto fail = [&](const std::string& what) {
    throw InternalError("verify @" + g.name() + ": " + what);
  };
  for (const Value* v : g.inputs()) {
    if (v->kind == ValueKind::Node || v->producer) fail("input %" + v->name + " has a producer");
    if (!names.insert(v->name).second) fail("duplicate name %" + v->name);
    defined.insert(v);
  }
  std::set<int> closed_groups;  // a fused kernel is one run of consecutive nodes
  int previous_group = -1;
  for (const auto& n : g.nodes()) {
    const std::string where =
        std::string(op_name(n->op)) + (n->output ? " producing %" + n->output->name : "");
    if (n->group != previous_group) {
      if (previous_group >= 0) closed_groups.insert(previous_group);
      if (closed_groups.count(n->group))
        fail(where + ": kernel k" + std::to_string(n->group) + " is not one run of nodes");
      previous_group = n->group;
    }
    std::vector<const Value*> in;
    for (const Value* v : n->inputs) {
      if (!v) fail(where + ": null operand");
      if (!defined.count(v)) fail(where + ": operand %" + v->name + " is not defined before use");
      in.push_back(v);
    }
    std::optional<ValueType> type;
    try {
      type = infer_type(n->op, in, n->attrs);
    } catch (const Error& e) {
      fail(where + ": no longer satisfies its rule: " + e.what());
    }
    if (bool(type) != bool(n->output)) fail(where + ": result presence does not match the op");
    if (n->output) {
      const Value* out = n->output;
      if (out->producer != n.get() || out->kind != ValueKind::Node)
        fail(where + ": result does not point back to its node");
      if (out->dtype != type->dtype || !(out->shape == type->shape))
        fail(where + ": result type " + dtype_short_name(out->dtype) + shape_text(out->shape) +
             " differs from the rule's " + dtype_short_name(type->dtype) + shape_text(type->shape));
      if (!names.insert(out->name).second) fail("duplicate name %" + out->name);
      defined.insert(out);
    }
  }
  // Every value's use list holds exactly the nodes that read it, once per operand.
  std::map<const Value*, std::multiset<const Node*>> readers;
  for (const auto& n : g.nodes())
    for (const Value* v : n->inputs) readers[v].insert(n.get());
  for (const Value* v : defined) {
    const std::multiset<const Node*> listed(v->users.begin(), v->users.end());
    const auto it = readers.find(v);
    if (listed != (it == readers.end() ? std::multiset<const Node*>() : it->second))
      fail("the use list of %" + v->name + " does not match its readers (" +
           std::to_string(listed.size()) + " listed)");
  }
  // A fusion group's nodes are consecutive.
  std::set<int> closed;
  int current = -1;
  for (const auto& n : g.nodes()) {
    if (n->group == current) continue;
    if (current >= 0) closed.insert(current);
    if (n->group >= 0 && closed.count(n->group))
      fail("kernel k" + std::to_string(n->group) + " is split into separate runs of nodes");
    current = n->group;
  }
  for (const Value* v : g.outputs())
    if (!defined.count(v))
      fail("output %" + (v ? v->name : std::string("<null>")) + " is not defined");
}

}  // namespace ember::ir
