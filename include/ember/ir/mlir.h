// The graph in upstream MLIR 19 dialects: one `func.func` whose body is `linalg` on tensors
// (linalg.generic for the elementwise ops, broadcasts, reductions and gathers; linalg.matmul,
// batch_matmul, transpose, fill and the convolution and pooling ops), `tensor` (empty, dim,
// extract_slice, insert_slice, pad, collapse_shape, expand_shape), `arith`, `math`, and
// `cf.assert` for a guard. Symbolic dims print as `?`; the sizes they need come from
// `tensor.dim` of the inputs. The text verifies with mlir-opt and runs after the usual
// bufferization and lowering pipeline (one-shot-bufferize, convert-linalg-to-loops, ... to llvm).
//
// Arithmetic follows the interpreter: f16 and bf16 compute in f32 and round once per op (a
// reduction or matmul accumulates in f32 and rounds at the end), integer ops wrap, casts
// truncate toward zero, float max/min propagate NaN. Indices of gathers must be in range (as
// linalg's tensor.extract, the text does not check them).
#pragma once

#include <string>
#include <vector>

#include "ember/ir/graph.h"
#include "ember/runtime/array.h"

namespace ember::ir {

struct MlirOptions {
  // The values of the graph's param inputs, in their order: when given (one per param), they are
  // embedded as dense constants and the function takes the other inputs only; when empty, every
  // input is a function argument.
  std::vector<Array> params;
  // The function's argument names, one per argument (default: the graph's input names).
  std::vector<std::string> arg_names;
};

// ValueError naming the node (`%3 = argsort(%x) ...`) for an op with no form in these dialects
// (random ops, sorts, scans, index_add / index_copy, composites: run the decomposition first)
// and for a symbolic size no input dim is made of.
std::string to_mlir(const Graph& graph, const MlirOptions& options = {});

// An array's values as an MLIR dense elements attribute (`dense<"0x...">`, the raw little-endian
// bytes; booleans listed), for a tensor type of its dtype and shape.
std::string dense_literal(const Array& value);
// A dtype's MLIR element type: i1, i8, i32, i64, f16, bf16, f32, f64.
std::string mlir_element_type(DType dtype);

}  // namespace ember::ir
