// The autograd graph: the backward node an op's result points to (its grad_fn), what it saves,
// and the hook the dispatch point calls. Each op has one result, so a node has one output and
// one incoming gradient.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ember/frontend/tensor.h"
#include "ember/ir/graph.h"

namespace ember::autograd {

// A tensor a node keeps for its backward: the values (without their history when it is the
// node's own result, which would be a cycle) and the storage version they had, to refuse a
// backward through a tensor modified in place since.
struct SavedTensor {
  Tensor tensor;
  uint64_t version = 0;
  bool is_output = false;
  bool defined() const { return tensor.defined(); }
};

struct Node;

// Where an input's gradient goes: the node that produced the input, or the leaf it is (whose
// grad() accumulates it); neither when the input does not require grad.
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t output_nr = 0;  // of node
  Tensor leaf;
  bool defined() const { return node || leaf.defined(); }
};

struct Node : std::enable_shared_from_this<Node> {
  ir::Op op{};
  ir::Attrs attrs;
  std::vector<Edge> next;  // per input
  std::vector<Shape> input_sizes;
  std::vector<DType> input_dtypes;
  // A node of compiled code (compile()'s backward plan) has no op rule but `custom`: several
  // outputs, and a function from their gradients (undefined: zero) to the inputs' (undefined:
  // none). It frees what it holds when release is set.
  size_t num_outputs = 1;
  std::function<std::vector<Tensor>(const std::vector<Tensor>& output_grads, bool release)> custom;
  std::string custom_name;
  std::vector<SavedTensor> saved_inputs;  // per input, defined when the rule reads inputs
  SavedTensor saved_output;               // defined when the rule reads the result
  uint64_t sequence = 0;                  // creation order: a node runs after every later one
  bool released = false;                  // saved tensors freed by a backward

  std::string name() const;  // "MulBackward"
  // Error when a backward without retain_graph has freed the saved tensors.
  void check_not_released() const;
  // A saved tensor for the rule: Error when a backward freed it, or when it was modified in
  // place after it was saved. The result gets this node as grad_fn again when create_graph.
  Tensor unpack(const SavedTensor& saved, bool create_graph);
};

// Tensor's private autograd state, for this module.
struct Access {
  static std::shared_ptr<Node> grad_fn(const Tensor& t);
  static void set_grad_fn(const Tensor& t, std::shared_ptr<Node> node, uint32_t output_nr = 0);
  static uint32_t output_nr(const Tensor& t);
  static Tensor& grad(const Tensor& t);
};

// True when grad mode is on and one of inputs requires grad: the dispatch point then records.
bool should_record(std::span<const Tensor> inputs);
// A sequence number for a new node (nodes run in decreasing order).
uint64_t new_sequence();
// The edge a gradient for t takes (undefined when t does not require grad).
Edge edge_of(const Tensor& t);
// Makes output (a fresh result of op on inputs) the result of a new backward node.
void record(ir::Op op, const ir::Attrs& attrs, std::span<const Tensor> inputs,
            const Tensor& output);

}  // namespace ember::autograd
