#include "tools/fuzz/program.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>

namespace ember::fuzz {
namespace {

using Args = std::vector<Tensor>;
using Names = std::vector<std::string>;
struct Gen;

// When a node's result is computed bit for bit by every backend (see program.h).
enum class Exact : uint8_t {
  Never,           // float arithmetic, transcendentals, reductions of floats
  IfArgs,          // movement, abs, max, comparisons, casts: exact when its operands are
  IfArgsIntegral,  // arithmetic: exact on integers when its operands are
};

// One row per op: how it runs, how it prints as C++, and how the generator picks its operands
// and parameters (false: not applicable to the program as it stands).
struct OpDef {
  const char* name;
  Tensor (*run)(const Node&, const Args&);
  std::string (*print)(const Node&, const Names&);
  bool (*make)(Gen&, Node&);
  Exact exact;
  bool discrete;  // needs exact operands (a comparison, argmax, a float-to-integer cast)
  int weight;
};

std::string list(const std::vector<int64_t>& v, size_t from = 0) {
  std::string s = "{";
  for (size_t i = from; i < v.size(); ++i) s += (i > from ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}
std::string num(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  std::string s = os.str();
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
std::string dtype_cpp(DType d) {
  switch (d) {
    case kBool:
      return "kBool";
    case kUInt8:
      return "kUInt8";
    case kInt8:
      return "kInt8";
    case kInt32:
      return "kInt32";
    case kInt64:
      return "kInt64";
    case kFloat16:
      return "kFloat16";
    case kBFloat16:
      return "kBFloat16";
    case kFloat32:
      return "kFloat32";
    case kFloat64:
      return "kFloat64";
  }
  return "?";
}

constexpr double kFloatBound = 1e4;    // larger floats make cancellation too likely
constexpr double kIntBound = 1 << 20;  // integers stay far from every overflow
constexpr int64_t kMaxNumel = 1 << 14;

// ---- the generator's state ----

struct Gen {
  std::mt19937_64 rng;
  Program& p;
  std::vector<std::vector<Tensor>> vals;  // per call, per value
  std::vector<bool> exact;                // per value

  Gen(uint64_t seed, Program& program) : rng(seed), p(program) {}

  int64_t uniform(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  bool coin(double prob) { return std::uniform_real_distribution<double>(0, 1)(rng) < prob; }
  template <class T>
  const T& choose(const std::vector<T>& v) {
    return v[size_t(uniform(0, int64_t(v.size()) - 1))];
  }

  const Tensor& t(int v) const { return vals[0][size_t(v)]; }
  int64_t rank(int v) const { return t(v).dim(); }
  bool is_float(int v) const { return t(v).is_floating_point(); }
  bool is_bool(int v) const { return t(v).dtype() == kBool; }
  int64_t min_size(int v, int64_t d) const {
    int64_t m = INT64_MAX;
    for (const auto& call : vals) m = std::min(m, call[size_t(v)].size(d));
    return m;
  }
  int64_t random_dim(int v) { return uniform(0, rank(v) - 1) - (coin(0.3) ? rank(v) : 0); }

  // A value satisfying pred, recent ones more likely (they make chains); -1 when there is none.
  int pick(const std::function<bool(int)>& pred) {
    std::vector<int> ok;
    for (int v = 0; v < int(p.num_values()); ++v)
      if (pred(v)) ok.push_back(v);
    if (ok.empty()) return -1;
    if (coin(0.6)) return ok[size_t(std::max<int64_t>(0, int64_t(ok.size()) - uniform(1, 3)))];
    return choose(ok);
  }

  // How each dim of v's size varies over the calls: fixed, one of the variables, or neither
  // (var -2: a size derived from a variable, such as a slice of one).
  std::vector<DimSpec> spec(int v) const {
    std::vector<DimSpec> out;
    for (int64_t d = 0; d < rank(v); ++d) {
      DimSpec s{-1, t(v).size(d)};
      bool fixed = true;
      for (const auto& call : vals) fixed = fixed && call[size_t(v)].size(d) == s.size;
      if (!fixed) {
        s.var = -2;
        for (int k = 0; k < int(p.var_sizes[0].size()) && s.var == -2; ++k) {
          bool match = true;
          for (size_t c = 0; c < vals.size(); ++c)
            match = match && vals[c][size_t(v)].size(d) == p.var_sizes[c][size_t(k)];
          if (match) s.var = k;
        }
      }
      out.push_back(s);
    }
    return out;
  }

  Layout random_layout(size_t rank) {
    const int64_t r = uniform(0, 9);
    if (r < 6 || rank == 0) return Layout::Contiguous;
    if (r < 8 && rank >= 2) return Layout::Transposed;
    if (r < 9) return Layout::Broadcast;
    return Layout::Strided;
  }

  // A new input of the given dims and dtype; returns its value number.
  int add_input(std::vector<DimSpec> shape, DType dtype) {
    InputSpec in;
    in.layout = random_layout(shape.size());
    in.broadcast_dim = shape.empty() ? 0 : int(uniform(0, int64_t(shape.size()) - 1));
    in.shape = std::move(shape);
    in.dtype = dtype;
    const int v = int(p.inputs.size());
    p.inputs.push_back(in);
    for (Node& n : p.nodes)
      for (int& a : n.args)
        if (a >= v) ++a;
    for (int& o : p.outputs)
      if (o >= v) ++o;
    for (size_t c = 0; c < vals.size(); ++c) {
      const std::vector<Tensor> all = make_inputs(p, c);
      vals[c].insert(vals[c].begin() + v, all[size_t(v)]);
    }
    exact.insert(exact.begin() + v, true);
    return v;
  }
  // An input that broadcasts against v: each dim v's, or 1, and maybe fewer leading dims.
  int add_broadcast_partner(int v, DType dtype) {
    std::vector<DimSpec> s = spec(v);
    if (!s.empty() && coin(0.3)) s.erase(s.begin(), s.begin() + uniform(1, int64_t(s.size())));
    for (DimSpec& d : s)
      if (d.var == -2 || coin(0.3)) d = {-1, 1};
    return add_input(s, dtype);
  }
  DimSpec random_dim_spec() {
    if (!p.var_sizes[0].empty() && coin(0.3))
      return {int(uniform(0, int64_t(p.var_sizes[0].size()) - 1)), 0};
    if (coin(0.03)) return {-1, 0};
    return {-1, choose(std::vector<int64_t>{1, 2, 3, 4, 5, 7, 8, 16})};
  }
  DType random_dtype() {
    const int64_t r = uniform(0, 19);
    if (r < 10) return kFloat32;
    if (r < 12) return kFloat64;
    if (r < 13) return kFloat16;
    if (r < 14) return kBFloat16;
    if (r < 16) return kInt32;
    if (r < 17) return kInt64;
    if (r < 18) return kInt8;
    if (r < 19) return kUInt8;
    return kBool;
  }
};

// ---- operand pickers ----

int pick_float(Gen& g) {
  return g.pick([&](int v) { return g.is_float(v); });
}
int pick_numeric(Gen& g) {
  return g.pick([&](int v) { return !g.is_bool(v); });
}
int pick_exact(Gen& g, bool numeric) {
  return g.pick([&](int v) { return g.exact[size_t(v)] && (!numeric || !g.is_bool(v)); });
}
int pick_ranked(Gen& g, int64_t min_rank, bool float_only) {
  return g.pick([&](int v) { return g.rank(v) >= min_rank && (!float_only || g.is_float(v)); });
}
// A second operand for an elementwise op with a: a value of broadcast-compatible sizes on every
// call (eager decides), or a new input that broadcasts.
int pick_partner(Gen& g, int a, bool same_kind) {
  auto kind_ok = [&](int v) {
    return !same_kind || (g.is_float(v) == g.is_float(a) && g.is_bool(v) == g.is_bool(a));
  };
  if (g.coin(0.6)) {
    const int b = g.pick([&](int v) { return v != a && kind_ok(v); });
    if (b >= 0) return b;
  }
  if (g.coin(0.2)) return a;
  return g.add_broadcast_partner(a, g.coin(0.8) ? g.t(a).dtype() : g.random_dtype());
}

bool unary_float(Gen& g, Node& n) {
  n.args = {pick_float(g)};
  return n.args[0] >= 0;
}
bool unary_numeric(Gen& g, Node& n) {
  n.args = {pick_numeric(g)};
  return n.args[0] >= 0;
}
bool unary_exact_float(Gen& g, Node& n) {
  n.args = {g.pick([&](int v) { return g.exact[size_t(v)] && g.is_float(v); })};
  return n.args[0] >= 0;
}
bool binary_numeric(Gen& g, Node& n) {
  const int a = pick_numeric(g);
  if (a < 0) return false;
  n.args = {a, pick_partner(g, a, true)};
  return !g.is_bool(n.args[1]);
}
bool compare(Gen& g, Node& n) {
  const int a = pick_exact(g, true);
  if (a < 0) return false;
  const int b = g.coin(0.7) ? g.pick([&](int v) { return v != a && g.exact[size_t(v)]; }) : -1;
  n.args = {a, b >= 0 ? b : g.add_broadcast_partner(a, g.t(a).dtype())};
  return true;
}
bool logical_binary(Gen& g, Node& n) {
  const int a = g.pick([&](int v) { return g.is_bool(v); });
  if (a < 0) return false;
  const int b = g.pick([&](int v) { return v != a && g.is_bool(v); });
  n.args = {a, b >= 0 ? b : a};
  return true;
}
bool logical_unary(Gen& g, Node& n) {
  n.args = {g.pick([&](int v) { return g.is_bool(v); })};
  return n.args[0] >= 0;
}
bool where_op(Gen& g, Node& n) {
  const int c = g.pick([&](int v) { return g.is_bool(v); });
  const int a = pick_numeric(g);
  if (c < 0 || a < 0) return false;
  n.args = {c, a, pick_partner(g, a, false)};
  return true;
}
bool scalar_op(Gen& g, Node& n) {
  n.args = {pick_numeric(g)};
  n.scalar =
      g.coin(0.5) ? double(g.uniform(-3, 3)) : g.choose(std::vector<double>{0.5, -1.5, 0.25});
  return n.args[0] >= 0;
}
bool clamp_op(Gen& g, Node& n) {
  n.args = {pick_numeric(g)};
  n.scalar = double(g.uniform(0, 3));
  return n.args[0] >= 0;
}
// dims: a random nonempty subset of v's dims (in ints from index 1), ints[0]: keepdim.
bool reduce_dims(Gen& g, Node& n, int v) {
  if (v < 0) return false;
  n.args = {v};
  n.ints = {int64_t(g.coin(0.5))};
  if (g.rank(v) == 0 || g.coin(0.15)) return true;  // every dim
  std::vector<int64_t> dims(size_t(g.rank(v)));
  std::iota(dims.begin(), dims.end(), 0);
  std::shuffle(dims.begin(), dims.end(), g.rng);
  dims.resize(size_t(g.uniform(1, int64_t(dims.size()))));
  for (int64_t d : dims) n.ints.push_back(g.coin(0.3) ? d - g.rank(v) : d);
  return true;
}
bool reduce_numeric(Gen& g, Node& n) { return reduce_dims(g, n, pick_numeric(g)); }
bool reduce_float(Gen& g, Node& n) { return reduce_dims(g, n, pick_float(g)); }
bool reduce_one_dim(Gen& g, Node& n, int v) {
  if (v < 0 || g.rank(v) == 0) return false;
  n.args = {v};
  n.ints = {g.random_dim(v), int64_t(g.coin(0.5))};
  return true;
}
bool arg_reduce(Gen& g, Node& n) { return reduce_one_dim(g, n, pick_exact(g, true)); }
bool max_dim(Gen& g, Node& n) { return reduce_one_dim(g, n, pick_numeric(g)); }
bool max_dim_indices(Gen& g, Node& n) { return reduce_one_dim(g, n, pick_exact(g, true)); }
bool full_reduce_exact(Gen& g, Node& n) {
  n.args = {pick_numeric(g)};
  return n.args[0] >= 0;
}
bool along_dim_float(Gen& g, Node& n) {
  const int v = pick_ranked(g, 1, true);
  if (v < 0) return false;
  n.args = {v};
  n.ints = {g.random_dim(v)};
  return true;
}
bool cumsum_op(Gen& g, Node& n) {
  const int v = g.pick([&](int x) { return g.rank(x) >= 1 && !g.is_bool(x); });
  if (v < 0) return false;
  n.args = {v};
  n.ints = {g.random_dim(v)};
  return true;
}
bool layer_norm_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 1, true);
  if (v < 0) return false;
  n.args = {v};
  if (g.coin(0.5)) {  // with weight and bias of the last dim's size
    std::vector<DimSpec> s = g.spec(v);
    if (s.back().var == -2) return false;
    n.args.push_back(g.add_input({s.back()}, g.t(v).dtype()));
    n.args.push_back(g.add_input({s.back()}, g.t(v).dtype()));
  }
  return true;
}
bool matmul_op(Gen& g, Node& n) {
  const int a = pick_ranked(g, 1, true);
  if (a < 0) return false;
  std::vector<DimSpec> s = g.spec(a);
  if (g.coin(0.3) && g.rank(a) >= 2) {  // a @ a^T, as attention scores
    n.args = {a, a};
    n.ints = {1};
    return true;
  }
  if (s.back().var == -2) return false;
  std::vector<DimSpec> b = {s.back()};
  if (g.coin(0.8)) b.push_back(g.random_dim_spec());
  if (g.rank(a) >= 3 && g.coin(0.4)) b.insert(b.begin(), s[s.size() - 3]);  // batched
  n.args = {a, g.add_input(b, g.t(a).dtype())};
  n.ints = {0};
  return true;
}
bool cast_op(Gen& g, Node& n) {
  const int v = g.pick([&](int x) { return !g.is_bool(x) || g.coin(0.5); });
  if (v < 0) return false;
  n.args = {v};
  n.dtype = g.random_dtype();
  if (g.is_float(v) && !is_floating(n.dtype)) {
    if (!g.exact[size_t(v)]) return false;  // a float-to-integer cast is discrete
    // Out-of-range float-to-integer conversions are undefined: only values that fit.
    double lo = 0, hi = 0;
    for (const auto& call : g.vals) {
      for (double x : call[size_t(v)].values_as_double())
        lo = std::min(lo, x), hi = std::max(hi, x);
    }
    if (n.dtype == kUInt8 && lo < 0) return false;
    if (n.dtype == kInt8 && (lo < -128 || hi > 127)) return false;
  }
  return true;
}
bool permute_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 2, false);
  if (v < 0) return false;
  n.args = {v};
  n.ints.resize(size_t(g.rank(v)));
  std::iota(n.ints.begin(), n.ints.end(), 0);
  std::shuffle(n.ints.begin(), n.ints.end(), g.rng);
  return true;
}
bool transpose_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 2, false);
  if (v < 0) return false;
  n.args = {v};
  n.ints = {g.random_dim(v), g.random_dim(v)};
  return true;
}
bool slice_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 1, false);
  if (v < 0) return false;
  const int64_t d = g.random_dim(v), size = g.min_size(v, d);
  // ints: dim, start, end (INT64_MAX: none), step
  n.args = {v};
  n.ints = {d, g.uniform(0, std::max<int64_t>(0, size - 1)) - (g.coin(0.2) ? size : 0),
            g.coin(0.5) ? INT64_MAX : g.uniform(-2, size), g.uniform(1, 3)};
  return true;
}
bool narrow_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 1, false);
  if (v < 0) return false;
  const int64_t d = g.random_dim(v), size = g.min_size(v, d);
  const int64_t start = g.uniform(0, size);
  n.args = {v};
  n.ints = {d, start, g.uniform(0, size - start)};
  return true;
}
bool select_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 1, false);
  if (v < 0) return false;
  const int64_t d = g.random_dim(v), size = g.min_size(v, d);
  if (size == 0) return false;
  n.args = {v};
  n.ints = {d, g.coin(0.3) ? -1 : g.uniform(0, size - 1)};
  return true;
}
bool unsqueeze_op(Gen& g, Node& n) {
  const int v = g.pick([&](int x) { return g.rank(x) < 5; });
  if (v < 0) return false;
  n.args = {v};
  n.ints = {g.uniform(0, g.rank(v))};
  return true;
}
bool squeeze_op(Gen& g, Node& n) {
  const int v = g.pick([&](int x) {
    for (const DimSpec& s : g.spec(x))
      if (s.var == -1 && s.size == 1) return true;
    return false;
  });
  if (v < 0) return false;
  const std::vector<DimSpec> s = g.spec(v);
  std::vector<int64_t> ones;
  for (size_t d = 0; d < s.size(); ++d)
    if (s[d].var == -1 && s[d].size == 1) ones.push_back(int64_t(d));
  n.args = {v};
  n.ints = {g.choose(ones)};
  return true;
}
// ints: the expanded sizes, -1 for every dim kept (so that variable sizes stay valid).
bool expand_op(Gen& g, Node& n) {
  const int v = g.pick([&](int x) { return g.rank(x) < 5; });
  if (v < 0) return false;
  n.args = {v};
  const std::vector<DimSpec> s = g.spec(v);
  for (int64_t i = 0, lead = g.uniform(0, 1); i < lead; ++i) n.ints.push_back(g.uniform(1, 3));
  for (const DimSpec& d : s)
    n.ints.push_back(d.var == -1 && d.size == 1 && g.coin(0.7) ? g.uniform(2, 5) : -1);
  return true;
}
bool flatten_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 2, false);
  if (v < 0) return false;
  const int64_t a = g.uniform(0, g.rank(v) - 2);
  n.args = {v};
  n.ints = {a, g.uniform(a + 1, g.rank(v) - 1)};
  return true;
}
// Splits a fixed dim of v into two; the one other non-fixed dim (at most) is -1.
bool unflatten_op(Gen& g, Node& n) {
  const int v = pick_ranked(g, 1, false);
  if (v < 0) return false;
  const std::vector<DimSpec> s = g.spec(v);
  std::vector<int64_t> sizes, splittable;
  int free = 0;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d].var != -1) ++free;
    if (s[d].var == -1 && s[d].size >= 4 && s[d].size % 2 == 0) splittable.push_back(int64_t(d));
  }
  if (free > 1 || splittable.empty() || g.rank(v) >= 5) return false;
  const int64_t at = g.choose(splittable);
  for (size_t d = 0; d < s.size(); ++d) {
    if (int64_t(d) == at) {
      sizes.push_back(2);
      sizes.push_back(s[d].size / 2);
    } else {
      sizes.push_back(s[d].var == -1 ? s[d].size : -1);
    }
  }
  n.args = {v};
  n.ints = sizes;
  return true;
}
bool any_value(Gen& g, Node& n) {
  n.args = {g.pick([](int) { return true; })};
  return n.args[0] >= 0;
}
bool t_op(Gen& g, Node& n) {
  n.args = {g.pick([&](int v) { return g.rank(v) == 2; })};
  return n.args[0] >= 0;
}
// cat: a second value of sizes equal but along dim (eager decides), a itself, or a new input.
bool cat_op(Gen& g, Node& n) {
  const int a = pick_ranked(g, 1, false);
  if (a < 0) return false;
  const int64_t d = g.random_dim(a);
  int b = g.coin(0.5) ? g.pick([&](int v) { return v != a && g.rank(v) == g.rank(a); }) : -1;
  if (b < 0 && g.coin(0.3)) b = a;
  if (b < 0) {
    std::vector<DimSpec> s = g.spec(a);
    if (std::any_of(s.begin(), s.end(), [](const DimSpec& x) { return x.var == -2; })) return false;
    s[size_t(d < 0 ? d + g.rank(a) : d)] = {-1, g.uniform(1, 4)};
    b = g.add_input(s, g.t(a).dtype());
  }
  n.args = {a, b};
  n.ints = {d};
  return true;
}
bool stack_op(Gen& g, Node& n) {
  const int a = g.pick([&](int v) { return g.rank(v) < 5; });
  if (a < 0) return false;
  const int b = g.pick([&](int v) { return v != a && g.rank(v) == g.rank(a); });
  n.args = {a, b >= 0 && g.coin(0.6) ? b : a};
  n.ints = {g.uniform(0, g.rank(a))};
  return true;
}
// A data-dependent branch: the predicate reads an exact value's maximum.
bool branch_op(Gen& g, Node& n) {
  const int c = pick_exact(g, true);
  const int a = pick_numeric(g);
  if (c < 0 || a < 0) return false;
  n.args = {c, a};
  n.scalar = g.choose(std::vector<double>{0, 0.5, 1, -0.5});
  return true;
}

template <Tensor (*F)(const Tensor&)>
Tensor unary(const Node&, const Args& a) {
  return F(a[0]);
}
template <Tensor (*F)(const Tensor&, const Tensor&)>
Tensor binary(const Node&, const Args& a) {
  return F(a[0], a[1]);
}
std::vector<int64_t> dims_of(const Node& n) { return {n.ints.begin() + 1, n.ints.end()}; }
std::string dims_cpp(const Node& n) {
  return list(n.ints, 1) + ", " + (n.ints[0] ? "true" : "false");
}
std::string fn1(const char* f, const Names& a) { return std::string(f) + "(" + a[0] + ")"; }
std::string fn2(const char* f, const Names& a) {
  return std::string(f) + "(" + a[0] + ", " + a[1] + ")";
}

#define EMBER_UNARY(NAME, FN, PICK, EXACT, DISCRETE, WEIGHT)                                   \
  OpDef {                                                                                      \
    NAME, unary<FN>, [](const Node&, const Names& a) { return fn1("ember::" NAME, a); }, PICK, \
        EXACT, DISCRETE, WEIGHT                                                                \
  }
#define EMBER_BINARY(NAME, FN, PICK, EXACT, DISCRETE, WEIGHT)                                   \
  OpDef {                                                                                       \
    NAME, binary<FN>, [](const Node&, const Names& a) { return fn2("ember::" NAME, a); }, PICK, \
        EXACT, DISCRETE, WEIGHT                                                                 \
  }

template <Tensor (*F)(const Tensor&, IntArrayRef, bool)>
Tensor reduce_run(const Node& n, const Args& a) {
  return F(a[0], dims_of(n), n.ints[0]);
}
// A reduction over dims (ints from 1) with keepdim (ints[0]).
#define EMBER_REDUCE(NAME, FN, PICK, EXACT, WEIGHT)                    \
  OpDef {                                                              \
    NAME, reduce_run<FN>,                                              \
        [](const Node& n, const Names& a) {                            \
          return "ember::" NAME "(" + a[0] + ", " + dims_cpp(n) + ")"; \
        },                                                             \
        PICK, EXACT, false, WEIGHT                                     \
  }

template <Tensor (*F)(const std::vector<Tensor>&, int64_t)>
Tensor join_run(const Node& n, const Args& a) {
  return F({a[0], a[1]}, n.ints[0]);
}
// cat or stack of two values along ints[0].
#define EMBER_JOIN(NAME, FN, PICK, WEIGHT)                                                      \
  OpDef {                                                                                       \
    NAME, join_run<FN>,                                                                         \
        [](const Node& n, const Names& a) {                                                     \
          return "ember::" NAME "({" + a[0] + ", " + a[1] + "}, " + std::to_string(n.ints[0]) + \
                 ")";                                                                           \
        },                                                                                      \
        PICK, Exact::IfArgs, false, WEIGHT                                                      \
  }

Tensor gelu_none(const Tensor& x) { return gelu(x); }
Tensor gelu_tanh(const Tensor& x) { return gelu(x, "tanh"); }
Tensor log1p_abs(const Tensor& x) { return log1p(abs(x)); }
Tensor sqrt_abs(const Tensor& x) { return sqrt(abs(x)); }
Tensor reciprocal_safe(const Tensor& x) { return reciprocal(abs(x) + 1); }
Tensor div_safe(const Tensor& a, const Tensor& b) { return a / (abs(b) + 1); }

const std::vector<OpDef>& ops() {
  static const std::vector<OpDef> table = {
      EMBER_UNARY("neg", neg, unary_numeric, Exact::IfArgs, false, 3),
      EMBER_UNARY("abs", abs, unary_numeric, Exact::IfArgs, false, 3),
      EMBER_UNARY("relu", relu, unary_numeric, Exact::IfArgs, false, 3),
      EMBER_UNARY("exp", exp, unary_float, Exact::Never, false, 3),
      {"log1p_abs", unary<log1p_abs>,
       [](const Node&, const Names& a) { return "ember::log1p(ember::abs(" + a[0] + "))"; },
       unary_float, Exact::Never, false, 2},
      {"sqrt_abs", unary<sqrt_abs>,
       [](const Node&, const Names& a) { return "ember::sqrt(ember::abs(" + a[0] + "))"; },
       unary_float, Exact::Never, false, 2},
      {"reciprocal", unary<reciprocal_safe>,
       [](const Node&, const Names& a) {
         return "ember::reciprocal(ember::abs(" + a[0] + ") + 1)";
       },
       unary_float, Exact::Never, false, 1},
      EMBER_UNARY("tanh", tanh, unary_float, Exact::Never, false, 3),
      EMBER_UNARY("sigmoid", sigmoid, unary_float, Exact::Never, false, 3),
      EMBER_UNARY("sin", sin, unary_float, Exact::Never, false, 1),
      EMBER_UNARY("cos", cos, unary_float, Exact::Never, false, 1),
      EMBER_UNARY("erf", erf, unary_float, Exact::Never, false, 1),
      EMBER_UNARY("expm1", expm1, unary_float, Exact::Never, false, 1),
      EMBER_UNARY("silu", silu, unary_float, Exact::Never, false, 2),
      {"gelu", unary<gelu_none>, [](const Node&, const Names& a) { return fn1("ember::gelu", a); },
       unary_float, Exact::Never, false, 2},
      {"gelu_tanh", unary<gelu_tanh>,
       [](const Node&, const Names& a) { return "ember::gelu(" + a[0] + ", \"tanh\")"; },
       unary_float, Exact::Never, false, 2},
      EMBER_UNARY("floor", floor, unary_exact_float, Exact::IfArgs, true, 1),
      EMBER_UNARY("ceil", ceil, unary_exact_float, Exact::IfArgs, true, 1),
      EMBER_UNARY("round", round, unary_exact_float, Exact::IfArgs, true, 1),
      EMBER_UNARY("sign", sign, unary_exact_float, Exact::IfArgs, true, 1),
      EMBER_BINARY("add", add, binary_numeric, Exact::IfArgsIntegral, false, 5),
      EMBER_BINARY("sub", sub, binary_numeric, Exact::IfArgsIntegral, false, 4),
      EMBER_BINARY("mul", mul, binary_numeric, Exact::IfArgsIntegral, false, 5),
      {"div", binary<div_safe>,
       [](const Node&, const Names& a) { return a[0] + " / (ember::abs(" + a[1] + ") + 1)"; },
       binary_numeric, Exact::Never, false, 2},
      EMBER_BINARY("maximum", maximum, binary_numeric, Exact::IfArgs, false, 2),
      EMBER_BINARY("minimum", minimum, binary_numeric, Exact::IfArgs, false, 2),
      EMBER_BINARY("lt", lt, compare, Exact::IfArgs, true, 2),
      EMBER_BINARY("ge", ge, compare, Exact::IfArgs, true, 1),
      EMBER_BINARY("eq", eq, compare, Exact::IfArgs, true, 1),
      EMBER_BINARY("ne", ne, compare, Exact::IfArgs, true, 1),
      EMBER_BINARY("logical_and", logical_and, logical_binary, Exact::IfArgs, false, 1),
      EMBER_BINARY("logical_or", logical_or, logical_binary, Exact::IfArgs, false, 1),
      EMBER_UNARY("logical_not", logical_not, logical_unary, Exact::IfArgs, false, 1),
      {"where", [](const Node&, const Args& a) { return where(a[0], a[1], a[2]); },
       [](const Node&, const Names& a) {
         return "ember::where(" + a[0] + ", " + a[1] + ", " + a[2] + ")";
       },
       where_op, Exact::IfArgs, false, 3},
      {"add_scalar",
       [](const Node& n, const Args& a) {
         return n.scalar == std::trunc(n.scalar) ? a[0] + int64_t(n.scalar) : a[0] + n.scalar;
       },
       [](const Node& n, const Names& a) {
         return a[0] + " + " +
                (n.scalar == std::trunc(n.scalar) ? std::to_string(int64_t(n.scalar))
                                                  : num(n.scalar));
       },
       scalar_op, Exact::IfArgsIntegral, false, 2},
      {"mul_scalar",
       [](const Node& n, const Args& a) {
         return n.scalar == std::trunc(n.scalar) ? a[0] * int64_t(n.scalar) : a[0] * n.scalar;
       },
       [](const Node& n, const Names& a) {
         return a[0] + " * " +
                (n.scalar == std::trunc(n.scalar) ? std::to_string(int64_t(n.scalar))
                                                  : num(n.scalar));
       },
       scalar_op, Exact::IfArgsIntegral, false, 2},
      {"clamp",
       [](const Node& n, const Args& a) {
         return clamp(a[0], Scalar(-int64_t(n.scalar)), Scalar(int64_t(n.scalar)));
       },
       [](const Node& n, const Names& a) {
         const std::string s = std::to_string(int64_t(n.scalar));
         return "ember::clamp(" + a[0] + ", -" + s + ", " + s + ")";
       },
       clamp_op, Exact::IfArgs, false, 1},
      EMBER_REDUCE("sum", sum, reduce_numeric, Exact::IfArgsIntegral, 4),
      EMBER_REDUCE("mean", mean, reduce_float, Exact::Never, 2),
      EMBER_REDUCE("amax", amax, reduce_numeric, Exact::IfArgs, 2),
      EMBER_REDUCE("amin", amin, reduce_numeric, Exact::IfArgs, 1),
      {"var", [](const Node& n, const Args& a) { return var(a[0], dims_of(n), true, n.ints[0]); },
       [](const Node& n, const Names& a) {
         return "ember::var(" + a[0] + ", " + list(n.ints, 1) + ", true, " +
                (n.ints[0] ? "true" : "false") + ")";
       },
       reduce_float, Exact::Never, false, 1},
      EMBER_REDUCE("prod", prod, reduce_numeric, Exact::IfArgsIntegral, 1),
      EMBER_UNARY("max", max, full_reduce_exact, Exact::IfArgs, false, 1),
      {"max_dim_values",
       [](const Node& n, const Args& a) { return std::get<0>(max(a[0], n.ints[0], n.ints[1])); },
       [](const Node& n, const Names& a) {
         return "std::get<0>(ember::max(" + a[0] + ", " + std::to_string(n.ints[0]) + ", " +
                (n.ints[1] ? "true" : "false") + "))";
       },
       max_dim, Exact::IfArgs, false, 1},
      {"min_dim_indices",
       [](const Node& n, const Args& a) { return std::get<1>(min(a[0], n.ints[0], n.ints[1])); },
       [](const Node& n, const Names& a) {
         return "std::get<1>(ember::min(" + a[0] + ", " + std::to_string(n.ints[0]) + ", " +
                (n.ints[1] ? "true" : "false") + "))";
       },
       max_dim_indices, Exact::IfArgs, true, 1},
      {"argmax",
       [](const Node& n, const Args& a) { return argmax(a[0], n.ints[0], bool(n.ints[1])); },
       [](const Node& n, const Names& a) {
         return "ember::argmax(" + a[0] + ", " + std::to_string(n.ints[0]) + ", " +
                (n.ints[1] ? "true" : "false") + ")";
       },
       arg_reduce, Exact::IfArgs, true, 2},
      {"softmax", [](const Node& n, const Args& a) { return softmax(a[0], n.ints[0]); },
       [](const Node& n, const Names& a) {
         return "ember::softmax(" + a[0] + ", " + std::to_string(n.ints[0]) + ")";
       },
       along_dim_float, Exact::Never, false, 3},
      {"log_softmax", [](const Node& n, const Args& a) { return log_softmax(a[0], n.ints[0]); },
       [](const Node& n, const Names& a) {
         return "ember::log_softmax(" + a[0] + ", " + std::to_string(n.ints[0]) + ")";
       },
       along_dim_float, Exact::Never, false, 2},
      {"cumsum", [](const Node& n, const Args& a) { return cumsum(a[0], n.ints[0]); },
       [](const Node& n, const Names& a) {
         return "ember::cumsum(" + a[0] + ", " + std::to_string(n.ints[0]) + ")";
       },
       cumsum_op, Exact::IfArgsIntegral, false, 1},
      {"layer_norm",
       [](const Node&, const Args& a) {
         return a.size() == 3 ? layer_norm(a[0], {a[0].size(-1)}, a[1], a[2])
                              : layer_norm(a[0], {a[0].size(-1)});
       },
       [](const Node&, const Names& a) {
         return "ember::layer_norm(" + a[0] + ", {" + a[0] + ".size(-1)}" +
                (a.size() == 3 ? ", " + a[1] + ", " + a[2] : std::string()) + ")";
       },
       layer_norm_op, Exact::Never, false, 2},
      {"matmul",
       [](const Node& n, const Args& a) {
         return n.ints[0] ? matmul(a[0], a[1].transpose(-1, -2)) : matmul(a[0], a[1]);
       },
       [](const Node& n, const Names& a) {
         return "ember::matmul(" + a[0] + ", " + a[1] + (n.ints[0] ? ".transpose(-1, -2))" : ")");
       },
       matmul_op, Exact::Never, false, 3},
      {"to", [](const Node& n, const Args& a) { return a[0].to(n.dtype); },
       [](const Node& n, const Names& a) { return a[0] + ".to(" + dtype_cpp(n.dtype) + ")"; },
       cast_op, Exact::IfArgs, false, 4},
      {"permute", [](const Node& n, const Args& a) { return a[0].permute(n.ints); },
       [](const Node& n, const Names& a) { return a[0] + ".permute(" + list(n.ints) + ")"; },
       permute_op, Exact::IfArgs, false, 2},
      {"transpose",
       [](const Node& n, const Args& a) { return a[0].transpose(n.ints[0], n.ints[1]); },
       [](const Node& n, const Names& a) {
         return a[0] + ".transpose(" + std::to_string(n.ints[0]) + ", " +
                std::to_string(n.ints[1]) + ")";
       },
       transpose_op, Exact::IfArgs, false, 2},
      {"slice",
       [](const Node& n, const Args& a) {
         return a[0].slice(
             n.ints[0], n.ints[1],
             n.ints[2] == INT64_MAX ? std::nullopt : std::optional<int64_t>(n.ints[2]), n.ints[3]);
       },
       [](const Node& n, const Names& a) {
         return a[0] + ".slice(" + std::to_string(n.ints[0]) + ", " + std::to_string(n.ints[1]) +
                ", " + (n.ints[2] == INT64_MAX ? "std::nullopt" : std::to_string(n.ints[2])) +
                ", " + std::to_string(n.ints[3]) + ")";
       },
       slice_op, Exact::IfArgs, false, 3},
      {"narrow",
       [](const Node& n, const Args& a) { return a[0].narrow(n.ints[0], n.ints[1], n.ints[2]); },
       [](const Node& n, const Names& a) {
         return a[0] + ".narrow(" + std::to_string(n.ints[0]) + ", " + std::to_string(n.ints[1]) +
                ", " + std::to_string(n.ints[2]) + ")";
       },
       narrow_op, Exact::IfArgs, false, 1},
      {"select", [](const Node& n, const Args& a) { return a[0].select(n.ints[0], n.ints[1]); },
       [](const Node& n, const Names& a) {
         return a[0] + ".select(" + std::to_string(n.ints[0]) + ", " + std::to_string(n.ints[1]) +
                ")";
       },
       select_op, Exact::IfArgs, false, 2},
      {"unsqueeze", [](const Node& n, const Args& a) { return a[0].unsqueeze(n.ints[0]); },
       [](const Node& n, const Names& a) {
         return a[0] + ".unsqueeze(" + std::to_string(n.ints[0]) + ")";
       },
       unsqueeze_op, Exact::IfArgs, false, 2},
      {"squeeze", [](const Node& n, const Args& a) { return a[0].squeeze(n.ints[0]); },
       [](const Node& n, const Names& a) {
         return a[0] + ".squeeze(" + std::to_string(n.ints[0]) + ")";
       },
       squeeze_op, Exact::IfArgs, false, 1},
      {"expand", [](const Node& n, const Args& a) { return a[0].expand(n.ints); },
       [](const Node& n, const Names& a) { return a[0] + ".expand(" + list(n.ints) + ")"; },
       expand_op, Exact::IfArgs, false, 2},
      {"flatten", [](const Node& n, const Args& a) { return a[0].flatten(n.ints[0], n.ints[1]); },
       [](const Node& n, const Names& a) {
         return a[0] + ".flatten(" + std::to_string(n.ints[0]) + ", " + std::to_string(n.ints[1]) +
                ")";
       },
       flatten_op, Exact::IfArgs, false, 2},
      {"reshape", [](const Node& n, const Args& a) { return a[0].reshape(n.ints); },
       [](const Node& n, const Names& a) { return a[0] + ".reshape(" + list(n.ints) + ")"; },
       unflatten_op, Exact::IfArgs, false, 2},
      {"contiguous", [](const Node&, const Args& a) { return a[0].contiguous(); },
       [](const Node&, const Names& a) { return a[0] + ".contiguous()"; }, any_value, Exact::IfArgs,
       false, 1},
      {"t", [](const Node&, const Args& a) { return a[0].t(); },
       [](const Node&, const Names& a) { return a[0] + ".t()"; }, t_op, Exact::IfArgs, false, 1},
      EMBER_JOIN("cat", cat, cat_op, 2),
      EMBER_JOIN("stack", stack, stack_op, 1),
      {"branch",
       [](const Node& n, const Args& a) {
         if (bool(a[0].amax() > n.scalar)) return a[1] * 2;
         return a[1] - 1;
       },
       [](const Node& n, const Names& a) {
         return "(bool(" + a[0] + ".amax() > " + num(n.scalar) + ") ? " + a[1] +
                " * 2 : " + a[1] + " - 1)";
       },
       branch_op, Exact::IfArgsIntegral, false, 1},
      {"scale_by_item",
       [](const Node&, const Args& a) { return a[1] * double(a[0].amax().item<double>()); },
       [](const Node&, const Names& a) {
         return a[1] + " * double(" + a[0] + ".amax().item<double>())";
       },
       branch_op, Exact::IfArgsIntegral, false, 1},
  };
  return table;
}

#undef EMBER_UNARY
#undef EMBER_BINARY
#undef EMBER_REDUCE
#undef EMBER_JOIN

Tensor run_node(const Node& n, const std::vector<Tensor>& values) {
  Args a;
  for (int v : n.args) a.push_back(values[size_t(v)]);
  return ops()[size_t(n.op)].run(n, a);
}

// Finite floats of moderate size, integers far from overflow, and not too many elements.
bool acceptable(const Tensor& t) {
  if (t.numel() > kMaxNumel) return false;
  if (t.dtype() == kBool) return true;
  const double bound = t.is_floating_point() ? kFloatBound : kIntBound;
  for (double x : t.values_as_double())
    if (!std::isfinite(x) || std::fabs(x) > bound) return false;
  return true;
}

// An integer result must be the exact value: the same node on the operands in float64 agrees
// (no wrap-around, which would make the result an artefact of overflow).
bool exact_integers(const Node& n, const std::vector<Tensor>& values, const Tensor& result) {
  if (result.is_floating_point() || result.dtype() == kBool) return true;
  Args wide;
  for (int v : n.args) {
    const Tensor& a = values[size_t(v)];
    wide.push_back(a.dtype() == kBool || a.is_floating_point() ? a : a.to(kFloat64));
  }
  Tensor reference;
  try {
    reference = ops()[size_t(n.op)].run(n, wide);
  } catch (const Error&) {
    return true;  // the op has no float64 form (an index result): nothing to wrap
  }
  return reference.values_as_double() == result.values_as_double();
}

// Whether n's result is exact (see Exact), given which of its operands are.
bool result_exact(const Node& n, const std::vector<bool>& exact, const Tensor& result) {
  const Exact e = ops()[size_t(n.op)].exact;
  bool out = e != Exact::Never;
  for (int a : n.args) out = out && exact[size_t(a)];
  return e == Exact::IfArgsIntegral ? out && !result.is_floating_point() : out;
}

// The rule of program.h: discrete results only of exact operands.
bool discrete_of_exact(const Node& n, const std::vector<bool>& exact,
                       const std::vector<Tensor>& values) {
  const OpDef& def = ops()[size_t(n.op)];
  const std::string name = def.name;
  const bool first_exact = exact[size_t(n.args[0])];
  if (def.discrete)
    for (int a : n.args)
      if (!exact[size_t(a)]) return false;
  if (name == "to" && values[size_t(n.args[0])].is_floating_point() && !is_floating(n.dtype))
    return first_exact;
  if (name == "branch" || name == "scale_by_item") return first_exact;
  return true;
}

// layer_norm of rows of (nearly) equal values divides rounding noise by sqrt(eps): every
// backend computes the mean its own way, so such rows are left out.
bool well_conditioned(const Node& n, const std::vector<Tensor>& values) {
  if (std::string(ops()[size_t(n.op)].name) != "layer_norm") return true;
  const Tensor& x = values[size_t(n.args[0])];
  if (x.numel() == 0) return true;
  return var(x.to(kFloat64), {-1}, false).amin().item<double>() >= 1e-2;
}

bool valid_node(const Node& n, const std::vector<std::vector<Tensor>>& vals,
                std::vector<Tensor>* results) {
  for (const auto& call : vals) {
    Tensor r;
    try {
      r = run_node(n, call);
    } catch (const Error&) {
      return false;
    }
    if (!acceptable(r) || !exact_integers(n, call, r) || !well_conditioned(n, call)) return false;
    if (results) results->push_back(r);
  }
  return true;
}

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

Tensor random_values(IntArrayRef sizes, DType dtype) {
  if (is_floating(dtype)) return (randn(sizes) * 1.5).to(dtype);
  if (dtype == kBool) return randint(0, 2, sizes).to(kBool);
  if (dtype == kUInt8) return randint(0, 8, sizes, TensorOptions(dtype));
  return randint(-4, 5, sizes, TensorOptions(dtype));
}

}  // namespace

const char* op_name(int op) { return ops()[size_t(op)].name; }
int num_ops() { return int(ops().size()); }

std::vector<Tensor> make_inputs(const Program& p, size_t call) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const InputSpec& in = p.inputs[i];
    std::vector<int64_t> sizes;
    for (const DimSpec& d : in.shape)
      sizes.push_back(d.var >= 0 ? p.var_sizes[call][size_t(d.var)] : d.size);
    manual_seed(mix(mix(p.seed, call), i));
    Tensor x;
    const size_t r = sizes.size();
    if (in.layout == Layout::Transposed && r >= 2) {
      std::vector<int64_t> t = sizes;
      std::swap(t[r - 1], t[r - 2]);
      x = random_values(t, in.dtype).transpose(-1, -2);
    } else if (in.layout == Layout::Broadcast && r >= 1) {
      std::vector<int64_t> one = sizes;
      one[size_t(in.broadcast_dim)] = 1;
      x = random_values(one, in.dtype).expand(sizes);
    } else if (in.layout == Layout::Strided && r >= 1) {
      std::vector<int64_t> wide = sizes;
      wide[r - 1] *= 2;
      x = random_values(wide, in.dtype).slice(-1, 0, std::nullopt, 2);
    } else {
      x = random_values(sizes, in.dtype);
    }
    out.push_back(x);
  }
  return out;
}

std::vector<Tensor> execute(const Program& p, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> values = inputs;
  for (const Node& n : p.nodes) values.push_back(run_node(n, values));
  std::vector<Tensor> out;
  for (int o : p.outputs) out.push_back(values[size_t(o)]);
  return out;
}

bool runs_eagerly(const Program& p) {
  for (size_t c = 0; c < p.num_calls(); ++c) {
    std::vector<Tensor> values = make_inputs(p, c);
    std::vector<bool> exact(values.size(), true);
    for (const Node& n : p.nodes) {
      for (int a : n.args)
        if (a < 0 || a >= int(values.size())) return false;
      std::vector<Tensor> r;
      if (!discrete_of_exact(n, exact, values) || !valid_node(n, {values}, &r)) return false;
      values.push_back(r[0]);
      exact.push_back(result_exact(n, exact, r[0]));
    }
    for (int o : p.outputs)
      if (o < 0 || o >= int(values.size())) return false;
  }
  return !p.outputs.empty();
}

bool gradients_follow_near_ties(const Program& p) {
  std::vector<Tensor> values = make_inputs(p, 0);
  std::vector<bool> exact(values.size(), true);
  for (const Node& n : p.nodes) {
    values.push_back(run_node(n, values));
    exact.push_back(result_exact(n, exact, values.back()));
    const std::string name = ops()[size_t(n.op)].name;
    const bool selects = name == "amax" || name == "amin" || name == "max" ||
                         name == "max_dim_values" || name == "maximum" || name == "minimum";
    if (!selects) continue;
    for (int a : n.args)
      if (!exact[size_t(a)] && values[size_t(a)].is_floating_point()) return true;
  }
  return false;
}

Program generate(uint64_t seed) {
  Program p;
  p.seed = seed;
  Gen g(mix(seed, 0x5eed), p);

  // Variables: their sizes in call 0 and 1 agree (a replay), then change (a symbolic recompile,
  // then a replay of it), sometimes to 1 (specialized).
  const int vars = int(g.uniform(0, 2));
  std::vector<int64_t> base;
  for (int k = 0; k < vars; ++k) base.push_back(g.uniform(2, 6) + 7 * k);
  p.var_sizes = {base, base};
  if (vars) {
    std::vector<int64_t> second = base, third = base;
    for (int k = 0; k < vars; ++k) {
      second[size_t(k)] += g.uniform(1, 3);
      third[size_t(k)] = g.coin(0.1) ? 1 : second[size_t(k)] + g.uniform(1, 4);
    }
    p.var_sizes.push_back(second);
    p.var_sizes.push_back(third);
  }
  g.vals.resize(p.num_calls());

  // One or two starting inputs.
  for (int64_t i = 0, n = g.uniform(1, 2); i < n; ++i) {
    std::vector<DimSpec> shape;
    for (int64_t d = 0, r = g.uniform(0, 4); d < r; ++d) shape.push_back(g.random_dim_spec());
    g.add_input(shape, g.coin(0.7) ? kFloat32 : g.random_dtype());
  }

  int total_weight = 0;
  for (const OpDef& op : ops()) total_weight += op.weight;
  const int64_t target = g.uniform(2, 14);
  for (int attempt = 0; attempt < 200 && int64_t(p.nodes.size()) < target; ++attempt) {
    int r = int(g.uniform(0, total_weight - 1)), op = 0;
    while (r >= ops()[size_t(op)].weight) r -= ops()[size_t(op)].weight, ++op;
    const OpDef& def = ops()[size_t(op)];
    Node n;
    n.op = op;
    if (!def.make(g, n)) continue;
    std::vector<Tensor> results;
    if (!valid_node(n, g.vals, &results)) continue;
    if (!discrete_of_exact(n, g.exact, g.vals[0])) continue;
    p.nodes.push_back(n);
    g.exact.push_back(result_exact(n, g.exact, results[0]));
    for (size_t c = 0; c < p.num_calls(); ++c) g.vals[c].push_back(results[c]);
  }
  // The last value, sometimes another node or an input as well.
  p.outputs = {int(p.num_values()) - 1};
  if (!p.nodes.empty() && g.coin(0.3)) {
    const int other = int(g.uniform(int64_t(p.inputs.size()), int64_t(p.num_values()) - 1));
    if (other != p.outputs[0]) p.outputs.push_back(other);
  }
  if (g.coin(0.05)) p.outputs.push_back(0);
  return p;
}

std::string to_cpp(const Program& p, size_t call) {
  std::ostringstream os;
  Names names;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const InputSpec& in = p.inputs[i];
    names.push_back("x" + std::to_string(i));
    os << "// " << names.back() << ": " << dtype_name(in.dtype) << " [";
    for (size_t d = 0; d < in.shape.size(); ++d) {
      const DimSpec& s = in.shape[d];
      os << (d ? ", " : "")
         << (s.var >= 0 ? "s" + std::to_string(s.var) + "=" +
                              std::to_string(p.var_sizes[call][size_t(s.var)])
                        : std::to_string(s.size));
    }
    static const char* layouts[] = {"contiguous", "transposed in memory", "broadcast along dim",
                                    "read with stride 2 in the last dim"};
    os << "] " << layouts[int(in.layout)];
    if (in.layout == Layout::Broadcast) os << " " << in.broadcast_dim;
    os << "\n";
  }
  os << "std::vector<Tensor> fn(const std::vector<Tensor>& x) {\n";
  for (size_t i = 0; i < p.inputs.size(); ++i)
    os << "  const Tensor& " << names[i] << " = x[" << i << "];\n";
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const Node& n = p.nodes[i];
    Names a;
    for (int v : n.args) a.push_back(names[size_t(v)]);
    names.push_back("v" + std::to_string(p.inputs.size() + i));
    os << "  Tensor " << names.back() << " = " << ops()[size_t(n.op)].print(n, a) << ";\n";
  }
  os << "  return {";
  for (size_t i = 0; i < p.outputs.size(); ++i)
    os << (i ? ", " : "") << names[size_t(p.outputs[i])];
  os << "};\n}\n";
  return os.str();
}

}  // namespace ember::fuzz
