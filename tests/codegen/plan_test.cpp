// Plans as data: a plan prints, serializes and deserializes to an equal plan, and the
// deserialized plan replays with the same results; malformed bytes are a ValueError.
#include <gtest/gtest.h>

#include "ember/codegen/plan.h"
#include "ember/ir/interpreter.h"
#include "ember/passes/pipeline.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

// A function whose plan has every kind of step: a blocked matmul with its epilogue, a row kernel
// (softmax), an elementwise kernel, a gather kernel, pooling and a view run as nodes, a guard on a
// read value.
std::vector<Tensor> model(const std::vector<Tensor>& in) {
  const Tensor h = relu(matmul(in[0], in[1]) + in[2]);
  const Tensor p = softmax(h, -1);
  const Tensor image = in[1].reshape({1, 1, 16, 12});
  const Tensor pooled = max_pool2d(image, {2, 2}).flatten();
  const Tensor rows = index_select(in[1], 0, argmax(h, -1)) * 2;  // a gather kernel
  if (bool(h.sum() > 0)) return {p * 2 + 1, pooled.exp(), rows};
  return {p, pooled, rows};
}

struct Traced {
  TracedGraph traced;
  std::vector<Tensor> inputs;
};

Traced traced_model(bool symbolic) {
  manual_seed(5);
  Traced t;
  t.inputs = {randn({8, 16}), randn({16, 12}), randn({12})};
  TraceContext tc("model");
  std::vector<Tensor> in;
  for (size_t i = 0; i < t.inputs.size(); ++i)
    in.push_back(tc.add_input(t.inputs[i], {symbolic && i == 0}));
  t.traced = tc.finish(model(in));
  passes::run_pipeline(*t.traced.graph);
  return t;
}

TEST(Plan, RoundTripsThroughBytesAndReplaysTheSame) {
  for (const bool symbolic : {false, true}) {
    const Traced t = traced_model(symbolic);
    const codegen::Plan plan = codegen::build_plan(*t.traced.graph);
    const std::string bytes = plan.serialize();
    const codegen::Plan back = codegen::Plan::deserialize(bytes);
    EXPECT_EQ(back.print(), plan.print());
    EXPECT_EQ(back.serialize(), bytes);
    const std::string text = plan.print();
    EXPECT_NE(text.find("blocked_matmul"), std::string::npos) << text;
    EXPECT_NE(text.find("rows"), std::string::npos) << text;
    EXPECT_NE(text.find("guard("), std::string::npos) << text;
    EXPECT_NE(text.find("max_pool2d("), std::string::npos) << text;
    bool gathers = false;
    for (const codegen::Plan::Step& s : back.steps)
      gathers |= s.kind == codegen::Plan::Step::Kind::Elementwise &&
                 s.kernel.text().find("= index_select b") != std::string::npos;
    EXPECT_TRUE(gathers) << text;

    const std::vector<Array> inputs = t.traced.interpreter_inputs(t.inputs);
    const std::vector<Array> want = ir::interpret(*t.traced.graph, inputs);
    const codegen::ExecutablePlan original(plan), loaded(back);
    EXPECT_GE(loaded.num_kernels(), 3);
    EXPECT_EQ(loaded.describe(), original.describe());
    const std::vector<Array> a = original.run(inputs), b = loaded.run(inputs);
    ASSERT_EQ(b.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      expect_values(Tensor(b[i]), Tensor(want[i]).sizes().vec(), values_of(Tensor(want[i])), 1e-5,
                    1e-5, "output " + std::to_string(i));
      EXPECT_EQ(values_of(Tensor(b[i])), values_of(Tensor(a[i]))) << "output " << i;
    }
  }
}

TEST(Plan, MalformedBytesAreValueErrors) {
  const Traced t = traced_model(true);
  const std::string bytes = codegen::build_plan(*t.traced.graph).serialize();
  // Every truncation, and every single-byte change of the header and of a sample of the rest,
  // either deserializes to a plan that passes the checks or throws ValueError (never crashes).
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 64)
    EXPECT_THROW(codegen::Plan::deserialize(std::string_view(bytes).substr(0, n)), ValueError)
        << "truncated to " << n;
  int rejected = 0;
  for (size_t i = 0; i < bytes.size(); i += 1 + i / 32) {
    std::string changed = bytes;
    changed[i] = char(changed[i] ^ 0x41);
    try {
      codegen::Plan::deserialize(changed);
    } catch (const ValueError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 10);
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  try {
    codegen::Plan::deserialize(bad_magic);
    FAIL() << "bad magic accepted";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "plan: not a serialized plan (bad magic)");
  }
  EXPECT_THROW(codegen::Plan::deserialize(bytes + "x"), ValueError);
}

TEST(Plan, RefusesAnInputOfTheWrongType) {
  const Traced t = traced_model(false);
  const codegen::ExecutablePlan plan(*t.traced.graph);
  std::vector<Array> inputs = t.traced.interpreter_inputs(t.inputs);
  inputs[0] = Array::empty({9, 16}, kFloat32);
  try {
    plan.run(inputs);
    FAIL() << "a wrong input ran";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "plan @model: input %x0 must be f32[8, 16], got f32[9, 16]");
  }
}

}  // namespace
}  // namespace ember::testing
