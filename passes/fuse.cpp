#include "ember/passes/fuse.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "ember/passes/dead_code_elimination.h"
#include "ember/runtime/log.h"

namespace ember::passes {
namespace {

using ir::Node;
using ir::Op;
using ir::OpCategory;
using ir::SymShape;
using ir::Value;

enum class Kind { Elementwise, Reduction, Library, Opaque };

bool is_library(const Node& n) { return ir::is_library_call(n.op); }
bool is_movement(const Node& n) { return ir::is_movement(n.op); }
// Random draws join kernels as elementwise generators (each element its own counter).
bool is_elementwise(const Node& n) {
  return ir::is_elementwise(n.op) || ir::op_category(n.op) == OpCategory::Random;
}
bool is_constant(const Node& n) { return ir::op_category(n.op) == OpCategory::Constant; }
// Lookups an elementwise kernel does as loads at a computed index (codegen's Gather).
bool is_gather(const Node& n) { return n.op == Op::IndexSelect || n.op == Op::Gather; }
using ir::is_transcendental;

// A reduction level: its input shape and reduced axes.
struct Signature {
  SymShape input;
  std::vector<int64_t> dims;
  bool operator==(const Signature& o) const { return input == o.input && dims == o.dims; }
};

Signature signature_of(const Node& n) { return {n.inputs[0]->shape, ir::reduced_axes(n)}; }

// The shapes a reduction's kernel iterates over: its input and the reduced shape (either keepdim).
bool in_reduction_domain(const Signature& s, const SymShape& shape) {
  if (shape == s.input) return true;
  SymShape keep, drop;
  for (size_t d = 0; d < s.input.size(); ++d) {
    const bool reduced = std::find(s.dims.begin(), s.dims.end(), int64_t(d)) != s.dims.end();
    keep.push_back(reduced ? ir::SymInt(1) : s.input[d]);
    if (!reduced) drop.push_back(s.input[d]);
  }
  return shape == keep || shape == drop;
}

// a broadcasts to b (numpy rules, symbolically).
bool broadcasts_to(const SymShape& a, const SymShape& b) {
  if (a.size() > b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const ir::SymInt& da = a[a.size() - 1 - i];
    if (!(da == b[b.size() - 1 - i] || da == ir::SymInt(1))) return false;
  }
  return true;
}

struct Group {
  Kind kind;
  SymShape domain;                     // the largest shape it iterates over
  std::optional<Signature> reduction;  // for Kind::Reduction
  const Value* library_output = nullptr;
  std::set<int> deps;  // groups it reads from, transitively
  std::vector<Node*> nodes;
};

class Fuser {
 public:
  explicit Fuser(ir::Graph& g) : g_(g), log_(log_enabled("fusion")) {}

  void run() {
    mark_views();
    for (const auto& n : g_.nodes()) place(*n);
    recompute_cheap_values();
    reorder();
  }

 private:
  void say(const std::string& line) {
    if (log_) log_message("fusion", line);
  }
  static std::string name(const Node& n) {
    return n.output ? "%" + n.output->name : std::string(ir::op_name(n.op));
  }

  // Movement ops that only feed library calls are views: BLAS takes the strides.
  void mark_views() {
    for (const auto& n : g_.nodes()) {
      if (!is_movement(*n) || (n->op != Op::Permute && n->op != Op::Reshape && n->op != Op::Expand))
        continue;
      bool only_library = g_.use_count(n->output) > 0;
      for (const auto& m : g_.nodes())
        for (const Value* v : m->inputs)
          if (v == n->output && !is_library(*m)) only_library = false;
      for (const Value* v : g_.outputs())
        if (v == n->output) only_library = false;
      if (only_library) {
        views_.insert(n.get());
        say(name(*n) + " (" + std::string(ir::op_name(n->op)) + "): a view into the library call");
      }
    }
  }

  // Whether the reduced dims are the trailing ones, as a row kernel reduces them.
  static bool reduces_trailing_dims(const Node& n) {
    const std::vector<int64_t> axes = ir::reduced_axes(n);
    const int64_t rank = n.inputs[0]->rank();
    for (size_t i = 0; i < axes.size(); ++i)
      if (axes[i] != rank - int64_t(axes.size()) + int64_t(i)) return false;
    return true;
  }

  // The group computing v; a view into a library call (no kernel of its own) stands for the
  // group of the value it views.
  int group_of(const Value* v) const {
    while (v->producer && views_.count(v->producer)) v = v->producer->inputs[0];
    if (!v->producer) return -1;
    auto it = group_.find(v->producer);
    return it == group_.end() ? -1 : it->second;
  }

  // The groups n reads from, and everything they read from.
  std::set<int> deps_of(const Node& n) const {
    std::set<int> out;
    for (const Value* v : n.inputs) {
      const int h = group_of(v);
      if (h < 0) continue;
      out.insert(h);
      out.insert(groups_[size_t(h)].deps.begin(), groups_[size_t(h)].deps.end());
    }
    return out;
  }

  // Whether group gi computes v: a node of it produces v, other than a movement of a value it
  // does not compute (a view the runner makes before the kernel).
  bool computed_in(const Value* v, int gi) const {
    const Node* p = v->producer;
    if (!p || producer_group(v) != gi) return false;
    return !is_movement(*p) || computed_in(p->inputs[0], gi);
  }

  // Whether v is returned or read by a node other than n outside groups gi and hi (nodes not
  // placed yet count as outside).
  bool read_outside(const Value* v, int gi, const Node& n, int hi = -1) const {
    for (const Value* o : g_.outputs())
      if (o == v) return true;
    for (const auto& m : g_.nodes()) {
      if (m.get() == &n) continue;
      auto it = group_.find(m.get());
      if (it != group_.end() && (it->second == gi || it->second == hi)) continue;
      for (const Value* in : m->inputs)
        if (in == v) return true;
    }
    return false;
  }

  // Why n may not join group G, or "" when it may.
  std::string refusal(const Node& n, int gi) const {
    const Group& G = groups_[size_t(gi)];
    // No cycle: no other operand's group may depend on G.
    for (const Value* v : n.inputs) {
      const int h = group_of(v);
      if (h >= 0 && h != gi && groups_[size_t(h)].deps.count(gi))
        return "operand %" + v->name + " comes from a kernel that depends on k" +
               std::to_string(gi);
    }
    const SymShape& out = n.output->shape;
    if (is_gather(n)) {
      if (G.kind != Kind::Elementwise) return "a gather joins elementwise kernels only";
      for (const Value* v : n.inputs)
        if (computed_in(v, gi))
          return "k" + std::to_string(gi) + " computes its operand %" + v->name +
                 ", which a gather reads from memory";
    }
    switch (G.kind) {
      case Kind::Opaque:
        return "k" + std::to_string(gi) + " is an opaque kernel";
      case Kind::Library:
        if (!is_elementwise(n)) return "only elementwise ops join a library call's epilogue";
        if (!(out == G.domain)) return "the epilogue must keep the library output's shape";
        return "";
      case Kind::Reduction:
        if (ir::is_reduction(n.op)) {
          if (signature_of(n) == *G.reduction) return "";
          return "a reduction over other axes or another shape would recompute the first";
        }
        // A per-row value without its kept dims ([R] of a [R, C] reduction) read in the
        // reduction's input shape broadcasts against the trailing dims, not along the rows.
        for (const Value* v : n.inputs)
          if (group_of(v) == gi && v->rank() > 0 && v->rank() < int64_t(out.size()))
            return "operand %" + v->name + " of k" + std::to_string(gi) +
                   " broadcasts along other dims than the rows";
        if (in_reduction_domain(*G.reduction, out)) return "";
        return "shape " + ir::shape_text(out) + " is outside the reduction's row domain";
      case Kind::Elementwise:
        if (is_movement(n)) {
          // Lowering reads moved values through the strides of a view of a kernel input; a value
          // the kernel computes has no strides to move by, so its movement runs after the kernel.
          if (group_of(n.inputs[0]) == gi)
            return "a movement of a value k" + std::to_string(gi) + " computes";
          return "";
        }
        if (ir::is_reduction(n.op)) {
          for (const Node* m : G.nodes) {
            if (is_gather(*m)) return "row kernels do not gather (%" + m->output->name + ")";
            if (!m->output) continue;
            if (!broadcasts_to(m->output->shape, n.inputs[0]->shape))
              return "the prologue does not live in the reduction's input shape";
            // The row kernel stores only values per element or per row of its domain.
            if (read_outside(m->output, gi, n) &&
                !in_reduction_domain(signature_of(n), m->output->shape))
              return "%" + m->output->name + " is read after the kernel and is neither per " +
                     "element nor per row of the reduction";
          }
          return "";
        }
        if (broadcasts_to(out, G.domain)) return "";
        if (!broadcasts_to(G.domain, out))
          return "shapes " + ir::shape_text(G.domain) + " and " + ir::shape_text(out) +
                 " do not broadcast";
        // n grows the domain: a smaller value of G read after the kernel would be a store
        // outside it (a mask of [T, T] shared by several [B, H, T, T] kernels stays its own).
        if (const Node* m = smaller_value_read_outside(G, out, gi, n))
          return "%" + m->output->name + " of k" + std::to_string(gi) +
                 " is read after the kernel and smaller than the grown domain " +
                 ir::shape_text(out);
        return "";
    }
    return "unknown";
  }

  // A node of H whose value a kernel of G's form could not store (not of shape `domain`, or for
  // a reduction neither per element nor per row) and is read outside H (and G, when given).
  const Node* smaller_value_read_outside(const Group& H, const SymShape& domain, int hi,
                                         const Node& n, int gi = -1,
                                         const Signature* rows = nullptr) const {
    for (const Node* m : H.nodes) {
      if (!m->output) continue;
      const bool storable =
          rows ? in_reduction_domain(*rows, m->output->shape) : m->output->shape == domain;
      if (!storable && read_outside(m->output, hi, n, gi)) return m;
    }
    return nullptr;
  }

  void join(Node& n, int gi) {
    Group& G = groups_[size_t(gi)];
    if (ir::is_reduction(n.op) && G.kind == Kind::Elementwise) {
      G.kind = Kind::Reduction;
      G.reduction = signature_of(n);
      G.domain = n.inputs[0]->shape;
    } else if (G.kind == Kind::Elementwise &&
               (is_movement(n) || broadcasts_to(G.domain, n.output->shape))) {
      G.domain = n.output->shape;
    }
    const std::set<int> d = deps_of(n);
    for (int h : d)
      if (h != gi) G.deps.insert(h);
    G.nodes.push_back(&n);
    group_[&n] = gi;
  }

  // n joined G and also reads elementwise kernel H, and neither depended on the other before:
  // H's nodes join G too (two independent chains meeting at n are one kernel, not a kernel and a
  // buffer between them).
  void absorb(int gi, int hi, const Node& n) {
    Group& G = groups_[size_t(gi)];
    Group& H = groups_[size_t(hi)];
    if (H.nodes.empty() || H.kind != Kind::Elementwise) return;
    for (const Node* m : H.nodes)
      if (is_movement(*m) || (is_gather(*m) && G.kind != Kind::Elementwise))
        return;  // keep index remapping out of other kernels; only elementwise ones gather
    const bool fits = G.kind == Kind::Reduction ? in_reduction_domain(*G.reduction, H.domain)
                                                : broadcasts_to(H.domain, G.domain);
    if (!fits || G.kind == Kind::Opaque) return;
    const Signature* rows = G.kind == Kind::Reduction ? &*G.reduction : nullptr;
    if (const Node* m = smaller_value_read_outside(H, G.domain, hi, n, gi, rows)) {
      say("k" + std::to_string(hi) + " not merged into k" + std::to_string(gi) + ": %" +
          m->output->name + " is read after it and smaller than k" + std::to_string(gi) +
          "'s domain");
      return;
    }
    // G may read H through a third kernel too (H -> X -> G, X an opaque gather of an H value):
    // then merging would make a cycle.
    for (int x : G.deps)
      if (x != hi && groups_[size_t(x)].deps.count(hi)) return;
    for (Node* m : H.nodes) {
      group_[m] = gi;
      G.nodes.push_back(m);
    }
    H.nodes.clear();
    G.deps.insert(H.deps.begin(), H.deps.end());
    G.deps.erase(hi);
    for (Group& other : groups_)
      if (other.deps.erase(hi)) other.deps.insert(gi);
    say("k" + std::to_string(hi) + " merged into k" + std::to_string(gi) + " where " + name(n) +
        " reads both");
  }

  int open(Node& n, Kind kind) {
    Group G{kind, n.output ? n.output->shape : SymShape{}, std::nullopt, nullptr, deps_of(n), {}};
    if (kind == Kind::Reduction) {
      G.reduction = signature_of(n);
      G.domain = n.inputs[0]->shape;
    }
    if (kind == Kind::Library) G.library_output = n.output;
    groups_.push_back(std::move(G));
    const int gi = int(groups_.size()) - 1;
    groups_.back().nodes.push_back(&n);
    group_[&n] = gi;
    return gi;
  }

  void place(Node& n) {
    if (n.op == Op::Guard || is_constant(n) || views_.count(&n)) return;  // no kernel
    if (is_library(n)) {
      const int gi = open(n, Kind::Library);
      say(name(n) + ": library call, kernel k" + std::to_string(gi));
      return;
    }
    const OpCategory c = ir::op_category(n.op);
    if (ir::is_reduction(n.op) && !reduces_trailing_dims(n)) {
      // Row kernels reduce trailing dims; this one (a bias gradient's sum over the batch) runs as
      // the eager reduction, and its operand's kernel stays compiled instead of falling back too.
      const int gi = open(n, Kind::Opaque);
      say(name(n) + ": own kernel k" + std::to_string(gi) + " (reduces leading dims)");
      return;
    }
    if (c == OpCategory::Pool || (c == OpCategory::Index && !is_gather(n)) ||
        c == OpCategory::Scan || c == OpCategory::Sort) {
      const int gi = open(n, Kind::Opaque);
      say(name(n) + ": own kernel k" + std::to_string(gi) + " (" + std::string(ir::op_name(n.op)) +
          ")");
      return;
    }
    // Try the operands' kernels, the most recent first.
    std::vector<int> candidates;
    for (const Value* v : n.inputs)
      if (int h = group_of(v); h >= 0) candidates.push_back(h);
    std::sort(candidates.begin(), candidates.end(), std::greater<int>());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (int gi : candidates) {
      const std::string why = refusal(n, gi);
      if (why.empty()) {
        // Other operand kernels independent of this one (checked before n links them).
        std::vector<int> independent;
        for (int h : candidates)
          if (h != gi && !groups_[size_t(gi)].deps.count(h) && !groups_[size_t(h)].deps.count(gi))
            independent.push_back(h);
        join(n, gi);
        say(name(n) + " (" + std::string(ir::op_name(n.op)) + "): fused into k" +
            std::to_string(gi));
        for (int h : independent) absorb(gi, h, n);
        return;
      }
      say(name(n) + " (" + std::string(ir::op_name(n.op)) + "): not fused into k" +
          std::to_string(gi) + ": " + why);
    }
    const int gi = open(n, c == OpCategory::Reduce ? Kind::Reduction : Kind::Elementwise);
    say(name(n) + " (" + std::string(ir::op_name(n.op)) + "): starts kernel k" +
        std::to_string(gi));
  }

  // A value computed in one kernel and read by another: recompute it there when its chain is
  // cheap (no transcendental, at most three ops, leaves outside any kernel), else keep it
  // materialized. Never duplicates a transcendental over a large tensor.
  void recompute_cheap_values() {
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      // Library calls and opaque kernels read their operands from memory: nothing to fuse into.
      if (groups_[gi].kind == Kind::Library || groups_[gi].kind == Kind::Opaque) continue;
      for (Node* consumer : std::vector<Node*>(groups_[gi].nodes)) {
        if (is_movement(*consumer)) continue;  // it moves a kernel input: see refusal()
        for (size_t k = 0; k < consumer->inputs.size(); ++k) {
          Value* v = consumer->inputs[k];
          const int h = group_of(v);
          if (h < 0 || h == int(gi) || groups_[size_t(h)].kind == Kind::Library) continue;
          std::vector<Node*> chain;
          std::string why;
          if (!cheap_chain(v, int(h), chain, why)) {
            say("%" + v->name + ": read by k" + std::to_string(gi) + ", materialized by k" +
                std::to_string(h) + " (" + why + ")");
            continue;
          }
          g_.set_input(*consumer, k, clone_chain(chain, v, int(gi), consumer));
          say("%" + v->name + ": recomputed in k" + std::to_string(gi) + " (" +
              std::to_string(chain.size()) + " cheap op" + (chain.size() == 1 ? "" : "s") + ")");
        }
      }
    }
  }

  bool cheap_chain(Value* v, int h, std::vector<Node*>& chain, std::string& why) {
    Node* p = v->producer;
    if (!p || group_of(v) != h) return true;  // a leaf: input, constant, view
    if (!is_elementwise(*p) || ir::op_category(p->op) == OpCategory::Random) {
      why = std::string(ir::op_name(p->op)) + " is not a cheap elementwise op";
      return false;
    }
    const int64_t numel = ir::numel_if_static(p->output->shape, -1);
    if (is_transcendental(p->op) && (numel < 0 || numel > 4096)) {
      why = "recomputing " + std::string(ir::op_name(p->op)) + " over " +
            (numel < 0 ? std::string("a symbolic number of") : std::to_string(numel)) +
            " elements would duplicate a transcendental";
      return false;
    }
    if (chain.size() >= 3) {
      why = "its chain is longer than three ops";
      return false;
    }
    for (Value* in : p->inputs)
      if (!cheap_chain(in, h, chain, why)) return false;
    if (std::find(chain.begin(), chain.end(), p) == chain.end()) chain.push_back(p);
    return true;
  }

  // Copies the chain into kernel gi, placed just before `consumer`.
  Value* clone_chain(const std::vector<Node*>& chain, Value* root, int gi, const Node* consumer) {
    std::unordered_map<const Value*, Value*> mapped;
    Value* result = root;
    for (Node* p : chain) {  // operands first
      std::vector<Value*> inputs;
      for (Value* in : p->inputs) inputs.push_back(mapped.count(in) ? mapped[in] : in);
      Value* copy = g_.add(p->op, inputs, p->attrs);
      Node* node = g_.nodes().back().get();
      group_[node] = gi;
      groups_[size_t(gi)].nodes.push_back(node);
      clone_before_[node] = {consumer, clone_before_.size()};
      mapped[p->output] = copy;
      if (p->output == root) result = copy;
    }
    return result;
  }

  // Groups in dependency order (ties by first appearance), each consecutive; constants first,
  // views before their library call, guards right after the kernel that computes their operand.
  void reorder() {
    const auto& nodes = g_.nodes();
    std::unordered_map<const Node*, double> position;
    for (size_t i = 0; i < nodes.size(); ++i) position[nodes[i].get()] = double(i);
    for (const auto& [clone, where] : clone_before_)  // recomputed copies: just before their reader
      position[clone] = position[where.first] - 0.5 + 1e-6 * double(where.second);
    for (Group& G : groups_)
      std::sort(G.nodes.begin(), G.nodes.end(),
                [&](const Node* a, const Node* b) { return position[a] < position[b]; });
    // Kahn over groups.
    std::vector<int> order, indeg(groups_.size(), 0);
    std::vector<std::set<int>> direct(groups_.size());
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      for (const Node* n : groups_[gi].nodes)
        for (const Value* v : n->inputs) {
          const int h = producer_group(through_views(v));  // a view's source comes first too
          if (h >= 0 && h != int(gi) && direct[gi].insert(h).second) ++indeg[gi];
        }
    std::set<std::pair<double, int>> ready;
    size_t live_groups = 0;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      if (groups_[gi].nodes.empty()) continue;  // merged into another
      ++live_groups;
      if (!indeg[gi]) ready.insert({position[groups_[gi].nodes.front()], int(gi)});
    }
    while (!ready.empty()) {
      const int gi = ready.begin()->second;
      ready.erase(ready.begin());
      order.push_back(gi);
      for (size_t other = 0; other < groups_.size(); ++other)
        if (direct[other].count(gi) && --indeg[other] == 0)
          ready.insert({position[groups_[other].nodes.front()], int(other)});
    }
    EMBER_INTERNAL_ASSERT(order.size() == live_groups, "fusion made a cycle of kernels");

    std::vector<Node*> emitted;
    std::set<const Node*> done;
    auto emit = [&](Node* n) {
      if (done.insert(n).second) emitted.push_back(n);
    };
    for (const auto& n : nodes)
      if (is_constant(*n)) emit(n.get());
    // A view, after the views it reads (a permute of a reshape).
    std::function<void(Node*)> emit_view = [&](Node* view) {
      if (done.count(view)) return;
      const Value* source = view->inputs[0];
      if (source->producer && views_.count(source->producer)) emit_view(source->producer);
      emit(view);
    };
    auto emit_views_for = [&](const Node* n) {
      for (const Value* v : n->inputs)
        if (v->producer && views_.count(v->producer)) emit_view(v->producer);
    };
    int renumbered = 0;
    std::vector<const Node*> guards;
    for (const auto& n : nodes)
      if (n->op == Op::Guard) guards.push_back(n.get());
    for (int gi : order) {
      // The views the group reads from outside come before it, so that it stays consecutive;
      // a view of one of its own values comes where it is read.
      for (const Node* n : groups_[size_t(gi)].nodes)
        for (const Value* v : n->inputs)
          if (v->producer && views_.count(v->producer) && !reads_group(v->producer, gi))
            emit_view(v->producer);
      for (Node* n : groups_[size_t(gi)].nodes) {
        emit_views_for(n);
        n->group = renumbered;
        emit(n);
      }
      ++renumbered;
      for (const Node* guard : guards) {
        const Value* v = guard->inputs[0];
        if (!v->producer || done.count(v->producer)) emit(const_cast<Node*>(guard));
      }
    }
    for (const auto& n : nodes) {  // views of unused results, leftover guards
      if (!done.count(n.get())) {
        emit_views_for(n.get());
        emit(n.get());
      }
    }
    for (Node* n : emitted)
      if (views_.count(n) || is_constant(*n) || n->op == Op::Guard) n->group = -1;
    std::unordered_map<const Node*, size_t> new_position;
    for (size_t i = 0; i < emitted.size(); ++i) new_position[emitted[i]] = i;
    g_.reorder_nodes(
        [&](const Node* a, const Node* b) { return new_position[a] < new_position[b]; });
  }

  // The value a chain of views starts from (v itself when no view produces it).
  const Value* through_views(const Value* v) const {
    while (v->producer && views_.count(v->producer)) v = v->producer->inputs[0];
    return v;
  }
  // Whether a view (or a view of a view ...) reads a value group gi computes.
  bool reads_group(const Node* view, int gi) const {
    return producer_group(through_views(view->output)) == gi;
  }

  int producer_group(const Value* v) const {
    if (!v->producer) return -1;
    auto it = group_.find(v->producer);
    return it == group_.end() ? -1 : it->second;
  }

  ir::Graph& g_;
  bool log_;
  std::vector<Group> groups_;
  std::unordered_map<const Node*, int> group_;
  std::set<const Node*> views_;
  std::unordered_map<const Node*, std::pair<const Node*, size_t>> clone_before_;
};

}  // namespace

bool fuse(ir::Graph& graph) {
  for (const auto& n : graph.nodes()) n->group = -1;
  Fuser(graph).run();
  dead_code_elimination(graph);  // originals of recomputed values that nothing reads any more
  // Number the kernels that remain densely, in order.
  std::map<int, int> renumber;
  for (const auto& n : graph.nodes())
    if (n->group >= 0 && !renumber.count(n->group)) renumber[n->group] = int(renumber.size());
  for (const auto& n : graph.nodes())
    if (n->group >= 0) n->group = renumber[n->group];
  return true;
}

int count_kernels(const ir::Graph& graph) {
  std::set<int> groups;
  for (const auto& n : graph.nodes())
    if (n->group >= 0) groups.insert(n->group);
  return int(groups.size());
}

}  // namespace ember::passes
