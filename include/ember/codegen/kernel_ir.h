// The kernel IR: what a fused kernel computes, independent of the backend that prints it: a set of
// buffers (inputs read, outputs written through per-buffer strides, 0 for a broadcast) and a
// scalar expression DAG.
//
// Two forms. An elementwise kernel evaluates the DAG at every point of its domain; backends
// generate the inner loop over one run of the domain, and the runtime's strided loop engine walks
// the outer dims across the thread pool. A row kernel has a [rows, cols] domain and reduces along
// cols: each expression is row-level (one value per row: reductions, and what depends only on
// them) or element-level; for each row, every reduction makes one pass over the row, then one
// pass writes the element-level outputs (the normalization pattern: softmax, layer_norm).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/ir/graph.h"
#include "ember/runtime/shape.h"

namespace ember::codegen {

struct KernelIR {
  struct Buffer {
    DType dtype;
    bool output;
  };
  enum class ExprKind { Load, Constant, Op, Reduce };
  struct Expr {
    ExprKind kind;
    DType dtype;             // the expression's value type
    int buffer = -1;         // Load: which buffer
    double value = 0;        // Constant of a floating dtype
    int64_t int_value = 0;   // Constant of an integer or bool dtype: exact at any magnitude
    ir::Op op{};             // Op: an elementwise IR op; Reduce: reduce_sum/prod/max/min
    std::vector<int> args;   // Op, Reduce: operand expressions
    bool row_level = false;  // row kernels: one value per row
    // Row kernels: an element-level value a reduction pass computes and a later pass reads again;
    // the first pass keeps the row's values in a scratch row (a buffer the runner provides after
    // the kernel's buffers, 8 bytes per column), so the later pass reads instead of recomputing.
    bool scratch = false;
  };

  std::string name;
  bool rows = false;  // a row kernel
  std::vector<Buffer> buffers;
  std::vector<Expr> exprs;                  // operands before users
  std::vector<std::pair<int, int>> stores;  // (buffer, expression)

  // The canonical text of the kernel: its cache key and its log form.
  std::string text() const;
};

// The elementwise kernel of fusion group `group` of a fused graph (of a library call's group: its
// epilogue, which reads the call's result as an input): its inputs (values defined
// outside the group, constants inlined) and outputs (values read outside the group or returned).
// Throws Error naming the op when the group holds something this form cannot express. A movement
// op of a value from outside the group is not lowered: its result is an input (a view the runner
// makes first).
struct LoweredKernel {
  KernelIR ir;
  std::vector<const ir::Value*> inputs;   // bound to the input buffers, in order
  std::vector<const ir::Value*> outputs;  // bound to the output buffers, in order
};
LoweredKernel lower_elementwise(const ir::Graph& graph, int group);

// The row kernel of a fusion group whose reductions all reduce the trailing dims of one input
// shape (softmax, log_softmax, layer_norm, RMSNorm, sums over the last dims). `domain` is that
// input shape (symbolic dims are bound at run time) and `reduced` how many trailing dims are
// reduced.
struct LoweredRowKernel {
  KernelIR ir;
  std::vector<const ir::Value*> inputs, outputs;
  ir::SymShape domain;
  int64_t reduced = 0;
};
LoweredRowKernel lower_rows(const ir::Graph& graph, int group);

}  // namespace ember::codegen
