// The kernel IR: what a fused kernel computes, independent of the backend that prints it. This
// first form covers elementwise kernels: a set of buffers (inputs read, outputs written through
// per-buffer strides, 0 for a broadcast) and a scalar expression DAG evaluated at every point of
// the iteration domain. Backends generate the inner loop over one run of the domain; the runtime's
// strided loop engine walks the outer dims and splits them across the thread pool.
#pragma once

#include <string>
#include <vector>

#include "ember/ir/graph.h"

namespace ember::codegen {

struct KernelIR {
  struct Buffer {
    DType dtype;
    bool output;
  };
  enum class ExprKind { Load, Constant, Op };
  struct Expr {
    ExprKind kind;
    DType dtype;            // the expression's value type
    int buffer = -1;        // Load: which buffer
    double value = 0;       // Constant
    ir::Op op{};            // Op: an elementwise IR op (unary, binary, where, cast)
    std::vector<int> args;  // Op: operand expressions
  };

  std::string name;
  std::vector<Buffer> buffers;
  std::vector<Expr> exprs;                  // operands before users
  std::vector<std::pair<int, int>> stores;  // (buffer, expression)

  // The canonical text of the kernel: its cache key and its log form.
  std::string text() const;
};

// The elementwise kernel of fusion group `group` of a fused graph: its inputs (values defined
// outside the group, constants inlined) and outputs (values read outside the group or returned).
// Throws Error naming the op when the group holds something this form cannot express.
struct LoweredKernel {
  KernelIR ir;
  std::vector<const ir::Value*> inputs;   // bound to the input buffers, in order
  std::vector<const ir::Value*> outputs;  // bound to the output buffers, in order
};
LoweredKernel lower_elementwise(const ir::Graph& graph, int group);

}  // namespace ember::codegen
