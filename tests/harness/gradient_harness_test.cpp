// The harness's gradient mode: for every case with floating inputs (made float64),
// - the eager tape's gradients equal central finite differences (gradcheck), where the case
//   computes in float64 throughout;
// - the backward graph derived on the IR (the same rules run on tracer tensors, inside the trace
//   of forward + autograd::grad) and run by the reference interpreter equals the tape, and so does
//   that graph split into a forward and a backward (passes::split_joint) run one after the other.
#include <gtest/gtest.h>

#include <algorithm>

#include "ember/passes/split_joint.h"
#include "tests/gradcheck.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

constexpr uint64_t kSeed = 20261202;

std::vector<Tensor> as_float64(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> out;
  for (const Tensor& x : inputs) out.push_back(x.is_floating_point() ? x.to(kFloat64) : x);
  return out;
}

// The traced program forward + backward: inputs, then one weight per floating output; returns
// the gradient of sum(out_j * w_j) for each floating input (zeros where unused).
TraceableFn joint(const TraceableFn& fn, size_t num_inputs) {
  return [fn, num_inputs](const std::vector<Tensor>& args) {
    std::vector<Tensor> leaves, wanted;
    for (size_t i = 0; i < num_inputs; ++i) {
      Tensor leaf = args[i].detach();
      if (leaf.is_floating_point()) {
        leaf.set_requires_grad(true);
        wanted.push_back(leaf);
      }
      leaves.push_back(leaf);
    }
    const std::vector<Tensor> outputs = fn(leaves);
    std::vector<Tensor> outs, weights;
    size_t w = num_inputs;
    for (const Tensor& o : outputs) {
      if (!o.is_floating_point()) continue;
      const Tensor& weight = args[w++];
      if (!o.requires_grad()) continue;
      outs.push_back(o);
      weights.push_back(weight);
    }
    std::vector<Tensor> grads = outs.empty()
                                    ? std::vector<Tensor>(wanted.size())
                                    : autograd::grad(outs, wanted, weights, {}, false, true);
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined()) grads[i] = zeros_like(wanted[i]);
    return grads;
  };
}

class GradientHarness : public ::testing::TestWithParam<size_t> {};

TEST_P(GradientHarness, TapeMatchesFiniteDifferencesAndTheIRBackward) {
  const Case& c = harness_cases()[GetParam()];
  const std::vector<Tensor> inputs = as_float64(c.make_inputs(kSeed));
  bool any_float = false;
  for (const Tensor& x : inputs) any_float |= x.is_floating_point();
  if (!any_float) GTEST_SKIP() << c.name << ": no floating inputs";

  manual_seed(kSeed);
  const std::vector<Tensor> outputs = c.fn(inputs);
  const std::vector<Tensor> tape = tape_gradients(c.fn, inputs, kSeed);

  bool all_float64 = true;
  for (const Tensor& o : outputs)
    if (o.is_floating_point()) all_float64 &= o.dtype() == kFloat64;
  if (all_float64) expect_gradcheck(c.fn, inputs, c.name, kSeed, 1e-5, 1e-6, 24);

  // The IR's backward: trace forward + grad, interpret, compare with the tape.
  std::vector<Tensor> args = inputs;
  const std::vector<Tensor> weights = output_weights(outputs, kSeed + 7);
  for (const Tensor& w : weights)
    if (w.defined()) args.push_back(w);
  manual_seed(kSeed);
  const TracedGraph traced = trace(joint(c.fn, inputs.size()), args, c.name + "_backward");
  ir::verify(*traced.graph);
  manual_seed(kSeed);
  const std::vector<Tensor> ir_grads = traced.run(args);
  auto expect_tape = [&](const std::vector<Tensor>& grads, const std::string& what) {
    size_t k = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].is_floating_point()) continue;
      ASSERT_LT(k, grads.size());
      expect_values(grads[k++], tape[i].sizes().vec(), values_of(tape[i]), 1e-9, 1e-12,
                    c.name + ": " + what + " of input " + std::to_string(i));
    }
  };
  expect_tape(ir_grads, "IR backward");

  // Split: the weights are the tangents (the Input-kind graph inputs after the case's own).
  const ir::Graph& g = *traced.graph;
  std::vector<size_t> tangents;
  for (size_t i = 0, seen = 0; i < g.inputs().size(); ++i)
    if (g.inputs()[i]->kind == ir::ValueKind::Input && seen++ >= inputs.size())
      tangents.push_back(i);
  const passes::JointSplit split = passes::split_joint(g, 0, tangents);
  ir::verify(*split.forward);
  ir::verify(*split.backward);
  manual_seed(kSeed);
  const std::vector<Array> all = traced.interpreter_inputs(args);
  std::vector<Array> forward_in, tangent_in;
  for (size_t i = 0; i < all.size(); ++i)
    (std::find(tangents.begin(), tangents.end(), i) != tangents.end() ? tangent_in : forward_in)
        .push_back(all[i]);
  std::vector<Array> backward_in = ir::interpret(*split.forward, forward_in);
  backward_in.insert(backward_in.end(), tangent_in.begin(), tangent_in.end());
  std::vector<Tensor> split_grads;
  for (Array& a : ir::interpret(*split.backward, backward_in)) split_grads.emplace_back(a);
  expect_tape(split_grads, "split backward");
}

INSTANTIATE_TEST_SUITE_P(Cases, GradientHarness,
                         ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

}  // namespace
}  // namespace ember::testing
