// The shared state behind a Tensor handle, for the frontend's own files (tensor.cpp, autograd).
#pragma once

#include <memory>

#include "ember/frontend/tensor.h"
#include "ember/ir/graph.h"

namespace ember {

// A tracer tensor names its trace by id (the context may be gone by the time the handle is used)
// and keeps that trace's graph, which owns its value, alive; its array has sizes and strides but
// no storage. requires_grad is a leaf's own flag; a computed tensor requires grad through its
// grad_fn, the backward node that produced it. grad is what backward() accumulated into a leaf.
struct Tensor::Impl {
  Array array;
  bool requires_grad = false;
  uint64_t trace_id = 0;
  std::shared_ptr<const ir::Graph> graph;
  ir::Value* value = nullptr;
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;  // which of grad_fn's outputs this is
  Tensor grad;
};

}  // namespace ember
