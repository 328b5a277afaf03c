// build_plan: a fused graph's launch order as plain data (plan.h), and its text form.
#include "ember/codegen/plan.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <sstream>
#include <unordered_map>

#include "ember/codegen/disk_cache.h"
#include "ember/runtime/hash.h"
#include "ember/runtime/log.h"

namespace ember::codegen {
namespace {

using Step = Plan::Step;

bool is_library(const ir::Node& n) { return ir::is_library_call(n.op); }

std::string step_label(const ir::Node& n) {
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

class PlanBuilder {
 public:
  explicit PlanBuilder(const ir::Graph& g) : g_(g) {}

  Plan build() {
    plan_.name = g_.name();
    for (const ir::Value* v : g_.inputs()) slot_of(v);
    plan_.symbol_sources.assign(size_t(g_.num_symbols()), {SIZE_MAX, 0});
    for (size_t i = 0; i < g_.inputs().size(); ++i) {
      const ir::Value* v = g_.inputs()[i];
      plan_.inputs.push_back({v->name, v->dtype, v->shape});
      for (size_t d = 0; d < v->shape.size(); ++d) {
        const auto syms = v->shape[d].symbols();
        if (syms.size() == 1 && v->shape[d] == ir::SymInt::symbol(syms[0]) &&
            plan_.symbol_sources[size_t(syms[0])].first == SIZE_MAX)
          plan_.symbol_sources[size_t(syms[0])] = {i, d};
      }
    }
    for (const auto& [input, dim] : plan_.symbol_sources)
      EMBER_CHECK(input != SIZE_MAX, Error, "plan: a symbol of @", g_.name(),
                  " is not the size of any input dim");
    const auto& nodes = g_.nodes();
    for (size_t i = 0; i < nodes.size();) {
      if (nodes[i]->group < 0) {
        plan_.steps.push_back(node_step(*nodes[i], ""));
        ++i;
        continue;
      }
      size_t end = i;  // the group's nodes are consecutive
      while (end < nodes.size() && nodes[end]->group == nodes[i]->group) ++end;
      plan_group(i, end);
      i = end;
    }
    for (const ir::Value* v : g_.outputs()) plan_.outputs.push_back(slot_of(v));
    plan_.num_slots = slot_.size();
    number_fallback_slots_last();
    assign_releases();
    return std::move(plan_);
  }

 private:
  size_t slot_of(const ir::Value* v) {
    auto [it, added] = slot_.emplace(v, slot_.size());
    return it->second;
  }

  Step node_step(const ir::Node& n, const std::string& why) {
    Step s;
    s.kind = Step::Kind::Node;
    s.op = n.op;
    s.attrs = n.attrs;
    s.group = n.group;
    s.value_name = n.output ? n.output->name : n.inputs.at(0)->name;
    for (const ir::Value* v : n.inputs) s.in.push_back(slot_of(v));
    if (n.output) s.out.push_back(slot_of(n.output));
    s.text = (is_library(n) ? "library " : "eager ") + step_label(n) + why;
    return s;
  }

  // Adds kernel step s of the group [begin, end) over the lowered kernel's inputs and outputs.
  void kernel_step(Step s, size_t begin, size_t end, const std::vector<const ir::Value*>& inputs,
                   const std::vector<const ir::Value*>& outputs) {
    const auto& nodes = g_.nodes();
    // Inputs that are views made inside the group (a reshaped bias) come first, as node steps.
    // (A view of a view is made after the view it reads.)
    std::vector<const ir::Node*> views;
    const std::function<void(const ir::Value*)> add_view = [&](const ir::Value* v) {
      const ir::Node* p = v->producer;
      if (!p || p->group != nodes[begin]->group || is_library(*p) ||
          std::find(views.begin(), views.end(), p) != views.end())
        return;
      for (const ir::Value* in : p->inputs) add_view(in);
      views.push_back(p);
    };
    for (const ir::Value* v : inputs) add_view(v);
    // So do the group's views that are returned or read by later steps (a select of a sliced
    // input beside a reduction of the slice): the kernel stores no view.
    for (size_t j = begin; j < end; ++j) {
      const ir::Node& n = *nodes[j];
      if (!n.output || !ir::is_movement(n.op) ||
          std::find(outputs.begin(), outputs.end(), n.output) != outputs.end())
        continue;
      bool escapes =
          std::find(g_.outputs().begin(), g_.outputs().end(), n.output) != g_.outputs().end();
      for (const auto& m : nodes)
        if (m->group != n.group)
          for (const ir::Value* in : m->inputs) escapes = escapes || in == n.output;
      if (escapes) add_view(n.output);
    }
    for (const ir::Node* n : views) plan_.steps.push_back(node_step(*n, " (view)"));
    for (const ir::Value* v : inputs) s.in.push_back(slot_of(v));
    for (const ir::Value* v : outputs) {
      s.out.push_back(slot_of(v));
      s.out_dtypes.push_back(v->dtype);
      s.out_shapes.push_back(v->shape);
    }
    // What runs instead when the backend refuses the kernel: the group's nodes (its library
    // call too when the kernel is a blocked matmul), and the slots used only inside them.
    for (size_t j = begin; j < end; ++j)
      if ((s.kind == Step::Kind::BlockedMatmul || !is_library(*nodes[j])) &&
          std::find(views.begin(), views.end(), nodes[j].get()) == views.end())
        s.fallback.push_back(node_step(*nodes[j], ""));
    for (const Step& f : s.fallback)
      for (size_t out : f.out)
        if (std::find(s.out.begin(), s.out.end(), out) == s.out.end())
          s.fallback_release.push_back(out);
    plan_.steps.push_back(std::move(s));
  }

  void plan_group(size_t begin, size_t end) {
    const auto& nodes = g_.nodes();
    const int group = nodes[begin]->group;
    bool reduces = false;
    const ir::Node* library = nullptr;
    for (size_t j = begin; j < end; ++j) {
      reduces |= ir::is_reduction(nodes[j]->op);
      if (is_library(*nodes[j])) library = nodes[j].get();
    }
    const std::string k = "k" + std::to_string(group);
    try {
      if (library && end - begin == 1) {
        plan_.steps.push_back(node_step(*library, ""));
      } else if (library) {
        LoweredKernel lowered = lower_elementwise(g_, group);
        Step s;
        s.kernel = std::move(lowered.ir);
        s.domain = library->output->shape;
        // Block by block when the matmul is 2-D in float32/64 and only the epilogue reads it.
        const ir::Value *a = library->inputs[0], *b = library->inputs.back();
        const auto result =
            std::find(lowered.inputs.begin(), lowered.inputs.end(), library->output);
        const bool blocked = library->op == ir::Op::Matmul && a->rank() == 2 && b->rank() == 2 &&
                             is_floating(a->dtype) && itemsize(a->dtype) >= 4 &&
                             result != lowered.inputs.end() && only_epilogue_reads(g_, *library);
        if (blocked) {
          s.kind = Step::Kind::BlockedMatmul;
          s.in = {slot_of(a), slot_of(b)};
          s.matmul_input = size_t(result - lowered.inputs.begin());
          s.text =
              "library " + step_label(*library) + " with its epilogue " + k + " per block of rows";
        } else {
          plan_.steps.push_back(node_step(*library, ""));
          s.kind = Step::Kind::Elementwise;
          s.text = "kernel " + k + " (epilogue)";
        }
        kernel_step(std::move(s), begin, end, lowered.inputs, lowered.outputs);
      } else if (reduces) {
        LoweredRowKernel lowered = lower_rows(g_, group);
        Step s;
        s.kind = Step::Kind::Rows;
        s.kernel = std::move(lowered.ir);
        s.domain = lowered.domain;
        s.reduced = lowered.reduced;
        s.text = "row kernel " + k;
        kernel_step(std::move(s), begin, end, lowered.inputs, lowered.outputs);
      } else {
        LoweredKernel lowered = lower_elementwise(g_, group);
        Step s;
        s.kind = Step::Kind::Elementwise;
        s.kernel = std::move(lowered.ir);
        s.domain = lowered.outputs.at(0)->shape;
        s.text = "kernel " + k;
        kernel_step(std::move(s), begin, end, lowered.inputs, lowered.outputs);
      }
    } catch (const Error& e) {
      // Lowering failed before any of the group's steps was added: all of it runs node by node.
      if (log_enabled("kernels")) log_message("kernels", k + ": eager, " + e.what());
      for (size_t j = begin; j < end; ++j)
        plan_.steps.push_back(node_step(*nodes[j], std::string(" (") + e.what() + ")"));
    }
  }

  // Slots that only fallbacks use come after all the others, so a replay whose kernels all
  // compiled makes room for the others only (plan.h: Plan::top_level_slots).
  void number_fallback_slots_last() {
    std::vector<bool> top(plan_.num_slots, false);
    for (size_t i = 0; i < plan_.inputs.size(); ++i) top[i] = true;
    for (const Step& s : plan_.steps)
      for (const auto* list : {&s.in, &s.out})
        for (size_t v : *list) top[v] = true;
    for (size_t v : plan_.outputs) top[v] = true;
    std::vector<size_t> renumber(plan_.num_slots);
    size_t next = 0;
    for (size_t v = 0; v < plan_.num_slots; ++v)
      if (top[v]) renumber[v] = next++;
    plan_.top_level_slots = next;
    for (size_t v = 0; v < plan_.num_slots; ++v)
      if (!top[v]) renumber[v] = next++;
    auto apply = [&](std::vector<size_t>& slots) {
      for (size_t& v : slots) v = renumber[v];
    };
    for (Step& s : plan_.steps) {
      apply(s.in);
      apply(s.out);
      apply(s.fallback_release);
      for (Step& f : s.fallback) {
        apply(f.in);
        apply(f.out);
      }
    }
    apply(plan_.outputs);
  }

  // Each slot is released after the last step that reads it (a kernel step reads what its
  // fallback reads too); outputs are kept.
  void assign_releases() {
    std::vector<int64_t> last(plan_.num_slots, -1);
    // (Slots a fallback writes itself are released by fallback_release.)
    auto reads = [&](const Step& s, int64_t at) {
      for (size_t in : s.in) last[in] = at;
      for (const Step& f : s.fallback)
        for (size_t in : f.in)
          if (std::find(s.fallback_release.begin(), s.fallback_release.end(), in) ==
              s.fallback_release.end())
            last[in] = at;
    };
    for (size_t s = 0; s < plan_.steps.size(); ++s) reads(plan_.steps[s], int64_t(s));
    for (size_t s = 0; s < plan_.steps.size(); ++s)
      for (size_t out : plan_.steps[s].out)
        if (last[out] < 0) last[out] = int64_t(s);  // written and never read
    for (size_t out : plan_.outputs) last[out] = -1;
    for (size_t v = 0; v < plan_.num_slots; ++v)
      if (last[v] >= 0) plan_.steps[size_t(last[v])].release.push_back(v);
  }

  const ir::Graph& g_;
  Plan plan_;
  std::unordered_map<const ir::Value*, size_t> slot_;
};

void print_slots(std::ostream& os, const std::vector<size_t>& slots) {
  os << '(';
  for (size_t i = 0; i < slots.size(); ++i) os << (i ? ", " : "") << '$' << slots[i];
  os << ')';
}

void print_step(std::ostream& os, const Step& s, const std::string& indent) {
  os << indent;
  print_slots(os, s.out);
  os << " = ";
  if (s.kind == Step::Kind::Node) {
    os << ir::op_name(s.op);
    print_slots(os, s.in);
    if (!s.attrs.items().empty()) os << ' ' << ir::attrs_text(s.attrs);
    os << "  %" << s.value_name << (s.group >= 0 ? " in k" + std::to_string(s.group) : "");
  } else {
    static constexpr const char* kinds[] = {"node", "elementwise", "rows", "blocked_matmul"};
    os << kinds[size_t(s.kind)] << ' ' << s.kernel.name;
    print_slots(os, s.in);
    os << " over " << ir::shape_text(s.domain);
    if (s.kind == Step::Kind::Rows) os << " reducing " << s.reduced;
    if (s.kind == Step::Kind::BlockedMatmul) os << " matmul into input " << s.matmul_input;
    os << "  ir hash " << hex64(fnv1a64(s.kernel.text()));
  }
  if (!s.release.empty()) {
    os << "  release ";
    print_slots(os, s.release);
  }
  os << '\n';
  for (const Step& f : s.fallback) print_step(os, f, indent + "  | ");
}

}  // namespace

Plan build_plan(const ir::Graph& fused_graph) { return PlanBuilder(fused_graph).build(); }

std::string Plan::print() const {
  std::ostringstream os;
  os << "plan @" << name << " (" << num_slots << " slots, " << top_level_slots
     << " outside fallbacks)\n";
  for (size_t i = 0; i < inputs.size(); ++i)
    os << "  $" << i << " = input %" << inputs[i].name << " : "
       << ir::dtype_short_name(inputs[i].dtype) << ir::shape_text(inputs[i].shape) << '\n';
  for (const Step& s : steps) print_step(os, s, "  ");
  os << "  return ";
  print_slots(os, outputs);
  os << '\n';
  return os.str();
}

}  // namespace ember::codegen
