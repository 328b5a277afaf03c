// Every pass preserves results: over the whole differential harness, the interpreter computes
// the same outputs before and after each pass and the full pipeline.
#include <gtest/gtest.h>

#include "ember/passes/pipeline.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

class PassesPreserveResults : public ::testing::TestWithParam<size_t> {};

TEST_P(PassesPreserveResults, OnEveryHarnessCase) {
  const Case& c = harness_cases()[GetParam()];
  const std::vector<Tensor> inputs = c.make_inputs(7);
  manual_seed(7);
  const TracedGraph traced = trace(c.fn, inputs, c.name);
  const std::vector<Array> args = traced.interpreter_inputs(inputs);
  const std::vector<Array> before = ir::interpret(*traced.graph, args);
  const std::string text = ir::print(*traced.graph);
  for (const auto& [name, pass] : passes::registered_passes()) {
    auto graph = ir::parse(text);  // a fresh copy for each pass
    pass(*graph);
    ir::verify(*graph);
    if (name != "fuse" && name != "pipeline") {  // fusion may recompute cheap values
      EXPECT_LE(graph->nodes().size(), traced.graph->nodes().size()) << c.name << " " << name;
    }
    const std::vector<Array> after = ir::interpret(*graph, args);
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
      const Tensor want(before[i]);
      expect_values(Tensor(after[i]), want.sizes().vec(), values_of(want), 1e-6, 1e-7,
                    c.name + " output " + std::to_string(i) + " after " + name);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PassesPreserveResults,
                         ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

}  // namespace
}  // namespace ember::testing
