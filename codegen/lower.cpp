#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "ember/codegen/kernel_ir.h"
#include "ember/codegen/legalize.h"

namespace ember::codegen {

namespace {

// What both kernel forms share while lowering a group: its nodes, its operands (constants
// inlined, everything else a load from an input buffer, each once), and which of its results
// leave it.
struct GroupLowering {
  const ir::Graph& g;
  int group;
  KernelIR& ir;
  std::vector<const ir::Value*>& inputs;
  std::unordered_map<const ir::Value*, int> expr_of;

  // The group's nodes; in a library call's group (matmul, conv2d), its epilogue.
  std::vector<const ir::Node*> nodes() const {
    std::vector<const ir::Node*> out;
    for (const auto& n : g.nodes())
      if (n->group == group && n->op != ir::Op::Matmul && n->op != ir::Op::Conv2d)
        out.push_back(n.get());
    EMBER_CHECK(!out.empty(), Error, "lower: kernel k", group, " has no nodes");
    return out;
  }
  // The expression of v; a new load when v comes from outside. row_level: of a new load.
  int operand(const ir::Value* v, bool row_level = false) {
    if (auto it = expr_of.find(v); it != expr_of.end()) return it->second;
    KernelIR::Expr e{};
    e.dtype = v->dtype;
    if (v->producer && v->producer->op == ir::Op::Constant) {
      e.kind = KernelIR::ExprKind::Constant;
      e.value = v->producer->attrs.get_float(ir::Attr::Value);
      // Integer dtypes: the exact value when the attribute is an integer, else the float's
      // truncation (as a cast would give it; 0 for NaN and beyond int64).
      if (const int64_t* exact = std::get_if<int64_t>(&v->producer->attrs.get(ir::Attr::Value)))
        e.int_value = *exact;
      else if (e.value > -9.2e18 && e.value < 9.2e18)
        e.int_value = int64_t(e.value);
      if (e.dtype == DType::Bool) e.int_value = e.value != 0;
      e.row_level = true;
    } else {
      e.kind = KernelIR::ExprKind::Load;
      e.buffer = int(ir.buffers.size());
      e.row_level = row_level;
      ir.buffers.push_back({v->dtype, false});
      inputs.push_back(v);
    }
    return define(v, e);
  }
  int define(const ir::Value* v, const KernelIR::Expr& e) {
    ir.exprs.push_back(e);
    return expr_of[v] = int(ir.exprs.size()) - 1;
  }
  // Read by another kernel, or returned.
  bool escapes(const ir::Value* v) const {
    if (std::find(g.outputs().begin(), g.outputs().end(), v) != g.outputs().end()) return true;
    for (const auto& m : g.nodes())
      if (m->group != group)
        for (const ir::Value* in : m->inputs)
          if (in == v) return true;
    return false;
  }
  // A movement op (reshape, permute, expand, slice) of a value from outside the group: a view
  // the runner makes before the kernel, which then loads it as an input (its strides do the
  // indexing), or of such a view. A movement of a value the group computes would need index
  // arithmetic. (Whether the kernel also loads the value itself does not matter.)
  bool is_view(const ir::Node& n) const {
    const bool movement = n.op == ir::Op::Reshape || n.op == ir::Op::Permute ||
                          n.op == ir::Op::Expand || n.op == ir::Op::Slice;
    if (!movement) return false;
    const ir::Node* p = n.inputs[0]->producer;
    return !p || p->group != group || is_view(*p);
  }
  // Whether v is computed by the group (not an input, a constant, or a view of an input).
  bool computed_here(const ir::Value* v) const {
    const ir::Node* p = v->producer;
    return p && p->group == group && !is_view(*p);
  }
  // index_select(table, dim, index) or gather(table, dim, index) as a Gather expression. The
  // table and the index are inputs of their own (bind_gathers makes views of them), read from
  // memory: neither may be computed in the kernel.
  void gather(const ir::Node& n) {
    const ir::Value* table = n.inputs[0];
    const ir::Value* index = n.inputs[1];
    const std::string op(ir::op_name(n.op));
    EMBER_CHECK(!computed_here(table) && !computed_here(index), Error, "lower: ", op, " -> %",
                n.output->name, " gathers from a value kernel k", group,
                " computes; a gather reads its table and index from memory");
    EMBER_CHECK(table->rank() > 0 && !(index->producer && index->producer->op == ir::Op::Constant),
                Error, "lower: ", op, " of a 0-dim table or a constant index");
    int64_t dim = n.attrs.get_int(ir::Attr::Dim);
    if (dim < 0) dim += table->rank();
    int64_t stride = 1;
    for (int64_t k = dim + 1; k < table->rank(); ++k) {
      EMBER_CHECK(table->shape[size_t(k)].is_constant(), Error, "lower: ", op, " -> %",
                  n.output->name, ": the table's size ", table->shape[size_t(k)].str(),
                  " after the gathered dim is symbolic");
      stride *= table->shape[size_t(k)].value();
    }
    KernelIR::Expr idx{};
    idx.kind = KernelIR::ExprKind::Load;
    idx.dtype = index->dtype;
    idx.buffer = int(ir.buffers.size());
    ir.buffers.push_back({index->dtype, false});
    inputs.push_back(index);
    ir.exprs.push_back(idx);  // not shared: its buffer may be bound to a view of the index
    KernelIR::Expr e{};
    e.kind = KernelIR::ExprKind::Gather;
    e.dtype = n.output->dtype;
    e.op = n.op;
    e.dim = int(dim);
    e.int_value = stride;
    e.args = {int(ir.exprs.size()) - 1};
    e.buffer = int(ir.buffers.size());
    ir.buffers.push_back({table->dtype, false});
    inputs.push_back(table);
    define(n.output, e);
  }
  void store(const ir::Value* v, std::vector<const ir::Value*>& outputs) {
    ir.stores.push_back({int(ir.buffers.size()), expr_of.at(v)});
    ir.buffers.push_back({v->dtype, true});
    outputs.push_back(v);
  }
};

}  // namespace

LoweredKernel lower_elementwise(const ir::Graph& g, int group) {
  LoweredKernel k;
  k.ir.name = "k" + std::to_string(group);
  GroupLowering lower{g, group, k.ir, k.inputs, {}};
  const std::vector<const ir::Node*> nodes = lower.nodes();
  const ir::SymShape& domain = nodes.back()->output->shape;
  for (const ir::Node* n : nodes) {
    if (lower.is_view(*n)) continue;
    if (n->op == ir::Op::IndexSelect || n->op == ir::Op::Gather) {
      lower.gather(*n);
      continue;
    }
    if (!ir::is_elementwise(n->op))
      throw Error("lower: " + std::string(ir::op_name(n->op)) +
                  " is not an elementwise op; this kernel form covers elementwise kernels only");
    KernelIR::Expr e{};
    e.kind = KernelIR::ExprKind::Op;
    e.op = n->op;
    e.dtype = n->output->dtype;
    for (const ir::Value* in : n->inputs) e.args.push_back(lower.operand(in));
    lower.define(n->output, e);
  }
  // Outputs: results read outside the kernel or returned.
  for (const ir::Node* n : nodes) {
    // A view's value is the view step's (made before the kernel), not a store of its load.
    if (lower.is_view(*n) || !lower.expr_of.count(n->output) || !lower.escapes(n->output)) continue;
    EMBER_CHECK(n->output->shape == domain, Error, "lower: kernel k", group, " writes %",
                n->output->name, " of shape ", ir::shape_text(n->output->shape),
                " besides its domain ", ir::shape_text(domain), "; not supported yet");
    lower.store(n->output, k.outputs);
  }
  EMBER_CHECK(!k.outputs.empty(), Error, "lower: kernel k", group,
              " computes nothing (its nodes are views)");
  k.ir = legalize(k.ir);
  return k;
}

LoweredRowKernel lower_rows(const ir::Graph& g, int group) {
  LoweredRowKernel k;
  k.ir.name = "k" + std::to_string(group);
  k.ir.rows = true;
  GroupLowering lower{g, group, k.ir, k.inputs, {}};
  const std::vector<const ir::Node*> nodes = lower.nodes();
  // The one reduction signature: its input shape and trailing reduced dims.
  const ir::Node* first = nullptr;
  for (const ir::Node* n : nodes)
    if (ir::is_reduction(n->op)) {
      first = n;
      break;
    }
  EMBER_CHECK(first != nullptr, Error, "lower_rows: kernel k", group, " has no reduction");
  const ir::SymShape& shape = first->inputs[0]->shape;
  const std::vector<int64_t> axes = ir::reduced_axes(*first);
  const int64_t rank = int64_t(shape.size());
  for (size_t i = 0; i < axes.size(); ++i)
    EMBER_CHECK(axes[i] == rank - int64_t(axes.size()) + int64_t(i), Error, "lower_rows: kernel k",
                group, " reduces dims that are not the trailing ones");
  k.domain = shape;
  k.reduced = int64_t(axes.size());
  // An input is row-level when, right-aligned to the domain (broadcasting), it is 1 or absent in
  // every reduced dim.
  auto row_level_shape = [&](const ir::SymShape& s) {
    for (int64_t i = 0; i < k.reduced; ++i) {
      const int64_t d = int64_t(s.size()) - 1 - i;
      if (d >= 0 && !(s[size_t(d)] == ir::SymInt(1))) return false;
    }
    return true;
  };
  auto operand = [&](const ir::Value* v) { return lower.operand(v, row_level_shape(v->shape)); };
  for (const ir::Node* n : nodes) {
    if (lower.is_view(*n)) continue;
    KernelIR::Expr e{};
    e.dtype = n->output->dtype;
    e.op = n->op;
    if (ir::is_reduction(n->op)) {
      EMBER_CHECK(n->op != ir::Op::ArgMax && n->op != ir::Op::ArgMin, Error,
                  "lower_rows: ", ir::op_name(n->op), " is not supported yet");
      EMBER_CHECK(n->inputs[0]->shape == shape && ir::reduced_axes(*n) == axes, Error,
                  "lower_rows: kernel k", group, " has reductions of different signatures");
      e.kind = KernelIR::ExprKind::Reduce;
      e.row_level = true;
      const int arg = operand(n->inputs[0]);
      EMBER_CHECK(!k.ir.exprs[size_t(arg)].row_level, Error,
                  "lower_rows: a reduction over a row-level value");
      e.args.push_back(arg);
    } else if (ir::is_elementwise(n->op)) {
      e.kind = KernelIR::ExprKind::Op;
      e.row_level = true;
      for (const ir::Value* in : n->inputs) {
        const int a = operand(in);
        e.args.push_back(a);
        e.row_level &= k.ir.exprs[size_t(a)].row_level;
      }
      // x / r with r one value per row: x * (1 / r), the reciprocal once per row (what the
      // eager softmax does; a division per element would bound the kernel).
      if (n->op == ir::Op::Div && is_floating(e.dtype) && !e.row_level &&
          k.ir.exprs[size_t(e.args[1])].row_level) {
        KernelIR::Expr r{};
        r.kind = KernelIR::ExprKind::Op;
        r.op = ir::Op::Reciprocal;
        r.dtype = e.dtype;
        r.row_level = true;
        r.args = {e.args[1]};
        k.ir.exprs.push_back(r);
        e.op = ir::Op::Mul;
        e.args[1] = int(k.ir.exprs.size()) - 1;
      }
    } else {
      throw Error("lower_rows: " + std::string(ir::op_name(n->op)) +
                  " is not supported in a row kernel yet");
    }
    lower.define(n->output, e);
  }
  for (const ir::Node* n : nodes) {
    // A view's value is the view step's (made before the kernel), not a store of its load.
    if (lower.is_view(*n) || !lower.expr_of.count(n->output) || !lower.escapes(n->output)) continue;
    const bool row = k.ir.exprs[size_t(lower.expr_of.at(n->output))].row_level;
    EMBER_CHECK(row || n->output->shape == shape, Error, "lower_rows: output %", n->output->name,
                " is neither per row nor per element");
    // The runner lines a row output up with the domain's leading dims when it lacks the reduced
    // ones (keepdim=false), and right-aligned otherwise; a lower-rank broadcast row value that
    // is neither (b * 2 for b[4, 1] in a [2, 4, 4] domain) is left to eager.
    const ir::SymShape leading(shape.begin(), shape.end() - k.reduced);
    ir::SymShape keep = leading;
    keep.resize(shape.size(), ir::SymInt(1));
    EMBER_CHECK(!row || n->output->shape == keep || n->output->shape == leading, Error,
                "lower_rows: row output %", n->output->name, " of shape ",
                ir::shape_text(n->output->shape), " lines up with neither the domain ",
                ir::shape_text(shape), " nor its rows");
    lower.store(n->output, k.outputs);
  }
  // Element-level operands of reductions that something else reads too: kept in scratch rows.
  for (size_t r = 0; r < k.ir.exprs.size(); ++r) {
    if (k.ir.exprs[r].kind != KernelIR::ExprKind::Reduce) continue;
    const int a = k.ir.exprs[r].args[0];
    if (k.ir.exprs[size_t(a)].kind != KernelIR::ExprKind::Op) continue;
    bool reused = false;
    for (size_t u = 0; u < k.ir.exprs.size(); ++u)
      if (u != r)
        for (int arg : k.ir.exprs[u].args) reused |= arg == a;
    for (const auto& [buf, e] : k.ir.stores) reused |= e == a;
    k.ir.exprs[size_t(a)].scratch |= reused;
  }
  k.ir = legalize(k.ir);
  return k;
}

}  // namespace ember::codegen
