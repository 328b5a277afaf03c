// operator<< prints as PyTorch does (checked against torch's output for the same values).
#include "tests/test_util.h"

namespace ember::testing {
namespace {

TEST(Print, MatchesPyTorchFormat) {
  EXPECT_EQ(to_string(tensor({{1.0, 2.0}, {3.0, 4.0}})), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(to_string(tensor({1.5, -2.25})), "tensor([ 1.5000, -2.2500])");
  EXPECT_EQ(to_string(tensor({1, 2, 3})), "tensor([1, 2, 3])");
  EXPECT_EQ(to_string(tensor({1, 2}, kInt32)), "tensor([1, 2], dtype=ember.int32)");
  EXPECT_EQ(to_string(tensor({true, false})), "tensor([ True, False])");
  EXPECT_EQ(to_string(tensor(3.5)), "tensor(3.5000)");
  EXPECT_EQ(to_string(zeros({2, 0})), "tensor([], size=(2, 0))");
  EXPECT_EQ(to_string(zeros({0})), "tensor([])");
  EXPECT_EQ(to_string(ones({2}, kFloat64)), "tensor([1., 1.], dtype=ember.float64)");
  EXPECT_EQ(to_string(tensor({1e-5, 1.0})), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(to_string(tensor({INFINITY, -INFINITY, NAN, 1.0})), "tensor([ inf, -inf,  nan,   1.])");
  EXPECT_EQ(to_string(arange(8).reshape({2, 2, 2})),
            "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])");
  EXPECT_EQ(to_string(Tensor()), "[ Tensor (undefined) ]");
}

TEST(Print, SummarizesLargeTensors) {
  const std::string s = to_string(arange(2000));
  EXPECT_EQ(s, "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
}

TEST(Print, WrapsLongRows) {
  const std::string s = to_string(arange(30).to(kFloat32) / 7);
  EXPECT_NE(s.find(",\n        "), std::string::npos) << s;
}

}  // namespace
}  // namespace ember::testing
