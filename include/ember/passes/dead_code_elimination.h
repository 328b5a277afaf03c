// Dead-code elimination: removes the nodes whose results no output or guard needs. Guards stay
// (they are the trace's assumptions); graph inputs stay (they are the signature).
#pragma once

#include "ember/ir/graph.h"

namespace ember::passes {

// Returns true when it removed something.
bool dead_code_elimination(ir::Graph& graph);

}  // namespace ember::passes
