// The cross-backend differential harness (STYLE.md): each case is described once, as a Tensor
// function and its inputs, and every backend must agree with eager on it. Today's backends are
// eager and trace + reference interpreter; the compiler milestones add theirs to harness_test.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember::testing {

struct Case {
  std::string name;
  // Deterministic inputs; another seed gives another input set of the same shapes and dtypes.
  std::function<std::vector<Tensor>(uint64_t seed)> make_inputs;
  TraceableFn fn;
  double rtol = 1e-5, atol = 1e-6;
  // Its control flow depends on the data: other inputs may legitimately fail a guard.
  bool data_dependent = false;
};

const std::vector<Case>& harness_cases();

}  // namespace ember::testing
