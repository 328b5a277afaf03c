// safetensors: round trips, files written by hand with every kind of damage, module checkpoints,
// and (when Python's safetensors package is installed) files the other implementation reads.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ember/ember.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ember-st-" + name)).string();
}

// A file of the format: length, header, data.
void write_file(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char(n >> (8 * i)));
  out << header << data;
}

std::string message_of(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "loaded";
}

TEST(Safetensors, RoundTripsEveryDtypeShapeAndLayout) {
  manual_seed(1);
  std::map<std::string, Tensor> tensors = {
      {"f32", randn({3, 4})},
      {"f64", randn({2}, kFloat64)},
      {"f16", randn({5}).to(kFloat16)},
      {"bf16", randn({2, 2}).to(kBFloat16)},
      {"i64", arange(6, kInt64).reshape({2, 3})},
      {"i32", tensor({-1, 7}, kInt32)},
      {"u8", tensor({0, 255}, kUInt8)},
      {"i8", tensor({-128, 5}, kInt8)},
      {"bool", tensor({true, false, true}, kBool)},
      {"scalar", tensor(3.5)},
      {"empty", zeros({0, 3})},
      {"strided", randn({4, 3}).t()},
      {"name with \"quotes\"", ones({1})},
  };
  const std::string path = temp_path("roundtrip.safetensors");
  save_safetensors(tensors, path, {{"format", "pt"}});
  std::map<std::string, std::string> meta;
  const auto back = load_safetensors(path, &meta);
  EXPECT_EQ(meta["format"], "pt");
  ASSERT_EQ(back.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_EQ(back.at(name).dtype(), t.dtype()) << name;
    EXPECT_TRUE(equal(back.at(name), t)) << name;
  }
  // The data starts 8-byte aligned and the header is JSON the format's readers take.
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(in.get())) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  std::filesystem::remove(path);
}

TEST(Safetensors, RefusesDamagedFilesBeforeReadingData) {
  const std::string path = temp_path("bad.safetensors");
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  write_file(path, good, std::string(8, '\0'));
  EXPECT_EQ(message_of(path), "loaded");
  write_file(path, good, std::string(4, '\0'));  // data too short for the offsets
  EXPECT_NE(message_of(path).find("spans bytes [0, 8)"), std::string::npos) << message_of(path);
  write_file(path, good, std::string(12, '\0'));  // bytes nobody owns
  EXPECT_NE(message_of(path).find("belong to no tensor"), std::string::npos);
  write_file(path, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, 0));
  EXPECT_NE(message_of(path).find("for 12 bytes"), std::string::npos) << message_of(path);
  write_file(path,
             R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
             std::string(12, '\0'));
  EXPECT_NE(message_of(path).find("overlap or leave a hole"), std::string::npos);
  write_file(path, R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", std::string(8, 0));
  EXPECT_NE(message_of(path).find("'C64'"), std::string::npos);
  write_file(path, R"({"a":{"dtype":"F32","shape":[2]}})", "");
  EXPECT_NE(message_of(path).find("lacks dtype, shape or data_offsets"), std::string::npos);
  write_file(path, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "");
  EXPECT_NE(message_of(path).find("malformed header"), std::string::npos);
  write_file(path, R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "");
  EXPECT_NE(message_of(path).find("non-negative integer"), std::string::npos);
  {  // a header length larger than the file
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(i == 2 ? char(1) : char(0));
    out << "{}";
  }
  EXPECT_NE(message_of(path).find("does not fit the file"), std::string::npos);
  {
    std::ofstream out(path, std::ios::binary);
    out << "abc";
  }
  EXPECT_NE(message_of(path).find("too short"), std::string::npos);
  EXPECT_NE(message_of(temp_path("missing")).find("cannot open"), std::string::npos);
  std::filesystem::remove(path);
}

TEST(Npy, RoundTripsAndRefusesWhatItCannotRead) {
  manual_seed(5);
  const std::string path = temp_path("t.npy");
  for (const Tensor& t : {randn({3, 4}), randn({5}, kFloat64), randn({2, 2}).to(kFloat16),
                          arange(6, kInt64).reshape({1, 2, 3}), tensor({true, false}, kBool),
                          tensor(7, kInt32), randn({4, 3}).t()}) {
    save_npy(t, path);
    const Tensor back = load_npy(path);
    EXPECT_EQ(back.dtype(), t.dtype());
    EXPECT_TRUE(equal(back, t)) << shape_str(t.sizes());
    EXPECT_EQ(std::filesystem::file_size(path) % 64, uint64_t(t.numel() * t.element_size()) % 64);
  }
  EXPECT_THROW(save_npy(randn({2}).to(kBFloat16), path), DTypeError);
  {
    std::ofstream out(path, std::ios::binary);
    out << "not a numpy file";
  }
  EXPECT_THROW(load_npy(path), ValueError);
  // A Fortran-order file (NumPy writes one for a transposed array) is read in C order.
  {
    std::ofstream out(path, std::ios::binary);
    std::string header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    out.write("\x93NUMPY\x01\x00", 8);
    out.put(char(header.size()));
    out.put(char(0));
    out << header;
    const float column_major[] = {0, 3, 1, 4, 2, 5};  // [[0, 1, 2], [3, 4, 5]]
    out.write(reinterpret_cast<const char*>(column_major), sizeof column_major);
  }
  expect_values(load_npy(path), {2, 3}, {0, 1, 2, 3, 4, 5}, 0);
  std::filesystem::remove(path);
}

TEST(Npy, InteroperatesWithNumPy) {
  if (std::system("python3 -c 'import numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "NumPy is not installed (pip install numpy) - the interop check is skipped";
  const std::string ours = temp_path("ours.npy"), theirs = temp_path("theirs.npy");
  save_npy(arange(6, kFloat32).reshape({2, 3}), ours);
  const std::string script =
      "python3 -c \"import numpy as np; a = np.load('" + ours +
      "'); assert a.dtype == np.float32 and (a == np.arange(6).reshape(2, 3)).all(); "
      "np.save('" +
      theirs + "', np.array([[1, -2], [3, 4]], dtype=np.int64).T)\"";
  ASSERT_EQ(std::system(script.c_str()), 0) << script;
  expect_values(load_npy(theirs), {2, 2}, {1, 3, -2, 4}, 0);
  std::filesystem::remove(ours);
  std::filesystem::remove(theirs);
}

struct TinyImpl : nn::Module {
  TinyImpl() : Module("Tiny") {
    fc = register_module("fc", nn::Linear(3, 2));
    register_buffer("steps", tensor({7}, kInt64));
  }
  nn::Linear fc{nullptr};
};
EMBER_MODULE(Tiny);

TEST(Checkpoint, ModulesSaveAndLoadByName) {
  manual_seed(2);
  Tiny a, b;
  ASSERT_FALSE(equal(a->fc->weight, b->fc->weight));
  const std::string path = temp_path("module.safetensors");
  save(*a, path);
  load(*b, path);
  EXPECT_TRUE(equal(a->fc->weight, b->fc->weight));
  EXPECT_TRUE(equal(a->fc->bias, b->fc->bias));
  EXPECT_TRUE(b->fc->weight.requires_grad());
  EXPECT_EQ(load_safetensors(path).count("steps"), 1u);
  // A file that does not match the module.
  save_safetensors({{"fc.weight", zeros({2, 3})}}, path);
  EXPECT_THROW(load(*b, path), ValueError);
  save_safetensors({{"fc.weight", zeros({3, 3})}, {"fc.bias", zeros({2})}, {"steps", ones({1})}},
                   path);
  EXPECT_THROW(load(*b, path), ValueError);
  std::filesystem::remove(path);
}

// Python's safetensors reads what Ember writes, and Ember reads what it writes.
TEST(Checkpoint, InteroperatesWithPythonSafetensors) {
  if (std::system("python3 -c 'import safetensors.numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Python's safetensors package is not installed (pip install safetensors "
                    "numpy) - the interop check is skipped";
  const std::string ours = temp_path("ours.safetensors"), theirs = temp_path("theirs.safetensors");
  save_safetensors({{"w", arange(6, kFloat32).reshape({2, 3})}, {"i", tensor({4, 5}, kInt64)}},
                   ours);
  const std::string script =
      "python3 -c \"import numpy as np, safetensors.numpy as st; d = st.load_file('" + ours +
      "'); assert (d['w'] == np.arange(6, dtype=np.float32).reshape(2, 3)).all(); "
      "assert list(d['i']) == [4, 5]; st.save_file({'x': np.array([[1.5, -2]], "
      "dtype=np.float64), 'b': np.array([1, 0], dtype=np.bool_)}, '" +
      theirs + "')\"";
  ASSERT_EQ(std::system(script.c_str()), 0) << script;
  const auto back = load_safetensors(theirs);
  expect_values(back.at("x"), {1, 2}, {1.5, -2}, 0);
  EXPECT_EQ(back.at("b").dtype(), kBool);
  std::filesystem::remove(ours);
  std::filesystem::remove(theirs);
}

}  // namespace
}  // namespace ember::testing
