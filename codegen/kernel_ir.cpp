// KernelIR's canonical text: what the kernel caches key on and logs print.
#include <sstream>

#include "ember/codegen/kernel_ir.h"

namespace ember::codegen {

std::string KernelIR::text() const {
  std::ostringstream os;
  os << (rows ? "row kernel " : "kernel ") << name << " (";
  for (size_t b = 0; b < buffers.size(); ++b)
    os << (b ? ", " : "") << (buffers[b].output ? "out " : "in ")
       << ir::dtype_short_name(buffers[b].dtype);
  os << ") {\n";
  for (size_t i = 0; i < exprs.size(); ++i) {
    const Expr& e = exprs[i];
    os << "  e" << i << ": " << (e.row_level ? "row " : "") << (e.scratch ? "scratch " : "")
       << ir::dtype_short_name(e.dtype) << " = ";
    switch (e.kind) {
      case ExprKind::Load:
        os << "load b" << e.buffer;
        break;
      case ExprKind::Constant:
        if (is_floating(e.dtype))
          os << "const " << std::hexfloat << e.value << std::defaultfloat;
        else
          os << "const " << e.int_value;
        break;
      case ExprKind::Op:
      case ExprKind::Reduce:
        os << (e.kind == ExprKind::Reduce ? "reduce " : "") << ir::op_name(e.op);
        for (int a : e.args) os << " e" << a;
        break;
      case ExprKind::Gather:
        os << ir::op_name(e.op) << " b" << e.buffer << " dim " << e.dim << " stride " << e.int_value
           << " e" << e.args[0];
        break;
    }
    os << '\n';
  }
  for (const auto& [b, e] : stores) os << "  store b" << b << " e" << e << '\n';
  os << "}\n";
  return os.str();
}

}  // namespace ember::codegen
