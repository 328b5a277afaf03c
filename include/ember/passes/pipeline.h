// The pass pipeline, and the passes by name for ember-opt. The pipeline's order is in
// passes/pipeline.cpp, a flat list; EMBER_LOG=passes prints the IR after each step.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "ember/ir/graph.h"

namespace ember::passes {

// Runs the whole pipeline on graph; returns true when any pass changed it.
bool run_pipeline(ir::Graph& graph);
// Every step but fusion: the graph stays in ops.def's primitives (what the MLIR export writes).
bool run_pipeline_without_fusion(ir::Graph& graph);

using PassFn = std::function<bool(ir::Graph&)>;
// Every pass ember-opt can run, by its command-line name ("dce", "cse", ..., and "pipeline").
const std::map<std::string, PassFn>& registered_passes();

}  // namespace ember::passes
