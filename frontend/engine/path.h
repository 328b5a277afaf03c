// Paths: one traced branch of an entry (its graph, what the graph's extra inputs are bound to, its
// plan), how one is built from a call, and how one runs. Building a path traces the function
// with the signature's dims symbolic, checks a symbolic trace against a probe trace at other
// sizes, runs the pass pipeline and builds the executable plan. Autograd's joint graph joins
// here (a path then holds a forward and a backward plan).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ember/codegen/plan.h"
#include "ember/frontend/trace.h"
#include "frontend/engine/signature.h"

namespace ember::detail {

struct Path {
  TracedGraph traced;
  std::unique_ptr<codegen::ExecutablePlan> plan;
  int guards = 0;
};

class PathBuilder {
 public:
  PathBuilder(std::string name, codegen::KernelCacheOptions cache)
      : name_(std::move(name)), cache_(std::move(cache)) {}

  // A new path for args (which fit signature). A graph with symbolic dims is traced a second
  // time on probe inputs whose symbolic dims have other sizes: a graph that depends on a size
  // beyond its shapes (x.sum(0) / x.size(0) bakes the size in as a number) traces differently,
  // and Error says so instead of a stale replay later. Errors of fn and of the tracer propagate.
  // Counts its traces and compile time into stats.
  std::shared_ptr<Path> build(const std::vector<CompileArg>& args, const Signature& signature,
                              Body body, CompileStats& stats);

 private:
  // Traces body on args (the signature's dims symbolic) into *out when given; returns the text.
  std::string trace_into(const std::vector<CompileArg>& args, const Signature& signature, Body body,
                         TracedGraph* out);

  std::string name_;
  codegen::KernelCacheOptions cache_;
};

// Runs a path's plan on a call's arguments. first_run: the run right after tracing, which takes
// the generator states the trace drew; later runs draw fresh ones as eager would. The generator
// is left where eager would leave it.
std::vector<Tensor> run_path(const Path& path, const std::vector<CompileArg>& args, bool first_run);

}  // namespace ember::detail
