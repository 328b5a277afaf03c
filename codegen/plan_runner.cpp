// ExecutablePlan: loads a Plan (its kernels compiled in parallel, through the kernel caches) and
// replays it.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>

#include "ember/codegen/backend.h"
#include "ember/codegen/plan.h"
#include "ember/ir/interpreter.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/log.h"
#include "ember/runtime/small_vector.h"
#include "ember/runtime/thread_pool.h"

namespace ember::codegen {
namespace {

using Step = Plan::Step;

// Rows of output per block when a matmul's epilogue runs block by block: about 4 MiB of output
// (still in the last-level cache when the epilogue reads it), and at least 256 rows, as BLAS
// packs the right-hand matrix again for every call.
int64_t block_rows(int64_t cols, size_t itemsize) {
  // (Measured on the 2-core development VM with ember-bench's mlp_forward: blocks of 4 MiB and
  // one block for the whole output are within noise of each other; 32-row blocks were 2x slower.)
  constexpr int64_t kBlockBytes = 4 << 20;
  return std::max<int64_t>(256, kBlockBytes / int64_t(itemsize) / std::max<int64_t>(cols, 1));
}

std::string shape_text(DType dtype, const ir::SymShape& shape) {
  return ir::dtype_short_name(dtype) + ir::shape_text(shape);
}

}  // namespace

ExecutablePlan::~ExecutablePlan() = default;

ExecutablePlan::ExecutablePlan(Plan plan, Backend& backend, const KernelCacheOptions& cache)
    : plan_(std::move(plan)), backend_(backend) {
  for (const Plan::InputType& t : plan_.inputs) {
    input_static_.push_back(ir::is_static(t.shape));
    input_sizes_.push_back(input_static_.back() ? ir::evaluate_shape(t.shape) : Shape());
  }
  const bool log = log_enabled("kernels");
  // Compile every kernel, in parallel over the pool's threads (each through the kernel cache).
  // A kernel the backend refuses (an op or dtype it does not cover yet) runs as its fallback.
  compiled_.resize(plan_.steps.size());
  std::vector<size_t> to_compile;
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    if (plan_.steps[i].kind == Step::Kind::Node) continue;
    to_compile.push_back(i);
    if (log) log_message("kernels", plan_.steps[i].kernel.text());
  }
  std::vector<std::string> refused(plan_.steps.size());
  std::atomic<size_t> next{0};
  parallel_for(0, get_num_threads(), 1, [&](int64_t, int64_t) {
    for (size_t k = next++; k < to_compile.size(); k = next++) {
      const size_t i = to_compile[k];
      if (auto why = backend_.unsupported(plan_.steps[i].kernel)) {
        refused[i] = std::string(backend_.name()) + ": " + *why;
        continue;
      }
      try {
        compiled_[i] = backend_.compile(plan_.steps[i].kernel, cache);
      } catch (const BackendError& e) {
        refused[i] = e.what();
      }
    }
  });
  auto count_node = [&](const Step& s) {
    const bool view = s.op == ir::Op::Reshape || s.op == ir::Op::Permute ||
                      s.op == ir::Op::Expand || s.op == ir::Op::Slice;
    if (ir::is_library_call(s.op)) {
      ++library_calls_;
    } else if (view) {
      ++views_;
    } else if (s.op != ir::Op::Guard && s.op != ir::Op::Constant && s.group >= 0) {
      ++eager_nodes_;
      fallbacks_.push_back(s.text);
    }
  };
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    if (s.kind == Step::Kind::Node) {
      count_node(s);
    } else if (compiled_[i]) {
      ++kernels_;
      library_calls_ += s.kind == Step::Kind::BlockedMatmul;
    } else {
      if (s.fallback.empty())
        throw BackendError("plan", s.kernel.name,
                           refused[i] + " (and the plan has no node steps to run instead)");
      if (log) log_message("kernels", s.kernel.name + ": eager, " + refused[i]);
      for (const Step& f : s.fallback) count_node(f);
    }
  }
  slots_needed_ = plan_.top_level_slots;
  for (size_t i = 0; i < plan_.steps.size(); ++i)
    if (plan_.steps[i].kind != Step::Kind::Node && !compiled_[i]) slots_needed_ = plan_.num_slots;
  prepared_.resize(plan_.steps.size());
  prepared_fallback_.resize(plan_.steps.size());
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    prepared_[i] = prepare(s);
    if (s.kind != Step::Kind::Node && !compiled_[i])
      for (const Step& f : s.fallback) prepared_fallback_[i].push_back(prepare(f));
  }
  // Node steps whose results nothing reads (constants inlined into every kernel that uses them)
  // do not run, from the last step back.
  live_.assign(plan_.steps.size(), true);
  gathers_.assign(plan_.steps.size(), false);
  for (size_t i = 0; i < plan_.steps.size(); ++i)
    for (const KernelIR::Expr& e : plan_.steps[i].kernel.exprs)
      if (e.kind == KernelIR::ExprKind::Gather) gathers_[i] = true;
  std::vector<int> readers(plan_.num_slots, 0);
  auto each_read = [&](size_t i, int delta) {
    const Step& s = plan_.steps[i];
    if (s.kind != Step::Kind::Node && !compiled_[i]) {
      for (const Step& f : s.fallback)
        for (size_t in : f.in) readers[in] += delta;
    } else {
      for (size_t in : s.in) readers[in] += delta;
    }
  };
  for (size_t i = 0; i < plan_.steps.size(); ++i) each_read(i, 1);
  for (size_t out : plan_.outputs) ++readers[out];
  for (size_t i = plan_.steps.size(); i-- > 0;) {
    const Step& s = plan_.steps[i];
    if (s.kind != Step::Kind::Node || s.op == ir::Op::Guard || s.out.empty() ||
        readers[s.out[0]] > 0)
      continue;
    live_[i] = false;
    each_read(i, -1);
  }
}

std::vector<int64_t> ExecutablePlan::bind(const std::vector<Array>& inputs) const {
  EMBER_CHECK(inputs.size() == plan_.inputs.size(), ValueError, "plan @", plan_.name, ": expected ",
              plan_.inputs.size(), " inputs, got ", inputs.size());
  std::vector<int64_t> bindings(plan_.symbol_sources.size());
  for (size_t s = 0; s < plan_.symbol_sources.size(); ++s) {
    const auto& [input, dim] = plan_.symbol_sources[s];
    const Array& a = inputs[input];
    bindings[s] = size_t(a.dim()) > dim ? a.size(int64_t(dim)) : -1;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Plan::InputType& t = plan_.inputs[i];
    const Array& a = inputs[i];
    bool ok = a.dtype() == t.dtype && size_t(a.dim()) == t.shape.size();
    if (ok && input_static_[i]) {
      ok = a.sizes() == input_sizes_[i];
    } else if (ok) {
      for (size_t d = 0; d < t.shape.size() && ok; ++d)
        ok = t.shape[d].evaluate(bindings) == a.size(int64_t(d));
    }
    EMBER_CHECK(ok, ValueError, "plan @", plan_.name, ": input %", t.name, " must be ",
                shape_text(t.dtype, t.shape), ", got ", ir::dtype_short_name(a.dtype()),
                shape_str(a.sizes()));
  }
  return bindings;
}

ExecutablePlan::PreparedNode ExecutablePlan::prepare(const Step& s) const {
  using Kind = PreparedNode::Kind;
  PreparedNode p;
  if (s.kind != Step::Kind::Node) return p;
  auto set_shape = [&](const ir::SymShape& shape) {
    p.shape = shape;
    p.is_static = ir::is_static(shape);
    if (p.is_static) p.sizes = ir::evaluate_shape(shape);
  };
  switch (s.op) {
    case ir::Op::Reshape:
    case ir::Op::Expand:
      p.kind = s.op == ir::Op::Reshape ? Kind::Reshape : Kind::Expand;
      set_shape(s.attrs.get_list(ir::Attr::Shape));
      break;
    case ir::Op::Permute:
      p.kind = Kind::Permute;
      p.ints = s.attrs.get_ints(ir::Attr::Dims);
      break;
    case ir::Op::Slice:
      p.kind = Kind::Slice;
      p.ints = {s.attrs.get_int(ir::Attr::Dim), s.attrs.get_int(ir::Attr::Step)};
      break;
    case ir::Op::Constant: {
      p.kind = Kind::Constant;
      p.dtype = s.attrs.get_dtype(ir::Attr::DType);
      set_shape(s.attrs.get_list(ir::Attr::Shape));
      const int64_t* exact = std::get_if<int64_t>(&s.attrs.get(ir::Attr::Value));
      p.exact_int = exact && !is_floating(p.dtype);
      p.int_number = exact ? *exact : 0;
      p.number = s.attrs.get_float(ir::Attr::Value);
      break;
    }
    case ir::Op::Guard:
      p.kind = Kind::Guard;
      p.number = s.attrs.get_float(ir::Attr::Value);
      break;
    default:
      break;
  }
  return p;
}

void ExecutablePlan::run_node(const Step& s, const PreparedNode& p, std::vector<Array>& slots,
                              const std::vector<int64_t>& bindings) const {
  using Kind = PreparedNode::Kind;
  auto sizes = [&] { return p.is_static ? p.sizes : ir::evaluate_shape(p.shape, bindings); };
  const Array* x = s.in.empty() ? nullptr : &slots[s.in[0]];
  Array r;
  switch (p.kind) {
    case Kind::Reshape:
      r = kernels::reshape(*x, sizes());
      break;
    case Kind::Expand:
      r = kernels::expand(*x, sizes());
      break;
    case Kind::Permute:
      r = kernels::permute(*x, p.ints);
      break;
    case Kind::Slice: {
      const int64_t dim = wrap_dim(p.ints[0], x->dim(), "slice");
      const auto [start, end] = ir::slice_bounds(s.attrs, x->size(dim), bindings);
      r = kernels::slice(*x, dim, start, end, p.ints[1]);
    } break;
    case Kind::Constant:  // made anew each time: a caller may write to what it gets (a view)
      r = p.exact_int ? kernels::full_int(sizes(), p.int_number, p.dtype)
                      : kernels::full(sizes(), p.number, p.dtype);
      break;
    case Kind::Guard: {
      const double seen = x->element_as_double(0);
      if (!(seen == p.number || (std::isnan(seen) && std::isnan(p.number))))
        ir::check_guard(*x, s.attrs, s.value_name);  // throws, with the message
      return;
    }
    case Kind::Evaluate: {
      SmallVector<const Array*, 8> operands;
      for (size_t in : s.in) operands.push_back(&slots[in]);
      r = ir::evaluate(s.op, s.attrs, operands.data(), operands.size(), bindings);
      break;
    }
  }
  if (!s.out.empty()) slots[s.out[0]] = std::move(r);
}

std::vector<Array> ExecutablePlan::run(std::vector<Array> inputs) const {
  const std::vector<int64_t> bindings = bind(inputs);
  std::vector<Array> slots(slots_needed_);
  std::move(inputs.begin(), inputs.end(), slots.begin());
  SmallVector<const Array*, 16> buffers;
  std::vector<Array> gathered;  // views bind_gathers makes for a kernel step
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    if (!live_[i]) {
    } else if (s.kind == Step::Kind::Node) {
      run_node(s, prepared_[i], slots, bindings);
    } else if (!compiled_[i]) {
      for (size_t j = 0; j < s.fallback.size(); ++j)
        run_node(s.fallback[j], prepared_fallback_[i][j], slots, bindings);
      for (size_t v : s.fallback_release) slots[v] = Array();
    } else {
      buffers.clear();
      for (size_t in : s.in) buffers.push_back(&slots[in]);
      const Shape domain = ir::evaluate_shape(s.domain, bindings);
      switch (s.kind) {
        case Step::Kind::Elementwise:
        case Step::Kind::Rows:
          if (gathers_[i]) bind_gathers(s.kernel, buffers.data(), gathered);
          for (size_t o = 0; o < s.out.size(); ++o) {
            slots[s.out[o]] = Array::empty(
                s.kind == Step::Kind::Rows ? ir::evaluate_shape(s.out_shapes[o], bindings) : domain,
                s.out_dtypes[o]);
            buffers.push_back(&slots[s.out[o]]);
          }
          backend_.launch(*compiled_[i], s.kernel, buffers.data(), buffers.size(), domain,
                          s.reduced);
          break;
        case Step::Kind::BlockedMatmul: {
          // buffers: a, b, then the epilogue's inputs (the matmul result's place is filled per
          // block); outputs are written block by block.
          const Array a = *buffers[0], b = *buffers[1];
          std::vector<Array> outputs;
          for (size_t o = 0; o < s.out.size(); ++o)
            outputs.push_back(slots[s.out[o]] = Array::empty(domain, s.out_dtypes[o]));
          std::vector<Array> epilogue_inputs;
          for (size_t e = 2; e < buffers.size(); ++e)
            epilogue_inputs.push_back(
                e - 2 == s.matmul_input ? Array() : kernels::expand(*buffers[e], domain));
          const int64_t m = domain[0], n = domain[1];
          const int64_t step = block_rows(n, itemsize(a.dtype()));
          std::vector<Array> block;
          std::vector<const Array*> block_ptrs;
          for (int64_t r0 = 0; r0 < m; r0 += step) {
            const int64_t rows = std::min(step, m - r0);
            block.clear();
            for (size_t e = 0; e < epilogue_inputs.size(); ++e)
              block.push_back(e == s.matmul_input
                                  ? kernels::matmul(kernels::narrow(a, 0, r0, rows), b)
                                  : kernels::narrow(epilogue_inputs[e], 0, r0, rows));
            for (const Array& out : outputs) block.push_back(kernels::narrow(out, 0, r0, rows));
            block_ptrs.clear();
            for (const Array& b : block) block_ptrs.push_back(&b);
            backend_.launch(*compiled_[i], s.kernel, block_ptrs.data(), block_ptrs.size(),
                            {rows, n}, 0);
          }
          break;
        }
        case Step::Kind::Node:
          break;
      }
    }
    gathered.clear();
    for (size_t v : s.release) slots[v] = Array();
  }
  std::vector<Array> out;
  out.reserve(plan_.outputs.size());
  for (size_t v : plan_.outputs) out.push_back(slots[v]);
  return out;
}

std::string ExecutablePlan::describe() const {
  std::ostringstream os;
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    if (!live_[i]) continue;
    if (s.kind == Step::Kind::Node || compiled_[i]) {
      os << s.text << '\n';
      continue;
    }
    for (const Step& f : s.fallback) os << f.text << '\n';
  }
  return os.str();
}

}  // namespace ember::codegen
