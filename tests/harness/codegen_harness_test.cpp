// The differential harness on the CPU backend: in every harness case, after the pipeline, each
// kernel the elementwise backend covers is lowered, compiled and run on the values the interpreter
// computed for its inputs, and its outputs must equal the interpreter's. (Reductions, library
// calls and other dtypes join as the backend grows; the count of compiled kernels is reported.)
#include <gtest/gtest.h>

#include <optional>

#include <unordered_map>

#include "ember/codegen/llvm_backend.h"
#include "ember/passes/fuse.h"
#include "ember/passes/pipeline.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

// The interpreter's value of every graph value (outputs of every node), by re-running it with
// every value requested.
std::unordered_map<const ir::Value*, Array> all_values(const ir::Graph& g,
                                                       const std::vector<Array>& inputs) {
  std::vector<const ir::Value*> wanted;
  for (const auto& n : g.nodes())
    if (n->output) wanted.push_back(n->output);
  std::unordered_map<const ir::Value*, Array> out;
  for (size_t i = 0; i < g.inputs().size(); ++i) out[g.inputs()[i]] = inputs[i];
  const std::vector<Array> values = ir::interpret(g, inputs, &wanted);
  for (size_t i = 0; i < wanted.size(); ++i) out[wanted[i]] = values[i];
  return out;
}

class CompiledKernels : public ::testing::TestWithParam<size_t> {};

TEST_P(CompiledKernels, EqualTheInterpreter) {
  const Case& c = harness_cases()[GetParam()];
  const std::vector<Tensor> inputs = c.make_inputs(11);
  manual_seed(11);
  const TracedGraph traced = trace(c.fn, inputs, c.name);
  passes::run_pipeline(*traced.graph);
  const ir::Graph& g = *traced.graph;
  const auto values = all_values(g, traced.interpreter_inputs(inputs));
  for (int group = 0; group < passes::count_kernels(g); ++group) {
    // A row kernel (reductions over trailing dims), when it lowers. Only lowering may refuse a
    // group (the backend does not cover it); an error compiling or running a kernel that
    // lowered is a failure.
    std::optional<codegen::LoweredRowKernel> lowered_rows;
    try {
      lowered_rows = codegen::lower_rows(g, group);
    } catch (const Error&) {
    }
    if (lowered_rows) {
      const codegen::LoweredRowKernel& rk = *lowered_rows;
      std::vector<Array> buffers;
      for (const ir::Value* v : rk.inputs) buffers.push_back(values.at(v));
      std::vector<Array> outputs;
      for (const ir::Value* v : rk.outputs) {
        Shape shape;
        for (const ir::SymInt& d : v->shape) shape.push_back(d.value());
        outputs.push_back(Array::empty(shape, v->dtype));
      }
      buffers.insert(buffers.end(), outputs.begin(), outputs.end());
      codegen::run_rows(codegen::compile_rows(rk.ir), rk.ir, buffers, ir::evaluate_shape(rk.domain),
                        rk.reduced);
      for (size_t i = 0; i < outputs.size(); ++i) {
        const Tensor want(values.at(rk.outputs[i]));
        const double tol = is_floating(want.dtype()) && want.element_size() == 2 ? 2e-3 : 2e-5;
        expect_values(Tensor(outputs[i]), want.sizes().vec(), values_of(want), tol, tol,
                      c.name + " row kernel k" + std::to_string(group));
      }
      continue;
    }
    codegen::LoweredKernel k;
    try {
      k = codegen::lower_elementwise(g, group);
    } catch (const Error&) {
      continue;  // not covered by the CPU backend yet
    }
    const codegen::InnerLoopFn fn = codegen::compile_cpu(k.ir);
    std::vector<Array> buffers;
    for (const ir::Value* v : k.inputs) buffers.push_back(values.at(v));
    Shape domain;
    for (const ir::SymInt& d : k.outputs[0]->shape) domain.push_back(d.value());
    std::vector<Array> outputs;
    for (const ir::Value* v : k.outputs) outputs.push_back(Array::empty(domain, v->dtype));
    buffers.insert(buffers.end(), outputs.begin(), outputs.end());
    std::vector<const Array*> bound;
    for (const Array& b : buffers) bound.push_back(&b);
    std::vector<Array> gathered;
    codegen::bind_gathers(k.ir, bound.data(), gathered);
    codegen::run_elementwise(fn, bound.data(), bound.size(), domain);
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor want(values.at(k.outputs[i]));
      expect_values(
          Tensor(outputs[i]), want.sizes().vec(), values_of(want), 2e-6, 2e-6,
          c.name + " kernel k" + std::to_string(group) + " output %" + k.outputs[i]->name);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, CompiledKernels,
                         ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

// The backend must cover a real share of the harness's kernels, or the test above checks little.
TEST(CompiledKernelsCoverage, ManyHarnessKernelsCompile) {
  int compiled = 0, total = 0;
  for (const Case& c : harness_cases()) {
    const std::vector<Tensor> inputs = c.make_inputs(11);
    manual_seed(11);
    const TracedGraph traced = trace(c.fn, inputs, c.name);
    passes::run_pipeline(*traced.graph);
    for (int group = 0; group < passes::count_kernels(*traced.graph); ++group) {
      ++total;
      std::optional<codegen::LoweredKernel> elementwise;
      std::optional<codegen::LoweredRowKernel> rows;
      try {
        elementwise = codegen::lower_elementwise(*traced.graph, group);
      } catch (const Error&) {
        try {
          rows = codegen::lower_rows(*traced.graph, group);
        } catch (const Error&) {
        }
      }
      if (elementwise) codegen::compile_cpu(elementwise->ir);  // lowered: must compile
      if (rows) codegen::compile_rows(rows->ir);
      compiled += elementwise || rows;
    }
  }
  std::printf("the CPU backend compiles %d of the harness's %d kernels\n", compiled, total);
  EXPECT_GT(compiled, 50);
}

}  // namespace
}  // namespace ember::testing
