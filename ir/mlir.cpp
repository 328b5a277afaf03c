// to_mlir: each node becomes a few lines of linalg / tensor / arith / math, in the graph's order.
// Elementwise bodies compute in the interpreter's types (halves in f32) through one scalar
// conversion function, so casts, promotions and comparisons are written once.
#include "ember/ir/mlir.h"

#include "ember/runtime/kernels.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

namespace ember::ir {
namespace {

bool is_half(DType d) { return d == DType::Float16 || d == DType::BFloat16; }
bool is_unsigned(DType d) { return d == DType::Bool || d == DType::UInt8; }
// The type a body computes a value of dtype d in: halves widen to f32.
DType compute_type(DType d) { return is_half(d) ? DType::Float32 : d; }
int bits(DType d) {
  switch (d) {
    case DType::Bool:
      return 1;
    case DType::UInt8:
    case DType::Int8:
      return 8;
    case DType::Float16:
    case DType::BFloat16:
      return 16;
    case DType::Int32:
    case DType::Float32:
      return 32;
    default:
      return 64;
  }
}

}  // namespace

std::string mlir_element_type(DType d) {
  switch (d) {
    case DType::Bool:
      return "i1";
    case DType::UInt8:
    case DType::Int8:
      return "i8";
    case DType::Int32:
      return "i32";
    case DType::Int64:
      return "i64";
    case DType::Float16:
      return "f16";
    case DType::BFloat16:
      return "bf16";
    case DType::Float32:
      return "f32";
    case DType::Float64:
      return "f64";
  }
  return "?";
}

namespace {

std::string tensor_type(const SymShape& shape, DType d) {
  std::string s = "tensor<";
  for (const SymInt& dim : shape)
    s += (dim.is_constant() ? std::to_string(dim.value()) : std::string("?")) + "x";
  return s + mlir_element_type(d) + ">";
}
std::string tensor_type(const Value* v) { return tensor_type(v->shape, v->dtype); }

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
  return s;
}

std::string dims_list(size_t first, size_t count) {
  std::vector<std::string> d;
  for (size_t i = first; i < first + count; ++i) d.push_back("d" + std::to_string(i));
  return join(d);
}

std::string affine_map(size_t loops, const std::vector<std::string>& results) {
  return "affine_map<(" + dims_list(0, loops) + ") -> (" + join(results) + ")>";
}

// A float literal MLIR reads back as the same value of type d: decimal when finite (MLIR
// wants a '.' in it), the bit pattern otherwise.
std::string float_literal(double v, DType d) {
  if (std::isfinite(v)) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) {
      s += ".0";
    } else if (s.find('.') == std::string::npos) {
      s.insert(s.find('e'), ".0");
    }
    return s;
  }
  const bool neg = std::signbit(v);
  switch (d) {
    case DType::Float16:
      return std::isnan(v) ? "0x7E00" : neg ? "0xFC00" : "0x7C00";
    case DType::BFloat16:
      return std::isnan(v) ? "0x7FC0" : neg ? "0xFF80" : "0x7F80";
    case DType::Float32:
      return std::isnan(v) ? "0x7FC00000" : neg ? "0xFF800000" : "0x7F800000";
    default:
      return std::isnan(v) ? "0x7FF8000000000000"
             : neg         ? "0xFFF0000000000000"
                           : "0x7FF0000000000000";
  }
}

class Emitter {
 public:
  Emitter(const Graph& g, const MlirOptions& options) : g_(g), options_(options) {}

  std::string run() {
    size_t num_params = 0;
    for (const Value* v : g_.inputs()) num_params += v->kind == ValueKind::Param;
    const bool embed = !options_.params.empty();
    EMBER_CHECK(!embed || options_.params.size() == num_params, ValueError,
                "to_mlir: ", options_.params.size(), " param values for the ", num_params,
                " params of @", g_.name());
    std::vector<std::string> args;
    size_t param = 0;
    for (const Value* v : g_.inputs()) {
      EMBER_CHECK(v->kind != ValueKind::Rng, ValueError, "to_mlir: @", g_.name(),
                  " draws random numbers (input %", v->name,
                  " is a generator state); the MLIR export has no random ops");
      if (v->kind == ValueKind::Param && embed) {
        embed_param(v, options_.params[param++]);
        continue;
      }
      EMBER_CHECK(options_.arg_names.empty() || arg_values_.size() < options_.arg_names.size(),
                  ValueError, "to_mlir: ", options_.arg_names.size(), " argument names for @",
                  g_.name(), "'s arguments");
      name_[v] = unique_name(options_.arg_names.empty() ? v->name
                                                        : options_.arg_names[arg_values_.size()]);
      args.push_back(name_[v] + ": " + tensor_type(v));
      arg_values_.push_back(v);
    }
    EMBER_CHECK(options_.arg_names.empty() || arg_values_.size() == options_.arg_names.size(),
                ValueError, "to_mlir: ", options_.arg_names.size(), " argument names for the ",
                arg_values_.size(), " arguments of @", g_.name());
    for (const auto& n : g_.nodes()) emit(*n);
    std::vector<std::string> results, types;
    for (const Value* v : g_.outputs()) {
      results.push_back(name(v));
      types.push_back(tensor_type(v));
    }
    std::ostringstream out;
    out << "// Exported by Ember from @" << g_.name() << ".\n";
    out << "func.func @" << sanitize(g_.name()) << "(" << join(args) << ") -> (" << join(types)
        << ") {\n";
    out << prologue_.str() << body_.str();
    out << "  return " << join(results) << " : " << join(types) << "\n}\n";
    return out.str();
  }

 private:
  // ---- names, sizes ----
  static std::string sanitize(const std::string& s) {
    std::string r;
    for (char c : s) r += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
    return r.empty() ? "v" : r;
  }
  // An argument's or embedded param's SSA name: the value's name in letters, digits and '_'
  // (the generated names all have a '.'), made unique.
  std::string unique_name(const std::string& base) {
    std::string r = "%" + sanitize(base);
    for (int k = 1; !used_.insert(r).second; ++k)
      r = "%" + sanitize(base) + "_" + std::to_string(k);
    return r;
  }
  std::string fresh() { return "%t." + std::to_string(next_++); }
  const std::string& name(const Value* v) const { return name_.at(v); }
  void line(const std::string& s) { body_ << indent_ << s << "\n"; }
  std::string assign(const std::string& rhs) {
    const std::string r = fresh();
    line(r + " = " + rhs);
    return r;
  }

  [[noreturn]] void unsupported(const std::string& why) const {
    throw ValueError("to_mlir: " + node_text(*node_) + ": " + why);
  }

  // An index value of a size: a constant, or the polynomial over the symbols, each symbol read
  // from the first input dim that is exactly it. Emitted in the function's prologue (which
  // dominates every use) and shared.
  std::string index_of(const SymInt& s) {
    const std::string key = s.str();
    if (auto it = index_cache_.find(key); it != index_cache_.end()) return it->second;
    std::string r;
    if (s.is_constant()) {
      r = "%c." + (s.value() < 0 ? "m" + std::to_string(-s.value()) : std::to_string(s.value()));
      prologue_ << "  " << r << " = arith.constant " << s.value() << " : index\n";
    } else if (s.terms().size() == 1 && s.terms()[0].coeff == 1 &&
               s.terms()[0].symbols.size() == 1) {
      const int id = s.terms()[0].symbols[0];
      for (const Value* v : arg_values_)
        for (size_t d = 0; d < v->shape.size() && r.empty(); ++d)
          if (v->shape[d] == s) {
            const std::string dim = index_of(int64_t(d));
            r = "%s." + std::to_string(id);
            prologue_ << "  " << r << " = tensor.dim " << name(v) << ", " << dim << " : "
                      << tensor_type(v) << "\n";
          }
      if (r.empty())
        throw ValueError("to_mlir: @" + g_.name() + ": no input dim is the size " + key +
                         ", so the exported function cannot read it");
    } else {
      std::string sum;
      for (const SymInt::Term& t : s.terms()) {
        std::string term;
        for (int sym : t.symbols) {
          const std::string f = index_of(SymInt::symbol(sym));
          term = term.empty() ? f : prologue_op("arith.muli " + term + ", " + f + " : index");
        }
        if (t.coeff != 1) {
          const std::string c = index_of(t.coeff);
          term = term.empty() ? c : prologue_op("arith.muli " + term + ", " + c + " : index");
        }
        sum = sum.empty() ? term : prologue_op("arith.addi " + sum + ", " + term + " : index");
      }
      r = sum;
    }
    index_cache_[key] = r;
    return r;
  }
  std::string prologue_op(const std::string& rhs) {
    const std::string r = fresh();
    prologue_ << "  " << r << " = " << rhs << "\n";
    return r;
  }
  // A static size inline, a symbolic one as its index value (extract_slice, pad, expand_shape).
  std::string mixed(const SymInt& s) {
    return s.is_constant() ? std::to_string(s.value()) : index_of(s);
  }
  std::string mixed_list(const SymShape& shape) {
    std::vector<std::string> items;
    for (const SymInt& d : shape) items.push_back(mixed(d));
    return "[" + join(items) + "]";
  }

  std::string empty(const SymShape& shape, DType d) {
    std::vector<std::string> dynamic;
    for (const SymInt& s : shape)
      if (!s.is_constant()) dynamic.push_back(index_of(s));
    return assign("tensor.empty(" + join(dynamic) + ") : " + tensor_type(shape, d));
  }
  std::string filled(const SymShape& shape, DType d, const std::string& scalar) {
    const std::string e = empty(shape, d);
    return assign("linalg.fill ins(" + scalar + " : " + mlir_element_type(d) + ") outs(" + e +
                  " : " + tensor_type(shape, d) + ") -> " + tensor_type(shape, d));
  }

  // ---- scalars (inside bodies or at the top level) ----
  std::string constant(double v, DType d) {
    if (d == DType::Bool)
      return assign(std::string("arith.constant ") + (v != 0 ? "true" : "false"));
    if (!is_floating(d)) {
      int64_t i = int64_t(v);
      if (d == DType::UInt8 || d == DType::Int8) i = int8_t(uint8_t(i));
      return assign("arith.constant " + std::to_string(i) + " : " + mlir_element_type(d));
    }
    return assign("arith.constant " + float_literal(v, d) + " : " + mlir_element_type(d));
  }
  std::string int_constant(int64_t v, DType d) {
    if (d == DType::Bool) return assign(std::string("arith.constant ") + (v ? "true" : "false"));
    if (d == DType::UInt8 || d == DType::Int8) v = int8_t(uint8_t(v));
    return assign("arith.constant " + std::to_string(v) + " : " + mlir_element_type(d));
  }

  // x of dtype `from` as dtype `to`, as the runtime's casts convert: floats round to nearest,
  // floats to integers truncate, anything to bool is `!= 0`.
  std::string convert(std::string x, DType from, DType to) {
    if (from == to) return x;
    if (is_half(from) && to != DType::Float32) {
      x = assign("arith.extf " + x + " : " + mlir_element_type(from) + " to f32");
      from = DType::Float32;
      if (from == to) return x;
    }
    if (is_half(to) && from != DType::Float32) {
      x = convert(x, from, DType::Float32);
      from = DType::Float32;
    }
    const std::string ft = mlir_element_type(from), tt = mlir_element_type(to);
    if (is_floating(from) && is_floating(to))
      return assign(std::string(bits(from) < bits(to) ? "arith.extf " : "arith.truncf ") + x +
                    " : " + ft + " to " + tt);
    if (is_floating(to))
      return assign(std::string(is_unsigned(from) ? "arith.uitofp " : "arith.sitofp ") + x + " : " +
                    ft + " to " + tt);
    if (to == DType::Bool) {
      const std::string zero = constant(0, from);
      return assign(std::string(is_floating(from) ? "arith.cmpf une, " : "arith.cmpi ne, ") + x +
                    ", " + zero + " : " + ft);
    }
    if (is_floating(from))
      return assign(std::string(is_unsigned(to) ? "arith.fptoui " : "arith.fptosi ") + x + " : " +
                    ft + " to " + tt);
    if (bits(from) == bits(to)) return x;
    if (bits(from) < bits(to))
      return assign(std::string(is_unsigned(from) ? "arith.extui " : "arith.extsi ") + x + " : " +
                    ft + " to " + tt);
    return assign("arith.trunci " + x + " : " + ft + " to " + tt);
  }

  // An arith op of two scalars of type t: the float form or the integer one (signed or not).
  std::string arith(const char* f, const char* s, const char* u, const std::string& a,
                    const std::string& b, DType t) {
    const char* op = is_floating(t) ? f : is_unsigned(t) ? u : s;
    return assign(std::string("arith.") + op + " " + a + ", " + b + " : " + mlir_element_type(t));
  }
  std::string math(const char* op, const std::string& x, DType t) {
    return assign(std::string("math.") + op + " " + x + " : " + mlir_element_type(t));
  }
  std::string compare(const char* f, const char* s, const char* u, const std::string& a,
                      const std::string& b, DType t) {
    if (is_floating(t))
      return assign(std::string("arith.cmpf ") + f + ", " + a + ", " + b + " : " +
                    mlir_element_type(t));
    return assign(std::string("arith.cmpi ") + (is_unsigned(t) ? u : s) + ", " + a + ", " + b +
                  " : " + mlir_element_type(t));
  }
  std::string select(const std::string& c, const std::string& a, const std::string& b, DType t) {
    return assign("arith.select " + c + ", " + a + ", " + b + " : " + mlir_element_type(t));
  }

  std::string unary(Op op, const std::string& x, DType t) {
    const bool fl = is_floating(t);
    switch (op) {
      case Op::Neg:
        return fl ? assign("arith.negf " + x + " : " + mlir_element_type(t))
                  : arith("", "subi", "subi", int_constant(0, t), x, t);
      case Op::Abs:
        if (is_unsigned(t) || fl) return is_unsigned(t) ? x : math("absf", x, t);
        // x < 0 ? 0 - x : x (wrapping, as the kernels; math.absi has no lowering to LLVM)
        return select(compare("olt", "slt", "ult", x, int_constant(0, t), t),
                      arith("", "subi", "subi", int_constant(0, t), x, t), x, t);
      case Op::Exp:
        return math("exp", x, t);
      case Op::Log:
        return math("log", x, t);
      case Op::Sqrt:
        return math("sqrt", x, t);
      case Op::Rsqrt:
        // 1 / sqrt, as the kernels compute it (math.rsqrt has no lowering to LLVM for scalars).
        return assign("arith.divf " + constant(1, t) + ", " + math("sqrt", x, t) + " : " +
                      mlir_element_type(t));
      case Op::Sin:
        return math("sin", x, t);
      case Op::Cos:
        return math("cos", x, t);
      case Op::Tanh:
        return math("tanh", x, t);
      case Op::Erf:
        return math("erf", x, t);
      case Op::Log1p:
        return math("log1p", x, t);
      case Op::Expm1:
        return math("expm1", x, t);
      case Op::Sigmoid: {
        const std::string one = constant(1, t);
        const std::string e =
            math("exp", assign("arith.negf " + x + " : " + mlir_element_type(t)), t);
        return arith("divf", "", "", one, arith("addf", "", "", one, e, t), t);
      }
      case Op::Reciprocal:
        return arith("divf", "", "", constant(1, t), x, t);
      case Op::Relu: {
        const std::string zero = constant(0, t);
        return select(compare("olt", "slt", "ult", x, zero, t), zero, x, t);
      }
      case Op::Floor:
        return fl ? math("floor", x, t) : x;
      case Op::Ceil:
        return fl ? math("ceil", x, t) : x;
      case Op::Round:
        return fl ? math("roundeven", x, t) : x;
      case Op::Sign: {
        const std::string zero = constant(0, t);
        const std::string pos = convert(compare("olt", "slt", "ult", zero, x, t), DType::Bool, t);
        const std::string neg = convert(compare("olt", "slt", "ult", x, zero, t), DType::Bool, t);
        return arith("subf", "subi", "subi", pos, neg, t);
      }
      default:
        unsupported("no scalar form");
    }
  }

  std::string binary(Op op, const std::string& a, const std::string& b, DType t) {
    // Per op: its arith op for floats, signed and unsigned integers (bool: its logical form),
    // or for a comparison the predicates of arith.cmpf and arith.cmpi.
    struct Form {
      Op op;
      bool comparison;
      const char *f, *s, *u, *boolean;
    };
    static constexpr Form kForms[] = {
        {Op::Add, false, "addf", "addi", "addi", "ori"},
        {Op::Sub, false, "subf", "subi", "subi", "xori"},
        {Op::Mul, false, "mulf", "muli", "muli", "andi"},
        {Op::Maximum, false, "maximumf", "maxsi", "maxui", "maxui"},
        {Op::Minimum, false, "minimumf", "minsi", "minui", "minui"},
        {Op::Eq, true, "oeq", "eq", "eq", "eq"},
        {Op::Ne, true, "une", "ne", "ne", "ne"},
        {Op::Lt, true, "olt", "slt", "ult", "ult"},
        {Op::Le, true, "ole", "sle", "ule", "ule"},
        {Op::Gt, true, "ogt", "sgt", "ugt", "ugt"},
        {Op::Ge, true, "oge", "sge", "uge", "uge"},
    };
    if (op == Op::Div || op == Op::Pow) {
      if (!is_floating(t))
        unsupported("integer " + std::string(op_name(op)) + " has no form in the MLIR export");
      return op == Op::Div ? arith("divf", "", "", a, b, t) : math("powf", a + ", " + b, t);
    }
    for (const Form& form : kForms) {
      if (form.op != op) continue;
      if (form.comparison) return compare(form.f, form.s, form.u, a, b, t);
      return t == DType::Bool ? arith("", "", form.boolean, a, b, t)
                              : arith(form.f, form.s, form.u, a, b, t);
    }
    unsupported("no scalar form");
  }

  // ---- linalg.generic ----
  struct Operand {
    std::string value, type, map;
    DType dtype;
  };
  // The map that reads v (numpy-broadcast against a result of rank `rank` over `loops` loops):
  // v's dims line up with the result's trailing dims, a size-1 dim against a larger one reads 0.
  std::string broadcast_map(const Value* v, const SymShape& out, size_t loops) {
    std::vector<std::string> r;
    const size_t offset = out.size() - v->shape.size();
    for (size_t i = 0; i < v->shape.size(); ++i) {
      const SymInt& d = v->shape[i];
      const bool stretched = d.is_constant() && d.value() == 1 && out[offset + i] != SymInt(1);
      r.push_back(stretched ? "0" : "d" + std::to_string(offset + i));
    }
    return affine_map(loops, r);
  }
  Operand read(const Value* v, const SymShape& out) {
    return {name(v), tensor_type(v), broadcast_map(v, out, out.size()), v->dtype};
  }
  std::string identity_map(size_t loops) { return affine_map(loops, {dims_list(0, loops)}); }

  // A generic over `loops` loops; body gets the block arguments (ins, then outs) and returns
  // the values to yield. Returns the results (one per out).
  std::vector<std::string> generic(
      const std::vector<Operand>& ins, const std::vector<Operand>& outs,
      const std::vector<std::string>& iterators,
      const std::function<std::vector<std::string>(const std::vector<std::string>&)>& body) {
    std::vector<std::string> maps, in_vals, in_types, out_vals, out_types, iters;
    for (const Operand& o : ins) {
      maps.push_back(o.map);
      in_vals.push_back(o.value);
      in_types.push_back(o.type);
    }
    for (const Operand& o : outs) {
      maps.push_back(o.map);
      out_vals.push_back(o.value);
      out_types.push_back(o.type);
    }
    for (const std::string& it : iterators) iters.push_back("\"" + it + "\"");
    const std::string r = fresh();
    const std::string result = outs.size() == 1 ? r : r + ":" + std::to_string(outs.size());
    std::string head = result + " = linalg.generic {indexing_maps = [" + join(maps) +
                       "], iterator_types = [" + join(iters) + "]}";
    if (!ins.empty()) head += " ins(" + join(in_vals) + " : " + join(in_types) + ")";
    head += " outs(" + join(out_vals) + " : " + join(out_types) + ") {";
    line(head);
    std::vector<std::string> args, arg_decls;
    for (const auto* list : {&ins, &outs})
      for (const Operand& o : *list) {
        args.push_back(fresh());
        arg_decls.push_back(args.back() + ": " + mlir_element_type(o.dtype));
      }
    line("^bb0(" + join(arg_decls) + "):");
    const std::string saved = indent_;
    indent_ += "  ";
    const std::vector<std::string> yields = body(args);
    std::vector<std::string> yield_types;
    for (const Operand& o : outs) yield_types.push_back(mlir_element_type(o.dtype));
    line("linalg.yield " + join(yields) + " : " + join(yield_types));
    indent_ = saved;
    line("} -> (" + join(out_types) + ")");
    if (outs.size() == 1) return {r};
    std::vector<std::string> results;
    for (size_t i = 0; i < outs.size(); ++i) results.push_back(r + "#" + std::to_string(i));
    return results;
  }

  // An elementwise generic that writes a tensor of `out`'s shape and dtype from `operands`.
  std::string elementwise(const SymShape& shape, DType dtype,
                          const std::vector<const Value*>& operands,
                          const std::function<std::string(const std::vector<std::string>&)>& body) {
    std::vector<Operand> ins;
    for (const Value* v : operands) ins.push_back(read(v, shape));
    const std::string init = empty(shape, dtype);
    const Operand out{init, tensor_type(shape, dtype), identity_map(shape.size()), dtype};
    return generic(
        ins, {out}, std::vector<std::string>(shape.size(), "parallel"),
        [&](const std::vector<std::string>& a) { return std::vector<std::string>{body(a)}; })[0];
  }
  // A tensor of v's values converted to dtype `to`.
  std::string converted(const std::string& value, const SymShape& shape, DType from, DType to) {
    if (from == to) return value;
    const std::string init = empty(shape, to);
    const Operand in{value, tensor_type(shape, from), identity_map(shape.size()), from};
    const Operand out{init, tensor_type(shape, to), identity_map(shape.size()), to};
    return generic({in}, {out}, std::vector<std::string>(shape.size(), "parallel"),
                   [&](const std::vector<std::string>& a) {
                     return std::vector<std::string>{convert(a[0], from, to)};
                   })[0];
  }

  // ---- nodes ----
  void emit(const Node& n) {
    node_ = &n;
    const Value* out = n.output;
    std::string r;
    switch (op_category(n.op)) {
      case OpCategory::Unary: {
        const DType in = n.inputs[0]->dtype, t = compute_type(out->dtype);
        r = elementwise(out->shape, out->dtype, operands(n),
                        [&](const std::vector<std::string>& a) {
                          if (n.op == Op::LogicalNot)
                            return arith("", "", "xori", convert(a[0], in, DType::Bool),
                                         constant(1, DType::Bool), DType::Bool);
                          return convert(unary(n.op, convert(a[0], in, t), t), t, out->dtype);
                        });
        break;
      }
      case OpCategory::Binary: {
        const DType in = n.inputs[0]->dtype;
        r = elementwise(
            out->shape, out->dtype, operands(n), [&](const std::vector<std::string>& a) {
              if (n.op == Op::LogicalAnd || n.op == Op::LogicalOr)
                return arith("", "", n.op == Op::LogicalAnd ? "andi" : "ori",
                             convert(a[0], in, DType::Bool), convert(a[1], in, DType::Bool),
                             DType::Bool);
              const DType t = compute_type(has_property(n.op, prop::Predicate) ? in : out->dtype);
              const std::string v = binary(n.op, convert(a[0], in, t), convert(a[1], in, t), t);
              return has_property(n.op, prop::Predicate) ? v : convert(v, t, out->dtype);
            });
        break;
      }
      case OpCategory::Ternary:
        r = elementwise(out->shape, out->dtype, operands(n),
                        [&](const std::vector<std::string>& a) {
                          return select(a[0], a[1], a[2], out->dtype);
                        });
        break;
      case OpCategory::Cast:
        r = elementwise(out->shape, out->dtype, operands(n),
                        [&](const std::vector<std::string>& a) {
                          return convert(a[0], n.inputs[0]->dtype, out->dtype);
                        });
        break;
      case OpCategory::Reduce:
        r = (n.op == Op::ArgMax || n.op == Op::ArgMin) ? arg_reduce(n) : reduce(n);
        break;
      case OpCategory::Movement:
        r = movement(n);
        break;
      case OpCategory::Matmul:
        r = matmul(n);
        break;
      case OpCategory::Constant:
        r = constant_node(n);
        break;
      case OpCategory::Index:
        if (n.op != Op::Gather && n.op != Op::IndexSelect)
          unsupported("index_add and index_copy have no form in the MLIR export");
        r = gather(n);
        break;
      case OpCategory::Guard:
        guard(n);
        return;
      case OpCategory::Conv:
        r = conv2d(n);
        break;
      case OpCategory::Pool:
        r = pool2d(n);
        break;
      case OpCategory::Composite:
        unsupported("a composite; run the decomposition pass before the MLIR export");
      case OpCategory::Scan:
      case OpCategory::Sort:
      case OpCategory::Random:
        unsupported("no form in linalg's dialects in the MLIR export");
    }
    name_[out] = r;
  }

  static std::vector<const Value*> operands(const Node& n) {
    return {n.inputs.begin(), n.inputs.end()};
  }
  static bool is_max_like(Op op) { return op == Op::ReduceMax || op == Op::ArgMax; }

  // The loops of a reduction of x over axes: each dim's iterator, and the kept dims (the
  // result's shape and the map's results).
  struct ReductionLoops {
    SymShape kept;
    std::vector<std::string> kept_dims, iterators;
  };
  static ReductionLoops reduction_loops(const Value* x, const std::vector<int64_t>& axes) {
    ReductionLoops l;
    for (int64_t d = 0; d < x->rank(); ++d) {
      const bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
      l.iterators.push_back(reduced ? "reduction" : "parallel");
      if (!reduced) {
        l.kept.push_back(x->shape[size_t(d)]);
        l.kept_dims.push_back("d" + std::to_string(d));
      }
    }
    return l;
  }
  // The lowest (or highest) value of t: a max's (a min's) starting value.
  std::string extreme(bool lowest, DType t) {
    if (is_floating(t)) return constant(lowest ? -INFINITY : INFINITY, t);
    if (is_unsigned(t)) return int_constant(lowest ? 0 : -1, t);  // -1: every bit set
    const int64_t lo = t == DType::Int64   ? std::numeric_limits<int64_t>::min()
                       : t == DType::Int32 ? std::numeric_limits<int32_t>::min()
                                           : -128;
    return int_constant(lowest ? lo : -(lo + 1), t);
  }

  // The reduce of a node's operand into its kept dims (keepdim's size-1 dims come after, by a
  // reshape): one generic, accumulating in compute_type.
  std::string reduce(const Node& n) {
    const Value* x = n.inputs[0];
    const Value* out = n.output;
    const std::vector<int64_t> axes = reduced_axes(n);
    const DType acc = compute_type(out->dtype);
    const ReductionLoops loops = reduction_loops(x, axes);
    const SymShape& kept = loops.kept;
    const bool is_max = n.op == Op::ReduceMax, is_min = n.op == Op::ReduceMin;
    const std::string init_value =
        is_max || is_min ? extreme(is_max, acc) : constant(n.op == Op::ReduceProd ? 1 : 0, acc);
    const std::string filled_acc = filled(kept, acc, init_value);
    const Operand in{name(x), tensor_type(x), identity_map(size_t(x->rank())), x->dtype};
    const Operand o{filled_acc, tensor_type(kept, acc),
                    affine_map(size_t(x->rank()), loops.kept_dims), acc};
    std::string r = generic({in}, {o}, loops.iterators, [&](const std::vector<std::string>& a) {
      const std::string v = convert(a[0], x->dtype, acc);
      std::string c;
      if (n.op == Op::ReduceSum)
        c = binary(Op::Add, a[1], v, acc);
      else if (n.op == Op::ReduceProd)
        c = binary(Op::Mul, a[1], v, acc);
      else
        c = binary(is_max ? Op::Maximum : Op::Minimum, a[1], v, acc);
      return std::vector<std::string>{c};
    })[0];
    r = converted(r, kept, acc, out->dtype);
    return reshape(r, kept, out->shape, out->dtype);
  }

  // argmax / argmin: the first position of the extreme (NaN above every number), the flat
  // position over every dim when dims is empty.
  std::string arg_reduce(const Node& n) {
    const Value* x = n.inputs[0];
    const Value* out = n.output;
    const std::vector<int64_t> dims = n.attrs.get_ints(Attr::Dims);
    std::vector<int64_t> axes;
    if (dims.empty()) {
      for (int64_t d = 0; d < x->rank(); ++d) axes.push_back(d);
    } else {
      axes.push_back(dims[0] < 0 ? dims[0] + x->rank() : dims[0]);
    }
    const DType t = compute_type(x->dtype);
    const ReductionLoops loops = reduction_loops(x, axes);
    const SymShape& kept = loops.kept;
    const bool is_max = is_max_like(n.op);
    const std::string start = extreme(is_max, t);
    // The flat position's strides over the reduced dims (row-major among them).
    std::vector<std::string> strides(axes.size());
    SymInt stride = 1;
    for (size_t i = axes.size(); i-- > 0;) {
      strides[i] = index_of(stride);
      stride = stride * x->shape[size_t(axes[i])];
    }
    const std::string best = filled(kept, t, start);
    const std::string at = filled(kept, DType::Int64, int_constant(0, DType::Int64));
    const std::string kept_map = affine_map(size_t(x->rank()), loops.kept_dims);
    const Operand in{name(x), tensor_type(x), identity_map(size_t(x->rank())), x->dtype};
    const Operand o1{best, tensor_type(kept, t), kept_map, t};
    const Operand o2{at, tensor_type(kept, DType::Int64), kept_map, DType::Int64};
    const std::vector<std::string> r =
        generic({in}, {o1, o2}, loops.iterators, [&](const std::vector<std::string>& a) {
          const std::string v = convert(a[0], x->dtype, t);
          std::string better = compare(is_max ? "ogt" : "olt", is_max ? "sgt" : "slt",
                                       is_max ? "ugt" : "ult", v, a[1], t);
          if (is_floating(t)) {
            const std::string nan = compare("uno", "", "", v, v, t);
            const std::string number = compare("ord", "", "", a[1], a[1], t);
            better = arith("", "", "ori", better, arith("", "", "andi", nan, number, DType::Bool),
                           DType::Bool);
          }
          std::string pos;
          for (size_t i = 0; i < axes.size(); ++i) {
            const std::string idx = assign("linalg.index " + std::to_string(axes[i]) + " : index");
            const std::string term = assign("arith.muli " + idx + ", " + strides[i] + " : index");
            pos = pos.empty() ? term : assign("arith.addi " + pos + ", " + term + " : index");
          }
          const std::string pos64 = assign("arith.index_cast " + pos + " : index to i64");
          return std::vector<std::string>{select(better, v, a[1], t),
                                          select(better, pos64, a[2], DType::Int64)};
        });
    return reshape(r[1], kept, out->shape, DType::Int64);
  }

  // value of shape `from` in shape `to` (same count): through one dim (collapse, then expand).
  std::string reshape(const std::string& value, const SymShape& from, const SymShape& to, DType d) {
    if (from == to) return value;
    std::string v = value;
    const SymShape flat = {sym_numel(from)};
    if (from.empty()) {
      v = assign("tensor.expand_shape " + v + " [] output_shape [1] : " + tensor_type(from, d) +
                 " into " + tensor_type({1}, d));
    } else if (from.size() > 1) {
      v = assign("tensor.collapse_shape " + v + " [[" + join(groups(from.size())) +
                 "]] : " + tensor_type(from, d) + " into " + tensor_type(flat, d));
    }
    const SymShape& have = from.empty() ? SymShape{1} : from.size() == 1 ? from : flat;
    if (to.empty())
      return assign("tensor.collapse_shape " + v + " [] : " + tensor_type(have, d) + " into " +
                    tensor_type(to, d));
    if (to.size() == 1) {
      if (tensor_type(have, d) == tensor_type(to, d)) return v;
      return assign("tensor.cast " + v + " : " + tensor_type(have, d) + " to " +
                    tensor_type(to, d));
    }
    return assign("tensor.expand_shape " + v + " [[" + join(groups(to.size())) +
                  "]] output_shape " + mixed_list(to) + " : " + tensor_type(have, d) + " into " +
                  tensor_type(to, d));
  }
  static std::vector<std::string> groups(size_t n) {
    std::vector<std::string> g;
    for (size_t i = 0; i < n; ++i) g.push_back(std::to_string(i));
    return g;
  }

  std::string movement(const Node& n) {
    const Value* x = n.inputs[0];
    const Value* out = n.output;
    switch (n.op) {
      case Op::Reshape:
        return reshape(name(x), x->shape, out->shape, out->dtype);
      case Op::Permute: {
        const std::vector<int64_t> perm = n.attrs.get_ints(Attr::Dims);
        bool identity = true;
        std::vector<std::string> p;
        for (size_t i = 0; i < perm.size(); ++i) {
          const int64_t d = perm[i] < 0 ? perm[i] + x->rank() : perm[i];
          identity &= d == int64_t(i);
          p.push_back(std::to_string(d));
        }
        if (identity) return name(x);
        const std::string init = empty(out->shape, out->dtype);
        return assign("linalg.transpose ins(" + name(x) + " : " + tensor_type(x) + ") outs(" +
                      init + " : " + tensor_type(out) + ") permutation = [" + join(p) + "]");
      }
      case Op::Expand:
        return elementwise(out->shape, out->dtype, {x},
                           [](const std::vector<std::string>& a) { return a[0]; });
      case Op::Slice: {
        const int64_t dim = n.attrs.get_int(Attr::Dim) < 0 ? n.attrs.get_int(Attr::Dim) + x->rank()
                                                           : n.attrs.get_int(Attr::Dim);
        SymShape offsets(size_t(x->rank()), 0), strides(size_t(x->rank()), 1);
        offsets[size_t(dim)] = n.attrs.get_size(Attr::Start);
        strides[size_t(dim)] = n.attrs.get_int(Attr::Step);
        return assign("tensor.extract_slice " + name(x) + mixed_list(offsets) +
                      mixed_list(out->shape) + mixed_list(strides) + " : " + tensor_type(x) +
                      " to " + tensor_type(out));
      }
      case Op::Pad: {
        const std::vector<SymInt>& pads = n.attrs.get_list(Attr::Pads);
        SymShape low(size_t(x->rank()), 0), high(size_t(x->rank()), 0);
        for (size_t p = 0; p < pads.size() / 2; ++p) {
          low[size_t(x->rank()) - 1 - p] = pads[2 * p];
          high[size_t(x->rank()) - 1 - p] = pads[2 * p + 1];
        }
        return pad(name(x), x->shape, out->shape, out->dtype, low, high,
                   n.attrs.get_float(Attr::Value));
      }
      case Op::Concat: {
        const int64_t dim = n.attrs.get_int(Attr::Dim) < 0
                                ? n.attrs.get_int(Attr::Dim) + out->rank()
                                : n.attrs.get_int(Attr::Dim);
        std::string acc = empty(out->shape, out->dtype);
        SymInt at = 0;
        for (const Value* part : n.inputs) {
          SymShape offsets(size_t(out->rank()), 0), strides(size_t(out->rank()), 1);
          offsets[size_t(dim)] = at;
          acc = assign("tensor.insert_slice " + name(part) + " into " + acc + mixed_list(offsets) +
                       mixed_list(part->shape) + mixed_list(strides) + " : " + tensor_type(part) +
                       " into " + tensor_type(out));
          at = at + part->shape[size_t(dim)];
        }
        return acc;
      }
      default:
        unsupported("no form in the MLIR export");
    }
  }

  std::string pad(const std::string& value, const SymShape& from, const SymShape& to, DType d,
                  const SymShape& low, const SymShape& high, double fill) {
    const std::string c = is_floating(d) ? constant(fill, d) : int_constant(int64_t(fill), d);
    std::vector<std::string> idx;
    for (size_t i = 0; i < from.size(); ++i) idx.push_back(fresh() + ": index");
    const std::string r = fresh();
    line(r + " = tensor.pad " + value + " low" + mixed_list(low) + " high" + mixed_list(high) +
         " {");
    line("^bb0(" + join(idx) + "):");
    line("  tensor.yield " + c + " : " + mlir_element_type(d));
    line("} : " + tensor_type(from, d) + " to " + tensor_type(to, d));
    return r;
  }

  std::string matmul(const Node& n) {
    const Value *a = n.inputs[0], *b = n.inputs[1];
    const Value* out = n.output;
    const DType acc = compute_type(out->dtype);
    const std::string zero = filled(out->shape, acc, constant(0, acc));
    const std::string out_type = tensor_type(out->shape, acc);
    std::string r;
    if (acc == out->dtype && a->rank() == 2 && b->rank() == 2) {
      r = assign("linalg.matmul ins(" + name(a) + ", " + name(b) + " : " + tensor_type(a) + ", " +
                 tensor_type(b) + ") outs(" + zero + " : " + out_type + ") -> " + out_type);
    } else if (acc == out->dtype && a->rank() == 3 && b->rank() == 3 &&
               a->shape[0] == b->shape[0]) {
      r = assign("linalg.batch_matmul ins(" + name(a) + ", " + name(b) + " : " + tensor_type(a) +
                 ", " + tensor_type(b) + ") outs(" + zero + " : " + out_type + ") -> " + out_type);
    } else {
      // Batch dims broadcast: loops (batch..., m, n, k).
      const size_t rank = out->shape.size(), loops = rank + 1;
      const std::string m = "d" + std::to_string(rank - 2), nn = "d" + std::to_string(rank - 1),
                        k = "d" + std::to_string(rank);
      auto operand_map = [&](const Value* v, const std::string& row, const std::string& col) {
        std::vector<std::string> res;
        const size_t batch = size_t(v->rank()) - 2, offset = (rank - 2) - batch;
        for (size_t i = 0; i < batch; ++i) {
          const SymInt& d = v->shape[i];
          const bool stretched =
              d.is_constant() && d.value() == 1 && out->shape[offset + i] != SymInt(1);
          res.push_back(stretched ? "0" : "d" + std::to_string(offset + i));
        }
        res.push_back(row);
        res.push_back(col);
        return affine_map(loops, res);
      };
      std::vector<std::string> iters(rank, "parallel");
      iters.push_back("reduction");
      const Operand ia{name(a), tensor_type(a), operand_map(a, m, k), a->dtype};
      const Operand ib{name(b), tensor_type(b), operand_map(b, k, nn), b->dtype};
      const Operand o{zero, out_type, affine_map(loops, {dims_list(0, rank)}), acc};
      r = generic({ia, ib}, {o}, iters, [&](const std::vector<std::string>& x) {
        const std::string p =
            binary(Op::Mul, convert(x[0], a->dtype, acc), convert(x[1], b->dtype, acc), acc);
        return std::vector<std::string>{binary(Op::Add, x[2], p, acc)};
      })[0];
    }
    return converted(r, out->shape, acc, out->dtype);
  }

  std::string constant_node(const Node& n) {
    const Value* out = n.output;
    const DType d = out->dtype;
    if (n.op == Op::Constant) {
      const AttrValue& v = n.attrs.get(Attr::Value);
      const int64_t* exact = std::get_if<int64_t>(&v);
      const std::string c = !is_floating(d) && exact ? int_constant(*exact, d)
                                                     : constant(n.attrs.get_float(Attr::Value), d);
      return filled(out->shape, d, c);
    }
    if (n.op == Op::SizeScalar) {
      const std::string i = index_of(n.attrs.get_size(Attr::Value));
      const std::string i64 = assign("arith.index_cast " + i + " : index to i64");
      return filled(out->shape, d, convert(i64, DType::Int64, d));
    }
    // arange: start + i * step in f64, converted.
    const double start = n.attrs.get_float(Attr::Start), step = n.attrs.get_float(Attr::Step);
    const std::string init = empty(out->shape, d);
    const Operand o{init, tensor_type(out), identity_map(1), d};
    return generic({}, {o}, {"parallel"}, [&](const std::vector<std::string>&) {
      const std::string i = assign("linalg.index 0 : index");
      const std::string f = convert(assign("arith.index_cast " + i + " : index to i64"),
                                    DType::Int64, DType::Float64);
      const std::string v = binary(
          Op::Add, constant(start, DType::Float64),
          binary(Op::Mul, f, constant(step, DType::Float64), DType::Float64), DType::Float64);
      return std::vector<std::string>{convert(v, DType::Float64, d)};
    })[0];
  }

  // gather (out[..., i, ...] = x[..., index[..., i, ...], ...]) and index_select (out[..., i,
  // ...] = x[..., index[i], ...]): a generic over the result reading x with tensor.extract.
  std::string gather(const Node& n) {
    const Value *x = n.inputs[0], *index = n.inputs[1];
    const Value* out = n.output;
    const int64_t raw = n.attrs.get_int(Attr::Dim);
    const int64_t dim = raw < 0 ? raw + x->rank() : raw;
    const size_t rank = out->shape.size();
    const std::string map =
        n.op == Op::Gather ? identity_map(rank) : affine_map(rank, {"d" + std::to_string(dim)});
    const Operand in{name(index), tensor_type(index), map, index->dtype};
    const std::string init = empty(out->shape, out->dtype);
    const Operand o{init, tensor_type(out), identity_map(rank), out->dtype};
    return generic({in}, {o}, std::vector<std::string>(rank, "parallel"),
                   [&](const std::vector<std::string>& a) {
                     std::vector<std::string> at;
                     for (size_t d = 0; d < rank; ++d)
                       at.push_back(int64_t(d) == dim
                                        ? assign("arith.index_cast " + a[0] + " : " +
                                                 mlir_element_type(index->dtype) + " to index")
                                        : assign("linalg.index " + std::to_string(d) + " : index"));
                     return std::vector<std::string>{assign("tensor.extract " + name(x) + "[" +
                                                            join(at) + "] : " + tensor_type(x))};
                   })[0];
  }

  // A guard: the one-element operand must equal the traced value (NaN equals NaN), or the
  // program stops with the guard's message.
  void guard(const Node& n) {
    const Value* v = n.inputs[0];
    std::vector<std::string> zeros(v->shape.size(), index_of(0));
    const std::string x =
        assign("tensor.extract " + name(v) + "[" + join(zeros) + "] : " + tensor_type(v));
    const double expected = n.attrs.get_float(Attr::Value);
    std::string ok;
    if (is_floating(v->dtype)) {
      const DType t = compute_type(v->dtype);
      const std::string xv = convert(x, v->dtype, t);
      ok = std::isnan(expected) ? compare("uno", "", "", xv, xv, t)
                                : compare("oeq", "", "", xv, constant(expected, t), t);
    } else {
      ok = compare("", "eq", "eq", x, int_constant(int64_t(expected), v->dtype), v->dtype);
    }
    line("cf.assert " + ok + ", \"guard on %" + sanitize(v->name) + ": traced with value " +
         float_literal(expected, DType::Float64) + "; this graph does not hold for these inputs\"");
  }

  // conv2d: the input padded with zeros, linalg.conv_2d_nchw_fchw (groups: the ngchw_gfchw form
  // over reshaped operands), the bias added.
  std::string conv2d(const Node& n) {
    const Value *x = n.inputs[0], *w = n.inputs[1];
    const Value* out = n.output;
    if (is_half(out->dtype)) unsupported("a half-precision convolution has no form in the export");
    const auto stride = n.attrs.get_ints(Attr::Stride), padding = n.attrs.get_ints(Attr::Padding),
               dilation = n.attrs.get_ints(Attr::Dilation);
    const int64_t groups = n.attrs.get_int(Attr::Groups);
    const DType d = out->dtype;
    SymShape padded = x->shape;
    padded[2] = padded[2] + 2 * padding[0];
    padded[3] = padded[3] + 2 * padding[1];
    std::string input = name(x);
    if (padding[0] || padding[1])
      input = pad(input, x->shape, padded, d, {0, 0, padding[0], padding[1]},
                  {0, 0, padding[0], padding[1]}, 0);
    const std::string attrs = "{dilations = dense<[" + std::to_string(dilation[0]) + ", " +
                              std::to_string(dilation[1]) +
                              "]> : tensor<2xi64>, strides = dense<[" + std::to_string(stride[0]) +
                              ", " + std::to_string(stride[1]) + "]> : tensor<2xi64>}";
    std::string r;
    if (groups == 1) {
      const std::string zero = filled(out->shape, d, constant(0, d));
      r = assign("linalg.conv_2d_nchw_fchw " + attrs + " ins(" + input + ", " + name(w) + " : " +
                 tensor_type(padded, d) + ", " + tensor_type(w) + ") outs(" + zero + " : " +
                 tensor_type(out) + ") -> " + tensor_type(out));
    } else {
      const SymInt g = groups;
      const SymShape xg = {padded[0], g, *SymInt::divide(padded[1], g), padded[2], padded[3]};
      const SymShape wg = {g, *SymInt::divide(w->shape[0], g), w->shape[1], w->shape[2],
                           w->shape[3]};
      const SymShape og = {out->shape[0], g, *SymInt::divide(out->shape[1], g), out->shape[2],
                           out->shape[3]};
      const std::string xi = reshape(input, padded, xg, d);
      const std::string wi = reshape(name(w), w->shape, wg, d);
      const std::string zero = filled(og, d, constant(0, d));
      r = assign("linalg.conv_2d_ngchw_gfchw " + attrs + " ins(" + xi + ", " + wi + " : " +
                 tensor_type(xg, d) + ", " + tensor_type(wg, d) + ") outs(" + zero + " : " +
                 tensor_type(og, d) + ") -> " + tensor_type(og, d));
      r = reshape(r, og, out->shape, d);
    }
    if (n.inputs.size() < 3) return r;
    const Value* bias = n.inputs[2];
    const std::string init = empty(out->shape, d);
    const Operand ir{r, tensor_type(out), identity_map(4), d};
    const Operand ib{name(bias), tensor_type(bias), affine_map(4, {"d1"}), d};
    const Operand o{init, tensor_type(out), identity_map(4), d};
    return generic({ir, ib}, {o}, std::vector<std::string>(4, "parallel"),
                   [&](const std::vector<std::string>& a) {
                     return std::vector<std::string>{binary(Op::Add, a[0], a[1], d)};
                   })[0];
  }

  // max_pool2d and avg_pool2d: the input padded (-inf for max; for ceil_mode's last windows,
  // past the explicit padding too), linalg.pooling_nchw_max / _sum, and the average's divisor
  // counted by the same sum over ones (padding counted as count_include_pad says).
  std::string pool2d(const Node& n) {
    const Value* x = n.inputs[0];
    const Value* out = n.output;
    if (is_half(out->dtype)) unsupported("half-precision pooling has no form in the export");
    const DType d = out->dtype;
    const auto kernel = n.attrs.get_ints(Attr::Kernel), stride = n.attrs.get_ints(Attr::Stride),
               padding = n.attrs.get_ints(Attr::Padding);
    const bool is_max = n.op == Op::MaxPool2d;
    const std::vector<int64_t> dilation =
        is_max ? n.attrs.get_ints(Attr::Dilation) : std::vector<int64_t>{1, 1};
    int64_t extra[2];
    for (int k = 0; k < 2; ++k) {
      const int64_t in = x->shape[size_t(2 + k)].value(), o = out->shape[size_t(2 + k)].value();
      const int64_t need =
          (o - 1) * stride[size_t(k)] + dilation[size_t(k)] * (kernel[size_t(k)] - 1) + 1;
      extra[k] = std::max<int64_t>(0, need - in - 2 * padding[size_t(k)]);
    }
    SymShape padded = x->shape, explicit_padded = x->shape;
    for (int k = 0; k < 2; ++k) {
      explicit_padded[size_t(2 + k)] = x->shape[size_t(2 + k)] + 2 * padding[size_t(k)];
      padded[size_t(2 + k)] = explicit_padded[size_t(2 + k)] + extra[k];
    }
    const SymShape low = {0, 0, padding[0], padding[1]};
    const SymShape high = {0, 0, padding[0] + extra[0], padding[1] + extra[1]};
    const std::string attrs = "{dilations = dense<[" + std::to_string(dilation[0]) + ", " +
                              std::to_string(dilation[1]) +
                              "]> : tensor<2xi64>, strides = dense<[" + std::to_string(stride[0]) +
                              ", " + std::to_string(stride[1]) + "]> : tensor<2xi64>}";
    const SymShape window = {kernel[0], kernel[1]};
    auto pooled = [&](const std::string& input, const char* kind, double init) {
      const std::string win = empty(window, d);
      const std::string acc = filled(out->shape, d, constant(init, d));
      return assign(std::string("linalg.pooling_nchw_") + kind + " " + attrs + " ins(" + input +
                    ", " + win + " : " + tensor_type(padded, d) + ", " + tensor_type(window, d) +
                    ") outs(" + acc + " : " + tensor_type(out) + ") -> " + tensor_type(out));
    };
    if (is_max)
      return pooled(pad(name(x), x->shape, padded, d, low, high, -INFINITY), "max", -INFINITY);
    const std::string sum = pooled(pad(name(x), x->shape, padded, d, low, high, 0), "sum", 0);
    // The divisor: ones over the input, the explicit padding as ones when it counts, zeros past.
    const std::string ones = filled(x->shape, d, constant(1, d));
    const bool include = n.attrs.get_bool(Attr::CountIncludePad);
    std::string counted = pad(ones, x->shape, explicit_padded, d, low,
                              {0, 0, padding[0], padding[1]}, include ? 1 : 0);
    counted = pad(counted, explicit_padded, padded, d, {0, 0, 0, 0}, {0, 0, extra[0], extra[1]}, 0);
    const std::string count = pooled(counted, "sum", 0);
    const Value* shape_of = out;
    const std::string init = empty(shape_of->shape, d);
    const Operand is{sum, tensor_type(out), identity_map(4), d};
    const Operand ic{count, tensor_type(out), identity_map(4), d};
    const Operand o{init, tensor_type(out), identity_map(4), d};
    return generic({is, ic}, {o}, std::vector<std::string>(4, "parallel"),
                   [&](const std::vector<std::string>& a) {
                     return std::vector<std::string>{binary(Op::Div, a[0], a[1], d)};
                   })[0];
  }

  // A param's value as a dense constant (the raw little-endian bytes, hex; bools listed).
  void embed_param(const Value* v, const Array& value) {
    EMBER_CHECK(value.dtype() == v->dtype && is_static(v->shape) &&
                    value.sizes() == evaluate_shape(v->shape),
                ValueError, "to_mlir: the value given for param %", v->name, " is ", value.dtype(),
                shape_str(value.sizes()), ", not ", dtype_short_name(v->dtype),
                shape_text(v->shape));
    const std::string r = unique_name(v->name);
    name_[v] = r;
    prologue_ << "  " << r << " = arith.constant " << dense_literal(value) << " : "
              << tensor_type(v) << "\n";
  }

  const Graph& g_;
  const MlirOptions& options_;
  const Node* node_ = nullptr;
  std::ostringstream prologue_, body_;
  std::string indent_ = "  ";
  int next_ = 0;
  std::unordered_map<const Value*, std::string> name_;
  std::vector<const Value*> arg_values_;
  std::map<std::string, std::string> index_cache_;
  std::set<std::string> used_;
};

}  // namespace

std::string dense_literal(const Array& value) {
  const Array a = kernels::contiguous(value);
  const auto* bytes = reinterpret_cast<const unsigned char*>(a.data());
  const size_t count = size_t(a.numel());
  if (a.dtype() == DType::Bool) {
    std::vector<std::string> items;
    for (size_t i = 0; i < count; ++i) items.push_back(bytes[i] ? "true" : "false");
    return "dense<" + (a.dim() == 0 ? items[0] : "[" + join(items) + "]") + ">";
  }
  static const char* hex = "0123456789ABCDEF";
  std::string s = "dense<\"0x";
  for (size_t i = 0; i < count * a.itemsize(); ++i) {
    s += hex[bytes[i] >> 4];
    s += hex[bytes[i] & 15];
  }
  return s + "\">";
}

std::string to_mlir(const Graph& graph, const MlirOptions& options) {
  return Emitter(graph, options).run();
}

}  // namespace ember::ir
