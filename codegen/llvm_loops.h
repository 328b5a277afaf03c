// The CPU backend's loops: the LLVM function of an elementwise kernel (a dense loop that the
// vectorizer takes and a strided one) and of a row kernel (per row: one pass over the columns per
// reduction, then the pass that writes). Loop bodies come from ExprEmitter (llvm_expr.h).
#pragma once

#include <llvm/IR/Module.h>

#include "ember/codegen/kernel_ir.h"

namespace ember::codegen::llvm_backend {

// void name(i8** buffers, i64* strides, i64 n), name being k.name.
void emit_kernel(llvm::Module& m, const KernelIR& k);
// void name(i8** buffers, i64* strides, i64 row_begin, i64 row_end, i64 cols).
void emit_row_kernel(llvm::Module& m, const KernelIR& k);

}  // namespace ember::codegen::llvm_backend
