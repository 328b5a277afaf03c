// Plan::serialize / deserialize: a plan as bytes. Little-endian fixed-width integers, strings and
// lists prefixed by their length; every read is bounds-checked and every enum and slot range-
// checked, so malformed bytes are a ValueError, never a crash or a plan that reads out of range.
#include <cstring>
#include <type_traits>

#include "codegen/bytes.h"
#include "ember/codegen/plan.h"

namespace ember::codegen {
namespace {

constexpr char kMagic[8] = {'E', 'M', 'B', 'R', 'P', 'L', 'A', 'N'};
constexpr uint32_t kVersion = 2;  // 2: kernels gather

class Writer : public ByteWriter {
 public:
  void sym(const ir::SymInt& s) {
    const auto terms = s.terms();
    size(terms.size());
    for (const auto& t : terms) {
      num(t.coeff);
      size(t.symbols.size());
      for (int id : t.symbols) num(int32_t(id));
    }
  }
  void shape(const ir::SymShape& shape) {
    size(shape.size());
    for (const ir::SymInt& d : shape) sym(d);
  }
  void slots(const std::vector<size_t>& v) {
    size(v.size());
    for (size_t x : v) size(x);
  }
  void attrs(const ir::Attrs& a) {
    size(a.items().size());
    for (const auto& [key, value] : a.items()) {
      str(std::string(ir::attr_name(key)));
      num(uint8_t(value.index()));
      std::visit(
          [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::vector<ir::SymInt>>)
              shape(v);
            else if constexpr (std::is_same_v<V, ir::SymInt>)
              sym(v);
            else if constexpr (std::is_same_v<V, DType>)
              dtype(v);
            else if constexpr (std::is_same_v<V, bool>)
              num(uint8_t(v));
            else
              num(v);
          },
          value);
    }
  }
  void kernel(const KernelIR& k) {
    str(k.name);
    num(uint8_t(k.rows));
    size(k.buffers.size());
    for (const auto& b : k.buffers) {
      dtype(b.dtype);
      num(uint8_t(b.output));
    }
    size(k.exprs.size());
    for (const auto& e : k.exprs) {
      num(uint8_t(e.kind));
      dtype(e.dtype);
      num(int32_t(e.buffer));
      num(e.value);
      num(e.int_value);
      num(uint8_t(e.op));
      num(int32_t(e.dim));
      size(e.args.size());
      for (int a : e.args) num(int32_t(a));
      num(uint8_t(e.row_level));
      num(uint8_t(e.scratch));
    }
    size(k.stores.size());
    for (const auto& [buffer, expr] : k.stores) {
      num(int32_t(buffer));
      num(int32_t(expr));
    }
  }
  void step(const Plan::Step& s) {
    num(uint8_t(s.kind));
    num(uint8_t(s.op));
    attrs(s.attrs);
    str(s.value_name);
    num(int32_t(s.group));
    kernel(s.kernel);
    shape(s.domain);
    num(s.reduced);
    size(s.matmul_input);
    slots(s.in);
    slots(s.out);
    size(s.out_dtypes.size());
    for (DType d : s.out_dtypes) dtype(d);
    size(s.out_shapes.size());
    for (const auto& sh : s.out_shapes) shape(sh);
    slots(s.release);
    size(s.fallback.size());
    for (const auto& f : s.fallback) step(f);
    slots(s.fallback_release);
    str(s.text);
  }
};

class Reader : public ByteReader {
 public:
  explicit Reader(std::string_view in) : ByteReader(in, "plan") {}

  ir::Op op(const char* what) {
    const uint8_t v = num<uint8_t>(what);
    EMBER_CHECK(v < ir::kNumOps, ValueError, "plan: ", what, " has no op ", int(v));
    return ir::Op(v);
  }
  ir::SymInt sym() {
    std::vector<ir::SymInt::Term> terms(count("size terms"));
    for (auto& t : terms) {
      t.coeff = num<int64_t>("size coefficient");
      t.symbols.resize(count("size symbols"));
      for (int& id : t.symbols) {
        id = num<int32_t>("size symbol");
        EMBER_CHECK(id >= 0, ValueError, "plan: negative symbol id ", id);
      }
    }
    return ir::SymInt::from_terms(std::move(terms));
  }
  ir::SymShape shape() {
    ir::SymShape s(count("shape"));
    for (ir::SymInt& d : s) d = sym();
    return s;
  }
  std::vector<size_t> slots(size_t num_slots) {
    std::vector<size_t> v(count("slots"));
    for (size_t& x : v) x = index(num_slots, "slot");
    return v;
  }
  ir::Attrs attrs() {
    ir::Attrs a;
    const size_t n = count("attributes");
    for (size_t i = 0; i < n; ++i) {
      const std::string name = str("attribute name");
      const std::optional<ir::Attr> key = ir::attr_from_name(name);
      EMBER_CHECK(key, ValueError, "plan: unknown attribute '", name, "'");
      switch (num<uint8_t>("attribute type")) {
        case 0:
          a.set(*key, num<int64_t>("int attribute"));
          break;
        case 1:
          a.set(*key, num<double>("float attribute"));
          break;
        case 2:
          a.set(*key, flag("bool attribute"));
          break;
        case 3:
          a.set(*key, dtype("dtype attribute"));
          break;
        case 4:
          a.set(*key, shape());
          break;
        case 5:
          a.set(*key, sym());
          break;
        default:
          throw ValueError("plan: attribute '" + name + "' has an unknown type");
      }
    }
    return a;
  }
  KernelIR kernel() {
    KernelIR k;
    k.name = str("kernel name");
    k.rows = flag("kernel form");
    k.buffers.resize(count("kernel buffers"));
    for (auto& b : k.buffers) {
      b.dtype = dtype("kernel buffer");
      b.output = flag("kernel buffer");
    }
    k.exprs.resize(count("kernel expressions"));
    for (size_t i = 0; i < k.exprs.size(); ++i) {
      auto& e = k.exprs[i];
      const uint8_t kind = num<uint8_t>("expression kind");
      EMBER_CHECK(kind <= uint8_t(KernelIR::ExprKind::Gather), ValueError, "plan: expression kind ",
                  int(kind));
      e.kind = KernelIR::ExprKind(kind);
      e.dtype = dtype("expression");
      e.buffer = num<int32_t>("expression buffer");
      const bool reads = e.kind == KernelIR::ExprKind::Load || e.kind == KernelIR::ExprKind::Gather;
      EMBER_CHECK(!reads || (e.buffer >= 0 && size_t(e.buffer) < k.buffers.size()), ValueError,
                  "plan: expression loads buffer ", e.buffer, " of ", k.buffers.size());
      e.value = num<double>("expression constant");
      e.int_value = num<int64_t>("expression integer constant");
      e.op = op("expression");
      e.dim = num<int32_t>("expression dim");
      e.args.resize(count("expression operands"));
      for (int& a : e.args) {
        a = num<int32_t>("expression operand");
        EMBER_CHECK(a >= 0 && size_t(a) < i, ValueError, "plan: expression ", i,
                    " reads expression ", a, ", not an earlier one");
      }
      if (e.kind == KernelIR::ExprKind::Gather) {
        EMBER_CHECK(
            e.args.size() == 1 && k.exprs[size_t(e.args[0])].kind == KernelIR::ExprKind::Load,
            ValueError, "plan: gather ", i, " must read one loaded index");
        EMBER_CHECK(e.dim >= 0 && e.int_value >= 0 &&
                        (e.op == ir::Op::IndexSelect || e.op == ir::Op::Gather),
                    ValueError, "plan: gather ", i, " (", ir::op_name(e.op), ") has dim ", e.dim,
                    " and stride ", e.int_value);
      }
      e.row_level = flag("expression row level");
      e.scratch = flag("expression scratch");
    }
    k.stores.resize(count("kernel stores"));
    for (auto& [buffer, expr] : k.stores) {
      buffer = num<int32_t>("store buffer");
      expr = num<int32_t>("store expression");
      EMBER_CHECK(buffer >= 0 && size_t(buffer) < k.buffers.size() && expr >= 0 &&
                      size_t(expr) < k.exprs.size(),
                  ValueError, "plan: store of expression ", expr, " into buffer ", buffer,
                  " out of range");
    }
    return k;
  }
  Plan::Step step(size_t num_slots, int depth) {
    Plan::Step s;
    const uint8_t kind = num<uint8_t>("step kind");
    EMBER_CHECK(kind <= uint8_t(Plan::Step::Kind::BlockedMatmul), ValueError, "plan: step kind ",
                int(kind));
    s.kind = Plan::Step::Kind(kind);
    s.op = op("step");
    s.attrs = attrs();
    s.value_name = str("step value name");
    s.group = num<int32_t>("step group");
    s.kernel = kernel();
    s.domain = shape();
    s.reduced = num<int64_t>("step reduced dims");
    s.matmul_input = num<uint64_t>("step matmul input");
    s.in = slots(num_slots);
    s.out = slots(num_slots);
    s.out_dtypes.resize(count("step output dtypes"));
    for (DType& d : s.out_dtypes) d = dtype("step output");
    s.out_shapes.resize(count("step output shapes"));
    for (auto& sh : s.out_shapes) sh = shape();
    s.release = slots(num_slots);
    const size_t fallback = count("fallback steps");
    EMBER_CHECK(fallback == 0 || depth == 0, ValueError, "plan: a fallback step has a fallback");
    for (size_t i = 0; i < fallback; ++i) s.fallback.push_back(step(num_slots, depth + 1));
    s.fallback_release = slots(num_slots);
    s.text = str("step text");
    check(s);
    return s;
  }

 private:
  // What running a step relies on: operand counts, one output per node, types per output.
  static void check(const Plan::Step& s) {
    if (s.kind == Plan::Step::Kind::Node) {
      EMBER_CHECK(s.out.size() <= 1 && (s.op != ir::Op::Guard || s.in.size() == 1), ValueError,
                  "plan: node step ", ir::op_name(s.op), " has the wrong slot counts");
      const int arity = ir::op_arity(s.op);
      EMBER_CHECK(arity < 0 || s.in.size() == size_t(arity), ValueError, "plan: node step ",
                  ir::op_name(s.op), " reads ", s.in.size(), " slots");
      return;
    }
    EMBER_CHECK(s.out.size() == s.out_dtypes.size() && s.out.size() == s.out_shapes.size(),
                ValueError, "plan: kernel step ", s.kernel.name, " has ", s.out.size(),
                " outputs but ", s.out_dtypes.size(), " types");
    EMBER_CHECK(s.kind != Plan::Step::Kind::BlockedMatmul ||
                    (s.in.size() >= 2 && s.matmul_input < s.in.size() - 2 && s.domain.size() == 2),
                ValueError, "plan: blocked matmul step ", s.kernel.name, " is malformed");
    EMBER_CHECK(s.kind != Plan::Step::Kind::Rows ||
                    (s.reduced >= 1 && size_t(s.reduced) <= s.domain.size()),
                ValueError, "plan: row kernel step ", s.kernel.name, " reduces ", s.reduced,
                " dims of ", s.domain.size());
  }
};

}  // namespace

std::string Plan::serialize() const {
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.num(kVersion);
  w.str(name);
  w.size(num_slots);
  w.size(top_level_slots);
  w.size(inputs.size());
  for (const InputType& t : inputs) {
    w.str(t.name);
    w.dtype(t.dtype);
    w.shape(t.shape);
  }
  w.size(symbol_sources.size());
  for (const auto& [input, dim] : symbol_sources) {
    w.size(input);
    w.size(dim);
  }
  w.size(steps.size());
  for (const Step& s : steps) w.step(s);
  w.slots(outputs);
  return w.take();
}

Plan Plan::deserialize(std::string_view bytes) {
  Reader r(bytes);
  char magic[sizeof kMagic];
  r.bytes(magic, sizeof magic, "magic");
  EMBER_CHECK(std::memcmp(magic, kMagic, sizeof kMagic) == 0, ValueError,
              "plan: not a serialized plan (bad magic)");
  const uint32_t version = r.num<uint32_t>("version");
  EMBER_CHECK(version == kVersion, ValueError, "plan: version ", version, ", this build reads ",
              kVersion);
  Plan p;
  p.name = r.str("name");
  p.num_slots = r.num<uint64_t>("slot count");
  // Each slot is an input or written by a step, which takes more than a byte to describe.
  EMBER_CHECK(p.num_slots <= bytes.size(), ValueError, "plan: slot count ", p.num_slots,
              " exceeds the plan's size");
  p.top_level_slots = r.num<uint64_t>("top-level slot count");
  p.inputs.resize(r.count("inputs"));
  EMBER_CHECK(p.inputs.size() <= p.num_slots, ValueError, "plan: more inputs than slots");
  for (InputType& t : p.inputs) {
    t.name = r.str("input name");
    t.dtype = r.dtype("input");
    t.shape = r.shape();
  }
  p.symbol_sources.resize(r.count("symbols"));
  for (auto& [input, dim] : p.symbol_sources) {
    input = r.index(p.inputs.size(), "symbol source input");
    dim = r.index(p.inputs[input].shape.size(), "symbol source dim");
  }
  p.steps.resize(r.count("steps"));
  for (Step& s : p.steps) s = r.step(p.num_slots, 0);
  p.outputs = r.slots(p.num_slots);
  // The top-level steps and the outputs use only the first top_level_slots slots.
  EMBER_CHECK(p.top_level_slots <= p.num_slots && p.inputs.size() <= p.top_level_slots, ValueError,
              "plan: top-level slot count ", p.top_level_slots, " out of range");
  auto top_level = [&](const std::vector<size_t>& slots) {
    for (size_t v : slots)
      EMBER_CHECK(v < p.top_level_slots, ValueError, "plan: slot $", v,
                  " is past the top-level slots");
  };
  for (const Step& s : p.steps) {
    top_level(s.in);
    top_level(s.out);
    top_level(s.release);
  }
  top_level(p.outputs);
  EMBER_CHECK(r.done(), ValueError, "plan: bytes left after the plan");
  // Every symbol a shape uses has a source.
  auto check_symbols = [&](const ir::SymShape& shape) {
    for (const ir::SymInt& d : shape)
      for (int id : d.symbols())
        EMBER_CHECK(size_t(id) < p.symbol_sources.size(), ValueError, "plan: symbol s", id,
                    " has no source");
  };
  auto check_step_symbols = [&](const Step& s) {
    check_symbols(s.domain);
    for (const auto& sh : s.out_shapes) check_symbols(sh);
    for (const auto& [key, value] : s.attrs.items())
      if (const auto* list = std::get_if<std::vector<ir::SymInt>>(&value))
        check_symbols(*list);
      else if (const auto* size = std::get_if<ir::SymInt>(&value))
        check_symbols({*size});
  };
  for (const InputType& t : p.inputs) check_symbols(t.shape);
  // Every slot a step reads holds a value by then, whether a kernel step runs its kernel or its
  // fallback (which must write what the kernel writes).
  std::vector<bool> defined(p.num_slots, false);
  for (size_t i = 0; i < p.inputs.size(); ++i) defined[i] = true;
  auto reads_defined = [&](const Step& s, const std::vector<bool>& d) {
    for (size_t in : s.in)
      EMBER_CHECK(d[in], ValueError, "plan: step '", s.text, "' reads $", in,
                  " before it is written");
  };
  for (const Step& s : p.steps) {
    check_step_symbols(s);
    if (s.kind == Step::Kind::BlockedMatmul) {  // the matmul's result is made block by block
      std::vector<bool> d = defined;
      d[s.in[2 + s.matmul_input]] = true;
      reads_defined(s, d);
    } else {
      reads_defined(s, defined);
    }
    if (s.kind != Step::Kind::Node) {
      const size_t extra = s.kind == Step::Kind::BlockedMatmul ? 2 : 0;
      EMBER_CHECK(s.in.size() - extra + s.out.size() == s.kernel.buffers.size(), ValueError,
                  "plan: kernel step ", s.kernel.name, " binds ", s.in.size() + s.out.size(),
                  " slots to ", s.kernel.buffers.size(), " buffers");
      std::vector<bool> after_fallback = defined;
      for (const Step& f : s.fallback) {
        check_step_symbols(f);
        reads_defined(f, after_fallback);
        for (size_t out : f.out) after_fallback[out] = true;
      }
      for (size_t out : s.out)
        EMBER_CHECK(s.fallback.empty() || after_fallback[out], ValueError, "plan: the fallback of ",
                    s.kernel.name, " does not write $", out);
    }
    for (size_t out : s.out) defined[out] = true;
    for (size_t v : s.release) defined[v] = false;
  }
  for (size_t out : p.outputs)
    EMBER_CHECK(defined[out], ValueError, "plan: output $", out, " is never written");
  return p;
}

}  // namespace ember::codegen
