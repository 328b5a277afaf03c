// The kernels the CUDA tests print: each harness case's plan kernels and every eager op's
// single-op kernel.
#pragma once

#include <vector>

#include "ember/codegen/plan.h"
#include "ember/ember.h"
#include "ember/passes/pipeline.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {

// The shape of the eager kernels' operands.
inline constexpr int64_t kEagerRows = 4, kEagerCols = 8;

// The kernel steps of a fused graph's plan (library calls' epilogues among them).
inline std::vector<codegen::Plan::Step> plan_kernels(const ir::Graph& fused) {
  std::vector<codegen::Plan::Step> out;
  for (const codegen::Plan::Step& s : codegen::build_plan(fused).steps)
    if (s.kind != codegen::Plan::Step::Kind::Node) out.push_back(s);
  return out;
}

inline std::vector<codegen::Plan::Step> case_kernels(const Case& c) {
  const TracedGraph traced = trace(c.fn, c.make_inputs(1), c.name);
  passes::run_pipeline(*traced.graph);
  return plan_kernels(*traced.graph);
}

// The single-op kernels eager CUDA ops run: each elementwise op of ops.def on each dtype it
// takes (the graph's type inference says which), casts between every pair of dtypes, and the
// row kernels of the reductions and of softmax, log_softmax and layer_norm.
inline std::vector<codegen::Plan::Step> eager_kernels() {
  std::vector<codegen::Plan::Step> out;
  auto add = [&](ir::Op op, std::vector<DType> dtypes, ir::Attrs attrs) {
    ir::Graph g;
    std::vector<ir::Value*> in;
    for (DType d : dtypes)
      in.push_back(g.add_input(d, {ir::SymInt(kEagerRows), ir::SymInt(kEagerCols)}));
    ir::Value* y = nullptr;
    try {
      y = g.add(op, in, attrs);
    } catch (const Error&) {
      return;  // the op does not take these dtypes
    }
    g.set_outputs({y});
    passes::run_pipeline(g);
    for (auto& k : plan_kernels(g)) out.push_back(std::move(k));
  };
  const std::vector<DType> dtypes = all_dtypes();
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_UNARY_OP(name, text, props) \
  for (DType d : dtypes) add(ir::Op::name, {d}, {});
#define EMBER_BINARY_OP(name, text, props) \
  for (DType d : dtypes) add(ir::Op::name, {d, d}, {});
#include "ember/ir/ops.def"
  for (DType d : dtypes) add(ir::Op::Where, {DType::Bool, d, d}, {});
  for (DType from : dtypes)
    for (DType to : dtypes)
      if (from != to) add(ir::Op::Cast, {from}, {{ir::Attr::DType, to}});
  const ir::Attrs last_dim{{ir::Attr::Dims, std::vector<ir::SymInt>{ir::SymInt(-1)}},
                           {ir::Attr::Keepdim, false}};
  for (ir::Op op : {ir::Op::ReduceSum, ir::Op::ReduceProd, ir::Op::ReduceMax, ir::Op::ReduceMin})
    for (DType d : dtypes) add(op, {d}, last_dim);
  for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    add(ir::Op::Softmax, {d}, {{ir::Attr::Dim, int64_t(-1)}});
    add(ir::Op::LogSoftmax, {d}, {{ir::Attr::Dim, int64_t(-1)}});
    add(ir::Op::Mean, {d}, last_dim);
    add(ir::Op::LayerNorm, {d}, {{ir::Attr::Ndims, int64_t(1)}, {ir::Attr::Eps, 1e-5}});
  }
  return out;
}

}  // namespace ember::testing
