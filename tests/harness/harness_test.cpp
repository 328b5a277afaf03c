// Runs every harness case on every backend and compares with eager: today, trace + reference
// interpreter. Each traced graph also round-trips through the text form and passes the verifier.
#include <gtest/gtest.h>

#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

constexpr uint64_t kSeed = 20261122;

void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, const Case& c,
                  const std::string& backend) {
  ASSERT_EQ(got.size(), want.size()) << c.name << " on " << backend;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].dtype(), want[i].dtype()) << c.name << " output " << i << " on " << backend;
    expect_values(got[i], want[i].sizes().vec(), values_of(want[i]), c.rtol, c.atol,
                  c.name + " output " + std::to_string(i) + " on " + backend);
  }
}

class Harness : public ::testing::TestWithParam<size_t> {};

TEST_P(Harness, TraceAndInterpretEqualsEager) {
  const Case& c = harness_cases()[GetParam()];
  const std::vector<Tensor> inputs = c.make_inputs(kSeed);
  manual_seed(kSeed);
  const std::vector<Tensor> eager = c.fn(inputs);
  manual_seed(kSeed);
  const TracedGraph traced = trace(c.fn, inputs, c.name);
  ir::verify(*traced.graph);
  expect_close(traced.run(inputs), eager, c, "interpreter");

  // The graph text round-trips exactly, and so does the structural hash.
  const std::string text = ir::print(*traced.graph);
  const auto reparsed = ir::parse(text);
  EXPECT_EQ(ir::print(*reparsed), text) << c.name;
  EXPECT_EQ(reparsed->structural_hash(), traced.graph->structural_hash()) << c.name;

  // The same graph on other inputs of the same shapes: equal to eager on them, or (for a
  // data-dependent case only) a guard failure.
  const std::vector<Tensor> other = c.make_inputs(kSeed + 1);
  manual_seed(kSeed + 1);
  const std::vector<Tensor> eager_other = c.fn(other);
  try {
    expect_close(traced.run(other), eager_other, c, "interpreter, other inputs");
  } catch (const ir::GuardFailure& e) {
    EXPECT_TRUE(c.data_dependent) << c.name << ": unexpected guard failure: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Harness, ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

TEST(HarnessSize, HasAtLeastFortyCases) { EXPECT_GE(harness_cases().size(), 40u); }

TEST(DataDependentBranch, TheHarnessBranchRecordsThePredicate) {
  const Case* branch = nullptr;
  for (const Case& c : harness_cases())
    if (c.name == "data_dependent_branch") branch = &c;
  ASSERT_NE(branch, nullptr);
  const Tensor pos = ones({4, 4}), neg = -ones({4, 4});
  const TracedGraph g = trace(branch->fn, {pos});
  expect_values(g.run({pos})[0], {4, 4}, std::vector<double>(16, 2), 0);
  // `bool(sum > 0)` guards the comparison's outcome: any input with a positive sum replays.
  expect_values(g.run({pos * 3})[0], {4, 4}, std::vector<double>(16, 6), 0);
  EXPECT_THROW(g.run({neg}), ir::GuardFailure);
  const TracedGraph h = trace(branch->fn, {neg});
  expect_values(h.run({neg})[0], {4, 4}, std::vector<double>(16, -2), 0);
}

TEST(DataDependentBranch, AnItemUsedAsANumberRecordsTheValue) {
  const TraceableFn fn = [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
    const double s = x[0].sum().item<double>();
    return {x[0] * s};
  };
  const Tensor pos = ones({4, 4});
  const TracedGraph g = trace(fn, {pos});
  expect_values(g.run({pos})[0], {4, 4}, std::vector<double>(16, 16), 0);
  // The value 16 is baked into the graph: any other sum is a different trace.
  EXPECT_THROW(g.run({pos * 3}), ir::GuardFailure);
}

TEST(DataDependentBranch, BoolOfAComparisonRecordsThePredicate) {
  const TraceableFn fn = [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
    if (x[0].sum() > 0) return {x[0] * 2};
    return {x[0] - 1};
  };
  const Tensor pos = ones({4, 4}), neg = -ones({4, 4});
  const TracedGraph g = trace(fn, {pos});
  // The guard holds for every input whose sum is positive, and only for those.
  expect_values(g.run({pos * 3})[0], {4, 4}, std::vector<double>(16, 6), 0);
  EXPECT_THROW(g.run({neg}), ir::GuardFailure);
  const TracedGraph h = trace(fn, {neg});
  expect_values(h.run({neg * 5})[0], {4, 4}, std::vector<double>(16, -6), 0);
  EXPECT_THROW(h.run({pos}), ir::GuardFailure);
  const std::string text = ir::print(*g.graph);
  EXPECT_NE(text.find("guard("), std::string::npos) << text;
}

}  // namespace
}  // namespace ember::testing
