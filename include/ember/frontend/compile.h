// ember::compile: the tracing JIT's front door.
//
//   auto f = ember::compile([&](const Tensor& x, int64_t k) { return gelu(x * w) * k; });
//   Tensor y = f(x, 3);
//
// The first call traces fn, runs the pass pipeline and compiles the fused graph into an
// executable plan; later calls whose arguments match a compiled entry (dtype, rank, layout class
// and sizes of each tensor; the value of each number) replay it. Staying correct when things
// change is the point:
//  - an input whose layout class changes (contiguous <-> strided) makes the new entry
//    layout-generic: every tensor argument may then have any strides, one recompile in all;
//  - a size that differs from the entry's makes that dim symbolic, and fn is compiled once more
//    with shape-generic kernels (EMBER_LOG=recompiles prints why: "input 0 dim 0: 32 -> 64, now
//    symbolic"); sizes 0 and 1 stay specialized, as do dims whose symbolic trace fails. A
//    symbolic trace is checked by tracing fn once more at other sizes. A number computed from
//    sizes (x / double(x.size(0))) is a polynomial of the symbols evaluated per call; one that is
//    not (1.0 / n), or a graph that depends on a size's value otherwise, specializes the dims;
//  - data-dependent control flow records guards: `if (bool(x.sum() > 0))` guards the predicate's
//    outcome (each branch traced once, both replay), `x.item<float>()` returns the number and
//    guards its value. A replay whose guard fails
//    traces fn again and keeps the new path beside the old one (a trace tree);
//  - numbers (int, double, bool arguments) are part of the signature by value;
//  - tensors fn captures (weights) are read by reference on every call, so in-place updates are
//    seen; reassigning a captured variable to another tensor is not (fn must be a function of
//    its arguments and the captured tensors' contents).
// After `recompile_limit` recompiles, calls that match no entry run eagerly, and a warning listing
// the reasons is printed once. A call the tracer cannot record (an in-place op in fn) runs
// eagerly too, with a warning, and so do later calls with its signature; an error fn raises
// eagerly as well (a shape mismatch) reaches the caller as eager raises it. CompileOptions::check
// (or EMBER_CHECK=1) runs fn eagerly beside every call and reports the first output that differs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ember/frontend/tensor.h"

namespace ember {

struct CompileOptions {
  // When a dim becomes symbolic: Auto (after its size changes once), Always (from the first
  // call, except sizes 0 and 1), Never (every new size is compiled on its own).
  enum class Dynamic { Auto, Always, Never };
  Dynamic dynamic = Dynamic::Auto;
  bool check = false;      // shadow eager on every call, report the first difference
  bool disk_cache = true;  // keep compiled kernels under cache_dir too
  // A kernel in neither cache first runs as code compiled quickly (LLVM O1), while the
  // optimized version compiles on a background thread and takes over when ready: the first
  // call waits for the quick tier only. Off: every kernel is optimized before the first call.
  bool tiered = true;
  std::string cache_dir;  // empty: $EMBER_CACHE_DIR, else ~/.cache/ember
  int recompile_limit = 8;
  std::string name = "fn";  // in logs and warnings
};

struct CompileStats {
  int64_t calls = 0;
  int64_t replays = 0;         // calls answered by a compiled plan
  int64_t traces = 0;          // the first compile and every recompile
  int64_t recompiles = 0;      // traces after the first
  int64_t eager_calls = 0;     // calls run eagerly past the recompile limit
  int64_t guard_failures = 0;  // replayed paths stopped by a guard
  int64_t check_mismatches = 0;
  double compile_ms = 0;  // spent tracing, optimizing and compiling (every trace, cumulative)
};

// What the plan of the last call runs.
struct CompiledPlanInfo {
  int kernels = 0;        // compiled by the backend
  int library_calls = 0;  // matmul, conv2d
  int eager_nodes = 0;    // nodes of fused groups run with the eager kernels (real fallbacks)
  int views = 0;          // reshape/permute/expand/slice: strides only, no work
  std::vector<std::string> fallbacks;  // per eager node: the node and why no kernel covers it
  int guards = 0;
  // A training path (grad mode on and an input or captured tensor requires grad): its backward
  // plan, and the bytes of the residuals the last call saved for it (beyond its inputs).
  bool training = false;
  int backward_kernels = 0, backward_library_calls = 0, backward_eager_nodes = 0;
  int64_t residual_bytes = 0;
};

// One argument of a compiled function: a tensor, or a number guarded by value.
using CompileArg = std::variant<Tensor, int64_t, double, bool>;

namespace detail {

// A non-owning reference to a callable (valid while the call that receives it runs).
template <class Sig>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F>
  FunctionRef(F& f)  // NOLINT: implicit, like std::function
      : obj_(&f), call_([](void* o, A... a) -> R { return (*static_cast<F*>(o))(a...); }) {}
  R operator()(A... a) const { return call_(obj_, a...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

using Body = FunctionRef<std::vector<Tensor>(const std::vector<CompileArg>&)>;

class CompiledEngine {
 public:
  explicit CompiledEngine(CompileOptions options);
  ~CompiledEngine();
  std::vector<Tensor> call(const std::vector<CompileArg>& args, Body body);
  CompileStats stats() const;
  std::vector<std::string> recompile_reasons() const;
  std::string describe() const;  // entries, their paths and plans
  CompiledPlanInfo last_plan() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

template <class T>
CompileArg to_arg(const T& v) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, Tensor>)
    return v;
  else if constexpr (std::is_same_v<D, bool>)
    return v;
  else if constexpr (std::is_integral_v<D>)
    return int64_t(v);
  else if constexpr (std::is_floating_point_v<D>)
    return double(v);
  else
    static_assert(sizeof(D) == 0, "compile: arguments must be Tensors, integers, floats or bools");
}

template <class T>
decltype(auto) from_arg(const CompileArg& a) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, Tensor>)
    return std::get<Tensor>(a);
  else if constexpr (std::is_same_v<D, bool>)
    return std::get<bool>(a);
  else if constexpr (std::is_integral_v<D>)
    return D(std::get<int64_t>(a));
  else
    return D(std::get<double>(a));
}

template <class R>
std::vector<Tensor> flatten_result(R&& r) {
  using D = std::decay_t<R>;
  if constexpr (std::is_same_v<D, Tensor>) {
    return {std::forward<R>(r)};
  } else if constexpr (std::is_same_v<D, std::vector<Tensor>>) {
    return std::forward<R>(r);
  } else {
    return std::apply([](auto&&... t) { return std::vector<Tensor>{Tensor(t)...}; },
                      std::forward<R>(r));
  }
}

template <class D>
D unflatten_result(std::vector<Tensor>&& v) {
  if constexpr (std::is_same_v<D, Tensor>) {
    return std::move(v.at(0));
  } else if constexpr (std::is_same_v<D, std::vector<Tensor>>) {
    return std::move(v);
  } else {
    return [&]<size_t... I>(std::index_sequence<I...>) { return D{std::move(v.at(I))...}; }
    (std::make_index_sequence<std::tuple_size_v<D>>{});
  }
}

}  // namespace detail

template <class F>
class CompiledFunction {
 public:
  CompiledFunction(F fn, CompileOptions options)
      : fn_(std::make_shared<F>(std::move(fn))),
        engine_(std::make_shared<detail::CompiledEngine>(std::move(options))) {}

  template <class... Args>
  auto operator()(const Args&... args) const {
    using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
    const std::vector<CompileArg> packed{detail::to_arg(args)...};
    auto body = [this](const std::vector<CompileArg>& in) {
      return [&]<size_t... I>(std::index_sequence<I...>) {
        return detail::flatten_result((*fn_)(detail::from_arg<Args>(in[I])...));
      }
      (std::index_sequence_for<Args...>{});
    };
    return detail::unflatten_result<R>(engine_->call(packed, body));
  }

  CompileStats stats() const { return engine_->stats(); }
  // Why each recompile happened, in order.
  std::vector<std::string> recompile_reasons() const { return engine_->recompile_reasons(); }
  // The compiled entries: signature, paths (guards) and each path's plan.
  std::string describe() const { return engine_->describe(); }
  // The plan the last call ran (all zeros before the first call, or after an eager call).
  CompiledPlanInfo last_plan() const { return engine_->last_plan(); }

 private:
  std::shared_ptr<const F> fn_;
  std::shared_ptr<detail::CompiledEngine> engine_;
};

template <class F>
CompiledFunction<F> compile(F fn, CompileOptions options = {}) {
  return CompiledFunction<F>(std::move(fn), std::move(options));
}

// f(in[0], ..., in[n-1]) for a list of up to 8 tensors, returning R: calls a function that takes
// its tensors one by one (a compiled one) with a list built at run time.
template <class R, class F>
R call_unpacked(const F& f, const std::vector<Tensor>& in) {
  constexpr size_t kMax = 8;
  EMBER_CHECK(in.size() >= 1 && in.size() <= kMax, ValueError, "call_unpacked: ", in.size(),
              " tensors (1 to ", kMax, " are supported)");
  R result{};
  [&]<size_t... N>(std::index_sequence<N...>) {
    ((in.size() == N + 1
          ? (void)(result = [&]<size_t... I>(std::index_sequence<I...>) { return R(f(in[I]...)); }(
                       std::make_index_sequence<N + 1>{}))
          : void()),
     ...);
  }
  (std::make_index_sequence<kMax>{});
  return result;
}

}  // namespace ember
