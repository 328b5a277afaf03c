// Legalization: the kernel IR's scalar semantics made explicit, once, so that a backend only
// prints. After it:
// - an op whose result is floating computes on operands of that dtype (exp of an int64 value and
//   true division of integers read Casts to float32, as PyTorch promotes);
// - 16-bit floats are storage and rounding only: an op with a float16/bfloat16 result computes
//   in float32 on operands cast to float32 and is followed by a Cast back, which rounds (the
//   eager kernels round after every op too);
// - bool and integer ops mean what they say: + and max of bools are logical_or, * and min are
//   logical_and, abs/floor/ceil/round of a bool (and floor/ceil/round of an integer) are the
//   operand itself.
// What remains for a backend: each op on its operands' dtype, casts (float to integer truncates
// and saturates, NaN gives 0, as LLVM's fptosi.sat and PTX's cvt.rzi do; integers wrap; a
// Cast to a 16-bit float rounds to nearest even), loads, stores and reductions, which accumulate in
// reduce_accumulator's dtype from the reduction's identity. The float32 exp/tanh/erf a CPU backend
// expands come from runtime/polynomials.h, the eager kernels' coefficients; a GPU backend may use
// its device library's functions instead (they differ in the last ulp, as eager CPU and CUDA do).
#pragma once

#include <optional>
#include <string>

#include "ember/codegen/kernel_ir.h"

namespace ember::codegen {

KernelIR legalize(const KernelIR& kernel);

// The dtype a reduction accumulates input values in: float sums and products in float64, integer
// ones in int64 (as the eager kernels do), max and min in the input's dtype.
inline DType reduce_accumulator(ir::Op op, DType input) {
  if (op == ir::Op::ReduceSum || op == ir::Op::ReduceProd)
    return is_floating(input) ? DType::Float64 : DType::Int64;
  return input;
}

// Whether the backends (LLVM and CUDA C print the same op set) cover op computing on `in` with
// result `out`, in a legalized kernel (bool arithmetic is logical there, and floor/ceil/round of
// integers gone). Floats: every op; integers: the ops that wrap or compare.
bool backend_covers(ir::Op op, DType in, DType out);

// The first expression of a legalized kernel the backends do not cover, in words ("pow on int64
// is not supported by the <backend> backend yet"), or nullopt.
std::optional<std::string> first_uncovered(const KernelIR& kernel, const char* backend);

}  // namespace ember::codegen
