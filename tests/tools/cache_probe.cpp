// A separate process for the disk-cache tests: compiles and runs one fixed function (several
// kernels: a chain, a row kernel, a matmul epilogue) and prints how many kernels LLVM compiled,
// how many came from the disk cache, and a checksum of the result.
#include <cstdio>

#include "ember/codegen/llvm_backend.h"
#include "ember/ember.h"

int main() {
  using namespace ember;
  const Tensor w = arange(0, 48, 1, kFloat32).reshape({8, 6}) / 40.0;
  auto f = compile([&](const Tensor& x) {
    const Tensor h = tanh(matmul(x, w) + 0.5);
    return softmax(h * 3, -1) + layer_norm(h, {6}, Tensor(), Tensor(), 1e-5) * 0.25;
  });
  const Tensor x = arange(0, 40, 1, kFloat32).reshape({5, 8}) / 17.0 - 1.0;
  const Tensor y = f(x);
  codegen::wait_for_background_compiles();  // the optimized tiers, written to the disk cache
  double checksum = 0;
  for (double v : y.values_as_double()) checksum = checksum * 1.0001 + v;
  std::printf("compiles=%lld disk_hits=%lld checksum=%.12g\n",
              static_cast<long long>(codegen::cpu_compile_count()),
              static_cast<long long>(codegen::cpu_disk_cache_hits()), checksum);
  return 0;
}
