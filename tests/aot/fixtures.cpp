// Writes what the C test and the ember-run test read: mlp.ember and attention.ember (batch
// dynamic), and per batch size an input and eager Ember's output, as raw float32 (for the C
// test) and as .npy (for ember-run). With --compare A.npy B.npy it compares two .npy files
// instead (exit 1 when their shapes differ or values differ by more than 1e-4).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "ember/ember.h"
#include "tests/aot/models.h"

using namespace ember;

namespace {

void write_raw(const Tensor& t, const std::string& path) {
  const Tensor c = t.contiguous();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(c.data_ptr()), std::streamsize(c.numel() * 4));
}

int compare(const std::string& a_path, const std::string& b_path) {
  const Tensor a = load_npy(a_path), b = load_npy(b_path);
  if (a.sizes().vec() != b.sizes().vec()) {
    std::fprintf(stderr, "shapes differ\n");
    return 1;
  }
  const double diff = (a.to(kFloat64) - b.to(kFloat64)).abs().max().item<double>();
  std::printf("max difference %g\n", diff);
  return diff <= 1e-4 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--compare") return compare(argv[2], argv[3]);
  if (argc != 2) {
    std::fprintf(stderr, "usage: aot_fixtures DIR | --compare A.npy B.npy\n");
    return 2;
  }
  const std::string dir = argv[1];
  ExportOptions options;
  options.dynamic_dims = {{0, 0}};
  const aot_test::Mlp mlp;
  const aot_test::Attention attention;
  options.name = "mlp";
  export_model(mlp, {randn({5, aot_test::Mlp::kIn})}, dir + "/mlp.ember", options);
  options.name = "attention";
  export_model(attention, {randn({5, aot_test::Attention::kT, aot_test::Attention::kC})},
               dir + "/attention.ember", options);
  manual_seed(3);
  for (int64_t batch : {3, 8, 17}) {
    const std::string b = std::to_string(batch);
    const Tensor x = randn({batch, aot_test::Mlp::kIn});
    write_raw(x, dir + "/mlp_in_" + b + ".bin");
    write_raw(mlp(x), dir + "/mlp_out_" + b + ".bin");
    save_npy(x, dir + "/mlp_in_" + b + ".npy");
    save_npy(mlp(x), dir + "/mlp_out_" + b + ".npy");
    const Tensor y = randn({batch, aot_test::Attention::kT, aot_test::Attention::kC});
    write_raw(y, dir + "/attention_in_" + b + ".bin");
    write_raw(attention(y), dir + "/attention_out_" + b + ".bin");
  }
  std::printf("aot fixtures written to %s\n", dir.c_str());
  return 0;
}
