// The shape and dtype rule of every op, on symbolic shapes. Messages name the op, the shapes and
// the dimension, as the eager ops' do.
#include <algorithm>

#include "ember/ir/graph.h"
#include "ember/runtime/checked.h"
#include "ir/kernel_map.h"

namespace ember::ir {
namespace {

using Inputs = std::vector<const Value*>;

std::string text(const Value* v) { return dtype_short_name(v->dtype) + shape_text(v->shape); }

SymShape broadcast(const SymShape& a, const SymShape& b, std::string_view op) {
  const size_t n = std::max(a.size(), b.size());
  SymShape out(n);
  for (size_t i = 0; i < n; ++i) {
    const SymInt da = i < n - a.size() ? SymInt(1) : a[i - (n - a.size())];
    const SymInt db = i < n - b.size() ? SymInt(1) : b[i - (n - b.size())];
    if (da == db || db == SymInt(1))
      out[i] = da;
    else if (da == SymInt(1))
      out[i] = db;
    else
      throw ShapeError(detail::concat(op, ": shapes ", shape_text(a), " and ", shape_text(b),
                                      " cannot be broadcast together (dimension ", i, ": ",
                                      da.str(), " vs ", db.str(), ")"));
  }
  return out;
}

int64_t wrap(int64_t d, size_t rank, std::string_view op) {
  return wrap_dim(d, int64_t(rank), std::string(op).c_str());
}

void check_same_dtype(const Inputs& in, std::string_view op) {
  for (const Value* v : in)
    EMBER_CHECK(v->dtype == in[0]->dtype, DTypeError, op,
                ": operands must have one dtype (insert a cast), but got ", text(in[0]), " and ",
                text(v));
}

int64_t static_dim(const SymInt& d, std::string_view op, const char* what) {
  EMBER_CHECK(d.is_constant(), ShapeError, op, ": ", what, " must be static, but is ", d.str());
  return d.value();
}

ValueType reduce_rule(Op op, const Value* x, const Attrs& attrs) {
  const std::string_view name = op_name(op);
  std::vector<int64_t> dims;
  for (int64_t d : attrs.get_ints(ir::Attr::Dims)) dims.push_back(wrap(d, x->shape.size(), name));
  std::sort(dims.begin(), dims.end());
  EMBER_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(), IndexError, name,
              ": repeated dim in ", shape_text(sym_shape(dims)));
  const bool keepdim = attrs.get_bool(ir::Attr::Keepdim);
  const bool arg = op == Op::ArgMax || op == Op::ArgMin;
  EMBER_CHECK(!arg || dims.size() <= 1, ValueError, name, ": takes at most one dim");
  if (dims.empty() && !arg)
    for (int64_t d = 0; d < x->rank(); ++d) dims.push_back(d);
  SymShape shape;
  for (int64_t d = 0; d < x->rank(); ++d) {
    const bool reduced =
        arg && dims.empty() ? true : std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced)
      shape.push_back(x->shape[size_t(d)]);
    else if (keepdim)
      shape.push_back(1);
  }
  DType dtype = x->dtype;
  if (arg) dtype = DType::Int64;
  if ((op == Op::ReduceSum || op == Op::ReduceProd) && !is_floating(dtype)) dtype = DType::Int64;
  return {dtype, shape};
}

ValueType movement_rule(Op op, const Inputs& in, const Attrs& attrs) {
  const std::string_view name = op_name(op);
  const Value* x = in[0];
  switch (op) {
    case Op::Reshape: {
      SymShape shape = attrs.get_list(ir::Attr::Shape);
      for (const SymInt& d : shape)
        EMBER_CHECK(!d.is_constant() || d.value() >= 0, ShapeError, name, ": invalid size ",
                    d.str(), " in ", shape_text(shape));
      EMBER_CHECK(sym_numel(shape) == sym_numel(x->shape), ShapeError, name, ": shape ",
                  shape_text(shape), " is invalid for input of shape ", shape_text(x->shape));
      return {x->dtype, shape};
    }
    case Op::Permute: {
      const auto dims = attrs.get_ints(ir::Attr::Dims);
      EMBER_CHECK(dims.size() == x->shape.size(), ShapeError, name, ": dims ",
                  shape_text(sym_shape(dims)), " do not match input ", text(x));
      SymShape shape;
      std::vector<bool> seen(dims.size());
      for (int64_t d : dims) {
        const int64_t w = wrap(d, dims.size(), name);
        EMBER_CHECK(!seen[size_t(w)], IndexError, name, ": repeated dim ", w);
        seen[size_t(w)] = true;
        shape.push_back(x->shape[size_t(w)]);
      }
      return {x->dtype, shape};
    }
    case Op::Expand: {
      const SymShape target = attrs.get_list(ir::Attr::Shape);
      EMBER_CHECK(target.size() >= x->shape.size(), ShapeError, name, ": target ",
                  shape_text(target), " has fewer dims than input ", text(x));
      const size_t lead = target.size() - x->shape.size();
      for (size_t i = 0; i < x->shape.size(); ++i)
        EMBER_CHECK(x->shape[i] == target[lead + i] || x->shape[i] == SymInt(1), ShapeError, name,
                    ": the expanded size ", target[lead + i].str(),
                    " must match the existing size ", x->shape[i].str(),
                    " at non-singleton dimension ", lead + i);
      return {x->dtype, target};
    }
    case Op::Slice: {
      const int64_t dim = wrap(attrs.get_int(ir::Attr::Dim), x->shape.size(), name);
      const SymInt size = x->shape[size_t(dim)];
      const SymInt start = attrs.get_size(ir::Attr::Start), end = attrs.get_size(ir::Attr::End);
      const int64_t step = attrs.get_int(ir::Attr::Step);
      SymShape shape = x->shape;
      if (start.is_constant() && end.is_constant()) {
        // Constant bounds inside a symbolic dim are checked against its size at run time.
        const int64_t first = start.value(), last = end.value();
        EMBER_CHECK(step > 0 && 0 <= first && first <= last &&
                        (!size.is_constant() || last <= size.value()),
                    ValueError, name, ": slice [", first, ":", last, ":", step,
                    "] does not fit dimension ", dim, " of size ", size.str());
        shape[size_t(dim)] = slice_length(first, last, step);
      } else {
        // Symbolic bounds: the length is end - start, a polynomial only for step 1; that they
        // fit the dim is checked when sizes are bound.
        EMBER_CHECK(step == 1, ValueError, name, ": a slice with symbolic bounds [", start.str(),
                    ":", end.str(), "] needs step 1, got ", step);
        shape[size_t(dim)] = end - start;
      }
      return {x->dtype, shape};
    }
    case Op::Pad: {
      // Pads may be symbolic (the gradient of a slice of a symbolic dim): sizes of the symbols.
      const SymShape pads = attrs.get_list(ir::Attr::Pads);
      EMBER_CHECK(pads.size() % 2 == 0 && pads.size() / 2 <= x->shape.size(), ValueError, name,
                  ": pads must come in pairs for at most ", x->rank(), " dims, got ",
                  shape_text(pads));
      attrs.get_float(ir::Attr::Value);
      SymShape shape = x->shape;
      for (size_t p = 0; p < pads.size() / 2; ++p) {
        const size_t d = shape.size() - 1 - p;
        for (const SymInt& pad : {pads[2 * p], pads[2 * p + 1]})
          EMBER_CHECK(!pad.is_constant() || pad.value() >= 0, ValueError, name,
                      ": negative padding");
        if (pads[2 * p].is_constant() && pads[2 * p + 1].is_constant())
          shape[d] =
              shape[d] + SymInt(checked_add(pads[2 * p].value(), pads[2 * p + 1].value(), "pad"));
        else
          shape[d] = shape[d] + pads[2 * p] + pads[2 * p + 1];
      }
      return {x->dtype, shape};
    }
    case Op::Concat: {
      EMBER_CHECK(!in.empty(), ValueError, name, ": needs at least one operand");
      check_same_dtype(in, name);
      const int64_t dim = wrap(attrs.get_int(ir::Attr::Dim), x->shape.size(), name);
      SymShape shape = x->shape;
      for (size_t i = 1; i < in.size(); ++i) {
        EMBER_CHECK(in[i]->shape.size() == x->shape.size(), ShapeError, name,
                    ": operands differ in rank: ", text(x), " and ", text(in[i]));
        for (size_t d = 0; d < shape.size(); ++d)
          if (int64_t(d) != dim)
            EMBER_CHECK(in[i]->shape[d] == x->shape[d], ShapeError, name,
                        ": sizes must match except in dimension ", dim, ", but operand ", i, " is ",
                        text(in[i]), " and operand 0 is ", text(x));
        shape[size_t(dim)] = shape[size_t(dim)] + in[i]->shape[size_t(dim)];
      }
      return {x->dtype, shape};
    }
    default:
      throw InternalError("movement_rule: not a movement op");
  }
}

ValueType matmul_rule(const Value* a, const Value* b) {
  EMBER_CHECK(a->rank() >= 2 && b->rank() >= 2, ShapeError,
              "matmul: operands must be at least 2-D (the tracer reshapes 1-D ones), got ", text(a),
              " and ", text(b));
  check_same_dtype({a, b}, "matmul");
  EMBER_CHECK(a->dtype != DType::Bool, DTypeError, "matmul: not supported for bool");
  const SymInt k = a->shape.back(), k2 = b->shape[b->shape.size() - 2];
  EMBER_CHECK(k == k2, ShapeError, "matmul: shapes ", shape_text(a->shape), " and ",
              shape_text(b->shape), " cannot be multiplied (", k.str(), " != ", k2.str(), ")");
  SymShape shape = broadcast(SymShape(a->shape.begin(), a->shape.end() - 2),
                             SymShape(b->shape.begin(), b->shape.end() - 2), "matmul");
  shape.push_back(a->shape[a->shape.size() - 2]);
  shape.push_back(b->shape.back());
  return {a->dtype, shape};
}

ValueType spatial_rule(Op op, const Inputs& in, const Attrs& attrs) {
  const std::string_view name = op_name(op);
  const Value* x = in[0];
  EMBER_CHECK(x->rank() == 4, ShapeError, name, ": expected a 4-D input, got ", text(x));
  EMBER_CHECK(is_floating(x->dtype), DTypeError, name, ": expected a floating input, got ",
              text(x));
  const int64_t H = static_dim(x->shape[2], name, "height"),
                W = static_dim(x->shape[3], name, "width");
  const auto stride = attrs.get_ints(ir::Attr::Stride), padding = attrs.get_ints(ir::Attr::Padding);
  const auto dilation =
      op == Op::AvgPool2d ? std::vector<int64_t>{1, 1} : attrs.get_ints(ir::Attr::Dilation);
  for (const auto* v : {&stride, &padding, &dilation})
    EMBER_CHECK(v->size() == 2, ValueError, name, ": stride, padding and dilation take 2 values");
  for (int k = 0; k < 2; ++k)
    EMBER_CHECK(stride[size_t(k)] >= 1 && dilation[size_t(k)] >= 1 && padding[size_t(k)] >= 0,
                ValueError, name, ": invalid stride, padding or dilation in dimension ", k);
  SymShape shape = x->shape;
  if (op == Op::Conv2d) {
    EMBER_CHECK(in.size() == 2 || in.size() == 3, ValueError, name,
                ": expected (input, weight[, bias]), got ", in.size(), " operands");
    const Value* w = in[1];
    check_same_dtype(in, name);
    EMBER_CHECK(w->rank() == 4, ShapeError, name, ": expected a 4-D weight, got ", text(w));
    const int64_t groups = attrs.get_int(ir::Attr::Groups);
    const int64_t cin = static_dim(x->shape[1], name, "channels");
    const int64_t wc = static_dim(w->shape[1], name, "weight channels");
    const int64_t o = static_dim(w->shape[0], name, "out channels");
    EMBER_CHECK(groups >= 1 && groups <= cin && cin == wc * groups && o % groups == 0, ShapeError,
                name, ": given groups=", groups, ", weight ", text(w), " does not fit input ",
                text(x));
    const int64_t ho = kernels::window_output_size(H, static_dim(w->shape[2], name, "kernel"),
                                                   stride[0], padding[0], dilation[0], false);
    const int64_t wo = kernels::window_output_size(W, static_dim(w->shape[3], name, "kernel"),
                                                   stride[1], padding[1], dilation[1], false);
    EMBER_CHECK(ho > 0 && wo > 0, ShapeError, name, ": output size [", ho, ", ", wo,
                "] is too small for input ", text(x), " and weight ", text(w));
    if (in.size() == 3)
      EMBER_CHECK(in[2]->rank() == 1 && in[2]->shape[0] == SymInt(o), ShapeError, name,
                  ": expected a bias of shape [", o, "], got ", text(in[2]));
    shape[1] = o;
    shape[2] = ho;
    shape[3] = wo;
    return {x->dtype, shape};
  }
  const auto kernel = attrs.get_ints(ir::Attr::Kernel);
  const bool ceil_mode = attrs.get_bool(ir::Attr::CeilMode);
  EMBER_CHECK(kernel.size() == 2 && kernel[0] >= 1 && kernel[1] >= 1, ValueError, name,
              ": kernel takes 2 positive values");
  if (op == Op::AvgPool2d) attrs.get_bool(ir::Attr::CountIncludePad);
  const int64_t ho =
      kernels::window_output_size(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode);
  const int64_t wo =
      kernels::window_output_size(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode);
  EMBER_CHECK(ho > 0 && wo > 0, ShapeError, name, ": output size [", ho, ", ", wo,
              "] is too small for input ", text(x));
  shape[2] = ho;
  shape[3] = wo;
  return {x->dtype, shape};
}

void check_index(const Value* index, std::string_view name) {
  EMBER_CHECK(index->dtype == DType::Int64 || index->dtype == DType::Int32, DTypeError, name,
              ": index must be int64 or int32, got ", text(index));
}

ValueType composite_rule(Op op, const Inputs& in, const Attrs& attrs) {
  const std::string_view name = op_name(op);
  const Value* x = in[0];
  switch (op) {
    case Op::Gelu:
      attrs.get_bool(ir::Attr::Approximate);
      return {kernels::unary_result_type(kernels::UnaryOp::Gelu, x->dtype), x->shape};
    case Op::Silu:
      return {kernels::unary_result_type(kernels::UnaryOp::Silu, x->dtype), x->shape};
    case Op::Softmax:
    case Op::LogSoftmax:
      EMBER_CHECK(is_floating(x->dtype), DTypeError, name, ": expected a floating input, got ",
                  text(x));
      wrap(attrs.get_int(ir::Attr::Dim), x->shape.size(), name);
      return {x->dtype, x->shape};
    case Op::LayerNorm: {
      EMBER_CHECK(in.size() <= 3, ValueError, name, ": takes x, weight and bias at most");
      EMBER_CHECK(is_floating(x->dtype), DTypeError, name, ": expected a floating input, got ",
                  text(x));
      const int64_t nd = attrs.get_int(ir::Attr::Ndims);
      attrs.get_float(ir::Attr::Eps);
      EMBER_CHECK(nd >= 1 && nd <= x->rank(), ValueError, name, ": ndims ", nd,
                  " does not fit input ", text(x));
      const SymShape trailing(x->shape.end() - nd, x->shape.end());
      for (size_t i = 1; i < in.size(); ++i)
        EMBER_CHECK(in[i]->shape == trailing && in[i]->dtype == x->dtype, ShapeError, name,
                    ": weight and bias must be ", dtype_short_name(x->dtype), shape_text(trailing),
                    ", got ", text(in[i]));
      return {x->dtype, x->shape};
    }
    case Op::Mean:
    case Op::Var: {
      EMBER_CHECK(is_floating(x->dtype), DTypeError, name, ": expected a floating input, got ",
                  text(x));
      if (op == Op::Var) attrs.get_float(ir::Attr::Correction);
      ValueType t = reduce_rule(Op::ReduceSum, x, attrs);
      t.dtype = x->dtype;
      return t;
    }
    case Op::Clamp:
      EMBER_CHECK(x->dtype != DType::Bool, DTypeError, name, ": not supported for bool tensors");
      attrs.get_float(ir::Attr::Min);
      attrs.get_float(ir::Attr::Max);
      return {x->dtype, x->shape};
    default:
      throw InternalError("composite_rule: not a composite");
  }
}

// attrs holds exactly the attributes ops.def declares for op, each of its declared type (a
// float attribute takes an int too).
void check_attributes(Op op, const Attrs& attrs) {
  const auto specs = op_attributes(op);
  for (const auto& [key, value] : attrs.items()) {
    const auto spec =
        std::find_if(specs.begin(), specs.end(), [&](const AttrSpec& s) { return s.name == key; });
    EMBER_CHECK(spec != specs.end(), ValueError, op_name(op), ": unknown attribute '",
                attr_name(key), "'");
    bool ok = false;
    switch (spec->type) {
      case AttrType::Int:
        ok = std::holds_alternative<int64_t>(value);
        break;
      case AttrType::Float:
        ok = std::holds_alternative<double>(value) || std::holds_alternative<int64_t>(value);
        break;
      case AttrType::Bool:
        ok = std::holds_alternative<bool>(value);
        break;
      case AttrType::DType:
        ok = std::holds_alternative<DType>(value);
        break;
      case AttrType::List:
        ok = std::holds_alternative<std::vector<SymInt>>(value);
        break;
      case AttrType::Size:
        ok = std::holds_alternative<int64_t>(value) || std::holds_alternative<SymInt>(value);
        break;
    }
    EMBER_CHECK(ok, ValueError, op_name(op), ": attribute '", attr_name(key), "' must be ",
                spec->type == AttrType::Int ? "an " : "a ", attr_type_name(spec->type));
  }
  if (attrs.items().size() == specs.size()) return;
  for (const AttrSpec& s : specs)
    EMBER_CHECK(attrs.has(s.name), ValueError, op_name(op), ": missing attribute '",
                attr_name(s.name), "'");
}

}  // namespace

std::optional<ValueType> infer_type(Op op, const Inputs& in, const Attrs& attrs) {
  const std::string_view name = op_name(op);
  const int arity = op_arity(op);
  EMBER_CHECK(arity < 0 || int(in.size()) == arity, ValueError, name, ": expected ", arity,
              " operand", arity == 1 ? "" : "s", ", got ", in.size());
  EMBER_CHECK(arity >= 0 || !in.empty(), ValueError, name, ": expected at least one operand");
  check_attributes(op, attrs);
  switch (op_category(op)) {
    case OpCategory::Unary:
      return ValueType{kernels::unary_result_type(kernel_unary(op), in[0]->dtype), in[0]->shape};
    case OpCategory::Binary: {
      check_same_dtype(in, name);
      const kernels::BinaryOp k = kernel_binary(op);
      return ValueType{kernels::binary_result_type(k, in[0]->dtype),
                       broadcast(in[0]->shape, in[1]->shape, name)};
    }
    case OpCategory::Ternary: {
      EMBER_CHECK(in[0]->dtype == DType::Bool, DTypeError, name, ": condition must be bool, got ",
                  text(in[0]));
      check_same_dtype({in[1], in[2]}, name);
      return ValueType{in[1]->dtype,
                       broadcast(broadcast(in[0]->shape, in[1]->shape, name), in[2]->shape, name)};
    }
    case OpCategory::Cast:
      return ValueType{attrs.get_dtype(ir::Attr::DType), in[0]->shape};
    case OpCategory::Reduce: {
      if (op == Op::ReduceMax || op == Op::ReduceMin || op == Op::ArgMax || op == Op::ArgMin)
        EMBER_CHECK(in[0]->dtype != DType::Bool || op == Op::ReduceMax || op == Op::ReduceMin,
                    DTypeError, name, ": not supported for bool");
      return reduce_rule(op, in[0], attrs);
    }
    case OpCategory::Movement:
      return movement_rule(op, in, attrs);
    case OpCategory::Matmul:
      return matmul_rule(in[0], in[1]);
    case OpCategory::Conv:
    case OpCategory::Pool:
      return spatial_rule(op, in, attrs);
    case OpCategory::Index: {
      const Value *x = in[0], *index = in[1];
      check_index(index, name);
      const int64_t dim = wrap(attrs.get_int(ir::Attr::Dim), x->shape.size(), name);
      if (op == Op::Gather) {
        EMBER_CHECK(index->rank() == x->rank(), ShapeError, name,
                    ": index must have the rank of the input, got ", text(index), " for ", text(x));
        return ValueType{x->dtype, index->shape};
      }
      EMBER_CHECK(index->rank() == 1, ShapeError, name, ": index must be 1-D, got ", text(index));
      if (op == Op::IndexAdd || op == Op::IndexCopy) {
        const Value* src = in[2];
        EMBER_CHECK(src->dtype == x->dtype, DTypeError, name, ": source ", text(src),
                    " must have the dtype of ", text(x));
        EMBER_CHECK(src->rank() == x->rank(), ShapeError, name, ": source ", text(src),
                    " must have the rank of ", text(x));
        for (size_t d = 0; d < x->shape.size(); ++d) {
          const SymInt want = int64_t(d) == dim ? index->shape[0] : x->shape[d];
          EMBER_CHECK(src->shape[d] == want, ShapeError, name, ": source ", text(src),
                      " must have size ", want.str(), " at dimension ", d, " (input ", text(x),
                      ", index ", text(index), ")");
        }
        return ValueType{x->dtype, x->shape};
      }
      SymShape shape = x->shape;
      shape[size_t(dim)] = index->shape[0];
      return ValueType{x->dtype, shape};
    }
    case OpCategory::Scan: {
      const Value* x = in[0];
      wrap(attrs.get_int(ir::Attr::Dim), std::max<size_t>(x->shape.size(), 1), name);
      return ValueType{kernels::cumsum_result_type(x->dtype), x->shape};
    }
    case OpCategory::Sort: {
      const Value* x = in[0];
      const int64_t dim =
          wrap(attrs.get_int(ir::Attr::Dim), std::max<size_t>(x->shape.size(), 1), name);
      attrs.get_bool(op == Op::TopK ? ir::Attr::Largest : ir::Attr::Descending);
      SymShape shape = x->shape;
      if (op == Op::TopK) {
        const int64_t k = attrs.get_int(ir::Attr::K);
        const SymInt n = shape.empty() ? SymInt(1) : shape[size_t(dim)];
        EMBER_CHECK(k >= 0 && (!n.is_constant() || k <= n.value()), IndexError, name, ": k (", k,
                    ") is out of range for dimension ", dim, " of ", text(x));
        if (!shape.empty()) shape[size_t(dim)] = k;
      }
      return ValueType{DType::Int64, shape};
    }
    case OpCategory::Random: {
      for (const Value* v : in)
        EMBER_CHECK(v->dtype == DType::Int64 && v->rank() == 0, DTypeError, name,
                    ": seed and offset must be i64[] scalars, got ", text(v));
      const DType dtype = attrs.get_dtype(ir::Attr::DType);
      EMBER_CHECK(is_floating(dtype), DTypeError, name, ": dtype must be floating, got ", dtype);
      return ValueType{dtype, attrs.get_list(ir::Attr::Shape)};
    }
    case OpCategory::Constant: {
      const SymShape shape = attrs.get_list(ir::Attr::Shape);
      if (op == Op::Arange) {
        EMBER_CHECK(shape.size() == 1, ShapeError, name, ": shape must be 1-D");
        attrs.get_float(ir::Attr::Start);
        attrs.get_float(ir::Attr::Step);
      } else if (op == Op::SizeScalar) {
        attrs.get_size(ir::Attr::Value);
      } else {
        attrs.get_float(ir::Attr::Value);
      }
      return ValueType{attrs.get_dtype(ir::Attr::DType), shape};
    }
    case OpCategory::Composite:
      return composite_rule(op, in, attrs);
    case OpCategory::Guard:
      EMBER_CHECK(sym_numel(in[0]->shape) == SymInt(1), ShapeError, name,
                  ": guards read one element, got ", text(in[0]));
      attrs.get_float(ir::Attr::Value);
      return std::nullopt;
  }
  throw InternalError("infer_type: unknown op");
}

}  // namespace ember::ir
