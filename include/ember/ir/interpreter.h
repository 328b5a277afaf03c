// The reference interpreter: runs any graph with the eager CPU kernels. It is the oracle every
// pass and backend is compared with: a pass must not change what it computes.
#pragma once

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

}  // namespace ember::ir
