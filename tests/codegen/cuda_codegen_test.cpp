// The CUDA backend without a GPU: every kernel the test suite generates -- each harness case's
// fused kernels (elementwise, row, matmul epilogue) and every eager op's single-op kernel, for
// every dtype the op takes -- is printed as CUDA C and compiled by NVRTC to cubins for sm_80 and
// sm_90. Skips, with a message, where NVRTC cannot be loaded (EMBER_REQUIRE_NVRTC=1 fails then).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "ember/codegen/backend.h"
#include "ember/codegen/cuda.h"
#include "ember/codegen/legalize.h"
#include "ember/codegen/plan.h"
#include "ember/ember.h"
#include "ember/passes/pipeline.h"
#include "tests/codegen/cuda_kernels.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

namespace cuda = codegen::cuda;

bool skip_without_nvrtc() {
  std::string why;
  if (cuda::nvrtc_available(&why)) return false;
  const char* required = std::getenv("EMBER_REQUIRE_NVRTC");
  if (required && std::string(required) == "1") ADD_FAILURE() << "NVRTC is required: " << why;
  std::cout << "[  SKIPPED ] the CUDA kernels are not compiled: " << why << "\n";
  return true;
}

// Prints and compiles each kernel the backends cover for sm_80 and sm_90; returns how many.
int compile_all(const std::vector<codegen::Plan::Step>& steps, int& refused) {
  int compiled = 0;
  for (const codegen::Plan::Step& step : steps) {
    const codegen::KernelIR& k = step.kernel;
    if (auto why = cuda::unsupported(k)) {
      // Refused kernels run as eager nodes, as the CPU backend refuses the same ones.
      EXPECT_TRUE(codegen::first_uncovered(k, "CPU").has_value()) << k.text() << *why;
      ++refused;
      continue;
    }
    const cuda::Source source = cuda::print(k);
    for (int arch : {80, 90}) {
      try {
        const std::string cubin = cuda::compile_cubin(source, arch);
        EXPECT_GT(cubin.size(), 4u);
        EXPECT_EQ(cubin.substr(0, 4), std::string("\x7f"
                                                  "ELF"))
            << k.name;
      } catch (const BackendError& e) {
        ADD_FAILURE() << e.what() << "\nkernel:\n" << k.text() << "\nsource:\n" << source.code;
      }
    }
    ++compiled;
  }
  return compiled;
}

class CudaHarness : public ::testing::TestWithParam<size_t> {};

TEST_P(CudaHarness, EveryFusedKernelCompilesForSm80AndSm90) {
  if (skip_without_nvrtc()) return;
  const Case& c = harness_cases()[GetParam()];
  int refused = 0;
  const int n = compile_all(case_kernels(c), refused);
  std::cout << c.name << ": " << n << " CUDA kernels compiled for sm_80 and sm_90, " << refused
            << " refused\n";
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaHarness, ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

// In shards, so that ctest runs them side by side.
constexpr size_t kEagerShards = 6;
class CudaEagerKernels : public ::testing::TestWithParam<size_t> {};

TEST_P(CudaEagerKernels, EveryEagerOpKernelCompilesForSm80AndSm90) {
  if (skip_without_nvrtc()) return;
  std::set<std::string> seen;
  std::vector<codegen::Plan::Step> shard;
  for (codegen::Plan::Step& s : eager_kernels())
    if (seen.insert(s.kernel.text()).second && seen.size() % kEagerShards == GetParam())
      shard.push_back(std::move(s));
  int refused = 0;
  const int n = compile_all(shard, refused);
  std::cout << "eager op kernels, shard " << GetParam() << ": " << n
            << " compiled for sm_80 and sm_90, " << refused
            << " refused (as the CPU backend refuses them)\n";
  EXPECT_GT(n, 50);
}

INSTANTIATE_TEST_SUITE_P(Shards, CudaEagerKernels, ::testing::Range<size_t>(0, kEagerShards));

// How many distinct kernels the two tests above compile, counted without compiling.
TEST(CudaKernels, Count) {
  std::set<std::string> harness, eager;
  int rows = 0;
  for (const Case& c : harness_cases())
    for (const auto& s : case_kernels(c))
      if (!cuda::unsupported(s.kernel)) harness.insert(s.kernel.text());
  for (const auto& s : eager_kernels())
    if (!cuda::unsupported(s.kernel)) {
      if (eager.insert(s.kernel.text()).second) rows += s.kernel.rows;
    }
  std::cout << "distinct CUDA kernels: " << harness.size() << " from the harness, " << eager.size()
            << " eager op kernels (" << rows
            << " row kernels); each compiled for sm_80 and sm_90\n";
  EXPECT_GT(harness.size(), 50u);
}

TEST(CudaKernels, PrinterAndNvrtcErrorsNameTheKernel) {
  // An op the backends do not cover.
  codegen::KernelIR k;
  k.name = "k7";
  k.buffers = {{DType::Int64, false}, {DType::Int64, false}, {DType::Int64, true}};
  k.exprs = {{codegen::KernelIR::ExprKind::Load, DType::Int64, 0},
             {codegen::KernelIR::ExprKind::Load, DType::Int64, 1}};
  codegen::KernelIR::Expr pow{};
  pow.kind = codegen::KernelIR::ExprKind::Op;
  pow.dtype = DType::Int64;
  pow.op = ir::Op::Pow;
  pow.args = {0, 1};
  k.exprs.push_back(pow);
  k.stores = {{2, 2}};
  expect_error<BackendError>([&] { cuda::print(k); },
                             "cuda: k7: pow on int64 is not supported by the CUDA backend yet");
  if (skip_without_nvrtc()) return;
  const cuda::Source broken{"broken", "extern \"C\" __global__ void broken() { not_declared(); }"};
  expect_error<BackendError>([&] { cuda::compile_cubin(broken, 90); }, "cuda: broken: NVRTC");
  expect_error<BackendError>([&] { cuda::compile_cubin(broken, 90); }, "not_declared");
  EXPECT_FALSE(cuda::nvrtc_version().empty());
}

// A small kernel of its own name, so no other test has put its cubin in the memory cache.
codegen::KernelIR probe_kernel(const std::string& name) {
  codegen::KernelIR k = eager_kernels().front().kernel;
  k.name = name;
  return k;
}

TEST(CudaBackend, BinaryIsACubinFromTheCachesAfterTheFirstTime) {
  if (skip_without_nvrtc()) return;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ember-cubins-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  codegen::KernelCacheOptions options;
  options.dir = dir.string();
  const codegen::KernelIR k = probe_kernel("cubin_cache_probe");
  const int64_t before = cuda::cubin_compile_count();
  const std::string first = codegen::cuda_backend().binary(k, options);
  EXPECT_EQ(first.substr(0, 4), std::string("\x7f"
                                            "ELF"));
  EXPECT_EQ(cuda::cubin_compile_count(), before + 1);
  EXPECT_EQ(codegen::cuda_backend().binary(k, options), first);  // the memory cache
  EXPECT_EQ(cuda::cubin_compile_count(), before + 1);
  // Another architecture is another cubin; both are on disk.
  const std::string sm80 = cuda::cubin(k, 80, options);
  EXPECT_EQ(cuda::cubin_compile_count(), before + 2);
  EXPECT_NE(sm80, first);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    files += entry.path().filename().string().rfind("cuda-", 0) == 0 &&
             entry.path().extension() == ".cubin";
  EXPECT_EQ(files, 2);
  std::filesystem::remove_all(dir);
}

TEST(CudaBackend, WithoutADeviceLoadingAndLaunchingSaySo) {
  if (ember::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  if (skip_without_nvrtc()) return;
  codegen::KernelCacheOptions options;
  options.disk = false;
  const codegen::KernelIR k = probe_kernel("no_device_probe");
  expect_error<BackendError>([&] { codegen::cuda_backend().compile(k, options); },
                             "cuda: no_device_probe: no CUDA device: ");
  EXPECT_EQ(codegen::cuda_backend().unsupported(k), std::nullopt);
}

// Tensors on the device: copies both ways (views included), printing, and clear errors for
// what has no CUDA kernel yet. Without a device, the copies say so.
TEST(CudaDevice, TensorsCopyToTheDeviceAndBack) {
  const Tensor x = arange(12, kFloat32).reshape({3, 4});
  EXPECT_EQ(x.cpu().array().data(), x.array().data());  // already there: the same tensor
  if (!ember::cuda::is_available()) {
    const char* required = std::getenv("EMBER_REQUIRE_GPU");
    if (required && std::string(required) == "1")
      FAIL() << "EMBER_REQUIRE_GPU=1 but " << ember::cuda::unavailable_reason();
    expect_error<BackendError>([&] { x.cuda(); }, "cuda: no CUDA device: ");
    expect_error<BackendError>([&] { x.to(Device(kCUDA, 0)); }, "no CUDA device");
    expect_error<BackendError>([] { Array::empty({2}, kFloat32, Device(kCUDA, 0)); },
                               "no CUDA device");
    GTEST_SKIP() << "no CUDA device: " << ember::cuda::unavailable_reason();
  }
  const Tensor d = x.t().cuda();  // a transposed view, copied contiguous
  EXPECT_TRUE(d.device().is_cuda());
  EXPECT_TRUE(allclose(d.cpu(), x.t()));
  EXPECT_TRUE(allclose(d.slice(1, 1, 3).cpu(), x.t().slice(1, 1, 3)));  // a view on the device
  EXPECT_NE(to_string(d).find("device='cuda:0'"), std::string::npos) << to_string(d);
  expect_error<Error>([&] { (void)(d + d); }, "operand 0 is on cuda:0");
  expect_error<Error>([&] { d.array().data(); }, "was read by CPU code");
  expect_error<Error>([&] { ones({2}, kFloat32).requires_grad_(true).cuda(); }, "requires grad");
}

TEST(CudaDevice, WithoutADriverNothingElseChanges) {
  // Either a device is there, or is_available() says why not; CPU work runs either way.
  if (!ember::cuda::is_available()) {
    EXPECT_EQ(ember::cuda::device_count(), 0);
    EXPECT_FALSE(ember::cuda::unavailable_reason().empty());
    expect_error<BackendError>([] { ember::cuda::device_name(0); }, "device 0 does not exist");
  } else {
    EXPECT_GT(ember::cuda::compute_capability(0), 0);
  }
  EXPECT_TRUE(allclose(ones({2}) + ones({2}), full({2}, 2.0)));
}

}  // namespace
}  // namespace ember::testing
