// The harness's gradient mode, compiled: for every case with floating inputs, the gradients of a
// compiled call (its joint graph split into a forward and a backward plan) equal the eager
// tape's, in float32, float64 and float32 in non-contiguous memory (the leaves themselves
// strided), on the trace and on a replay with other inputs.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/gradcheck.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

using Inputs = std::vector<Tensor>;

// The same values with the last two dims transposed in memory.
Tensor strided(const Tensor& x) {
  return x.dim() >= 2 ? x.transpose(-1, -2).contiguous().transpose(-1, -2) : x.clone();
}

class CompiledGradients : public ::testing::TestWithParam<size_t> {};

TEST_P(CompiledGradients, EqualTheEagerTape) {
  const Case& c = harness_cases()[GetParam()];
  struct Variant {
    DType dtype;
    bool strided;
    // Contiguous, then strided, then contiguous again: the layout change makes the entry
    // layout-generic (one recompile) and its plan serves both layouts.
    bool switch_layout = false;
  };
  for (const Variant& variant : {Variant{kFloat32, false}, Variant{kFloat64, false},
                                 Variant{kFloat32, true}, Variant{kFloat32, false, true}}) {
    const DType dtype = variant.dtype;
    auto fn = [&c](const auto&... x) { return c.fn(Inputs{x...}); };
    CompileOptions options;
    options.name = c.name + "/grad";
    auto f = compile(fn, options);
    const std::vector<uint64_t> seeds =
        variant.switch_layout ? std::vector<uint64_t>{41, 42, 43} : std::vector<uint64_t>{41, 42};
    for (uint64_t seed : seeds) {
      Inputs in;
      bool any_float = false;
      for (const Tensor& x : c.make_inputs(seed)) {
        in.push_back(x.is_floating_point() ? x.to(dtype) : x);
        any_float |= x.is_floating_point();
      }
      if (!any_float) GTEST_SKIP() << c.name << ": no floating inputs";
      const bool strided_now = variant.strided || (variant.switch_layout && seed == 42);
      const std::function<Tensor(const Tensor&)> layout =
          strided_now ? std::function<Tensor(const Tensor&)>(strided) : nullptr;
      const TapeRun eager = run_tape(c.fn, in, seed, layout);
      const TapeRun compiled =
          run_tape([&](const Inputs& x) { return call_unpacked<Inputs>(f, x); }, in, seed, layout);
      const std::string what = c.name + " (" + dtype_name(dtype) +
                               (strided_now ? ", strided" : "") +
                               (variant.switch_layout ? " after a layout change" : "") + ", seed " +
                               std::to_string(seed) + ")";
      ASSERT_EQ(compiled.grads.size(), eager.grads.size()) << what;
      // float32 gradients differ from eager's in the last bits where the kernels sum in another
      // order; float64 ones agree to 1e-9.
      const double rtol = dtype == kFloat64 ? 1e-9 : std::max(10 * c.rtol, 1e-5);
      const double atol = dtype == kFloat64 ? 1e-11 : std::max(10 * c.atol, 1e-6);
      for (size_t i = 0; i < eager.grads.size(); ++i) {
        ASSERT_EQ(compiled.grads[i].defined(), eager.grads[i].defined()) << what << " grad " << i;
        if (!eager.grads[i].defined()) continue;
        expect_values(compiled.grads[i], eager.grads[i].sizes().vec(), values_of(eager.grads[i]),
                      rtol, atol, what + " gradient " + std::to_string(i));
      }
      for (const Tensor& o : compiled.outputs) {
        if (!o.requires_grad()) continue;
        EXPECT_EQ(o.grad_fn_name(), "CompiledFunctionBackward") << what;
      }
    }
    if (c.data_dependent) continue;  // other inputs may take another branch
    // A layout change is one recompile, unless no input's layout class changes (no two dims of
    // sizes above 1 to transpose).
    bool changes = false;
    for (const Tensor& x : c.make_inputs(42))
      changes |= x.is_floating_point() && !strided(x).is_contiguous();
    EXPECT_EQ(f.stats().traces, variant.switch_layout && changes ? 2 : 1) << c.name;
    EXPECT_GE(f.stats().replays + f.stats().eager_calls, 1) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CompiledGradients,
                         ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

}  // namespace
}  // namespace ember::testing
