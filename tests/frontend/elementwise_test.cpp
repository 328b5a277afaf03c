// Elementwise ops against double-precision reference loops: every unary and binary op, every
// dtype it accepts, broadcasting, contiguous and non-contiguous layouts, scalars with PyTorch's
// promotion, empty and size-1 shapes, and the errors.
#include <cmath>
#include <functional>
#include <limits>

#include "tests/test_util.h"

namespace ember::testing {
namespace {

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo, hi;
  bool float_only;  // integer inputs compute in float32
};

double ref_gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double ref_gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

std::vector<UnaryCase> unary_cases() {
  return {
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, -5, 5,
       true},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, 0.1, 10,
       true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0,
       10, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); },
       0.1, 10, true},
      {"sin", [](const Tensor& x) { return sin(x); }, [](double x) { return std::sin(x); }, -3, 3,
       true},
      {"cos", [](const Tensor& x) { return cos(x); }, [](double x) { return std::cos(x); }, -3, 3,
       true},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, -6,
       6, true},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); },
       [](double x) { return 1 / (1 + std::exp(-x)); }, -8, 8, true},
      {"gelu", [](const Tensor& x) { return gelu(x); }, ref_gelu, -5, 5, true},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, ref_gelu_tanh, -5, 5, true},
      {"silu", [](const Tensor& x) { return silu(x); },
       [](double x) { return x / (1 + std::exp(-x)); }, -8, 8, true},
      {"erf", [](const Tensor& x) { return erf(x); }, [](double x) { return std::erf(x); }, -4, 4,
       true},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, [](double x) { return 1 / x; },
       0.5, 4, true},
      {"log1p", [](const Tensor& x) { return log1p(x); }, [](double x) { return std::log1p(x); }, 0,
       5, true},
      {"expm1", [](const Tensor& x) { return expm1(x); }, [](double x) { return std::expm1(x); },
       -2, 2, true},
      {"neg", [](const Tensor& x) { return -x; }, [](double x) { return -x; }, -50, 50, false},
      {"abs", [](const Tensor& x) { return abs(x); }, [](double x) { return std::fabs(x); }, -50,
       50, false},
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return x < 0 ? 0.0 : x; },
       -50, 50, false},
      {"sign", [](const Tensor& x) { return sign(x); },
       [](double x) { return double((0 < x) - (x < 0)); }, -50, 50, false},
      {"floor", [](const Tensor& x) { return floor(x); }, [](double x) { return std::floor(x); },
       -50, 50, false},
      {"ceil", [](const Tensor& x) { return ceil(x); }, [](double x) { return std::ceil(x); }, -50,
       50, false},
      {"round", [](const Tensor& x) { return round(x); },
       [](double x) { return std::nearbyint(x); }, -50, 50, false},
  };
}

TEST(Unary, MatchesReferenceForFloatDtypesAndLayouts) {
  const Shape shape{5, 7};
  for (const UnaryCase& c : unary_cases()) {
    for (DType dtype : float_dtypes()) {
      for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
        const auto vals = test_values(35, c.lo, c.hi, 7);
        const Tensor x = with_layout(shape, vals, dtype, layout);
        const Tensor y = c.op(x);
        EXPECT_EQ(y.dtype(), dtype) << c.name;
        std::vector<double> expected;
        for (double v : values_of(x)) expected.push_back(c.ref(v));
        const double tol = tolerance(dtype);
        expect_values(y, shape, expected, tol, dtype == kFloat32 ? 1e-6 : tol,
                      std::string(c.name) + " " + dtype_name(dtype) + " " + layout_name(layout));
      }
    }
  }
}

TEST(Unary, LongContiguousRunsUseTheVectorPathAndStayAccurate) {
  // 100k elements: the inner loop runs vectorized and the work splits across threads.
  const auto vals = test_values(100000, -9, 9, 3);
  const Tensor x = from_values({100000}, vals, kFloat32);
  for (const UnaryCase& c : unary_cases()) {
    if (std::string(c.name) == "log" || std::string(c.name) == "sqrt" ||
        std::string(c.name) == "rsqrt" || std::string(c.name) == "reciprocal" ||
        std::string(c.name) == "log1p" || std::string(c.name) == "exp" ||
        std::string(c.name) == "expm1")
      continue;  // domains that [-9, 9] leaves
    std::vector<double> expected;
    for (double v : values_of(x)) expected.push_back(c.ref(v));
    expect_values(c.op(x), {100000}, expected, 2e-5, 1e-6, c.name);
  }
}

TEST(Unary, ExpCoversTheWholeFloatRange) {
  const std::vector<double> v{
      -200, -103, -90, -87.5, -20,  -1e-3, 0,
      1e-3, 1,    20,  88.5,  88.8, 200,   std::numeric_limits<double>::quiet_NaN()};
  const Tensor x = from_values({int64_t(v.size())}, v, kFloat32);
  std::vector<double> expected;
  for (double e : values_of(x)) {
    const double r = std::exp(e);
    expected.push_back(r > std::numeric_limits<float>::max() ? INFINITY : r);
  }
  expect_values(exp(x), {int64_t(v.size())}, expected, 2e-6, 1e-44);
}

TEST(Unary, NanPropagatesThroughTheVectorizedFunctions) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_values({3}, {nan, 1.0, -1.0}, kFloat32);
  for (const auto& f : {exp(x), tanh(x), erf(x), sigmoid(x), gelu(x), relu(x)})
    EXPECT_TRUE(std::isnan(values_of(f)[0]));
}

TEST(Unary, IntegerInputsOfFloatOpsGiveFloat32) {
  const Tensor x = from_values({4}, {0, 1, 2, 3}, kInt32);
  const Tensor y = exp(x);
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_values(y, {4}, {1, std::exp(1.0), std::exp(2.0), std::exp(3.0)}, 2e-6);
  EXPECT_EQ(sqrt(from_values({1}, {4}, kInt64)).dtype(), kFloat32);
  EXPECT_EQ(sigmoid(from_values({1}, {1}, kBool)).dtype(), kFloat32);
}

TEST(Unary, IntegerOpsKeepDtypeForEveryIntegerType) {
  for (DType dtype : {kInt8, kInt32, kInt64}) {
    const Tensor x = from_values({2, 3}, {-5, -1, 0, 1, 7, 100}, dtype);
    EXPECT_EQ((-x).dtype(), dtype);
    expect_values(-x, {2, 3}, {5, 1, 0, -1, -7, -100}, 0);
    expect_values(abs(x), {2, 3}, {5, 1, 0, 1, 7, 100}, 0);
    expect_values(relu(x), {2, 3}, {0, 0, 0, 1, 7, 100}, 0);
    expect_values(sign(x), {2, 3}, {-1, -1, 0, 1, 1, 1}, 0);
    expect_values(floor(x), {2, 3}, {-5, -1, 0, 1, 7, 100}, 0);
  }
  // uint8 negation wraps, as in PyTorch.
  expect_values(-from_values({2}, {1, 200}, kUInt8), {2}, {255, 56}, 0);
}

TEST(Unary, BoolRejectsArithmeticNegation) {
  const Tensor b = from_values({2}, {1, 0}, kBool);
  EXPECT_THROW(-b, DTypeError);
  EXPECT_THROW(relu(b), DTypeError);
  expect_values(logical_not(b), {2}, {0, 1}, 0);
  EXPECT_EQ(logical_not(from_values({2}, {0.0, 2.5}, kFloat32)).dtype(), kBool);
}

TEST(Unary, EmptyAndZeroDimTensors) {
  const Tensor e = empty({0, 3});
  EXPECT_EQ(exp(e).sizes().vec(), (Shape{0, 3}));
  const Tensor s = from_values({}, {2.0}, kFloat32);
  expect_values(exp(s), {}, {std::exp(2.0)}, 2e-6);
}

// ---- binary ----

struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> ref;
  bool comparison;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"add", [](auto& a, auto& b) { return a + b; }, [](double a, double b) { return a + b; },
       false},
      {"sub", [](auto& a, auto& b) { return a - b; }, [](double a, double b) { return a - b; },
       false},
      {"mul", [](auto& a, auto& b) { return a * b; }, [](double a, double b) { return a * b; },
       false},
      {"maximum", [](auto& a, auto& b) { return maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }, false},
      {"minimum", [](auto& a, auto& b) { return minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }, false},
      {"eq", [](auto& a, auto& b) { return a == b; },
       [](double a, double b) { return double(a == b); }, true},
      {"ne", [](auto& a, auto& b) { return a != b; },
       [](double a, double b) { return double(a != b); }, true},
      {"lt", [](auto& a, auto& b) { return a < b; },
       [](double a, double b) { return double(a < b); }, true},
      {"le", [](auto& a, auto& b) { return a <= b; },
       [](double a, double b) { return double(a <= b); }, true},
      {"gt", [](auto& a, auto& b) { return a > b; },
       [](double a, double b) { return double(a > b); }, true},
      {"ge", [](auto& a, auto& b) { return a >= b; },
       [](double a, double b) { return double(a >= b); }, true},
  };
}

// The value a result of dtype holds for the exact result v (integers wrap, floats round).
double stored(double v, DType dtype) {
  if (dtype == kBool) return v != 0;
  if (!is_floating(dtype)) {
    return dispatch_dtype(dtype, [&]<class T>() { return double(T(int64_t(v))); });
  }
  return round_to(v, dtype);
}

TEST(Binary, MatchesReferenceWithBroadcastingLayoutsAndDtypes) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 5}, {4, 5}}, {{4, 5}, {5}}, {{4, 1}, {1, 5}}, {{3, 1, 5}, {4, 1}},
      {{4, 5}, {}},     {{1}, {4, 5}}, {{0, 5}, {5}},    {{2, 3, 4}, {2, 3, 4}}};
  for (const BinaryCase& c : binary_cases()) {
    for (DType dtype : all_dtypes()) {
      if (dtype == kBool && std::string(c.name) == "sub") continue;  // rejected, tested below
      const bool small = dtype == kUInt8 || dtype == kInt8 || dtype == kBool;
      for (const auto& [sa, sb] : shapes) {
        for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Strided}) {
          const auto va = test_values(size_t(numel_of(sa)), small ? 0 : -20, small ? 10 : 20, 11,
                                      !is_floating(dtype));
          const auto vb = test_values(size_t(numel_of(sb)), small ? 0 : -20, small ? 10 : 20, 12,
                                      !is_floating(dtype));
          const Tensor a = with_layout(sa, va, dtype, layout);
          const Tensor b = with_layout(sb, vb, dtype, Layout::Contiguous);
          const Tensor y = c.op(a, b);
          const DType rdtype = c.comparison ? kBool : dtype;
          EXPECT_EQ(y.dtype(), rdtype);
          const Shape out = broadcast_shapes(sa, sb, "test");
          const auto ra = values_of(a), rb = values_of(b);
          std::vector<double> expected;
          for (int64_t i = 0; i < numel_of(out); ++i) {
            const auto idx = unravel(i, out);
            expected.push_back(
                stored(c.ref(broadcast_at(sa, ra, idx), broadcast_at(sb, rb, idx)), rdtype));
          }
          expect_values(y, out, expected, tolerance(rdtype), -1,
                        std::string(c.name) + " " + dtype_name(dtype) + " " + layout_name(layout));
        }
      }
    }
  }
}

TEST(Binary, DivisionIsTrueDivisionAndIntegersGiveFloat32) {
  const Tensor a = from_values({3}, {7, -7, 1}, kInt64), b = from_values({3}, {2, 2, 3}, kInt64);
  const Tensor y = a / b;
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_values(y, {3}, {3.5, -3.5, 1.0 / 3}, 1e-7);
  const Tensor f = from_values({2}, {1.0, -1.0}, kFloat64) / from_values({2}, {0.0, 0.0}, kFloat64);
  expect_values(f, {2}, {INFINITY, -INFINITY}, 0);
}

TEST(Binary, PowForFloatsAndIntegers) {
  const Tensor a = from_values({4}, {2, 3, -2, 5}, kInt32),
               b = from_values({4}, {3, 0, 3, 1}, kInt32);
  expect_values(pow(a, b), {4}, {8, 1, -8, 5}, 0);
  const Tensor x = from_values({3}, {0.5, 2.0, 9.0}, kFloat64);
  expect_values(pow(x, 0.5), {3}, {std::sqrt(0.5), std::sqrt(2.0), 3.0}, 1e-14);
  expect_values(x.pow(2), {3}, {0.25, 4, 81}, 0);
}

TEST(Binary, IntegerOverflowWrapsAroundAsInPyTorch) {
  const Tensor a = from_values({2}, {2147483647.0, -2147483648.0}, kInt32);
  expect_values(a + 1, {2}, {-2147483648.0, -2147483647.0}, 0);
  expect_values(from_values({1}, {250}, kUInt8) + 10, {1}, {4}, 0);
  expect_values(from_values({1}, {100}, kInt8) * 3, {1}, {44}, 0);
}

TEST(Binary, MaximumMinimumPropagateNan) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor a = from_values({3}, {nan, 1, 2}, kFloat32),
               b = from_values({3}, {0, nan, 1}, kFloat32);
  const auto mx = values_of(maximum(a, b)), mn = values_of(minimum(a, b));
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]) && mx[2] == 2);
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]) && mn[2] == 1);
}

TEST(Binary, BoolArithmetic) {
  const Tensor t = from_values({4}, {0, 0, 1, 1}, kBool), u = from_values({4}, {0, 1, 0, 1}, kBool);
  EXPECT_EQ((t + u).dtype(), kBool);
  expect_values(t + u, {4}, {0, 1, 1, 1}, 0);
  expect_values(t * u, {4}, {0, 0, 0, 1}, 0);
  expect_values(logical_and(t, u), {4}, {0, 0, 0, 1}, 0);
  expect_values(logical_or(t, u), {4}, {0, 1, 1, 1}, 0);
  EXPECT_THROW(t - u, DTypeError);
}

TEST(Promotion, FollowsPyTorchRulesForTensorsZeroDimTensorsAndScalars) {
  const Tensor i32 = from_values({3}, {1, 2, 3}, kInt32);
  const Tensor f16 = from_values({3}, {1, 2, 3}, kFloat16);
  const Tensor b = from_values({3}, {1, 0, 1}, kBool);
  EXPECT_EQ((i32 + 2.5).dtype(), kFloat32);
  EXPECT_EQ((i32 + 2).dtype(), kInt32);
  EXPECT_EQ((b + 1).dtype(), kInt64);
  EXPECT_EQ((b + true).dtype(), kBool);
  EXPECT_EQ((f16 * 3.0).dtype(), kFloat16);
  EXPECT_EQ((f16 + from_values({}, {1}, kFloat64)).dtype(), kFloat16);
  EXPECT_EQ((i32 + from_values({}, {1.5}, kFloat64)).dtype(), kFloat64);
  EXPECT_EQ((i32 + from_values({}, {1}, kInt64)).dtype(), kInt32);
  EXPECT_EQ((i32 + from_values({3}, {1, 1, 1}, kInt64)).dtype(), kInt64);
  EXPECT_EQ((f16 + from_values({3}, {1, 1, 1}, kBFloat16)).dtype(), kFloat32);
  EXPECT_EQ((from_values({1}, {1}, kUInt8) + from_values({1}, {1}, kInt8)).dtype(), kInt32);
  expect_values(i32 + 2.5, {3}, {3.5, 4.5, 5.5}, 0);
  expect_values(10 - i32, {3}, {9, 8, 7}, 0);
  expect_values(1.0 / from_values({2}, {4, 8}, kFloat32), {2}, {0.25, 0.125}, 0);
  EXPECT_EQ((i32 > 1.5).dtype(), kBool);
  expect_values(i32 > 1.5, {3}, {0, 1, 1}, 0);
}

TEST(Binary, ShapeMismatchNamesOpShapesAndDimension) {
  try {
    from_values({2, 3}, std::vector<double>(6, 1), kFloat32) *
        from_values({4}, {1, 2, 3, 4}, kFloat32);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mul"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("dimension 1"), std::string::npos) << msg;
  }
}

TEST(Where, SelectsBroadcastsAndPromotes) {
  const Tensor c = from_values({2, 1}, {1, 0}, kBool);
  const Tensor a = from_values({3}, {1, 2, 3}, kInt64);
  const Tensor b = from_values({2, 3}, {10, 20, 30, 40, 50, 60}, kFloat32);
  const Tensor y = where(c, a, b);
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_values(y, {2, 3}, {1, 2, 3, 40, 50, 60}, 0);
  expect_values(where(c, a, 0), {2, 3}, {1, 2, 3, 0, 0, 0}, 0);
  EXPECT_THROW(where(a, a, a), DTypeError);
}

TEST(Clamp, BoundsAndNan) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = from_values({5}, {-3, -0.5, 0.5, 3, nan}, kFloat32);
  const auto y = values_of(clamp(x, -1, 1));
  EXPECT_EQ(std::vector<double>(y.begin(), y.begin() + 4), (std::vector<double>{-1, -0.5, 0.5, 1}));
  EXPECT_TRUE(std::isnan(y[4]));
  expect_values(clamp(x.slice(0, 0, 4), std::nullopt, 0), {4}, {-3, -0.5, 0, 0}, 0);
  expect_values(from_values({3}, {-5, 5, 50}, kInt32).clamp(0, 10), {3}, {0, 5, 10}, 0);
  EXPECT_THROW(clamp(x, std::nullopt, std::nullopt), ValueError);
}

TEST(Cast, ConvertsBetweenEveryPairOfDtypes) {
  const std::vector<double> v{0, 1, 2, 3, 100, 7};
  for (DType from : all_dtypes()) {
    for (DType to : all_dtypes()) {
      std::vector<double> src = v;
      if (from == kBool) src = {0, 1, 1, 0, 1, 1};
      const Tensor x = from_values({2, 3}, src, from);
      const Tensor y = x.t().to(to);  // non-contiguous source
      EXPECT_EQ(y.dtype(), to);
      std::vector<double> expected;
      for (double e : values_of(x.t())) expected.push_back(stored(e, to));
      expect_values(y, {3, 2}, expected, tolerance(to), -1,
                    std::string(dtype_name(from)) + "->" + dtype_name(to));
    }
  }
  // Float to integer truncates toward zero; float16 rounds to nearest even.
  expect_values(from_values({3}, {-2.7, 2.7, 0.5}, kFloat64).to(kInt32), {3}, {-2, 2, 0}, 0);
  expect_values(from_values({2}, {65520.0, 1.0 + 1.0 / 2048}, kFloat32).to(kFloat16), {2},
                {INFINITY, 1.0}, 0);
}

TEST(InPlace, WritesThroughViewsAndChecksTheResultType) {
  Tensor x = from_values({2, 3}, {1, 2, 3, 4, 5, 6}, kFloat32);
  Tensor row = x.select(0, 1);
  row.add_(10);
  expect_values(x, {2, 3}, {1, 2, 3, 14, 15, 16}, 0);
  x.mul_(from_values({3}, {1, 0, 2}, kFloat32));
  expect_values(x, {2, 3}, {1, 0, 6, 14, 0, 32}, 0);
  Tensor i = from_values({2}, {1, 2}, kInt32);
  EXPECT_THROW(i.add_(0.5), DTypeError);
  EXPECT_THROW(from_values({1}, {1}, kFloat32).add_(from_values({2}, {1, 2}, kFloat32)),
               ShapeError);
  x.zero_();
  expect_values(x, {2, 3}, std::vector<double>(6, 0), 0);
}

}  // namespace
}  // namespace ember::testing
