// Ahead-of-time export: a model function traced and compiled like compile() does, written as one
// file that the standalone runtime (<ember/aot_runtime.h>, CMake target Ember::aot_runtime, and
// the ember-run tool) loads and runs with no LLVM, no compiler and no Ember tensor library.
//
//   ember::ExportOptions options;
//   options.dynamic_dims = {{0, 0}};  // input 0's dim 0 (the batch) takes any size >= 2
//   ember::export_model([&](const Tensor& x) { return mlp(x); }, {randn({8, 64})}, "mlp.ember",
//                       options);
//
// The file holds the graph (text form), the captured tensors by value (weights), the plan, and
// the machine code of every kernel for this CPU (an x86-64 shared object, linked at export time
// by the system's C compiler driver: $EMBER_CC, else the one Ember was built with, else `cc`).
// Guards the trace recorded (a branch on data) are kept: a run they reject fails with a
// message, never a wrong result. What fn cannot be exported with is an Error here: random ops,
// writes to captured tensors or arguments, numbers read from the host at run time.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ember/frontend/compile.h"

namespace ember {

struct ExportOptions {
  // (input, dim) pairs that take any size >= 2 in the exported model; every other dim is fixed
  // at the example's size. Dims whose example sizes are equal share a size (give independent
  // dynamic dims different example sizes).
  std::vector<std::pair<int, int>> dynamic_dims;
  std::string name = "model";
  std::vector<std::string> input_names;  // default: input0, input1, ...
};

namespace detail {
void export_model(const std::vector<CompileArg>& example_args, Body body, const std::string& path,
                  const ExportOptions& options);
std::string export_mlir(const std::vector<CompileArg>& example_args, Body body,
                        const ExportOptions& options);

// fn as a Body: it takes the example's tensors one by one (up to 8).
template <class F>
auto tensor_body(const F& fn, const char* what) {
  return [&fn, what](const std::vector<CompileArg>& in) {
    constexpr size_t kMax = 8;
    std::vector<Tensor> out;
    bool called = false;
    [&]<size_t... N>(std::index_sequence<N...>) {
      (
          [&] {
            constexpr size_t n = N + 1;
            [&]<size_t... I>(std::index_sequence<I...>) {
              if constexpr (std::is_invocable_v<
                                const F&, decltype((void(I), std::declval<const Tensor&>()))...>) {
                if (in.size() == n) {
                  out = flatten_result(fn(std::get<Tensor>(in[I])...));
                  called = true;
                }
              }
            }
            (std::make_index_sequence<n>{});
          }(),
          ...);
    }
    (std::make_index_sequence<kMax>{});
    EMBER_CHECK(called, ValueError, what, ": fn cannot be called with ", in.size(),
                " tensors (it must take the example's tensors one by one, at most ", kMax, ")");
    return out;
  };
}
}  // namespace detail

// fn takes the example's tensors one by one (up to 8) and returns a Tensor, a tuple of them or a
// std::vector<Tensor>. Error (naming the input and dim) for a non-tensor argument, a dynamic dim
// out of range or of example size below 2; what tracing or compiling fn raises propagates.
template <class F>
void export_model(const F& fn, std::vector<CompileArg> example_args, const std::string& path,
                  ExportOptions options = {}) {
  auto body = detail::tensor_body(fn, "export_model");
  detail::export_model(example_args, body, path, options);
}

// The MLIR export: fn traced as export_model does (the same options and errors), simplified by
// the pass pipeline before fusion, and returned as upstream MLIR 19 text (ir::to_mlir): one
// `func.func @<options.name>` whose arguments are the inputs (named by options.input_names,
// dynamic dims `?`) and whose results are fn's outputs, with the captured tensors embedded as
// dense constants. ValueError names the first op with no form in linalg / tensor / arith / math.
template <class F>
std::string export_mlir(const F& fn, std::vector<CompileArg> example_args,
                        ExportOptions options = {}) {
  auto body = detail::tensor_body(fn, "export_mlir");
  return detail::export_mlir(example_args, body, options);
}

}  // namespace ember
