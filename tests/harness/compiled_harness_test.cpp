// The differential harness, compiled: every case through ember::compile must equal eager, on its
// own inputs (contiguous), on the same values in transposed memory (non-contiguous), on inputs
// broadcast along dim 0 (stride 0), and with its floating inputs in float64, float16, bfloat16,
// int32 and int64 wherever eager defines the case for that dtype. Each variant is called twice:
// the trace, then a replay on other inputs of the same shapes.
#include <gtest/gtest.h>

#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

using Inputs = std::vector<Tensor>;

// The same values in non-contiguous memory: the last two dims transposed in memory, or a 1-D
// tensor read with stride 2.
Tensor strided(const Tensor& x) {
  if (x.dim() >= 2) return x.transpose(-1, -2).contiguous().transpose(-1, -2);
  if (x.dim() == 1) return stack({x, x}, 1).select(1, 0);
  return x;
}
// Row 0 broadcast over dim 0.
Tensor broadcast(const Tensor& x) {
  if (x.dim() == 0 || x.size(0) < 2) return x;
  return x.narrow(0, 0, 1).expand(x.sizes());
}

struct Variant {
  std::string name;
  std::function<Tensor(const Tensor&)> map;  // applied to every input
  double tol;                                // on top of the case's own
  bool always = false;                       // eager defines every case for it
  bool symbolic = false;                     // every dim of size >= 2 symbolic from the start
};

std::vector<Variant> variants() {
  auto cast_floats = [](DType d) {
    return [d](const Tensor& x) { return x.is_floating_point() ? x.to(d) : x; };
  };
  return {
      {"contiguous", [](const Tensor& x) { return x; }, 0, true},
      {"symbolic", [](const Tensor& x) { return x; }, 0, true, true},
      {"strided", strided, 0, true},
      {"broadcast", broadcast, 0, true},
      {"float64", cast_floats(kFloat64), 0, true},
      {"float16", cast_floats(kFloat16), 1e-2},
      {"bfloat16", cast_floats(kBFloat16), 6e-2},
      {"int32", cast_floats(kInt32), 0},
      {"int64", cast_floats(kInt64), 0},
  };
}

class Compiled : public ::testing::TestWithParam<size_t> {};

TEST_P(Compiled, EqualsEagerInEveryLayoutAndDtype) {
  const Case& c = harness_cases()[GetParam()];
  for (const Variant& v : variants()) {
    auto fn = [&c](const auto&... x) { return c.fn(Inputs{x...}); };
    CompileOptions options;
    options.name = c.name + "/" + v.name;
    if (v.symbolic) options.dynamic = CompileOptions::Dynamic::Always;
    auto f = compile(fn, options);
    for (uint64_t seed : {uint64_t(31), uint64_t(32)}) {
      Inputs in;
      for (const Tensor& x : c.make_inputs(seed)) in.push_back(v.map(x));
      Inputs want;
      manual_seed(seed);
      try {
        want = c.fn(in);
      } catch (const Error& e) {
        // Eager does not define the case for this dtype (an op's dtype rule): nothing to compare.
        EXPECT_FALSE(v.always) << c.name << " " << v.name << ": " << e.what();
        break;
      }
      manual_seed(seed);
      const Inputs got = call_unpacked<Inputs>(f, in);
      ASSERT_EQ(got.size(), want.size()) << c.name << " " << v.name;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].dtype(), want[i].dtype()) << c.name << " " << v.name;
        const double rtol = c.rtol + v.tol, atol = c.atol + v.tol;
        expect_values(got[i], want[i].sizes().vec(), values_of(want[i]), rtol, atol,
                      c.name + " (" + v.name + ", seed " + std::to_string(seed) + ") output " +
                          std::to_string(i));
      }
    }
  }
}

// One compiled function called with its arguments' layouts changing between calls: the first
// change makes the entry layout-generic (one recompile), and every later mix of layouts replays.
TEST_P(Compiled, ALayoutChangeRecompilesOnce) {
  const Case& c = harness_cases()[GetParam()];
  auto fn = [&c](const auto&... x) { return c.fn(Inputs{x...}); };
  CompileOptions options;
  options.name = c.name + "/layouts";
  auto f = compile(fn, options);
  const auto same = [](const Tensor& x) { return x; };
  // Per call, the layout of input j: contiguous, then input 0 strided, then the others strided,
  // then all broadcast, then all contiguous again.
  const std::vector<std::function<Tensor(const Tensor&, size_t)>> calls = {
      [&](const Tensor& x, size_t) { return same(x); },
      [&](const Tensor& x, size_t j) { return j == 0 ? strided(x) : x; },
      [&](const Tensor& x, size_t j) { return j == 0 ? x : strided(x); },
      [&](const Tensor& x, size_t) { return broadcast(x); },
      [&](const Tensor& x, size_t) { return same(x); },
  };
  for (size_t k = 0; k < calls.size(); ++k) {
    const uint64_t seed = 41 + k;
    Inputs in;
    for (const Tensor& x : c.make_inputs(seed)) in.push_back(calls[k](x, in.size()));
    manual_seed(seed);
    const Inputs want = c.fn(in);
    manual_seed(seed);
    const Inputs got = call_unpacked<Inputs>(f, in);
    ASSERT_EQ(got.size(), want.size()) << c.name;
    for (size_t i = 0; i < got.size(); ++i)
      expect_values(
          got[i], want[i].sizes().vec(), values_of(want[i]), c.rtol, c.atol,
          c.name + " (layouts of call " + std::to_string(k) + ") output " + std::to_string(i));
  }
  if (c.data_dependent) return;  // another branch is another trace
  std::string reasons;
  for (const std::string& r : f.recompile_reasons()) reasons += "\n  " + r;
  EXPECT_LE(f.stats().traces, 2) << c.name << reasons;
  EXPECT_EQ(f.stats().eager_calls, 0) << c.name << reasons;
}

INSTANTIATE_TEST_SUITE_P(Cases, Compiled, ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

}  // namespace
}  // namespace ember::testing
