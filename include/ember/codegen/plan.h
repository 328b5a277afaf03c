// Executable plans: what replaying a compiled graph runs.
//
// A Plan is plain data, built once from a fused graph (build_plan) and independent of any
// backend: the graph's input types and where each symbol's value comes from, then steps in
// launch order over numbered value slots. A step is a kernel (its kernel IR, whose canonical text
// is its cache key; elementwise, row, or a matmul whose epilogue kernel runs over each block of
// output rows while the block is in cache), or a node no kernel covers (an op and its attributes,
// run with the eager kernels: views, constants, library calls, pooling, guards). A kernel step
// carries the node steps that compute the same, for a backend that refuses the kernel. Each slot
// is released after its last reader, so intermediates return to the caching allocator early. A
// plan prints as text and serializes to bytes and back (deserialize checks every field).
//
// An ExecutablePlan loads a Plan: compiles (or finds in the kernel caches) each kernel, and runs
// the steps, binding the symbols from the inputs' sizes (kernels are shape-generic).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ember/codegen/kernel_ir.h"
#include "ember/codegen/llvm_backend.h"
#include "ember/ir/graph.h"
#include "ember/runtime/array.h"

namespace ember::codegen {

class Backend;

struct Plan {
  struct InputType {
    std::string name;  // the graph input's, for messages
    DType dtype;
    ir::SymShape shape;
  };
  struct Step {
    enum class Kind : uint8_t { Node, Elementwise, Rows, BlockedMatmul };
    Kind kind = Kind::Node;
    // Node: the op and its attributes; value_name names its result (or, for a guard, the value
    // it reads) in messages; group is the fusion group the node belongs to (-1: none).
    ir::Op op{};
    ir::Attrs attrs;
    std::string value_name;
    int group = -1;
    // Elementwise, Rows, BlockedMatmul: the kernel, its domain (Rows: the last `reduced` dims
    // are reduced), and for BlockedMatmul which epilogue input is the matmul's result.
    KernelIR kernel;
    ir::SymShape domain;
    int64_t reduced = 0;
    size_t matmul_input = 0;
    // Slots read (BlockedMatmul: the matmul's operands first) and written, with the written
    // values' types (kernel steps).
    std::vector<size_t> in, out;
    std::vector<DType> out_dtypes;
    std::vector<ir::SymShape> out_shapes;
    std::vector<size_t> release;  // slots whose last reader is this step
    // Kernel steps: node steps that compute the kernel's outputs when the backend refuses it,
    // and the slots they use inside (released when they are done).
    std::vector<Step> fallback;
    std::vector<size_t> fallback_release;
    std::string text;  // one line for logs and describe()
  };

  std::string name;
  std::vector<InputType> inputs;
  std::vector<std::pair<size_t, size_t>> symbol_sources;  // (input, dim) giving each symbol
  std::vector<Step> steps;
  size_t num_slots = 0;
  // Slots [0, top_level_slots) are those the top-level steps use; the rest only fallbacks use.
  size_t top_level_slots = 0;
  std::vector<size_t> outputs;  // slots returned, in order

  // The whole plan as text: inputs, each step with its slots, kernels by name and cache key.
  std::string print() const;
  // Bytes that deserialize() turns back into an equal plan (same print()).
  std::string serialize() const;
  // ValueError naming the field when the bytes are not a serialized plan of this version, are
  // truncated, or hold an out-of-range op, dtype, kind or slot.
  static Plan deserialize(std::string_view bytes);
};

// The plan of a graph that has been through the pass pipeline (fused). Groups that lowering
// cannot express become node steps; EMBER_LOG=kernels says why.
Plan build_plan(const ir::Graph& fused_graph);

class ExecutablePlan {
 public:
  // Compiles every kernel the CPU backend covers (through the kernel cache); a kernel it does
  // not cover or fails to compile runs as its node steps (EMBER_LOG=kernels says why; the
  // kernel's IR is printed there too).
  explicit ExecutablePlan(Plan plan, const KernelCacheOptions& cache = {});
  // The same with another backend's kernels (an exported model's loaded machine code).
  ExecutablePlan(Plan plan, Backend& backend, const KernelCacheOptions& cache = {});
  explicit ExecutablePlan(const ir::Graph& fused_graph, const KernelCacheOptions& cache = {})
      : ExecutablePlan(build_plan(fused_graph), cache) {}
  ~ExecutablePlan();
  ExecutablePlan(const ExecutablePlan&) = delete;
  ExecutablePlan& operator=(const ExecutablePlan&) = delete;

  // Runs on every graph input's array (params and generator states included), in the graph's
  // order, and returns the outputs. Throws ir::GuardFailure when a guard does not hold, and
  // ValueError when an input does not fit the plan's input types.
  std::vector<Array> run(std::vector<Array> inputs) const;

  const Plan& plan() const { return plan_; }
  int num_kernels() const { return kernels_; }              // compiled by the backend
  int num_library_calls() const { return library_calls_; }  // matmul, conv2d
  // Nodes of fused groups that run with the eager kernels instead (a group that did not lower),
  // each as describe() prints it, with the reason; and the views the plan makes (free: strides).
  int num_eager_nodes() const { return eager_nodes_; }
  const std::vector<std::string>& fallbacks() const { return fallbacks_; }
  int num_views() const { return views_; }
  // One line per step that runs, for logs and tests.
  std::string describe() const;

 private:
  // A node step with its attributes read once, when the plan loads: views, constants and guards
  // replay without looking up an attribute; other ops go through ir::evaluate.
  struct PreparedNode {
    enum class Kind : uint8_t { Evaluate, Reshape, Expand, Permute, Slice, Constant, Guard };
    Kind kind = Kind::Evaluate;
    ir::SymShape shape;  // Reshape, Expand, Constant
    Shape sizes;         // the same when static
    bool is_static = false;
    std::vector<int64_t> ints;  // Permute: dims; Slice: dim, step (its bounds: ir::slice_bounds)
    double number = 0;          // Constant: its value; Guard: the value it holds
    bool exact_int = false;     // Constant: number is an integer's exact value
    int64_t int_number = 0;
    DType dtype = DType::Float32;
  };
  PreparedNode prepare(const Plan::Step& s) const;
  std::vector<int64_t> bind(const std::vector<Array>& inputs) const;
  void run_node(const Plan::Step& s, const PreparedNode& p, std::vector<Array>& slots,
                const std::vector<int64_t>& bindings) const;

  Plan plan_;
  Backend& backend_;
  std::vector<bool> input_static_;
  std::vector<Shape> input_sizes_;  // of the static inputs
  // Per top-level step: its compiled kernel (null: a node step, or a kernel that runs its
  // fallback), and whether it runs at all (a constant every reader inlined does not).
  std::vector<std::shared_ptr<TieredKernel>> compiled_;
  std::vector<PreparedNode> prepared_;                        // per top-level step
  std::vector<std::vector<PreparedNode>> prepared_fallback_;  // per fallback step
  std::vector<bool> live_;
  std::vector<bool> gathers_;  // per step: its kernel gathers (bind_gathers before a launch)
  size_t slots_needed_ = 0;    // what a replay allocates: fallback slots only when one runs
  int kernels_ = 0, library_calls_ = 0, eager_nodes_ = 0, views_ = 0;
  std::vector<std::string> fallbacks_;
};

}  // namespace ember::codegen
