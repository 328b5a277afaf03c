#include "ember/frontend/compile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>

#include "ember/codegen/plan.h"
#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "ember/ir/interpreter.h"
#include "ember/passes/pipeline.h"
#include "ember/runtime/log.h"
#include "ember/runtime/small_vector.h"

namespace ember::detail {
namespace {

// What a compiled entry accepts in one argument position.
struct ArgSpec {
  size_t kind = 0;  // the CompileArg alternative
  DType dtype = DType::Float32;
  bool contiguous = true;
  Shape sizes;              // tensors; a symbolic dim's size is the one it was traced with
  std::vector<int> symbol;  // tensors: per dim, its symbol or -1
  CompileArg number;        // numbers: the value
};

bool same_number(const CompileArg& a, const CompileArg& b) {
  if (a.index() != b.index()) return false;
  if (const double* x = std::get_if<double>(&a)) {
    const double y = std::get<double>(b);
    return std::memcmp(x, &y, sizeof y) == 0;  // NaN matches NaN, 0.0 does not match -0.0
  }
  if (const int64_t* x = std::get_if<int64_t>(&a)) return *x == std::get<int64_t>(b);
  if (const bool* x = std::get_if<bool>(&a)) return *x == std::get<bool>(b);
  return false;
}

std::string number_text(const CompileArg& a) {
  std::ostringstream os;
  std::visit(
      [&](const auto& v) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(v)>, Tensor>) os << v;
      },
      a);
  return os.str();
}

// One traced path of an entry: its graph, what its extra inputs are bound to, and its plan.
struct Path {
  TracedGraph traced;
  std::unique_ptr<codegen::ExecutablePlan> plan;
  int guards = 0;
};

struct Entry {
  std::vector<ArgSpec> spec;
  std::vector<std::shared_ptr<Path>> paths;  // most recently used first
  // Non-empty when fn could not be traced for this signature but runs eagerly (an in-place op,
  // an op the tracer does not record): why. Such calls run eagerly.
  std::string eager_reason;
};

constexpr size_t kMaxSymbols = 16;  // per entry

std::string arg_name(size_t i) { return "input " + std::to_string(i); }

}  // namespace

struct CompiledEngine::Impl {
  CompileOptions options;
  codegen::KernelCacheOptions cache;
  bool check = false;
  mutable std::recursive_mutex mutex;
  std::vector<std::shared_ptr<Entry>> entries;  // most recently used first
  CompileStats stats;
  std::vector<std::string> reasons;
  bool limit_warned = false;
  std::shared_ptr<const Path> last_path;
  // (argument, dim) pairs whose symbolic trace failed once: specialized from then on.
  std::set<std::pair<size_t, size_t>> keep_static;

  explicit Impl(CompileOptions o) : options(std::move(o)) {
    cache.disk = options.disk_cache;
    cache.dir = options.cache_dir;
    cache.tiered = options.tiered;
    const char* env = std::getenv("EMBER_CHECK");
    check = options.check || (env && std::strcmp(env, "0") != 0 && *env);
  }

  // Whether args fit the entry: kinds, dtypes, ranks and layout classes, static sizes equal,
  // symbolic sizes >= 2 and equal wherever they share a symbol.
  static bool matches(const Entry& e, const std::vector<CompileArg>& args) {
    if (e.spec.size() != args.size()) return false;
    int64_t symbols[kMaxSymbols];
    int bound = 0;
    for (size_t i = 0; i < args.size(); ++i) {
      const ArgSpec& s = e.spec[i];
      if (s.kind != args[i].index()) return false;
      const Tensor* t = std::get_if<Tensor>(&args[i]);
      if (!t) {
        if (!same_number(s.number, args[i])) return false;
        continue;
      }
      if (t->dtype() != s.dtype || size_t(t->dim()) != s.sizes.size() ||
          t->is_contiguous() != s.contiguous)
        return false;
      const auto sizes = t->sizes();
      for (size_t d = 0; d < s.sizes.size(); ++d) {
        const int sym = s.symbol[d];
        if (sym < 0) {
          if (sizes[d] != s.sizes[d]) return false;
          continue;
        }
        if (sizes[d] < 2) return false;
        if (sym >= bound) {
          for (; bound <= sym; ++bound) symbols[bound] = -1;
        }
        if (symbols[sym] < 0)
          symbols[sym] = sizes[d];
        else if (symbols[sym] != sizes[d])
          return false;
      }
    }
    return true;
  }

  // The spec of args with the given dims symbolic (dims of equal size share a symbol, as the
  // tracer gives them one).
  static std::vector<ArgSpec> make_spec(const std::vector<CompileArg>& args,
                                        const std::vector<std::vector<bool>>& symbolic) {
    std::vector<ArgSpec> spec(args.size());
    std::vector<int64_t> symbol_sizes;
    for (size_t i = 0; i < args.size(); ++i) {
      ArgSpec& s = spec[i];
      s.kind = args[i].index();
      const Tensor* t = std::get_if<Tensor>(&args[i]);
      if (!t) {
        s.number = args[i];
        continue;
      }
      s.dtype = t->dtype();
      s.contiguous = t->is_contiguous();
      s.sizes = t->sizes().vec();
      s.symbol.assign(s.sizes.size(), -1);
      for (size_t d = 0; d < s.sizes.size(); ++d) {
        if (i >= symbolic.size() || d >= symbolic[i].size() || !symbolic[i][d]) continue;
        auto it = std::find(symbol_sizes.begin(), symbol_sizes.end(), s.sizes[d]);
        if (it == symbol_sizes.end()) {
          if (symbol_sizes.size() == kMaxSymbols) continue;  // the rest stay specialized
          it = symbol_sizes.insert(symbol_sizes.end(), s.sizes[d]);
        }
        s.symbol[d] = int(it - symbol_sizes.begin());
      }
    }
    return spec;
  }

  // The dims to make symbolic for args, and why a new entry is needed, from the entry that
  // differs from args only in sizes (if any).
  std::vector<std::vector<bool>> plan_dims(const std::vector<CompileArg>& args,
                                           std::string& reason) const {
    std::vector<std::vector<bool>> symbolic(args.size());
    for (size_t i = 0; i < args.size(); ++i)
      if (const Tensor* t = std::get_if<Tensor>(&args[i])) {
        symbolic[i].assign(size_t(t->dim()), false);
        if (options.dynamic == CompileOptions::Dynamic::Always)
          for (int64_t d = 0; d < t->dim(); ++d) symbolic[i][size_t(d)] = t->size(d) >= 2;
      }
    if (entries.empty()) {
      reason = "first call";
      return symbolic;
    }
    // The most recent entry whose kinds, dtypes, ranks, layouts and numbers all agree.
    const Entry* near = nullptr;
    std::string other;
    for (const auto& e : entries) {
      std::string why;
      for (size_t i = 0; i < args.size() && why.empty(); ++i) {
        const ArgSpec& s = e->spec[i];
        const Tensor* t = std::get_if<Tensor>(&args[i]);
        if (s.kind != args[i].index()) {
          why = arg_name(i) + ": argument kind changed";
        } else if (!t) {
          if (!same_number(s.number, args[i]))
            why = arg_name(i) + ": " + number_text(s.number) + " -> " + number_text(args[i]);
        } else if (t->dtype() != s.dtype) {
          why = arg_name(i) + ": dtype " + dtype_name(s.dtype) + " -> " + dtype_name(t->dtype());
        } else if (size_t(t->dim()) != s.sizes.size()) {
          why = arg_name(i) + ": rank " + std::to_string(s.sizes.size()) + " -> " +
                std::to_string(t->dim());
        } else if (t->is_contiguous() != s.contiguous) {
          why = arg_name(i) + (t->is_contiguous() ? ": now contiguous" : ": now non-contiguous");
        }
      }
      if (why.empty()) {
        near = e.get();
        break;
      }
      if (other.empty()) other = why;
    }
    if (!near) {
      reason = other;
      return symbolic;
    }
    std::ostringstream os;
    for (size_t i = 0; i < args.size(); ++i) {
      const Tensor* t = std::get_if<Tensor>(&args[i]);
      if (!t) continue;
      const ArgSpec& s = near->spec[i];
      for (size_t d = 0; d < s.sizes.size(); ++d) {
        const int64_t now = t->size(int64_t(d));
        const bool was_symbolic = s.symbol[d] >= 0;
        if (was_symbolic && now >= 2) {
          symbolic[i][d] = true;
          continue;
        }
        if (now == s.sizes[d] && !was_symbolic) continue;
        if (os.tellp() > 0) os << "; ";
        os << arg_name(i) << " dim " << d << ": " << (was_symbolic ? "symbolic" : "")
           << (was_symbolic ? "" : std::to_string(s.sizes[d])) << " -> " << now;
        if (options.dynamic == CompileOptions::Dynamic::Never)
          os << " (dynamic = never)";
        else if (now < 2)
          os << " (sizes 0 and 1 are specialized)";
        else if (keep_static.count({i, d}))
          os << " (specialized: its symbolic trace failed before)";
        else {
          symbolic[i][d] = true;
          os << ", now symbolic";
        }
      }
    }
    reason = os.str();
    if (reason.empty()) reason = "symbolic sizes that must be equal differ";
    return symbolic;
  }

  // The graph inputs for a path: the tensor arguments, then what its trace bound (captured
  // tensors, generator states: fresh ones unless this is the trace's own first run).
  static std::vector<Array> graph_inputs(const Path& p, const std::vector<CompileArg>& args,
                                         bool traced_rng) {
    SmallVector<const Tensor*, 8> tensors;
    for (const CompileArg& a : args)
      if (const Tensor* t = std::get_if<Tensor>(&a)) tensors.push_back(t);
    return p.traced.graph_inputs(tensors.data(), tensors.size(), !traced_rng);
  }

  static std::vector<Tensor> to_tensors(std::vector<Array>&& arrays) {
    std::vector<Tensor> out;
    out.reserve(arrays.size());
    for (Array& a : arrays) out.emplace_back(std::move(a));
    return out;
  }

  // Traces body on args with the spec's symbolic dims, optimizes and compiles the graph. A
  // graph with symbolic dims is traced a second time on probe inputs whose symbolic dims have
  // other sizes: a graph that depends on a size beyond its shapes (x.sum(0) / x.size(0) bakes the
  // size in as a number) traces differently, and Error says so instead of a stale replay later.
  std::shared_ptr<Path> trace_path(const std::vector<CompileArg>& args,
                                   const std::vector<ArgSpec>& spec, Body body) {
    const auto start = std::chrono::steady_clock::now();
    auto path = std::make_shared<Path>();
    const std::string text = trace_into(args, spec, body, &path->traced);
    ++stats.traces;
    bool symbolic = false;
    for (const ArgSpec& a : spec)
      for (int sym : a.symbol) symbolic |= sym >= 0;
    if (symbolic) {
      const kernels::RngState rng = kernels::rng_state();  // the probe's draws leave no trace
      std::string probe_text;
      try {
        probe_text = trace_into(probe_args(args, spec), spec, body, nullptr);
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
    path->plan = std::make_unique<codegen::ExecutablePlan>(*path->traced.graph, cache);
    stats.compile_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return path;
  }

  // Traces body on args (the spec's dims symbolic) into *out when given; returns the graph text.
  std::string trace_into(const std::vector<CompileArg>& args, const std::vector<ArgSpec>& spec,
                         Body body, TracedGraph* out) {
    TraceContext tc(options.name);
    std::vector<CompileArg> traced_args;
    traced_args.reserve(args.size());
    for (size_t i = 0; i < args.size(); ++i) {
      if (const Tensor* t = std::get_if<Tensor>(&args[i])) {
        std::vector<bool> symbolic;
        for (int s : spec[i].symbol) symbolic.push_back(s >= 0);
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

  // args with every symbolic dim given another size (symbol k: one above every size in args,
  // plus k, so dims that share a symbol still agree), its data cycled along that dim.
  static std::vector<CompileArg> probe_args(const std::vector<CompileArg>& args,
                                            const std::vector<ArgSpec>& spec) {
    int64_t top = 2;
    for (const CompileArg& a : args)
      if (const Tensor* t = std::get_if<Tensor>(&a))
        for (int64_t size : t->sizes()) top = std::max(top, size);
    std::vector<CompileArg> probe = args;
    for (size_t i = 0; i < args.size(); ++i) {
      Tensor* t = std::get_if<Tensor>(&probe[i]);
      if (!t) continue;
      for (size_t d = 0; d < spec[i].symbol.size(); ++d) {
        if (spec[i].symbol[d] < 0) continue;
        const int64_t size = t->size(int64_t(d)), want = top + 1 + spec[i].symbol[d];
        Tensor index = empty({want}, kInt64);
        int64_t* p = index.data_ptr<int64_t>();
        for (int64_t k = 0; k < want; ++k) p[k] = k % size;
        *t = index_select(*t, int64_t(d), index);
      }
    }
    return probe;
  }

  void note_recompile(const std::string& reason) {
    ++stats.recompiles;
    reasons.push_back(reason);
    if (log_enabled("recompiles"))
      log_message("recompiles", options.name + ": recompiling (" +
                                    std::to_string(stats.recompiles) + " of at most " +
                                    std::to_string(options.recompile_limit) + "): " + reason);
  }

  bool over_limit() {
    if (stats.recompiles < options.recompile_limit) return false;
    if (!limit_warned) {
      limit_warned = true;
      std::string text = "ember: compile(" + options.name + "): the recompile limit (" +
                         std::to_string(options.recompile_limit) +
                         ") is reached; calls that match no compiled entry now run eagerly. "
                         "Recompile reasons:";
      for (const std::string& r : reasons) text += "\n  - " + r;
      std::fprintf(stderr, "%s\n", text.c_str());
    }
    return true;
  }

  void compare_with_eager(const std::vector<Tensor>& compiled, const std::vector<Tensor>& eager) {
    std::string problem;
    if (compiled.size() != eager.size()) {
      problem = "returns " + std::to_string(compiled.size()) + " outputs, eager " +
                std::to_string(eager.size());
    }
    for (size_t i = 0; i < compiled.size() && problem.empty(); ++i) {
      const Tensor &c = compiled[i], &e = eager[i];
      if (c.sizes().vec() != e.sizes().vec() || c.dtype() != e.dtype()) {
        std::ostringstream os;
        os << "output " << i << " is " << dtype_name(c.dtype()) << shape_str(c.sizes())
           << ", eager gives " << dtype_name(e.dtype()) << shape_str(e.sizes());
        problem = os.str();
        break;
      }
      const bool half = e.is_floating_point() && e.element_size() == 2;
      const double tol = half ? 1e-2 : e.is_floating_point() ? 1e-4 : 0;
      const std::vector<double> cv = c.values_as_double(), ev = e.values_as_double();
      for (size_t k = 0; k < cv.size(); ++k) {
        const bool same = cv[k] == ev[k] || (std::isnan(cv[k]) && std::isnan(ev[k])) ||
                          std::abs(cv[k] - ev[k]) <= tol * (1 + std::abs(ev[k]));
        if (!same) {
          std::ostringstream os;
          os << "output " << i << " element " << k << ": compiled " << cv[k] << ", eager " << ev[k];
          problem = os.str();
          break;
        }
      }
    }
    if (problem.empty()) return;
    ++stats.check_mismatches;
    std::fprintf(stderr, "ember: compile(%s) check: the compiled result differs from eager: %s\n",
                 options.name.c_str(), problem.c_str());
  }

  std::vector<Tensor> call(const std::vector<CompileArg>& args, Body body) {
    std::vector<Tensor> result = call_compiled(args, body);
    if (check) compare_with_eager(result, body(args));
    return result;
  }

  std::vector<Tensor> call_compiled(const std::vector<CompileArg>& args, Body body) {
    std::unique_lock<std::recursive_mutex> lock(mutex);
    ++stats.calls;
    for (size_t e = 0; e < entries.size(); ++e) {
      if (!matches(*entries[e], args)) continue;
      if (e) std::rotate(entries.begin(), entries.begin() + long(e), entries.begin() + long(e) + 1);
      const std::shared_ptr<Entry> entry = entries[0];
      if (!entry->eager_reason.empty()) return eager(args, body);
      // Plans run unlocked, so calls from several threads replay concurrently. The most
      // recently used path first; the others (a trace tree's branches) only if its guards fail.
      std::shared_ptr<Path> path = entry->paths[0];
      lock.unlock();
      std::vector<std::shared_ptr<Path>> others;
      std::string failure;
      int64_t failures = 0;
      for (size_t next = 0;; ++next) {
        try {
          std::vector<Tensor> out = to_tensors(path->plan->run(graph_inputs(*path, args, false)));
          if (path->traced.final_rng) kernels::set_rng_state(*path->traced.final_rng);
          lock.lock();
          stats.guard_failures += failures;
          ++stats.replays;
          last_path = path;
          auto& kept = entry->paths;  // the path that ran moves to the front
          auto it = std::find(kept.begin(), kept.end(), path);
          if (it != kept.end()) std::rotate(kept.begin(), it, it + 1);
          return out;
        } catch (const ir::GuardFailure& g) {
          ++failures;
          if (failure.empty()) failure = g.what();
          if (next == 0) {
            lock.lock();
            for (const auto& other : entry->paths)
              if (other != path) others.push_back(other);
            lock.unlock();
          }
          if (next >= others.size()) break;
          path = others[next];
        }
      }
      // Every path's guards failed: a new branch of the trace tree.
      lock.lock();
      stats.guard_failures += failures;
      if (over_limit()) return eager(args, body);
      note_recompile(failure);
      try {
        path = trace_path(args, entry->spec, body);
      } catch (const Error& e) {
        // The new branch does not trace shape-generically (or at all): this call runs eagerly.
        if (log_enabled("recompiles"))
          log_message("recompiles", options.name + ": the new path cannot join its entry (" +
                                        e.what() + "); this call runs eagerly");
        return eager(args, body);
      }
      entry->paths.insert(entry->paths.begin(), path);
      return run_first(path, args);
    }
    std::string reason;
    const auto symbolic = plan_dims(args, reason);
    if (!entries.empty()) {
      if (over_limit()) return eager(args, body);
      note_recompile(reason);
    }
    auto entry = std::make_shared<Entry>();
    std::shared_ptr<Path> path;
    try {
      path = trace_new_entry(args, symbolic, *entry, body);
    } catch (const Error& e) {
      // If fn fails eagerly too, that is its own error, raised as eager raises it. If it runs,
      // tracing cannot express it (an in-place op, say): this signature runs eagerly, and
      // says so once.
      std::vector<Tensor> out = eager(args, body);
      entry->eager_reason = e.what();
      entries.insert(entries.begin(), entry);
      std::fprintf(stderr,
                   "ember: compile(%s): this call cannot be traced (%s); calls with its "
                   "signature run eagerly\n",
                   options.name.c_str(), e.what());
      return out;
    }
    entry->paths.push_back(path);
    entries.insert(entries.begin(), entry);
    return run_first(path, args);
  }

  // Traces a new entry with the given dims symbolic; when that trace fails (a slice of a
  // symbolic dim, a size used as a number), with every dim specialized. Sets the entry's spec.
  std::shared_ptr<Path> trace_new_entry(const std::vector<CompileArg>& args,
                                        const std::vector<std::vector<bool>>& symbolic,
                                        Entry& entry, Body body) {
    entry.spec = make_spec(args, symbolic);
    bool any = false;
    for (const auto& s : symbolic)
      for (bool b : s) any |= b;
    if (!any) return trace_path(args, entry.spec, body);
    try {
      return trace_path(args, entry.spec, body);
    } catch (const Error& e) {
      if (log_enabled("recompiles"))
        log_message("recompiles", options.name + ": tracing with symbolic sizes failed (" +
                                      e.what() + "); specializing them");
      for (size_t a = 0; a < symbolic.size(); ++a)
        for (size_t d = 0; d < symbolic[a].size(); ++d)
          if (symbolic[a][d]) keep_static.insert({a, d});
      entry.spec = make_spec(args, {});
      return trace_path(args, entry.spec, body);
    }
  }

  // The first run of a new path, with the generator states its trace drew.
  std::vector<Tensor> run_first(const std::shared_ptr<Path>& p,
                                const std::vector<CompileArg>& args) {
    last_path = p;
    const Path& path = *p;
    std::vector<Tensor> out = to_tensors(path.plan->run(graph_inputs(path, args, true)));
    if (path.traced.final_rng) kernels::set_rng_state(*path.traced.final_rng);
    return out;
  }

  std::vector<Tensor> eager(const std::vector<CompileArg>& args, Body body) {
    ++stats.eager_calls;
    last_path = nullptr;
    return body(args);
  }

  std::string describe() const {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    std::ostringstream os;
    for (size_t e = 0; e < entries.size(); ++e) {
      os << "entry " << e << " (";
      for (size_t i = 0; i < entries[e]->spec.size(); ++i) {
        const ArgSpec& s = entries[e]->spec[i];
        if (i) os << ", ";
        if (s.kind != 0) {
          os << number_text(s.number);
          continue;
        }
        os << dtype_name(s.dtype) << '[';
        for (size_t d = 0; d < s.sizes.size(); ++d)
          os << (d ? ", " : "")
             << (s.symbol[d] >= 0 ? "s" + std::to_string(s.symbol[d]) : std::to_string(s.sizes[d]));
        os << ']' << (s.contiguous ? "" : " strided");
      }
      if (!entries[e]->eager_reason.empty()) {
        os << "): eager (" << entries[e]->eager_reason << ")\n";
        continue;
      }
      os << "): " << entries[e]->paths.size() << " path(s)\n";
      for (const auto& p : entries[e]->paths)
        os << "  path with " << p->guards << " guard(s), " << p->plan->num_kernels()
           << " kernel(s), " << p->plan->num_library_calls() << " library call(s), "
           << p->plan->num_eager_nodes() << " eager node(s)\n";
    }
    return os.str();
  }
};

CompiledEngine::CompiledEngine(CompileOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
CompiledEngine::~CompiledEngine() = default;

std::vector<Tensor> CompiledEngine::call(const std::vector<CompileArg>& args, Body body) {
  return impl_->call(args, body);
}

CompileStats CompiledEngine::stats() const {
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  return impl_->stats;
}

std::vector<std::string> CompiledEngine::recompile_reasons() const {
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  return impl_->reasons;
}

std::string CompiledEngine::describe() const { return impl_->describe(); }

CompiledPlanInfo CompiledEngine::last_plan() const {
  std::lock_guard<std::recursive_mutex> lock(impl_->mutex);
  CompiledPlanInfo info;
  if (const Path* p = impl_->last_path.get()) {
    info.kernels = p->plan->num_kernels();
    info.library_calls = p->plan->num_library_calls();
    info.eager_nodes = p->plan->num_eager_nodes();
    info.guards = p->guards;
  }
  return info;
}

}  // namespace ember::detail
