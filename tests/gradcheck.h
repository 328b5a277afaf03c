// gradcheck: autograd's gradients of a Tensor function against central finite differences, in
// float64. The function's outputs are reduced to one number with fixed random weights
// (sum_j sum(out_j * w_j)), so every output element's gradient is exercised.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "ember/ember.h"
#include "tests/test_util.h"

namespace ember::testing {

// Weights for each floating output (undefined for the others), float64, from seed.
inline std::vector<Tensor> output_weights(const std::vector<Tensor>& outputs, uint64_t seed) {
  manual_seed(seed);
  std::vector<Tensor> w;
  for (const Tensor& o : outputs)
    w.push_back(o.is_floating_point() ? randn(o.sizes(), kFloat64).to(o.dtype()) : Tensor());
  return w;
}

// sum_j sum(out_j * w_j) in float64, without recording.
inline double weighted_sum(const std::vector<Tensor>& outputs, const std::vector<Tensor>& w) {
  double total = 0;
  for (size_t j = 0; j < outputs.size(); ++j)
    if (w[j].defined()) total += (outputs[j].to(kFloat64) * w[j].to(kFloat64)).sum().item<double>();
  return total;
}

// One call of fn on fresh leaves (floating ones require grad; make_leaf, if given, lays each
// out, else a contiguous copy) and autograd's gradients of the weighted outputs: per floating
// leaf, undefined where unused; empty when no output requires grad. rng_seed is set before the
// call, so random ops draw the same numbers every time.
struct TapeRun {
  std::vector<Tensor> leaves, outputs, grads;
};
inline TapeRun run_tape(const TraceableFn& fn, const std::vector<Tensor>& inputs, uint64_t rng_seed,
                        const std::function<Tensor(const Tensor&)>& make_leaf = {}) {
  TapeRun r;
  std::vector<Tensor> wanted;
  for (const Tensor& x : inputs) {
    Tensor leaf = make_leaf ? make_leaf(x.detach()) : x.detach().clone();
    if (leaf.is_floating_point()) {
      leaf.set_requires_grad(true);
      wanted.push_back(leaf);
    }
    r.leaves.push_back(leaf);
  }
  manual_seed(rng_seed);
  r.outputs = fn(r.leaves);
  const std::vector<Tensor> w = output_weights(r.outputs, rng_seed + 7);
  std::vector<Tensor> outs, ws;
  for (size_t j = 0; j < r.outputs.size(); ++j)
    if (w[j].defined() && r.outputs[j].requires_grad()) {
      outs.push_back(r.outputs[j]);
      ws.push_back(w[j]);
    }
  if (!outs.empty()) r.grads = autograd::grad(outs, wanted, ws, {}, false, true);
  return r;
}

// The gradients autograd gives for fn at inputs, for every floating input (zeros where unused;
// undefined for the other inputs).
inline std::vector<Tensor> tape_gradients(const TraceableFn& fn, const std::vector<Tensor>& inputs,
                                          uint64_t rng_seed,
                                          std::vector<Tensor>* leaves_out = nullptr) {
  const TapeRun r = run_tape(fn, inputs, rng_seed);
  std::vector<Tensor> result;
  size_t k = 0;
  for (const Tensor& leaf : r.leaves) {
    if (!leaf.is_floating_point()) {
      result.emplace_back();
      continue;
    }
    const Tensor g = k < r.grads.size() ? r.grads[k] : Tensor();
    ++k;
    result.push_back(g.defined() ? g : zeros_like(leaf));
  }
  if (leaves_out) *leaves_out = r.leaves;
  return result;
}

// Expects tape_gradients to equal central differences (step eps) at up to max_elements
// elements of each floating input (float64 inputs only: lower precision cannot resolve them).
inline void expect_gradcheck(const TraceableFn& fn, const std::vector<Tensor>& inputs,
                             const std::string& what, uint64_t rng_seed = 1, double tol = 1e-5,
                             double eps = 1e-6, int64_t max_elements = 48) {
  std::vector<Tensor> leaves;
  const std::vector<Tensor> analytic = tape_gradients(fn, inputs, rng_seed, &leaves);
  manual_seed(rng_seed);
  std::vector<Tensor> probe_outputs;
  {
    NoGradGuard no_grad;
    probe_outputs = fn(leaves);
  }
  const std::vector<Tensor> w = output_weights(probe_outputs, rng_seed + 7);
  auto loss = [&] {
    NoGradGuard no_grad;
    manual_seed(rng_seed);
    return weighted_sum(fn(leaves), w);
  };
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!leaves[i].is_floating_point()) continue;
    ASSERT_EQ(leaves[i].dtype(), kFloat64) << what << ": gradcheck needs float64 inputs";
    ASSERT_EQ(analytic[i].sizes().vec(), leaves[i].sizes().vec()) << what << " input " << i;
    const std::vector<double> a = values_of(analytic[i]);
    double* data = leaves[i].data_ptr<double>();
    const int64_t n = leaves[i].numel();
    const int64_t stride = std::max<int64_t>(1, n / max_elements);
    for (int64_t k = 0; k < n; k += stride) {
      const double saved = data[k];
      data[k] = saved + eps;
      const double up = loss();
      data[k] = saved - eps;
      const double down = loss();
      data[k] = saved;
      const double numeric = (up - down) / (2 * eps);
      EXPECT_NEAR(a[size_t(k)], numeric, tol * (1 + std::abs(numeric)))
          << what << ": d/d input " << i << " element " << k;
    }
  }
}

}  // namespace ember::testing
