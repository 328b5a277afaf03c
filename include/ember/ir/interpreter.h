// The reference interpreter: runs any graph with the eager CPU kernels. It is the oracle every
// pass and backend is compared with: a pass must not change what it computes.
#pragma once

#include <utility>
#include <vector>

#include "ember/ir/graph.h"
#include "ember/runtime/array.h"

namespace ember::ir {

// A guard's observed value differs from the one recorded when the graph was traced.
class GuardFailure : public Error {
 public:
  using Error::Error;
};

// Binds each symbol from the inputs' sizes (checking every dim against the input types), runs the
// nodes in order, and returns the outputs. `inputs` lists every graph input (params and rng state
// included) in order. When `wanted` is given, stops as soon as those values are computed and
// returns them instead of the outputs.
std::vector<Array> interpret(const Graph& graph, const std::vector<Array>& inputs,
                             const std::vector<const Value*>* wanted = nullptr);

// The value of each symbol (s0, s1, ...) given the graph inputs' arrays, after checking every
// input's dtype, rank and dims against the graph (ValueError naming the input otherwise).
std::vector<int64_t> bind_symbols(const Graph& graph, const std::vector<Array>& inputs);

// GuardFailure naming the value read (%value_name) unless its one element is the guard's recorded
// value (NaN matches NaN).
void check_guard(const Array& value, const Attrs& attrs, std::string_view value_name);

// A slice node's bounds with its symbols bound to `bindings`, for a sliced dim of `size`.
// GuardFailure when they do not fit the dim: a bound that grows with a symbol fits only as far as
// the sizes the graph was traced at showed (bias[:T] of a 32-row buffer, for T up to 32).
std::pair<int64_t, int64_t> slice_bounds(const Attrs& attrs, int64_t size,
                                         const std::vector<int64_t>& bindings);

// One op applied to operand values with the eager kernels (the interpreter's semantics of a node
// with this op and these attributes), its symbols bound to `bindings`. What eager Tensor ops run.
Array evaluate(Op op, const Attrs& attrs, const Array* const* operands, size_t num_operands,
               const std::vector<int64_t>& bindings = {});

// One node evaluated with the eager kernels on its operands' values (operands[i] for input i),
// its symbols bound to `bindings`; a guard node returns an empty Array or throws GuardFailure.
// What the interpreter runs per node, and what compiled plans run for nodes no kernel covers.
Array evaluate_node(const Node& node, const Array* const* operands,
                    const std::vector<int64_t>& bindings);

}  // namespace ember::ir
