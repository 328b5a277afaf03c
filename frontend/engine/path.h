// Paths: one traced branch of an entry (its graph, what the graph's extra inputs are bound to, its
// plan), how one is built from a call, and how one runs. Building a path traces the function
// with the signature's dims symbolic, checks a symbolic trace against a probe trace at other
// sizes, runs the pass pipeline and builds the executable plan.
//
// A training path (grad mode on, and an argument or a captured tensor requires grad) traces the
// joint graph instead: fn, then autograd::grad of its outputs with respect to those tensors (the
// rule table on tracer tensors), split by passes::split_joint into a forward plan, which also
// returns the residuals, and a backward plan, both compiled when the path is built. Its outputs
// carry a grad_fn that runs the backward plan and sends the gradients on, as eager's tape would.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ember/codegen/plan.h"
#include "ember/frontend/trace.h"
#include "frontend/engine/signature.h"

namespace ember::detail {

struct Path {
  TracedGraph traced;  // a training path's: the forward graph (the joint graph's split)
  std::unique_ptr<codegen::ExecutablePlan> plan;
  int guards = 0;
  // Per captured tensor (traced.params): whether the call wanted its gradient (checked on every
  // call: a change is a guard failure, so the trace tree keeps a path for each).
  std::vector<bool> param_wants_grad;
  struct Training {
    std::shared_ptr<codegen::ExecutablePlan> backward;
    size_t num_outputs = 0;               // the forward plan's own outputs; the residuals follow
    std::vector<size_t> tangent_outputs;  // per gradient input of the backward: its output
    // Per backward output: the tensor argument (>= 0) or captured tensor (-1 - index) it is the
    // gradient of.
    std::vector<int64_t> targets;
    std::vector<bool> residual_is_input;
    int recomputed = 0;
    // The bytes the last run's residuals hold beyond the inputs (what the step keeps alive).
    mutable std::atomic<int64_t> residual_bytes{0};
  };
  std::unique_ptr<Training> training;
};

class PathBuilder {
 public:
  PathBuilder(std::string name, codegen::KernelCacheOptions cache)
      : name_(std::move(name)), cache_(std::move(cache)) {}

  // A new path for args (which fit signature). With symbolic dims, fn is first traced with
  // fixed sizes at args and at probe sizes (other sizes for the symbolic dims): the sizes fn
  // computes there are the evidence that makes each of them symbolic or constant in the
  // symbolic trace. A second symbolic trace at other probe sizes must print the same graph: one
  // that depends on a size beyond its shapes (x.sum(0) / x.size(0) bakes the size in as a
  // number) traces differently, and Error names the first difference instead of a stale replay
  // later. Errors of fn and of the tracer propagate.
  // Counts its traces and compile time into stats.
  std::shared_ptr<Path> build(const std::vector<CompileArg>& args, const Signature& signature,
                              Body body, CompileStats& stats);
  // The graph build() would compile, traced and checked as build() does (an inference call's:
  // grad mode must be off), without the passes and the plan.
  TracedGraph trace_checked(const std::vector<CompileArg>& args, const Signature& signature,
                            Body body, CompileStats& stats);

 private:
  struct Trace;
  // Traces body on args (the signature's dims symbolic), as a joint graph when the call trains.
  // With evidence, the sizes fn computes are decided by it (TraceContext::use_evidence).
  Trace trace(const std::vector<CompileArg>& args, const Signature& signature, Body body,
              std::vector<SizeRecord> evidence = {});
  // The trace build() uses: with symbolic dims, decided by evidence and checked by a probe.
  Trace symbolic_trace(const std::vector<CompileArg>& args, const Signature& signature, Body body,
                       CompileStats& stats);

  std::string name_;
  codegen::KernelCacheOptions cache_;
};

// Runs a path's plan on a call's arguments. first_run: the run right after tracing, which takes
// the generator states the trace drew; later runs draw fresh ones as eager would. The generator
// is left where eager would leave it.
std::vector<Tensor> run_path(const Path& path, const std::vector<CompileArg>& args, bool first_run);

}  // namespace ember::detail
