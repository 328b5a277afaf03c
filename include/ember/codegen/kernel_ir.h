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
//
// Elementwise kernels also gather (index_select, gather, the embedding lookup): a Gather
// expression reads its table buffer at the current point with one dim's coordinate replaced by
// its index operand's value. The table buffer is bound to a view of the table's first entry
// along that dim (bind_gathers below), so the kernel adds index * the table's stride there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/ir/graph.h"
#include "ember/runtime/array.h"
#include "ember/runtime/shape.h"

namespace ember::codegen {

struct KernelIR {
  struct Buffer {
    DType dtype;
    bool output;
  };
  enum class ExprKind { Load, Constant, Op, Reduce, Gather };
  struct Expr {
    ExprKind kind;
    DType dtype;             // the expression's value type
    int buffer = -1;         // Load, Gather: which buffer (Gather: the table)
    double value = 0;        // Constant of a floating dtype
    int64_t int_value = 0;   // Constant of an integer or bool dtype: exact at any magnitude;
                             // Gather: the table's element stride along the gathered dim
    ir::Op op{};             // Op: an elementwise IR op; Reduce: reduce_sum/prod/max/min;
                             // Gather: index_select or gather (how bind_gathers lines up)
    int dim = -1;            // Gather: the table dim the index replaces
    std::vector<int> args;   // Op, Reduce: operand expressions; Gather: the index (a load)
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

// The buffers an elementwise kernel with gathers runs on: each index is checked against its
// table (IndexError naming the op, the index and the dim, as eager raises it); each table is
// replaced by a view of its first entry along the gathered dim (narrowed to the index's sizes
// for gather; a copy first when its stride there is not the kernel's), and a 1-D index_select
// index by a view lined up with the table's dim. `bound` (one per kernel buffer) starts as the
// buffers and gets the views; `keep` holds the views made (reserved here: the pointers stay
// valid).
void bind_gathers(const KernelIR& kernel, const Array** bound, std::vector<Array>& keep);

// How the buffers of every backend's launch line up with its domain.
// Byte strides of `a` over `domain` (right-aligned, as broadcasting; 0 where it broadcasts).
void broadcast_strides(const Array& a, IntArrayRef domain, int64_t* out);
// A row kernel's buffers over a [rows, cols] view of its domain (the last `reduced` dims the
// columns): each buffer's (row, column) byte strides, buffer-major, and the arrays to bind
// (`bound`: the buffers, or dense copies of inputs whose dims do not fold or whose columns are
// not contiguous, held in `dense`). A row-level output without the reduced dims lines up with
// the leading dims.
struct RowBinding {
  int64_t rows = 1, cols = 1;
  std::vector<int64_t> strides;
  std::vector<const Array*> bound;
  std::vector<Array> dense;
};
RowBinding bind_rows(const KernelIR& kernel, const Array* const* buffers, size_t num_buffers,
                     IntArrayRef domain, int64_t reduced);

}  // namespace ember::codegen
