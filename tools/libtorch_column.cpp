// The LibTorch column of ember-bench: each workload written with LibTorch's ops, timed eagerly.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>

#include "tools/libtorch_column.h"

namespace ember_bench {
namespace {

using Inputs = std::vector<at::Tensor>;

// The workload over its inputs; weights are made once, from the inputs' shapes.
std::function<void(const Inputs&)> workload_fn(const std::string& name, const Inputs& in) {
  const int64_t last = in.at(0).size(-1);
  if (name == "elementwise_chain")
    return [](const Inputs& x) { at::gelu(x[0] * 1.5 + 0.25) * at::sigmoid(x[0]); };
  if (name == "bias_gelu") {
    const at::Tensor b = at::randn({last});
    return [b](const Inputs& x) { at::gelu(x[0] + b); };
  }
  if (name == "softmax") return [](const Inputs& x) { at::softmax(x[0], -1); };
  const at::Tensor gamma = at::randn({last}), beta = at::randn({last});
  if (name == "layer_norm")
    return [=](const Inputs& x) { at::layer_norm(x[0], {last}, gamma, beta, 1e-5); };
  if (name == "rms_norm")
    return [=](const Inputs& x) { x[0] * at::rsqrt((x[0] * x[0]).mean(-1, true) + 1e-6) * gamma; };
  if (name == "mlp_forward") {
    const int64_t hidden = 2 * last;
    const at::Tensor w1 = at::randn({last, hidden}) * 0.03, b1 = at::randn({hidden});
    const at::Tensor w2 = at::randn({hidden, last}) * 0.02, b2 = at::randn({last});
    return [=](const Inputs& x) { at::matmul(at::gelu(at::matmul(x[0], w1) + b1), w2) + b2; };
  }
  if (name == "attention")
    return [last](const Inputs& x) {
      const at::Tensor s = at::matmul(x[0], x[1].transpose(1, 2)) / std::sqrt(double(last));
      at::matmul(at::softmax(s, -1), x[2]);
    };
  if (name == "conv_block") {
    const int64_t channels = in.at(0).size(1);
    const at::Tensor w = at::randn({2 * channels, channels, 3, 3}) * 0.05,
                     b = at::randn({2 * channels});
    return [=](const Inputs& x) { at::max_pool2d(at::relu(at::conv2d(x[0], w, b, 1, 1)), {2, 2}); };
  }
  return nullptr;
}

}  // namespace

TorchTiming time_libtorch(const std::string& workload,
                          const std::vector<std::vector<int64_t>>& input_shapes, int threads,
                          int warmup, int reps) {
  at::set_num_threads(threads);
  at::NoGradGuard no_grad;
  Inputs in;
  for (const auto& shape : input_shapes) in.push_back(at::randn(shape));
  const auto fn = workload_fn(workload, in);
  if (!fn) return {false, "no LibTorch version of " + workload};
  for (int i = 0; i < warmup; ++i) fn(in);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn(in);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  const double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  return {true, "", median, ms.front(), ms.back()};
}

std::string libtorch_description() { return "LibTorch " TORCH_VERSION; }

}  // namespace ember_bench
