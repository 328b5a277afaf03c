// The optimization pipeline, in order. Each step is one pass; EMBER_LOG=passes prints the IR
// after each.
#include "ember/passes/pipeline.h"

#include "ember/passes/canonicalize.h"
#include "ember/passes/common_subexpression_elimination.h"
#include "ember/passes/dead_code_elimination.h"
#include "ember/passes/decompose.h"
#include "ember/passes/fold_constants.h"
#include "ember/passes/fuse.h"
#include "ember/runtime/log.h"

namespace ember::passes {
namespace {

struct Step {
  const char* name;
  bool (*run)(ir::Graph&);
};

// Composites to primitives first; then algebra (it exposes constants and duplicates), folding,
// sharing, cleanup; fusion last.
constexpr Step kPipeline[] = {
    {"decompose", decompose},
    {"canonicalize", canonicalize},
    {"fold-constants", fold_constants},
    {"cse", common_subexpression_elimination},
    {"canonicalize", canonicalize},
    {"dce", dead_code_elimination},
    {"fuse", fuse},
};

bool run_steps(ir::Graph& graph, bool fusion) {
  bool changed = false;
  for (const Step& step : kPipeline) {
    if (!fusion && step.run == fuse) continue;
    const bool step_changed = step.run(graph);
    changed |= step_changed;
    if (log_enabled("passes"))
      log_message("passes", std::string("after ") + step.name +
                                (step_changed ? "" : " (no change)") + ":\n" + ir::print(graph));
#ifndef NDEBUG
    ir::verify(graph);
#endif
  }
  return changed;
}

}  // namespace

bool run_pipeline(ir::Graph& graph) { return run_steps(graph, true); }
bool run_pipeline_without_fusion(ir::Graph& graph) { return run_steps(graph, false); }

const std::map<std::string, PassFn>& registered_passes() {
  static const std::map<std::string, PassFn> passes = [] {
    std::map<std::string, PassFn> m;
    for (const Step& step : kPipeline) m[step.name] = step.run;
    m["pipeline"] = run_pipeline;
    m["verify"] = [](ir::Graph& g) {
      ir::verify(g);
      return false;
    };
    return m;
  }();
  return passes;
}

}  // namespace ember::passes
