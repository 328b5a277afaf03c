// The IR's text form: the printer and a recursive-descent parser that builds through Graph::add,
// so ill-typed text is rejected by the same rules as ill-typed code, with a line:column location.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <unordered_map>

#include "ember/ir/graph.h"
#include "ember/runtime/hash.h"

namespace ember::ir {

std::string dtype_short_name(DType dtype) {
  static constexpr const char* names[kNumDTypes] = {"bool", "u8",   "i8",  "i32", "i64",
                                                    "f16",  "bf16", "f32", "f64"};
  return names[int(dtype)];
}

namespace {

std::optional<DType> dtype_from_short_name(std::string_view name) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (dtype_short_name(DType(i)) == name) return DType(i);
  return std::nullopt;
}

std::string type_text(DType dtype, const SymShape& shape) {
  return dtype_short_name(dtype) + shape_text(shape);
}

// Shortest text that reads back as the same double, always with a '.', 'e', "inf" or "nan" so it
// never reads back as an int.
std::string float_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string attr_text(const AttrValue& v) {
  struct Visitor {
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return float_text(d); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(DType d) const { return dtype_short_name(d); }
    std::string operator()(const std::vector<SymInt>& l) const { return shape_text(l); }
    std::string operator()(const SymInt& s) const { return s.str(); }
  };
  return std::visit(Visitor{}, v);
}

}  // namespace

std::string attrs_text(const Attrs& attrs) {
  std::string out = "{";
  for (const auto& [k, v] : attrs.items())
    out += (out.size() > 1 ? ", " : "") + std::string(attr_name(k)) + " = " + attr_text(v);
  return out + "}";
}

namespace {

// canonical: value names replaced by their position (inputs a0.., results v0..) and no graph
// name, so that the text depends only on the structure.
template <class Name>
std::string node_line(const Node& n, const Name& name) {
  std::ostringstream os;
  if (n.output) os << '%' << name(n.output) << " = ";
  os << op_name(n.op) << '(';
  for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", %" : "%") << name(n.inputs[i]);
  os << ')';
  if (!n.attrs.items().empty()) os << ' ' << attrs_text(n.attrs);
  if (n.output) os << " : " << type_text(n.output->dtype, n.output->shape);
  return os.str();
}

std::string print_impl(const Graph& g, bool canonical) {
  std::unordered_map<const Value*, std::string> names;
  for (size_t i = 0; i < g.inputs().size(); ++i)
    names[g.inputs()[i]] = canonical ? "a" + std::to_string(i) : g.inputs()[i]->name;
  size_t k = 0;
  for (const auto& n : g.nodes())
    if (n->output) names[n->output] = canonical ? "v" + std::to_string(k++) : n->output->name;
  auto name = [&](const Value* v) {
    auto it = names.find(v);
    return it == names.end() ? "<foreign:" + v->name + ">" : it->second;
  };
  std::ostringstream os;
  os << "graph @" << (canonical ? "" : g.name()) << '(';
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value* v = g.inputs()[i];
    os << (i ? ", " : "") << (v->kind == ValueKind::Param ? "param " : "")
       << (v->kind == ValueKind::Rng ? "rng " : "") << '%' << name(v) << ": "
       << type_text(v->dtype, v->shape);
  }
  os << ") -> (";
  for (size_t i = 0; i < g.outputs().size(); ++i)
    os << (i ? ", " : "") << type_text(g.outputs()[i]->dtype, g.outputs()[i]->shape);
  os << ") {\n";
  int open_group = -1;  // consecutive nodes of one fusion group print as a kernel block
  for (const auto& n : g.nodes()) {
    if (n->group != open_group) {
      if (open_group >= 0) os << "  }\n";
      if (n->group >= 0) os << "  kernel k" << n->group << " {\n";
      open_group = n->group;
    }
    os << (open_group >= 0 ? "    " : "  ") << node_line(*n, name) << '\n';
  }
  if (open_group >= 0) os << "  }\n";
  os << "  return";
  for (size_t i = 0; i < g.outputs().size(); ++i) os << (i ? ", %" : " %") << name(g.outputs()[i]);
  os << "\n}\n";
  return os.str();
}

}  // namespace

std::string print(const Graph& g) { return print_impl(g, false); }

std::string node_text(const Node& n) {
  return node_line(n, [](const Value* v) { return v->name; });
}

uint64_t Graph::structural_hash() const {
  // FNV-1a over the canonical text: the same bytes give the same hash in every process.
  return fnv1a64(print_impl(*this, true));
}

namespace {

enum class Tok { End, Ident, Global, Local, Int, Float, Punct };

struct Token {
  Tok kind;
  std::string text;
  int line, col;
};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  Token next() {
    skip_space();
    Token t{Tok::End, "", line_, col_};
    if (pos_ >= src_.size()) return t;
    const char c = src_[pos_];
    auto is_ident = [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.';
    };
    if (c == '@' || c == '%') {
      advance();
      t.kind = c == '@' ? Tok::Global : Tok::Local;
      while (pos_ < src_.size() && is_ident(src_[pos_])) t.text += advance();
      if (t.text.empty()) fail(t, std::string("expected a name after '") + c + "'");
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        ((c == '-' || c == '+') && pos_ + 1 < src_.size() &&
         (std::isdigit(static_cast<unsigned char>(src_[pos_ + 1])) || src_[pos_ + 1] == 'i' ||
          src_[pos_ + 1] == 'n'))) {
      std::string num;
      num += advance();
      bool is_float = false;
      while (pos_ < src_.size()) {
        const char d = src_[pos_];
        if (std::isdigit(static_cast<unsigned char>(d))) {
          num += advance();
        } else if (d == '.' || d == 'e' || d == 'E') {
          is_float = true;
          num += advance();
          if ((d == 'e' || d == 'E') && pos_ < src_.size() &&
              (src_[pos_] == '-' || src_[pos_] == '+'))
            num += advance();
        } else if (std::isalpha(static_cast<unsigned char>(d))) {
          num += advance();  // -inf, nan: validated below
          is_float = true;
        } else {
          break;
        }
      }
      t.kind = is_float ? Tok::Float : Tok::Int;
      t.text = num;
      return t;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < src_.size() && is_ident(src_[pos_])) t.text += advance();
      t.kind = Tok::Ident;
      return t;
    }
    if (c == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '>') {
      advance();
      advance();
      t.kind = Tok::Punct;
      t.text = "->";
      return t;
    }
    if (std::string_view("(){}[],:=*+-").find(c) != std::string_view::npos) {
      t.kind = Tok::Punct;
      t.text = std::string(1, advance());
      return t;
    }
    fail(t, std::string("unexpected character '") +
                (std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "\\x?") + "'");
  }

  [[noreturn]] static void fail(const Token& t, const std::string& what) {
    throw ParseError(std::to_string(t.line) + ":" + std::to_string(t.col) + ": " + what);
  }

 private:
  char advance() {
    const char c = src_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  void skip_space() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {  // comment to end of line
        while (pos_ < src_.size() && src_[pos_] != '\n') advance();
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else {
        break;
      }
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
 public:
  explicit Parser(std::string_view src) : lex_(src) { tok_ = lex_.next(); }

  std::unique_ptr<Graph> graph() {
    expect_ident("graph");
    if (tok_.kind != Tok::Global) fail("expected '@name' of the graph");
    auto g = std::make_unique<Graph>(take().text);
    graph_ = g.get();
    expect("(");
    if (!is(")")) {
      do input();
      while (accept(","));
    }
    expect(")");
    expect("->");
    expect("(");
    std::vector<std::pair<DType, SymShape>> out_types;
    std::vector<Token> out_locs;
    if (!is(")")) {
      do {
        out_locs.push_back(tok_);
        out_types.push_back(type());
      } while (accept(","));
    }
    expect(")");
    expect("{");
    while (!(tok_.kind == Tok::Ident && tok_.text == "return")) {
      if (tok_.kind == Tok::Ident && tok_.text == "kernel") {
        kernel_block();
      } else {
        statement();
      }
    }
    take();
    std::vector<Value*> outputs;
    if (tok_.kind == Tok::Local) {
      do outputs.push_back(value());
      while (accept(","));
    }
    expect("}");
    if (tok_.kind != Tok::End) fail("expected the end of the input after the graph");
    if (outputs.size() != out_types.size())
      Lexer::fail(out_locs.empty() ? tok_ : out_locs[0],
                  "the signature lists " + std::to_string(out_types.size()) +
                      " results but return has " + std::to_string(outputs.size()));
    for (size_t i = 0; i < outputs.size(); ++i)
      if (outputs[i]->dtype != out_types[i].first || !(outputs[i]->shape == out_types[i].second))
        Lexer::fail(out_locs[i], "result " + std::to_string(i) + " is declared " +
                                     type_text(out_types[i].first, out_types[i].second) + " but %" +
                                     outputs[i]->name + " is " +
                                     type_text(outputs[i]->dtype, outputs[i]->shape));
    g->set_outputs(outputs);
    return g;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    Lexer::fail(tok_, what + (tok_.kind == Tok::End ? ", got the end of the input"
                                                    : ", got '" + tok_.text + "'"));
  }
  Token take() {
    Token t = tok_;
    tok_ = lex_.next();
    return t;
  }
  bool is(const char* punct) const { return tok_.kind == Tok::Punct && tok_.text == punct; }
  bool accept(const char* punct) {
    if (!is(punct)) return false;
    take();
    return true;
  }
  void expect(const char* punct) {
    if (!accept(punct)) fail(std::string("expected '") + punct + "'");
  }
  void expect_ident(const char* word) {
    if (tok_.kind != Tok::Ident || tok_.text != word) fail(std::string("expected '") + word + "'");
    take();
  }

  void input() {
    ValueKind kind = ValueKind::Input;
    if (tok_.kind == Tok::Ident && (tok_.text == "param" || tok_.text == "rng")) {
      kind = tok_.text == "param" ? ValueKind::Param : ValueKind::Rng;
      take();
    }
    if (tok_.kind != Tok::Local) fail("expected an input '%name'");
    const Token name = take();
    if (graph_->find(name.text)) Lexer::fail(name, "duplicate value name %" + name.text);
    expect(":");
    auto [dtype, shape] = type();
    graph_->add_input(dtype, std::move(shape), kind, name.text);
  }

  std::pair<DType, SymShape> type() {
    if (tok_.kind != Tok::Ident) fail("expected a dtype (f32, i64, ...)");
    const auto dtype = dtype_from_short_name(tok_.text);
    if (!dtype) fail("unknown dtype");
    take();
    return {*dtype, dim_list()};
  }

  std::vector<SymInt> dim_list() {
    expect("[");
    std::vector<SymInt> dims;
    if (!is("]")) {
      do dims.push_back(dim());
      while (accept(","));
    }
    expect("]");
    return dims;
  }

  // dim := term (('+' | '-') term)*; term := factor ('*' factor)*; factor := int | s<N>
  SymInt dim() {
    const Token start = tok_;
    try {
      return dim_expression();
    } catch (const ValueError& e) {  // an overflowing size, located at its expression
      Lexer::fail(start, e.what());
    }
  }
  SymInt dim_expression() {
    SymInt value = term();
    for (;;) {
      if (accept("+")) {
        value = value + term();
      } else if (accept("-")) {
        value = value - term();
      } else if (tok_.kind == Tok::Int && (tok_.text[0] == '-' || tok_.text[0] == '+')) {
        value = value + SymInt(integer(take()));  // "s0 -1" lexes the sign into the number
      } else {
        return value;
      }
    }
  }
  SymInt term() {
    SymInt value = factor();
    while (accept("*")) value = value * factor();
    return value;
  }
  bool is_symbol() const {
    return tok_.kind == Tok::Ident && tok_.text.size() > 1 && tok_.text[0] == 's' &&
           tok_.text.find_first_not_of("0123456789", 1) == std::string::npos &&
           tok_.text.size() < 7;
  }
  SymInt factor() {
    if (tok_.kind == Tok::Int) return SymInt(integer(take()));
    if (is_symbol()) return SymInt::symbol(std::stoi(take().text.substr(1)));
    fail("expected a size (an integer or a symbol s<N>)");
  }

  int64_t integer(const Token& t) {
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(t.text.c_str(), &end, 10);
    if (errno || *end) Lexer::fail(t, "invalid integer '" + t.text + "'");
    return v;
  }
  double floating(const Token& t) {
    const std::string& s = t.text;
    if (s == "nan" || s == "+nan" || s == "-nan") return NAN;
    if (s == "inf" || s == "+inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end || s.find_first_of("0123456789") == std::string::npos)
      Lexer::fail(t, "invalid number '" + s + "'");
    return v;
  }

  Value* value() {
    if (tok_.kind != Tok::Local) fail("expected a value '%name'");
    const Token t = take();
    Value* v = graph_->find(t.text);
    if (!v) Lexer::fail(t, "use of undefined value %" + t.text);
    return v;
  }

  AttrValue attr_value() {
    if (tok_.kind == Tok::Int || is_symbol()) {  // an int, or a symbolic size: s0 - 1
      const SymInt s = dim();
      if (s.is_constant()) return s.value();
      return s;
    }
    if (tok_.kind == Tok::Float) return floating(take());
    if (tok_.kind == Tok::Ident) {
      if (tok_.text == "true" || tok_.text == "false") return take().text == "true";
      if (tok_.text == "inf" || tok_.text == "nan") return floating(take());
      if (auto d = dtype_from_short_name(tok_.text)) {
        take();
        return *d;
      }
      fail("expected an attribute value");
    }
    if (is("[")) return dim_list();
    fail("expected an attribute value");
  }

  // kernel k<N> { statements }: the statements form fusion group N.
  void kernel_block() {
    take();
    const Token name = tok_;
    if (tok_.kind != Tok::Ident || tok_.text.size() < 2 || tok_.text[0] != 'k' ||
        tok_.text.find_first_not_of("0123456789", 1) != std::string::npos || tok_.text.size() > 7)
      fail("expected a kernel name k<N>");
    take();
    const int group = std::stoi(name.text.substr(1));
    expect("{");
    while (!is("}")) {
      if (tok_.kind == Tok::End) fail("expected '}' closing the kernel");
      const size_t before = graph_->nodes().size();
      statement();
      for (size_t i = before; i < graph_->nodes().size(); ++i) graph_->nodes()[i]->group = group;
    }
    take();
  }

  void statement() {
    std::string name;
    Token name_tok = tok_;
    if (tok_.kind == Tok::Local) {
      name = take().text;
      if (graph_->find(name)) Lexer::fail(name_tok, "duplicate value name %" + name);
      expect("=");
    }
    if (tok_.kind != Tok::Ident) fail("expected an op name");
    const Token op_tok = take();
    const auto op = op_from_name(op_tok.text);
    if (!op) Lexer::fail(op_tok, "unknown op '" + op_tok.text + "'");
    expect("(");
    std::vector<Value*> inputs;
    if (!is(")")) {
      do inputs.push_back(value());
      while (accept(","));
    }
    expect(")");
    Attrs attrs;
    if (accept("{")) {
      do {
        if (tok_.kind != Tok::Ident) fail("expected an attribute name");
        const Token key = take();
        const std::optional<Attr> attr = attr_from_name(key.text);
        if (!attr)  // at the op, as infer_type reports an attribute the op does not take
          Lexer::fail(op_tok, std::string(op_name(*op)) + ": unknown attribute '" + key.text + "'");
        if (attrs.has(*attr)) Lexer::fail(key, "duplicate attribute '" + key.text + "'");
        expect("=");
        attrs.set(*attr, attr_value());
      } while (accept(","));
      expect("}");
    }
    std::optional<std::pair<DType, SymShape>> declared;
    Token type_tok = tok_;
    if (!name.empty()) {
      expect(":");
      type_tok = tok_;
      declared = type();
    }
    Value* result = nullptr;
    try {
      result = graph_->add(*op, std::move(inputs), std::move(attrs), name);
    } catch (const ParseError&) {
      throw;
    } catch (const Error& e) {
      Lexer::fail(op_tok, e.what());
    }
    if (bool(result) != !name.empty())
      Lexer::fail(op_tok, std::string(op_name(*op)) +
                              (result ? " has a result: name it" : " has no result to name"));
    if (declared && (result->dtype != declared->first || !(result->shape == declared->second)))
      Lexer::fail(type_tok, "declared type " + type_text(declared->first, declared->second) +
                                " does not match the op's rule, which gives " +
                                type_text(result->dtype, result->shape));
  }

  Lexer lex_;
  Token tok_;
  Graph* graph_ = nullptr;
};

}  // namespace

std::unique_ptr<Graph> parse(std::string_view text) { return Parser(text).graph(); }

}  // namespace ember::ir
