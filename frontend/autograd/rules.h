// The backward rule of every differentiable op, in one table keyed by ir::Op (rules.cpp). A rule
// is written with Ember's Tensor ops, so it runs on real tensors (the eager tape) and on tracer
// tensors (the backward graph in the IR) alike.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ember/frontend/tensor.h"
#include "ember/ir/graph.h"

namespace ember::autograd {

// What a rule sees of the forward op.
struct BackwardArgs {
  ir::Op op;
  const ir::Attrs& attrs;
  std::span<const Tensor> inputs;  // defined only where the rule saves inputs
  std::span<const Shape> input_sizes;
  std::span<const DType> input_dtypes;
  const Tensor& output;            // defined only where the rule saves the output
  const Tensor& grad;              // the gradient of the output (its sizes and dtype)
  const std::vector<bool>& needs;  // which inputs want a gradient
};

// Per input: its gradient, with the input's sizes (undefined: zero, or not wanted).
using Gradients = std::vector<Tensor>;

struct Rule {
  enum Saves : uint8_t { Nothing = 0, Inputs = 1, Output = 2, Both = 3 };
  Gradients (*backward)(const BackwardArgs&) = nullptr;
  uint8_t saves = Nothing;
};

// The op's rule, or null for an op with no gradient (comparisons, argmax, random, constants).
const Rule* backward_rule(ir::Op op);

// The gradient of a value broadcast from `sizes` to g's sizes: g summed over the broadcast dims.
Tensor sum_to(const Tensor& g, IntArrayRef sizes);

}  // namespace ember::autograd
