// The IR's elementwise ops and the runtime kernels that compute them share their names; this maps
// one to the other (generated from ops.def), for the type rules and the interpreter.
#pragma once

#include "ember/ir/ops.h"
#include "ember/runtime/kernels.h"

namespace ember::ir {

inline kernels::UnaryOp kernel_unary(Op op) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_UNARY_OP(name, text, props) \
  case Op::name:                          \
    return kernels::UnaryOp::name;
#include "ember/ir/ops.def"
#undef EMBER_OP
    default:
      throw InternalError("kernel_unary: not a unary op");
  }
}

inline kernels::BinaryOp kernel_binary(Op op) {
  switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_BINARY_OP(name, text, props) \
  case Op::name:                           \
    return kernels::BinaryOp::name;
#include "ember/ir/ops.def"
#undef EMBER_OP
    default:
      throw InternalError("kernel_binary: not a binary op");
  }
}

}  // namespace ember::ir
