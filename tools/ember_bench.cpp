// ember-bench: fused against eager, on this machine. Measures the memory bandwidth first (a
// STREAM triad in the same run), then runs each workload eagerly and compiled and reports the
// medians (with min and max) over repetitions after warm-up, the speedup, the bytes each
// workload must move and the share of the measured bandwidth that reaches (GFLOP/s for
// matmul-bound work), the cold and warm compile times (each measured in a fresh child process:
// cold with an empty kernel cache, warm from the disk cache the cold run filled) and the number
// of kernels. Writes an aligned table, a JSON file with every figure and the machine's
// description, and an SVG bar chart of the speedups and bandwidth shares.
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ember/codegen/cuda.h"
#include "ember/codegen/llvm_backend.h"
#include "ember/ember.h"
#include "examples/gpt.h"
#include "tools/libtorch_column.h"

namespace {

using namespace ember;
using Clock = std::chrono::steady_clock;
using Inputs = std::vector<Tensor>;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// ---- options ----

struct Options {
  std::string filter;  // substring of workload names; empty: all
  double scale = 1;    // multiplies the leading (batch) size of every workload
  int threads = 0;     // 0: EMBER_NUM_THREADS or every core
  int reps = 7, warmup = 2;
  std::string device = "cpu";
  std::string json = "ember-bench.json";
  std::string svg;  // empty: the JSON path with .svg
  bool compile_times = true;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(why ? stderr : stdout,
               "%s%s"
               "usage: ember-bench [--filter TEXT] [--scale X] [--threads N] [--reps N]\n"
               "                   [--warmup N] [--device cpu|cuda] [--json FILE] [--svg FILE]\n"
               "                   [--no-compile-times] [--list]\n",
               why ? "ember-bench: " : "", why ? (std::string(why) + "\n").c_str() : "");
  std::exit(why ? 2 : 0);
}

// ---- statistics ----

struct Stat {
  double median = 0, min = 0, max = 0;  // milliseconds
};

Stat summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  return {n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2, ms.front(), ms.back()};
}

template <class F>
Stat time_it(const F& f, int warmup, int reps, const std::function<void(int)>& progress) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    progress(i);
    const auto start = Clock::now();
    f();
    ms.push_back(ms_since(start));
  }
  return summarize(ms);
}

// ---- memory bandwidth: STREAM triad a = b + s * c over the pool's threads ----

Stat triad(int reps, double* gbps) {
  const int64_t n = 32 << 20;  // 3 x 128 MiB: far beyond any cache
  const size_t count = static_cast<size_t>(n);
  std::vector<float> a(count), b(count, 1.0f), c(count, 2.0f);
  parallel_for(0, n, 1 << 16, [&](int64_t lo, int64_t hi) {  // first touch on the pool
    for (int64_t i = lo; i < hi; ++i) a[size_t(i)] = 0;
  });
  const Stat s = time_it(
      [&] {
        parallel_for(0, n, 1 << 16, [&](int64_t lo, int64_t hi) {
          float* pa = a.data();
          const float *pb = b.data(), *pc = c.data();
          for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + 3.0f * pc[i];
        });
      },
      2, reps, [](int) {});
  *gbps = 3.0 * double(n) * 4 / (s.median * 1e-3) / 1e9;
  return s;
}

// ---- workloads ----

struct Workload {
  std::string name, shape;
  std::function<Inputs()> inputs;
  TraceableFn fn;
  double flops = 0;  // matmul-bound work: reported as GFLOP/s
  std::string skipped;
  // A training step: fn returns the loss of a model whose parameters these are; a step is
  // zero_grad, fn, backward, then the optimizer's step. Compiled, the whole step is one
  // compile() (forward, backward and update traced together, the writes applied by each run).
  std::vector<Tensor> params;
  std::shared_ptr<optim::Optimizer> optimizer;
  std::string optimizer_name;  // as the table's notes print it
};

// One training step of w on in with f computing the loss; returns the loss.
template <class F>
Inputs train_step(const Workload& w, const F& loss_of, const Inputs& in) {
  w.optimizer->zero_grad();
  Tensor loss = loss_of(in).at(0);
  loss.backward();
  w.optimizer->step();
  return {loss.detach()};
}

double bytes_of(const Inputs& in) {
  double b = 0;
  for (const Tensor& t : in) b += double(t.numel()) * double(t.element_size());
  return b;
}

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

std::vector<Workload> workloads(double scale) {
  auto rows = [scale](int64_t n) { return std::max<int64_t>(1, int64_t(double(n) * scale)); };
  std::vector<Workload> w;
  manual_seed(7);
  {
    const int64_t n = rows(16 << 20);
    w.push_back(
        {"elementwise_chain", dims({n}), [n] { return Inputs{randn({n})}; },
         [](const Inputs& x) -> Inputs { return {gelu(x[0] * 1.5 + 0.25) * sigmoid(x[0])}; }});
  }
  const int64_t r = rows(8192), c = 1024;
  const Tensor bias = randn({c}), gamma = randn({c}), beta = randn({c});
  w.push_back({"bias_gelu", dims({r, c}),
               [=] {
                 return Inputs{randn({r, c})};
               },
               [bias](const Inputs& x) -> Inputs { return {gelu(x[0] + bias)}; }});
  w.push_back({"softmax", dims({r, c}),
               [=] {
                 return Inputs{randn({r, c})};
               },
               [](const Inputs& x) -> Inputs { return {softmax(x[0], -1)}; }});
  w.push_back(
      {"layer_norm", dims({r, c}),
       [=] {
         return Inputs{randn({r, c})};
       },
       [=](const Inputs& x) -> Inputs { return {layer_norm(x[0], {c}, gamma, beta, 1e-5)}; }});
  w.push_back({"rms_norm", dims({r, c}),
               [=] {
                 return Inputs{randn({r, c})};
               },
               [=](const Inputs& x) -> Inputs {
                 return {x[0] * rsqrt((x[0] * x[0]).mean({-1}, true) + 1e-6) * gamma};
               }});
  {
    const int64_t m = rows(2048), k = 1024, h = 2048;
    const Tensor w1 = randn({k, h}) * 0.03, b1 = randn({h}), w2 = randn({h, k}) * 0.02,
                 b2 = randn({k});
    Workload mlp{
        "mlp_forward", dims({m, k}) + " @" + dims({k, h}) + " @" + dims({h, k}),
        [=] {
          return Inputs{randn({m, k})};
        },
        [=](const Inputs& x) -> Inputs { return {matmul(gelu(matmul(x[0], w1) + b1), w2) + b2}; }};
    mlp.flops = 2.0 * 2 * double(m) * double(k) * double(h);
    w.push_back(mlp);
  }
  {
    const int64_t b = rows(32), s = 256, d = 64;
    Workload attn{"attention", dims({b, s, d}) + " q,k,v",
                  [=] {
                    return Inputs{randn({b, s, d}), randn({b, s, d}), randn({b, s, d})};
                  },
                  [d](const Inputs& x) -> Inputs {
                    const Tensor scores = matmul(x[0], x[1].transpose(1, 2)) / std::sqrt(double(d));
                    return {matmul(softmax(scores, -1), x[2])};
                  }};
    attn.flops = 2.0 * 2 * double(b) * double(s) * double(s) * double(d);
    w.push_back(attn);
  }
  {
    const int64_t n = rows(16), ci = 32, co = 64, hw = 56;
    const Tensor cw = randn({co, ci, 3, 3}) * 0.05, cb = randn({co});
    Workload conv{"conv_block", dims({n, ci, hw, hw}) + " conv3x3->" + std::to_string(co),
                  [=] {
                    return Inputs{randn({n, ci, hw, hw})};
                  },
                  [=](const Inputs& x) -> Inputs {
                    return {max_pool2d(relu(conv2d(x[0], cw, cb, {1, 1}, {1, 1})), {2, 2})};
                  }};
    conv.flops = 2.0 * double(n) * double(co) * double(hw * hw) * double(ci) * 9;
    w.push_back(conv);
  }
  {
    const int64_t m = rows(1024), k = 512, h = 1024, o = 256;
    Tensor w1 = (randn({k, h}) * 0.04).set_requires_grad(true),
           b1 = zeros({h}).set_requires_grad(true),
           w2 = (randn({h, o}) * 0.03).set_requires_grad(true),
           b2 = zeros({o}).set_requires_grad(true);
    Workload train{"mlp_train_step", dims({m, k}) + " @" + dims({k, h}) + " @" + dims({h, o}),
                   [=] {
                     return Inputs{randn({m, k}), randn({m, o})};
                   },
                   [=](const Inputs& x) -> Inputs {
                     const Tensor out = matmul(gelu(matmul(x[0], w1) + b1), w2) + b2;
                     const Tensor err = out - x[1];
                     return {(err * err).mean()};
                   }};
    train.flops = 3 * 2.0 * double(m) * (double(k) * double(h) + double(h) * double(o));
    train.params = {w1, b1, w2, b2};
    train.optimizer =
        std::make_shared<optim::SGD>(train.params, optim::SGDOptions(1e-4).momentum(0.9));
    train.optimizer_name = "optim::SGD (momentum 0.9)";
    w.push_back(train);
  }
  {
    // A pre-norm transformer block: LayerNorm, 4-head attention, residual, LayerNorm, a 4x MLP
    // with gelu, residual; the loss is the mean square of the output.
    const int64_t b = rows(8), s = 128, d = 256, heads = 4, dh = d / heads, f = 4 * d;
    auto param = [](Tensor t) { return t.set_requires_grad(true); };
    const Tensor ln1w = param(ones({d})), ln1b = param(zeros({d})), ln2w = param(ones({d})),
                 ln2b = param(zeros({d}));
    const Tensor wq = param(randn({d, d}) * 0.06), wk = param(randn({d, d}) * 0.06),
                 wv = param(randn({d, d}) * 0.06), wo = param(randn({d, d}) * 0.06);
    const Tensor w1 = param(randn({d, f}) * 0.06), b1 = param(zeros({f})),
                 w2 = param(randn({f, d}) * 0.03), b2 = param(zeros({d}));
    Workload block{
        "transformer_block_train_step", dims({b, s, d}) + " " + std::to_string(heads) + " heads",
        [=] {
          return Inputs{randn({b, s, d})};
        },
        [=](const Inputs& x) -> Inputs {
          auto split_heads = [&](const Tensor& t) {
            return t.reshape({b, s, heads, dh}).transpose(1, 2);
          };
          const Tensor h = layer_norm(x[0], {d}, ln1w, ln1b);
          const Tensor q = split_heads(matmul(h, wq)), k = split_heads(matmul(h, wk)),
                       v = split_heads(matmul(h, wv));
          const Tensor att = softmax(matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh)), -1);
          const Tensor ctx = matmul(att, v).transpose(1, 2).reshape({b, s, d});
          const Tensor r1 = x[0] + matmul(ctx, wo);
          const Tensor r2 =
              r1 + matmul(gelu(matmul(layer_norm(r1, {d}, ln2w, ln2b), w1) + b1), w2) + b2;
          return {(r2 * r2).mean()};
        }};
    block.flops =
        3 * 2.0 * double(b) * double(s) *
        (4.0 * double(d) * double(d) + 2.0 * double(s) * double(d) + 2.0 * double(d) * double(f));
    block.params = {ln1w, ln1b, ln2w, ln2b, wq, wk, wv, wo, w1, b1, w2, b2};
    block.optimizer =
        std::make_shared<optim::SGD>(block.params, optim::SGDOptions(1e-4).momentum(0.9));
    block.optimizer_name = "optim::SGD (momentum 0.9)";
    w.push_back(block);
  }
  // GPT workloads: cross-entropy of the model's logits on [b, block] tokens, 65 symbols.
  auto gpt_workload = [&](const std::string& name, const std::string& what, int64_t b,
                          const examples::GptConfig& cfg, const examples::Gpt& model) {
    const int64_t vocab = 65;
    Workload gpt{
        name,
        dims({b, cfg.block}) + " tokens, " + std::to_string(cfg.layers) + "x" +
            std::to_string(cfg.embed) + ", " + what,
        [=] {
          return Inputs{randint(0, vocab, {b, cfg.block}), randint(0, vocab, {b, cfg.block})};
        },
        [model, vocab](const Inputs& x) -> Inputs {
          return {nn::functional::cross_entropy(model->forward(x[0]).reshape({-1, vocab}),
                                                x[1].reshape({-1}))};
        }};
    const double d = double(cfg.embed), t = double(cfg.block);
    gpt.flops =
        2.0 * double(b) * t * (double(cfg.layers) * (12 * d * d + 2 * t * d) + d * double(vocab));
    return gpt;
  };
  {
    // Issue 13's nanoGPT forward with its loss (block 32, 2 blocks of 64 dims and 4 heads),
    // inference only: the kernels, library calls and views of a small real model.
    const examples::GptConfig cfg{32, 2, 64, 4};
    manual_seed(9);
    examples::Gpt model(65, cfg);
    for (Tensor& p : model->parameters()) p.set_requires_grad(false);
    w.push_back(gpt_workload("gpt_forward", "with the loss", rows(16), cfg, model));
  }
  {
    // examples/train_gpt's model at a larger size, with AdamW: the step a user of the GPT
    // example runs (forward, backward and update: three times the forward's FLOPs).
    const examples::GptConfig cfg{64, 2, 128, 4};
    manual_seed(8);
    examples::Gpt model(65, cfg);
    Workload gpt = gpt_workload("gpt_train_step", "AdamW", rows(16), cfg, model);
    gpt.flops *= 3;
    gpt.params = model->parameters();
    gpt.optimizer = std::make_shared<optim::AdamW>(gpt.params, optim::AdamWOptions(3e-4));
    gpt.optimizer_name = "optim::AdamW";
    w.push_back(gpt);
  }
  return w;
}

auto compiled_of(const Workload& w, CompileOptions options) {
  const TraceableFn fn = w.fn;
  return compile([fn](const auto&... x) { return fn(Inputs{x...}); }, std::move(options));
}

// A training workload's whole step under one compile().
auto compiled_step_of(const Workload& w, CompileOptions options) {
  const Workload* wp = &w;
  return compile([wp](const auto&... x) { return train_step(*wp, wp->fn, Inputs{x...}); },
                 std::move(options));
}

// ---- compile times, in child processes of this binary ----

// The child: JIT start-up first (an unrelated kernel), then the workload's first call, of which
// it reports what tracing, the passes and compiling (or loading) the plan took.
int compile_child(const std::string& name, double scale, const std::string& cache_dir) {
  CompileOptions warm_options;
  warm_options.cache_dir = cache_dir;
  auto warm_jit = compile([](const Tensor& x) { return x * 3 - 1; }, warm_options);
  warm_jit(ones({8}));
  codegen::wait_for_background_compiles();
  const int64_t compiled = codegen::cpu_compile_count(), loaded = codegen::cpu_disk_cache_hits();
  for (const Workload& w : workloads(scale)) {
    if (w.name != name || !w.fn) continue;
    const Inputs in = w.inputs();
    CompileOptions options;
    options.cache_dir = cache_dir;
    options.name = w.name;
    auto f = compiled_of(w, options);
    call_unpacked<Inputs>(f, in);
    codegen::wait_for_background_compiles();  // the optimized tiers, counted and cached
    std::printf("%.3f %lld %lld\n", f.stats().compile_ms,
                static_cast<long long>(codegen::cpu_compile_count() - compiled),
                static_cast<long long>(codegen::cpu_disk_cache_hits() - loaded));
    return 0;
  }
  return 1;
}

struct CompileTimes {
  double cold = -1, warm = -1;
  long long compiled = 0, loaded = 0;
};

CompileTimes measure_compile(const char* self, const Workload& w, double scale, int threads) {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "ember-bench-XXXXXX").string();
  CompileTimes t;
  if (!mkdtemp(dir.data())) return t;
  std::ostringstream cmd;
  cmd << "'" << self << "' --compile-child " << w.name << " --scale " << scale << " --threads "
      << threads << " --cache-dir '" << dir << "'";
  for (int run = 0; run < 2; ++run) {
    FILE* p = popen(cmd.str().c_str(), "r");
    double ms = -1;
    long long compiled = 0, loaded = 0;
    const bool ok = p && std::fscanf(p, "%lf %lld %lld", &ms, &compiled, &loaded) == 3;
    if (p) pclose(p);
    if (!ok) break;
    if (run == 0) {
      t.cold = ms;
      t.compiled = compiled;
    } else {
      t.warm = ms;
      t.loaded = loaded;
    }
  }
  fs::remove_all(dir);
  return t;
}

// ---- the machine ----

std::string first_line_of(const char* path, const char* key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      std::string v = colon == std::string::npos ? line : line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "unknown";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

// ---- results ----

struct Result {
  const Workload* w;
  Stat eager, compiled;
  CompileTimes compile;
  CompiledPlanInfo plan;
  double bytes = 0;         // what it must move at least: inputs read once, outputs written once
  double max_abs_diff = 0;  // training rows: over the loss and every gradient, before updates
  int64_t eager_saved = -1, compiled_saved = -1;  // training rows: bytes kept for the backward
  ember_bench::TorchTiming torch;                 // LibTorch eager, where built with it
  double speedup() const { return eager.median / compiled.median; }
  double gbps(const Stat& s) const { return bytes / (s.median * 1e-3) / 1e9; }
  double gflops(const Stat& s) const { return w->flops / (s.median * 1e-3) / 1e9; }
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void print_table(const std::vector<Result>& results, const std::vector<const Workload*>& skipped,
                 double bandwidth) {
  bool torch = false;
  for (const Result& r : results) torch |= r.torch.available;
  std::printf("\n%-28s %-26s %21s %21s %8s %20s %10s %9s %7s%s\n", "workload", "size",
              "eager ms (min-max)", "compiled ms (min-max)", "speedup", "compiled throughput",
              "cold ms", "warm ms", "kernels", torch ? "   LibTorch ms  vs compiled" : "");
  for (const Result& r : results) {
    const std::string eager = fmt("%.2f", r.eager.median) + " (" + fmt("%.2f", r.eager.min) + "-" +
                              fmt("%.2f", r.eager.max) + ")";
    const std::string comp = fmt("%.2f", r.compiled.median) + " (" + fmt("%.2f", r.compiled.min) +
                             "-" + fmt("%.2f", r.compiled.max) + ")";
    const std::string through = r.w->flops > 0
                                    ? fmt("%.1f GFLOP/s", r.gflops(r.compiled))
                                    : fmt("%.1f GB/s", r.gbps(r.compiled)) + " (" +
                                          fmt("%.0f%%", 100 * r.gbps(r.compiled) / bandwidth) + ")";
    const std::string kernels =
        std::to_string(r.plan.kernels) +
        (r.plan.library_calls ? "+" + std::to_string(r.plan.library_calls) + "L" : std::string());
    const std::string libtorch = !torch ? std::string()
                                 : r.torch.available
                                     ? fmt("%14.2f", r.torch.median_ms) +
                                           fmt("  %9.2fx", r.torch.median_ms / r.compiled.median)
                                     : std::string(13, ' ') + "-";
    std::printf("%-28s %-26s %21s %21s %7.2fx %20s %10s %9s %7s%s\n", r.w->name.c_str(),
                r.w->shape.c_str(), eager.c_str(), comp.c_str(), r.speedup(), through.c_str(),
                r.compile.cold < 0 ? "-" : fmt("%.1f", r.compile.cold).c_str(),
                r.compile.warm < 0 ? "-" : fmt("%.2f", r.compile.warm).c_str(), kernels.c_str(),
                libtorch.c_str());
  }
  for (const Workload* w : skipped)
    std::printf("%-18s skipped: %s\n", w->name.c_str(), w->skipped.c_str());
  for (const Result& r : results) {
    if (r.eager_saved < 0) continue;
    std::printf(
        "%s: zero_grad + forward + backward + %s step, compiled as one function; the loss "
        "compiled alone has a backward plan of %d kernels + %d library calls and keeps %.2f MiB "
        "of residuals for it (the eager tape %.2f MiB); max |eager - compiled| over the loss and "
        "gradients %.2g\n",
        r.w->name.c_str(), r.w->optimizer_name.c_str(), r.plan.backward_kernels,
        r.plan.backward_library_calls, double(r.compiled_saved) / (1 << 20),
        double(r.eager_saved) / (1 << 20), r.max_abs_diff);
  }
  std::printf(
      "\nthroughput: bytes each workload must move (inputs once, outputs once) per second, and "
      "its share of the measured triad bandwidth (%.1f GB/s); GFLOP/s for matmul-bound work. "
      "kernels: compiled kernels + library calls (L). cold: trace + passes + LLVM until the "
      "first call can run, in a fresh process (kernels in no cache start as a quick tier; the "
      "optimized one follows in the background); warm: the same with the kernels in the disk "
      "cache.\n",
      bandwidth);
  std::printf("%s\n", torch ? ("LibTorch: " + ember_bench::libtorch_description() +
                               " eager, same shapes and threads; 'vs compiled' is LibTorch's "
                               "time over Ember compiled's.")
                                  .c_str()
                            : ember_bench::libtorch_description().c_str());
}

void write_json(const std::string& path, const Options& o, const std::vector<Result>& results,
                const std::vector<const Workload*>& skipped, const Stat& triad_ms, double bw) {
  std::ofstream out(path);
  out.precision(10);
  auto ms_or_null = [](double ms) { return ms < 0 ? std::string("null") : fmt("%.3f", ms); };
  utsname u{};
  uname(&u);
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  out << "{\n  \"tool\": \"ember-bench\",\n  \"date\": \"" << date << "\",\n";
  out << "  \"machine\": {\"cpu\": \"" << json_escape(first_line_of("/proc/cpuinfo", "model name"))
      << "\", \"cores\": " << std::thread::hardware_concurrency() << ", \"memory\": \""
      << json_escape(first_line_of("/proc/meminfo", "MemTotal")) << "\", \"kernel\": \""
      << json_escape(std::string(u.sysname) + " " + u.release) << "\"},\n";
  out << "  \"options\": {\"threads\": " << get_num_threads() << ", \"reps\": " << o.reps
      << ", \"warmup\": " << o.warmup << ", \"scale\": " << o.scale << ", \"device\": \""
      << o.device << "\"},\n";
  out << "  \"libtorch\": \"" << json_escape(ember_bench::libtorch_description()) << "\",\n";
  out << "  \"bandwidth\": {\"method\": \"STREAM triad, 3 x 128 MiB float32\", \"gb_per_s\": " << bw
      << ", \"median_ms\": " << triad_ms.median << ", \"min_ms\": " << triad_ms.min
      << ", \"max_ms\": " << triad_ms.max << "},\n  \"workloads\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    out << "    {\"name\": \"" << r.w->name << "\", \"shape\": \"" << json_escape(r.w->shape)
        << "\", \"bytes\": " << r.bytes << ", \"flops\": " << r.w->flops
        << ",\n     \"eager_ms\": {\"median\": " << r.eager.median << ", \"min\": " << r.eager.min
        << ", \"max\": " << r.eager.max << "}, \"compiled_ms\": {\"median\": " << r.compiled.median
        << ", \"min\": " << r.compiled.min << ", \"max\": " << r.compiled.max
        << "},\n     \"speedup\": " << r.speedup() << ", \"eager_gb_per_s\": " << r.gbps(r.eager)
        << ", \"compiled_gb_per_s\": " << r.gbps(r.compiled)
        << ", \"compiled_bandwidth_share\": " << r.gbps(r.compiled) / bw
        << ", \"eager_gflop_per_s\": " << (r.w->flops > 0 ? r.gflops(r.eager) : 0)
        << ", \"compiled_gflop_per_s\": " << (r.w->flops > 0 ? r.gflops(r.compiled) : 0)
        << ",\n     \"cold_compile_ms\": " << ms_or_null(r.compile.cold)
        << ", \"warm_compile_ms\": " << ms_or_null(r.compile.warm)
        << ", \"kernels_compiled_cold\": " << r.compile.compiled
        << ", \"kernels_loaded_warm\": " << r.compile.loaded << ", \"kernels\": " << r.plan.kernels
        << ", \"library_calls\": " << r.plan.library_calls
        << ", \"eager_nodes\": " << r.plan.eager_nodes
        << ", \"max_abs_diff_vs_eager\": " << r.max_abs_diff
        << ", \"backward_kernels\": " << r.plan.backward_kernels
        << ", \"backward_library_calls\": " << r.plan.backward_library_calls
        << ", \"eager_saved_bytes\": " << r.eager_saved
        << ", \"compiled_saved_bytes\": " << r.compiled_saved << ",\n     \"libtorch_eager_ms\": ";
    if (r.torch.available)
      out << "{\"median\": " << r.torch.median_ms << ", \"min\": " << r.torch.min_ms
          << ", \"max\": " << r.torch.max_ms << "}";
    else
      out << "null";
    out << "}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"skipped\": [";
  for (size_t i = 0; i < skipped.size(); ++i)
    out << (i ? ", " : "") << "{\"name\": \"" << skipped[i]->name << "\", \"reason\": \""
        << json_escape(skipped[i]->skipped) << "\"}";
  out << "]\n}\n";
}

// Two horizontal bar charts: the speedup of compiled over eager (a line at 1x), and the share of
// the measured bandwidth each compiled workload reaches (memory-bound ones).
void write_svg(const std::string& path, const std::vector<Result>& results, double bw,
               const std::string& caption) {
  const int label = 150, width = 760, bar_h = 22, gap = 8;
  const int chart_h = int(results.size()) * (bar_h + gap) + 40;
  const int height = 2 * chart_h + 80;
  std::ofstream out(path);
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  auto chart = [&](int top, const std::string& title, double max_value, bool percent,
                   const std::function<double(const Result&)>& value, double mark) {
    const double plot = width - label - 80;
    out << "<text x=\"10\" y=\"" << top + 16 << "\" font-size=\"14\" font-weight=\"bold\">" << title
        << "</text>\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const double v = value(results[i]);
      const int y = top + 28 + int(i) * (bar_h + gap);
      const double len = v > 0 ? plot * std::min(v, max_value) / max_value : 0;
      out << "<text x=\"" << label - 6 << "\" y=\"" << y + bar_h - 7 << "\" text-anchor=\"end\">"
          << results[i].w->name << "</text>\n";
      if (v <= 0) {
        out << "<text x=\"" << label + 4 << "\" y=\"" << y + bar_h - 7
            << "\" fill=\"#888\">n/a (matmul-bound)</text>\n";
        continue;
      }
      out << "<rect x=\"" << label << "\" y=\"" << y << "\" width=\"" << len << "\" height=\""
          << bar_h << "\" fill=\"" << (mark > 0 && v < mark ? "#d9822b" : "#2b7bb9") << "\"/>\n";
      out << "<text x=\"" << label + len + 4 << "\" y=\"" << y + bar_h - 7 << "\">"
          << (percent ? fmt("%.0f%%", 100 * v) : fmt("%.2fx", v)) << "</text>\n";
    }
    if (mark > 0) {
      const double x = label + plot * mark / max_value;
      out << "<line x1=\"" << x << "\" y1=\"" << top + 24 << "\" x2=\"" << x << "\" y2=\""
          << top + chart_h - 8 << "\" stroke=\"#444\" stroke-dasharray=\"4,3\"/>\n";
    }
  };
  double max_speedup = 1;
  for (const Result& r : results) max_speedup = std::max(max_speedup, r.speedup());
  chart(
      10, "Speedup of compiled over eager (median; dashed: 1x)", max_speedup * 1.1, false,
      [](const Result& r) { return r.speedup(); }, 1.0);
  chart(
      10 + chart_h + 20,
      "Compiled: share of the measured memory bandwidth (" + fmt("%.1f", bw) + " GB/s triad)", 1.1,
      true, [bw](const Result& r) { return r.w->flops > 0 ? 0.0 : r.gbps(r.compiled) / bw; }, 0);
  out << "<text x=\"10\" y=\"" << height - 12 << "\" fill=\"#555\">" << caption << "</text>\n";
  out << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string child, cache_dir;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    try {
      if (a == "--filter")
        o.filter = value();
      else if (a == "--scale")
        o.scale = std::stod(value());
      else if (a == "--threads")
        o.threads = std::stoi(value());
      else if (a == "--reps")
        o.reps = std::stoi(value());
      else if (a == "--warmup")
        o.warmup = std::stoi(value());
      else if (a == "--device")
        o.device = value();
      else if (a == "--json")
        o.json = value();
      else if (a == "--svg")
        o.svg = value();
      else if (a == "--no-compile-times")
        o.compile_times = false;
      else if (a == "--list")
        list = true;
      else if (a == "--help" || a == "-h")
        usage(nullptr);
      else if (a == "--compile-child")
        child = value();
      else if (a == "--cache-dir")
        cache_dir = value();
      else
        usage(("unknown option " + a).c_str());
    } catch (const std::logic_error&) {
      usage(("bad value for " + a).c_str());
    }
  }
  if (o.reps < 1 || o.warmup < 0 || o.scale <= 0 || o.threads < 0) usage("bad option values");
  if (o.device == "cuda") {
    // The GPU suite needs a device; say plainly which part is missing.
    if (!ember::cuda::is_available()) {
      std::fprintf(stderr, "ember-bench: --device cuda: no CUDA device on this machine (%s)\n",
                   ember::cuda::unavailable_reason().c_str());
      return 1;
    }
    std::fprintf(stderr,
                 "ember-bench: --device cuda: found %s (sm_%d), but CUDA tensors are not built "
                 "yet: Ember prints and compiles CUDA kernels (NVRTC %s) and cannot run them\n",
                 ember::cuda::device_name(0).c_str(), ember::cuda::compute_capability(0),
                 ember::codegen::cuda::nvrtc_version().c_str());
    return 1;
  }
  if (o.device != "cpu") usage(("unknown device " + o.device + " (cpu or cuda)").c_str());
  if (o.threads > 0) set_num_threads(o.threads);
  if (!child.empty()) return compile_child(child, o.scale, cache_dir);
  if (o.svg.empty()) {
    o.svg = o.json;
    const size_t dot = o.svg.rfind(".json");
    o.svg = (dot == std::string::npos ? o.svg : o.svg.substr(0, dot)) + ".svg";
  }

  const std::vector<Workload> all = workloads(o.scale);
  if (list) {
    for (const Workload& w : all) std::printf("%-18s %s\n", w.name.c_str(), w.shape.c_str());
    return 0;
  }
  std::vector<const Workload*> chosen, skipped;
  for (const Workload& w : all)
    if (o.filter.empty() || w.name.find(o.filter) != std::string::npos)
      (w.skipped.empty() ? chosen : skipped).push_back(&w);

  std::printf("ember-bench: %s, %d threads, %u cores; %d repetitions after %d warm-up\n",
              first_line_of("/proc/cpuinfo", "model name").c_str(), get_num_threads(),
              std::thread::hardware_concurrency(), o.reps, o.warmup);
  std::fprintf(stderr, "measuring memory bandwidth (STREAM triad)...\r");
  double bandwidth = 0;
  const Stat triad_ms = triad(std::max(o.reps, 5), &bandwidth);
  std::printf("memory bandwidth (triad, median of %d): %.1f GB/s\n", std::max(o.reps, 5),
              bandwidth);

  std::vector<Result> results;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const Workload& w = *chosen[i];
    Result r{&w, {}, {}, {}, {}, 0, 0, -1, -1, {}};
    const Inputs in = w.inputs();
    CompileOptions options;
    options.disk_cache = false;
    options.name = w.name;
    auto f = compiled_of(w, options);
    auto whole_step = compiled_step_of(w, options);
    const bool train = !w.params.empty();
    auto run_eager = [&] { return train ? train_step(w, w.fn, in) : w.fn(in); };
    auto run_compiled = [&] {
      return train ? call_unpacked<Inputs>(whole_step, in) : call_unpacked<Inputs>(f, in);
    };
    Inputs eager_out, compiled_out;
    if (train) {
      // Before any update: the loss and every gradient, eager against compiled, and what each
      // keeps alive for its backward.
      std::vector<Tensor> grads;
      Tensor loss = w.fn(in).at(0);
      r.eager_saved = autograd::saved_tensor_bytes({loss});
      loss.backward();
      for (Tensor p : w.params) {
        grads.push_back(p.grad());
        p.mutable_grad() = Tensor();
      }
      Tensor closs = call_unpacked<Inputs>(f, in).at(0);
      r.compiled_saved = f.last_plan().residual_bytes;
      closs.backward();
      r.max_abs_diff = (loss - closs).abs().item<double>();
      for (size_t k = 0; k < grads.size(); ++k) {
        Tensor p = w.params[k];
        r.max_abs_diff = std::max(r.max_abs_diff, (grads[k] - p.grad()).abs().max().item<double>());
        p.mutable_grad() = Tensor();
      }
      call_unpacked<Inputs>(whole_step, in);  // the compiled step's trace and first run
    } else {
      // The first call compiles (a quick tier first).
      call_unpacked<Inputs>(f, in);
    }
    // Timings start once the optimized tier is in.
    codegen::wait_for_background_compiles();
    // Eager and compiled repetitions alternate, so a slow spell of the machine hits both.
    for (int k = 0; k < o.warmup; ++k) {
      eager_out = run_eager();
      compiled_out = run_compiled();
    }
    std::vector<double> eager_ms, compiled_ms;
    for (int k = 0; k < o.reps; ++k) {
      std::fprintf(stderr, "\r[%zu/%zu] %-18s rep %d/%d        ", i + 1, chosen.size(),
                   w.name.c_str(), k + 1, o.reps);
      auto start = Clock::now();
      eager_out = run_eager();
      eager_ms.push_back(ms_since(start));
      start = Clock::now();
      compiled_out = run_compiled();
      compiled_ms.push_back(ms_since(start));
    }
    r.eager = summarize(eager_ms);
    r.compiled = summarize(compiled_ms);
    r.plan = f.last_plan();
    r.bytes = bytes_of(in) + bytes_of(eager_out);
    std::vector<std::vector<int64_t>> shapes;
    for (const Tensor& t : in) shapes.push_back(t.sizes().vec().vec());
    r.torch = ember_bench::time_libtorch(w.name, shapes, get_num_threads(), o.warmup, o.reps);
    for (size_t k = 0; k < eager_out.size() && !train; ++k)
      r.max_abs_diff =
          std::max(r.max_abs_diff, (eager_out[k] - compiled_out[k]).abs().max().item<double>());
    results.push_back(r);
  }
  // Compile times last: the child processes disturb the timings of whatever runs next (the
  // memory they release is still being reclaimed).
  for (size_t i = 0; i < results.size() && o.compile_times; ++i) {
    std::fprintf(stderr, "\r[%zu/%zu] %-18s compile times (child processes)        ", i + 1,
                 results.size(), results[i].w->name.c_str());
    results[i].compile = measure_compile(argv[0], *results[i].w, o.scale, get_num_threads());
  }
  std::fprintf(stderr, "\r%90s\r", "");
  print_table(results, skipped, bandwidth);
  write_json(o.json, o, results, skipped, triad_ms, bandwidth);
  write_svg(o.svg, results, bandwidth,
            "ember-bench, " + first_line_of("/proc/cpuinfo", "model name") + ", " +
                std::to_string(get_num_threads()) + " threads, medians of " +
                std::to_string(o.reps) + " repetitions");
  std::printf("wrote %s and %s\n", o.json.c_str(), o.svg.c_str());
  return 0;
}
