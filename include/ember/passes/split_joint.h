// Splitting a joint forward + backward graph (autograd's, built by the rule table on tracer
// tensors: autograd::joint_graph, or compile() for a training call) into the graph a training
// step runs at once (the forward) and the one it runs when the outputs' gradients arrive (the
// backward), with the residuals between them.
//
// The policy (AOTAutograd's, greedily): a value the backward reads is recomputed there when its
// op is cheap (elementwise, movement, constants; recomputed from its own operands, recursively),
// and saved as a residual otherwise (matmul, conv, reductions, pooling, indexing, random ops). A
// graph input the backward reads is a residual that costs nothing (the caller's tensor, by
// reference). So a gelu(matmul(x, w) + b) saves the matmul's result, and recomputes the add and
// the gelu in the fused backward kernels instead of saving two more activations.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ember/ir/graph.h"

namespace ember::passes {

struct JointSplit {
  // The joint graph's inputs except the tangents, in order -> the forward outputs, then the
  // residuals.
  std::unique_ptr<ir::Graph> forward;
  // The residuals, then the tangents -> the gradients (the joint graph's later outputs).
  std::unique_ptr<ir::Graph> backward;
  size_t num_forward_outputs = 0;
  size_t num_residuals = 0;
  // Per residual: whether it is one of the forward graph's inputs (no memory of its own).
  std::vector<bool> residual_is_input;
  int recomputed = 0;  // nodes the backward recomputes (some also run in the forward)
};

// joint's inputs listed in `tangents` (indices into joint.inputs()) are the forward outputs'
// gradients; its outputs [0, num_forward_outputs) are the forward outputs, the rest gradients.
// recompute false saves every forward value the backward reads (for comparison).
JointSplit split_joint(const ir::Graph& joint, size_t num_forward_outputs,
                       const std::vector<size_t>& tangents, bool recompute = true);

// Both graphs as text, the forward first, with a comment line naming the residuals.
std::string print_split(const JointSplit& split);

}  // namespace ember::passes
