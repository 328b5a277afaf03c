// The op enum and its static properties, generated from ir/ops.def.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ember::ir {

enum class OpCategory : uint8_t {
  Unary,
  Binary,
  Ternary,
  Cast,
  Reduce,
  Movement,
  Matmul,
  Conv,
  Pool,
  Index,
  Random,
  Constant,
  Composite,
  Guard,
};

enum class Op : uint8_t {
#define EMBER_OP(name, text, category, arity) name,
#include "ember/ir/ops.def"
#undef EMBER_OP
};

inline constexpr int kNumOps = 0
#define EMBER_OP(name, text, category, arity) +1
#include "ember/ir/ops.def"
#undef EMBER_OP
    ;

std::string_view op_name(Op op);
OpCategory op_category(Op op);
int op_arity(Op op);  // -1: variadic
std::optional<Op> op_from_name(std::string_view name);

}  // namespace ember::ir
