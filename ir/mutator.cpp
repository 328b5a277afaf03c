#include "ember/ir/mutator.h"

namespace ember::ir {
namespace {

// Whether a value's name is one the graph numbers itself ("12").
bool is_numbered(const std::string& name) {
  return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::unique_ptr<Graph> GraphMutator::run(const Graph& graph) {
  out_ = std::make_unique<Graph>(graph.name());
  map_.clear();
  for (const Value* v : graph.inputs())
    map_[v] = out_->add_input(v->dtype, v->shape, v->kind, v->name);
  for (const auto& n : graph.nodes()) {
    Value* result = visit(*n);
    if (n->output) {
      EMBER_INTERNAL_ASSERT(result != nullptr, "visit gave no value for %", n->output->name);
      map_[n->output] = result;
    }
  }
  std::vector<Value*> outputs;
  for (const Value* v : graph.outputs()) outputs.push_back(mapped(v));
  out_->set_outputs(std::move(outputs));
  return std::move(out_);
}

Value* GraphMutator::visit(const Node& node) {
  const std::string name =
      node.output && !is_numbered(node.output->name) ? node.output->name : std::string();
  Value* result = out().add(node.op, mapped_inputs(node), node.attrs, name);
  out().nodes().back()->group = node.group;
  return result;
}

Value* GraphMutator::mapped(const Value* old) const {
  const auto it = map_.find(old);
  EMBER_INTERNAL_ASSERT(it != map_.end(), "%", old->name, " is used before it is rebuilt");
  return it->second;
}

std::vector<Value*> GraphMutator::mapped_inputs(const Node& node) const {
  std::vector<Value*> inputs;
  inputs.reserve(node.inputs.size());
  for (const Value* v : node.inputs) inputs.push_back(mapped(v));
  return inputs;
}

}  // namespace ember::ir
