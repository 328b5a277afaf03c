// Dynamic shapes on a real model: the nanoGPT-style forward of issue 13 (token + position
// embedding, pre-norm blocks with causal self-attention through view/transpose and a mask buffer
// sliced to the sequence, a GELU MLP), compiled across batch sizes and through a generation loop
// whose sequence grows by one token per step. Both pin the number of traces with CompileStats.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember {
namespace {

namespace F = nn::functional;

struct TinyGpt {
  static constexpr int64_t kVocab = 65, kBlock = 32, kDim = 64, kHeads = 4, kLayers = 2;
  struct Layer {
    Tensor ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, out_w, out_b;
  };
  Tensor wte, wpe, bias, lnf_w, lnf_b, head_w;
  std::vector<Layer> layers;

  TinyGpt() {
    manual_seed(13);
    auto w = [](std::initializer_list<int64_t> s) { return randn(s) * 0.1; };
    wte = w({kVocab, kDim});
    wpe = w({kBlock, kDim});
    bias = tril(ones({kBlock, kBlock}, kBool));
    for (int i = 0; i < kLayers; ++i)
      layers.push_back({1 + w({kDim}), w({kDim}), w({3 * kDim, kDim}), w({3 * kDim}),
                        w({kDim, kDim}), w({kDim}), 1 + w({kDim}), w({kDim}), w({4 * kDim, kDim}),
                        w({4 * kDim}), w({kDim, 4 * kDim}), w({kDim})});
    lnf_w = 1 + w({kDim});
    lnf_b = w({kDim});
    head_w = w({kVocab, kDim});
  }

  // idx [B, T] int64 -> logits [B, T, vocab]. With shared_mask the causal mask is computed once
  // and used by every layer, as many ports write it.
  Tensor forward(const Tensor& idx, bool shared_mask = false) const {
    const int64_t b = idx.size(0), t = idx.size(1), c = kDim, nh = kHeads;
    Tensor x = embedding(wte, idx) + embedding(wpe, arange(0, t, 1, kInt64));
    const Tensor hidden = logical_not(bias.slice(0, 0, t).slice(1, 0, t));
    for (const Layer& l : layers) {
      const Tensor h = layer_norm(x, {c}, l.ln1_w, l.ln1_b);
      const auto qkv = split(F::linear(h, l.qkv_w, l.qkv_b), c, 2);
      auto heads = [&](const Tensor& y) { return y.view({b, t, nh, c / nh}).transpose(1, 2); };
      const Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
      Tensor att = matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(c / nh)));
      const Tensor mask = shared_mask ? hidden : logical_not(bias.slice(0, 0, t).slice(1, 0, t));
      att = softmax(masked_fill(att, mask, -INFINITY), -1);
      const Tensor y = matmul(att, v).transpose(1, 2).contiguous().view({b, t, c});
      x = x + F::linear(y, l.proj_w, l.proj_b);
      const Tensor m = layer_norm(x, {c}, l.ln2_w, l.ln2_b);
      x = x + F::linear(gelu(F::linear(m, l.fc_w, l.fc_b)), l.out_w, l.out_b);
    }
    return F::linear(layer_norm(x, {c}, lnf_w, lnf_b), head_w);
  }
};

Tensor tokens(int64_t b, int64_t t, uint64_t seed) {
  manual_seed(seed);
  return randint(0, TinyGpt::kVocab, {b, t});
}

std::string reasons_text(const std::vector<std::string>& reasons) {
  std::string s;
  for (const std::string& r : reasons) s += "\n  " + r;
  return s;
}

TEST(DynamicShapes, GptForwardAcrossBatchSizesCompilesTwice) {
  const TinyGpt model;
  auto f = compile([&](const Tensor& idx) { return model.forward(idx); });
  for (int64_t b : {4, 16, 7, 16}) {
    const Tensor idx = tokens(b, TinyGpt::kBlock, uint64_t(b));
    const Tensor expected = model.forward(idx);
    EXPECT_TRUE(allclose(f(idx), expected, 1e-4, 1e-5)) << "batch " << b;
  }
  EXPECT_EQ(f.stats().traces, 2) << reasons_text(f.recompile_reasons()) << "\n" << f.describe();
  EXPECT_EQ(f.stats().eager_calls, 0);
}

// The whole forward lowers to kernels and library calls, with or without a mask shared by the
// layers: the embedding lookups are kernel loads too, and nothing runs eagerly.
TEST(DynamicShapes, GptForwardHasNoFallbacks) {
  const TinyGpt model;
  for (bool shared : {false, true}) {
    auto f = compile([&](const Tensor& idx) { return model.forward(idx, shared); });
    const Tensor idx = tokens(4, TinyGpt::kBlock, 4);
    EXPECT_TRUE(allclose(f(idx), model.forward(idx, shared), 1e-4, 1e-5));
    const CompiledPlanInfo info = f.last_plan();
    EXPECT_EQ(info.eager_nodes, 0) << "shared mask " << shared << "\n" << f.describe();
  }
}

TEST(DynamicShapes, GenerationLoopCompilesAtMostTwice) {
  const TinyGpt model;
  auto f = compile([&](const Tensor& idx) {
    // The logits of the last position, as a sampling loop reads them.
    return model.forward(idx).select(1, -1);
  });
  Tensor idx = tokens(4, 1, 3);
  for (int64_t t = 1; t < TinyGpt::kBlock; ++t) {
    const Tensor expected = model.forward(idx).select(1, -1);
    const Tensor got = f(idx);
    ASSERT_TRUE(allclose(got, expected, 1e-4, 1e-5)) << "T = " << t;
    // Append the most likely next token of each row.
    idx = cat({idx, argmax(expected, -1, true)}, 1);
  }
  EXPECT_LE(f.stats().traces, 2) << reasons_text(f.recompile_reasons()) << "\n" << f.describe();
  EXPECT_EQ(f.stats().eager_calls, 0);
  EXPECT_EQ(f.stats().replays, f.stats().calls - f.stats().traces);
  // The symbolic entry's lookups, masks and slices are all kernels or views.
  EXPECT_EQ(f.last_plan().eager_nodes, 0) << f.describe();
}

}  // namespace
}  // namespace ember
