// matmul with torch.matmul's shape rules against a triple loop: 1-D operands, batch broadcasting,
// transposed (BLAS transpose flags) and strided (copied) operands, every dtype it accepts, errors.
#include "tests/test_util.h"

namespace ember::testing {
namespace {

// Reference batched product of (sa, a) and (sb, b), both at least 2-D, broadcasting batches.
std::pair<Shape, std::vector<double>> ref_matmul(Shape sa, std::vector<double> a, Shape sb,
                                                 std::vector<double> b) {
  const bool a1 = sa.size() == 1, b1 = sb.size() == 1;
  if (a1) sa.insert(sa.begin(), 1);
  if (b1) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const Shape batch = broadcast_shapes(ba, bb, "ref");
  std::vector<double> out;
  for (int64_t bi = 0; bi < numel_of(batch); ++bi) {
    const auto idx = unravel(bi, batch);
    auto base = [&](const Shape& bs) {
      std::vector<int64_t> j(bs.size());
      for (size_t d = 0; d < bs.size(); ++d)
        j[d] = bs[d] == 1 ? 0 : idx[idx.size() - bs.size() + d];
      return ravel(j, bs);
    };
    const int64_t oa = base(ba) * m * k, ob = base(bb) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += a[size_t(oa + i * k + p)] * b[size_t(ob + p * n + j)];
        out.push_back(s);
      }
  }
  Shape shape = batch;
  if (!a1) shape.push_back(m);
  if (!b1) shape.push_back(n);
  return {shape, out};
}

TEST(Matmul, ShapesLayoutsAndDtypes) {
  const std::vector<std::pair<Shape, Shape>> cases = {{{3}, {3}},
                                                      {{2, 3}, {3}},
                                                      {{3}, {3, 4}},
                                                      {{2, 3}, {3, 4}},
                                                      {{5, 2, 3}, {3, 4}},
                                                      {{2, 3}, {5, 3, 4}},
                                                      {{2, 1, 2, 3}, {4, 3, 2}},
                                                      {{1, 3}, {3, 1}},
                                                      {{0, 3}, {3, 4}},
                                                      {{2, 0}, {0, 4}}};
  for (DType dtype : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64, kUInt8}) {
    for (const auto& [sa, sb] : cases) {
      for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
        const bool ints = !is_floating(dtype);
        const auto va = test_values(size_t(numel_of(sa)), 0, ints ? 5 : 1, 21, ints);
        const auto vb = test_values(size_t(numel_of(sb)), ints ? 0 : -1, ints ? 5 : 1, 22, ints);
        const Tensor a = with_layout(sa, va, dtype, layout);
        const Tensor b = with_layout(sb, vb, dtype, layout);
        const auto [shape, expected] = ref_matmul(sa, values_of(a), sb, values_of(b));
        const Tensor y = matmul(a, b);
        EXPECT_EQ(y.dtype(), dtype);
        expect_values(y, shape, expected, tolerance(dtype) * 2, tolerance(dtype) * 4,
                      std::string(dtype_name(dtype)) + " " + layout_name(layout) + " " +
                          std::to_string(sa.size()) + "x" + std::to_string(sb.size()));
      }
    }
  }
}

TEST(Matmul, LargeProductAgreesWithReference) {
  const auto va = test_values(64 * 96, -1, 1, 3), vb = test_values(96 * 80, -1, 1, 4);
  const Tensor a = from_values({64, 96}, va, kFloat32), b = from_values({96, 80}, vb, kFloat32);
  const auto [shape, expected] = ref_matmul({64, 96}, va, {96, 80}, vb);
  expect_values(matmul(a, b), shape, expected, 1e-5, 1e-5);
  expect_values(matmul(b.t(), a.t()).t(), shape, expected, 1e-5, 1e-5);
}

TEST(Matmul, MmAndBmmCheckRank) {
  const Tensor a = ones({2, 3}), b = ones({3, 4});
  expect_values(mm(a, b), {2, 4}, std::vector<double>(8, 3), 0);
  EXPECT_THROW(mm(ones({3}), b), ShapeError);
  expect_values(bmm(ones({2, 2, 3}), ones({2, 3, 1})), {2, 2, 1}, {3, 3, 3, 3}, 0);
  EXPECT_THROW(bmm(ones({2, 2, 3}), ones({3, 3, 1})), ShapeError);
  EXPECT_THROW(bmm(a, b), ShapeError);
}

TEST(Matmul, ErrorsNameShapes) {
  try {
    matmul(ones({2, 3}), ones({4, 5}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)");
  }
  EXPECT_THROW(matmul(ones({}), ones({3})), ShapeError);
  EXPECT_THROW(matmul(ones({2, 3}), ones({3, 2}, kFloat64)), DTypeError);
  EXPECT_THROW(matmul(ones({2, 2, 3}), ones({3, 3, 2})), ShapeError);  // batch 2 vs 3
}

}  // namespace
}  // namespace ember::testing
