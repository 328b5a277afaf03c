// Creation functions, the nested-list constructor, from_blob aliasing, and the Philox random
// generator's reproducibility and statistics.
#include <cmath>
#include <cstdio>

#include "tests/test_util.h"

namespace ember::testing {
namespace {

TEST(Creation, FactoriesGiveShapesDtypesAndValues) {
  expect_values(zeros({2, 3}), {2, 3}, std::vector<double>(6, 0), 0);
  EXPECT_EQ(zeros({2}).dtype(), kFloat32);
  expect_values(ones({2}, kInt32), {2}, {1, 1}, 0);
  EXPECT_EQ(ones({2}, kInt32).dtype(), kInt32);
  expect_values(full({3}, 2.5), {3}, {2.5, 2.5, 2.5}, 0);
  EXPECT_EQ(full({3}, 7).dtype(), kInt64);
  EXPECT_EQ(full({3}, true).dtype(), kBool);
  EXPECT_EQ(full({1}, 7, TensorOptions().dtype(kFloat64)).dtype(), kFloat64);
  EXPECT_EQ(empty({4, 0, 2}).numel(), 0);
  EXPECT_EQ(zeros({}).dim(), 0);
  EXPECT_EQ(zeros({}).numel(), 1);
  const Tensor t = ones({2, 3}, kFloat64);
  EXPECT_EQ(zeros_like(t).dtype(), kFloat64);
  expect_values(full_like(t, 4), {2, 3}, std::vector<double>(6, 4), 0);
  EXPECT_THROW(zeros({2, -1}), ValueError);
  EXPECT_THROW(empty({-3}), ValueError);
  EXPECT_THROW(zeros({2}, Device(kCUDA, 0)), Error);
}

TEST(Creation, ArangeFollowsPyTorch) {
  const Tensor a = arange(5);
  EXPECT_EQ(a.dtype(), kInt64);
  expect_values(a, {5}, {0, 1, 2, 3, 4}, 0);
  const Tensor b = arange(1, 2, 0.25);
  EXPECT_EQ(b.dtype(), kFloat32);
  expect_values(b, {4}, {1, 1.25, 1.5, 1.75}, 0);
  expect_values(arange(10, 0, -3), {4}, {10, 7, 4, 1}, 0);
  EXPECT_EQ(arange(3, 3).numel(), 0);
  EXPECT_THROW(arange(0, 5, 0), ValueError);
  EXPECT_THROW(arange(5, 0, 1), ValueError);
}

TEST(Creation, TensorFromNestedLists) {
  const Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(a.dtype(), kInt64);
  expect_values(a, {2, 3}, {1, 2, 3, 4, 5, 6}, 0);
  const Tensor b = tensor({1.5, 2});
  EXPECT_EQ(b.dtype(), kFloat32);
  expect_values(b, {2}, {1.5, 2}, 0);
  EXPECT_EQ(tensor({true, false}).dtype(), kBool);
  const Tensor s = tensor(3.25);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 3.25);
  expect_values(tensor({{{1}, {2}}}, kFloat64), {1, 2, 1}, {1, 2}, 0);
  expect_values(tensor(std::vector<float>{1, 2, 3}), {3}, {1, 2, 3}, 0);
  EXPECT_EQ(tensor({9007199254740993LL}).item<int64_t>(), 9007199254740993LL);  // exact
  EXPECT_THROW(tensor({{1, 2}, {3}}), ShapeError);
  EXPECT_THROW(tensor({{1, 2}, 3}), ShapeError);
}

TEST(Creation, FromBlobAliasesCallerMemory) {
  float data[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(data, {2, 3});
  EXPECT_EQ(t.data_ptr<float>(), data);
  t.mul_(2);
  EXPECT_EQ(data[5], 12);
  const Tensor col = from_blob(data, {2}, {3}, kFloat32);  // strided: every third element
  expect_values(col, {2}, {2, 8}, 0);
  int64_t ints[2] = {5, 6};
  EXPECT_EQ(from_blob(ints, {2}, kInt64).sum().item<int64_t>(), 11);
  EXPECT_THROW(t.data_ptr<double>(), DTypeError);
}

// LibTorch's item<T>() returns a T: safe in printf's varargs and in auto.
TEST(Creation, ItemReturnsThePlainNumber) {
  static_assert(std::is_same_v<decltype(tensor(1.5).item<double>()), double>);
  static_assert(std::is_same_v<decltype(tensor(1).item<int64_t>()), int64_t>);
  char text[32];
  std::snprintf(text, sizeof text, "%.2f %d", tensor(2.5).item<double>(),
                tensor({{7}}).item<int>());
  EXPECT_STREQ(text, "2.50 7");
  EXPECT_EQ(tensor(-2.75).item<int>(), -2);  // converted as C++ converts the number
}

TEST(Creation, ItemAndToErrors) {
  EXPECT_EQ(tensor({{7}}).item<int>(), 7);
  try {
    ones({2, 3}).item<float>();
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("6 elements"), std::string::npos);
  }
  EXPECT_THROW(Tensor().numel(), Error);
  EXPECT_THROW(ones({2}).to(Device(kCUDA)), Error);
}

TEST(Random, SeedReproducesAndCallsDiffer) {
  manual_seed(42);
  const auto a = values_of(rand({1000}));
  const auto b = values_of(rand({1000}));
  manual_seed(42);
  EXPECT_EQ(values_of(rand({1000})), a);
  EXPECT_EQ(values_of(rand({1000})), b);
  EXPECT_NE(a, b);
}

TEST(Random, ResultsDoNotDependOnThreadCount) {
  manual_seed(7);
  set_num_threads(1);
  const auto one = values_of(randn({200000}));
  manual_seed(7);
  set_num_threads(2);
  EXPECT_EQ(values_of(randn({200000})), one);
}

TEST(Random, DistributionsHaveTheRightMoments) {
  manual_seed(1);
  for (DType dtype : {kFloat32, kFloat64}) {
    const auto u = values_of(rand({200000}, dtype));
    double mean = 0, var = 0;
    for (double x : u) {
      EXPECT_GE(x, 0.0);
      EXPECT_LT(x, 1.0);
      mean += x;
    }
    mean /= double(u.size());
    for (double x : u) var += (x - mean) * (x - mean);
    var /= double(u.size());
    EXPECT_NEAR(mean, 0.5, 0.005);
    EXPECT_NEAR(var, 1.0 / 12, 0.002);
    const auto n = values_of(randn({200000}, dtype));
    mean = var = 0;
    for (double x : n) mean += x;
    mean /= double(n.size());
    for (double x : n) var += (x - mean) * (x - mean);
    var /= double(n.size());
    EXPECT_NEAR(mean, 0.0, 0.01);
    EXPECT_NEAR(var, 1.0, 0.02);
  }
  const auto r = values_of(randint(-3, 4, {70000}));
  std::vector<int> counts(7, 0);
  for (double x : r) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 4);
    ++counts[size_t(x + 3)];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
  EXPECT_EQ(randint(5, {3}).dtype(), kInt64);
  EXPECT_THROW(randint(3, 3, {2}), ValueError);
  EXPECT_THROW(rand({2}, kInt32), DTypeError);
  for (double x : values_of(rand({10000}, kFloat16))) EXPECT_LT(x, 1.0);
}

}  // namespace
}  // namespace ember::testing
