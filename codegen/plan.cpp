#include "ember/codegen/plan.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <functional>
#include <sstream>

#include "ember/codegen/kernel_ir.h"
#include "ember/ir/interpreter.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/log.h"
#include "ember/runtime/small_vector.h"
#include "ember/runtime/thread_pool.h"

namespace ember::codegen {

struct ExecutablePlan::Step {
  enum class Kind { Elementwise, Rows, Node, BlockedMatmul };
  Kind kind = Kind::Node;
  const ir::Node* node = nullptr;  // Node; BlockedMatmul: the matmul
  // Elementwise (an InnerLoopFn), Rows (a RowKernelFn), BlockedMatmul (the epilogue's loop).
  std::shared_ptr<TieredKernel> kernel;
  KernelIR ir;          // Rows: which buffers are per row
  ir::SymShape domain;  // Elementwise, Rows
  int64_t reduced = 0;
  std::vector<size_t> in, out;  // slots (Node, BlockedMatmul: the matmul's operands first)
  std::vector<DType> out_dtypes;
  std::vector<ir::SymShape> out_shapes;
  size_t matmul_input = 0;             // BlockedMatmul: which epilogue input is the matmul result
  std::vector<size_t> release;         // slots whose last reader is this step
  std::vector<const ir::Node*> nodes;  // a kernel: what runs eagerly if the backend refuses it
  std::string text;
};

namespace {

using Step = ExecutablePlan::Step;

bool is_library(const ir::Node& n) { return ir::is_library_call(n.op); }

std::string node_text(const ir::Node& n) {
  return std::string(ir::op_name(n.op)) + (n.output ? " -> %" + n.output->name : std::string());
}

// Whether the library call's result is read only inside its own group (its epilogue).
bool only_epilogue_reads(const ir::Graph& g, const ir::Node& library) {
  const ir::Value* v = library.output;
  if (std::find(g.outputs().begin(), g.outputs().end(), v) != g.outputs().end()) return false;
  for (const auto& n : g.nodes())
    if (n->group != library.group && std::count(n->inputs.begin(), n->inputs.end(), v))
      return false;
  return true;
}

// Rows of output per block when a matmul's epilogue runs block by block: about 4 MiB of output
// (still in the last-level cache when the epilogue reads it), and at least 256 rows, as BLAS
// packs the right-hand matrix again for every call.
int64_t block_rows(int64_t cols, size_t itemsize) {
  // (Measured on the 2-core development VM with ember-bench's mlp_forward: blocks of 4 MiB and
  // one block for the whole output are within noise of each other; 32-row blocks were 2x slower.)
  constexpr int64_t kBlockBytes = 4 << 20;
  return std::max<int64_t>(256, kBlockBytes / int64_t(itemsize) / std::max<int64_t>(cols, 1));
}

}  // namespace

ExecutablePlan::~ExecutablePlan() = default;

ExecutablePlan::ExecutablePlan(std::shared_ptr<const ir::Graph> graph,
                               const KernelCacheOptions& cache)
    : graph_(std::move(graph)) {
  const ir::Graph& g = *graph_;
  std::unordered_map<const ir::Value*, size_t> slot;
  auto slot_of = [&](const ir::Value* v) {
    auto [it, added] = slot.emplace(v, num_slots_);
    if (added) ++num_slots_;
    return it->second;
  };
  for (const ir::Value* v : g.inputs()) slot_of(v);
  symbol_sources_.assign(size_t(g.num_symbols()), {SIZE_MAX, 0});
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const ir::Value* v = g.inputs()[i];
    InputType t{v->dtype, v->shape, ir::is_static(v->shape), {}};
    if (t.is_static) t.sizes = ir::evaluate_shape(v->shape);
    for (size_t d = 0; d < v->shape.size(); ++d) {
      const auto syms = v->shape[d].symbols();
      if (syms.size() == 1 && v->shape[d] == ir::SymInt::symbol(syms[0]) &&
          symbol_sources_[size_t(syms[0])].first == SIZE_MAX)
        symbol_sources_[size_t(syms[0])] = {i, d};
    }
    input_types_.push_back(std::move(t));
  }
  for (const auto& [input, dim] : symbol_sources_)
    EMBER_CHECK(input != SIZE_MAX, Error, "plan: a symbol of @", g.name(),
                " is not the size of any input dim");
  const bool log = log_enabled("kernels");

  const auto& nodes = g.nodes();
  size_t i = 0, end = 0;  // the group being planned: nodes [i, end)
  auto make_node_step = [&](const ir::Node& n, const std::string& why) {
    Step s;
    s.kind = Step::Kind::Node;
    s.node = &n;
    for (const ir::Value* v : n.inputs) s.in.push_back(slot_of(v));
    if (n.output) s.out.push_back(slot_of(n.output));
    s.text = (is_library(n) ? "library " : "eager ") + node_text(n) + why;
    if (is_library(n))
      ++library_calls_;
    else if (n.op != ir::Op::Guard && n.op != ir::Op::Constant && n.group >= 0)
      ++eager_nodes_;
    return s;
  };
  auto node_step = [&](const ir::Node& n, const std::string& why) {
    steps_.push_back(make_node_step(n, why));
  };
  auto kernel_step = [&](Step s, const std::vector<const ir::Value*>& inputs,
                         const std::vector<const ir::Value*>& outputs) {
    // Inputs that are views made inside the group (a reshaped bias) come first, as node steps.
    // (A view of a view is made after the view it reads.)
    std::vector<const ir::Node*> views;
    const std::function<void(const ir::Value*)> add_view = [&](const ir::Value* v) {
      const ir::Node* p = v->producer;
      if (!p || p->group != nodes[i]->group || is_library(*p) ||
          std::find(views.begin(), views.end(), p) != views.end())
        return;
      for (const ir::Value* in : p->inputs) add_view(in);
      views.push_back(p);
    };
    for (const ir::Value* v : inputs) add_view(v);
    for (const ir::Node* n : views) node_step(*n, " (view)");
    for (const ir::Value* v : inputs) s.in.push_back(slot_of(v));
    for (const ir::Value* v : outputs) {
      s.out.push_back(slot_of(v));
      s.out_dtypes.push_back(v->dtype);
      s.out_shapes.push_back(v->shape);
    }
    if (log) log_message("kernels", s.ir.text());
    ++kernels_;
    for (size_t j = i; j < end; ++j)
      if ((s.kind == Step::Kind::BlockedMatmul || !is_library(*nodes[j])) &&
          std::find(views.begin(), views.end(), nodes[j].get()) == views.end())
        s.nodes.push_back(nodes[j].get());
    steps_.push_back(std::move(s));
  };

  for (i = 0; i < nodes.size();) {
    const ir::Node& first = *nodes[i];
    if (first.group < 0) {
      node_step(first, "");
      ++i;
      continue;
    }
    // The group's nodes are consecutive.
    end = i;
    bool reduces = false;
    const ir::Node* library = nullptr;
    while (end < nodes.size() && nodes[end]->group == first.group) {
      reduces |= ir::is_reduction(nodes[end]->op);
      if (is_library(*nodes[end])) library = nodes[end].get();
      ++end;
    }
    const int group = first.group;
    // Lowering failed before any of the group's steps was added: all of it runs node by node.
    auto fall_back = [&](const Error& e) {
      if (log) log_message("kernels", "k" + std::to_string(group) + ": eager, " + e.what());
      for (size_t j = i; j < end; ++j) node_step(*nodes[j], "");
    };
    try {
      if (library) {
        const bool epilogue = end - i > 1;
        Step s;
        if (epilogue) {
          LoweredKernel k = lower_elementwise(g, group);
          s.ir = std::move(k.ir);
          s.domain = library->output->shape;
          // Block by block when the matmul is 2-D in float32/64 and only the epilogue reads it.
          const ir::Value *a = library->inputs[0], *b = library->inputs.back();
          const auto result = std::find(k.inputs.begin(), k.inputs.end(), library->output);
          const bool blocked = library->op == ir::Op::Matmul && a->rank() == 2 && b->rank() == 2 &&
                               is_floating(a->dtype) && itemsize(a->dtype) >= 4 &&
                               result != k.inputs.end() && only_epilogue_reads(g, *library);
          if (blocked) {
            s.kind = Step::Kind::BlockedMatmul;
            s.node = library;
            s.in = {slot_of(a), slot_of(b)};
            s.matmul_input = size_t(result - k.inputs.begin());
            s.text = "library " + node_text(*library) + " with its epilogue k" +
                     std::to_string(group) + " per block of rows";
            ++library_calls_;
            kernel_step(std::move(s), k.inputs, k.outputs);
          } else {
            node_step(*library, "");
            s.kind = Step::Kind::Elementwise;
            s.text = "kernel k" + std::to_string(group) + " (epilogue)";
            kernel_step(std::move(s), k.inputs, k.outputs);
          }
        } else {
          node_step(*library, "");
        }
      } else if (reduces) {
        LoweredRowKernel k = lower_rows(g, group);
        Step s;
        s.kind = Step::Kind::Rows;
        s.ir = std::move(k.ir);
        s.domain = k.domain;
        s.reduced = k.reduced;
        s.text = "row kernel k" + std::to_string(group);
        kernel_step(std::move(s), k.inputs, k.outputs);
      } else {
        LoweredKernel k = lower_elementwise(g, group);
        Step s;
        s.kind = Step::Kind::Elementwise;
        s.ir = std::move(k.ir);
        s.domain = k.outputs.at(0)->shape;
        s.text = "kernel k" + std::to_string(group);
        kernel_step(std::move(s), k.inputs, k.outputs);
      }
    } catch (const Error& e) {
      fall_back(e);
    }
    i = end;
  }

  // Compile every kernel, in parallel over the pool's threads (each through the kernel cache).
  // A kernel the backend refuses (an op or dtype it does not cover yet) runs node by node.
  std::vector<Step*> to_compile;
  for (Step& s : steps_)
    if (s.kind != Step::Kind::Node) to_compile.push_back(&s);
  std::vector<std::string> refused(to_compile.size());
  std::atomic<size_t> next{0};
  parallel_for(0, get_num_threads(), 1, [&](int64_t, int64_t) {
    for (size_t k = next++; k < to_compile.size(); k = next++) {
      Step& s = *to_compile[k];
      try {
        s.kernel = compile_tiered(s.ir, cache);
      } catch (const BackendError& e) {
        refused[k] = e.what();
      }
    }
  });
  {
    std::vector<Step> planned;
    size_t k = 0;
    for (Step& s : steps_) {
      if (s.kind == Step::Kind::Node || refused[k++].empty()) {
        planned.push_back(std::move(s));
        continue;
      }
      if (log) log_message("kernels", s.ir.name + ": eager, " + refused[k - 1]);
      --kernels_;
      if (s.kind == Step::Kind::BlockedMatmul) --library_calls_;
      for (const ir::Node* n : s.nodes) planned.push_back(make_node_step(*n, ""));
    }
    steps_ = std::move(planned);
  }

  // Nodes whose results nothing reads any more (constants inlined into every kernel that uses
  // them) are dropped, from the last step back.
  for (const ir::Value* v : g.outputs()) output_slots_.push_back(slot_of(v));
  {
    std::vector<int> readers(num_slots_, 0);
    for (const Step& s : steps_)
      for (size_t in : s.in) ++readers[in];
    for (size_t out : output_slots_) ++readers[out];
    for (size_t i = steps_.size(); i-- > 0;) {
      Step& s = steps_[i];
      if (s.kind != Step::Kind::Node || s.node->op == ir::Op::Guard || s.out.empty() ||
          readers[s.out[0]] > 0)
        continue;
      for (size_t in : s.in) --readers[in];
      steps_.erase(steps_.begin() + long(i));
    }
  }

  // Each slot is released after the last step that reads it; outputs are kept.
  std::vector<int64_t> last(num_slots_, -1);
  for (size_t s = 0; s < steps_.size(); ++s)
    for (size_t in : steps_[s].in) last[in] = int64_t(s);
  for (size_t s = 0; s < steps_.size(); ++s)
    for (size_t out : steps_[s].out)
      if (last[out] < 0) last[out] = int64_t(s);  // written and never read
  for (size_t out : output_slots_) last[out] = -1;
  for (size_t v = 0; v < num_slots_; ++v)
    if (last[v] >= 0) steps_[size_t(last[v])].release.push_back(v);
}

std::vector<int64_t> ExecutablePlan::bind(const std::vector<Array>& inputs) const {
  EMBER_CHECK(inputs.size() == input_types_.size(), ValueError, "plan @", graph_->name(),
              ": expected ", input_types_.size(), " inputs, got ", inputs.size());
  std::vector<int64_t> bindings(symbol_sources_.size());
  for (size_t s = 0; s < symbol_sources_.size(); ++s) {
    const auto& [input, dim] = symbol_sources_[s];
    const Array& a = inputs[input];
    bindings[s] = size_t(a.dim()) > dim ? a.size(int64_t(dim)) : -1;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputType& t = input_types_[i];
    const Array& a = inputs[i];
    bool ok = a.dtype() == t.dtype && size_t(a.dim()) == t.shape.size();
    if (ok && t.is_static) {
      ok = a.sizes() == t.sizes;
    } else if (ok) {
      for (size_t d = 0; d < t.shape.size() && ok; ++d)
        ok = t.shape[d].evaluate(bindings) == a.size(int64_t(d));
    }
    if (!ok) return ir::bind_symbols(*graph_, inputs);  // throws, naming the input
  }
  return bindings;
}

std::vector<Array> ExecutablePlan::run(std::vector<Array> inputs) const {
  const std::vector<int64_t> bindings = bind(inputs);
  std::vector<Array> slots(num_slots_);
  std::move(inputs.begin(), inputs.end(), slots.begin());
  SmallVector<const Array*, 16> buffers;
  for (const Step& s : steps_) {
    buffers.clear();
    for (size_t in : s.in) buffers.push_back(&slots[in]);
    switch (s.kind) {
      case Step::Kind::Node: {
        Array r = ir::evaluate_node(*s.node, buffers.data(), bindings);
        if (!s.out.empty()) slots[s.out[0]] = std::move(r);
        break;
      }
      case Step::Kind::Elementwise: {
        const Shape domain = ir::evaluate_shape(s.domain, bindings);
        for (size_t o = 0; o < s.out.size(); ++o) {
          slots[s.out[o]] = Array::empty(domain, s.out_dtypes[o]);
          buffers.push_back(&slots[s.out[o]]);
        }
        run_elementwise(s.kernel->entry<InnerLoopFn>(), buffers.data(), buffers.size(), domain);
        break;
      }
      case Step::Kind::Rows: {
        const Shape domain = ir::evaluate_shape(s.domain, bindings);
        for (size_t o = 0; o < s.out.size(); ++o) {
          slots[s.out[o]] =
              Array::empty(ir::evaluate_shape(s.out_shapes[o], bindings), s.out_dtypes[o]);
          buffers.push_back(&slots[s.out[o]]);
        }
        run_rows(s.kernel->entry<RowKernelFn>(), s.ir, buffers.data(), buffers.size(), domain,
                 s.reduced);
        break;
      }
      case Step::Kind::BlockedMatmul: {
        // buffers: a, b, then the epilogue's inputs (the matmul result's place is filled per
        // block); outputs are written block by block.
        const Array a = *buffers[0], b = *buffers[1];
        const Shape domain = ir::evaluate_shape(s.domain, bindings);
        std::vector<Array> outputs;
        for (size_t o = 0; o < s.out.size(); ++o)
          outputs.push_back(slots[s.out[o]] = Array::empty(domain, s.out_dtypes[o]));
        std::vector<Array> epilogue_inputs;
        for (size_t e = 2; e < buffers.size(); ++e)
          epilogue_inputs.push_back(e - 2 == s.matmul_input ? Array()
                                                            : kernels::expand(*buffers[e], domain));
        const int64_t m = domain[0], n = domain[1];
        const int64_t step = block_rows(n, itemsize(a.dtype()));
        std::vector<Array> block;
        for (int64_t r0 = 0; r0 < m; r0 += step) {
          const int64_t rows = std::min(step, m - r0);
          block.clear();
          for (size_t e = 0; e < epilogue_inputs.size(); ++e)
            block.push_back(e == s.matmul_input
                                ? kernels::matmul(kernels::narrow(a, 0, r0, rows), b)
                                : kernels::narrow(epilogue_inputs[e], 0, r0, rows));
          for (const Array& out : outputs) block.push_back(kernels::narrow(out, 0, r0, rows));
          run_elementwise(s.kernel->entry<InnerLoopFn>(), block, {rows, n});
        }
        break;
      }
    }
    for (size_t v : s.release) slots[v] = Array();
  }
  std::vector<Array> out;
  out.reserve(output_slots_.size());
  for (size_t v : output_slots_) out.push_back(slots[v]);
  return out;
}

std::string ExecutablePlan::describe() const {
  std::ostringstream os;
  for (const Step& s : steps_) os << s.text << '\n';
  return os.str();
}

}  // namespace ember::codegen
