// The backward rule of every differentiable op of ops.def, once (tinygrad's gradient.py,
// PyTorch's derivatives.yaml). A rule gets the gradient of the op's result and what the op saved,
// and returns the gradient of each input that wants one, in the input's shape. Rules use Ember's
// Tensor ops only, so the same rule computes eagerly and, on tracer tensors, records the backward
// graph. Sizes enter a rule as attributes of shape ops (which the tracer keeps symbolic), never as
// baked numbers: a count of elements is computed from a tensor of those sizes (count() below).
#include "frontend/autograd/rules.h"

#include <array>
#include <cmath>
#include <numbers>

#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "frontend/dispatch.h"

namespace ember::autograd {
namespace {

using ir::Attr;
using ir::Op;
using Args = BackwardArgs;

// ---- helpers ----

// The reduced dims of a reduction node (attribute dims; empty = all), wrapped and ascending.
std::vector<int64_t> reduced_dims(const Args& a) {
  const int64_t rank = int64_t(a.input_sizes[0].size());
  std::vector<int64_t> dims = wrap_dims(a.attrs.get_ints(Attr::Dims), rank, "backward");
  if (dims.empty())
    for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
  std::sort(dims.begin(), dims.end());
  return dims;
}

// A reduction's result (or its gradient) broadcast back over the input's sizes.
Tensor unreduce(const Tensor& g, const std::vector<int64_t>& dims, bool keepdim,
                IntArrayRef sizes) {
  Tensor r = g;
  if (!keepdim)
    for (int64_t d : dims) r = r.unsqueeze(d);
  return r.expand(sizes);
}

// The number of elements over dims of sizes, as a 0-dim tensor of dtype: a plain number eagerly;
// while tracing, the sum of a constant of those sizes, so it follows symbolic sizes.
Tensor count(IntArrayRef sizes, const std::vector<int64_t>& dims, DType dtype) {
  Shape reduced;
  for (int64_t d : dims) reduced.push_back(sizes[size_t(d)]);
  if (!TraceContext::active()) {
    int64_t n = 1;
    for (int64_t s : reduced) n *= s;
    return full(Shape{}, double(n), dtype);
  }
  return ones(reduced, dtype).sum();
}

Tensor zero_gradient(const Args& a, size_t i) { return zeros(a.input_sizes[i], a.input_dtypes[i]); }

// f(x) * g for a unary op whose derivative f reads x or the result.
template <class F>
Gradients chain(const Args& a, F derivative) {
  return {a.grad * derivative()};
}

// Pads are sizes fn computed from the inputs' sizes: while tracing, the evidence makes them
// symbolic where they follow the symbols (the gradient of a slice of a symbolic dim).
Tensor pad(const Tensor& x, std::vector<int64_t> pads) {
  return detail::dispatch(Op::Pad, {x},
                          {{Attr::Pads, detail::size_list(pads, "pad")}, {Attr::Value, 0.0}});
}

// A size attribute's value in this run: while tracing, at this trace's sizes.
int64_t size_value(const ir::SymInt& s) {
  return s.is_constant() ? s.value() : TraceContext::active()->evaluate(s);
}

// The gradient of x.slice(dim, start, end, step) for an x of sizes (end follows from g's size): g
// placed back at its positions, zeros between and around.
Tensor unslice(const Tensor& g, IntArrayRef sizes, int64_t dim, int64_t start, int64_t step) {
  const int64_t rank = int64_t(sizes.size()), n = sizes[size_t(dim)];
  const int64_t m = g.size(dim);
  Tensor r = g;
  int64_t covered = m;  // along dim, from start
  if (step > 1 && m > 0) {
    // Interleave step - 1 zeros after each element: [.., m, ..] -> [.., m, step, ..] -> flatten.
    r = r.unsqueeze(dim + 1);
    std::vector<int64_t> pads(size_t(2 * (rank - dim)), 0);
    pads[pads.size() - 1] = step - 1;  // after, on the new dim (counted from the last)
    r = pad(r, pads);
    Shape merged = r.sizes().vec();
    merged[size_t(dim)] *= step;
    merged.erase(merged.begin() + dim + 1);
    r = r.reshape(merged);
    covered = m * step;
    if (start + covered > n) {
      r = r.slice(dim, 0, n - start);
      covered = n - start;
    }
  }
  std::vector<int64_t> pads(size_t(2 * (rank - dim)), 0);
  pads[pads.size() - 2] = start;
  pads[pads.size() - 1] = n - start - covered;
  return pad(r, pads);
}

// matmul's operands as the [..., m, k] x [..., k, n] form (a 1-D a is a row, a 1-D b a column),
// and the gradient in the matching [..., m, n] form.
Gradients matmul_backward(const Args& a) {
  const Tensor &x = a.inputs[0], &y = a.inputs[1];
  const bool x1 = x.dim() == 1, y1 = y.dim() == 1;
  const Tensor X = x1 ? x.unsqueeze(0) : x, Y = y1 ? y.unsqueeze(1) : y;
  Tensor G = a.grad;
  if (x1) G = G.unsqueeze(y1 ? 0 : -2);
  if (y1) G = G.unsqueeze(-1);
  Gradients out(2);
  if (a.needs[0]) {
    Tensor gx = matmul(G, Y.transpose(-1, -2));
    out[0] = x1 ? sum_to(gx, X.sizes()).reshape(x.sizes()) : sum_to(gx, x.sizes());
  }
  if (a.needs[1]) {
    if (Y.dim() == 2 && X.dim() > 2) {
      // A weight shared by every batch element: one GEMM over the flattened batch, instead of a
      // batch of products summed afterwards.
      // flatten, not reshape({-1, k}): a batch of zero rows has no -1 to infer.
      const Tensor gy = matmul(X.flatten(0, -2).t(), G.flatten(0, -2));
      out[1] = y1 ? gy.reshape(y.sizes()) : gy;
    } else {
      Tensor gy = matmul(X.transpose(-1, -2), G);
      out[1] = y1 ? sum_to(gy, Y.sizes()).reshape(y.sizes()) : sum_to(gy, y.sizes());
    }
  }
  return out;
}

// max/min over dims: the gradient is shared evenly by the elements equal to the result.
Gradients extremum_backward(const Args& a) {
  const std::vector<int64_t> dims = reduced_dims(a);
  const bool keepdim = a.attrs.get_bool(Attr::Keepdim);
  const IntArrayRef sizes = a.input_sizes[0];
  const Tensor hit = (a.inputs[0] == unreduce(a.output, dims, keepdim, sizes)).to(a.grad.dtype());
  const Tensor ties = hit.sum(dims, true);
  return {unreduce(a.grad, dims, keepdim, sizes) * hit / ties};
}

// maximum/minimum: the gradient goes to the operand that won, halved on ties (as PyTorch).
Gradients extremum2_backward(const Args& a) {
  const Tensor &x = a.inputs[0], &y = a.inputs[1];
  const bool max = a.op == Op::Maximum;
  const Tensor half = a.grad * 0.5;
  Gradients out(2);
  const Tensor tie = x == y;
  if (a.needs[0])
    out[0] = sum_to(where(tie, half, where(max ? x > y : x < y, a.grad, 0.0)), a.input_sizes[0]);
  if (a.needs[1])
    out[1] = sum_to(where(tie, half, where(max ? y > x : y < x, a.grad, 0.0)), a.input_sizes[1]);
  return out;
}

Gradients layer_norm_backward(const Args& a) {
  const Tensor& x = a.inputs[0];
  const int64_t ndims = a.attrs.get_int(Attr::Ndims);
  std::vector<int64_t> dims;
  for (int64_t d = x.dim() - ndims; d < x.dim(); ++d) dims.push_back(d);
  const Tensor centered = x - x.mean(dims, true);
  const Tensor rstd = rsqrt((centered * centered).mean(dims, true) + a.attrs.get_float(Attr::Eps));
  const Tensor xhat = centered * rstd;
  const bool has_weight = a.inputs.size() > 1 && a.inputs[1].defined();
  Gradients out(a.inputs.size());
  if (a.needs[0]) {
    const Tensor gxhat = has_weight ? a.grad * a.inputs[1] : a.grad;
    out[0] = rstd * (gxhat - gxhat.mean(dims, true) - xhat * (gxhat * xhat).mean(dims, true));
  }
  if (a.inputs.size() > 1 && a.needs[1]) out[1] = sum_to(a.grad * xhat, a.input_sizes[1]);
  if (a.inputs.size() > 2 && a.needs[2]) out[2] = sum_to(a.grad, a.input_sizes[2]);
  return out;
}

Gradients gelu_backward(const Args& a) {
  const Tensor& x = a.inputs[0];
  if (!a.attrs.get_bool(Attr::Approximate)) {
    const Tensor cdf = (erf(x * std::numbers::sqrt2 * 0.5) + 1.0) * 0.5;
    const Tensor pdf = exp(x * x * -0.5) * (std::numbers::inv_sqrtpi * std::numbers::sqrt2 * 0.5);
    return {a.grad * (cdf + x * pdf)};
  }
  constexpr double kA = 0.044715;
  const double k = std::numbers::sqrt2 * std::numbers::inv_sqrtpi;  // sqrt(2 / pi)
  const Tensor t = tanh((x + x * x * x * kA) * k);
  const Tensor inner = (x * x * (3 * kA) + 1.0) * k;
  return {a.grad * ((t + 1.0) * 0.5 + x * (1.0 - t * t) * inner * 0.5)};
}

// index_select along dim: each slice of the gradient is added to the slice it was read from.
Gradients index_select_backward(const Args& a) {
  const int64_t dim = a.attrs.get_int(Attr::Dim);
  return {index_add(zeros(a.input_sizes[0], a.grad.dtype()), dim, a.inputs[1], a.grad), Tensor()};
}

// gather along dim: out[.., i, ..] = x[.., index[.., i, ..], ..]; each gradient element is added
// to the element it was read from: an index_add over x flattened, at each element's flat offset.
Gradients gather_backward(const Args& a) {
  const Tensor& index = a.inputs[1];
  const int64_t dim = a.attrs.get_int(Attr::Dim), rank = index.dim();
  const IntArrayRef sizes = a.input_sizes[0];
  const Shape strides = contiguous_strides(sizes);
  Tensor flat = index.to(kInt64) * strides[size_t(dim)];
  for (int64_t d = 0; d < rank; ++d) {
    if (d == dim) continue;
    Shape along(size_t(rank), 1);
    along[size_t(d)] = index.size(d);
    flat = flat + (arange(index.size(d), kInt64) * strides[size_t(d)]).reshape(along);
  }
  const Tensor g = index_add(zeros(sizes, a.grad.dtype()).reshape({-1}), 0, flat.reshape({-1}),
                             a.grad.reshape({-1}));
  return {g.reshape(sizes), Tensor()};
}

// index_add: the input's gradient passes through; the source's is read back at the index.
Gradients index_add_backward(const Args& a) {
  const int64_t dim = a.attrs.get_int(Attr::Dim);
  return {a.grad, Tensor(), a.needs[2] ? index_select(a.grad, dim, a.inputs[1]) : Tensor()};
}

// ---- windows: conv2d and the pools ----

// Inserts step - 1 zeros between the elements along dim: [.., m, ..] -> [.., (m - 1) * step + 1,
// ..].
Tensor dilate(const Tensor& t, int64_t dim, int64_t step) {
  if (step == 1 || t.size(dim) == 0) return t;
  const int64_t m = t.size(dim);
  Shape sizes = t.sizes().vec();
  sizes[size_t(dim)] = (m - 1) * step + 1;
  return unslice(t, sizes, dim, 0, step);
}

Tensor flip(const Tensor& t, int64_t dim) {
  const int64_t n = t.size(dim);
  return index_select(t, dim, arange(n - 1, -1, -1, kInt64));
}

// A window op's geometry along the two spatial dims of a [N, C, H, W] input.
struct Window {
  int64_t k[2], s[2], p[2], d[2] = {1, 1};
  int64_t in[2], out[2];
  // The padded extent that holds the input and every window: [-p, padded - p).
  int64_t padded(int i) const {
    return std::max(in[i] + 2 * p[i], (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1);
  }
};

Window window_of(const Args& a, const Tensor& g) {
  Window w{};
  const std::vector<int64_t> kernel = a.attrs.get_ints(Attr::Kernel);
  const std::vector<int64_t> stride = a.attrs.get_ints(Attr::Stride);
  const std::vector<int64_t> padding = a.attrs.get_ints(Attr::Padding);
  const IntArrayRef sizes = a.input_sizes[0];
  for (int i = 0; i < 2; ++i) {
    w.k[i] = kernel[size_t(i)];
    w.s[i] = stride[size_t(i)];
    w.p[i] = padding[size_t(i)];
    w.in[i] = sizes[sizes.size() - 2 + size_t(i)];
    w.out[i] = g.size(g.dim() - 2 + i);
  }
  if (a.attrs.has(Attr::Dilation)) {
    const std::vector<int64_t> dilation = a.attrs.get_ints(Attr::Dilation);
    w.d[0] = dilation[0];
    w.d[1] = dilation[1];
  }
  return w;
}

// The [.., Ho, Wo] elements that window offset (i, j) reads from a tensor in padded coordinates.
Tensor tap(const Tensor& padded, const Window& w, int64_t i, int64_t j) {
  const int64_t r = padded.dim() - 2;
  return padded.slice(r, i * w.d[0], i * w.d[0] + (w.out[0] - 1) * w.s[0] + 1, w.s[0])
      .slice(r + 1, j * w.d[1], j * w.d[1] + (w.out[1] - 1) * w.s[1] + 1, w.s[1]);
}

// tap's gradient: t placed back at offset (i, j) in padded coordinates, zeros elsewhere.
Tensor untap(const Tensor& t, const Window& w, int64_t i, int64_t j) {
  const int64_t r = t.dim() - 2;
  Shape sizes = t.sizes().vec();
  sizes[size_t(r)] = w.padded(0);
  sizes[size_t(r + 1)] = w.padded(1);
  Tensor out = unslice(t, sizes, r, i * w.d[0], w.s[0]);
  return unslice(out, sizes, r + 1, j * w.d[1], w.s[1]);
}

// x in padded coordinates (fill value outside) and back.
Tensor to_padded(const Tensor& x, const Window& w, double value) {
  return detail::dispatch(Op::Pad, {x},
                          {{Attr::Pads, ir::sym_shape({w.p[1], w.padded(1) - w.in[1] - w.p[1],
                                                       w.p[0], w.padded(0) - w.in[0] - w.p[0]})},
                           {Attr::Value, value}});
}
Tensor from_padded(const Tensor& t, const Window& w) {
  const int64_t r = t.dim() - 2;
  return t.slice(r, w.p[0], w.p[0] + w.in[0]).slice(r + 1, w.p[1], w.p[1] + w.in[1]);
}

// max_pool2d: each output's gradient goes to the first element of its window (in scan order)
// that holds the maximum, as PyTorch's indices do.
Gradients max_pool_backward(const Args& a) {
  const Window w = window_of(a, a.grad);
  const Tensor padded = to_padded(a.inputs[0], w, -INFINITY);
  Tensor unclaimed = ones_like(a.grad), grad;
  for (int64_t i = 0; i < w.k[0]; ++i)
    for (int64_t j = 0; j < w.k[1]; ++j) {
      const Tensor first = (tap(padded, w, i, j) == a.output).to(a.grad.dtype()) * unclaimed;
      unclaimed = unclaimed - first;
      const Tensor part = untap(a.grad * first, w, i, j);
      grad = grad.defined() ? grad + part : part;
    }
  return {from_padded(grad, w)};
}

// avg_pool2d: each output's gradient spread over its window, divided by the count the forward
// divided by (the window clipped to the padded input, or to the input without count_include_pad).
Gradients avg_pool_backward(const Args& a) {
  const Window w = window_of(a, a.grad);
  const bool include_pad = a.attrs.get_bool(Attr::CountIncludePad);
  auto mask = [&](int i) {  // 1 where an element counts, along padded dim i
    const int64_t lo = include_pad ? 0 : w.p[i], n = include_pad ? w.in[i] + 2 * w.p[i] : w.in[i];
    return pad(ones({n}, a.grad.dtype()), {lo, w.padded(i) - lo - n});
  };
  const Tensor counted = mask(0).unsqueeze(1) * mask(1).unsqueeze(0);
  Tensor divisor;
  for (int64_t i = 0; i < w.k[0]; ++i)
    for (int64_t j = 0; j < w.k[1]; ++j) {
      const Tensor part = tap(counted, w, i, j);
      divisor = divisor.defined() ? divisor + part : part;
    }
  const Tensor share = a.grad / divisor;
  Tensor grad;
  for (int64_t i = 0; i < w.k[0]; ++i)
    for (int64_t j = 0; j < w.k[1]; ++j) {
      const Tensor part = untap(share, w, i, j);
      grad = grad.defined() ? grad + part : part;
    }
  return {from_padded(grad, w)};
}

// conv2d (x [N, C, H, W], weight [O, C / groups, kh, kw], bias [O]): the input's gradient is the
// full correlation of the stride-dilated gradient with the flipped, transposed weight; the
// weight's is the correlation of the input with the gradient, channels as the batch, per group.
Gradients conv2d_backward(const Args& a) {
  const bool unbatched = a.inputs[0].dim() == 3;
  const Tensor x = unbatched ? a.inputs[0].unsqueeze(0) : a.inputs[0];
  const Tensor g = unbatched ? a.grad.unsqueeze(0) : a.grad;
  const Tensor& weight = a.inputs[1];
  const int64_t groups = a.attrs.get_int(Attr::Groups);
  const std::vector<int64_t> stride = a.attrs.get_ints(Attr::Stride);
  const std::vector<int64_t> padding = a.attrs.get_ints(Attr::Padding);
  const std::vector<int64_t> dilation = a.attrs.get_ints(Attr::Dilation);
  const int64_t O = weight.size(0), Cg = weight.size(1), Og = O / groups;
  const int64_t kh = weight.size(2), kw = weight.size(3);
  Gradients out(a.inputs.size());
  if (a.needs[0]) {
    Tensor wt = weight.reshape({groups, Og, Cg, kh, kw}).permute({0, 2, 1, 3, 4});
    wt = flip(flip(wt.reshape({groups * Cg, Og, kh, kw}), 2), 3);
    const Tensor spread = dilate(dilate(g, 2, stride[0]), 3, stride[1]);
    Tensor full = conv2d(spread, wt, {}, 1, {dilation[0] * (kh - 1), dilation[1] * (kw - 1)},
                         dilation, groups);
    for (int i = 0; i < 2; ++i) {  // padded coordinates back to the input's
      const int64_t dim = 2 + i, n = x.size(dim), length = full.size(dim);
      const int64_t stop = std::min(length, padding[size_t(i)] + n);
      full = full.slice(dim, padding[size_t(i)], stop);
      if (full.size(dim) < n) {
        std::vector<int64_t> pads(size_t(2 * (4 - dim)), 0);
        pads[pads.size() - 1] = n - full.size(dim);
        full = pad(full, pads);
      }
    }
    out[0] = unbatched ? full.squeeze(0) : full;
  }
  if (a.needs[1]) {
    std::vector<Tensor> parts;
    for (int64_t gi = 0; gi < groups; ++gi) {
      const Tensor xs = x.slice(1, gi * Cg, (gi + 1) * Cg).transpose(0, 1);
      const Tensor gs = g.slice(1, gi * Og, (gi + 1) * Og).transpose(0, 1);
      const Tensor r = conv2d(xs, gs, {}, dilation, padding, stride);
      parts.push_back(r.transpose(0, 1).slice(2, 0, kh).slice(3, 0, kw));
    }
    out[1] = groups == 1 ? parts[0] : cat(parts, 0);
  }
  if (a.inputs.size() > 2 && a.needs[2]) out[2] = g.sum({0, 2, 3});
  return out;
}

constexpr auto Inputs = Rule::Inputs, Output = Rule::Output, Both = Rule::Both,
               Nothing = Rule::Nothing;

std::array<Rule, ir::kNumOps> make_table() {
  std::array<Rule, ir::kNumOps> t{};
  auto rule = [&](Op op, uint8_t saves, Gradients (*fn)(const Args&)) {
    t[size_t(op)] = Rule{fn, saves};
  };
  // Elementwise unary: d/dx, times the gradient.
  rule(Op::Neg, Nothing, [](const Args& a) -> Gradients { return {-a.grad}; });
  rule(Op::Abs, Inputs, [](const Args& a) { return chain(a, [&] { return a.inputs[0].sign(); }); });
  rule(Op::Exp, Output, [](const Args& a) { return chain(a, [&] { return a.output; }); });
  rule(Op::Log, Inputs, [](const Args& a) -> Gradients { return {a.grad / a.inputs[0]}; });
  rule(Op::Sqrt, Output, [](const Args& a) -> Gradients { return {a.grad / (a.output * 2.0)}; });
  rule(Op::Rsqrt, Output, [](const Args& a) {
    return chain(a, [&] { return a.output * a.output * a.output * -0.5; });
  });
  rule(Op::Sin, Inputs, [](const Args& a) { return chain(a, [&] { return a.inputs[0].cos(); }); });
  rule(Op::Cos, Inputs, [](const Args& a) { return chain(a, [&] { return -a.inputs[0].sin(); }); });
  rule(Op::Tanh, Output,
       [](const Args& a) { return chain(a, [&] { return 1.0 - a.output * a.output; }); });
  rule(Op::Sigmoid, Output,
       [](const Args& a) { return chain(a, [&] { return a.output * (1.0 - a.output); }); });
  rule(Op::Relu, Output,
       [](const Args& a) -> Gradients { return {where(a.output > 0, a.grad, 0.0)}; });
  rule(Op::Erf, Inputs, [](const Args& a) {
    return chain(a, [&] {
      const Tensor& x = a.inputs[0];
      return exp(-(x * x)) * (2 * std::numbers::inv_sqrtpi);
    });
  });
  rule(Op::Reciprocal, Output,
       [](const Args& a) { return chain(a, [&] { return -(a.output * a.output); }); });
  for (Op op : {Op::Floor, Op::Ceil, Op::Round, Op::Sign})  // piecewise constant
    rule(op, Nothing, [](const Args& a) -> Gradients { return {zero_gradient(a, 0)}; });
  rule(Op::Log1p, Inputs,
       [](const Args& a) -> Gradients { return {a.grad / (a.inputs[0] + 1.0)}; });
  rule(Op::Expm1, Output, [](const Args& a) { return chain(a, [&] { return a.output + 1.0; }); });

  // Elementwise binary: each operand's gradient summed back over its broadcast dims.
  rule(Op::Add, Nothing, [](const Args& a) -> Gradients {
    return {sum_to(a.grad, a.input_sizes[0]), sum_to(a.grad, a.input_sizes[1])};
  });
  rule(Op::Sub, Nothing, [](const Args& a) -> Gradients {
    return {sum_to(a.grad, a.input_sizes[0]),
            a.needs[1] ? sum_to(-a.grad, a.input_sizes[1]) : Tensor()};
  });
  rule(Op::Mul, Inputs, [](const Args& a) -> Gradients {
    return {a.needs[0] ? sum_to(a.grad * a.inputs[1], a.input_sizes[0]) : Tensor(),
            a.needs[1] ? sum_to(a.grad * a.inputs[0], a.input_sizes[1]) : Tensor()};
  });
  rule(Op::Div, Inputs, [](const Args& a) -> Gradients {
    const Tensor &x = a.inputs[0], &y = a.inputs[1];
    return {a.needs[0] ? sum_to(a.grad / y, a.input_sizes[0]) : Tensor(),
            a.needs[1] ? sum_to(-a.grad * x / (y * y), a.input_sizes[1]) : Tensor()};
  });
  rule(Op::Pow, Both, [](const Args& a) -> Gradients {
    const Tensor &x = a.inputs[0], &y = a.inputs[1];
    Gradients out(2);
    if (a.needs[0]) out[0] = sum_to(a.grad * y * pow(x, y - 1.0), a.input_sizes[0]);
    if (a.needs[1])  // 0^y with y >= 0 has no slope in y (PyTorch's convention), not NaN
      out[1] = sum_to(where(logical_and(x == 0, y >= 0), 0.0, a.grad * a.output * log(x)),
                      a.input_sizes[1]);
    return out;
  });
  rule(Op::Maximum, Inputs, extremum2_backward);
  rule(Op::Minimum, Inputs, extremum2_backward);
  rule(Op::Where, Inputs, [](const Args& a) -> Gradients {
    const Tensor& c = a.inputs[0];
    return {Tensor(), a.needs[1] ? sum_to(where(c, a.grad, 0.0), a.input_sizes[1]) : Tensor(),
            a.needs[2] ? sum_to(where(c, 0.0, a.grad), a.input_sizes[2]) : Tensor()};
  });
  rule(Op::Cast, Nothing,
       [](const Args& a) -> Gradients { return {a.grad.to(a.input_dtypes[0])}; });

  // Reductions.
  rule(Op::ReduceSum, Nothing, [](const Args& a) -> Gradients {
    return {unreduce(a.grad, reduced_dims(a), a.attrs.get_bool(Attr::Keepdim), a.input_sizes[0])};
  });
  rule(Op::ReduceProd, Inputs, [](const Args& a) -> Gradients {
    // Each element's gradient is the product of the others: the product over x / x where the
    // slice has no zero; where it has one, the zero's is the product of the rest and the others'
    // are 0; with two or more, all are 0.
    const Tensor& x = a.inputs[0];
    const bool keepdim = a.attrs.get_bool(Attr::Keepdim);
    const std::vector<int64_t> dims = reduced_dims(a);
    const Tensor zero = x == 0;
    const Tensor zeros_in_slice = zero.to(x.dtype()).sum(dims, true);
    const Tensor nonzero = where(zero, 1.0, x);
    const Tensor rest = nonzero.prod(dims, true);  // the product without the zeros
    const Tensor others = where(zero, where(zeros_in_slice == 1, rest, 0.0),
                                where(zeros_in_slice == 0, rest / nonzero, 0.0));
    return {unreduce(a.grad, dims, keepdim, a.input_sizes[0]) * others};
  });
  rule(Op::ReduceMax, Both, extremum_backward);
  rule(Op::ReduceMin, Both, extremum_backward);
  rule(Op::Mean, Nothing, [](const Args& a) -> Gradients {
    const std::vector<int64_t> dims = reduced_dims(a);
    const bool keepdim = a.attrs.get_bool(Attr::Keepdim);
    return {unreduce(a.grad, dims, keepdim, a.input_sizes[0]) /
            count(a.input_sizes[0], dims, a.grad.dtype())};
  });
  rule(Op::Var, Inputs, [](const Args& a) -> Gradients {
    const Tensor& x = a.inputs[0];
    const std::vector<int64_t> dims = reduced_dims(a);
    const bool keepdim = a.attrs.get_bool(Attr::Keepdim);
    const Tensor n = count(a.input_sizes[0], dims, x.dtype()) - a.attrs.get_float(Attr::Correction);
    const Tensor centered = x - x.mean(dims, true);
    return {unreduce(a.grad, dims, keepdim, a.input_sizes[0]) * centered * 2.0 / n};
  });

  // Movement: the gradient moved back.
  rule(Op::Reshape, Nothing,
       [](const Args& a) -> Gradients { return {a.grad.reshape(a.input_sizes[0])}; });
  rule(Op::Permute, Nothing, [](const Args& a) -> Gradients {
    const std::vector<int64_t> dims = a.attrs.get_ints(Attr::Dims);
    std::vector<int64_t> inverse(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) inverse[size_t(dims[i])] = int64_t(i);
    return {a.grad.permute(inverse)};
  });
  rule(Op::Expand, Nothing,
       [](const Args& a) -> Gradients { return {sum_to(a.grad, a.input_sizes[0])}; });
  rule(Op::Slice, Nothing, [](const Args& a) -> Gradients {
    // A symbolic start (traced) at this trace's sizes; unslice's pads record as sizes.
    return {unslice(a.grad, a.input_sizes[0], a.attrs.get_int(Attr::Dim),
                    size_value(a.attrs.get_size(Attr::Start)), a.attrs.get_int(Attr::Step))};
  });
  rule(Op::Pad, Nothing, [](const Args& a) -> Gradients {
    std::vector<int64_t> pads;
    for (const ir::SymInt& p : a.attrs.get_list(Attr::Pads)) pads.push_back(size_value(p));
    Tensor g = a.grad;
    const int64_t rank = g.dim();
    for (size_t p = 0; p < pads.size() / 2; ++p) {
      const int64_t d = rank - 1 - int64_t(p);
      g = g.slice(d, pads[2 * p], pads[2 * p] + a.input_sizes[0][size_t(d)]);
    }
    return {g};
  });
  rule(Op::Concat, Nothing, [](const Args& a) -> Gradients {
    const int64_t dim = a.attrs.get_int(Attr::Dim);
    Gradients out(a.input_sizes.size());
    int64_t offset = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      const int64_t n = a.input_sizes[i][size_t(dim)];
      if (a.needs[i]) out[i] = a.grad.slice(dim, offset, offset + n);
      offset += n;
    }
    return out;
  });

  rule(Op::Matmul, Inputs, matmul_backward);
  rule(Op::Conv2d, Inputs, conv2d_backward);
  rule(Op::MaxPool2d, Both, max_pool_backward);
  rule(Op::AvgPool2d, Nothing, avg_pool_backward);
  rule(Op::Gather, Inputs, gather_backward);
  rule(Op::IndexSelect, Inputs, index_select_backward);
  rule(Op::IndexAdd, Inputs, index_add_backward);
  // index_copy: the overwritten positions pass nothing to the input; the source's gradient is
  // read back at the index.
  rule(Op::IndexCopy, Inputs, [](const Args& a) -> Gradients {
    const int64_t dim = a.attrs.get_int(Attr::Dim);
    const Tensor& index = a.inputs[1];
    return {a.needs[0] ? index_copy(a.grad, dim, index, zeros(a.input_sizes[2], a.grad.dtype()))
                       : Tensor(),
            Tensor(), a.needs[2] ? index_select(a.grad, dim, index) : Tensor()};
  });
  // cumsum: each input feeds every later sum, so its gradient is the reversed running sum of
  // the output's gradient: total - running + own.
  rule(Op::Cumsum, Nothing, [](const Args& a) -> Gradients {
    if (a.grad.dim() == 0) return {a.grad};
    const int64_t dim = a.attrs.get_int(Attr::Dim);
    return {a.grad.sum({dim}, true) - cumsum(a.grad, dim) + a.grad};
  });

  // Composites: rules of their own, cheaper than differentiating their decompositions.
  rule(Op::Gelu, Inputs, gelu_backward);
  rule(Op::Silu, Inputs, [](const Args& a) {
    return chain(a, [&] {
      const Tensor& x = a.inputs[0];
      const Tensor s = sigmoid(x);
      return s * (x * (1.0 - s) + 1.0);
    });
  });
  rule(Op::Softmax, Output, [](const Args& a) -> Gradients {
    const int64_t dim = a.attrs.get_int(Attr::Dim);
    return {a.output * (a.grad - (a.grad * a.output).sum({dim}, true))};
  });
  rule(Op::LogSoftmax, Output, [](const Args& a) -> Gradients {
    const int64_t dim = a.attrs.get_int(Attr::Dim);
    return {a.grad - a.output.exp() * a.grad.sum({dim}, true)};
  });
  rule(Op::LayerNorm, Inputs, layer_norm_backward);
  rule(Op::Clamp, Inputs, [](const Args& a) -> Gradients {
    const Tensor& x = a.inputs[0];
    const double lo = a.attrs.get_float(Attr::Min), hi = a.attrs.get_float(Attr::Max);
    return {where(logical_and(x >= lo, x <= hi), a.grad, 0.0)};
  });
  return t;
}

}  // namespace

const Rule* backward_rule(Op op) {
  static const std::array<Rule, ir::kNumOps> table = [] {
    auto t = make_table();
    for (int i = 0; i < ir::kNumOps; ++i)
      EMBER_INTERNAL_ASSERT((t[size_t(i)].backward != nullptr) == ir::is_differentiable(Op(i)),
                            ir::op_name(Op(i)),
                            ": ops.def's Differentiable column and the rule table disagree");
    return t;
  }();
  const Rule& r = table[size_t(op)];
  return r.backward ? &r : nullptr;
}

Tensor sum_to(const Tensor& g, IntArrayRef sizes) {
  const int64_t lead = g.dim() - int64_t(sizes.size());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d)
    if (d < lead || (sizes[size_t(d - lead)] == 1 && g.size(d) != 1)) dims.push_back(d);
  if (dims.empty()) return g;
  Tensor r = g.sum(dims, true);
  return lead > 0 ? r.reshape(sizes) : r;
}

}  // namespace ember::autograd
