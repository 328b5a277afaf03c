// The executable plan: what replaying a compiled graph runs. Built once from a fused graph, it
// holds the launch order of the compiled kernels, the library calls (matmul through OpenBLAS,
// its epilogue kernel run over each block of output rows while the block is in cache), the nodes
// no kernel covers (run one by one with the eager kernels: views, constants, pooling, gather,
// reductions the row form does not express) and the guards, with a slot per value that is
// released after its last use so intermediates return to the caching allocator early. Running it
// binds the symbols from the inputs' sizes (kernels are shape-generic) and touches no pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ember/codegen/llvm_backend.h"
#include "ember/ir/graph.h"
#include "ember/runtime/array.h"

namespace ember::codegen {

class ExecutablePlan {
 public:
  // `graph` has been through the pass pipeline (fused). Compiles every kernel the CPU backend
  // covers (through the kernel cache); EMBER_LOG=kernels prints each kernel's IR.
  explicit ExecutablePlan(std::shared_ptr<const ir::Graph> graph,
                          const KernelCacheOptions& cache = {});
  ~ExecutablePlan();
  ExecutablePlan(const ExecutablePlan&) = delete;
  ExecutablePlan& operator=(const ExecutablePlan&) = delete;

  // Runs on every graph input's array (params and generator states included), in the graph's
  // order, and returns the outputs. Throws ir::GuardFailure when a guard does not hold, and
  // ValueError when an input does not fit the graph's types.
  std::vector<Array> run(std::vector<Array> inputs) const;

  const ir::Graph& graph() const { return *graph_; }
  int num_kernels() const { return kernels_; }              // compiled by the backend
  int num_library_calls() const { return library_calls_; }  // matmul, conv2d
  int num_eager_nodes() const { return eager_nodes_; }      // run with the eager kernels
  // One line per step, for logs and tests.
  std::string describe() const;

  struct Step;

 private:
  // Checks the inputs against the graph's types and returns the symbols' values (what
  // ir::bind_symbols does, from tables built once).
  std::vector<int64_t> bind(const std::vector<Array>& inputs) const;

  struct InputType {
    DType dtype;
    ir::SymShape shape;
    bool is_static;
    Shape sizes;  // when static
  };
  std::shared_ptr<const ir::Graph> graph_;
  std::vector<InputType> input_types_;
  std::vector<std::pair<size_t, size_t>> symbol_sources_;  // (input, dim) that gives each symbol
  std::vector<Step> steps_;
  size_t num_slots_ = 0;
  std::vector<size_t> output_slots_;
  int kernels_ = 0, library_calls_ = 0, eager_nodes_ = 0;
};

}  // namespace ember::codegen
