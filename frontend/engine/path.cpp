#include "frontend/engine/path.h"

#include <algorithm>
#include <chrono>

#include "ember/frontend/ops.h"
#include "ember/passes/pipeline.h"
#include "ember/runtime/small_vector.h"

namespace ember::detail {
namespace {

// args with every symbolic dim given another size (symbol k: one above every size in args,
// plus k, so dims that share a symbol still agree), its data cycled along that dim.
std::vector<CompileArg> probe_args(const std::vector<CompileArg>& args,
                                   const Signature& signature) {
  int64_t top = 2;
  for (const CompileArg& a : args)
    if (const Tensor* t = std::get_if<Tensor>(&a))
      for (int64_t size : t->sizes()) top = std::max(top, size);
  std::vector<CompileArg> probe = args;
  for (size_t i = 0; i < args.size(); ++i) {
    Tensor* t = std::get_if<Tensor>(&probe[i]);
    if (!t) continue;
    for (size_t d = 0; d < signature[i].symbol.size(); ++d) {
      if (signature[i].symbol[d] < 0) continue;
      const int64_t size = t->size(int64_t(d)), want = top + 1 + signature[i].symbol[d];
      Tensor index = empty({want}, kInt64);
      int64_t* p = index.data_ptr<int64_t>();
      for (int64_t k = 0; k < want; ++k) p[k] = k % size;
      *t = index_select(*t, int64_t(d), index);
    }
  }
  return probe;
}

}  // namespace

std::shared_ptr<Path> PathBuilder::build(const std::vector<CompileArg>& args,
                                         const Signature& signature, Body body,
                                         CompileStats& stats) {
  const auto start = std::chrono::steady_clock::now();
  auto path = std::make_shared<Path>();
  const std::string text = trace_into(args, signature, body, &path->traced);
  ++stats.traces;
  bool symbolic = false;
  for (const ArgSpec& a : signature)
    for (int sym : a.symbol) symbolic |= sym >= 0;
  if (symbolic) {
    const kernels::RngState rng = kernels::rng_state();  // the probe's draws leave no trace
    std::string probe_text;
    try {
      probe_text = trace_into(probe_args(args, signature), signature, body, nullptr);
    } catch (const Error&) {
      kernels::set_rng_state(rng);
      throw;
    }
    kernels::set_rng_state(rng);
    EMBER_CHECK(probe_text == text, Error,
                "the traced graph depends on the value of a symbolic size, not only on shapes "
                "(a size used as a number, as in x.sum(0) / x.size(0))");
  }
  for (const auto& n : path->traced.graph->nodes()) path->guards += n->op == ir::Op::Guard;
  passes::run_pipeline(*path->traced.graph);
  path->plan = std::make_unique<codegen::ExecutablePlan>(*path->traced.graph, cache_);
  stats.compile_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return path;
}

std::string PathBuilder::trace_into(const std::vector<CompileArg>& args, const Signature& signature,
                                    Body body, TracedGraph* out) {
  TraceContext tc(name_);
  std::vector<CompileArg> traced_args;
  traced_args.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    if (const Tensor* t = std::get_if<Tensor>(&args[i])) {
      std::vector<bool> symbolic;
      for (int s : signature[i].symbol) symbolic.push_back(s >= 0);
      traced_args.push_back(tc.add_input(*t, symbolic));
    } else {
      traced_args.push_back(args[i]);
    }
  }
  TracedGraph traced = tc.finish(body(traced_args));
  std::string text = ir::print(*traced.graph);
  if (out) *out = std::move(traced);
  return text;
}

std::vector<Tensor> run_path(const Path& path, const std::vector<CompileArg>& args,
                             bool first_run) {
  // The graph inputs: the tensor arguments, then what the trace bound (captured tensors,
  // generator states).
  SmallVector<const Tensor*, 8> tensors;
  for (const CompileArg& a : args)
    if (const Tensor* t = std::get_if<Tensor>(&a)) tensors.push_back(t);
  std::vector<Array> outputs =
      path.plan->run(path.traced.graph_inputs(tensors.data(), tensors.size(), !first_run));
  if (path.traced.final_rng) kernels::set_rng_state(*path.traced.final_rng);
  std::vector<Tensor> out;
  out.reserve(outputs.size());
  for (Array& a : outputs) out.emplace_back(std::move(a));
  return out;
}

}  // namespace ember::detail
