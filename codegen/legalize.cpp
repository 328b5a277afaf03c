#include "ember/codegen/legalize.h"

#include <map>
#include <utility>

#include "ember/ir/ops.h"

namespace ember::codegen {
namespace {

using Expr = KernelIR::Expr;
using ir::Op;

bool is_16bit(DType d) { return d == DType::Float16 || d == DType::BFloat16; }

class Legalizer {
 public:
  explicit Legalizer(const KernelIR& in) : in_(in) {}

  KernelIR run() {
    KernelIR out = in_;
    out.exprs.clear();
    out_ = &out;
    std::vector<int> new_index(in_.exprs.size());
    for (size_t i = 0; i < in_.exprs.size(); ++i) {
      Expr e = in_.exprs[i];
      for (int& a : e.args) a = new_index[size_t(a)];
      new_index[i] = e.kind == KernelIR::ExprKind::Op ? op(std::move(e)) : add(std::move(e));
    }
    for (auto& [buffer, expr] : out.stores) expr = new_index[size_t(expr)];
    return out;
  }

 private:
  DType dtype_of(int e) const { return out_->exprs[size_t(e)].dtype; }
  int add(Expr e) {
    out_->exprs.push_back(std::move(e));
    return int(out_->exprs.size() - 1);
  }
  // x converted to dtype (x itself when it has it), at x's level; once per (x, dtype).
  int cast(int x, DType dtype) {
    if (dtype_of(x) == dtype) return x;
    const auto [it, added] = casts_.emplace(std::make_pair(x, dtype), 0);
    if (!added) return it->second;
    Expr c{};
    c.kind = KernelIR::ExprKind::Op;
    c.op = Op::Cast;
    c.dtype = dtype;
    c.args = {x};
    c.row_level = out_->exprs[size_t(x)].row_level;
    return it->second = add(std::move(c));
  }

  int op(Expr e) {
    if (e.op == Op::Cast) return add(std::move(e));
    const DType in = e.args.empty() ? e.dtype : dtype_of(e.args[0]);
    // Ops that are their operand on bools and integers.
    if (!is_floating(in) && (e.op == Op::Floor || e.op == Op::Ceil || e.op == Op::Round ||
                             (in == DType::Bool && e.op == Op::Abs))) {
      out_->exprs[size_t(e.args[0])].scratch |= e.scratch;  // read again later, as e was
      return e.args[0];
    }
    if (in == DType::Bool && e.dtype == DType::Bool) {
      if (e.op == Op::Add || e.op == Op::Maximum) e.op = Op::LogicalOr;
      if (e.op == Op::Mul || e.op == Op::Minimum) e.op = Op::LogicalAnd;
    }
    // Promotion: a floating result computes on operands of its dtype (where's condition stays).
    if (is_floating(e.dtype))
      for (size_t k = e.op == Op::Where ? 1 : 0; k < e.args.size(); ++k)
        if (!is_floating(dtype_of(e.args[k]))) e.args[k] = cast(e.args[k], e.dtype);
    if (!is_16bit(e.dtype)) return add(std::move(e));
    // A 16-bit result: computed in float32, then rounded by a cast back.
    const DType storage = e.dtype;
    const bool scratch = e.scratch;
    for (size_t k = e.op == Op::Where ? 1 : 0; k < e.args.size(); ++k)
      e.args[k] = cast(e.args[k], DType::Float32);
    e.dtype = DType::Float32;
    e.scratch = false;
    const int computed = add(std::move(e));
    const int rounded = cast(computed, storage);
    out_->exprs[size_t(rounded)].scratch = scratch;
    return rounded;
  }

  const KernelIR& in_;
  KernelIR* out_ = nullptr;
  std::map<std::pair<int, DType>, int> casts_;
};

}  // namespace

KernelIR legalize(const KernelIR& kernel) { return Legalizer(kernel).run(); }

bool backend_covers(ir::Op op, DType in, DType out) {
  if (op == Op::Where || op == Op::Cast || ir::has_property(op, ir::prop::Predicate)) return true;
  if (is_floating(out) || is_floating(in)) return true;
  if (in == DType::Bool) return false;
  switch (op) {
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Maximum:
    case Op::Minimum:
    case Op::Neg:
    case Op::Abs:
    case Op::Relu:
    case Op::Sign:
      return true;
    default:
      return false;
  }
}

std::optional<std::string> first_uncovered(const KernelIR& k, const char* backend) {
  for (const KernelIR::Expr& e : k.exprs) {
    if (e.kind != KernelIR::ExprKind::Op) continue;
    const DType in = e.args.empty() ? e.dtype : k.exprs[size_t(e.args[0])].dtype;
    if (!backend_covers(e.op, in, e.dtype))
      return std::string(ir::op_name(e.op)) + " on " + dtype_name(in) +
             " is not supported by the " + backend + " backend yet";
  }
  return std::nullopt;
}

}  // namespace ember::codegen
