// Bad input a user can hand the public API: each expects a typed ember::Error naming the op (or
// PyTorch's result where PyTorch has one), and nothing crashes, hangs or allocates without bound.
// The rows of issue 17's table are here with their reproducers.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <fstream>

#include "ember/ember.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

// ---- sizes ----

TEST(HostileSizes, OverflowingShapesAreErrorsNotHeapOverflows) {
  expect_error<ValueError>([] { zeros({1LL << 62}); }, "needs more bytes than int64 can count");
  expect_error<ValueError>([] { zeros({INT64_MAX}); }, "empty");
  expect_error<ValueError>(
      [] {
        zeros({1LL << 40, 1LL << 40});
      },
      "has more elements than int64 can count");
  expect_error<ValueError>([] { ones({3037000500, 3037000500}, kUInt8); }, "int64");
  expect_error<ValueError>([] { randn({1LL << 32, 1LL << 32}); }, "randn");
  expect_error<ValueError>([] { zeros({2, -1}); }, "negative size -1 in dimension 1");
  // A zero size makes any other size harmless.
  EXPECT_EQ(zeros({0, 1LL << 40, 1LL << 40}).numel(), 0);
  // No machine has 2^61 bytes: a typed error, not std::bad_alloc.
  EXPECT_THROW(empty({1LL << 61}, kUInt8), OutOfMemoryError);
  // Views: expand to an overflowing shape, reshape to one.
  expect_error<ValueError>([] { zeros({1, 1}).expand({1LL << 40, 1LL << 40}); }, "int64");
  EXPECT_THROW(zeros({4}).reshape({1LL << 62, 4}), Error);
}

TEST(HostileSizes, ArangeAndSliceAtTheInt64Limits) {
  const Tensor a = arange(INT64_MAX - 2, INT64_MAX);
  ASSERT_EQ(a.numel(), 2);
  EXPECT_EQ(a.data_ptr<int64_t>()[0], INT64_MAX - 2);
  EXPECT_EQ(a.data_ptr<int64_t>()[1], INT64_MAX - 1);
  EXPECT_EQ(to_string(a), "tensor([9223372036854775805, 9223372036854775806])");
  const Tensor b = arange(INT64_MIN, INT64_MIN + 6, 3);
  ASSERT_EQ(b.numel(), 2);
  EXPECT_EQ(b.data_ptr<int64_t>()[1], INT64_MIN + 3);
  expect_error<ValueError>([] { arange(INT64_MIN, INT64_MAX, 1); }, "arange");
  expect_error<ValueError>([] { arange(0.0, 1e30, 1.0); }, "more than int64 can count");
  expect_error<ValueError>([] { arange(0, 10, 0); }, "step must be nonzero");
  const Tensor s = arange(4).slice(0, 0, 4, INT64_MAX);
  ASSERT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item<int64_t>(), 0);
  EXPECT_EQ(arange(10).slice(0, INT64_MIN, INT64_MAX, 4).numel(), 3);
}

TEST(HostileSizes, FillValuesMustFitTheDtype) {
  expect_error<ValueError>([] { full({2}, 300, kUInt8); },
                           "value 300 cannot be converted to type uint8 without overflow");
  expect_error<ValueError>([] { full({2}, NAN, kInt32); }, "cannot be converted to type int32");
  expect_error<ValueError>([] { full({2}, -1, kUInt8); }, "uint8");
  expect_error<ValueError>([] { full({2}, 1e6, kFloat16); }, "float16");
  expect_error<ValueError>([] { zeros({2}, kInt8).fill_(128); }, "fill_");
  EXPECT_EQ(full({1}, 255, kUInt8).item<int64_t>(), 255);
  EXPECT_TRUE(std::isinf(full({1}, INFINITY, kFloat16).item<double>()));
  EXPECT_EQ(full({1}, INT64_MAX - 2).item<int64_t>(), INT64_MAX - 2);
  Tensor t = zeros({2}, kInt64);
  t.fill_(INT64_MAX - 2);  // exact beyond 2^53
  EXPECT_EQ(t.data_ptr<int64_t>()[1], INT64_MAX - 2);
  EXPECT_EQ(full({1}, 2.0, kBool).item<bool>(), true);
}

// ---- dims and indices ----

TEST(HostileIndices, OutOfRangeDimsAndIndicesNameTheOp) {
  const Tensor x = randn({2, 3});
  expect_error<IndexError>([&] { sum(x, 2); }, "sum");
  expect_error<IndexError>([&] { x.transpose(0, -3); }, "transpose");
  expect_error<IndexError>([&] { x.select(1, 3); }, "select");
  expect_error<IndexError>([&] { softmax(x, 5); }, "softmax");
  expect_error<IndexError>([&] { x.unsqueeze(4); }, "unsqueeze");
  // Negative positions: errors for index_select, gather, embedding and index_add, as PyTorch.
  const Tensor minus_one = tensor({-1}, kInt64);
  expect_error<IndexError>([&] { index_select(x, 0, minus_one); },
                           "index_select: index -1 is out of bounds for dimension 0 with size 2");
  expect_error<IndexError>([&] { gather(x, 1, minus_one.reshape({1, 1})); }, "gather: index -1");
  expect_error<IndexError>([&] { embedding(x, minus_one); }, "embedding: index -1");
  expect_error<IndexError>([&] { index_add(x, 0, minus_one, ones({1, 3})); }, "index_add");
  expect_error<IndexError>([&] { index_select(x, 0, tensor({INT64_MAX}, kInt64)); },
                           "out of bounds");
  // ... while Tensor::index counts from the end, as in PyTorch.
  EXPECT_EQ(x.index({minus_one}).sizes().vec(), (Shape{1, 3}));
}

TEST(HostileIndices, ViewsTheStridesCannotExpress) {
  const Tensor x = randn({2, 3});
  expect_error<Error>([&] { x.t().view({6}); }, "view");
  EXPECT_EQ(x.t().reshape({6}).numel(), 6);  // reshape copies instead
  expect_error<Error>([&] { x.view({4, 2}); }, "view");
  expect_error<Error>([&] { x.view({-1, -1}); }, "view");
}

TEST(HostileIndices, EmptyListsAndMismatches) {
  expect_error<ValueError>([] { cat({}); }, "cat");
  expect_error<ValueError>([] { stack({}); }, "stack");
  expect_error<ShapeError>([] { cat({zeros({2, 3}), zeros({2, 4})}, 0); }, "cat");
  expect_error<ShapeError>([] { matmul(zeros({2, 3}), zeros({4, 2})); }, "matmul");
  expect_error<ShapeError>([] { zeros({2, 3}) + zeros({4}); }, "cannot be broadcast");
  expect_error<Error>([] { zeros({2}, TensorOptions().device(Device(DeviceType::CUDA, 0))); },
                      "zeros");
  expect_error<DTypeError>([] { index_select(zeros({2}), 0, tensor({0.0})); }, "index_select");
}

// ---- numbers ----

TEST(HostileNumbers, PyTorchsResultsForEdgeValues) {
  // Integer true division by zero is a float division, as in PyTorch.
  const Tensor q = tensor({1, 0}, kInt64) / tensor({0, 0}, kInt64);
  EXPECT_TRUE(std::isinf(q.data_ptr<float>()[0]));
  EXPECT_TRUE(std::isnan(q.data_ptr<float>()[1]));
  // Integer to a negative scalar power: PyTorch's error.
  expect_error<ValueError>(
      [] {
        pow(tensor({2, 3}, kInt64), -1);
      },
      "integers to negative integer powers are not allowed");
  EXPECT_EQ(pow(tensor({2, 3}, kInt64), 2).data_ptr<int64_t>()[1], 9);
  // NaN through argmax and max: the NaN wins, as in PyTorch.
  const Tensor n = tensor({1.0f, NAN, 3.0f});
  EXPECT_EQ(argmax(n).item<int64_t>(), 1);
  EXPECT_TRUE(std::isnan(max(n).item<double>()));
  EXPECT_TRUE(std::isnan(std::get<0>(max(n, 0)).item<double>()));
  expect_error<Error>([&] { n.item<double>(); }, "item");
  expect_error<Error>([] { argmax(zeros({0})); }, "argmax");
}

TEST(HostileNumbers, GeluTanhDoesNotCancelWhereItIsNearZero) {
  // 0.5 x (1 + tanh(u)) cancels to ~1e-6 absolute where the value is ~1e-9; the op is exact to
  // a few ulps relative there.
  std::vector<double> xs;
  for (double v = -9.0; v <= -2.0; v += 0.25) xs.push_back(v);
  const Tensor x = from_values({int64_t(xs.size())}, xs, kFloat32);
  const Tensor y = gelu(x, "tanh");
  const std::vector<double> got = values_of(y);
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = double(float(xs[i]));
    const double u = std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v);
    const double want = v / (1.0 + std::exp(-2.0 * u));
    EXPECT_LE(std::fabs(got[i] - want), 1e-5 * std::fabs(want) + 1e-37) << "x = " << v;
  }
  // The compiled kernel (decomposed, fused) agrees.
  auto f = compile([](const Tensor& t) { return gelu(t, "tanh") * 1.0; });
  const std::vector<double> compiled = values_of(f(x));
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_LE(std::fabs(compiled[i] - got[i]), 1e-5 * std::fabs(got[i]) + 1e-37) << xs[i];
}

// ---- writes ----

TEST(HostileWrites, OverlappingWritesArePyTorchsErrors) {
  Tensor e = zeros({1, 3}).expand({4, 3});
  expect_error<Error>(
      [&] {
        e.add_(ones({4, 3}));
      },
      "more than one element of the written-to tensor refers to a single memory "
      "location");
  expect_error<Error>([&] { e.fill_(1); }, "single memory location");
  Tensor a = arange(5.0);
  expect_error<Error>([&] { a.slice(0, 1).copy_(a.slice(0, 0, -1)); },
                      "some elements of the input tensor and the written-to tensor refer to a "
                      "single memory location");
  EXPECT_EQ(values_of(a), (std::vector<double>{0, 1, 2, 3, 4}));  // untouched
  // Allowed: the same view (a no-op), disjoint parts of one tensor, a size-1 broadcast dim.
  a.copy_(a);
  a.slice(0, 0, 2).copy_(a.slice(0, 3, 5));
  EXPECT_EQ(values_of(a), (std::vector<double>{3, 4, 2, 3, 4}));
  Tensor b = zeros({1, 3});
  b.add_(ones({1, 3}));
  EXPECT_EQ(values_of(b), (std::vector<double>{1, 1, 1}));
  // In-place arithmetic reading itself through another view is computed out of place first.
  Tensor c = arange(4.0);
  c.slice(0, 1).add_(c.slice(0, 0, 3));
  EXPECT_EQ(values_of(c), (std::vector<double>{0, 1, 3, 5}));
}

// ---- spatial ops ----

TEST(HostileSpatial, WindowsThatDoNotFit) {
  const Tensor x = randn({1, 1, 3, 3});
  expect_error<ShapeError>([&] { conv2d(x, randn({1, 1, 5, 5})); }, "conv2d");
  expect_error<ValueError>([&] { conv2d(x, randn({1, 1, 2, 2}), {}, 0); }, "stride");
  expect_error<ValueError>([&] { conv2d(x, randn({1, 1, 2, 2}), {}, 1, -1); }, "padding");
  expect_error<ShapeError>(
      [&] {
        conv2d(x, randn({1, 1, 2, 2}), {}, 1, 0, 1, INT64_MAX);
      },
      "groups");
  expect_error<ValueError>(
      [&] {
        conv2d(x, randn({1, 1, 2, 2}), {}, 1, INT64_MAX / 2);
      },
      "overflow");
  expect_error<Error>([&] { max_pool2d(x, {5, 5}); }, "max_pool2d");
  expect_error<ValueError>([&] { max_pool2d(x, {2, 2}, {0, 0}); }, "max_pool2d");
  expect_error<Error>([&] { avg_pool2d(x, {0, 2}); }, "avg_pool2d");
  expect_error<ShapeError>([] { conv2d(randn({3, 3}), randn({1, 1, 2, 2})); }, "conv2d");
}

// ---- foreign memory ----

TEST(HostileMemory, FromBlobRejectsNull) {
  expect_error<ValueError>([] { from_blob(nullptr, {2}); }, "from_blob");
  float data[4] = {1, 2, 3, 4};
  expect_error<ValueError>([&] { from_blob(data, {2}, {-1}); }, "from_blob");
  EXPECT_EQ(from_blob(data, {2, 2}).sum().item<double>(), 10.0);
}

// ---- compile() of odd functions ----

TEST(HostileCompile, FunctionsThatThrowOrReturnTheirInput) {
  auto throws = compile([](const Tensor& t) -> Tensor {
    if (t.size(0) == 5) throw ValueError("user code: refused");
    return t * 2;
  });
  const Tensor x = randn({4});
  EXPECT_EQ(values_of(throws(x)), values_of(x * 2));
  EXPECT_THROW(throws(randn({5})), ValueError);       // a retrace that throws: the user's error
  EXPECT_EQ(values_of(throws(x)), values_of(x * 2));  // and the function still works

  auto identity = compile([](const Tensor& t) { return t; });
  for (int i = 0; i < 3; ++i) {
    const Tensor y = identity(x);
    EXPECT_EQ(values_of(y), values_of(x));
  }
  auto shapes = compile([](const Tensor& t) { return t + t.sum(); });
  EXPECT_THROW(shapes(Tensor()), Error);  // an undefined input
  auto bad = compile([](const Tensor& t) { return t + zeros({7}); });
  EXPECT_THROW(bad(randn({3})), ShapeError);  // the op's own error, from the trace
}

// ---- compiled row kernels over lower-rank broadcast inputs ----

TEST(HostileCompile, RowReductionsOverLowerRankBroadcastInputs) {
  // b[4, 1] lines up with the last two dims of the domain, as broadcasting says; in a [4, 4, 4]
  // domain the wrong alignment (leading dims) would give a silently different sum.
  for (const Shape& xs : {Shape{2, 4, 4}, Shape{4, 4, 4}}) {
    const Tensor x = randn(xs), b = randn({4, 1});
    auto f = compile([](const Tensor& p, const Tensor& q) {
      return std::vector<Tensor>{(p + q).sum(-1, true), (p * q).sum(-1), q * 2 + p.amax(-1, true)};
    });
    for (int call = 0; call < 2; ++call) {
      const std::vector<Tensor> got = f(x, b);
      expect_values(got[0], {xs[0], 4, 1}, values_of((x + b).sum(-1, true)), 1e-5, 1e-5, "sum");
      expect_values(got[1], {xs[0], 4}, values_of((x * b).sum(-1)), 1e-5, 1e-5, "mul sum");
      expect_values(got[2], {xs[0], 4, 1}, values_of(b * 2 + x.amax(-1, true)), 1e-5, 1e-5, "row");
    }
  }
}

// ---- files and text (what the fuzz targets of tools/fuzz/targets.h found) ----

TEST(HostileFiles, ValueNamesDoNotSizeTheGraph) {
  // %4294967296 once resized a vector to 2^32 entries (std::bad_alloc): numbers far beyond the
  // graph's size are names like any other, and fresh names never collide with them.
  const std::string text =
      "graph @f(%x: f32[4]) -> (f32[4]) {\n"
      "  %4294967296 = tanh(%x) : f32[4]\n"
      "  %9223372036854775807 = exp(%4294967296) : f32[4]\n"
      "  return %9223372036854775807\n}\n";
  const auto g = ir::parse(text);
  EXPECT_EQ(ir::print(*g), text);
  EXPECT_EQ(ir::print(*ir::parse(ir::print(*g))), text);
  EXPECT_THROW(ir::parse("graph @f(%x: f32[4]) -> (f32[4]) {\n  %4294967296 = tanh(%x) : f32[4]\n"
                         "  %4294967296 = exp(%x) : f32[4]\n  return %x\n}\n"),
               Error);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string npy_with_shape(const std::string& shape, size_t data_bytes) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  header.resize(118, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + '\0' + header;
  return out + std::string(data_bytes, '\0');
}

TEST(HostileFiles, NpyShapesAreCheckedBeforeAnythingIsAllocated) {
  const std::string path = ::testing::TempDir() + "hostile.npy";
  write_bytes(path, npy_with_shape("2, 3", 24));
  EXPECT_EQ(load_npy(path).sizes().vec(), (std::vector<int64_t>{2, 3}));
  // A shape of 2^40 x 2^20 floats in a file of no data: an error, not a 4-exabyte allocation.
  write_bytes(path, npy_with_shape("1099511627776, 1048576", 0));
  expect_error<ValueError>([&] { load_npy(path); }, "bytes of data for a shape of");
  // Sizes that are not numbers, or overflow int64: ValueError (was std::invalid_argument).
  write_bytes(path, npy_with_shape("2, x", 0));
  expect_error<ValueError>([&] { load_npy(path); }, "which is not a size");
  write_bytes(path, npy_with_shape("99999999999999999999", 0));
  expect_error<ValueError>([&] { load_npy(path); }, "load_npy");
  write_bytes(path, npy_with_shape("-1", 0));
  expect_error<ValueError>([&] { load_npy(path); }, "which is not a size");
}

}  // namespace
}  // namespace ember::testing
