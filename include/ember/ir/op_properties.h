// The properties an op has in ops.def's property column, as flags. Passes, the runtime's kernels
// and (later) autograd and the backends ask these instead of keeping op lists of their own.
#pragma once

#include <cstdint>

namespace ember::ir::prop {

enum : uint32_t {
  None = 0,
  // Each output element reads only the same (broadcast) element of each operand: unary and
  // binary math, comparisons, where, cast.
  Elementwise = 1u << 0,
  // Costly per element (exp, log, pow, ...): fusion never duplicates one over a large tensor.
  Transcendental = 1u << 1,
  // op(a, b) == op(b, a).
  Commutative = 1u << 2,
  // Has a gradient with respect to its floating-point operands (a rule in autograd's table).
  Differentiable = 1u << 3,
  // Runs as a library call (BLAS; cuBLAS on GPUs), not as a generated kernel.
  Library = 1u << 4,
  // The result is bool whatever the operands' dtype (comparisons, logical ops).
  Predicate = 1u << 5,
  // Integer and bool operands compute in float32, and so does the result (exp of an int64 tensor,
  // true division).
  FloatResult = 1u << 6,
};

}  // namespace ember::ir::prop
