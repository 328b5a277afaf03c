// compile()'s engine: the entries of a compiled function and the trace tree of each, a call's way
// through them, and the recompile limit. Each other job is a unit of its own: signatures
// (engine/signature), the dynamic-shape policy (engine/shape_policy), building and running a
// path (engine/path), check mode (engine/shadow_check).
#include "ember/frontend/compile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#include "ember/ir/interpreter.h"
#include "ember/runtime/log.h"
#include "frontend/engine/path.h"
#include "frontend/engine/shadow_check.h"
#include "frontend/engine/shape_policy.h"
#include "frontend/engine/signature.h"

namespace ember::detail {
namespace {

struct Entry {
  Signature signature;
  std::vector<std::shared_ptr<Path>> paths;  // most recently used first
  // Non-empty when fn could not be traced for this signature but runs eagerly (an in-place op,
  // an op the tracer does not record): why. Such calls run eagerly.
  std::string eager_reason;
};

codegen::KernelCacheOptions cache_options(const CompileOptions& o) {
  codegen::KernelCacheOptions cache;
  cache.disk = o.disk_cache;
  cache.dir = o.cache_dir;
  cache.tiered = o.tiered;
  return cache;
}

}  // namespace

struct CompiledEngine::Impl {
  CompileOptions options;
  bool check = false;
  ShapePolicy shapes;
  PathBuilder builder;
  mutable std::recursive_mutex mutex;
  std::vector<std::shared_ptr<Entry>> entries;  // most recently used first
  CompileStats stats;
  std::vector<std::string> reasons;
  bool limit_warned = false;
  std::shared_ptr<const Path> last_path;

  explicit Impl(CompileOptions o)
      : options(std::move(o)),
        shapes(options.dynamic),
        builder(options.name, cache_options(options)) {
    const char* env = std::getenv("EMBER_CHECK");
    check = options.check || (env && std::strcmp(env, "0") != 0 && *env);
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

  std::vector<Tensor> call(const std::vector<CompileArg>& args, Body body) {
    std::vector<Tensor> result = call_compiled(args, body);
    if (check) {
      const std::string problem = first_difference(result, body(args));
      if (!problem.empty()) {
        std::lock_guard<std::recursive_mutex> lock(mutex);
        ++stats.check_mismatches;
        std::fprintf(stderr,
                     "ember: compile(%s) check: the compiled result differs from eager: %s\n",
                     options.name.c_str(), problem.c_str());
      }
    }
    return result;
  }

  std::vector<Tensor> call_compiled(const std::vector<CompileArg>& args, Body body) {
    std::unique_lock<std::recursive_mutex> lock(mutex);
    ++stats.calls;
    for (size_t e = 0; e < entries.size(); ++e) {
      if (!matches(entries[e]->signature, args)) continue;
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
          std::vector<Tensor> out = run_path(*path, args, false);
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
        path = builder.build(args, entry->signature, body, stats);
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
    std::vector<const Signature*> existing;
    for (const auto& e : entries) existing.push_back(&e->signature);
    const ShapePolicy::EntryShape shape = shapes.new_entry(args, existing, reason);
    if (!entries.empty()) {
      if (over_limit()) return eager(args, body);
      note_recompile(reason);
    }
    auto entry = std::make_shared<Entry>();
    std::shared_ptr<Path> path;
    try {
      path = trace_new_entry(args, shape, *entry, body);
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
  // symbolic dim, a size used as a number), with every dim specialized. Sets the entry's
  // signature.
  std::shared_ptr<Path> trace_new_entry(const std::vector<CompileArg>& args,
                                        const ShapePolicy::EntryShape& shape, Entry& entry,
                                        Body body) {
    const std::vector<std::vector<bool>>& symbolic = shape.symbolic;
    entry.signature = make_signature(args, symbolic, shape.any_layout);
    bool any = false;
    for (const auto& s : symbolic)
      for (bool b : s) any |= b;
    if (!any) return builder.build(args, entry.signature, body, stats);
    try {
      return builder.build(args, entry.signature, body, stats);
    } catch (const Error& e) {
      const std::string why =
          std::string("tracing with symbolic sizes failed (") + e.what() + "); specializing them";
      if (!reasons.empty()) reasons.back() += "; " + why;
      if (log_enabled("recompiles")) log_message("recompiles", options.name + ": " + why);
      shapes.specialize(symbolic);
      entry.signature = make_signature(args, {}, shape.any_layout);
      return builder.build(args, entry.signature, body, stats);
    }
  }

  // The first run of a new path, with the generator states its trace drew.
  std::vector<Tensor> run_first(const std::shared_ptr<Path>& p,
                                const std::vector<CompileArg>& args) {
    last_path = p;
    return run_path(*p, args, true);
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
      os << "entry " << e << " (" << signature_text(entries[e]->signature);
      if (!entries[e]->eager_reason.empty()) {
        os << "): eager (" << entries[e]->eager_reason << ")\n";
        continue;
      }
      os << "): " << entries[e]->paths.size() << " path(s)\n";
      for (const auto& p : entries[e]->paths) {
        os << "  path with " << p->guards << " guard(s), " << p->plan->num_kernels()
           << " kernel(s), " << p->plan->num_library_calls() << " library call(s), "
           << p->plan->num_eager_nodes() << " eager node(s), " << p->plan->num_views()
           << " view(s)\n";
        for (const std::string& f : p->plan->fallbacks()) os << "    " << f << "\n";
        if (const Path::Training* t = p->training.get()) {
          size_t inputs = 0;
          for (bool b : t->residual_is_input) inputs += b;
          os << "    backward: " << t->backward->num_kernels() << " kernel(s), "
             << t->backward->num_library_calls() << " library call(s), "
             << t->backward->num_eager_nodes() << " eager node(s); " << t->residual_is_input.size()
             << " residual(s) (" << inputs << " of them inputs), " << t->residual_bytes
             << " bytes saved by the last call, " << t->recomputed << " node(s) recomputed\n";
        }
      }
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
    info.views = p->plan->num_views();
    info.fallbacks = p->plan->fallbacks();
    info.guards = p->guards;
    if (const Path::Training* t = p->training.get()) {
      info.training = true;
      info.backward_kernels = t->backward->num_kernels();
      info.backward_library_calls = t->backward->num_library_calls();
      info.backward_eager_nodes = t->backward->num_eager_nodes();
      info.residual_bytes = t->residual_bytes;
    }
  }
  return info;
}

}  // namespace ember::detail
