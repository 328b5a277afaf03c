// float32 convolutions and batched matrix products through oneDNN (Debian's libdnnl-dev), built
// when CMake finds it.
//
// conv2d: oneDNN's direct convolutions run about 3x faster than im2col + GEMM on the shapes of a
// CNN block (16x32x56x56 3x3 -> 64: 13 ms against 38 ms on two AVX-512 cores). oneDNN picks its
// own blocked layouts (format "any"); the input and the output are reordered from and to NCHW
// around the call, the weights each call too (they are read by reference, so they may have
// changed).
//
// Batched matmul: one oneDNN matmul over the batch instead of a loop of OpenBLAS calls, whose
// threading costs more than the small products it splits (attention's 32 x [256, 64] @ [64, 256]).
//
// Primitives are built once per shape and kept; each call gets its own scratchpad, so calls may
// run concurrently. A batch of at least one item per thread is split across Ember's thread pool,
// each part a single-threaded oneDNN call (one pool of threads, not two competing for the
// cores); a smaller batch runs on an OpenMP team of Ember's thread count.
#include <dlfcn.h>

#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "ember/runtime/kernels.h"
#include "ember/runtime/thread_pool.h"
#include "runtime/kernels/dnnl.h"

namespace ember::kernels::detail {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The calling thread's OpenMP team size (an OpenMP setting is per thread). libgomp comes with
// libdnnl; it is looked up at run time so that Ember itself links no OpenMP runtime.
void set_omp_threads(int n) {
  using SetThreads = void (*)(int);
  static const SetThreads set =
      reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  thread_local int current = 0;
  if (set && current != n) set(current = n);
}

struct Key {
  int64_t n, c, h, w, o, kh, kw;
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
  bool bias;
  auto tie() const {
    return std::tie(n, c, h, w, o, kh, kw, stride, padding, dilation, groups, bias);
  }
  bool operator<(const Key& k) const { return tie() < k.tie(); }
};

struct Reorder {
  dnnl::reorder::primitive_desc pd;
  dnnl::reorder primitive;
};

// One shape's convolution with the descriptions of the user layouts it reorders from and to.
struct Conv {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  memory::desc src, weights, bias, dst;  // NCHW, OIHW (GOIHW when grouped), X
  std::optional<Reorder> to_src, to_weights, from_dst;
};

std::shared_ptr<const Conv> make_conv(const Key& k, int64_t ho, int64_t wo) {
  auto c = std::make_shared<Conv>();
  const auto f32 = memory::data_type::f32;
  c->src = memory::desc({k.n, k.c, k.h, k.w}, f32, Tag::nchw);
  c->weights = k.groups == 1 ? memory::desc({k.o, k.c, k.kh, k.kw}, f32, Tag::oihw)
                             : memory::desc({k.groups, k.o / k.groups, k.c / k.groups, k.kh, k.kw},
                                            f32, Tag::goihw);
  c->bias = memory::desc({k.o}, f32, Tag::x);
  c->dst = memory::desc({k.n, k.o, ho, wo}, f32, Tag::nchw);
  const memory::desc any_src(c->src.dims(), f32, Tag::any),
      any_weights(c->weights.dims(), f32, Tag::any), any_dst(c->dst.dims(), f32, Tag::any);
  const memory::dims stride{k.stride[0], k.stride[1]}, pad{k.padding[0], k.padding[1]},
      dilates{k.dilation[0] - 1, k.dilation[1] - 1};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const auto desc =
      k.bias ? dnnl::convolution_forward::desc(
                   dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any_src,
                   any_weights, c->bias, any_dst, stride, dilates, pad, pad)
             : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::convolution_direct, any_src,
                                               any_weights, any_dst, stride, dilates, pad, pad);
  c->pd = dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
  c->conv = dnnl::convolution_forward(c->pd);
  dnnl::primitive_attr reorder_attr;
  reorder_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto reorder = [&](const memory::desc& from, const memory::desc& to) {
    dnnl::reorder::primitive_desc pd(cpu_engine(), from, cpu_engine(), to, reorder_attr);
    return Reorder{pd, dnnl::reorder(pd)};
  };
  if (c->pd.src_desc() != c->src) c->to_src = reorder(c->src, c->pd.src_desc());
  if (c->pd.weights_desc() != c->weights) c->to_weights = reorder(c->weights, c->pd.weights_desc());
  if (c->pd.dst_desc() != c->dst) c->from_dst = reorder(c->pd.dst_desc(), c->dst);
  return c;
}

std::shared_ptr<const Conv> conv_for(const Key& k, int64_t ho, int64_t wo) {
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const Conv>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(k);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 256) cache.clear();  // a bound on shapes kept, not a policy
  return cache[k] = make_conv(k, ho, wo);
}

// Memory of desc from the caching allocator (large blocks come back without page faults), kept
// alive by `keep` for the call.
memory buffer(const memory::desc& desc, std::vector<Array>& keep) {
  keep.push_back(Array::empty({int64_t(desc.get_size())}, DType::UInt8));
  return memory(desc, cpu_engine(), keep.back().data());
}

// The part of a batch of n that one oneDNN call takes: n / threads (rounded up) when there is at
// least one item per thread, else all of it. The caller builds its primitives for that size (and
// for the remainder).
int64_t batch_part(int64_t n) {
  const int64_t threads = get_num_threads();
  return threads > 1 && n >= threads ? (n + threads - 1) / threads : n;
}
// fn(start, count) over the batch [0, n) in parts of `part`: across Ember's thread pool with
// single-threaded oneDNN calls when the batch is split, else one call on an OpenMP team of
// Ember's thread count.
template <class Fn>
void over_batch(int64_t n, int64_t part, const Fn& fn) {
  if (part == n) {
    set_omp_threads(get_num_threads());
    fn(int64_t(0), n);
    return;
  }
  parallel_for(0, (n + part - 1) / part, 1, [&](int64_t lo, int64_t hi) {
    set_omp_threads(1);
    for (int64_t i = lo; i < hi; ++i) fn(i * part, std::min(part, n - i * part));
  });
}

// One convolution on the calling thread's OpenMP team.
void run(const Conv* c, const Array& x, const Array& w, const Array* bias, Array& out) {
  const dnnl::engine& engine = cpu_engine();
  dnnl::stream stream(engine);
  const Array b = bias ? contiguous(cast(*bias, DType::Float32)) : Array();
  memory user_src(c->src, engine, const_cast<char*>(x.data()));
  memory user_weights(c->weights, engine, const_cast<char*>(w.data()));
  memory user_dst(c->dst, engine, out.data());
  memory src = user_src, weights = user_weights, dst = user_dst;
  std::vector<Array> keep;
  keep.reserve(8);
  auto run_reorder = [&](const Reorder& r, const memory& from, const memory& to) {
    r.primitive.execute(stream, {{DNNL_ARG_FROM, from},
                                 {DNNL_ARG_TO, to},
                                 {DNNL_ARG_SCRATCHPAD, buffer(r.pd.scratchpad_desc(), keep)}});
  };
  if (c->to_src) {
    src = buffer(c->pd.src_desc(), keep);
    run_reorder(*c->to_src, user_src, src);
  }
  if (c->to_weights) {
    weights = buffer(c->pd.weights_desc(), keep);
    run_reorder(*c->to_weights, user_weights, weights);
  }
  if (c->from_dst) dst = buffer(c->pd.dst_desc(), keep);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src},
      {DNNL_ARG_WEIGHTS, weights},
      {DNNL_ARG_DST, dst},
      {DNNL_ARG_SCRATCHPAD, buffer(c->pd.scratchpad_desc(), keep)}};
  if (bias) args[DNNL_ARG_BIAS] = memory(c->bias, engine, const_cast<char*>(b.data()));
  c->conv.execute(stream, args);
  if (c->from_dst) run_reorder(*c->from_dst, dst, user_dst);
  stream.wait();
}

}  // namespace

bool dnnl_conv2d(const Array& x, const Array& w, const Array* bias, const Conv2dParams& p,
                 Array& out) {
  if (x.dtype() != DType::Float32 || x.numel() == 0 || out.numel() == 0) return false;
  const int64_t n = x.size(0), part = batch_part(n);
  auto conv = [&](int64_t batch) {
    const Key key{batch,     x.size(1), x.size(2), x.size(3),  w.size(0), w.size(2),
                  w.size(3), p.stride,  p.padding, p.dilation, p.groups,  bias != nullptr};
    return conv_for(key, out.size(2), out.size(3));
  };
  std::shared_ptr<const Conv> full, rest;
  try {
    full = conv(part);
    if (n % part) rest = conv(n % part);
  } catch (const dnnl::error&) {
    return false;  // a shape oneDNN does not implement: im2col + GEMM does
  }
  over_batch(n, part, [&](int64_t start, int64_t count) {
    Array y = narrow(out, 0, start, count);
    run(count == part ? full.get() : rest.get(), narrow(x, 0, start, count), w, bias, y);
  });
  return true;
}

namespace {

// A batch of products [count, m, k] @ [count, k, n] with the operands' element strides (a
// broadcast operand has batch 1).
struct MatmulKey {
  int64_t batch_a, batch_b, m, k, n;
  std::array<int64_t, 3> sa, sb;
  auto tie() const { return std::tie(batch_a, batch_b, m, k, n, sa, sb); }
  bool operator<(const MatmulKey& o) const { return tie() < o.tie(); }
};

struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
};

std::shared_ptr<const Matmul> matmul_for(const MatmulKey& k) {
  static std::mutex mutex;
  static std::map<MatmulKey, std::shared_ptr<const Matmul>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(k); it != cache.end()) return it->second;
  if (cache.size() >= 256) cache.clear();  // a bound on shapes kept, not a policy
  const auto f32 = memory::data_type::f32;
  const int64_t batch = std::max(k.batch_a, k.batch_b);
  const memory::desc a({k.batch_a, k.m, k.k}, f32, {k.sa[0], k.sa[1], k.sa[2]});
  const memory::desc b({k.batch_b, k.k, k.n}, f32, {k.sb[0], k.sb[1], k.sb[2]});
  const memory::desc c({batch, k.m, k.n}, f32, Tag::abc);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, cpu_engine());
  return cache[k] = std::make_shared<Matmul>(Matmul{pd, dnnl::matmul(pd)});
}

}  // namespace

bool dnnl_batched_matmul(const Array& a, const Array& b, Array& out) {
  const int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  if (a.dtype() != DType::Float32 || batch < 2 || out.numel() == 0 || k == 0) return false;
  const int64_t part = batch_part(batch);
  // A broadcast operand (batch stride 0) is one matrix of batch 1; a batch dim's stride must be
  // positive for oneDNN, and any value does for a dim of size 1.
  auto key_for = [&](int64_t count) {
    const bool shared_a = a.stride(0) == 0, shared_b = b.stride(0) == 0;
    return MatmulKey{shared_a ? 1 : count,
                     shared_b ? 1 : count,
                     m,
                     k,
                     n,
                     {shared_a ? m * k : a.stride(0), a.stride(1), a.stride(2)},
                     {shared_b ? k * n : b.stride(0), b.stride(1), b.stride(2)}};
  };
  std::shared_ptr<const Matmul> full, rest;
  try {
    full = matmul_for(key_for(part));
    if (batch % part) rest = matmul_for(key_for(batch % part));
  } catch (const dnnl::error&) {
    return false;  // a layout oneDNN does not take: OpenBLAS does
  }
  const dnnl::engine& engine = cpu_engine();
  over_batch(batch, part, [&](int64_t start, int64_t count) {
    const Matmul& mm = count == part ? *full : *rest;
    dnnl::stream stream(engine);
    std::vector<Array> keep;
    auto at = [](const Array& x, int64_t i) {
      return const_cast<char*>(x.data()) + i * x.stride(0) * int64_t(x.itemsize());
    };
    memory src(mm.pd.src_desc(), engine, at(a, start));
    memory weights(mm.pd.weights_desc(), engine, at(b, start));
    memory dst(mm.pd.dst_desc(), engine, at(out, start));
    mm.primitive.execute(stream, {{DNNL_ARG_SRC, src},
                                  {DNNL_ARG_WEIGHTS, weights},
                                  {DNNL_ARG_DST, dst},
                                  {DNNL_ARG_SCRATCHPAD, buffer(mm.pd.scratchpad_desc(), keep)}});
    stream.wait();
  });
  return true;
}

}  // namespace ember::kernels::detail
