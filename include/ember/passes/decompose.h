// Decomposition: rewrites the composite ops (gelu, silu, softmax, log_softmax, layer_norm, mean,
// var) into primitives, so the passes and code generation see few ops. 16-bit floats compute in
// float32 and round once, as the eager kernels do. The tracer decomposes through the same code
// (decompose_node), so the formulas live in one place.
#pragma once

#include "ember/ir/graph.h"

namespace ember::passes {

// Expands the composite at nodes()[index] into primitives inserted before it and returns the
// value that replaces its result (the composite itself is left in place, now unused).
ir::Value* decompose_node(ir::Graph& graph, size_t index);

// Decomposes every composite; returns true when there was one.
bool decompose(ir::Graph& graph);

}  // namespace ember::passes
