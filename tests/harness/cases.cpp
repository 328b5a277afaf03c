// The harness's cases: every op family, broadcasting, views, reductions, the composites, an MLP
// block, an attention block, a conv block, dtypes, random numbers and a data-dependent branch.
#include "tests/harness/cases.h"

#include <cmath>

#include "ember/frontend/indexing.h"

namespace ember::testing {
namespace {

using Inputs = std::vector<Tensor>;

// Inputs drawn from Ember's generator with a fixed seed (the harness compares backends with
// each other, not with an independent reference, so this is fine here).
std::function<Inputs(uint64_t)> randn_inputs(std::vector<Shape> shapes, DType dtype = kFloat32) {
  return [shapes, dtype](uint64_t seed) {
    manual_seed(seed);
    Inputs in;
    for (const Shape& s : shapes) in.push_back(randn(s, dtype));
    return in;
  };
}

std::function<Inputs(uint64_t)> positive_inputs(std::vector<Shape> shapes) {
  return [shapes](uint64_t seed) {
    manual_seed(seed);
    Inputs in;
    for (const Shape& s : shapes) in.push_back(rand(s) + 0.1);
    return in;
  };
}

Case make(std::string name, std::function<Inputs(uint64_t)> inputs, TraceableFn fn,
          double rtol = 1e-5, double atol = 1e-6) {
  return Case{std::move(name), std::move(inputs), std::move(fn), rtol, atol, false};
}

std::vector<Case> build() {
  std::vector<Case> c;
  // ---- elementwise ----
  c.push_back(make(
      "add_mul_chain", randn_inputs({{8, 16}, {8, 16}}),
      [](const Inputs& x) -> Inputs { return {(x[0] + x[1]) * x[0] - x[1] / (x[0] * x[0] + 1)}; }));
  // 0-dim tensors only: a kernel whose domain has no dims.
  c.push_back(make("zero_dim", randn_inputs({{}, {}}), [](const Inputs& x) -> Inputs {
    return {(x[0] * x[1]).exp() + x[0], tanh(x[0] - x[1]) * 2};
  }));
  c.push_back(make("exp_log_sqrt", positive_inputs({{6, 10}}), [](const Inputs& x) -> Inputs {
    return {log(x[0]) + sqrt(x[0]) * exp(-x[0]) + rsqrt(x[0]) + reciprocal(x[0])};
  }));
  c.push_back(make("trig", randn_inputs({{5, 9}}), [](const Inputs& x) -> Inputs {
    return {sin(x[0]) * cos(x[0]) + tanh(x[0] * 2)};
  }));
  c.push_back(make("activations", randn_inputs({{4, 33}}), [](const Inputs& x) -> Inputs {
    return {sigmoid(x[0]) + relu(x[0]) + silu(x[0])};
  }));
  c.push_back(make("gelu_erf", randn_inputs({{7, 12}}),
                   [](const Inputs& x) -> Inputs { return {gelu(x[0] * 3)}; }));
  c.push_back(make("gelu_tanh", randn_inputs({{7, 12}}),
                   [](const Inputs& x) -> Inputs { return {gelu(x[0] * 3, "tanh")}; }));
  c.push_back(make("erf_expm1_log1p", positive_inputs({{3, 17}}), [](const Inputs& x) -> Inputs {
    return {erf(x[0]) + expm1(x[0]) + log1p(x[0])};
  }));
  c.push_back(make("rounding_and_sign", randn_inputs({{6, 6}}), [](const Inputs& x) -> Inputs {
    const Tensor y = x[0] * 4;
    return {floor(y) + ceil(y) * 2 + round(y) * 3 + sign(y) + abs(y) - neg(y)};
  }));
  c.push_back(make("compare_where", randn_inputs({{5, 8}, {5, 8}}), [](const Inputs& x) -> Inputs {
    return {where(x[0] > x[1], x[0], x[1] * 2), where(x[0] <= 0, 0.0, x[0]),
            (x[0] == x[0]).to(kInt32) + (x[0] != x[1]).to(kInt32)};
  }));
  c.push_back(make("logical", randn_inputs({{4, 4}, {4, 4}}), [](const Inputs& x) -> Inputs {
    const Tensor a = x[0] > 0, b = x[1] > 0;
    return {logical_and(a, b), logical_or(a, logical_not(b)), (a >= b)};
  }));
  c.push_back(make("pow", positive_inputs({{4, 9}, {4, 9}}), [](const Inputs& x) -> Inputs {
    return {pow(x[0], x[1]), x[0].pow(2.5), pow(x[1], 3)};
  }));
  c.push_back(make("max_min_clamp", randn_inputs({{6, 7}, {6, 7}}), [](const Inputs& x) -> Inputs {
    return {maximum(x[0], x[1]) - minimum(x[0], x[1]), clamp(x[0], -0.5, 0.5),
            x[1].clamp(std::nullopt, 0.1)};
  }));
  c.push_back(make(
      "scalar_promotion",
      [](uint64_t seed) {
        manual_seed(seed);
        return Inputs{randint(-5, 5, {3, 4}, kInt32), randn({3, 4})};
      },
      [](const Inputs& x) -> Inputs {
        return {x[0] + 2.5, x[0] * 3, x[0] + x[1], 1 - x[0], x[0] > 0.5};
      }));
  c.push_back(make("casts", randn_inputs({{5, 5}}), [](const Inputs& x) -> Inputs {
    return {x[0].to(kFloat16).to(kFloat32) * 2, (x[0] * 10).to(kInt64), x[0].to(kFloat64) + 1,
            (x[0] > 0).to(kFloat32)};
  }));
  c.push_back(
      make("broadcasting", randn_inputs({{4, 1, 6}, {5, 1}, {6}}), [](const Inputs& x) -> Inputs {
        return {x[0] * x[1] + x[2], x[2] - x[1]};
      }));
  c.push_back(make(
      "integer_division",
      [](uint64_t seed) {
        manual_seed(seed);
        return Inputs{randint(-20, 20, {10}), randint(1, 7, {10})};
      },
      [](const Inputs& x) -> Inputs {
        return {x[0] / x[1], x[0] * x[1] - x[0]};
      }));
  // ---- views and movement ----
  c.push_back(make("permute_reshape", randn_inputs({{2, 3, 4}}), [](const Inputs& x) -> Inputs {
    return {x[0].permute({2, 0, 1}).reshape({4, 6}) * 2, x[0].transpose(0, 2).contiguous()};
  }));
  c.push_back(make("non_contiguous_elementwise", randn_inputs({{6, 8}, {8, 6}}),
                   [](const Inputs& x) -> Inputs {
                     return {x[0].t() + x[1], exp(x[1].t()) * x[0]};
                   }));
  c.push_back(make("slice_narrow_select", randn_inputs({{6, 10}}), [](const Inputs& x) -> Inputs {
    return {x[0].slice(1, 2, 9, 3), x[0].narrow(0, -3, 2) * 2, x[0].select(1, -1), x[0][2]};
  }));
  // Bounds, lengths and shapes computed from the sizes: shape-generic when the dims are symbolic
  // (negative indices, x[1 : n - 1], arange(n), a view to a product, a mask sliced to n).
  c.push_back(
      make("sizes_from_shapes", randn_inputs({{6, 10}, {12, 12}}), [](const Inputs& x) -> Inputs {
        const int64_t n = x[0].size(0), m = x[0].size(1);
        const Tensor pos = arange(m, kFloat32);
        const Tensor mask = x[1].slice(0, 0, n).slice(1, 0, n);
        return {x[0].slice(0, 1, n - 1) + pos,
                x[0].select(0, -1) * pos,
                x[0].narrow(1, m - 3, 3),
                x[0].reshape({n * m}) + 1,
                x[0].view({1, n, m}).reshape({m, n}).sum(0),
                matmul(mask, x[0])};
      }));
  // A row reduction of an input broadcast from lower rank with a trailing size-1 dim.
  c.push_back(make("broadcast_row_reduction", randn_inputs({{2, 4, 4}, {4, 1}}),
                   [](const Inputs& x) -> Inputs {
                     return {(x[0] + x[1]).sum(-1, true), softmax(x[0] * x[1], -1)};
                   }));
  c.push_back(make("expand_add", randn_inputs({{3, 1}, {1, 5}}), [](const Inputs& x) -> Inputs {
    return {x[0].expand({2, 3, 5}) + x[1], x[1].expand_as(x[1].expand({4, 5}))};
  }));
  c.push_back(make("squeeze_unsqueeze_flatten", randn_inputs({{1, 4, 1, 3}}),
                   [](const Inputs& x) -> Inputs {
                     return {x[0].squeeze(), x[0].squeeze(2).unsqueeze(-1), x[0].flatten(),
                             x[0].flatten(1, 2), x[0].view({4, 3})};
                   }));
  c.push_back(
      make("cat_stack", randn_inputs({{2, 3}, {4, 3}, {2, 3}}), [](const Inputs& x) -> Inputs {
        return {cat({x[0], x[1], x[2]}), cat({x[0], x[2]}, 1), stack({x[0], x[2]}, 1)};
      }));
  // ---- reductions ----
  c.push_back(make("sum_dims_keepdim", randn_inputs({{3, 4, 5}}), [](const Inputs& x) -> Inputs {
    return {x[0].sum(), x[0].sum({0, 2}), x[0].sum(1, true), x[0].sum(-1)};
  }));
  c.push_back(make("mean", randn_inputs({{3, 4, 5}}), [](const Inputs& x) -> Inputs {
    return {x[0].mean(), x[0].mean({1}), x[0].mean({0, 2}, true)};
  }));
  c.push_back(make("prod", positive_inputs({{3, 6}}), [](const Inputs& x) -> Inputs {
    return {x[0].prod(1), (x[0] + 0.5).prod()};
  }));
  c.push_back(make("amax_amin", randn_inputs({{4, 5, 6}}), [](const Inputs& x) -> Inputs {
    return {x[0].amax({0, 2}), x[0].amin(1, true), x[0].max(), x[0].min()};
  }));
  c.push_back(make("argmax_argmin", randn_inputs({{4, 7}}), [](const Inputs& x) -> Inputs {
    return {x[0].argmax(), x[0].argmax(1), x[0].argmin(0, true)};
  }));
  c.push_back(make("var_std", randn_inputs({{5, 8}}), [](const Inputs& x) -> Inputs {
    return {x[0].var(), x[0].var(1), x[0].std(0, false), x[0].std({0, 1}, true, true)};
  }));
  c.push_back(make("max_with_indices", randn_inputs({{3, 9}}), [](const Inputs& x) -> Inputs {
    auto [v, i] = x[0].max(1);
    auto [mv, mi] = x[0].min(0, true);
    return {v, i, mv, mi};
  }));
  // ---- composites ----
  c.push_back(make("softmax_last", randn_inputs({{8, 32}}),
                   [](const Inputs& x) -> Inputs { return {softmax(x[0] * 3, -1)}; }));
  c.push_back(make("softmax_dim0", randn_inputs({{8, 5, 3}}), [](const Inputs& x) -> Inputs {
    return {softmax(x[0], 0), x[0].softmax(1)};
  }));
  c.push_back(make("log_softmax", randn_inputs({{6, 20}}), [](const Inputs& x) -> Inputs {
    return {log_softmax(x[0] * 4, 1), x[0].log_softmax(0)};
  }));
  c.push_back(make(
      "layer_norm_affine", randn_inputs({{4, 6, 16}, {16}, {16}}),
      [](const Inputs& x) -> Inputs { return {layer_norm(x[0], {16}, x[1], x[2])}; }, 1e-5, 1e-5));
  c.push_back(make(
      "layer_norm_2d", randn_inputs({{4, 6, 16}}),
      [](const Inputs& x) -> Inputs {
        return {layer_norm(x[0], {6, 16})};
      },
      1e-5, 1e-5));
  c.push_back(make("rmsnorm", randn_inputs({{5, 32}, {32}}), [](const Inputs& x) -> Inputs {
    return {x[0] * rsqrt(mean(x[0] * x[0], -1, true) + 1e-6) * x[1]};
  }));
  // ---- linear algebra, blocks ----
  c.push_back(make("matmul_2d", randn_inputs({{7, 5}, {5, 3}}), [](const Inputs& x) -> Inputs {
    return {matmul(x[0], x[1]), mm(x[0], x[1]) + 1};
  }));
  c.push_back(make("matmul_batched", randn_inputs({{2, 3, 4, 5}, {5, 6}, {3, 6, 2}}),
                   [](const Inputs& x) -> Inputs {
                     return {matmul(x[0], x[1]), matmul(matmul(x[0], x[1]), x[2])};
                   }));
  c.push_back(make("matmul_1d", randn_inputs({{5}, {5, 4}, {3, 5}}), [](const Inputs& x) -> Inputs {
    return {matmul(x[0], x[1]), matmul(x[2], x[0]), matmul(x[0], x[0])};
  }));
  c.push_back(make(
      "mlp_block", randn_inputs({{16, 32}, {32, 64}, {64}, {64, 10}, {10}}),
      [](const Inputs& x) -> Inputs {
        const Tensor h = gelu(matmul(x[0], x[1]) + x[2]);
        return {log_softmax(matmul(h, x[3]) + x[4], -1)};
      },
      1e-4, 1e-5));
  c.push_back(make(
      "attention_block", randn_inputs({{2, 8, 16}, {16, 16}, {16, 16}, {16, 16}}),
      [](const Inputs& x) -> Inputs {
        const Tensor q = matmul(x[0], x[1]), k = matmul(x[0], x[2]), v = matmul(x[0], x[3]);
        const Tensor scores = matmul(q, k.transpose(-2, -1)) / std::sqrt(16.0);
        return {matmul(softmax(scores, -1), v)};
      },
      1e-4, 1e-5));
  c.push_back(make(
      // Pre-norm, two heads: LayerNorm, attention with the heads split and merged by reshapes
      // and transposes, residual, LayerNorm, gelu MLP, residual.
      "transformer_block",
      randn_inputs({{2, 8, 16}, {16}, {16, 16}, {16, 16}, {16, 16}, {16, 16}, {16, 32}, {32, 16}}),
      [](const Inputs& x) -> Inputs {
        const int64_t b = 2, s = 8, d = 16, heads = 2, dh = 8;
        auto split = [&](const Tensor& t) { return t.reshape({b, s, heads, dh}).transpose(1, 2); };
        const Tensor h = layer_norm(x[0], {d}, x[1]);
        const Tensor q = split(matmul(h, x[2])), k = split(matmul(h, x[3])),
                     v = split(matmul(h, x[4]));
        const Tensor att = softmax(matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh)), -1);
        const Tensor r1 = x[0] + matmul(matmul(att, v).transpose(1, 2).reshape({b, s, d}), x[5]);
        return {r1 + matmul(gelu(matmul(layer_norm(r1, {d}), x[6])), x[7] * 0.2)};
      },
      1e-4, 1e-5));
  c.push_back(make(
      "causal_attention", randn_inputs({{2, 2, 6, 8}, {2, 2, 6, 8}, {2, 2, 6, 8}}),
      [](const Inputs& x) -> Inputs {
        const auto parts = chunk(x[0], 2, -1);
        return {nn::functional::scaled_dot_product_attention(x[0], x[1], x[2], {}, 0, true),
                masked_fill(tril(x[1]), x[2] > 1.0, -2.0) + parts[1].sum(-1, true)};
      },
      1e-4, 1e-5));
  c.push_back(make(
      "conv_block", randn_inputs({{2, 3, 10, 10}, {8, 3, 3, 3}, {8}}),
      [](const Inputs& x) -> Inputs {
        return {max_pool2d(relu(conv2d(x[0], x[1], x[2], 1, 1)), 2)};
      },
      1e-4, 1e-5));
  c.push_back(make(
      "conv_groups_avgpool", randn_inputs({{1, 4, 9, 9}, {6, 2, 3, 3}}),
      [](const Inputs& x) -> Inputs {
        return {avg_pool2d(conv2d(x[0], x[1], {}, 2, 1, 1, 2), 2, 1, 1, false, false)};
      },
      1e-4, 1e-5));
  c.push_back(make(
      "index_ops",
      [](uint64_t seed) {
        manual_seed(seed);
        return Inputs{randn({6, 4}), randint(0, 6, {5}), randint(0, 4, {6, 2})};
      },
      [](const Inputs& x) -> Inputs {
        return {index_select(x[0], 0, x[1]), gather(x[0], 1, x[2]),
                embedding(x[0], x[1].reshape({5, 1}))};
      }));
  c.push_back(make(
      "index_add",
      [](uint64_t seed) {
        manual_seed(seed);
        return Inputs{randn({6, 4}), randint(0, 6, {5}), randn({5, 4})};
      },
      [](const Inputs& x) -> Inputs {
        return {index_add(x[0] * 2, 0, x[1], x[2].exp()), x[0].index_add(0, x[1], x[2]).sum(1)};
      }));
  c.push_back(make("cumsum_sort_topk", randn_inputs({{5, 7}}), [](const Inputs& x) -> Inputs {
    const auto [sorted, order] = sort(x[0], 0, true);
    const auto [top, at] = topk(x[0] * 2, 3, -1);
    return {cumsum(x[0], 1) * x[0], sorted + top.sum(-1, true).sum(), at.to(kFloat32),
            argsort(x[0], 1).to(kFloat32) + order.to(kFloat32)};
  }));
  c.push_back(make(
      "tensor_indexing",
      [](uint64_t seed) {
        manual_seed(seed);
        return Inputs{randn({6, 5}), randint(-6, 6, {4}), randn({6, 2})};
      },
      [](const Inputs& x) -> Inputs {
        using indexing::Slice;
        const Tensor cols = tensor({4, 0}, kInt64);
        return {x[0].index({x[1], Slice(1)}) * 2, x[0].index({Slice(), cols}).exp(),
                index_put(x[0], {Slice(), cols}, x[2] * 3),
                index_put(x[0], {x[1]}, x[2].slice(0, 0, 4).sum(1, true), true)};
      }));
  c.push_back(make("creation_inside", randn_inputs({{3, 4}}), [](const Inputs& x) -> Inputs {
    return {x[0] + ones({3, 4}) * 2 + zeros({4}), x[0] * arange(4).to(kFloat32),
            full({3, 1}, 0.5) - x[0], arange(0.0, 1.0, 0.25)};
  }));
  Case dropout_case =
      make("dropout_train", randn_inputs({{64, 32}}), [](const Inputs& x) -> Inputs {
        manual_seed(1234);  // both backends draw the same stream
        return {dropout(x[0], 0.3, true), rand({4, 4}) + randn({4})};
      });
  c.push_back(dropout_case);
  Case branch =
      make("data_dependent_branch", randn_inputs({{4, 4}}), [](const Inputs& x) -> Inputs {
        if (bool(x[0].sum() > 0)) return {x[0] * 2};
        return {x[0] - 1};
      });
  branch.data_dependent = true;
  c.push_back(branch);
  c.push_back(make(
      "half_precision", randn_inputs({{8, 8}}, kFloat16),
      [](const Inputs& x) -> Inputs {
        return {gelu(x[0]) * 2 + x[0], softmax(x[0], -1)};
      },
      4e-3, 4e-3));
  c.push_back(make(
      "bfloat16", randn_inputs({{8, 8}}, kBFloat16),
      [](const Inputs& x) -> Inputs {
        return {sigmoid(x[0]) + x[0].sum(1, true), layer_norm(x[0], {8})};
      },
      3e-2, 3e-2));
  c.push_back(make(
      "float64_mlp", randn_inputs({{4, 8}, {8, 8}, {8}}, kFloat64),
      [](const Inputs& x) -> Inputs { return {tanh(matmul(x[0], x[1]) + x[2]).sum(0)}; }, 1e-12,
      1e-12));
  c.push_back(make(
      "int64_arithmetic",
      [](uint64_t seed) {
        manual_seed(seed);
        return Inputs{randint(-100, 100, {5, 6}), randint(-3, 3, {6})};
      },
      [](const Inputs& x) -> Inputs {
        return {(x[0] * x[1] + 7).sum(1), x[0].prod(0), abs(x[0]).amax(), x[0] > x[1]};
      }));
  return c;
}

}  // namespace

const std::vector<Case>& harness_cases() {
  static const std::vector<Case> cases = build();
  return cases;
}

}  // namespace ember::testing
