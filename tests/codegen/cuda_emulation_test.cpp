// The CUDA kernels' semantics without a GPU: every harness case's plan runs through a Backend
// whose kernels are the printed CUDA C, compiled for the host (the C++ compiler that built the
// suite, with a header standing in for CUDA's built-ins) and launched through the CUDA backend's
// own argument and geometry code (cuda::prepare_launch) with the grid run block by block, thread
// by thread. Outputs must equal the interpreter's in every layout (contiguous, transposed,
// strided). Elementwise kernels run with 2 blocks of 256 threads (so the grid-stride loop
// strides); row kernels with one thread per row (a warp's shuffle tree needs a real GPU:
// CudaOnDevice runs the same plans with the kernels on one, where there is one).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "ember/codegen/backend.h"
#include "ember/codegen/cuda.h"
#include "ember/codegen/llvm_backend.h"
#include "ember/codegen/plan.h"
#include "ember/ember.h"
#include "ember/passes/pipeline.h"
#include "tests/codegen/cuda_kernels.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

namespace cuda = codegen::cuda;

// CUDA's built-ins for one host thread at a time.
constexpr const char* kShim = R"(#include <math.h>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include "ember/runtime/dtype.h"
#define EMBER_CUDA_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __align__(n) alignas(n)
#define __shared__ static
struct ember_dim3 { unsigned x = 0, y = 0, z = 0; };
static ember_dim3 threadIdx, blockIdx, blockDim, gridDim;
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
template <class T> T __shfl_xor_sync(unsigned, T, int) { std::abort(); }  // one thread per row
inline void __syncthreads() { std::abort(); }
inline float ember_emulated_h2f(unsigned short h) { return ember::Half::to_float(h); }
inline unsigned short ember_emulated_f2h(float f) { return ember::Half::from_float(f); }
using std::signbit;
)";

using EmulatedFn = void (*)(const cuda::KernelArgs*, unsigned grid, unsigned bx, unsigned by);

// The printed kernels of one plan, compiled for the host into one shared library.
class EmulatedCuda : public codegen::Backend {
 public:
  EmulatedCuda(const std::vector<codegen::Plan::Step>& steps, const std::string& tag) {
    std::ostringstream program;
    for (const codegen::Plan::Step& s : steps) {
      if (s.kind == codegen::Plan::Step::Kind::Node || cuda::unsupported(s.kernel)) continue;
      const std::string text = s.kernel.text();
      if (sources_.count(text)) continue;
      codegen::KernelIR renamed = s.kernel;
      renamed.name = "kernel" + std::to_string(sources_.size());
      const cuda::Source src = cuda::print(renamed);
      sources_[text] = src;
      program << src.code << "extern \"C\" void emulate_" << src.name
              << "(const ember_args* a, unsigned grid, unsigned bx, unsigned by) {\n"
              << "  gridDim = {grid, 1, 1};\n  blockDim = {bx, by, 1};\n"
              << "  for (unsigned g = 0; g < grid; ++g)\n"
              << "    for (unsigned y = 0; y < by; ++y)\n"
              << "      for (unsigned x = 0; x < bx; ++x) {\n"
              << "        blockIdx = {g, 0, 0};\n        threadIdx = {x, y, 0};\n"
              << "        " << src.name << "(*a);\n      }\n}\n";
    }
    if (sources_.empty()) return;
    const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                      ("ember-cuda-emulation-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::filesystem::path shim = dir / "shim.h", cu = dir / (tag + ".cpp"),
                                so = dir / (tag + ".so");
    std::ofstream(shim) << kShim;
    std::ofstream(cu) << program.str();
    const std::string command = std::string(EMBER_HOST_CXX) +
                                " -std=c++20 -O1 -w -shared -fPIC -I" + EMBER_SOURCE_DIR +
                                "/include -include " + shim.string() + " " + cu.string() + " -o " +
                                so.string() + " 2> " + (dir / "log").string();
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(dir / "log");
      error_ = "the host compiler failed: " + command + "\n" +
               std::string(std::istreambuf_iterator<char>(log), {}) + "\n" + program.str();
      return;
    }
    handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      error_ = dlerror();
      return;
    }
    for (auto& [text, src] : sources_)
      entries_[text] =
          reinterpret_cast<EmulatedFn>(dlsym(handle_, ("emulate_" + src.name).c_str()));
    std::filesystem::remove_all(dir);
  }
  ~EmulatedCuda() override {
    if (handle_) dlclose(handle_);
  }
  const std::string& error() const { return error_; }
  int kernels() const { return int(sources_.size()); }
  int launches() const { return launches_; }

  const char* name() const override { return "cuda-emulated"; }
  std::optional<std::string> unsupported(const codegen::KernelIR& k) const override {
    return cuda::unsupported(k);
  }
  std::shared_ptr<codegen::TieredKernel> compile(const codegen::KernelIR& k,
                                                 const codegen::KernelCacheOptions&) override {
    auto t = std::make_shared<codegen::TieredKernel>();
    t->set(reinterpret_cast<uint64_t>(entries_.at(k.text())), true);
    return t;
  }
  std::string binary(const codegen::KernelIR&, const codegen::KernelCacheOptions&) override {
    throw Error("emulated CUDA kernels have no binary");
  }
  std::shared_ptr<codegen::TieredKernel> load(const codegen::KernelIR&, std::string_view) override {
    throw Error("emulated CUDA kernels have no binary");
  }
  void launch(const codegen::TieredKernel& compiled, const codegen::KernelIR& k,
              const Array* const* buffers, size_t nb, IntArrayRef domain,
              int64_t reduced) override {
    const cuda::Launch l = cuda::prepare_launch(k, sources_.at(k.text()), buffers, nb, domain,
                                                reduced, /*max_blocks=*/2,
                                                /*threads_per_row=*/k.rows ? 1 : 0);
    ++launches_;
    if (l.grid) compiled.entry<EmulatedFn>()(&l.args, l.grid, l.block_x, l.block_y);
  }

 private:
  std::map<std::string, cuda::Source> sources_;
  std::map<std::string, EmulatedFn> entries_;
  void* handle_ = nullptr;
  std::string error_;
  int launches_ = 0;
};

// A plan's kernels on a GPU, its node steps on the CPU: each launch copies its buffers' storage
// to the device (whole, so that views and gathers' tables keep their offsets and strides), runs
// the CUDA backend's kernel there, and copies the outputs back.
class OnDevice : public codegen::Backend {
 public:
  const char* name() const override { return "cuda-on-device"; }
  std::optional<std::string> unsupported(const codegen::KernelIR& k) const override {
    return codegen::cuda_backend().unsupported(k);
  }
  std::shared_ptr<codegen::TieredKernel> compile(const codegen::KernelIR& k,
                                                 const codegen::KernelCacheOptions& o) override {
    ++kernels_;
    return codegen::cuda_backend().compile(k, o);
  }
  std::string binary(const codegen::KernelIR& k, const codegen::KernelCacheOptions& o) override {
    return codegen::cuda_backend().binary(k, o);
  }
  std::shared_ptr<codegen::TieredKernel> load(const codegen::KernelIR& k,
                                              std::string_view b) override {
    return codegen::cuda_backend().load(k, b);
  }
  void launch(const codegen::TieredKernel& compiled, const codegen::KernelIR& k,
              const Array* const* buffers, size_t nb, IntArrayRef domain,
              int64_t reduced) override {
    std::vector<Array> on_device;
    for (size_t b = 0; b < nb; ++b) {
      const Array& a = *buffers[b];
      const int64_t bytes = int64_t(a.storage()->nbytes());
      const Array raw(a.storage(), DType::UInt8, {bytes}, {1}, 0);
      const Array copy = ember::cuda::copy_to_device(raw);
      on_device.emplace_back(copy.storage(), a.dtype(), a.sizes(), a.strides(), a.offset());
    }
    std::vector<const Array*> bound;
    for (const Array& a : on_device) bound.push_back(&a);
    codegen::cuda_backend().launch(compiled, k, bound.data(), nb, domain, reduced);
    ember::cuda::synchronize();
    ++launches_;
    for (size_t b = 0; b < nb; ++b) {
      if (!k.buffers[b].output) continue;
      const Array& a = *buffers[b];
      const int64_t bytes = int64_t(a.storage()->nbytes());
      const Array raw(on_device[b].storage(), DType::UInt8, {bytes}, {1}, 0);
      const Array back = ember::cuda::copy_to_host(raw);
      std::memcpy(a.storage()->data(), back.data(), size_t(bytes));
    }
  }
  int kernels() const { return kernels_; }
  int launches() const { return launches_; }

 private:
  int kernels_ = 0, launches_ = 0;
};

// A harness case traced (inputs of seed 5) and its plan.
struct CasePlan {
  const Case& c;
  std::vector<Tensor> inputs;
  TracedGraph traced;
  codegen::Plan plan;

  explicit CasePlan(const Case& harness_case)
      : c(harness_case), inputs(c.make_inputs(5)), traced(trace_it()), plan(plan_it()) {}
  TracedGraph trace_it() const {
    manual_seed(5);
    return trace(c.fn, inputs, c.name);
  }
  codegen::Plan plan_it() const {
    passes::run_pipeline(*traced.graph);
    return codegen::build_plan(*traced.graph);
  }

  // Runs the plan through `backend` in every layout; its outputs must equal the interpreter's.
  void expect_equals_interpreter(codegen::Backend& backend) const {
    const codegen::ExecutablePlan executable(plan, backend);
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
      std::vector<Tensor> laid;
      for (const Tensor& t : inputs)
        laid.push_back(
            t.dim() == 0 ? t : with_layout(t.sizes().vec(), values_of(t), t.dtype(), layout));
      const std::vector<Array> args = traced.interpreter_inputs(laid);
      const std::vector<Array> want = ir::interpret(*traced.graph, args);
      std::vector<Array> got;
      try {
        got = executable.run(args);
      } catch (const ir::GuardFailure&) {
        ASSERT_TRUE(c.data_dependent) << c.name;
        continue;
      }
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        const Tensor w(want[i]);
        expect_values(
            Tensor(got[i]), w.sizes().vec(), values_of(w), c.rtol, c.atol,
            c.name + " output " + std::to_string(i) + " layout " + std::to_string(int(layout)));
      }
    }
  }
};

class CudaEmulation : public ::testing::TestWithParam<size_t> {};

TEST_P(CudaEmulation, PlansOnPrintedKernelsEqualTheInterpreter) {
  const CasePlan p(harness_cases()[GetParam()]);
  const Case& c = p.c;
  EmulatedCuda backend(p.plan.steps, "case" + std::to_string(GetParam()));
  ASSERT_TRUE(backend.error().empty()) << backend.error();
  if (backend.kernels() == 0) {
    std::cout << c.name << ": no kernel\n";
    return;
  }
  p.expect_equals_interpreter(backend);
  std::cout << c.name << ": " << backend.kernels() << " printed CUDA kernels, "
            << backend.launches() << " emulated launches\n";
}

// The same on a GPU, with the real kernels (warp shuffles, vector accesses, NVRTC's code).
// Skips with a message without one; EMBER_REQUIRE_GPU=1 makes that a failure.
class CudaOnDevice : public ::testing::TestWithParam<size_t> {};

TEST_P(CudaOnDevice, PlanKernelsOnTheGpuEqualTheInterpreter) {
  if (!ember::cuda::is_available()) {
    const char* required = std::getenv("EMBER_REQUIRE_GPU");
    if (required && std::string(required) == "1")
      FAIL() << "EMBER_REQUIRE_GPU=1 but " << ember::cuda::unavailable_reason();
    GTEST_SKIP() << "no CUDA device: " << ember::cuda::unavailable_reason();
  }
  const CasePlan p(harness_cases()[GetParam()]);
  const Case& c = p.c;
  OnDevice backend;
  p.expect_equals_interpreter(backend);
  std::cout << c.name << ": " << backend.kernels() << " CUDA kernels, " << backend.launches()
            << " launches on " << ember::cuda::device_name(0) << "\n";
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaOnDevice, ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

INSTANTIATE_TEST_SUITE_P(Cases, CudaEmulation, ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

// Operands that find the edges: signed zeros, infinities, NaN, a float32 subnormal, float16's
// range, the integer dtypes' bounds and the casts' saturation points. `salt` rotates them, so a
// binary op meets different pairs. Row kernels (sums, norms) get values within [-300, 300]
// besides the infinities and NaN: a row of 1e10 and -1e10 cancels differently in each
// summation order, and both backends may reassociate.
Array edge_operand(DType d, size_t salt, bool tame) {
  const std::vector<double> floats{
      0.0,       -0.0,   1.0,          -1.0,          0.5,     -0.5,    2.5,    -2.5,
      3.7,       -3.7,   1e-3,         100.25,        -100.25, 1e10,    -1e10,  INFINITY,
      -INFINITY, NAN,    1e-40,        65504.0,       70000.0, 300.0,   -129.0, 255.5,
      256.0,     -128.5, 2147483648.0, -2147483649.0, 9.3e18,  -9.3e18, 0.1,    7.0};
  const std::vector<int64_t> ints{0,
                                  1,
                                  -1,
                                  2,
                                  -2,
                                  3,
                                  7,
                                  -7,
                                  127,
                                  -128,
                                  255,
                                  256,
                                  -129,
                                  1000,
                                  -1000,
                                  2147483647,
                                  -2147483647 - 1,
                                  int64_t(1) << 40,
                                  -(int64_t(1) << 40),
                                  INT64_MAX,
                                  INT64_MIN,
                                  5,
                                  6,
                                  9,
                                  12,
                                  -12,
                                  100,
                                  3,
                                  4,
                                  10,
                                  -3,
                                  8};
  Array a = Array::empty({kEagerRows, kEagerCols}, d);
  for (size_t i = 0; i < size_t(kEagerRows * kEagerCols); ++i) {
    const size_t j = (i + salt * 7) % floats.size();
    const double f = tame && std::abs(floats[j]) > 300 && std::isfinite(floats[j])
                         ? std::fmod(floats[j], 300.0)
                         : floats[j];
    char* at = a.data() + i * a.itemsize();
    auto put = [&](auto v) { std::memcpy(at, &v, sizeof v); };
    switch (d) {
      case DType::Bool:
        put(uint8_t(ints[j] & 1));
        break;
      case DType::UInt8:
        put(uint8_t(ints[j]));
        break;
      case DType::Int8:
        put(int8_t(ints[j]));
        break;
      case DType::Int32:
        put(int32_t(ints[j]));
        break;
      case DType::Int64:
        put(ints[j]);
        break;
      case DType::Float16:
        put(Half(float(f)).bits);
        break;
      case DType::BFloat16:
        put(BFloat16(float(f)).bits);
        break;
      case DType::Float32:
        put(float(f));
        break;
      case DType::Float64:
        put(f);
        break;
    }
  }
  return a;
}

// Whether two outputs agree: integers and bools bit for bit; floats both NaN, or within the
// libraries' ulps (host libm against the CPU backend's polynomials) of each other.
std::string disagreement(const Array& got, const Array& want) {
  const Tensor g(got), w(want);
  if (!is_floating(want.dtype())) {
    if (std::memcmp(got.data(), want.data(), size_t(want.numel()) * want.itemsize()) == 0)
      return "";
    return "emulated " + to_string(g) + "\nCPU backend " + to_string(w);
  }
  const std::vector<double> gv = values_of(g), wv = values_of(w);
  const double rtol = want.itemsize() == 2 ? 4e-3 : want.itemsize() == 4 ? 4e-6 : 1e-12;
  for (size_t i = 0; i < wv.size(); ++i) {
    if (std::isnan(gv[i]) && std::isnan(wv[i])) continue;
    if (gv[i] == wv[i]) continue;
    if (std::abs(gv[i] - wv[i]) <= rtol * std::max(std::abs(gv[i]), std::abs(wv[i])) + 1e-37)
      continue;
    return "element " + std::to_string(i) + ": emulated " + std::to_string(gv[i]) +
           ", CPU backend " + std::to_string(wv[i]);
  }
  return "";
}

// Every eager op's single-op kernel, on edge operands, equals the LLVM CPU backend's kernel of
// the same IR: casts' saturation and NaN, integer wrap, NaN-propagating max/min, 16-bit rounding.
TEST(CudaEmulation, EagerOpKernelsEqualTheCpuBackend) {
  std::vector<codegen::Plan::Step> steps;
  for (codegen::Plan::Step& s : eager_kernels())
    if (!cuda::unsupported(s.kernel)) steps.push_back(std::move(s));
  EmulatedCuda backend(steps, "eager");
  ASSERT_TRUE(backend.error().empty()) << backend.error();
  codegen::Backend& cpu = codegen::cpu_backend();
  int checked = 0;
  std::set<std::string> seen;
  for (const codegen::Plan::Step& s : steps) {
    const codegen::KernelIR& k = s.kernel;
    if (!seen.insert(k.text()).second) continue;
    std::vector<Array> in, emulated, reference;
    for (size_t b = 0; b < k.buffers.size(); ++b)
      if (!k.buffers[b].output) in.push_back(edge_operand(k.buffers[b].dtype, b, k.rows));
    for (size_t o = 0; o < s.out_shapes.size(); ++o) {
      const Shape shape = ir::evaluate_shape(s.out_shapes[o]);
      emulated.push_back(Array::empty(shape, s.out_dtypes[o]));
      reference.push_back(Array::empty(shape, s.out_dtypes[o]));
    }
    const Shape domain = ir::evaluate_shape(s.domain);
    auto run = [&](codegen::Backend& b, std::vector<Array>& out) {
      std::vector<const Array*> bound;
      for (const Array& a : in) bound.push_back(&a);
      for (const Array& a : out) bound.push_back(&a);
      const auto compiled = b.compile(k, {});
      b.launch(*compiled, k, bound.data(), bound.size(), domain, s.reduced);
    };
    run(backend, emulated);
    run(cpu, reference);
    for (size_t o = 0; o < emulated.size(); ++o) {
      const std::string why = disagreement(emulated[o], reference[o]);
      EXPECT_TRUE(why.empty()) << k.text() << why;
    }
    ++checked;
  }
  std::cout << checked << " eager op kernels: emulated CUDA equals the CPU backend\n";
  EXPECT_GT(checked, 300);
}

}  // namespace
}  // namespace ember::testing
