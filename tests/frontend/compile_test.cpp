// compile(): replay equals eager, and it stays correct when shapes change, when control flow
// depends on data, when numbers change and when captured weights are updated in place.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ember/codegen/llvm_backend.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

Tensor input(const Shape& shape, uint64_t seed, double lo = -2, double hi = 2) {
  return from_values(shape, test_values(size_t(numel_of(shape)), lo, hi, seed), kFloat32);
}

void expect_same(const Tensor& got, const Tensor& want, double tol = 1e-5,
                 const std::string& what = "") {
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  expect_values(got, want.sizes().vec(), values_of(want), tol, tol, what);
}

TEST(Compile, ReplaysAFusedChainAndEqualsEager) {
  const Tensor a = input({64, 33}, 1), b = input({33}, 2);
  auto fn = [&](const Tensor& x) { return gelu(x * a + b) * sigmoid(x); };
  auto f = compile(fn);
  for (uint64_t seed = 3; seed < 6; ++seed) {
    const Tensor x = input({64, 33}, seed);
    expect_same(f(x), fn(x), 1e-5, "seed " + std::to_string(seed));
  }
  const CompileStats s = f.stats();
  EXPECT_EQ(s.calls, 3);
  EXPECT_EQ(s.traces, 1);
  EXPECT_EQ(s.replays, 2);
  EXPECT_GT(s.compile_ms, 0);
  EXPECT_NE(f.describe().find("1 kernel(s)"), std::string::npos) << f.describe();
  EXPECT_EQ(f.last_plan().kernels, 1);
  EXPECT_EQ(f.last_plan().eager_nodes, 0);
}

// A causal mask computed once and read by two masked softmaxes of a larger shape (two attention
// layers): fusing it into the first one's kernel would store a [T, T] value from a [B, H, T, T]
// kernel; it stays its own kernel and everything lowers.
TEST(Compile, AMaskSharedByTwoSoftmaxesLowers) {
  const Tensor keep = tril(ones({8, 8}, kBool));
  auto fn = [&](const Tensor& a, const Tensor& b) {
    const Tensor hidden = logical_not(keep);
    const Tensor p = softmax(masked_fill(matmul(a, b) * 0.5, hidden, -INFINITY), -1);
    return softmax(masked_fill(matmul(p, b) * 0.5, hidden, -INFINITY), -1);
  };
  auto f = compile(fn);
  const Tensor a = input({2, 4, 8, 8}, 1), b = input({2, 4, 8, 8}, 2);
  expect_same(f(a, b), fn(a, b), 1e-5);
  EXPECT_EQ(f.last_plan().eager_nodes, 0) << f.describe();
}

// Embedding lookups are kernel loads fused with what reads them; an index out of range raises
// eager's IndexError before the kernel runs, in every later replay too.
TEST(Compile, LookupsAreKernelLoadsThatCheckTheirIndices) {
  const Tensor wte = input({10, 8}, 1), wpe = input({6, 8}, 2);
  auto fn = [&](const Tensor& idx) {
    const Tensor pos = arange(0, idx.size(1), 1, kInt64);
    return (embedding(wte, idx) + embedding(wpe, pos)) * 2;
  };
  auto f = compile(fn);
  const Tensor idx = from_values({2, 6}, {0, 9, 3, 3, 1, 7, 2, 8, 4, 4, 5, 0}, kInt64);
  expect_same(f(idx), fn(idx), 0);
  const CompiledPlanInfo info = f.last_plan();
  EXPECT_EQ(info.eager_nodes, 0) << f.describe();
  EXPECT_EQ(info.library_calls, 0) << f.describe();
  const Tensor bad = from_values({2, 6}, {0, 1, 2, 3, 4, 10, 0, 1, 2, 3, 4, 5}, kInt64);
  try {
    f(bad);
    FAIL() << "an index out of range ran";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("index 10 is out of bounds for dimension 0 with size 10"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(f(-bad), IndexError);
  const Tensor strided = idx.t().contiguous().t();  // the same values, transposed in memory
  expect_same(f(strided), fn(strided), 0);
  expect_same(f(idx.to(kInt32)), fn(idx.to(kInt32)), 0);  // int32 indices load as well
  EXPECT_EQ(f.last_plan().eager_nodes, 0) << f.describe();
}

// A lookup added to a matmul's result: the gather stays its own kernel (an epilogue runs block by
// block over the product's rows, which would cut the table).
TEST(Compile, ALookupBesideAMatmulEpilogue) {
  const Tensor w = input({16, 8}, 1), table = input({40, 8}, 2);
  auto fn = [&](const Tensor& x, const Tensor& idx) {
    return relu(matmul(x, w) + index_select(table, 0, idx));
  };
  auto f = compile(fn);
  const Tensor x = input({64, 16}, 3);
  const Tensor idx = from_values({64}, test_values(64, 0, 39, 4, true), kInt64);
  expect_same(f(x, idx), fn(x, idx), 1e-5);
  EXPECT_EQ(f.last_plan().eager_nodes, 0) << f.describe();
}

TEST(Compile, NormalizationsAndMatmulEpilogues) {
  const Tensor w = input({48, 40}, 7, -0.3, 0.3), bias = input({40}, 8);
  const Tensor gamma = input({40}, 9, 0.5, 1.5), beta = input({40}, 10);
  auto fn = [&](const Tensor& x) {
    const Tensor h = gelu(matmul(x, w) + bias);
    return std::make_tuple(softmax(h, -1), layer_norm(h, {40}, gamma, beta, 1e-5),
                           log_softmax(x, 1));
  };
  auto f = compile(fn);
  for (int64_t rows : {300, 300}) {  // 300 rows: several blocks of the matmul's epilogue
    const Tensor x = input({rows, 48}, 11);
    const auto [s, l, ls] = f(x);
    const auto [es, el, els] = fn(x);
    expect_same(s, es, 1e-5, "softmax");
    expect_same(l, el, 1e-4, "layer_norm");
    expect_same(ls, els, 1e-5, "log_softmax");
  }
  const std::string plan = f.describe();
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_NE(plan.find("1 library call(s)"), std::string::npos) << plan;
  EXPECT_NE(plan.find("0 eager node(s)"), std::string::npos) << plan;
}

// Rows longer than a float32 accumulation block (2048 columns): sums add block totals in double.
TEST(Compile, LongRowsReduceAcrossBlocks) {
  auto fn = [](const Tensor& x) {
    return std::make_tuple(x.sum(-1), softmax(x, -1), layer_norm(x, {5000}), x.mean(-1));
  };
  auto f = compile(fn);
  for (DType d : {kFloat32, kFloat16, kBFloat16}) {
    const Tensor x = (input({3, 5000}, 4) + 3).to(d);  // large sums: accumulation error shows
    const auto [s, sm, ln, m] = f(x);
    const auto [es, esm, eln, em] = fn(x);
    const double tol = d == kFloat32 ? 2e-6 : 1e-2;
    expect_same(s, es, tol, "sum");
    expect_same(sm, esm, tol, "softmax");
    expect_same(ln, eln, d == kFloat32 ? 2e-5 : 2e-2, "layer_norm");
    expect_same(m, em, tol, "mean");
  }
}

// Batch sizes 32 -> 64 -> 17 -> 32: one recompile (dim 0 becomes symbolic), every result right.
TEST(Compile, AChangingBatchSizeRecompilesOnce) {
  const Tensor w = input({16, 8}, 1), b = input({8}, 2);
  auto fn = [&](const Tensor& x) {
    const Tensor h = relu(matmul(x, w) + b);
    return softmax(h, -1) + h.sum(-1, true).reshape({-1, 1}) * 0.01;
  };
  auto f = compile(fn);
  for (int64_t batch : {32, 64, 17, 32, 5}) {
    const Tensor x = input({batch, 16}, uint64_t(batch));
    expect_same(f(x), fn(x), 1e-5, "batch " + std::to_string(batch));
  }
  EXPECT_EQ(f.stats().recompiles, 1);
  ASSERT_EQ(f.recompile_reasons().size(), 1u);
  EXPECT_EQ(f.recompile_reasons()[0], "input 0 dim 0: 32 -> 64, now symbolic");
  EXPECT_NE(f.describe().find("float32[s0, 16]"), std::string::npos) << f.describe();
}

TEST(Compile, SymbolicReshapeAndFlatten) {
  auto fn = [](const Tensor& x) { return x.flatten(0, 1).exp().reshape({-1, 2}) * 3; };
  auto f = compile(fn);
  for (int64_t n : {6, 10, 4}) {
    const Tensor x = input({n, 3, 4}, uint64_t(n));
    expect_same(f(x), fn(x), 1e-6, "n " + std::to_string(n));
  }
  EXPECT_EQ(f.stats().recompiles, 1);
}

// Slice bounds computed from a size are symbolic: x[1 : n - 1] is one graph for every n.
TEST(Compile, SliceBoundsComputedFromSizesAreSymbolic) {
  auto fn = [](const Tensor& x) { return x.slice(0, 1, x.size(0) - 1) * 2; };
  auto f = compile(fn);
  for (int64_t n : {8, 9, 8, 9, 10}) {
    const Tensor x = input({n, 4}, uint64_t(n));
    expect_same(f(x), fn(x), 0, "n " + std::to_string(n));
  }
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_NE(f.describe().find("s0"), std::string::npos) << f.describe();
}

// A strided slice with symbolic bounds has no polynomial length: its dim is specialized per
// size, and the recompile reason says why.
TEST(Compile, ADimThatCannotBeSymbolicIsSpecialized) {
  auto fn = [](const Tensor& x) { return x.slice(0, 0, x.size(0), 2) * 2; };
  auto f = compile(fn);
  for (int64_t n : {8, 9, 8, 9, 10}) {
    const Tensor x = input({n, 4}, uint64_t(n));
    expect_same(f(x), fn(x), 0, "n " + std::to_string(n));
  }
  EXPECT_EQ(f.stats().traces, 3);  // 8, 9 (specialized after its symbolic trace failed), 10
  const auto reasons = f.recompile_reasons();
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons[0].find("needs step 1"), std::string::npos) << reasons[0];
  EXPECT_EQ(reasons.back(),
            "input 0 dim 0: 9 -> 10 (specialized: its symbolic trace failed before)");
}

// A size used as a number (a mean written by hand, a count) is a number of the symbols in the
// graph: a size_scalar the plan evaluates per call, so the entry stays shape-generic.
TEST(Compile, ASizeUsedAsANumberStaysSymbolic) {
  auto fn = [](const Tensor& x) {
    const int64_t n = x.size(0);
    return x.sum(0) / double(n) + x.mean(1).sum() * double(n - 1) + double(n * x.size(1));
  };
  auto f = compile(fn);
  for (int64_t n : {3, 4, 5, 4, 6, 17}) {
    const Tensor x = input({n, 3}, uint64_t(n));
    expect_same(f(x), fn(x), 1e-5, "n " + std::to_string(n));
  }
  EXPECT_EQ(f.stats().traces, 2) << f.recompile_reasons().back();
}

// A number that follows the sizes beyond a polynomial (1 / n), or a size baked into an op's
// attribute, would replay stale at the next size: the dim is specialized, and the reason says
// which number or node.
TEST(Compile, ASizeUsedAsANumberIsNeverReplayedStale) {
  auto fn = [](const Tensor& x) { return x * (1.0 / double(x.size(0))); };
  auto f = compile(fn);
  for (int64_t n : {3, 4, 5, 4, 6}) {
    const Tensor x = input({n, 3}, uint64_t(n));
    expect_same(f(x), fn(x), 1e-6, "n " + std::to_string(n));
  }
  // 3, 4, 5 and 6 each get an entry (4's symbolic trace stopped at the number).
  EXPECT_EQ(f.stats().traces, 4);
  EXPECT_NE(f.recompile_reasons().back().find("specialized: its symbolic trace failed before"),
            std::string::npos)
      << f.recompile_reasons().back();
  const std::string failed = f.recompile_reasons()[0];
  EXPECT_NE(failed.find("now symbolic; tracing with symbolic sizes failed (mul: its number "
                        "operand (0.25 at [s0=4]) varies with the symbolic sizes beyond a "
                        "polynomial"),
            std::string::npos)
      << failed;
  auto h = compile([](const Tensor& x) { return clamp(x, 0.0, double(x.size(0))); });
  for (int64_t n : {3, 4, 5}) {
    const Tensor x = input({n, 3}, uint64_t(n), -10, 10);
    expect_same(h(x), clamp(x, 0.0, double(n)), 0, "n " + std::to_string(n));
  }
  // clamp's bound is a constant of its decomposition: the probe trace's graph differs there, and
  // the reason names the constant and the node that reads it (4's symbolic trace counts too).
  EXPECT_EQ(h.stats().traces, 4);
  const std::string clamped = h.recompile_reasons()[0];
  EXPECT_NE(clamped.find("value = 4.0"), std::string::npos) << clamped;
  EXPECT_NE(clamped.find("read by `%4 = minimum("), std::string::npos) << clamped;
  // Shapes alone (a mean over a static dim, a reshape with -1) stay symbolic: one recompile.
  auto g = compile([](const Tensor& x) { return x.mean(1) * x.reshape({-1}).sum(); });
  for (int64_t n : {3, 4, 5, 6}) {
    const Tensor x = input({n, 3}, uint64_t(n));
    expect_same(g(x), x.mean(1) * x.reshape({-1}).sum(), 1e-5, "n " + std::to_string(n));
  }
  EXPECT_EQ(g.stats().traces, 2);
}

// mean and var over a symbolic dim divide by a count computed at run time: a changing batch
// size is one symbolic recompile, not an error or a compile per size.
TEST(Compile, MeanAndVarOverASymbolicDimStaySymbolic) {
  auto fn = [](const Tensor& x) {
    return std::make_tuple(x.var(), x.mean(), x.var({0}, false), x.mean({0}, true));
  };
  auto f = compile(fn);
  for (int64_t n : {3, 4, 5, 7}) {
    const Tensor x = input({n, 6}, uint64_t(n));
    const auto [v, m, v0, m0] = f(x);
    const auto [ev, em, ev0, em0] = fn(x);
    const std::string at = "n " + std::to_string(n);
    expect_same(v, ev, 1e-5, "var " + at);
    expect_same(m, em, 1e-5, "mean " + at);
    expect_same(v0, ev0, 1e-5, "var(0, unbiased=false) " + at);
    expect_same(m0, em0, 1e-5, "mean(0, keepdim) " + at);
  }
  EXPECT_EQ(f.stats().traces, 2);
}

// int64 constants are exact at any magnitude, eagerly, in the interpreter and in compiled kernels
// (a constant of the kernel IR holds its integer, not a double).
TEST(Compile, Int64ConstantsAreExactBeyondTwoToThe53) {
  const int64_t big = (int64_t(1) << 60) + 1;
  auto fn = [big](const Tensor& x) {
    return std::make_tuple(x + big, full({3}, big, kInt64) * x, x * 3 - big);
  };
  const Tensor x = from_values({3}, {1, 2, -3}, kInt64);
  auto f = compile(fn);
  for (int call = 0; call < 2; ++call) {  // the first call and a replay
    const auto [a, b, c] = f(x);
    const auto [ea, eb, ec] = fn(x);
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t xi = x.data_ptr<int64_t>()[i];
      EXPECT_EQ(ea.data_ptr<int64_t>()[i], xi + big);
      EXPECT_EQ(a.data_ptr<int64_t>()[i], xi + big);
      EXPECT_EQ(eb.data_ptr<int64_t>()[i], int64_t(uint64_t(big) * uint64_t(xi)));  // wraps
      EXPECT_EQ(b.data_ptr<int64_t>()[i], eb.data_ptr<int64_t>()[i]);
      EXPECT_EQ(c.data_ptr<int64_t>()[i], ec.data_ptr<int64_t>()[i]);
      EXPECT_EQ(ec.data_ptr<int64_t>()[i], xi * 3 - big);
    }
  }
  EXPECT_EQ(f.stats().traces, 1);
}

TEST(Compile, DynamicNeverCompilesEachSize) {
  CompileOptions o;
  o.dynamic = CompileOptions::Dynamic::Never;
  auto f = compile([](const Tensor& x) { return x * 2; }, o);
  for (int64_t n : {8, 9, 10}) expect_same(f(input({n}, 1)), input({n}, 1) * 2, 0);
  EXPECT_EQ(f.stats().traces, 3);
  EXPECT_EQ(f.recompile_reasons()[0], "input 0 dim 0: 8 -> 9 (dynamic = never)");
}

// Data-dependent control flow: each branch is traced once, then both replay.
TEST(Compile, APredicatePicksTheBranchWithoutRetracing) {
  auto fn = [](const Tensor& x) {
    if (bool(x.sum() > 0)) return x * 2;
    return x - 1;
  };
  auto f = compile(fn);
  for (int i = 0; i < 8; ++i) {
    const double sign = i % 2 ? -1 : 1;
    const Tensor x = input({5, 7}, uint64_t(i), 0.1 * sign, 1.0 * sign);
    expect_same(f(x), fn(x), 0, "call " + std::to_string(i));
  }
  const CompileStats s = f.stats();
  EXPECT_EQ(s.traces, 2);  // one per branch, none after both exist
  EXPECT_EQ(s.replays, 6);
  EXPECT_NE(f.describe().find("2 path(s)"), std::string::npos) << f.describe();
}

TEST(Compile, AValueUsedAsANumberIsGuardedByValue) {
  auto fn = [](const Tensor& x) {
    const float m = x.max().item<float>();
    return x / m;
  };
  auto f = compile(fn);
  const Tensor x = input({9}, 1, 0.5, 1.0);
  expect_same(f(x), fn(x), 1e-7);
  expect_same(f(x), fn(x), 1e-7);
  const Tensor y = x * 2;
  expect_same(f(y), fn(y), 1e-7);  // another max: the guard fails, a new path
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_EQ(f.stats().guard_failures, 1);
}

TEST(Compile, NumberArgumentsAreGuardedByValue) {
  auto fn = [](const Tensor& x, int64_t k, double s) { return x * double(k) + s; };
  auto f = compile(fn);
  const Tensor x = input({4, 4}, 1);
  for (int64_t k : {1, 2, 3, 2}) expect_same(f(x, k, 0.5), fn(x, k, 0.5), 1e-6);
  EXPECT_EQ(f.stats().traces, 3);
  EXPECT_EQ(f.recompile_reasons()[0], "input 1: 1 -> 2");
}

TEST(Compile, CapturedWeightsUpdatedInPlaceAreSeen) {
  Tensor w = input({6}, 1);
  auto fn = [&](const Tensor& x) { return x * w + 1; };
  auto f = compile(fn);
  const Tensor x = input({3, 6}, 2);
  expect_same(f(x), fn(x), 1e-6);
  w.mul_(3);  // an optimizer step
  expect_same(f(x), fn(x), 1e-6);
  w.copy_(input({6}, 5));
  expect_same(f(x), fn(x), 1e-6);
  EXPECT_EQ(f.stats().traces, 1);
}

TEST(Compile, LayoutsOutputsAndDtypes) {
  auto fn = [](const Tensor& a, const Tensor& b) {
    return std::vector<Tensor>{a + b, (a * b).sum(0), a.to(kFloat64).exp()};
  };
  auto f = compile(fn);
  const Tensor a = input({5, 6}, 1), b = input({6}, 2);
  // A transposed input makes the entry layout-generic (one recompile); after that a broadcast a,
  // a strided b or both contiguous again replay.
  const Tensor at = input({6, 5}, 3).t();
  const Tensor ab = input({1, 6}, 4).expand({5, 6});
  const Tensor bs = input({12}, 5).slice(0, 0, 12, 2);
  for (const auto& [x, y] : std::vector<std::pair<Tensor, Tensor>>{
           {a, b}, {at, b}, {ab, b}, {a, bs}, {at, bs}, {a, b}}) {
    const auto got = f(x, y), want = fn(x, y);
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) expect_same(got[i], want[i], 1e-5);
  }
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_EQ(f.recompile_reasons()[0],
            "input 0: now non-contiguous, the entry now takes any layout");
  EXPECT_NE(f.describe().find("float32[5, 6] any layout, float32[6] any layout"), std::string::npos)
      << f.describe();
  const Tensor i = from_values({5}, {1, 2, 3, 4, 5}, kInt32);
  auto g = compile([](const Tensor& t) { return t * 3 + 1; });
  expect_same(g(i), i * 3 + 1, 0);
}

// pow on int32 is not in the CPU backend: the matmul's epilogue runs node by node, still right.
TEST(Compile, AnEpilogueTheBackendRefusesRunsNodeByNode) {
  const Tensor a = from_values({3, 4}, test_values(12, -3, 3, 1, true), kInt32);
  const Tensor b = from_values({4, 2}, test_values(8, -3, 3, 2, true), kInt32);
  auto fn = [](const Tensor& x, const Tensor& y) { return matmul(x, y).pow(2) + 1; };
  auto f = compile(fn);
  expect_same(f(a, b), fn(a, b), 0);
  EXPECT_EQ(f.last_plan().kernels, 0);
  EXPECT_EQ(f.last_plan().library_calls, 1);
  EXPECT_GE(f.last_plan().eager_nodes, 2);
}

TEST(Compile, RandomDrawsMatchEagerForTheSameSeed) {
  auto fn = [](const Tensor& x) { return x + rand({4, 5}); };
  auto f = compile(fn);
  const Tensor x = input({4, 5}, 1);
  for (int i = 0; i < 3; ++i) {
    manual_seed(uint64_t(42 + i));
    const Tensor want = fn(x);
    manual_seed(uint64_t(42 + i));
    expect_same(f(x), want, 0, "call " + std::to_string(i));
  }
  // Successive calls draw new numbers, as eager does.
  EXPECT_FALSE(allclose(f(x), f(x)));
}

TEST(Compile, RecompileLimitFallsBackToEagerWithAWarning) {
  CompileOptions o;
  o.recompile_limit = 2;
  auto fn = [](const Tensor& x, int64_t k) { return x + double(k); };
  auto f = compile(fn, o);
  const Tensor x = input({3}, 1);
  ::testing::internal::CaptureStderr();
  for (int64_t k = 0; k < 6; ++k) expect_same(f(x, k), fn(x, k), 0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(f.stats().recompiles, 2);
  EXPECT_EQ(f.stats().eager_calls, 3);
  EXPECT_NE(err.find("recompile limit (2)"), std::string::npos) << err;
  EXPECT_NE(err.find("input 1: 0 -> 1"), std::string::npos) << err;
  // Entries compiled before the limit still replay.
  expect_same(f(x, 1), fn(x, 1), 0);
  EXPECT_EQ(f.stats().eager_calls, 3);
}

TEST(Compile, CheckModeReportsAStaleReplay) {
  // A function with a hidden input (a counter it reads): exactly what compile() cannot see, and
  // what check mode exists to catch.
  double hidden = 1;
  CompileOptions o;
  o.check = true;
  auto f = compile([&](const Tensor& x) { return x * hidden; }, o);
  const Tensor x = input({4}, 1);
  ::testing::internal::CaptureStderr();
  f(x);
  hidden = 2;
  f(x);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(f.stats().check_mismatches, 1);
  EXPECT_NE(err.find("differs from eager: output 0 element 0"), std::string::npos) << err;
}

// What the tracer cannot record (an in-place op) runs eagerly, with one warning, not an error.
TEST(Compile, AnUntraceableFunctionRunsEagerlyAndSaysSo) {
  auto fn = [](const Tensor& x) {
    Tensor y = x * 2;
    y.slice(0, 0, 2).add_(1);  // a write through a view: the graph has no aliasing for it
    return y;
  };
  auto f = compile(fn);
  const Tensor x = input({5}, 1);
  ::testing::internal::CaptureStderr();
  expect_same(f(x), fn(x), 0);
  expect_same(f(x), fn(x), 0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("cannot be traced (in-place write to a view"), std::string::npos) << err;
  EXPECT_EQ(err.find("cannot be traced", err.find("cannot be traced") + 1), std::string::npos)
      << "warned twice: " << err;
  EXPECT_EQ(f.stats().eager_calls, 2);
  EXPECT_EQ(f.stats().traces, 0);
  EXPECT_NE(f.describe().find("eager (in-place write to a view"), std::string::npos)
      << f.describe();
}

TEST(Compile, ErrorsInTheFunctionReachTheCaller) {
  auto f = compile([](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  EXPECT_THROW(f(input({2, 3}, 1), input({4, 5}, 2)), ShapeError);
}

// A kernel in no cache answers the first call with the quick tier; the optimized tier replaces
// it in the background, and both give eager's values.
TEST(Compile, TheQuickTierAnswersFirstAndTheOptimizedOneTakesOver) {
  CompileOptions o;
  o.disk_cache = false;
  auto fn = [](const Tensor& x) { return tanh(x * 1.0625) * sigmoid(x) + 0.1875; };
  auto f = compile(fn, o);
  const Tensor x = input({300, 70}, 3);
  const int64_t quick = codegen::cpu_quick_compile_count();
  const int64_t optimized = codegen::cpu_compile_count();
  expect_same(f(x), fn(x), 1e-6, "quick tier");
  EXPECT_EQ(codegen::cpu_quick_compile_count(), quick + 1);
  codegen::wait_for_background_compiles();
  EXPECT_GE(codegen::cpu_compile_count(), optimized + 1);
  expect_same(f(x), fn(x), 1e-6, "optimized tier");
  // With tiering off, nothing quick is compiled.
  o.tiered = false;
  auto g = compile([](const Tensor& t) { return tanh(t * 1.125) + 1.25; }, o);
  expect_same(g(x), tanh(x * 1.125) + 1.25, 1e-6);
  EXPECT_EQ(codegen::cpu_quick_compile_count(), quick + 1);
}

// Several threads calling one compiled function: replays run concurrently, traces one at a time,
// and every result is right.
TEST(Compile, CallsFromSeveralThreads) {
  const Tensor w = input({6}, 3);
  auto fn = [&](const Tensor& x) {
    if (bool(x.sum() > 0)) return softmax(x * w, -1);
    return x * 2 - w;
  };
  auto f = compile(fn);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const int64_t rows = 4 + (i + t) % 3;
        const double sign = (i + t) % 2 ? -1 : 1;
        const Tensor x = input({rows, 6}, uint64_t(100 * t + i), 0.1 * sign, sign);
        if (!allclose(f(x), fn(x), 1e-5, 1e-6)) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(f.stats().calls, 100);
  EXPECT_LE(f.stats().traces, 6);  // static and symbolic entries, two branches each at most
}

TEST(Compile, NothingCompilesTwiceInOneProcess) {
  auto fn = [](const Tensor& x) { return tanh(x) * 1.5 - x; };
  compile(fn)(input({10}, 1));
  codegen::wait_for_background_compiles();
  const int64_t before = codegen::cpu_compile_count() + codegen::cpu_disk_cache_hits() +
                         codegen::cpu_quick_compile_count();
  compile(fn)(input({10}, 2));  // a second compiled function: the kernel comes from memory
  codegen::wait_for_background_compiles();
  EXPECT_EQ(codegen::cpu_compile_count() + codegen::cpu_disk_cache_hits() +
                codegen::cpu_quick_compile_count(),
            before);
}

}  // namespace
}  // namespace ember::testing
