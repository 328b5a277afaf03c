// The harness's gradient mode: for every case with floating inputs (made float64),
// - the eager tape's gradients equal central finite differences (gradcheck), where the case
//   computes in float64 throughout;
// - the backward graph derived on the IR (the same rules run on tracer tensors, inside the trace
//   of forward + autograd::grad) and run by the reference interpreter equals the tape.
#include <gtest/gtest.h>

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

  std::vector<Tensor> outputs;
  std::vector<Tensor> tape;
  try {
    manual_seed(kSeed);
    outputs = c.fn(inputs);
    tape = tape_gradients(c.fn, inputs, kSeed);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("backward is not implemented yet") != std::string::npos)
      GTEST_SKIP() << c.name << ": " << what;
    throw;
  }

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
  size_t k = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].is_floating_point()) continue;
    ASSERT_LT(k, ir_grads.size());
    expect_values(ir_grads[k++], tape[i].sizes().vec(), values_of(tape[i]), 1e-9, 1e-12,
                  c.name + ": IR backward of input " + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GradientHarness,
                         ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

}  // namespace
}  // namespace ember::testing
