// Automatic differentiation, with PyTorch's semantics. Every op runs through one dispatch point
// (frontend/dispatch.h); when grad mode is on and an input requires grad, that point records a
// backward node on the result (its grad_fn) that saves what the op's rule needs. backward() and
// grad() walk those nodes from the outputs and run each op's rule from the one rule table
// (frontend/autograd/rules.cpp), written with Ember's own Tensor ops: on real tensors eagerly, on
// tracer tensors inside a trace (so the same rules emit the backward graph into the IR).
#pragma once

#include <optional>
#include <vector>

#include "ember/frontend/tensor.h"
#include "ember/ir/graph.h"

namespace ember {

// Whether ops record backward nodes (per thread; on by default).
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Sets grad mode for its scope (torch::AutoGradMode).
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : previous_(GradMode::is_enabled()) {
    GradMode::set_enabled(enabled);
  }
  ~AutoGradMode() { GradMode::set_enabled(previous_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool previous_;
};

// Turns grad mode off for its scope (torch::NoGradGuard).
class NoGradGuard : public AutoGradMode {
 public:
  NoGradGuard() : AutoGradMode(false) {}
};

namespace autograd {

// The gradients of sum(outputs[i] * grad_outputs[i]) with respect to each of inputs, without
// touching any leaf's grad(). An input that the outputs do not depend on is an Error unless
// allow_unused, which gives an undefined tensor for it. grad_outputs may be empty (or hold
// undefined tensors) for one-element outputs.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {},
                         std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                         bool allow_unused = false);

// backward() of several outputs at once (their gradients summed into the leaves).
void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

// A forward graph's joint forward + backward graph, derived by running the rule table on tracer
// tensors: its inputs are the forward graph's (all as plain inputs, x0, x1, ...), then one
// gradient input per floating output (g0, g1, ...); its outputs are the forward outputs, then the
// gradient of each floating input. passes::split_joint cuts it into a forward and a backward.
struct JointGraph {
  std::shared_ptr<ir::Graph> graph;
  size_t num_forward_outputs = 0;
  std::vector<size_t> tangents;  // indices of the gradient inputs in graph->inputs()
};
JointGraph joint_graph(const ir::Graph& forward);

// The bytes of the tensors the autograd graph behind outputs saves for its backward (each
// storage once; leaves and the outputs' own inputs that the caller holds anyway included): what
// an eager training step keeps alive between forward and backward.
int64_t saved_tensor_bytes(const std::vector<Tensor>& outputs);

}  // namespace autograd
}  // namespace ember
