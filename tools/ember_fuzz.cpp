// ember-fuzz: the differential fuzzer. Generates random Tensor programs (tools/fuzz/program.h),
// runs each eagerly, traced through the reference interpreter (and again from its printed IR
// text), and compiled over several calls whose sizes change, and reports every difference beyond
// a dtype-aware tolerance with a minimized reproducer as C++ and as IR text.
//
//   ember-fuzz --seed 1 --count 10000        # programs seeded 1 .. 10000
//   ember-fuzz --seed 4242 --count 1         # replays one program
//   ember-fuzz --minutes 30                  # as many programs as fit
//   ember-fuzz --target ir --runs 1000000    # a fuzz target of tools/fuzz/targets.h, mutated
//   ember-fuzz --target npy --corpus DIR     # ... starting from DIR's files too
//   ember-fuzz --target npy --write-seeds DIR  # the target's seeds as files (a libFuzzer corpus)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "ember/ember.h"
#include "tools/fuzz/program.h"
#include "tools/fuzz/targets.h"

namespace ember::fuzz {
namespace {

struct Failure {
  std::string backend;  // interpreter, ir text, compiled, ...
  size_t call = 0;
  std::string detail;
};

struct Totals {
  int64_t programs = 0, calls = 0, nodes = 0, traces = 0, recompiles = 0, guard_failures = 0;
  int64_t kernels = 0, mismatches = 0, gradient_checks = 0;
  std::map<std::string, int64_t> op_counts;
};

// The tolerance of a program's float results: set by the least precise float dtype anywhere in
// it (a fused kernel computes 16-bit floats in float32 without rounding in between, as
// torch.compile does), relative to the output's own scale.
double tolerance(const Program& p) {
  bool f16 = false, bf16 = false, only_f64 = true;
  auto see = [&](DType d) {
    f16 = f16 || d == kFloat16;
    bf16 = bf16 || d == kBFloat16;
    only_f64 = only_f64 && d == kFloat64;  // integers meet float32 in a true division or a mean
  };
  for (const InputSpec& in : p.inputs) see(in.dtype);
  for (const Node& n : p.nodes)
    if (std::string(op_name(n.op)) == "to") see(n.dtype);
  if (bf16) return 8e-2;
  if (f16) return 1e-2;
  return only_f64 ? 1e-9 : 2e-4;
}

std::string sizes_str(IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The program in float64: its float inputs and float casts widened. Its results, beside
// eager's, measure how much rounding error the program itself has (a sum that cancels to ~0, a
// normalization of nearly equal values), which a compiled kernel may show too (the fp64
// reference of torch._dynamo's accuracy checks).
Program widened(const Program& p) {
  Program q = p;
  for (Node& n : q.nodes)
    if (std::string(op_name(n.op)) == "to" && is_floating(n.dtype)) n.dtype = kFloat64;
  return q;
}
std::vector<Tensor> widened(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> wide;
  for (const Tensor& x : inputs) wide.push_back(x.is_floating_point() ? x.to(kFloat64) : x);
  return wide;
}
std::vector<Tensor> float64_reference(const Program& p, const std::vector<Tensor>& inputs) {
  try {
    return execute(widened(p), widened(inputs));
  } catch (const Error&) {
    return {};
  }
}

// The first difference between got and want (eager), if any: beyond rtol of the output's scale,
// plus four times eager's own error against the float64 reference ref (where there is one).
std::optional<std::string> differ(const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                                  const std::vector<Tensor>& ref, double rtol) {
  if (got.size() != want.size())
    return std::to_string(got.size()) + " outputs, eager has " + std::to_string(want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string out = "output " + std::to_string(i) + ": ";
    if (!got[i].defined()) return out + "undefined";
    if (got[i].dtype() != want[i].dtype())
      return out + "dtype " + dtype_name(got[i].dtype()) + ", eager " + dtype_name(want[i].dtype());
    if (got[i].sizes().vec() != want[i].sizes().vec())
      return out + "sizes " + sizes_str(got[i].sizes()) + ", eager " + sizes_str(want[i].sizes());
    const std::vector<double> g = got[i].values_as_double(), w = want[i].values_as_double();
    double scale = 1;
    for (double x : w) scale = std::max(scale, std::fabs(x));
    const bool floating = want[i].is_floating_point();
    double eager_error = 0;
    if (floating && i < ref.size() && ref[i].sizes().vec() == want[i].sizes().vec()) {
      const std::vector<double> r = ref[i].values_as_double();
      for (size_t k = 0; k < w.size(); ++k)
        if (std::isfinite(r[k])) eager_error = std::max(eager_error, std::fabs(w[k] - r[k]));
    }
    for (size_t k = 0; k < w.size(); ++k) {
      const double allowed = rtol * (scale + std::fabs(w[k])) + 4 * eager_error;
      const bool same = g[k] == w[k]       ? true
                        : std::isnan(w[k]) ? std::isnan(g[k])
                        : floating         ? std::fabs(g[k] - w[k]) <= allowed
                                           : g[k] == w[k];
      if (!same) {
        std::ostringstream os;
        os.precision(9);
        os << out << "element " << k << " of " << sizes_str(want[i].sizes()) << ": " << g[k]
           << ", eager " << w[k];
        return os.str();
      }
    }
  }
  return std::nullopt;
}

// The gradients of a loss of the program's float outputs with respect to its float inputs,
// eagerly (the tape) and compiled (the joint graph's backward plan), on each call. Null when the
// program has no differentiable path.
std::optional<Failure> check_gradients(const Program& p,
                                       const std::vector<std::vector<Tensor>>& inputs,
                                       const CompileOptions& options, Totals* totals) {
  // loss = sum(o^2 / 2 + o) over the outputs that require grad: upstream gradients o + 1.
  auto loss_of = [](const std::vector<Tensor>& outs) {
    Tensor loss;
    for (const Tensor& o : outs) {
      if (!o.requires_grad()) continue;
      const Tensor d = o.to(kFloat64);
      const Tensor term = (d * d * 0.5 + d).sum();
      loss = loss.defined() ? loss + term : term;
    }
    return loss;
  };
  auto leaves = [](const std::vector<Tensor>& in) {
    std::vector<Tensor> out;
    for (const Tensor& x : in) {
      Tensor leaf = x.detach();
      if (leaf.is_floating_point()) leaf.requires_grad_(true);
      out.push_back(leaf);
    }
    return out;
  };
  detail::CompiledEngine engine(options);
  auto body = [&p](const std::vector<CompileArg>& args) {
    std::vector<Tensor> x;
    for (const CompileArg& a : args) x.push_back(std::get<Tensor>(a));
    return execute(p, x);
  };
  if (gradients_follow_near_ties(p)) return std::nullopt;
  const double rtol = tolerance(p) * 5;
  const Program wide = widened(p);
  for (size_t c = 0; c < p.num_calls(); ++c) {
    const std::vector<Tensor> eager_in = leaves(inputs[c]), compiled_in = leaves(inputs[c]);
    // The forward ran eagerly before, so an error here is the tape's own.
    try {
      const Tensor eager_loss = loss_of(execute(p, eager_in));
      if (!eager_loss.defined()) return std::nullopt;
      eager_loss.backward();
    } catch (const std::exception& e) {
      return Failure{"eager backward", c, std::string("raised: ") + e.what()};
    }
    // The float64 gradients measure the rounding error the backward itself has (a gradient that
    // cancels to ~0, such as a constant shift through log_softmax), as the forward check does.
    const std::vector<Tensor> wide_in = leaves(widened(inputs[c]));
    try {
      if (const Tensor wide_loss = loss_of(execute(wide, wide_in)); wide_loss.defined())
        wide_loss.backward();
    } catch (const Error&) {  // the same error as eager's, reported above
    }
    try {
      const std::vector<CompileArg> args(compiled_in.begin(), compiled_in.end());
      const Tensor compiled_loss = loss_of(engine.call(args, body));
      if (!compiled_loss.defined())
        return Failure{"compiled backward", c, "no output requires grad; eager's do"};
      compiled_loss.backward();
    } catch (const std::exception& e) {
      return Failure{"compiled backward", c, std::string("raised: ") + e.what()};
    }
    for (size_t i = 0; i < eager_in.size(); ++i) {
      const Tensor want = eager_in[i].grad(), got = compiled_in[i].grad();
      if (want.defined() != got.defined())
        return Failure{"compiled backward", c,
                       "input " + std::to_string(i) +
                           (want.defined() ? " has no gradient"
                                           : " has a gradient eager "
                                             "does not give")};
      if (!want.defined()) continue;
      if (totals) ++totals->gradient_checks;
      const Tensor ref = wide_in[i].grad();
      if (auto d = differ({got}, {want},
                          ref.defined() ? std::vector<Tensor>{ref} : std::vector<Tensor>{}, rtol))
        return Failure{"compiled backward", c,
                       "gradient of input " + std::to_string(i) + ", " + *d};
    }
  }
  return std::nullopt;
}

struct Checker {
  Totals* totals = nullptr;  // counted when set
  std::string last_ir;       // the traced graph of the failing call

  std::optional<Failure> check(const Program& p, uint64_t options_seed) {
    const double rtol = tolerance(p);
    std::vector<std::vector<Tensor>> inputs, eager, ref;
    for (size_t c = 0; c < p.num_calls(); ++c) {
      inputs.push_back(make_inputs(p, c));
      eager.push_back(execute(p, inputs.back()));
      ref.push_back(float64_reference(p, inputs.back()));
    }
    const TraceableFn fn = [&p](const std::vector<Tensor>& x) { return execute(p, x); };

    // Trace + reference interpreter, and the same graph from its printed text.
    for (size_t c = 0; c < p.num_calls(); ++c) {
      TracedGraph traced;
      try {
        traced = trace(fn, inputs[c], "fuzz");
        last_ir = ir::print(*traced.graph);
        if (auto d = differ(traced.run(inputs[c]), eager[c], ref[c], rtol))
          return Failure{"interpreter", c, *d};
        TracedGraph reparsed = traced;
        reparsed.graph = ir::parse(last_ir);
        if (ir::print(*reparsed.graph) != last_ir)
          return Failure{"ir text", c, "the printed graph does not print back the same"};
        if (auto d = differ(reparsed.run(inputs[c]), eager[c], ref[c], rtol))
          return Failure{"interpreter on the reparsed text", c, *d};
      } catch (const std::exception& e) {  // an Error, or a broken invariant (InternalError)
        return Failure{"trace + interpreter", c, std::string("raised: ") + e.what()};
      }
    }

    // compile(): every call in order, so that sizes change and recompiles happen.
    CompileOptions options;
    options.disk_cache = false;
    options.name = "fuzz";
    options.tiered = options_seed % 3 != 0;
    options.dynamic = options_seed % 5 == 0   ? CompileOptions::Dynamic::Always
                      : options_seed % 7 == 0 ? CompileOptions::Dynamic::Never
                                              : CompileOptions::Dynamic::Auto;
    detail::CompiledEngine engine(options);
    auto body = [&p](const std::vector<CompileArg>& args) {
      std::vector<Tensor> x;
      for (const CompileArg& a : args) x.push_back(std::get<Tensor>(a));
      return execute(p, x);
    };
    for (size_t c = 0; c < p.num_calls(); ++c) {
      std::vector<CompileArg> args(inputs[c].begin(), inputs[c].end());
      try {
        const std::vector<Tensor> got = engine.call(args, body);
        if (auto d = differ(got, eager[c], ref[c], rtol)) {
          try {
            last_ir = ir::print(*trace(fn, inputs[c], "fuzz").graph);
          } catch (const Error&) {
          }
          return Failure{"compiled", c, *d};
        }
      } catch (const std::exception& e) {
        return Failure{"compiled", c, std::string("raised: ") + e.what()};
      }
      if (totals) totals->kernels += engine.last_plan().kernels;
    }
    if (auto f = check_gradients(p, inputs, options, totals)) return f;
    if (totals) {
      const CompileStats s = engine.stats();
      totals->traces += s.traces;
      totals->recompiles += s.recompiles;
      totals->guard_failures += s.guard_failures;
    }
    return std::nullopt;
  }
};

// p without value v: its uses read `replacement` instead (an earlier value), later values move
// down by one.
Program remove_value(const Program& p, int v, int replacement) {
  Program q = p;
  auto renumber = [&](int& a) {
    if (a == v)
      a = replacement;
    else if (a > v)
      --a;
  };
  for (Node& n : q.nodes)
    for (int& a : n.args) renumber(a);
  for (int& o : q.outputs) renumber(o);
  if (v < int(q.inputs.size()))
    q.inputs.erase(q.inputs.begin() + v);
  else
    q.nodes.erase(q.nodes.begin() + (v - int(q.inputs.size())));
  return q;
}

bool used(const Program& p, int v) {
  for (const Node& n : p.nodes)
    for (int a : n.args)
      if (a == v) return true;
  for (int o : p.outputs)
    if (o == v) return true;
  return false;
}

// Shrinks p while it still fails on the same backend: fewer outputs, nodes bypassed (their uses
// read one of their operands), unused values removed, fewer calls, contiguous inputs.
Program minimize(Program p, const Failure& failure, uint64_t options_seed, Failure* last) {
  Checker checker;
  auto still_fails = [&](const Program& q) {
    if (!runs_eagerly(q)) return false;
    const std::optional<Failure> f = checker.check(q, options_seed);
    if (f && f->backend == failure.backend) {
      *last = *f;
      return true;
    }
    return false;
  };
  *last = failure;
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0; i < p.outputs.size() && p.outputs.size() > 1 && !progress; ++i) {
      Program q = p;
      q.outputs.erase(q.outputs.begin() + int(i));
      if (still_fails(q)) p = q, progress = true;
    }
    for (int v = int(p.num_values()) - 1; v >= 0 && !progress; --v) {
      if (!used(p, v)) {
        Program q = remove_value(p, v, -1);
        if (still_fails(q)) p = q, progress = true;
        continue;
      }
      if (v < int(p.inputs.size())) continue;
      const Node& n = p.nodes[size_t(v) - p.inputs.size()];
      for (int a : n.args) {
        Program q = remove_value(p, v, a);
        if (still_fails(q)) {
          p = q, progress = true;
          break;
        }
      }
    }
    for (size_t c = 0; c < p.num_calls() && p.num_calls() > 1 && !progress; ++c) {
      Program q = p;
      q.var_sizes.erase(q.var_sizes.begin() + int(c));
      if (still_fails(q)) p = q, progress = true;
    }
    for (size_t i = 0; i < p.inputs.size() && !progress; ++i) {
      if (p.inputs[i].layout == Layout::Contiguous) continue;
      Program q = p;
      q.inputs[i].layout = Layout::Contiguous;
      if (still_fails(q)) p = q, progress = true;
    }
  }
  checker.check(p, options_seed);
  return p;
}

struct Args {
  uint64_t seed = 1;
  int64_t count = 100;
  double minutes = 0;
  bool minimize = true;
  bool verbose = false;
  std::string target;  // a fuzz target instead of the differential fuzzer
  int64_t runs = 100000;
  std::vector<std::string> corpus;
  std::string write_seeds;  // a directory to write the target's seeds to, instead of running it
};

int usage() {
  std::fprintf(stderr,
               "usage: ember-fuzz [--seed N] [--count N] [--minutes M] [--no-minimize] [-v]\n"
               "       ember-fuzz --target ir|cache|safetensors|npy [--runs N] [--seed N]\n"
               "                  [--minutes M] [--corpus DIR]... | --write-seeds DIR\n"
               "  Programs seeded N, N+1, ...: count of them, or as many as fit in M minutes;\n"
               "  or runs of a fuzz target on mutations of its seeds and the corpus files.\n");
  return 2;
}

// ---- crashes and hangs ----

// The input being run, for the signal handler to save.
const std::string* g_current = nullptr;
char g_crash_path[256] = "ember-fuzz-crash.bin";
char g_context[128] = "";  // the differential fuzzer's program, for the message

void write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w <= 0) return;
    data += w, n -= size_t(w);
  }
}

// A crash, an abort (an uncaught exception) or a hang (SIGALRM): the input goes to a file.
extern "C" void on_fatal_signal(int sig) {
  const char* what = sig == SIGALRM ? "ember-fuzz: hang (no progress within the time limit)"
                                    : "ember-fuzz: crash (a fatal signal)";
  write_all(2, what, std::strlen(what));
  write_all(2, g_context, std::strlen(g_context));
  if (g_current) {
    const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      write_all(fd, g_current->data(), g_current->size());
      ::close(fd);
      const char* saved = "; the input is in ";
      write_all(2, saved, std::strlen(saved));
      write_all(2, g_crash_path, std::strlen(g_crash_path));
    }
  }
  write_all(2, "\n", 1);
  ::_exit(1);
}

// ---- the mutation loop for fuzz targets ----

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  // base changed by one to four edits; corpus supplies splices and words.
  std::string mutate(std::string s, const std::vector<std::string>& corpus) {
    for (int64_t edits = uniform(1, 4); edits > 0; --edits) edit(s, corpus);
    return s;
  }
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

 private:
  void edit(std::string& s, const std::vector<std::string>& corpus) {
    static const char* numbers[] = {"0",
                                    "1",
                                    "-1",
                                    "2",
                                    "9223372036854775807",
                                    "9223372036854775808",
                                    "-9223372036854775808",
                                    "4611686018427387904",
                                    "3037000500",
                                    "4294967296",
                                    "65536",
                                    "1e308",
                                    "nan",
                                    "inf",
                                    "-0.0",
                                    "99999999999999999999"};
    static const uint64_t words[] = {0,
                                     1,
                                     0xff,
                                     0x7fffffffffffffffull,
                                     0x8000000000000000ull,
                                     0xffffffffffffffffull,
                                     1ull << 32,
                                     1ull << 62,
                                     16,
                                     100000000};
    const size_t n = s.size();
    auto pos = [&](size_t limit) { return size_t(uniform(0, int64_t(limit))); };
    switch (uniform(0, 9)) {
      case 0:  // flip a bit
        if (n) s[pos(n - 1)] ^= char(1 << uniform(0, 7));
        break;
      case 1:  // a random byte
        if (n) s[pos(n - 1)] = char(uniform(0, 255));
        break;
      case 2: {  // insert random bytes
        std::string bytes(size_t(uniform(1, 8)), '\0');
        for (char& c : bytes) c = char(uniform(0, 255));
        s.insert(pos(n), bytes);
        break;
      }
      case 3:  // erase a range
        if (n) {
          const size_t at = pos(n - 1);
          s.erase(at, size_t(uniform(1, int64_t(std::min<size_t>(n - at, 64)))));
        }
        break;
      case 4:  // duplicate a range
        if (n) {
          const size_t at = pos(n - 1);
          const std::string chunk = s.substr(at, size_t(uniform(1, 64)));
          s.insert(pos(s.size()), chunk);
        }
        break;
      case 5: {  // splice with another input
        const std::string& other = corpus[size_t(uniform(0, int64_t(corpus.size()) - 1))];
        s = s.substr(0, pos(n)) + other.substr(pos(other.size()));
        break;
      }
      case 6: {  // a number in text replaced by a boundary value
        std::vector<size_t> starts;
        for (size_t i = 0; i < n; ++i)
          if (std::isdigit(static_cast<unsigned char>(s[i])) &&
              (i == 0 || !std::isdigit(static_cast<unsigned char>(s[i - 1]))))
            starts.push_back(i);
        if (starts.empty()) break;
        const size_t at = starts[size_t(uniform(0, int64_t(starts.size()) - 1))];
        size_t end = at;
        while (end < n && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
        s.replace(at, end - at, numbers[uniform(0, std::size(numbers) - 1)]);
        break;
      }
      case 7:  // a boundary 64-bit word over 8 bytes (a binary length field)
        if (n >= 8) {
          const uint64_t w = words[uniform(0, std::size(words) - 1)];
          std::memcpy(s.data() + pos(n - 8), &w, 8);
        }
        break;
      case 8: {  // a word of another input inserted
        const std::string& other = corpus[size_t(uniform(0, int64_t(corpus.size()) - 1))];
        if (other.empty()) break;
        const size_t at = pos(other.size() - 1);
        size_t end = at;
        while (end < other.size() && end - at < 24 &&
               !std::isspace(static_cast<unsigned char>(other[end])))
          ++end;
        s.insert(pos(n), other.substr(at, std::max<size_t>(1, end - at)));
        break;
      }
      default:  // truncate
        s.resize(pos(n));
        break;
    }
  }

  std::mt19937_64 rng_;
};

int run_target(const Args& args) {
  const Target* target = find_target(args.target);
  if (!target) {
    std::fprintf(stderr, "ember-fuzz: no target '%s'\n", args.target.c_str());
    return usage();
  }
  std::vector<std::string> corpus = target->seeds();
  if (!args.write_seeds.empty()) {
    std::filesystem::create_directories(args.write_seeds);
    for (size_t i = 0; i < corpus.size(); ++i)
      write_file(args.write_seeds + "/seed-" + std::to_string(i), corpus[i]);
    std::printf("ember-fuzz --target %s: %zu seeds written to %s\n", target->name, corpus.size(),
                args.write_seeds.c_str());
    return 0;
  }
  for (const std::string& dir : args.corpus) {
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
      if (!e.is_regular_file() || e.file_size() > (1 << 20)) continue;
      std::ifstream in(e.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  const size_t seeds = corpus.size();
  std::snprintf(g_crash_path, sizeof g_crash_path, "ember-fuzz-crash-%s-%llu.bin", target->name,
                (unsigned long long)args.seed);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM})
    ::signal(sig, on_fatal_signal);

  Mutator mutator(args.seed);
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  int64_t runs = 0, accepted = 0;
  // Every seed as it is, then mutations.
  for (; args.minutes > 0 ? seconds() < args.minutes * 60 : runs < args.runs; ++runs) {
    const std::string input =
        size_t(runs) < corpus.size() && size_t(runs) < seeds
            ? corpus[size_t(runs)]
            : mutator.mutate(corpus[size_t(mutator.uniform(0, int64_t(corpus.size()) - 1))],
                             corpus);
    g_current = &input;
    ::alarm(10);
    bool ok = false;
    try {
      ok = target->run(input);
    } catch (const std::exception& e) {  // not an ember::Error: a finding
      ::alarm(0);
      std::fprintf(stderr, "ember-fuzz: target %s, run %lld: %s\n", target->name, (long long)runs,
                   e.what());
      std::ofstream(g_crash_path, std::ios::binary) << input;
      std::fprintf(stderr, "ember-fuzz: the input is in %s\n", g_crash_path);
      remove_scratch_files();
      return 1;
    }
    ::alarm(0);
    g_current = nullptr;
    if (ok) {
      ++accepted;
      // Accepted inputs are kept (bounded): mutations of them reach past the first checks.
      if (input.size() <= (1 << 16)) {
        if (corpus.size() < 4096)
          corpus.push_back(input);
        else
          corpus[seeds + size_t(mutator.uniform(0, int64_t(corpus.size() - seeds) - 1))] = input;
      }
    }
  }
  remove_scratch_files();
  std::printf(
      "ember-fuzz --target %s: %lld runs, %lld accepted, %zu inputs in the corpus (%zu "
      "seeds), 0 failures; %.1f s (%.0f runs/s)\n",
      target->name, (long long)runs, (long long)accepted, corpus.size(), seeds, seconds(),
      double(runs) / std::max(seconds(), 1e-9));
  return 0;
}

int run(const Args& args) {
  Totals totals;
  const auto start = std::chrono::steady_clock::now();
  auto minutes = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
  };
  int64_t failures = 0;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM})
    ::signal(sig, on_fatal_signal);
  for (int64_t i = 0; args.minutes > 0 ? minutes() < args.minutes : i < args.count; ++i) {
    const uint64_t seed = args.seed + uint64_t(i);
    std::snprintf(g_context, sizeof g_context,
                  " in program %llu (ember-fuzz --seed %llu --count 1)", (unsigned long long)seed,
                  (unsigned long long)seed);
    ::alarm(120);
    if (i > 0 && i % 1000 == 0) {
      std::printf("ember-fuzz: %lld programs, %lld mismatches so far, %.1f s\n", (long long)i,
                  (long long)failures, minutes() * 60);
      std::fflush(stdout);
    }
    const Program p = generate(seed);
    ++totals.programs;
    totals.calls += int64_t(p.num_calls());
    totals.nodes += int64_t(p.nodes.size());
    for (const Node& n : p.nodes) ++totals.op_counts[op_name(n.op)];
    if (args.verbose) {
      std::printf("program %llu:\n%s", (unsigned long long)seed, to_cpp(p, 0).c_str());
      std::fflush(stdout);
    }
    Checker checker;
    checker.totals = &totals;
    const std::optional<Failure> f = checker.check(p, seed);
    if (!f) continue;
    ++failures;
    std::printf("\nember-fuzz: program %llu: %s %s at call %zu: %s\n", (unsigned long long)seed,
                f->backend.c_str(), f->backend == "eager backward" ? "fails" : "differs from eager",
                f->call, f->detail.c_str());
    Program small = p;
    Failure last = *f;
    std::string ir = checker.last_ir;
    if (args.minimize) {
      small = minimize(p, *f, seed, &last);
      Checker again;
      again.check(small, seed);
      ir = again.last_ir;
      std::printf("minimized to %zu ops: %s at call %zu: %s\n", small.nodes.size(),
                  last.backend.c_str(), last.call, last.detail.c_str());
    }
    std::printf("--- C++ (inputs of call %zu) ---\n%s", last.call,
                to_cpp(small, last.call).c_str());
    std::printf("--- IR, traced at that call ---\n%s", ir.c_str());
    std::printf("--- replay: ember-fuzz --seed %llu --count 1 ---\n", (unsigned long long)seed);
    std::fflush(stdout);
  }
  ::alarm(0);
  totals.mismatches = failures;
  std::printf(
      "ember-fuzz: %lld programs (%lld ops, %lld calls), %lld traces, %lld recompiles, %lld guard "
      "failures, %lld kernels run, %lld input gradients compared; %lld mismatches; %.1f s\n",
      (long long)totals.programs, (long long)totals.nodes, (long long)totals.calls,
      (long long)totals.traces, (long long)totals.recompiles, (long long)totals.guard_failures,
      (long long)totals.kernels, (long long)totals.gradient_checks, (long long)totals.mismatches,
      minutes() * 60);
  if (args.verbose) {
    for (const auto& [name, n] : totals.op_counts)
      std::printf("  %-16s %lld\n", name.c_str(), (long long)n);
  }
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace ember::fuzz

int main(int argc, char** argv) {
  ember::fuzz::Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--seed" && (v = value())) {
      args.seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--count" && (v = value())) {
      args.count = std::strtoll(v, nullptr, 10);
    } else if (a == "--minutes" && (v = value())) {
      args.minutes = std::strtod(v, nullptr);
    } else if (a == "--no-minimize") {
      args.minimize = false;
    } else if (a == "--target" && (v = value())) {
      args.target = v;
    } else if (a == "--runs" && (v = value())) {
      args.runs = std::strtoll(v, nullptr, 10);
    } else if (a == "--corpus" && (v = value())) {
      args.corpus.push_back(v);
    } else if (a == "--write-seeds" && (v = value())) {
      args.write_seeds = v;
    } else if (a == "-v") {
      args.verbose = true;
    } else {
      return ember::fuzz::usage();
    }
  }
  try {
    return args.target.empty() ? ember::fuzz::run(args) : ember::fuzz::run_target(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember-fuzz: %s\n", e.what());
    return 1;
  }
}
