// The IR's elementwise ops and the runtime kernels that compute them share their names and their
// order: kernels::UnaryOp / BinaryOp list ops.def's unary / binary rows in the table's order (the
// eager-only unary kernels after them). This maps one to the other, for the type rules and the
// interpreter.
#pragma once

#include <array>

#include "ember/ir/ops.h"
#include "ember/runtime/kernels.h"

namespace ember::ir {

// Each op's position among the ops of its category (unary or binary) in ops.def; -1 for others.
inline constexpr std::array<int, kNumOps> kKernelIndex = [] {
  constexpr OpCategory categories[] = {
#define EMBER_OP(name, text, category, arity, props, attrs) OpCategory::category,
#include "ember/ir/ops.def"
#undef EMBER_OP
  };
  std::array<int, kNumOps> index{};
  int unary = 0, binary = 0;
  for (int i = 0; i < kNumOps; ++i)
    index[size_t(i)] = categories[i] == OpCategory::Unary    ? unary++
                       : categories[i] == OpCategory::Binary ? binary++
                                                             : -1;
  return index;
}();

inline kernels::UnaryOp kernel_unary(Op op) {
  EMBER_INTERNAL_ASSERT(op_category(op) == OpCategory::Unary, op_name(op), " is not unary");
  return kernels::UnaryOp(kKernelIndex[size_t(op)]);
}
inline kernels::BinaryOp kernel_binary(Op op) {
  EMBER_INTERNAL_ASSERT(op_category(op) == OpCategory::Binary, op_name(op), " is not binary");
  return kernels::BinaryOp(kKernelIndex[size_t(op)]);
}

static_assert(kernels::UnaryOp(kKernelIndex[size_t(Op::LogicalNot)]) ==
              kernels::UnaryOp::LogicalNot);
static_assert(kernels::BinaryOp(kKernelIndex[size_t(Op::LogicalOr)]) ==
              kernels::BinaryOp::LogicalOr);

}  // namespace ember::ir
