// A character-level GPT as a LibTorch user writes one: token and position embeddings, pre-norm
// blocks (LayerNorm, causal multi-head scaled_dot_product_attention, a GELU MLP), a final
// LayerNorm and a linear head. Shared by examples/train_gpt and ember-bench's gpt_train_step.
#pragma once

#include <cstdint>
#include <vector>

#include "ember/ember.h"

namespace ember::examples {

namespace F = ember::nn::functional;

struct GptConfig {
  int64_t block = 64, layers = 2, embed = 64, heads = 4;
};

struct BlockImpl : nn::Module {
  BlockImpl(int64_t d, int64_t heads) : Module("Block"), heads(heads) {
    ln1 = register_module("ln1", nn::LayerNorm(std::vector<int64_t>{d}));
    qkv = register_module("qkv", nn::Linear(d, 3 * d));
    proj = register_module("proj", nn::Linear(d, d));
    ln2 = register_module("ln2", nn::LayerNorm(std::vector<int64_t>{d}));
    fc = register_module("fc", nn::Linear(d, 4 * d));
    out = register_module("out", nn::Linear(4 * d, d));
  }
  Tensor forward(const Tensor& x) {
    const int64_t b = x.size(0), t = x.size(1), d = x.size(2), dh = d / heads;
    const auto parts = chunk(qkv(ln1(x)), 3, -1);
    auto split_heads = [&](const Tensor& y) {
      return y.reshape({b, t, heads, dh}).transpose(1, 2);
    };
    const Tensor att = F::scaled_dot_product_attention(split_heads(parts[0]), split_heads(parts[1]),
                                                       split_heads(parts[2]), {}, 0, true);
    const Tensor h = x + proj(att.transpose(1, 2).reshape({b, t, d}));
    return h + out(gelu(fc(ln2(h))));
  }
  int64_t heads;
  nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  nn::Linear qkv{nullptr}, proj{nullptr}, fc{nullptr}, out{nullptr};
};
EMBER_MODULE(Block);

struct GptImpl : nn::Module {
  GptImpl(int64_t vocab, const GptConfig& c) : Module("GPT") {
    tokens = register_module("tokens", nn::Embedding(vocab, c.embed));
    positions = register_module("positions", nn::Embedding(c.block, c.embed));
    blocks = register_module("blocks", nn::ModuleList());
    for (int i = 0; i < c.layers; ++i) blocks->push_back(Block(c.embed, c.heads));
    ln = register_module("ln", nn::LayerNorm(std::vector<int64_t>{c.embed}));
    head = register_module("head", nn::Linear(c.embed, vocab));
    NoGradGuard no_grad;  // GPT-2's small initial embeddings
    tokens->weight.mul_(0.02);
    positions->weight.mul_(0.02);
  }
  // idx [B, T] int64 -> logits [B, T, vocab].
  Tensor forward(const Tensor& idx) {
    Tensor x = tokens(idx) + positions(arange(idx.size(1), kInt64));
    for (size_t i = 0; i < blocks->size(); ++i) x = blocks->at<BlockImpl>(i)->forward(x);
    return head(ln(x));
  }
  nn::Embedding tokens{nullptr}, positions{nullptr};
  nn::ModuleList blocks{nullptr};
  nn::LayerNorm ln{nullptr};
  nn::Linear head{nullptr};
};
EMBER_MODULE(Gpt);

}  // namespace ember::examples
