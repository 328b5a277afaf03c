// Constant folding through the reference interpreter: a node whose operands are all constants is
// evaluated with the eager kernels, and replaced by a constant when its result is one value
// broadcast over its shape (the only constants the IR holds). Random ops and guards are never
// folded; shapes must be static.
#pragma once

#include "ember/ir/graph.h"

namespace ember::passes {

bool fold_constants(ir::Graph& graph);

}  // namespace ember::passes
