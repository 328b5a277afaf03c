// dtypes: sizes and names, float16/bfloat16 conversions (exhaustive over all 65536 bit patterns,
// and rounding to nearest even), and the promotion table.
#include <gtest/gtest.h>

#include <cmath>

#include "ember/runtime/dtype.h"

namespace ember {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(itemsize(kFloat16), 2u);
  EXPECT_EQ(itemsize(kBFloat16), 2u);
  EXPECT_EQ(itemsize(kInt64), 8u);
  EXPECT_EQ(itemsize(kBool), 1u);
  EXPECT_STREQ(dtype_name(kBFloat16), "bfloat16");
}

TEST(Half, EveryBitPatternRoundTripsThroughFloat) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const float f = Half::to_float(uint16_t(bits));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Half::to_float(Half::from_float(f))));
      continue;
    }
    ASSERT_EQ(Half::from_float(f), bits) << bits;
  }
  EXPECT_EQ(float(Half(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(float(Half(65520.0f))));
  EXPECT_EQ(float(Half(1.0f + 1.0f / 2048)), 1.0f);                // tie to even (down)
  EXPECT_EQ(float(Half(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);  // tie to even (up)
  EXPECT_EQ(float(Half(5.96046448e-08f)), 5.96046448e-08f);        // smallest subnormal
}

TEST(BFloat16, EveryBitPatternRoundTripsAndRoundsToNearestEven) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const float f = BFloat16::to_float(uint16_t(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(BFloat16::from_float(f), bits) << bits;
  }
  EXPECT_EQ(float(BFloat16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(float(BFloat16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);
  EXPECT_TRUE(std::isnan(float(BFloat16(NAN))));
}

TEST(Promotion, TableIsSymmetricAndMatchesPyTorch) {
  const DType all[] = {kBool,    kUInt8,    kInt8,    kInt32,  kInt64,
                       kFloat16, kBFloat16, kFloat32, kFloat64};
  for (DType a : all)
    for (DType b : all) EXPECT_EQ(promote_types(a, b), promote_types(b, a));
  EXPECT_EQ(promote_types(kBool, kInt8), kInt8);
  EXPECT_EQ(promote_types(kUInt8, kInt8), kInt32);  // int16 in PyTorch; Ember has none
  EXPECT_EQ(promote_types(kInt64, kFloat16), kFloat16);
  EXPECT_EQ(promote_types(kFloat16, kBFloat16), kFloat32);
  EXPECT_EQ(promote_types(kFloat32, kFloat64), kFloat64);
  EXPECT_EQ(promote_types(kInt32, kInt64), kInt64);
}

}  // namespace
}  // namespace ember
