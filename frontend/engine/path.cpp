#include "frontend/engine/path.h"

#include <algorithm>
#include <chrono>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"
#include "ember/ir/interpreter.h"
#include "ember/passes/pipeline.h"
#include "ember/passes/split_joint.h"
#include "ember/runtime/small_vector.h"
#include "frontend/autograd/node.h"

namespace ember::detail {
namespace {

// args with every symbolic dim given another size (round r of the probes: symbol k gets the largest
// size in args plus r + (r + 1) * k, so dims that share a symbol still agree and no two rounds
// relate the symbols alike), its data cycled along that dim.
std::vector<CompileArg> probe_args(const std::vector<CompileArg>& args, const Signature& signature,
                                   int round) {
  int64_t top = 2;
  for (const CompileArg& a : args)
    if (const Tensor* t = std::get_if<Tensor>(&a))
      for (int64_t size : t->sizes()) top = std::max(top, size);
  std::vector<CompileArg> probe = args;
  for (size_t i = 0; i < args.size(); ++i) {
    Tensor* t = std::get_if<Tensor>(&probe[i]);
    if (!t) continue;
    for (size_t d = 0; d < signature[i].symbol.size(); ++d) {
      const int sym = signature[i].symbol[d];
      if (sym < 0) continue;
      const int64_t size = t->size(int64_t(d)), want = top + round + (round + 1) * sym;
      Tensor index = empty({want}, kInt64);
      int64_t* p = index.data_ptr<int64_t>();
      for (int64_t k = 0; k < want; ++k) p[k] = k % size;
      *t = index_select(*t, int64_t(d), index);
    }
  }
  return probe;
}

// Per symbol of signature, its size in args.
std::vector<int64_t> symbol_bindings(const std::vector<CompileArg>& args,
                                     const Signature& signature) {
  std::vector<int64_t> bindings;
  for (size_t i = 0; i < args.size(); ++i)
    if (const Tensor* t = std::get_if<Tensor>(&args[i]))
      for (size_t d = 0; d < signature[i].symbol.size(); ++d)
        if (const int sym = signature[i].symbol[d]; sym >= 0) {
          if (bindings.size() <= size_t(sym)) bindings.resize(size_t(sym) + 1, 0);
          bindings[size_t(sym)] = t->size(int64_t(d));
        }
  return bindings;
}

// The first line where two traces' texts differ, and the line that reads its value, for the
// error that says why a graph is not shape-generic.
std::string first_difference(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
      out.push_back(text.substr(start, end - start));
    out.push_back(text.substr(start));
    for (std::string& l : out) l.erase(0, std::min(l.size(), l.find_first_not_of(' ')));
    return out;
  };
  const std::vector<std::string> la = lines(a), lb = lines(b);
  for (size_t i = 0; i < la.size() && i < lb.size(); ++i) {
    if (la[i] == lb[i]) continue;
    std::string out = "`" + la[i] + "` at one size, `" + lb[i] + "` at another";
    const size_t eq = la[i].find(" = ");
    if (eq == std::string::npos) return out;
    const std::string name = la[i].substr(0, eq);
    for (size_t j = i + 1; j < la.size(); ++j)
      for (const char* after : {",", ")"})
        if (la[j].find(name + after) != std::string::npos) return out + ", read by `" + la[j] + "`";
    return out;
  }
  return "one trace is longer than the other";
}

}  // namespace

// What one trace gives: the graph (a joint graph when the call trains), its text, and how the
// joint graph's inputs and outputs map to the call's.
struct PathBuilder::Trace {
  TracedGraph traced;
  std::string text;
  std::vector<bool> param_wants_grad;
  bool training = false;
  size_t num_outputs = 0;
  std::vector<size_t> tangents;  // graph inputs
  std::vector<size_t> tangent_outputs;
  std::vector<int64_t> targets;
  SizeRecord sizes;  // the sizes fn computed
};

PathBuilder::Trace PathBuilder::trace(const std::vector<CompileArg>& args,
                                      const Signature& signature, Body body,
                                      std::vector<SizeRecord> evidence) {
  TraceContext tc(name_);
  if (!evidence.empty()) tc.use_evidence(std::move(evidence));
  std::vector<CompileArg> traced_args;
  traced_args.reserve(args.size());
  std::vector<Tensor> leaves;
  Trace r;
  for (size_t i = 0; i < args.size(); ++i) {
    if (const Tensor* t = std::get_if<Tensor>(&args[i])) {
      std::vector<bool> symbolic;
      for (int s : signature[i].symbol) symbolic.push_back(s >= 0);
      Tensor x = tc.add_input(*t, symbolic);
      if (signature[i].requires_grad) {
        x.set_requires_grad(true);
        leaves.push_back(x);
        r.targets.push_back(int64_t(i));
      }
      traced_args.push_back(x);
    } else {
      traced_args.push_back(args[i]);
    }
  }
  std::vector<Tensor> outputs = body(traced_args);
  for (const Tensor& p : tc.params()) r.param_wants_grad.push_back(wants_grad(p));
  // A function that ran backward itself (a whole training step) has its gradients already: its
  // outputs are returned as values. One that writes captured tensors or arguments and returns
  // outputs to differentiate would need the writes in the joint graph's forward part.
  const bool stepped = tc.has_grad_writes();
  std::vector<Tensor> differentiated, tangents;
  for (size_t j = 0; j < outputs.size(); ++j) {
    if (stepped || !GradMode::is_enabled() || !outputs[j].defined() || !outputs[j].requires_grad())
      continue;
    EMBER_CHECK(!tc.has_writes(), Error,
                "compile: the function writes in place to a captured tensor or an argument and "
                "returns outputs that need gradients; compile() does not support both in one "
                "function yet (it runs eagerly)");
    r.tangents.push_back(tc.graph()->inputs().size());
    r.tangent_outputs.push_back(j);
    tangents.push_back(tc.add_input_like(outputs[j], "g" + std::to_string(j)));
    differentiated.push_back(outputs[j]);
  }
  r.training = !differentiated.empty();
  r.num_outputs = outputs.size();
  if (r.training) {
    // The joint graph: the gradients of the outputs with respect to the arguments and captured
    // tensors that require grad, appended as outputs.
    for (size_t k = 0; k < r.param_wants_grad.size(); ++k)
      if (r.param_wants_grad[k]) {
        leaves.push_back(tc.params()[k]);
        r.targets.push_back(-1 - int64_t(k));
      }
    std::vector<Tensor> grads =
        autograd::grad(differentiated, leaves, tangents, false, false, true);
    // A leaf no output depends on gets no gradient, as eager leaves its grad() undefined.
    std::vector<int64_t> reached;
    for (size_t k = 0; k < grads.size(); ++k) {
      if (!grads[k].defined()) continue;
      outputs.push_back(grads[k]);
      reached.push_back(r.targets[k]);
    }
    r.targets = std::move(reached);
  } else {
    r.targets.clear();
  }
  r.sizes = tc.size_record();
  r.traced = tc.finish(outputs);
  r.text = ir::print(*r.traced.graph);
  return r;
}

PathBuilder::Trace PathBuilder::symbolic_trace(const std::vector<CompileArg>& args,
                                               const Signature& signature, Body body,
                                               CompileStats& stats) {
  bool symbolic = false;
  for (const ArgSpec& a : signature)
    for (int sym : a.symbol) symbolic |= sym >= 0;
  Trace t;
  if (!symbolic) {
    t = trace(args, signature, body);
    ++stats.traces;
  } else {
    // The evidence: fn traced with every size fixed, at the call's sizes and at probe sizes.
    // The symbolic trace then makes a size fn computes symbolic exactly where it varied, and a
    // second probe, at other sizes again, checks what that decided. The probes' random draws
    // leave no trace.
    Signature fixed = signature;
    for (ArgSpec& a : fixed) std::fill(a.symbol.begin(), a.symbol.end(), -1);
    const kernels::RngState rng = kernels::rng_state();
    struct RestoreRng {
      kernels::RngState state;
      ~RestoreRng() { kernels::set_rng_state(state); }
    };
    std::vector<SizeRecord> evidence;
    {
      RestoreRng restore{rng};
      for (int round = 0; round < 2; ++round) {
        const std::vector<CompileArg> at = round ? probe_args(args, signature, round) : args;
        SizeRecord r = trace(at, fixed, body).sizes;
        r.bindings = symbol_bindings(at, signature);
        evidence.push_back(std::move(r));
      }
    }
    t = trace(args, signature, body, evidence);
    ++stats.traces;  // counted when it succeeds, whatever its probe finds
    std::string probe_text;
    {
      RestoreRng restore{kernels::rng_state()};
      probe_text = trace(probe_args(args, signature, 2), signature, body, evidence).text;
    }
    EMBER_CHECK(probe_text == t.text, Error,
                "the traced graph depends on the value of a symbolic size, not only on shapes "
                "(a size used as a number, as in x.sum(0) / x.size(0)): ",
                first_difference(t.text, probe_text));
  }
  return t;
}

TracedGraph PathBuilder::trace_checked(const std::vector<CompileArg>& args,
                                       const Signature& signature, Body body, CompileStats& stats) {
  EMBER_CHECK(!GradMode::is_enabled(), InternalError,
              "trace_checked traces inference calls (grad mode off)");
  return symbolic_trace(args, signature, body, stats).traced;
}

std::shared_ptr<Path> PathBuilder::build(const std::vector<CompileArg>& args,
                                         const Signature& signature, Body body,
                                         CompileStats& stats) {
  const auto start = std::chrono::steady_clock::now();
  auto path = std::make_shared<Path>();
  Trace t = symbolic_trace(args, signature, body, stats);
  for (const auto& n : t.traced.graph->nodes()) path->guards += n->op == ir::Op::Guard;
  path->param_wants_grad = t.param_wants_grad;
  path->traced = std::move(t.traced);
  if (t.training) {
    passes::JointSplit split = passes::split_joint(*path->traced.graph, t.num_outputs, t.tangents);
    auto training = std::make_unique<Path::Training>();
    training->num_outputs = t.num_outputs;
    training->tangent_outputs = t.tangent_outputs;
    training->targets = t.targets;
    training->residual_is_input = split.residual_is_input;
    training->recomputed = split.recomputed;
    passes::run_pipeline(*split.backward);
    training->backward = std::make_shared<codegen::ExecutablePlan>(*split.backward, cache_);
    path->traced.graph = std::move(split.forward);
    path->training = std::move(training);
  }
  passes::run_pipeline(*path->traced.graph);
  path->plan = std::make_unique<codegen::ExecutablePlan>(*path->traced.graph, cache_);
  stats.compile_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return path;
}

namespace {

// The outputs of a training path's forward run get one backward node, which runs the backward
// plan on the residuals and the outputs' gradients and sends the gradients to the arguments and
// captured tensors they belong to.
void attach_backward(const Path& path, const std::vector<CompileArg>& args,
                     std::vector<Tensor>& results, std::vector<Array> residuals) {
  const Path::Training& tr = *path.training;
  int64_t bytes = 0;
  std::vector<const void*> counted;  // each storage once
  for (size_t k = 0; k < residuals.size(); ++k) {
    const auto& storage = residuals[k].storage();
    if (tr.residual_is_input[k] || !storage ||
        std::find(counted.begin(), counted.end(), storage.get()) != counted.end())
      continue;
    counted.push_back(storage.get());
    bytes += int64_t(storage->nbytes());
  }
  tr.residual_bytes = bytes;
  auto node = std::make_shared<autograd::Node>();
  node->custom_name = "CompiledFunctionBackward";
  node->num_outputs = results.size();
  node->sequence = autograd::new_sequence();
  for (int64_t target : tr.targets)
    node->next.push_back(autograd::edge_of(target >= 0 ? std::get<Tensor>(args[size_t(target)])
                                                       : path.traced.params[size_t(-1 - target)]));
  std::vector<Shape> sizes;
  std::vector<DType> dtypes;
  for (const Tensor& r : results) {
    sizes.push_back(r.sizes().vec());
    dtypes.push_back(r.dtype());
  }
  // The inputs saved by reference: an in-place write to one before the backward is an error, as
  // for a tensor the eager tape saved.
  std::vector<std::pair<size_t, uint64_t>> versions;
  for (size_t k = 0; k < residuals.size(); ++k)
    if (tr.residual_is_input[k] && residuals[k].storage())
      versions.emplace_back(k, residuals[k].storage()->version());
  auto saved = std::make_shared<std::vector<Array>>(std::move(residuals));
  node->custom = [backward = tr.backward, saved, versions, tangent_outputs = tr.tangent_outputs,
                  sizes, dtypes](const std::vector<Tensor>& grads, bool release) {
    for (const auto& [k, version] : versions) {
      const Array& a = (*saved)[k];
      const uint64_t now = a.storage()->version();
      EMBER_CHECK(now == version, Error,
                  "one of the variables needed for gradient computation has been modified by an "
                  "inplace operation: [",
                  ir::dtype_short_name(a.dtype()), " ", shape_str(a.sizes()),
                  "], an input saved by CompiledFunctionBackward, is at version ", now,
                  "; expected version ", version, " instead");
    }
    std::vector<Array> in = *saved;
    if (release) saved->clear();
    for (size_t out : tangent_outputs)
      in.push_back(grads[out].defined() ? grads[out].array()
                                        : kernels::full(sizes[out], 0.0, dtypes[out]));
    std::vector<Tensor> result;
    for (Array& a : backward->run(std::move(in))) result.emplace_back(std::move(a));
    return result;
  };
  for (size_t out : tr.tangent_outputs)
    autograd::Access::set_grad_fn(results[out], node, uint32_t(out));
}

}  // namespace

std::vector<Tensor> run_path(const Path& path, const std::vector<CompileArg>& args,
                             bool first_run) {
  // Which captured tensors want gradients is part of what the path was traced for.
  const std::vector<Tensor>& params = path.traced.params;
  const bool grad_mode = GradMode::is_enabled();
  for (size_t k = 0; k < path.param_wants_grad.size(); ++k)
    if ((grad_mode && params[k].requires_grad()) != path.param_wants_grad[k])
      throw ir::GuardFailure(detail::concat(
          "captured tensor ", k, (path.param_wants_grad[k] ? " no longer wants" : " now wants"),
          " its gradient (requires_grad or grad mode changed)"));
  // The graph inputs: the tensor arguments, then what the trace bound (captured tensors,
  // generator states).
  SmallVector<const Tensor*, 8> tensors;
  for (const CompileArg& a : args)
    if (const Tensor* t = std::get_if<Tensor>(&a)) tensors.push_back(t);
  path.traced.check_writes();
  std::vector<Array> outputs =
      path.plan->run(path.traced.graph_inputs(tensors.data(), tensors.size(), !first_run));
  if (path.traced.final_rng) kernels::set_rng_state(*path.traced.final_rng);
  if (!path.traced.writes.empty())
    path.traced.apply_writes(outputs, tensors.data(), tensors.size());
  const size_t n = path.training ? path.training->num_outputs : outputs.size();
  std::vector<Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(std::move(outputs[i]));
  if (path.training)
    attach_backward(path, args, out,
                    std::vector<Array>(std::make_move_iterator(outputs.begin() + long(n)),
                                       std::make_move_iterator(outputs.end())));
  return out;
}

}  // namespace ember::detail
