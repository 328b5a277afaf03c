// export_model and the standalone runtime in one process: exported models run through the C ABI
// equal eager Ember across batch sizes, guards and bad inputs are errors with messages, what
// cannot be exported says so, and the loader survives a bounded mutation fuzz.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "codegen/model_file.h"
#include "ember/aot_runtime.h"
#include "tests/aot/models.h"
#include "tests/test_util.h"

namespace ember {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("ember-aot-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol) {
  ASSERT_EQ(actual.sizes().vec(), expected.sizes().vec());
  const double diff = (actual.to(kFloat64) - expected.to(kFloat64)).abs().max().item<double>();
  EXPECT_LE(diff, tol);
}

struct Model {
  ember_model* m = nullptr;
  explicit Model(const std::string& path) {
    EXPECT_EQ(ember_model_load(path.c_str(), &m), EMBER_OK) << ember_last_error();
  }
  ~Model() { ember_model_free(m); }
  // Runs on contiguous float tensors; the outputs as tensors (copies), or the error code.
  int run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, int n_out = 1) {
    std::vector<std::vector<int64_t>> shapes;
    std::vector<Tensor> kept;
    std::vector<ember_tensor> in;
    for (const Tensor& t : inputs) {
      kept.push_back(t.contiguous());
      shapes.push_back(t.sizes().vec().vec());
    }
    for (size_t i = 0; i < kept.size(); ++i)
      in.push_back({kept[i].dtype() == kFloat32 ? EMBER_F32 : EMBER_I64, int32_t(kept[i].dim()),
                    shapes[i].data(), kept[i].data_ptr()});
    std::vector<ember_tensor> out(static_cast<size_t>(n_out));
    const int rc = ember_model_run(m, in.data(), int(in.size()), out.data(), n_out);
    if (rc != EMBER_OK) return rc;
    outputs.clear();
    for (ember_tensor& t : out) {
      Tensor o = empty(Shape(std::vector<int64_t>(t.shape, t.shape + t.ndim)), kFloat32);
      std::memcpy(o.data_ptr(), t.data, size_t(o.numel()) * 4);
      outputs.push_back(o);
      ember_tensor_free(&t);
    }
    return rc;
  }
};

TEST(Export, AnMlpAndAnAttentionBlockEqualEagerAtThreeBatchSizes) {
  const aot_test::Mlp mlp;
  const aot_test::Attention attention;
  ExportOptions options;
  options.dynamic_dims = {{0, 0}};
  const std::string mlp_path = temp_path("mlp.ember"), att_path = temp_path("attention.ember");
  export_model(mlp, {randn({6, aot_test::Mlp::kIn})}, mlp_path, options);
  export_model(attention, {randn({6, aot_test::Attention::kT, aot_test::Attention::kC})}, att_path,
               options);
  Model m(mlp_path), a(att_path);
  ASSERT_NE(m.m, nullptr);
  ASSERT_NE(a.m, nullptr);
  for (int64_t batch : {2, 9, 33}) {
    std::vector<Tensor> out;
    const Tensor x = randn({batch, aot_test::Mlp::kIn});
    ASSERT_EQ(m.run({x}, out), EMBER_OK) << ember_last_error();
    expect_close(out[0], mlp(x), 1e-5);
    const Tensor y = randn({batch, aot_test::Attention::kT, aot_test::Attention::kC});
    ASSERT_EQ(a.run({y}, out), EMBER_OK) << ember_last_error();
    expect_close(out[0], attention(y), 1e-5);
  }
}

TEST(Export, TheFileHoldsMachineCodeForEveryKernelAndTheWeights) {
  const aot_test::Mlp mlp;
  const std::string path = temp_path("mlp-sections.ember");
  export_model(mlp, {randn({4, aot_test::Mlp::kIn})}, path);
  const codegen::ModelFile file = codegen::ModelFile::parse(read_bytes(path));
  EXPECT_EQ(file.name, "model");
  EXPECT_EQ(file.input_names, std::vector<std::string>{"input0"});
  EXPECT_EQ(file.weights.size(), 4u);  // w1, b1, w2, b2
  EXPECT_GE(file.kernels.size(), 1u);
  EXPECT_EQ(file.code.substr(0, 4),
            "\x7f"
            "ELF");
  EXPECT_NE(file.graph.find("matmul"), std::string::npos) << file.graph;
  // Static: another batch size is an error naming the dim.
  Model m(path);
  std::vector<Tensor> out;
  EXPECT_EQ(m.run({randn({5, aot_test::Mlp::kIn})}, out), EMBER_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ember_last_error()).find("dim 0 is fixed at export"), std::string::npos)
      << ember_last_error();
  const Tensor x = randn({4, aot_test::Mlp::kIn});
  ASSERT_EQ(m.run({x}, out), EMBER_OK) << ember_last_error();
  expect_close(out[0], mlp(x), 1e-5);
}

TEST(Export, SeveralOutputsAndInputsKeepTheirOrder) {
  const Tensor w = randn({3, 3});
  auto fn = [&](const Tensor& a, const Tensor& b) {
    return std::make_tuple(matmul(a, w) + b, (a * b).sum(-1));
  };
  ExportOptions options;
  options.dynamic_dims = {{0, 0}, {1, 0}};
  options.input_names = {"a", "b"};
  const std::string path = temp_path("two.ember");
  export_model(fn, {randn({4, 3}), randn({4, 3})}, path, options);
  Model m(path);
  EXPECT_STREQ(ember_model_input_name(m.m, 1), "b");
  const Tensor a = randn({7, 3}), b = randn({7, 3});
  std::vector<Tensor> out;
  ASSERT_EQ(m.run({a, b}, out, 2), EMBER_OK) << ember_last_error();
  expect_close(out[0], matmul(a, w) + b, 1e-5);
  expect_close(out[1], (a * b).sum(-1), 1e-5);
  // The two batch dims share their size (equal in the example): unequal ones are an error.
  EXPECT_EQ(m.run({randn({7, 3}), randn({5, 3})}, out, 2), EMBER_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ember_last_error()).find("must be"), std::string::npos)
      << ember_last_error();
}

TEST(Export, AGuardTheInputsFailIsAnErrorNotAWrongResult) {
  auto fn = [](const Tensor& x) {
    if (bool(x.sum() > 0)) return x * 2;
    return x - 1;
  };
  const std::string path = temp_path("guarded.ember");
  export_model(fn, {ones({4})}, path);
  Model m(path);
  std::vector<Tensor> out;
  ASSERT_EQ(m.run({full({4}, 3.0)}, out), EMBER_OK) << ember_last_error();
  expect_close(out[0], full({4}, 6.0), 0);
  EXPECT_EQ(m.run({full({4}, -3.0)}, out), EMBER_ERROR_GUARD);
  EXPECT_NE(std::string(ember_last_error()).find("not exported for"), std::string::npos)
      << ember_last_error();
}

TEST(Export, WhatCannotBeExportedSaysWhy) {
  const std::string path = temp_path("refused.ember");
  auto id = [](const Tensor& x) { return x + 1; };
  testing::expect_error<ValueError>([&] { export_model(id, {int64_t(3)}, path); },
                                    "argument 0 is a number");
  ExportOptions bad_dim;
  bad_dim.dynamic_dims = {{0, 2}};
  testing::expect_error<IndexError>(
      [&] {
        export_model(id, {randn({4, 3})}, path, bad_dim);
      },
      "input 0 has no dim 2");
  ExportOptions one;
  one.dynamic_dims = {{0, 0}};
  testing::expect_error<ValueError>(
      [&] {
        export_model(id, {randn({1, 3})}, path, one);
      },
      "example size is 1");
  auto noisy = [](const Tensor& x) { return x + randn({3}); };
  testing::expect_error<ValueError>([&] { export_model(noisy, {randn({3})}, path); },
                                    "draws random numbers");
  EXPECT_FALSE(fs::exists(path));
}

// Mutations of a valid file: raw ones (the checksums catch them) and ones behind refreshed
// checksums inside the meta, graph, plan and weights sections (the fields' checks catch them).
// Every load either fails with EMBER_ERROR_FILE and a message, or succeeds (a mutation the
// format tolerates: the graph's text, a weight's value); none crashes (the suite's sanitizer
// slice runs this under ASan). The code section is not mutated behind its checksum: a valid
// checksum over bad machine code is a bad file by construction.
TEST(Export, TheLoaderSurvivesAMutationFuzz) {
  const aot_test::Mlp mlp;
  const std::string path = temp_path("fuzz-seed.ember"), mutated = temp_path("fuzz.ember");
  export_model(mlp, {randn({4, aot_test::Mlp::kIn})}, path);
  const std::string seed = read_bytes(path);
  // The sections other than code, from the table (kind, reserved, offset, size, checksum).
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t i = 0; i < 5; ++i) {
    uint32_t kind;
    uint64_t offset, size;
    std::memcpy(&kind, seed.data() + 24 + i * 32, 4);
    std::memcpy(&offset, seed.data() + 24 + i * 32 + 8, 8);
    std::memcpy(&size, seed.data() + 24 + i * 32 + 16, 8);
    if (kind != 5 && size > 0) spans.push_back({size_t(offset), size_t(size)});
  }
  ASSERT_EQ(spans.size(), 4u);
  std::mt19937_64 rng(42);
  int loaded = 0, refused = 0;
  for (int iteration = 0; iteration < 600; ++iteration) {
    std::string bytes = seed;
    const bool behind_checksums = iteration % 2 == 1;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      size_t at = size_t(rng() % bytes.size());
      if (behind_checksums) {
        const auto& [offset, size] = spans[rng() % spans.size()];
        at = offset + size_t(rng() % size);
      }
      switch (rng() % 4) {
        case 0:
          bytes[at] = char(bytes[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          bytes[at] = char(rng());
          break;
        case 2:
          bytes[at] = char(0xff);
          break;
        default:
          if (!behind_checksums) bytes.resize(at);
          break;
      }
    }
    if (behind_checksums) codegen::ModelFile::refresh_checksums(bytes);
    write_bytes(mutated, bytes);
    ember_model* m = nullptr;
    const int rc = ember_model_load(mutated.c_str(), &m);
    if (rc == EMBER_OK) {
      ++loaded;
      ember_model_free(m);
    } else {
      ++refused;
      EXPECT_EQ(rc, EMBER_ERROR_FILE) << ember_last_error();
      EXPECT_GT(std::strlen(ember_last_error()), 10u);
    }
  }
  EXPECT_GT(refused, 300);
  std::printf("mutation fuzz: %d loads refused, %d accepted\n", refused, loaded);
}

}  // namespace
}  // namespace ember
