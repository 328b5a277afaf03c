// The builder and the shape/dtype rules: every primitive built on static and symbolic shapes,
// with the result type it must have, and an ill-typed construction of each that must throw.
#include <gtest/gtest.h>

#include "ember/ember.h"
#include "ember/ir/mutator.h"
#include "ember/passes/canonicalize.h"
#include "ember/passes/dead_code_elimination.h"
#include "tests/test_util.h"

namespace ember::ir {
namespace {

const SymInt s0 = SymInt::symbol(0), s1 = SymInt::symbol(1);

std::string type_of(const Value* v) { return dtype_short_name(v->dtype) + shape_text(v->shape); }

TEST(SymInt, CanonicalArithmetic) {
  EXPECT_EQ((s0 * 784).str(), "784*s0");
  EXPECT_EQ((s0 * s1 + s0 + 1 - s0).str(), "s0*s1 + 1");
  EXPECT_EQ(s0 * s1, s1 * s0);
  EXPECT_EQ(s0 + s0, s0 * 2);
  EXPECT_EQ((s0 - s0), SymInt(0));
  EXPECT_TRUE((s0 - s0).is_constant());
  EXPECT_EQ(SymInt::divide(s0 * 784, SymInt(28 * 28)).value(), s0);
  EXPECT_EQ(SymInt::divide(s0 * s1 * 6, s1 * 3).value(), s0 * 2);
  EXPECT_FALSE(SymInt::divide(s0 * 5, SymInt(2)).has_value());
  EXPECT_FALSE(SymInt::divide(s0 + 1, s0).has_value());
  EXPECT_EQ((s0 * 3 + s1).evaluate({4, 5}), 17);
  EXPECT_EQ((s0 * -2 + 3).str(), "-2*s0 + 3");
}

// One builder case: inputs (dtype, shape), the op, attrs, and the expected result type.
struct Built {
  Graph g;
  std::vector<Value*> in;
};
Value* build(Built& b, Op op, std::vector<std::pair<DType, SymShape>> inputs, Attrs attrs = {}) {
  for (auto& [d, s] : inputs) b.in.push_back(b.g.add_input(d, s));
  return b.g.add(op, b.in, std::move(attrs));
}
std::string result(Op op, std::vector<std::pair<DType, SymShape>> inputs, Attrs attrs = {}) {
  Built b;
  Value* v = build(b, op, std::move(inputs), std::move(attrs));
  verify(b.g);
  return v ? type_of(v) : "none";
}

TEST(Rules, EveryUnaryOp) {
  for (int i = 0; i < kNumOps; ++i) {
    const Op op = Op(i);
    if (op_category(op) != OpCategory::Unary) continue;
    EXPECT_EQ(result(op, {{kFloat32, {s0, 3}}}),
              op == Op::LogicalNot ? "bool[s0, 3]" : "f32[s0, 3]")
        << op_name(op);
    EXPECT_EQ(result(op, {{kFloat16, {2}}}), op == Op::LogicalNot ? "bool[2]" : "f16[2]");
  }
  EXPECT_EQ(result(Op::Exp, {{kInt64, {4}}}), "f32[4]");
  EXPECT_EQ(result(Op::Abs, {{kInt32, {4}}}), "i32[4]");
  EXPECT_THROW(result(Op::Neg, {{kBool, {4}}}), DTypeError);
  EXPECT_THROW(result(Op::Exp, {{kFloat32, {4}}, {kFloat32, {4}}}), ValueError);
}

TEST(Rules, EveryBinaryOpBroadcastsSymbolically) {
  for (int i = 0; i < kNumOps; ++i) {
    const Op op = Op(i);
    if (op_category(op) != OpCategory::Binary) continue;
    const bool cmp = op >= Op::Eq;
    EXPECT_EQ(result(op, {{kFloat32, {s0, 1, 4}}, {kFloat32, {5, 1}}}),
              cmp ? "bool[s0, 5, 4]" : "f32[s0, 5, 4]")
        << op_name(op);
    EXPECT_EQ(result(op, {{kInt32, {s0 * 2}}, {kInt32, {s0 * 2}}}), cmp             ? "bool[2*s0]"
                                                                    : op == Op::Div ? "f32[2*s0]"
                                                                                    : "i32[2*s0]");
    EXPECT_THROW(result(op, {{kFloat32, {3}}, {kFloat64, {3}}}), DTypeError) << op_name(op);
    EXPECT_THROW(result(op, {{kFloat32, {3}}, {kFloat32, {4}}}), ShapeError) << op_name(op);
    EXPECT_THROW(result(op, {{kFloat32, {s0}}, {kFloat32, {s1}}}), ShapeError) << op_name(op);
  }
  EXPECT_THROW(result(Op::Sub, {{kBool, {3}}, {kBool, {3}}}), DTypeError);
}

TEST(Rules, WhereAndCast) {
  EXPECT_EQ(result(Op::Where, {{kBool, {s0, 1}}, {kFloat32, {4}}, {kFloat32, {s0, 4}}}),
            "f32[s0, 4]");
  EXPECT_THROW(result(Op::Where, {{kFloat32, {4}}, {kFloat32, {4}}, {kFloat32, {4}}}), DTypeError);
  EXPECT_THROW(result(Op::Where, {{kBool, {4}}, {kFloat32, {4}}, {kInt32, {4}}}), DTypeError);
  EXPECT_EQ(result(Op::Cast, {{kFloat32, {s0}}}, {{ir::Attr::DType, kBFloat16}}), "bf16[s0]");
  EXPECT_THROW(result(Op::Cast, {{kFloat32, {2}}}), ValueError);  // missing attribute
}

TEST(Rules, Reductions) {
  const Attrs d1{{ir::Attr::Dims, std::vector<SymInt>{1}}, {ir::Attr::Keepdim, false}};
  const Attrs all{{ir::Attr::Dims, std::vector<SymInt>{}}, {ir::Attr::Keepdim, true}};
  EXPECT_EQ(result(Op::ReduceSum, {{kFloat32, {s0, 4, 5}}}, d1), "f32[s0, 5]");
  EXPECT_EQ(result(Op::ReduceSum, {{kInt32, {s0, 4}}}, all), "i64[1, 1]");
  EXPECT_EQ(result(Op::ReduceProd, {{kBool, {3}}}, all), "i64[1]");
  EXPECT_EQ(result(Op::ReduceMax, {{kFloat16, {s0, 4, 5}}}, d1), "f16[s0, 5]");
  EXPECT_EQ(result(Op::ReduceMin, {{kInt8, {2, 3}}}, all), "i8[1, 1]");
  EXPECT_EQ(result(Op::ArgMax, {{kFloat32, {s0, 4}}}, d1), "i64[s0]");
  EXPECT_EQ(result(Op::ArgMin, {{kFloat32, {3, 4}}},
                   {{ir::Attr::Dims, std::vector<SymInt>{}}, {ir::Attr::Keepdim, false}}),
            "i64[]");
  EXPECT_THROW(result(Op::ReduceSum, {{kFloat32, {3}}},
                      {{ir::Attr::Dims, std::vector<SymInt>{1}}, {ir::Attr::Keepdim, false}}),
               IndexError);
  EXPECT_THROW(result(Op::ReduceSum, {{kFloat32, {3, 3}}},
                      {{ir::Attr::Dims, std::vector<SymInt>{0, -2}}, {ir::Attr::Keepdim, false}}),
               IndexError);
  EXPECT_THROW(result(Op::ArgMax, {{kFloat32, {3, 3}}},
                      {{ir::Attr::Dims, std::vector<SymInt>{0, 1}}, {ir::Attr::Keepdim, false}}),
               ValueError);
}

TEST(Rules, Movement) {
  EXPECT_EQ(result(Op::Reshape, {{kFloat32, {s0, 784}}},
                   {{ir::Attr::Shape, std::vector<SymInt>{s0, 28, 28}}}),
            "f32[s0, 28, 28]");
  EXPECT_EQ(result(Op::Reshape, {{kFloat32, {s0, s1}}},
                   {{ir::Attr::Shape, std::vector<SymInt>{s0 * s1}}}),
            "f32[s0*s1]");
  EXPECT_THROW(
      result(Op::Reshape, {{kFloat32, {s0, 4}}}, {{ir::Attr::Shape, std::vector<SymInt>{s0, 5}}}),
      ShapeError);
  EXPECT_EQ(result(Op::Permute, {{kFloat32, {s0, 3, 4}}},
                   {{ir::Attr::Dims, std::vector<SymInt>{2, 0, 1}}}),
            "f32[4, s0, 3]");
  EXPECT_THROW(
      result(Op::Permute, {{kFloat32, {2, 3}}}, {{ir::Attr::Dims, std::vector<SymInt>{0, 0}}}),
      IndexError);
  EXPECT_THROW(
      result(Op::Permute, {{kFloat32, {2, 3}}}, {{ir::Attr::Dims, std::vector<SymInt>{0}}}),
      ShapeError);
  EXPECT_EQ(
      result(Op::Expand, {{kFloat32, {s0, 1}}}, {{ir::Attr::Shape, std::vector<SymInt>{2, s0, 7}}}),
      "f32[2, s0, 7]");
  EXPECT_THROW(
      result(Op::Expand, {{kFloat32, {3, 2}}}, {{ir::Attr::Shape, std::vector<SymInt>{3, 4}}}),
      ShapeError);
  const Attrs sl{{ir::Attr::Dim, 1}, {ir::Attr::Start, 1}, {ir::Attr::End, 7}, {ir::Attr::Step, 2}};
  EXPECT_EQ(result(Op::Slice, {{kFloat32, {s0, 8}}}, sl), "f32[s0, 3]");
  EXPECT_THROW(result(Op::Slice, {{kFloat32, {s0, 5}}}, sl), ValueError);
  // A symbolic sliced dim with constant bounds (checked against it when sizes are bound), and
  // symbolic bounds, which need step 1: their length is end - start.
  EXPECT_EQ(result(Op::Slice, {{kFloat32, {4, s0}}}, sl), "f32[4, 3]");
  const Attrs last{
      {ir::Attr::Dim, 0}, {ir::Attr::Start, s0 - 1}, {ir::Attr::End, s0}, {ir::Attr::Step, 1}};
  EXPECT_EQ(result(Op::Slice, {{kFloat32, {s0, 8}}}, last), "f32[1, 8]");
  const Attrs head{
      {ir::Attr::Dim, 1}, {ir::Attr::Start, 0}, {ir::Attr::End, s0}, {ir::Attr::Step, 1}};
  EXPECT_EQ(result(Op::Slice, {{kFloat32, {s0, 32}}}, head), "f32[s0, s0]");
  Attrs strided = head;
  strided.set(ir::Attr::Step, int64_t(2));
  EXPECT_THROW(result(Op::Slice, {{kFloat32, {s0, 32}}}, strided), ValueError);
  // A constant SymInt is stored as the int it is.
  EXPECT_TRUE(std::holds_alternative<int64_t>(last.get(ir::Attr::Step)));
  EXPECT_TRUE(
      std::holds_alternative<int64_t>(Attrs{{ir::Attr::Start, s0 - s0}}.get(ir::Attr::Start)));
  EXPECT_EQ(result(Op::Pad, {{kFloat32, {s0, 3, 4}}},
                   {{ir::Attr::Pads, std::vector<SymInt>{1, 2, 0, 1}}, {ir::Attr::Value, 0.0}}),
            "f32[s0, 4, 7]");
  EXPECT_THROW(result(Op::Pad, {{kFloat32, {3}}},
                      {{ir::Attr::Pads, std::vector<SymInt>{1}}, {ir::Attr::Value, 0.0}}),
               ValueError);
  EXPECT_EQ(result(Op::Concat, {{kFloat32, {s0, 2}}, {kFloat32, {s0, 3}}}, {{ir::Attr::Dim, 1}}),
            "f32[s0, 5]");
  EXPECT_EQ(result(Op::Concat, {{kFloat32, {s0, 2}}, {kFloat32, {s1, 2}}}, {{ir::Attr::Dim, 0}}),
            "f32[s0 + s1, 2]");
  EXPECT_THROW(result(Op::Concat, {{kFloat32, {2, 2}}, {kFloat32, {3, 3}}}, {{ir::Attr::Dim, 0}}),
               ShapeError);
}

TEST(Rules, MatmulConvPool) {
  EXPECT_EQ(result(Op::Matmul, {{kFloat32, {s0, 784}}, {kFloat32, {784, 512}}}), "f32[s0, 512]");
  EXPECT_EQ(result(Op::Matmul, {{kFloat32, {2, 1, 3, 4}}, {kFloat32, {5, 4, 6}}}),
            "f32[2, 5, 3, 6]");
  try {
    result(Op::Matmul, {{kFloat32, {2, 3}}, {kFloat32, {4, 5}}});
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)");
  }
  EXPECT_THROW(result(Op::Matmul, {{kFloat32, {3}}, {kFloat32, {3, 2}}}), ShapeError);
  const Attrs conv{{ir::Attr::Stride, std::vector<SymInt>{2, 2}},
                   {ir::Attr::Padding, std::vector<SymInt>{1, 1}},
                   {ir::Attr::Dilation, std::vector<SymInt>{1, 1}},
                   {ir::Attr::Groups, 1}};
  EXPECT_EQ(result(Op::Conv2d, {{kFloat32, {s0, 3, 32, 32}}, {kFloat32, {16, 3, 3, 3}}}, conv),
            "f32[s0, 16, 16, 16]");
  EXPECT_THROW(result(Op::Conv2d, {{kFloat32, {1, 4, 8, 8}}, {kFloat32, {16, 3, 3, 3}}}, conv),
               ShapeError);
  const Attrs pool{{ir::Attr::Kernel, std::vector<SymInt>{2, 2}},
                   {ir::Attr::Stride, std::vector<SymInt>{2, 2}},
                   {ir::Attr::Padding, std::vector<SymInt>{0, 0}},
                   {ir::Attr::Dilation, std::vector<SymInt>{1, 1}},
                   {ir::Attr::CeilMode, false}};
  EXPECT_EQ(result(Op::MaxPool2d, {{kFloat32, {s0, 3, 9, 9}}}, pool), "f32[s0, 3, 4, 4]");
  const Attrs avg{{ir::Attr::Kernel, std::vector<SymInt>{2, 2}},
                  {ir::Attr::Stride, std::vector<SymInt>{2, 2}},
                  {ir::Attr::Padding, std::vector<SymInt>{0, 0}},
                  {ir::Attr::CeilMode, false},
                  {ir::Attr::CountIncludePad, true}};
  EXPECT_EQ(result(Op::AvgPool2d, {{kFloat64, {1, 1, 4, 6}}}, avg), "f64[1, 1, 2, 3]");
  EXPECT_THROW(result(Op::MaxPool2d, {{kFloat32, {3, 9, 9}}}, pool), ShapeError);
  EXPECT_THROW(result(Op::MaxPool2d, {{kInt32, {1, 3, 9, 9}}}, pool), DTypeError);
}

// attributes.def lists names in text order (Attrs keeps items in enum order, the text form prints
// them so), and every name reads back.
TEST(Rules, AttributeNamesAreInTextOrder) {
  for (size_t i = 0; i <= size_t(ir::Attr::Value); ++i) {
    const auto a = ir::Attr(i);
    EXPECT_EQ(ir::attr_from_name(ir::attr_name(a)), a);
    if (i > 0) {
      EXPECT_LT(ir::attr_name(ir::Attr(i - 1)), ir::attr_name(a));
    }
  }
  EXPECT_FALSE(ir::attr_from_name("axis"));
  // Every op's attributes are known names (op_attributes asserts it when it parses the table).
  for (int op = 0; op < ir::kNumOps; ++op) EXPECT_LE(ir::op_attributes(Op(op)).size(), 5u);
}

// ops.def declares each op's attributes with their types: a node gets exactly those.
TEST(Rules, AttributesAreThoseTheOpTableDeclares) {
  auto message = [](Op op, std::vector<std::pair<DType, SymShape>> inputs, const Attrs& attrs) {
    try {
      result(op, std::move(inputs), attrs);
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::vector<std::pair<DType, SymShape>> x{{kFloat32, {2, 3}}};
  EXPECT_EQ(message(Op::ReduceSum, x, {{ir::Attr::Dims, std::vector<SymInt>{1}}}),
            "reduce_sum: missing attribute 'keepdim'");
  EXPECT_EQ(message(Op::ReduceSum, x,
                    {{ir::Attr::Dims, std::vector<SymInt>{1}},
                     {ir::Attr::Keepdim, false},
                     {ir::Attr::Dim, int64_t(1)}}),
            "reduce_sum: unknown attribute 'dim'");
  EXPECT_EQ(message(Op::ReduceSum, x, {{ir::Attr::Dims, int64_t(1)}, {ir::Attr::Keepdim, false}}),
            "reduce_sum: attribute 'dims' must be a list");
  EXPECT_EQ(message(Op::Exp, x, {{ir::Attr::Dim, int64_t(0)}}), "exp: unknown attribute 'dim'");
  EXPECT_EQ(message(Op::Concat, {}, {{ir::Attr::Dim, int64_t(0)}}),
            "concat: expected at least one operand");
  // A float attribute takes an int.
  EXPECT_EQ(message(Op::Guard, {{kFloat32, {}}}, {{ir::Attr::Value, int64_t(3)}}), "no error");
  EXPECT_EQ(ir::op_attributes(Op::Slice).size(), 4u);
  EXPECT_EQ(ir::op_attributes(Op::Slice)[1].name, ir::Attr::Start);
  EXPECT_EQ(ir::op_attributes(Op::Slice)[1].type, ir::AttrType::Size);
  EXPECT_EQ(ir::op_attributes(Op::Slice)[3].type, ir::AttrType::Int);
  EXPECT_EQ(ir::op_attributes(Op::Arange)[1].type, ir::AttrType::Float);
  EXPECT_TRUE(ir::is_commutative(Op::Add));
  EXPECT_FALSE(ir::is_commutative(Op::Sub));
  EXPECT_TRUE(ir::is_transcendental(Op::Exp));
  EXPECT_TRUE(ir::is_library_call(Op::Conv2d));
  EXPECT_FALSE(ir::is_elementwise(Op::ReduceSum));
  EXPECT_FALSE(ir::is_differentiable(Op::ArgMax));
}

TEST(Rules, IndexRandomConstantGuard) {
  EXPECT_EQ(result(Op::IndexSelect, {{kFloat32, {10, s0}}, {kInt64, {s1}}}, {{ir::Attr::Dim, 0}}),
            "f32[s1, s0]");
  EXPECT_THROW(
      result(Op::IndexSelect, {{kFloat32, {10, 4}}, {kFloat32, {3}}}, {{ir::Attr::Dim, 0}}),
      DTypeError);
  EXPECT_EQ(result(Op::Gather, {{kFloat32, {4, 5}}, {kInt64, {4, 2}}}, {{ir::Attr::Dim, 1}}),
            "f32[4, 2]");
  EXPECT_THROW(result(Op::Gather, {{kFloat32, {4, 5}}, {kInt64, {4}}}, {{ir::Attr::Dim, 1}}),
               ShapeError);
  const Attrs rnd{{ir::Attr::Shape, std::vector<SymInt>{s0, 3}}, {ir::Attr::DType, kFloat32}};
  EXPECT_EQ(result(Op::RandUniform, {{kInt64, {}}, {kInt64, {}}}, rnd), "f32[s0, 3]");
  EXPECT_EQ(result(Op::RandNormal, {{kInt64, {}}, {kInt64, {}}}, rnd), "f32[s0, 3]");
  EXPECT_THROW(result(Op::RandNormal, {{kInt32, {}}, {kInt64, {}}}, rnd), DTypeError);
  EXPECT_EQ(result(Op::Constant, {},
                   {{ir::Attr::Value, 1.5},
                    {ir::Attr::Shape, std::vector<SymInt>{2, s0}},
                    {ir::Attr::DType, kFloat16}}),
            "f16[2, s0]");
  EXPECT_EQ(result(Op::Arange, {},
                   {{ir::Attr::Start, 0.0},
                    {ir::Attr::Step, 2.0},
                    {ir::Attr::Shape, std::vector<SymInt>{5}},
                    {ir::Attr::DType, kInt64}}),
            "i64[5]");
  EXPECT_THROW(result(Op::Constant, {},
                      {{ir::Attr::Shape, std::vector<SymInt>{2}}, {ir::Attr::DType, kFloat16}}),
               ValueError);
  EXPECT_EQ(result(Op::Guard, {{kFloat32, {1, 1}}}, {{ir::Attr::Value, 2.0}}), "none");
  EXPECT_THROW(result(Op::Guard, {{kFloat32, {2}}}, {{ir::Attr::Value, 2.0}}), ShapeError);
}

TEST(Rules, Composites) {
  EXPECT_EQ(result(Op::Gelu, {{kFloat16, {s0, 8}}}, {{ir::Attr::Approximate, false}}),
            "f16[s0, 8]");
  EXPECT_EQ(result(Op::Gelu, {{kInt32, {4}}}, {{ir::Attr::Approximate, true}}), "f32[4]");
  EXPECT_EQ(result(Op::Silu, {{kFloat32, {4}}}), "f32[4]");
  EXPECT_EQ(result(Op::Softmax, {{kFloat32, {s0, 8}}}, {{ir::Attr::Dim, -1}}), "f32[s0, 8]");
  EXPECT_THROW(result(Op::Softmax, {{kInt64, {8}}}, {{ir::Attr::Dim, 0}}), DTypeError);
  EXPECT_THROW(result(Op::LogSoftmax, {{kFloat32, {8}}}, {{ir::Attr::Dim, 1}}), IndexError);
  const Attrs ln{{ir::Attr::Ndims, 1}, {ir::Attr::Eps, 1e-5}};
  EXPECT_EQ(result(Op::LayerNorm, {{kFloat32, {s0, 8}}, {kFloat32, {8}}, {kFloat32, {8}}}, ln),
            "f32[s0, 8]");
  EXPECT_EQ(result(Op::LayerNorm, {{kFloat32, {s0, 8}}}, ln), "f32[s0, 8]");
  EXPECT_THROW(result(Op::LayerNorm, {{kFloat32, {2, 8}}, {kFloat32, {4}}}, ln), ShapeError);
  const Attrs red{{ir::Attr::Dims, std::vector<SymInt>{0}}, {ir::Attr::Keepdim, false}};
  EXPECT_EQ(result(Op::Mean, {{kFloat32, {4, s0}}}, red), "f32[s0]");
  Attrs var = red;
  var.set(ir::Attr::Correction, 1.0);
  EXPECT_EQ(result(Op::Var, {{kFloat64, {4, 5}}}, var), "f64[5]");
  EXPECT_THROW(result(Op::Mean, {{kInt32, {4}}}, red), DTypeError);
}

TEST(Graph, NamesAndInputsAndVerifier) {
  Graph g("f");
  Value* x = g.add_input(kFloat32, {s0, 4}, ValueKind::Input, "x");
  EXPECT_THROW(g.add_input(kFloat32, {4}, ValueKind::Input, "x"), ValueError);
  Value* y = g.add(Op::Exp, {x});
  EXPECT_THROW(g.add(Op::Exp, {x}, {}, y->name), ValueError);
  g.set_outputs({y});
  verify(g);
  EXPECT_EQ(g.num_symbols(), 1);
  // A graph edited by hand into an inconsistent state is caught by the verifier.
  Graph other;
  Value* z = other.add_input(kFloat32, {4});
  Graph h;
  h.add_input(kFloat32, {4});
  h.set_outputs({z});
  EXPECT_THROW(verify(h), InternalError);
}

// Each value lists the nodes that read it, once per operand, through every kind of edit; the
// verifier checks the lists.
TEST(Graph, UseListsFollowEveryEdit) {
  Graph g("f");
  Value* x = g.add_input(kFloat32, {4});
  Value* y = g.add_input(kFloat32, {4});
  Value* sq = g.add(Op::Mul, {x, x});
  Value* sum = g.add(Op::Add, {sq, y});
  g.set_outputs({sum});
  EXPECT_EQ(x->users.size(), 2u);   // both operands of the mul
  EXPECT_EQ(g.use_count(sum), 1u);  // an output
  ir::verify(g);
  g.set_input(*sum->producer, 1, x);
  EXPECT_EQ(y->users.size(), 0u);
  EXPECT_EQ(x->users.size(), 3u);
  Value* neg = g.insert(1, Op::Neg, {x});  // between the mul and the add
  g.replace_all_uses(sq, neg);
  EXPECT_EQ(sq->users.size(), 0u);
  EXPECT_EQ(neg->users, std::vector<ir::Node*>{sum->producer});
  EXPECT_EQ(x->users.size(), 4u);
  ir::verify(g);
  EXPECT_TRUE(passes::dead_code_elimination(g));  // the mul goes, and its two uses of x
  EXPECT_EQ(x->users.size(), 2u);
  ir::verify(g);
}

// A mutator overrides visit for the ops it rewrites; everything else is copied, named results
// keep their names, and the rebuilt graph computes the same.
TEST(GraphMutator, RewritesOneOpAndCopiesTheRest) {
  struct NegAsSub : ir::GraphMutator {
    Value* visit(const ir::Node& n) override {
      if (n.op != Op::Neg) return GraphMutator::visit(n);
      Value* zero = out().add(Op::Constant, {},
                              {{ir::Attr::Value, 0.0},
                               {ir::Attr::Shape, std::vector<SymInt>{}},
                               {ir::Attr::DType, kFloat32}});
      return out().add(Op::Sub, {zero, mapped(n.inputs[0])});
    }
  };
  auto g = ir::parse(R"(graph @f(%x: f32[s0, 3], param %w: f32[3]) -> (f32[s0, 3]) {
  %a = mul(%x, %w) : f32[s0, 3]
  %b = neg(%a) : f32[s0, 3]
  %0 = exp(%b) : f32[s0, 3]
  return %0
}
)");
  NegAsSub rewrite;
  const std::unique_ptr<Graph> h = rewrite.run(*g);
  ir::verify(*h);
  const std::string text = ir::print(*h);
  EXPECT_EQ(text.find("neg("), std::string::npos) << text;
  EXPECT_NE(text.find("graph @f(%x: f32[s0, 3], param %w: f32[3])"), std::string::npos) << text;
  EXPECT_NE(text.find("%a = mul(%x, %w)"), std::string::npos) << text;
  EXPECT_NE(text.find("sub(%"), std::string::npos) << text;
  const Tensor x = testing::from_values({2, 3}, {1, -2, 3, 0.5, 0, -1}, kFloat32);
  const Tensor w = testing::from_values({3}, {2, 3, -1}, kFloat32);
  const Tensor want(ir::interpret(*g, {x.array(), w.array()})[0]);
  testing::expect_values(Tensor(ir::interpret(*h, {x.array(), w.array()})[0]), {2, 3},
                         testing::values_of(want), 0);
  rewrite.run_in_place(*g);
  EXPECT_EQ(ir::print(*g), text);
}

TEST(Canonicalize, ALongChainOfReshapesBecomesOne) {
  Graph g("f");
  Value* v = g.add_input(kFloat32, {6});
  for (int i = 0; i < 3000; ++i)
    v = g.add(Op::Reshape, {v},
              {{ir::Attr::Shape, i % 2 ? std::vector<SymInt>{6} : std::vector<SymInt>{2, 3}}});
  v = g.add(Op::Reshape, {v}, {{ir::Attr::Shape, std::vector<SymInt>{3, 2}}});
  g.set_outputs({v});
  EXPECT_TRUE(passes::canonicalize(g));
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.nodes()[0]->inputs[0], g.inputs()[0]);
  EXPECT_EQ(g.outputs()[0]->shape, (ir::SymShape{3, 2}));
  ir::verify(g);
}

TEST(Graph, StructuralHashIgnoresNamesButNotStructure) {
  auto make = [](const char* xname, Op op, int64_t n) {
    auto g = std::make_unique<Graph>(xname);
    Value* x = g->add_input(kFloat32, {n}, ValueKind::Input, xname);
    g->set_outputs({g->add(op, {x})});
    return g;
  };
  EXPECT_EQ(make("a", Op::Exp, 4)->structural_hash(), make("b", Op::Exp, 4)->structural_hash());
  EXPECT_NE(make("a", Op::Exp, 4)->structural_hash(), make("a", Op::Log, 4)->structural_hash());
  EXPECT_NE(make("a", Op::Exp, 4)->structural_hash(), make("a", Op::Exp, 5)->structural_hash());
  // Stable across processes: a fixed graph has a fixed hash (FNV-1a of its canonical text).
  EXPECT_EQ(make("a", Op::Exp, 4)->structural_hash(), 14396856917168312402ull)
      << std::hex << make("a", Op::Exp, 4)->structural_hash();
}

}  // namespace
}  // namespace ember::ir
