#include <sstream>
#include <unordered_map>

#include "ember/codegen/kernel_ir.h"

namespace ember::codegen {

std::string KernelIR::text() const {
  std::ostringstream os;
  os << "kernel " << name << " (";
  for (size_t b = 0; b < buffers.size(); ++b)
    os << (b ? ", " : "") << (buffers[b].output ? "out " : "in ")
       << ir::dtype_short_name(buffers[b].dtype);
  os << ") {\n";
  for (size_t i = 0; i < exprs.size(); ++i) {
    const Expr& e = exprs[i];
    os << "  e" << i << ": " << ir::dtype_short_name(e.dtype) << " = ";
    switch (e.kind) {
      case ExprKind::Load:
        os << "load b" << e.buffer;
        break;
      case ExprKind::Constant:
        os << "const " << std::hexfloat << e.value << std::defaultfloat;
        break;
      case ExprKind::Op:
        os << ir::op_name(e.op);
        for (int a : e.args) os << " e" << a;
        break;
    }
    os << '\n';
  }
  for (const auto& [b, e] : stores) os << "  store b" << b << " e" << e << '\n';
  os << "}\n";
  return os.str();
}

LoweredKernel lower_elementwise(const ir::Graph& g, int group) {
  LoweredKernel k;
  k.ir.name = "k" + std::to_string(group);
  std::unordered_map<const ir::Value*, int> expr_of;
  std::vector<const ir::Node*> nodes;
  for (const auto& n : g.nodes())
    if (n->group == group) nodes.push_back(n.get());
  EMBER_CHECK(!nodes.empty(), Error, "lower: kernel k", group, " has no nodes");
  const ir::SymShape& domain = nodes.back()->output->shape;
  auto operand = [&](const ir::Value* v) -> int {
    if (auto it = expr_of.find(v); it != expr_of.end()) return it->second;
    KernelIR::Expr e{};
    e.dtype = v->dtype;
    if (v->producer && v->producer->op == ir::Op::Constant) {
      e.kind = KernelIR::ExprKind::Constant;
      e.value = v->producer->attrs.get_float("value");
    } else {
      e.kind = KernelIR::ExprKind::Load;
      e.buffer = int(k.ir.buffers.size());
      k.ir.buffers.push_back({v->dtype, false});
      k.inputs.push_back(v);
    }
    k.ir.exprs.push_back(e);
    return expr_of[v] = int(k.ir.exprs.size()) - 1;
  };
  for (const ir::Node* n : nodes) {
    switch (ir::op_category(n->op)) {
      case ir::OpCategory::Unary:
      case ir::OpCategory::Binary:
      case ir::OpCategory::Ternary:
      case ir::OpCategory::Cast:
        break;
      default:
        throw Error("lower: " + std::string(ir::op_name(n->op)) +
                    " is not an elementwise op; this kernel form covers elementwise kernels only");
    }
    KernelIR::Expr e{};
    e.kind = KernelIR::ExprKind::Op;
    e.op = n->op;
    e.dtype = n->output->dtype;
    for (const ir::Value* in : n->inputs) e.args.push_back(operand(in));
    k.ir.exprs.push_back(e);
    expr_of[n->output] = int(k.ir.exprs.size()) - 1;
  }
  // Outputs: results read outside the kernel or returned.
  for (const ir::Node* n : nodes) {
    bool escapes =
        std::find(g.outputs().begin(), g.outputs().end(), n->output) != g.outputs().end();
    for (const auto& m : g.nodes())
      if (m->group != group)
        for (const ir::Value* v : m->inputs) escapes |= v == n->output;
    if (!escapes) continue;
    EMBER_CHECK(n->output->shape == domain, Error, "lower: kernel k", group, " writes %",
                n->output->name, " of shape ", ir::shape_text(n->output->shape),
                " besides its domain ", ir::shape_text(domain), "; not supported yet");
    k.ir.stores.push_back({int(k.ir.buffers.size()), expr_of[n->output]});
    k.ir.buffers.push_back({n->output->dtype, true});
    k.outputs.push_back(n->output);
  }
  return k;
}

}  // namespace ember::codegen
