// Common-subexpression elimination: a node with the same op, operands and attributes as an
// earlier one is replaced by the earlier one's result. Every op is pure (random ops are functions
// of their seed and offset operands), so equal nodes compute equal values.
#pragma once

#include "ember/ir/graph.h"

namespace ember::passes {

bool common_subexpression_elimination(ir::Graph& graph);

}  // namespace ember::passes
