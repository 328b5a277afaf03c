// train_gpt: a character-level GPT trained on a text file (by default this repository's
// README), written as a LibTorch user writes it: nn modules, cross-entropy, AdamW, a compiled
// training step. Prints a progress line (loss, tokens/s, ETA), the eager and compiled step
// times, then samples text from the model.
//
//   train_gpt [--text FILE] [--steps N] [--batch B] [--block T] [--layers L] [--embed D]
//             [--heads H] [--lr X] [--sample N] [--eager] [--check] [--describe]
//
// --check exits with status 1 unless the final loss is below the uniform distribution's,
// log(vocabulary size): what the test suite runs on tiny settings. --describe prints the
// compiled step's plans (kernels, library calls, eager nodes, residuals).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ember/ember.h"
#include "examples/gpt.h"

namespace {

using namespace ember;
using examples::Gpt;
namespace F = ember::nn::functional;

struct Config {
  std::string text = EMBER_SOURCE_DIR "/README.md";
  int steps = 300, batch = 16, block = 64, layers = 2, embed = 64, heads = 4, sample = 200;
  double lr = 3e-3;
  bool eager = false, check = false, describe = false;
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "train_gpt: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--text")
      c.text = value();
    else if (a == "--steps")
      c.steps = std::stoi(value());
    else if (a == "--batch")
      c.batch = std::stoi(value());
    else if (a == "--block")
      c.block = std::stoi(value());
    else if (a == "--layers")
      c.layers = std::stoi(value());
    else if (a == "--embed")
      c.embed = std::stoi(value());
    else if (a == "--heads")
      c.heads = std::stoi(value());
    else if (a == "--lr")
      c.lr = std::stod(value());
    else if (a == "--sample")
      c.sample = std::stoi(value());
    else if (a == "--eager")
      c.eager = true;
    else if (a == "--check")
      c.check = true;
    else if (a == "--describe")
      c.describe = true;
    else {
      std::fprintf(stderr, "train_gpt: unknown option %s (see the top of train_gpt.cpp)\n",
                   a.c_str());
      std::exit(2);
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Config c = parse(argc, argv);
  std::ifstream in(c.text, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "train_gpt: cannot read %s\n", c.text.c_str());
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (int64_t(text.size()) < c.block + 2) {
    std::fprintf(stderr, "train_gpt: %s is shorter than a block\n", c.text.c_str());
    return 2;
  }
  // The vocabulary: the bytes the text uses.
  const std::set<unsigned char> chars(text.begin(), text.end());
  const std::vector<unsigned char> vocab(chars.begin(), chars.end());
  std::vector<int64_t> id(256, 0);
  for (size_t i = 0; i < vocab.size(); ++i) id[vocab[i]] = int64_t(i);
  std::vector<int64_t> ids;
  for (unsigned char ch : text) ids.push_back(id[ch]);
  const int64_t v = int64_t(vocab.size());
  std::printf(
      "train_gpt: %zu characters of %s, vocabulary %lld; %d layers, %d dims, %d heads, "
      "block %d, batch %d, %s step\n",
      text.size(), c.text.c_str(), static_cast<long long>(v), c.layers, c.embed, c.heads, c.block,
      c.batch, c.eager ? "eager" : "compiled");

  manual_seed(1337);
  Gpt model(v, examples::GptConfig{c.block, c.layers, c.embed, c.heads});
  optim::AdamW opt(model->parameters(), optim::AdamWOptions(c.lr).weight_decay(0.01));
  auto loss_of = [&](const Tensor& x, const Tensor& y) {
    return F::cross_entropy(model->forward(x).reshape({-1, v}), y.reshape({-1}));
  };
  // One training step: zero_grad, loss, backward, gradient clipping and AdamW's update. Compiled,
  // the whole step is one compile(): its forward, backward and update are traced together and
  // replayed, the writes to the parameters, gradients and AdamW's state applied by every run.
  const std::vector<Tensor> params = model->parameters();
  auto train_step = [&](const Tensor& x, const Tensor& y) {
    opt.zero_grad();
    Tensor loss = loss_of(x, y);
    loss.backward();
    nn::utils::clip_grads_with_norm_(params, 1.0, nn::utils::get_total_norm(params));
    opt.step();
    return loss.detach();
  };
  auto compiled = compile(train_step);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> start(0, int64_t(ids.size()) - c.block - 1);
  auto batch = [&]() {
    Tensor x = empty({c.batch, c.block}, kInt64), y = empty({c.batch, c.block}, kInt64);
    int64_t *px = x.data_ptr<int64_t>(), *py = y.data_ptr<int64_t>();
    for (int b = 0; b < c.batch; ++b) {
      const int64_t s = start(rng);
      for (int t = 0; t < c.block; ++t) {
        px[b * c.block + t] = ids[size_t(s + t)];
        py[b * c.block + t] = ids[size_t(s + t + 1)];
      }
    }
    return std::make_pair(x, y);
  };
  using Clock = std::chrono::steady_clock;
  auto step = [&](bool eager) {
    const auto [x, y] = batch();
    return (eager ? train_step(x, y) : compiled(x, y)).item<double>();
  };
  const double uniform = std::log(double(v));
  double last = 0, smoothed = uniform;
  const auto start_time = Clock::now();
  for (int s = 1; s <= c.steps; ++s) {
    last = step(c.eager);
    smoothed = s == 1 ? last : 0.9 * smoothed + 0.1 * last;
    if (s % std::max(1, c.steps / 10) == 0 || s == c.steps) {
      const double secs = std::chrono::duration<double>(Clock::now() - start_time).count();
      const double tokens = double(s) * c.batch * c.block;
      std::printf("step %4d/%d  loss %.3f (uniform %.3f)  %.0f tokens/s  ETA %.0f s\n", s, c.steps,
                  smoothed, uniform, tokens / secs, secs / s * (c.steps - s));
      std::fflush(stdout);
    }
  }
  // Eager against compiled, the same steps: rounds of 10 steps that alternate between the two,
  // the fastest round of each, so that a noisy neighbour on a shared machine skews neither.
  auto time_steps = [&](bool eager) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 10; ++i) step(eager);
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / 10;
  };
  double eager_ms = 1e300, compiled_ms = 1e300;
  for (int round = 0; round < 5; ++round) {
    eager_ms = std::min(eager_ms, time_steps(true));
    compiled_ms = std::min(compiled_ms, time_steps(false));
  }
  std::printf("step time: eager %.1f ms, compiled %.1f ms (%.2fx; %lld trace(s), %lld replays)\n",
              eager_ms, compiled_ms, eager_ms / compiled_ms,
              static_cast<long long>(compiled.stats().traces),
              static_cast<long long>(compiled.stats().replays));
  if (c.describe) std::printf("%s", compiled.describe().c_str());
  // Sampling: the next character drawn from the model's distribution, one at a time.
  if (c.sample > 0) {
    NoGradGuard no_grad;
    model->eval();
    std::vector<int64_t> context = {ids[0]};
    std::string out(1, char(vocab[size_t(ids[0])]));
    for (int i = 0; i < c.sample; ++i) {
      const size_t from = context.size() > size_t(c.block) ? context.size() - size_t(c.block) : 0;
      Tensor idx = empty({1, int64_t(context.size() - from)}, kInt64);
      std::copy(context.begin() + long(from), context.end(), idx.data_ptr<int64_t>());
      const Tensor logits = model->forward(idx).select(1, idx.size(1) - 1).squeeze(0);
      context.push_back(multinomial(softmax(logits, 0), 1).item<int64_t>());
      out += char(vocab[size_t(context.back())]);
    }
    std::printf("sample:\n%s\n", out.c_str());
  }
  if (c.check && !(smoothed < uniform)) {
    std::fprintf(stderr, "train_gpt: the loss %.3f did not fall below the uniform %.3f\n", smoothed,
                 uniform);
    return 1;
  }
  return 0;
}
