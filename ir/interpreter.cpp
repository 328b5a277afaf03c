#include "ember/ir/interpreter.h"

#include <cmath>
#include <unordered_map>

#include "ember/runtime/kernels.h"
#include "ir/kernel_map.h"

namespace ember::ir {
namespace {

using kernels::ReduceOp;

// Evaluates one op on its operands' values with the eager kernels: what the interpreter runs per
// node, and what eager Tensor ops run (frontend/dispatch.cpp), so the two cannot differ.
class OpEvaluator {
 public:
  OpEvaluator(const Array* const* operands, size_t num_operands,
              const std::vector<int64_t>& bindings)
      : operands_(operands), num_operands_(num_operands), bindings_(bindings) {}

  Array eval(Op op, const Attrs& a) {
    Array r;
    switch (op_category(op)) {
      case OpCategory::Unary:
        r = kernels::unary(kernel_unary(op), in(0));
        break;
      case OpCategory::Binary:
        r = kernels::binary(kernel_binary(op), in(0), in(1));
        break;
      case OpCategory::Ternary:
        r = kernels::where(in(0), in(1), in(2));
        break;
      case OpCategory::Cast:
        r = kernels::cast(in(0), a.get_dtype(ir::Attr::DType));
        break;
      case OpCategory::Reduce:
        r = reduce(op, a);
        break;
      case OpCategory::Movement:
        r = movement(op, a);
        break;
      case OpCategory::Matmul:
        r = kernels::matmul(in(0), in(1));
        break;
      case OpCategory::Conv: {
        kernels::Conv2dParams p;
        p.stride = pair(a.get_ints(ir::Attr::Stride));
        p.padding = pair(a.get_ints(ir::Attr::Padding));
        p.dilation = pair(a.get_ints(ir::Attr::Dilation));
        p.groups = a.get_int(ir::Attr::Groups);
        r = kernels::conv2d(in(0), in(1), num_operands_ > 2 ? &in(2) : nullptr, p);
        break;
      }
      case OpCategory::Pool: {
        kernels::Pool2dParams p;
        p.kernel = pair(a.get_ints(ir::Attr::Kernel));
        p.stride = pair(a.get_ints(ir::Attr::Stride));
        p.padding = pair(a.get_ints(ir::Attr::Padding));
        p.ceil_mode = a.get_bool(ir::Attr::CeilMode);
        if (op == Op::MaxPool2d) {
          p.dilation = pair(a.get_ints(ir::Attr::Dilation));
          r = kernels::max_pool2d(in(0), p);
        } else {
          p.count_include_pad = a.get_bool(ir::Attr::CountIncludePad);
          r = kernels::avg_pool2d(in(0), p);
        }
        break;
      }
      case OpCategory::Index:
        r = op == Op::Gather        ? kernels::gather(in(0), a.get_int(ir::Attr::Dim), in(1))
            : op == Op::IndexSelect ? kernels::index_select(in(0), a.get_int(ir::Attr::Dim), in(1))
            : op == Op::IndexAdd
                ? kernels::index_add(in(0), a.get_int(ir::Attr::Dim), in(1), in(2))
                : kernels::index_copy(in(0), a.get_int(ir::Attr::Dim), in(1), in(2));
        break;
      case OpCategory::Scan:
        r = kernels::cumsum(in(0), a.get_int(ir::Attr::Dim));
        break;
      case OpCategory::Sort:
        r = op == Op::Argsort
                ? kernels::argsort(in(0), a.get_int(ir::Attr::Dim),
                                   a.get_bool(ir::Attr::Descending))
                : kernels::topk(in(0), a.get_int(ir::Attr::K), a.get_int(ir::Attr::Dim),
                                a.get_bool(ir::Attr::Largest));
        break;
      case OpCategory::Random: {
        const kernels::RngState state{uint64_t(*in(0).data_as<int64_t>()),
                                      uint64_t(*in(1).data_as<int64_t>())};
        const Shape shape = concrete(a.get_list(ir::Attr::Shape));
        r = op == Op::RandUniform
                ? kernels::rand_uniform(state, shape, a.get_dtype(ir::Attr::DType))
                : kernels::rand_normal(state, shape, a.get_dtype(ir::Attr::DType));
        break;
      }
      case OpCategory::Constant:
        r = constant(op, a);
        break;
      case OpCategory::Composite:
        r = composite(op, a);
        break;
      case OpCategory::Guard:
        check_guard(in(0), a, "");
        break;
    }
    return r;
  }

 private:
  Shape concrete(const std::vector<SymInt>& dims) const {
    Shape out;
    for (const SymInt& d : dims) out.push_back(d.evaluate(bindings_));
    return out;
  }
  const Array& in(size_t i) const { return *operands_[i]; }

  static std::array<int64_t, 2> pair(const std::vector<int64_t>& v) { return {v.at(0), v.at(1)}; }

  Array reduce(Op op, const Attrs& a) {
    const Array& x = in(0);
    const auto dims = a.get_ints(ir::Attr::Dims);
    const bool keepdim = a.get_bool(ir::Attr::Keepdim);
    switch (op) {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_REDUCE_OP(name, kernel, text) \
  case Op::name:                            \
    return kernels::reduce(ReduceOp::kernel, x, dims, keepdim);
#include "ember/ir/ops.def"
#undef EMBER_OP
      default: {
        std::optional<int64_t> dim;
        if (!dims.empty()) dim = dims[0];
        return kernels::arg_reduce(op == Op::ArgMax, x, dim, keepdim);
      }
    }
  }

  Array movement(Op op, const Attrs& a) {
    const Array& x = in(0);
    switch (op) {
      case Op::Reshape:
        return kernels::reshape(x, concrete(a.get_list(ir::Attr::Shape)));
      case Op::Permute:
        return kernels::permute(x, a.get_ints(ir::Attr::Dims));
      case Op::Expand:
        return kernels::expand(x, concrete(a.get_list(ir::Attr::Shape)));
      case Op::Slice: {
        const int64_t dim = wrap_dim(a.get_int(ir::Attr::Dim), x.dim(), "slice");
        const auto [start, end] = slice_bounds(a, x.size(dim), bindings_);
        return kernels::slice(x, dim, start, end, a.get_int(ir::Attr::Step));
      }
      case Op::Pad: {
        std::vector<int64_t> pads;
        for (const ir::SymInt& p : a.get_list(ir::Attr::Pads)) {
          pads.push_back(p.evaluate(bindings_));
          if (pads.back() < 0) throw GuardFailure("pad: a symbolic padding is negative here");
        }
        Shape shape = x.sizes();
        for (size_t p = 0; p < pads.size() / 2; ++p)
          shape[size_t(x.dim() - 1 - int64_t(p))] += pads[2 * p] + pads[2 * p + 1];
        Array out = kernels::full(shape, a.get_float(ir::Attr::Value), x.dtype());
        Array interior = out;
        for (size_t p = 0; p < pads.size() / 2; ++p) {
          const int64_t d = x.dim() - 1 - int64_t(p);
          interior = kernels::narrow(interior, d, pads[2 * p], x.size(d));
        }
        kernels::copy_into(interior, x);
        return out;
      }
      case Op::Concat: {
        std::vector<Array> parts;
        for (size_t i = 0; i < num_operands_; ++i) parts.push_back(in(i));
        return kernels::cat(parts, a.get_int(ir::Attr::Dim));
      }
      default:
        throw InternalError("interpret: unknown movement op");
    }
  }

  // Composites run the eager fused kernels.
  Array composite(Op op, const Attrs& a) {
    const Array& x = in(0);
    switch (op) {
      case Op::Gelu:
        return kernels::unary(
            a.get_bool(ir::Attr::Approximate) ? kernels::UnaryOp::GeluTanh : kernels::UnaryOp::Gelu,
            x);
      case Op::Silu:
        return kernels::unary(kernels::UnaryOp::Silu, x);
      case Op::Softmax:
        return kernels::softmax(x, a.get_int(ir::Attr::Dim));
      case Op::LogSoftmax:
        return kernels::log_softmax(x, a.get_int(ir::Attr::Dim));
      case Op::LayerNorm: {
        const int64_t nd = a.get_int(ir::Attr::Ndims);
        const Shape trailing(x.sizes().end() - nd, x.sizes().end());
        const Array* w = num_operands_ > 1 ? &in(1) : nullptr;
        const Array* b = num_operands_ > 2 ? &in(2) : nullptr;
        return kernels::layer_norm(x, trailing, w, b, a.get_float(ir::Attr::Eps));
      }
      case Op::Mean:
        return kernels::reduce(ReduceOp::Mean, x, a.get_ints(ir::Attr::Dims),
                               a.get_bool(ir::Attr::Keepdim));
      case Op::Var:
        return kernels::var(x, a.get_ints(ir::Attr::Dims), a.get_float(ir::Attr::Correction),
                            a.get_bool(ir::Attr::Keepdim));
      case Op::Clamp: {
        const double lo = a.get_float(ir::Attr::Min), hi = a.get_float(ir::Attr::Max);
        return kernels::clamp(x, lo == -INFINITY ? std::nullopt : std::optional<double>(lo),
                              hi == INFINITY ? std::nullopt : std::optional<double>(hi));
      }
      default:
        throw InternalError("interpret: unknown composite");
    }
  }

  Array constant(Op op, const Attrs& a) {
    const Shape shape = concrete(a.get_list(ir::Attr::Shape));
    const DType dtype = a.get_dtype(ir::Attr::DType);
    if (op == Op::SizeScalar) {
      const int64_t value = a.get_size(ir::Attr::Value).evaluate(bindings_);
      if (!is_floating(dtype)) return kernels::full_int(shape, value, dtype);
      return kernels::full(shape, double(value), dtype);
    }
    if (op == Op::Constant) {
      // An integer value is exact in integer dtypes of any magnitude.
      const int64_t* exact = std::get_if<int64_t>(&a.get(ir::Attr::Value));
      if (exact && !is_floating(dtype)) return kernels::full_int(shape, *exact, dtype);
      return kernels::full(shape, a.get_float(ir::Attr::Value), dtype);
    }
    return kernels::arange_n(a.get_float(ir::Attr::Start), a.get_float(ir::Attr::Step), shape[0],
                             dtype);
  }

  const Array* const* operands_;
  size_t num_operands_;
  const std::vector<int64_t>& bindings_;
};

class Interpreter {
 public:
  Interpreter(const Graph& g, const std::vector<Array>& inputs) : g_(g) {
    bindings_ = bind_symbols(g, inputs);
    for (size_t i = 0; i < inputs.size(); ++i) values_[g.inputs()[i]] = inputs[i];
  }

  std::vector<Array> run(const std::vector<const Value*>* wanted) {
    auto done = [&] {
      if (!wanted) return false;
      for (const Value* v : *wanted)
        if (!values_.count(v)) return false;
      return true;
    };
    for (const auto& n : g_.nodes()) {
      if (done()) break;
      eval(*n);
    }
    std::vector<Array> out;
    for (const Value* v :
         wanted ? *wanted : std::vector<const Value*>(g_.outputs().begin(), g_.outputs().end())) {
      auto it = values_.find(v);
      EMBER_CHECK(it != values_.end(), Error, "interpret: %", v->name, " was not computed");
      out.push_back(it->second);
    }
    return out;
  }

 private:
  void eval(const Node& n) {
    operands_.clear();
    for (const Value* v : n.inputs) operands_.push_back(&values_.at(v));
    Array r = evaluate_node(n, operands_.data(), bindings_);
    if (n.output) values_[n.output] = std::move(r);
  }

  const Graph& g_;
  std::vector<int64_t> bindings_;
  std::unordered_map<const Value*, Array> values_;
  std::vector<const Array*> operands_;
};

}  // namespace

std::pair<int64_t, int64_t> slice_bounds(const Attrs& attrs, int64_t size,
                                         const std::vector<int64_t>& bindings) {
  const SymInt start = attrs.get_size(Attr::Start), end = attrs.get_size(Attr::End);
  const int64_t first = start.evaluate(bindings), last = end.evaluate(bindings);
  if (!(0 <= first && first <= last && last <= size))
    throw GuardFailure(detail::concat("slice: the bounds [", start.str(), ":", end.str(), "] are [",
                                      first, ":", last, "] at these sizes, outside a dim of size ",
                                      size, " (the graph was traced where they fit)"));
  return {first, last};
}

void check_guard(const Array& value, const Attrs& attrs, std::string_view value_name) {
  const double seen = value.element_as_double(0), expected = attrs.get_float(ir::Attr::Value);
  if (seen == expected || (std::isnan(seen) && std::isnan(expected))) return;
  throw GuardFailure(detail::concat(
      "guard on ", value_name.empty() ? "its operand" : "%" + std::string(value_name),
      ": traced with value ", expected, ", now ", seen));
}

std::vector<int64_t> bind_symbols(const Graph& g, const std::vector<Array>& inputs) {
  EMBER_CHECK(inputs.size() == g.inputs().size(), ValueError, "interpret @", g.name(),
              ": expected ", g.inputs().size(), " inputs, got ", inputs.size());
  std::vector<int64_t> bindings;
  bindings.assign(size_t(g.num_symbols()), -1);
  // First bind symbols that stand alone as a dim, then check every dim.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = g.inputs()[i];
    EMBER_CHECK(inputs[i].dim() == v->rank() && inputs[i].dtype() == v->dtype, ValueError,
                "interpret: input %", v->name, " must be ", dtype_short_name(v->dtype),
                shape_text(v->shape), ", got ", dtype_short_name(inputs[i].dtype()),
                shape_str(inputs[i].sizes()));
    for (size_t d = 0; d < v->shape.size(); ++d) {
      const auto syms = v->shape[d].symbols();
      if (syms.size() == 1 && v->shape[d] == SymInt::symbol(syms[0]) &&
          bindings[size_t(syms[0])] < 0)
        bindings[size_t(syms[0])] = inputs[i].size(int64_t(d));
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = g.inputs()[i];
    for (size_t d = 0; d < v->shape.size(); ++d)
      EMBER_CHECK(v->shape[d].evaluate(bindings) == inputs[i].size(int64_t(d)), ValueError,
                  "interpret: input %", v->name, " dimension ", d, " is ",
                  inputs[i].size(int64_t(d)), " but the graph says ", v->shape[d].str());
  }
  return bindings;
}

Array evaluate(Op op, const Attrs& attrs, const Array* const* operands, size_t num_operands,
               const std::vector<int64_t>& bindings) {
  for (size_t i = 0; i < num_operands; ++i)
    EMBER_CHECK(!operands[i]->defined() || operands[i]->device().is_cpu(), Error, op_name(op),
                ": operand ", i, " is on ", operands[i]->device(),
                "; CUDA tensors have no eager ops yet (copy with .cpu() first)");
  return OpEvaluator(operands, num_operands, bindings).eval(op, attrs);
}

Array evaluate_node(const Node& node, const Array* const* operands,
                    const std::vector<int64_t>& bindings) {
  if (node.op == Op::Guard) {
    check_guard(*operands[0], node.attrs, node.inputs[0]->name);
    return {};
  }
  return evaluate(node.op, node.attrs, operands, node.inputs.size(), bindings);
}

std::vector<Array> interpret(const Graph& graph, const std::vector<Array>& inputs,
                             const std::vector<const Value*>* wanted) {
  return Interpreter(graph, inputs).run(wanted);
}

}  // namespace ember::ir
