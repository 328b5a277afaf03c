// Movement and indexing ops: views alias their base, copies do not, index arithmetic matches
// reference loops, and every misuse raises the right error.
#include "tests/test_util.h"

namespace ember::testing {
namespace {

Tensor iota(const Shape& shape, DType dtype = kFloat32) {
  std::vector<double> v(size_t(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return from_values(shape, v, dtype);
}

TEST(Views, ShareStorageWithTheirBase) {
  Tensor x = iota({2, 3, 4});
  Tensor v = x.view({6, 4});
  Tensor p = x.permute({2, 0, 1});
  Tensor s = x.select(1, 2);
  Tensor sl = x.slice(2, 1, 3);
  Tensor e = x.select(0, 0).select(0, 0).unsqueeze(0).expand({5, 4});
  EXPECT_EQ(v.data_ptr(), x.data_ptr());
  EXPECT_EQ(p.data_ptr(), x.data_ptr());
  x.fill_(-1);
  for (const Tensor& t : {v, p, s, sl, e})
    for (double val : values_of(t)) EXPECT_EQ(val, -1);
  EXPECT_EQ(e.strides().vec(), (Shape{0, 1}));
}

TEST(Views, ViewFollowsPyTorchStrideRules) {
  const Tensor x = iota({4, 6});
  EXPECT_EQ(x.view({2, 2, 6}).strides().vec(), (Shape{12, 6, 1}));
  EXPECT_EQ(x.view({-1}).sizes().vec(), (Shape{24}));
  EXPECT_EQ(x.view({3, -1}).sizes().vec(), (Shape{3, 8}));
  // A slice along dim 1 keeps rows separate: splitting dim 0 is fine, merging is not.
  const Tensor s = x.slice(1, 0, 3);
  EXPECT_EQ(s.view({2, 2, 3}).strides().vec(), (Shape{12, 6, 1}));
  EXPECT_THROW(s.view({12}), ShapeError);
  EXPECT_THROW(x.t().view({24}), ShapeError);
  EXPECT_THROW(x.view({5, 5}), ShapeError);
  EXPECT_THROW(x.view({-1, -1}), ShapeError);
  EXPECT_THROW(x.view({-2, 12}), ValueError);
  // Size-1 dims can go anywhere.
  EXPECT_EQ(x.t().view({6, 1, 4}).strides()[0], 1);
}

TEST(Views, ReshapeCopiesOnlyWhenItMust) {
  const Tensor x = iota({4, 6});
  EXPECT_EQ(x.reshape({24}).data_ptr(), x.data_ptr());
  const Tensor r = x.t().reshape({24});
  EXPECT_NE(r.data_ptr(), x.data_ptr());
  std::vector<double> expected;
  for (int j = 0; j < 6; ++j)
    for (int i = 0; i < 4; ++i) expected.push_back(i * 6 + j);
  expect_values(r, {24}, expected, 0);
  expect_values(x.flatten(), {24}, values_of(x), 0);
  EXPECT_EQ(iota({2, 3, 4}).flatten(1).sizes().vec(), (Shape{2, 12}));
  EXPECT_EQ(iota({2, 3, 4}).flatten(0, 1).sizes().vec(), (Shape{6, 4}));
  EXPECT_EQ(from_values({}, {3}, kFloat32).flatten().sizes().vec(), (Shape{1}));
}

TEST(Views, PermuteTransposeSqueezeUnsqueeze) {
  const Tensor x = iota({2, 3, 4});
  const Tensor p = x.permute({2, 0, 1});
  EXPECT_EQ(p.sizes().vec(), (Shape{4, 2, 3}));
  for (int64_t i = 0; i < 24; ++i) {
    const auto idx = unravel(i, {4, 2, 3});
    EXPECT_EQ(values_of(p)[size_t(i)], double(idx[1] * 12 + idx[2] * 4 + idx[0]));
  }
  EXPECT_EQ(x.transpose(0, -1).sizes().vec(), (Shape{4, 3, 2}));
  EXPECT_THROW(x.permute({0, 1}), ShapeError);
  EXPECT_THROW(x.permute({0, 1, 1}), IndexError);
  const Tensor y = iota({1, 3, 1});
  EXPECT_EQ(y.squeeze().sizes().vec(), (Shape{3}));
  EXPECT_EQ(y.squeeze(2).sizes().vec(), (Shape{1, 3}));
  EXPECT_EQ(y.squeeze(1).sizes().vec(), (Shape{1, 3, 1}));
  EXPECT_EQ(y.unsqueeze(-1).sizes().vec(), (Shape{1, 3, 1, 1}));
  EXPECT_EQ(y.unsqueeze(0).sizes().vec(), (Shape{1, 1, 3, 1}));
  EXPECT_THROW(y.unsqueeze(5), IndexError);
}

TEST(Views, ExpandBroadcastsWithoutCopying) {
  const Tensor x = iota({3, 1});
  const Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.strides().vec(), (Shape{0, 1, 0}));
  expect_values(e.contiguous(), {2, 3, 4},
                {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, 0);
  EXPECT_EQ(x.expand({-1, 5}).sizes().vec(), (Shape{3, 5}));
  try {
    x.expand({4, 4});
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("non-singleton dimension 0"), std::string::npos);
  }
  EXPECT_THROW(x.expand({4}), ShapeError);
}

TEST(Views, SliceNarrowSelect) {
  const Tensor x = iota({10});
  expect_values(x.slice(0, 2, 8, 3), {2}, {2, 5}, 0);
  expect_values(x.slice(0, -3), {3}, {7, 8, 9}, 0);
  expect_values(x.slice(0, 8, 100), {2}, {8, 9}, 0);
  EXPECT_EQ(x.slice(0, 7, 3).numel(), 0);
  EXPECT_THROW(x.slice(0, 0, 5, 0), ValueError);
  expect_values(x.narrow(0, -4, 2), {2}, {6, 7}, 0);
  EXPECT_THROW(x.narrow(0, 8, 3), IndexError);
  const Tensor m = iota({3, 4});
  expect_values(m.select(1, -1), {3}, {3, 7, 11}, 0);
  expect_values(m[2], {4}, {8, 9, 10, 11}, 0);
  try {
    m.select(1, 4);
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_NE(
        std::string(e.what()).find("index 4 out of range for tensor of size [3, 4] at dimension 1"),
        std::string::npos);
  }
}

TEST(Join, CatAndStack) {
  const Tensor a = iota({2, 3}), b = iota({1, 3}) + 100;
  expect_values(cat({a, b}), {3, 3}, {0, 1, 2, 3, 4, 5, 100, 101, 102}, 0);
  expect_values(cat({a, a.t().t()}, 1), {2, 6}, {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}, 0);
  // Promotes, and skips legacy empty 1-D tensors.
  const Tensor c = cat({iota({2}, kInt32), iota({2}, kFloat64), empty({0})});
  EXPECT_EQ(c.dtype(), kFloat64);
  expect_values(c, {4}, {0, 1, 0, 1}, 0);
  expect_values(stack({iota({2}), iota({2}) + 5}, 1), {2, 2}, {0, 5, 1, 6}, 0);
  EXPECT_THROW(cat({a, iota({2, 2})}), ShapeError);
  EXPECT_THROW(cat({a, iota({6})}), ShapeError);
  EXPECT_THROW(cat({}), ValueError);
  EXPECT_THROW(stack({a, b}), ShapeError);
}

TEST(Index, IndexSelectGatherEmbedding) {
  const Tensor x = iota({4, 3});
  const Tensor idx = from_values({3}, {3, 0, 3}, kInt64);
  expect_values(index_select(x, 0, idx), {3, 3}, {9, 10, 11, 0, 1, 2, 9, 10, 11}, 0);
  // Negative positions are errors, as in PyTorch (only Tensor::index counts from the end).
  EXPECT_THROW(index_select(x, 0, from_values({1}, {-1}, kInt64)), IndexError);
  expect_values(x.index_select(1, from_values({2}, {2, 0}, kInt32)), {4, 2},
                {2, 0, 5, 3, 8, 6, 11, 9}, 0);
  expect_values(x.t().index_select(1, from_values({1}, {1}, kInt64)), {3, 1}, {3, 4, 5}, 0);
  EXPECT_THROW(index_select(x, 0, from_values({1}, {4}, kInt64)), IndexError);
  EXPECT_THROW(index_select(x, 0, from_values({1}, {1}, kFloat32)), DTypeError);

  const Tensor g = gather(x, 1, from_values({4, 2}, {0, 2, 1, 1, 2, 0, 0, 0}, kInt64));
  expect_values(g, {4, 2}, {0, 2, 4, 4, 8, 6, 9, 9}, 0);
  expect_values(gather(x, 0, from_values({1, 3}, {3, 2, 1}, kInt64)), {1, 3}, {9, 7, 5}, 0);
  EXPECT_THROW(gather(x, 1, from_values({4}, {0, 0, 0, 0}, kInt64)), ShapeError);
  EXPECT_THROW(gather(x, 1, from_values({1, 1}, {3}, kInt64)), IndexError);
  EXPECT_THROW(gather(x, 1, from_values({1, 1}, {-1}, kInt64)), IndexError);

  const Tensor w = iota({5, 2});
  const Tensor e = embedding(w, from_values({2, 2}, {4, 0, 1, 4}, kInt64));
  expect_values(e, {2, 2, 2}, {8, 9, 0, 1, 2, 3, 8, 9}, 0);
  EXPECT_THROW(embedding(w, from_values({1}, {5}, kInt64)), IndexError);
  expect_error<IndexError>([&] { embedding(w, from_values({1}, {-1}, kInt64)); },
                           "embedding: index -1 is out of bounds");
}

// index_add against a reference loop: repeated indices accumulate, any dim, strided inputs.
TEST(Index, IndexAddAccumulatesAtTheIndices) {
  for (DType dtype : {kFloat32, kFloat64, kInt64, kBFloat16}) {
    for (int64_t dim : {0, 1, -1}) {
      const Tensor x = iota({4, 3}).to(dtype);
      const int64_t d = dim < 0 ? dim + 2 : dim;
      const std::vector<double> index =
          d == 0 ? std::vector<double>{3, 0, 3, 3, 1} : std::vector<double>{2, 2, 0};
      const int64_t k = int64_t(index.size());
      const Shape src_shape = d == 0 ? Shape{k, 3} : Shape{4, k};
      const Tensor src = from_values(
          src_shape, test_values(size_t(src_shape[0] * src_shape[1]), -4, 4, 7, true), dtype);
      std::vector<double> want = values_of(x);
      const std::vector<double> sv = values_of(src);
      for (int64_t i = 0; i < src.numel(); ++i) {
        const int64_t r = i / src_shape[1], c = i % src_shape[1];
        const int64_t j = int64_t(index[size_t(d == 0 ? r : c)]);
        const int64_t at = d == 0 ? j * 3 + c : r * 3 + j;
        want[size_t(at)] = round_to(want[size_t(at)] + sv[size_t(i)], dtype);
      }
      const Tensor idx = from_values({k}, index, kInt64);
      expect_values(index_add(x, dim, idx, src), {4, 3}, want, tolerance(dtype), -1,
                    std::string(dtype_name(dtype)) + " dim " + std::to_string(dim));
      // The same through a non-contiguous input.
      const Tensor xt = x.t().contiguous().t();
      expect_values(xt.index_add(dim, idx, src), {4, 3}, want, tolerance(dtype), -1, "strided");
    }
  }
  const Tensor x = zeros({4, 3});
  EXPECT_THROW(index_add(x, 0, from_values({1}, {4}, kInt64), ones({1, 3})), IndexError);
  EXPECT_THROW(index_add(x, 0, from_values({1}, {-1}, kInt64), ones({1, 3})), IndexError);
  EXPECT_THROW(index_add(x, 0, from_values({2}, {0, 1}, kInt64), ones({3, 3})), ShapeError);
  EXPECT_THROW(index_add(x, 0, from_values({1}, {0}, kInt64), ones({1, 3}, kFloat64)), DTypeError);
  EXPECT_THROW(index_add(x, 0, from_values({1}, {0}, kFloat32), ones({1, 3})), DTypeError);
  EXPECT_THROW(index_add(x, 2, from_values({1}, {0}, kInt64), ones({1, 3})), IndexError);
}

TEST(Copy, CopyBroadcastsAndConvertsIntoViews) {
  Tensor x = zeros({3, 4});
  x.slice(1, 1, 3).copy_(from_values({2}, {7, 8}, kInt64));
  expect_values(x, {3, 4}, {0, 7, 8, 0, 0, 7, 8, 0, 0, 7, 8, 0}, 0);
  EXPECT_THROW(x.copy_(ones({4, 3})), ShapeError);
  const Tensor c = x.clone();
  x.fill_(1);
  EXPECT_EQ(values_of(c)[1], 7);
}

}  // namespace
}  // namespace ember::testing
