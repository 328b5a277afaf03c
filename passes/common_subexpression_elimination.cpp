#include "ember/passes/common_subexpression_elimination.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ember/passes/dead_code_elimination.h"

namespace ember::passes {
namespace {

// The node's structure: op, operand identities and attributes (as the printer writes them, so
// equal attributes give equal text). Guards key on their operand and expected value too.
std::string key_of(const ir::Node& n) {
  std::ostringstream os;
  os << ir::op_name(n.op) << '(';
  for (const ir::Value* v : n.inputs) os << static_cast<const void*>(v) << ',';
  os << ')';
  for (const auto& [k, v] : n.attrs.items()) {
    os << attr_name(k) << '=';
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::vector<ir::SymInt>>)
            os << ir::shape_text(x);
          else if constexpr (std::is_same_v<T, DType>)
            os << ir::dtype_short_name(x);
          else if constexpr (std::is_same_v<T, double>)
            os << std::hexfloat << x << std::defaultfloat;  // exact
          else
            os << x;
        },
        v);
    os << ';';
  }
  return os.str();
}

}  // namespace

bool common_subexpression_elimination(ir::Graph& graph) {
  std::unordered_map<std::string, ir::Value*> seen;
  std::unordered_set<const ir::Node*> duplicate_guards;
  bool changed = false;
  for (const auto& n : graph.nodes()) {
    auto [it, inserted] = seen.try_emplace(key_of(*n), n->output);
    if (inserted) continue;
    if (n->output) {
      graph.replace_all_uses(n->output, it->second);
    } else {
      duplicate_guards.insert(n.get());  // the same check twice
    }
    changed = true;
  }
  if (!duplicate_guards.empty())
    graph.erase_nodes_if([&](const ir::Node& n) { return duplicate_guards.count(&n) > 0; });
  if (changed) dead_code_elimination(graph);
  return changed;
}

}  // namespace ember::passes
