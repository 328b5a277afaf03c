// The LLVM CPU backend on elementwise kernels: lowered from fused graphs, compiled, run, and
// compared with the reference interpreter, on contiguous (vectorized loop), broadcast and
// transposed (strided loop) operands; the in-memory kernel cache; unsupported input refused.
#include <gtest/gtest.h>

#include <unordered_map>

#include "ember/codegen/backend.h"
#include "ember/codegen/legalize.h"
#include "ember/codegen/llvm_backend.h"
#include "ember/codegen/plan.h"
#include "ember/passes/fuse.h"
#include "ember/passes/pipeline.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

// Fuses the graph, compiles each of its kernels and runs them in order on `inputs`; returns the
// graph's outputs.
std::vector<Array> compile_and_run(ir::Graph& g, const std::vector<Array>& inputs) {
  passes::run_pipeline(g);
  std::unordered_map<const ir::Value*, Array> values;
  for (size_t i = 0; i < inputs.size(); ++i) values[g.inputs()[i]] = inputs[i];
  for (int group = 0; group < passes::count_kernels(g); ++group) {
    const codegen::LoweredKernel k = codegen::lower_elementwise(g, group);
    const codegen::InnerLoopFn fn = codegen::compile_cpu(k.ir);
    std::vector<Array> buffers;
    for (const ir::Value* v : k.inputs) buffers.push_back(values.at(v));
    Shape domain;
    for (const ir::SymInt& d : k.outputs[0]->shape) domain.push_back(d.value());
    for (const ir::Value* v : k.outputs) {
      values[v] = Array::empty(domain, v->dtype);
      buffers.push_back(values[v]);
    }
    codegen::run_elementwise(fn, buffers, domain);
  }
  std::vector<Array> outputs;
  for (const ir::Value* v : g.outputs()) outputs.push_back(values.at(v));
  return outputs;
}

void expect_same_as_interpreter(const char* text, const std::vector<Array>& inputs, double tol) {
  auto reference = ir::parse(text);
  const std::vector<Array> want = ir::interpret(*reference, inputs);
  auto g = ir::parse(text);
  const std::vector<Array> got = compile_and_run(*g, inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const Tensor w(want[i]);
    expect_values(Tensor(got[i]), w.sizes().vec(), values_of(w), tol, tol, text);
  }
}

const char* kChain = R"(graph @chain(%x: f32[64, 100], %b: f32[100]) -> (f32[64, 100]) {
  %c = constant() {dtype = f32, shape = [], value = 0.7071067811865476} : f32[]
  %h = constant() {dtype = f32, shape = [], value = 0.5} : f32[]
  %one = constant() {dtype = f32, shape = [], value = 1.0} : f32[]
  %a = add(%x, %b) : f32[64, 100]
  %s = mul(%a, %c) : f32[64, 100]
  %e = erf(%s) : f32[64, 100]
  %p = add(%one, %e) : f32[64, 100]
  %q = mul(%a, %h) : f32[64, 100]
  %g = mul(%q, %p) : f32[64, 100]
  %t = tanh(%g) : f32[64, 100]
  %m = maximum(%t, %q) : f32[64, 100]
  return %m
}
)";

TEST(CpuBackend, ElementwiseChainMatchesTheInterpreter) {
  manual_seed(3);
  expect_same_as_interpreter(kChain, {randn({64, 100}).array(), randn({100}).array()}, 2e-6);
}

TEST(CpuBackend, NonContiguousOperandsTakeTheStridedLoop) {
  manual_seed(4);
  const Array x = randn({100, 64}).t().array();  // transposed view
  ASSERT_FALSE(x.is_contiguous());
  expect_same_as_interpreter(kChain, {x, randn({100}).array()}, 2e-6);
}

TEST(CpuBackend, ComparisonsWhereCastsAndFloat64) {
  const char* text = R"(graph @f(%x: f64[33, 7], %y: f64[33, 7]) -> (f64[33, 7], bool[33, 7]) {
  %gt = gt(%x, %y) : bool[33, 7]
  %w = where(%gt, %x, %y) : f64[33, 7]
  %e = exp(%w) : f64[33, 7]
  %f = cast(%e) {dtype = f32} : f32[33, 7]
  %d = cast(%f) {dtype = f64} : f64[33, 7]
  %s = sigmoid(%d) : f64[33, 7]
  %n = logical_not(%gt) : bool[33, 7]
  return %s, %n
}
)";
  manual_seed(5);
  expect_same_as_interpreter(
      text, {randn({33, 7}, kFloat64).array(), randn({33, 7}, kFloat64).array()}, 1e-7);
}

TEST(CpuBackend, IntegerKernelsWrapAndCastsSaturate) {
  const char* text =
      R"(graph @f(%x: i32[40], %y: f32[40], %u: u8[40]) -> (i32[40], i8[40], f32[40], u8[40]) {
  %big = constant() {dtype = i32, shape = [], value = 2147483647.0} : i32[]
  %s = add(%x, %big) : i32[40]
  %m = maximum(%s, %x) : i32[40]
  %n = neg(%m) : i32[40]
  %c = cast(%y) {dtype = i8} : i8[40]
  %d = div(%x, %x) : f32[40]
  %e = exp(%u) : f32[40]
  %f = add(%d, %e) : f32[40]
  %g = mul(%u, %u) : u8[40]
  return %n, %c, %f, %g
}
)";
  manual_seed(6);
  const Array x = randint(-1000, 1000, {40}, kInt32).array();
  const Array y = (randn({40}) * 300).array();  // past int8's range: saturates
  const Array u = randint(1, 6, {40}, kUInt8).array();
  expect_same_as_interpreter(text, {x, y, u}, 1e-6);
}

// sign of a uint8 is 1 for every nonzero value, 128..255 included (found by the CUDA emulation
// test, which compares the two backends on edge values).
TEST(CpuBackend, SignOfUnsignedIsOneForEveryNonzeroValue) {
  const char* text = R"(graph @f(%u: u8[6]) -> (u8[6]) {
  %s = sign(%u) : u8[6]
  return %s
}
)";
  const Array u = from_values({6}, {0, 1, 127, 128, 200, 255}, kUInt8).array();
  expect_same_as_interpreter(text, {u}, 0);
  auto g = ir::parse(text);
  passes::fuse(*g);
  const codegen::ExecutablePlan plan(*g);
  expect_values(Tensor(plan.run({u})[0]), {6}, {0, 1, 1, 1, 1, 1}, 0);
}

TEST(CpuBackend, HalfPrecisionRoundsAfterEveryOpLikeEager) {
  const char* text = R"(graph @f(%x: f16[64], %y: bf16[64]) -> (f16[64], bf16[64]) {
  %a = mul(%x, %x) : f16[64]
  %b = add(%a, %x) : f16[64]
  %e = exp(%b) : f16[64]
  %c = cast(%y) {dtype = f32} : f32[64]
  %t = tanh(%c) : f32[64]
  %z = cast(%t) {dtype = bf16} : bf16[64]
  %w = mul(%z, %y) : bf16[64]
  return %e, %w
}
)";
  manual_seed(7);
  expect_same_as_interpreter(text, {randn({64}, kFloat16).array(), randn({64}, kBFloat16).array()},
                             0);
}

TEST(CpuBackend, IdenticalKernelsCompileOnce) {
  auto g = ir::parse(kChain);
  passes::run_pipeline(*g);
  const codegen::LoweredKernel k = codegen::lower_elementwise(*g, 0);
  const codegen::InnerLoopFn first = codegen::compile_cpu(k.ir);
  const int64_t compiles = codegen::cpu_compile_count();
  EXPECT_EQ(codegen::compile_cpu(k.ir), first);
  EXPECT_EQ(codegen::cpu_compile_count(), compiles);
}

TEST(CpuBackend, UnsupportedKernelsAreRefusedClearly) {
  auto g = ir::parse(R"(graph @f(%x: f32[4, 8]) -> (f32[4, 1]) {
  %s = reduce_sum(%x) {dims = [1], keepdim = true} : f32[4, 1]
  return %s
}
)");
  passes::fuse(*g);
  EXPECT_THROW(codegen::lower_elementwise(*g, 0), Error);
  auto h = ir::parse(R"(graph @f(%x: i32[4]) -> (i32[4]) {
  %a = pow(%x, %x) : i32[4]
  return %a
}
)");
  passes::fuse(*h);
  const codegen::KernelIR pow_kernel = codegen::lower_elementwise(*h, 0).ir;
  EXPECT_THROW(codegen::compile_cpu(pow_kernel), BackendError);
  // The backend says so before compiling, and a plan runs the kernel's nodes instead.
  EXPECT_EQ(codegen::cpu_backend().unsupported(pow_kernel),
            std::optional<std::string>("pow on int32 is not supported by the CPU backend yet"));
  const codegen::ExecutablePlan plan(*h);
  EXPECT_EQ(plan.num_kernels(), 0);
  EXPECT_EQ(plan.num_eager_nodes(), 1);
  const Tensor x = from_values({4}, {2, 3, -1, 0}, kInt32);
  expect_values(Tensor(plan.run({x.array()})[0]), {4}, {4, 27, -1, 1}, 0);
  // What it does cover it says nothing about.
  auto f = ir::parse(R"(graph @f(%x: f32[4], %b: bool[4]) -> (f32[4], bool[4]) {
  %a = pow(%x, %x) : f32[4]
  %c = add(%b, %b) : bool[4]
  return %a, %c
}
)");
  passes::fuse(*f);
  for (int group = 0; group < passes::count_kernels(*f); ++group)
    EXPECT_EQ(codegen::cpu_backend().unsupported(codegen::lower_elementwise(*f, group).ir),
              std::nullopt);
}

}  // namespace
}  // namespace ember::testing

namespace ember::testing {
namespace {

// Lowers and runs every kernel of a fused graph, element or row form, in order.
std::vector<Array> run_all_kernels(ir::Graph& g, const std::vector<Array>& inputs) {
  passes::run_pipeline(g);
  std::unordered_map<const ir::Value*, Array> values;
  for (size_t i = 0; i < inputs.size(); ++i) values[g.inputs()[i]] = inputs[i];
  for (int group = 0; group < passes::count_kernels(g); ++group) {
    bool rows = false;
    for (const auto& n : g.nodes())
      rows |= n->group == group && ir::op_category(n->op) == ir::OpCategory::Reduce;
    if (!rows) {
      const codegen::LoweredKernel k = codegen::lower_elementwise(g, group);
      std::vector<Array> buffers;
      for (const ir::Value* v : k.inputs) buffers.push_back(values.at(v));
      Shape domain;
      for (const ir::SymInt& d : k.outputs[0]->shape) domain.push_back(d.value());
      for (const ir::Value* v : k.outputs)
        buffers.push_back(values[v] = Array::empty(domain, v->dtype));
      codegen::run_elementwise(codegen::compile_cpu(k.ir), buffers, domain);
      continue;
    }
    const codegen::LoweredRowKernel k = codegen::lower_rows(g, group);
    std::vector<Array> buffers;
    for (const ir::Value* v : k.inputs) buffers.push_back(values.at(v));
    for (const ir::Value* v : k.outputs) {
      Shape shape;
      for (const ir::SymInt& d : v->shape) shape.push_back(d.value());
      buffers.push_back(values[v] = Array::empty(shape, v->dtype));
    }
    codegen::run_rows(codegen::compile_rows(k.ir), k.ir, buffers, ir::evaluate_shape(k.domain),
                      k.reduced);
  }
  std::vector<Array> outputs;
  for (const ir::Value* v : g.outputs()) outputs.push_back(values.at(v));
  return outputs;
}

void expect_rows_match(const TraceableFn& fn, const std::vector<Tensor>& inputs, double tol) {
  const TracedGraph traced = trace(fn, inputs);
  const auto args = traced.interpreter_inputs(inputs);
  const std::vector<Array> want = ir::interpret(*traced.graph, args);
  auto g = ir::parse(ir::print(*traced.graph));
  const std::vector<Array> got = run_all_kernels(*g, args);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const Tensor w(want[i]);
    expect_values(Tensor(got[i]), w.sizes().vec(), values_of(w), tol, tol, ir::print(*g));
  }
}

TEST(CpuRowKernels, SoftmaxLogSoftmaxLayerNormRmsNorm) {
  manual_seed(8);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> { return {softmax(x[0], -1)}; },
      {randn({37, 130})}, 1e-6);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {log_softmax(x[0] * 3, -1)};
      },
      {randn({5, 6, 40})}, 1e-5);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {layer_norm(x[0], {64}, x[1], x[2])};
      },
      {randn({17, 64}), randn({64}), randn({64})}, 1e-5);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {x[0] * rsqrt(mean(x[0] * x[0], -1, true) + 1e-6) * x[1]};
      },
      {randn({9, 48}), randn({48})}, 1e-5);
}

TEST(CpuRowKernels, SumsMaxMinOverTrailingDimsAndDtypes) {
  manual_seed(9);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {x[0].sum({1, 2}), x[0].amax(-1, true), x[0].amin(-1)};
      },
      {randn({4, 5, 6})}, 1e-6);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
        return {(x[0] * 2).sum(-1), x[0].prod(-1)};
      },
      {randint(-3, 4, {6, 7}, kInt32)}, 0);
  expect_rows_match(
      [](const std::vector<Tensor>& x) -> std::vector<Tensor> { return {softmax(x[0], -1)}; },
      {randn({8, 33}, kFloat16)}, 2e-3);
}

// Legalization makes the scalar semantics explicit in the kernel IR (one copy, for every
// backend): int -> float promotion as casts, 16-bit results computed in float32 and rounded by a
// cast back, bool arithmetic as logical ops, floor of an integer as the integer itself.
TEST(Legalize, ScalarSemanticsBecomeExplicitOps) {
  auto g = ir::parse(
      R"(graph @f(%h: f16[8], %i: i64[8], %b: bool[8]) -> (f16[8], f32[8], bool[8], i64[8]) {
  %hh = mul(%h, %h) : f16[8]
  %e = exp(%i) : f32[8]
  %bb = add(%b, %b) : bool[8]
  %fi = floor(%i) : i64[8]
  return %hh, %e, %bb, %fi
}
)");
  passes::fuse(*g);
  ASSERT_EQ(passes::count_kernels(*g), 4);  // one per output: nothing connects them
  std::vector<std::string> text;
  for (int group = 0; group < 4; ++group) {
    const codegen::KernelIR k = codegen::lower_elementwise(*g, group).ir;
    text.push_back(k.text());
    EXPECT_EQ(codegen::legalize(k).text(), text.back());  // legal already: unchanged
  }
  // The f16 product: a cast up of the load, a f32 mul, a cast down.
  EXPECT_NE(text[0].find("e1: f32 = cast e0\n  e2: f32 = mul e1 e1\n  e3: f16 = cast e2"),
            std::string::npos)
      << text[0];
  EXPECT_NE(text[1].find("e1: f32 = cast e0\n  e2: f32 = exp e1"), std::string::npos)
      << text[1];  // exp(int): promoted
  EXPECT_NE(text[2].find("e1: bool = logical_or e0 e0"), std::string::npos) << text[2];
  EXPECT_EQ(text[3].find("floor"), std::string::npos) << text[3];
  // And it computes what eager does.
  const Tensor h = from_values({8}, {0.1, 1.5, -2.25, 3, 1e4, -0.5, 7, 0.3}, kFloat16);
  const Tensor i = from_values({8}, {0, 1, 2, -1, 3, 4, -2, 5}, kInt64);
  const Tensor b = from_values({8}, {0, 1, 0, 1, 1, 0, 0, 1}, kBool);
  const codegen::ExecutablePlan plan(*g);
  EXPECT_EQ(plan.num_kernels(), 4);
  const std::vector<Array> out = plan.run({h.array(), i.array(), b.array()});
  expect_values(Tensor(out[0]), {8}, values_of(h * h), 0);
  expect_values(Tensor(out[1]), {8}, values_of(exp(i)), 1e-6);
  expect_values(Tensor(out[2]), {8}, values_of(logical_or(b, b)), 0);
  expect_values(Tensor(out[3]), {8}, values_of(i), 0);
}

// A kernel's binary is object code that can be kept apart (what export embeds) and loaded back;
// bytes that are no object file are refused.
TEST(CpuBackend, BinariesLoadBack) {
  auto g = ir::parse(R"(graph @f(%x: f32[64]) -> (f32[64]) {
  %c = constant() {dtype = f32, shape = [], value = 3.0} : f32[]
  %m = mul(%x, %c) : f32[64]
  %e = exp(%m) : f32[64]
  return %e
}
)");
  passes::fuse(*g);
  codegen::KernelIR k = codegen::lower_elementwise(*g, 0).ir;
  k.name = "binary_round_trip";  // a kernel of its own, compiled here first
  codegen::KernelCacheOptions no_disk;
  no_disk.disk = false;
  codegen::Backend& cpu = codegen::cpu_backend();
  const std::string object = cpu.binary(k, no_disk);
  ASSERT_GT(object.size(), 64u);
  EXPECT_EQ(object.substr(1, 3), "ELF");
  const auto loaded = cpu.load(k, object);
  const Tensor x = from_values({64}, std::vector<double>(64, 0.25), kFloat32);
  Array out = Array::empty({64}, kFloat32);
  const Array* buffers[] = {&x.array(), &out};
  cpu.launch(*loaded, k, buffers, 2, {64}, 0);
  expect_values(Tensor(out), {64}, values_of(exp(x * 3.0)), 1e-6);
  codegen::KernelIR other = k;
  other.name = "not_an_object";
  EXPECT_THROW(cpu.load(other, "this is not an object file"), BackendError);
}

}  // namespace
}  // namespace ember::testing
