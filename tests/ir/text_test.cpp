// The text form: exact round trips (hand-written, traced and random graphs), located errors for
// malformed or ill-typed text, and a fuzz-style test that mutated text either parses or throws
// ember::Error, never crashes.
#include <gtest/gtest.h>

#include <random>

#include "ember/ember.h"

namespace ember::ir {
namespace {

const char* kMlp =
    R"(graph @mlp(%x: f32[s0, 784], param %w: f32[784, 512], param %b: f32[512]) -> (f32[s0, 512]) {
  %0 = matmul(%x, %w) : f32[s0, 512]
  %1 = add(%0, %b) : f32[s0, 512]
  %2 = tanh(%1) : f32[s0, 512]
  return %2
}
)";

TEST(Text, DesignExampleRoundTrips) {
  auto g = parse(kMlp);
  EXPECT_EQ(print(*g), kMlp);
  EXPECT_EQ(g->inputs()[1]->kind, ValueKind::Param);
  EXPECT_EQ(g->num_symbols(), 1);
}

TEST(Text, AttributesOfEveryKindRoundTrip) {
  const char* text =
      R"(graph @attrs(%x: f32[2, 3], rng %seed: i64[], rng %offset: i64[]) -> (f32[2, 1], f32[2, 3], bf16[2, 3], f32[2, 3]) {
  %0 = reduce_sum(%x) {dims = [1], keepdim = true} : f32[2, 1]
  %1 = constant() {dtype = f32, shape = [], value = -0.1} : f32[]
  %2 = constant() {dtype = f32, shape = [], value = inf} : f32[]
  %3 = maximum(%x, %1) : f32[2, 3]
  %4 = cast(%3) {dtype = bf16} : bf16[2, 3]
  %5 = rand_normal(%seed, %offset) {dtype = f32, shape = [2, 3]} : f32[2, 3]
  %6 = minimum(%5, %2) : f32[2, 3]
  guard(%1) {value = nan}
  return %0, %3, %4, %6
}
)";
  auto g = parse(text);
  EXPECT_EQ(print(*g), text);
  verify(*g);
}

// slice's bounds are sizes: symbolic ones print as expressions, and parse, interpret and fail
// (out of range at the bound sizes) as such.
TEST(Text, SymbolicSliceBoundsRoundTripAndRun) {
  const char* text =
      R"(graph @last(%x: f32[s0, 3], param %mask: f32[8, 8]) -> (f32[1, 3], f32[s0, s0]) {
  %0 = slice(%x) {dim = 0, end = s0, start = s0 - 1, step = 1} : f32[1, 3]
  %1 = slice(%mask) {dim = 0, end = s0, start = 0, step = 1} : f32[s0, 8]
  %2 = slice(%1) {dim = 1, end = s0, start = 0, step = 1} : f32[s0, s0]
  return %0, %2
}
)";
  auto g = parse(text);
  EXPECT_EQ(print(*g), text);
  verify(*g);
  Array x = Array::empty({5, 3}, kFloat32), mask = Array::empty({8, 8}, kFloat32);
  for (int64_t i = 0; i < 15; ++i) x.data_as<float>()[i] = float(i);
  for (int64_t i = 0; i < 64; ++i) mask.data_as<float>()[i] = float(i);
  const auto out = interpret(*g, {x, mask});
  EXPECT_EQ(out[0].sizes(), (Shape{1, 3}));
  EXPECT_EQ(out[0].element_as_double(0), 12.0);  // row 4
  EXPECT_EQ(out[1].sizes(), (Shape{5, 5}));
  EXPECT_EQ(out[1].element_as_double(6), 9.0);  // mask[1][1]
  // s0 = 9 puts the mask's bounds past its 8 rows: a guard failure, never a clamped slice.
  EXPECT_THROW(interpret(*g, {Array::empty({9, 3}, kFloat32), mask}), GuardFailure);
}

// A number computed from sizes (a mean by hand): a size_scalar whose value is evaluated per run.
TEST(Text, SizeScalarsRoundTripAndEvaluatePerRun) {
  const char* text = R"(graph @mean(%x: f32[s0, s1]) -> (f32[s1]) {
  %0 = reduce_sum(%x) {dims = [0], keepdim = false} : f32[s1]
  %1 = size_scalar() {dtype = f32, shape = [], value = s0*s1 - 1} : f32[]
  %2 = div(%0, %1) : f32[s1]
  return %2
}
)";
  auto g = parse(text);
  EXPECT_EQ(print(*g), text);
  verify(*g);
  for (int64_t rows : {2, 5}) {
    Array x = Array::empty({rows, 3}, kFloat32);
    for (int64_t i = 0; i < rows * 3; ++i) x.data_as<float>()[i] = 1.0f;
    const auto out = interpret(*g, {x});
    EXPECT_EQ(out[0].element_as_double(0), double(float(rows) / float(rows * 3 - 1))) << rows;
  }
}

// Symbolic pads (a slice's gradient along a symbolic dim): the padded size is symbolic too.
TEST(Text, SymbolicPadsRoundTripAndRun) {
  const char* text = R"(graph @unslice(%g: f32[s0, 2]) -> (f32[2*s0 + 1, 2]) {
  %0 = pad(%g) {pads = [0, 0, 1, s0], value = 0.0} : f32[2*s0 + 1, 2]
  return %0
}
)";
  auto g = parse(text);
  EXPECT_EQ(print(*g), text);
  verify(*g);
  Array x = Array::empty({3, 2}, kFloat32);
  for (int64_t i = 0; i < 6; ++i) x.data_as<float>()[i] = float(i + 1);
  const auto out = interpret(*g, {x});
  EXPECT_EQ(out[0].sizes(), (Shape{7, 2}));
  EXPECT_EQ(out[0].element_as_double(2), 1.0);  // row 1: the first row of %g
  EXPECT_EQ(out[0].element_as_double(8), 0.0);  // row 4: padding
}

TEST(SymInt, FitPolynomialPrefersTheSimplestForm) {
  const SymInt s0 = SymInt::symbol(0), s1 = SymInt::symbol(1);
  const std::vector<std::vector<int64_t>> points{{4, 2}, {33, 35}, {34, 37}};
  auto fit = [&](const std::vector<int64_t>& values) {
    const auto f = fit_polynomial(points, values);
    return f ? f->str() : std::string("none");
  };
  EXPECT_EQ(fit({16, 16, 16}), "16");  // equal to nothing that varies: a constant
  EXPECT_EQ(fit({2, 35, 37}), "s1");
  EXPECT_EQ(fit({8, 33 * 35, 34 * 37}), "s0*s1");
  EXPECT_EQ(fit({32, 33 * 35 * 4, 34 * 37 * 4}), "4*s0*s1");
  EXPECT_EQ(fit({1, 34, 36}), "s1 - 1");
  EXPECT_EQ(fit({9, 67, 69}), "2*s0 + 1");
  EXPECT_EQ(fit({3, 7, 100}), "none");  // no form fits all three points
  EXPECT_EQ((s0 * s1 - 1).str(), "s0*s1 - 1");
  // Two points fit a*m + c almost always; that is why a third one checks the answer.
  EXPECT_EQ(fit_polynomial({{4, 2}, {33, 35}}, {3, 61})->str(), "2*s0 - 5");
}

TEST(Text, FloatsPrintShortestAndExact) {
  for (double v : {0.1, 1.0 / 3, 1e-300, 6.02e23, -0.0, 2.5, 100.0}) {
    Graph g;
    g.set_outputs({g.add(Op::Constant, {},
                         {{ir::Attr::Value, v},
                          {ir::Attr::Shape, std::vector<SymInt>{}},
                          {ir::Attr::DType, kFloat64}})});
    const auto back = parse(print(g));
    EXPECT_EQ(back->nodes()[0]->attrs.get_float(ir::Attr::Value), v) << print(g);
    EXPECT_EQ(print(*back), print(g));
  }
}

// Random well-typed graphs over a few ops, some with symbolic dims.
std::unique_ptr<Graph> random_graph(std::mt19937& rng) {
  auto g = std::make_unique<Graph>("random");
  std::uniform_int_distribution<int> pick(0, 1 << 20);
  const SymInt s0 = SymInt::symbol(0);
  std::vector<Value*> values;
  const SymShape base = pick(rng) % 2 ? SymShape{s0, 4, 6} : SymShape{3, 4, 6};
  for (int i = 0; i < 2; ++i) values.push_back(g->add_input(kFloat32, base));
  const Op unary[] = {Op::Exp, Op::Tanh, Op::Neg, Op::Abs, Op::Sigmoid, Op::Erf};
  const Op binary[] = {Op::Add, Op::Mul, Op::Sub, Op::Maximum, Op::Div};
  const int n = 3 + pick(rng) % 12;
  for (int i = 0; i < n; ++i) {
    Value* a = values[size_t(pick(rng)) % values.size()];
    Value* b = values[size_t(pick(rng)) % values.size()];
    Value* r = nullptr;
    switch (pick(rng) % 7) {
      case 0:
        r = g->add(unary[pick(rng) % 6], {a});
        break;
      case 1:
        if (a->shape == b->shape || b->rank() == 0) r = g->add(binary[pick(rng) % 5], {a, b});
        break;
      case 2:
        if (a->rank() > 0)
          r = g->add(Op::ReduceSum, {a},
                     {{ir::Attr::Dims, std::vector<SymInt>{int64_t(pick(rng) % a->rank())}},
                      {ir::Attr::Keepdim, true}});
        break;
      case 3: {
        std::vector<SymInt> dims;
        for (int64_t d = a->rank() - 1; d >= 0; --d) dims.push_back(d);
        r = g->add(Op::Permute, {a}, {{ir::Attr::Dims, dims}});
        break;
      }
      case 4:
        r = g->add(Op::Reshape, {a}, {{ir::Attr::Shape, std::vector<SymInt>{sym_numel(a->shape)}}});
        break;
      case 5:
        r = g->add(Op::Constant, {},
                   {{ir::Attr::Value, double(pick(rng) % 100) / 7},
                    {ir::Attr::Shape, std::vector<SymInt>{}},
                    {ir::Attr::DType, kFloat32}});
        break;
      default: {
        Value* c = g->add(Op::Gt, {a, a});
        r = g->add(Op::Where, {c, a, a});
      }
    }
    if (r) values.push_back(r);
  }
  g->set_outputs({values.back(), values[values.size() / 2]});
  return g;
}

TEST(Text, RandomGraphsRoundTripExactly) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    auto g = random_graph(rng);
    verify(*g);
    const std::string text = print(*g);
    auto back = parse(text);
    ASSERT_EQ(print(*back), text);
    ASSERT_EQ(back->structural_hash(), g->structural_hash());
  }
}

void expect_parse_error(const std::string& text, const std::string& where,
                        const std::string& what) {
  try {
    parse(text);
    FAIL() << "parsed: " << text;
  } catch (const ParseError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(where, 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(Text, ErrorsAreLocated) {
  expect_parse_error(
      "graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = frobnicate(%x) : f32[2]\n  return %0\n}",
      "2:8:", "unknown op 'frobnicate'");
  expect_parse_error("graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = add(%x) : f32[2]\n  return %0\n}",
                     "2:8:", "expected 2 operands, got 1");
  expect_parse_error("graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = exp(%y) : f32[2]\n  return %0\n}",
                     "2:12:", "undefined value %y");
  expect_parse_error(
      "graph @f(%x: f32[2], %y: f32[3]) -> (f32[2]) {\n  %0 = add(%x, %y) : f32[2]\n  return %0\n}",
      "2:8:", "cannot be broadcast");
  expect_parse_error("graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = exp(%x) : f32[3]\n  return %0\n}",
                     "2:18:", "does not match the op's rule, which gives f32[2]");
  expect_parse_error("graph @f(%x: f32[2]) -> (f32[2]) {\n  %x = exp(%x) : f32[2]\n  return %x\n}",
                     "2:3:", "duplicate value name %x");
  expect_parse_error("graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = exp(%x) : f32[2]\n",
                     "3:1:", "got the end of the input");
  expect_parse_error("graph @f(%x: q32[2]) -> () {\n  return\n}", "1:14:", "unknown dtype");
  expect_parse_error("graph @f(%x: f32[2]) -> (i64[2]) {\n  return %x\n}",
                     "1:26:", "declared i64[2]");
  expect_parse_error("graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = exp(%x) $ : f32[2]\n}",
                     "2:16:", "unexpected character '$'");
  expect_parse_error(
      "graph @f(%x: f32[2]) -> (f32[2]) {\n  %0 = exp(%x) {axis = 0} : f32[2]\n  return %0\n}",
      "2:8:", "exp: unknown attribute 'axis'");
}

TEST(Text, FuzzedTextParsesOrThrowsEmberError) {
  std::vector<std::string> corpus = {kMlp};
  // Traced graphs make a richer corpus.
  const TraceableFn fn = [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
    return {layer_norm(gelu(matmul(x[0], x[1])), {3}), softmax(x[0], 0).argmax(1)};
  };
  corpus.push_back(print(*trace(fn, {randn({2, 4}), randn({4, 3})}).graph));
  std::mt19937 rng(1234);
  int parsed = 0, rejected = 0;
  auto tokens_of = [](const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == ' ' || c == '\n') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string text = corpus[size_t(i) % corpus.size()];
    switch (i % 4) {
      case 0:
        text = text.substr(0, size_t(rng()) % (text.size() + 1));
        break;   // truncated
      case 1: {  // two tokens swapped
        auto toks = tokens_of(text);
        std::swap(toks[rng() % toks.size()], toks[rng() % toks.size()]);
        text.clear();
        for (auto& t : toks) text += t + " ";
        break;
      }
      case 2:  // random bytes written over
        for (int k = 0; k < 1 + int(rng() % 4); ++k) text[rng() % text.size()] = char(rng() % 256);
        break;
      default:  // a random slice deleted
        text.erase(rng() % text.size(), rng() % 12);
    }
    try {
      auto g = parse(text);
      verify(*g);
      EXPECT_EQ(print(*parse(print(*g))), print(*g));
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
  std::printf("fuzz: %d parsed, %d rejected with ember::Error\n", parsed, rejected);
}

}  // namespace
}  // namespace ember::ir
