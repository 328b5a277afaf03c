// The tape: recording backward nodes at the dispatch point, and the engine that runs them.
//
// backward() and grad() start from the outputs' nodes and run nodes in decreasing creation order
// (a node's inputs were all made before it, so every consumer of a value has delivered its
// gradient before the value's producer runs), summing the gradients that reach a node and
// delivering those that reach a leaf. Rules run with grad mode set to create_graph: off, they
// compute plain tensors; on, they record their own backward nodes (higher-order gradients).
#include <algorithm>
#include <atomic>
#include <queue>
#include <unordered_map>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "frontend/autograd/node.h"
#include "frontend/autograd/rules.h"
#include "frontend/tensor_impl.h"

namespace ember {

namespace {
// initial-exec: a plain load from the thread pointer (as the tracer's), read on every op.
[[gnu::tls_model("initial-exec")]] thread_local bool grad_mode_enabled = true;
}  // namespace

bool GradMode::is_enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

namespace autograd {

std::shared_ptr<Node> Access::grad_fn(const Tensor& t) { return t.impl_->grad_fn; }
void Access::set_grad_fn(const Tensor& t, std::shared_ptr<Node> node, uint32_t output_nr) {
  t.impl_->grad_fn = std::move(node);
  t.impl_->output_nr = output_nr;
}
uint32_t Access::output_nr(const Tensor& t) { return t.impl_->output_nr; }
Tensor& Access::grad(const Tensor& t) { return t.impl_->grad; }

namespace {

std::atomic<uint64_t> next_sequence{0};

// The PyTorch-style name of an op's backward node: the op's enum name and "Backward".
constexpr std::string_view kOpEnumNames[] = {
#define EMBER_OP(name, text, category, arity, props, attrs) #name,
#include "ember/ir/ops.def"
#undef EMBER_OP
};

uint64_t version_of(const Tensor& t) {
  const auto& storage = t.array().storage();
  return storage ? storage->version() : 0;
}

std::string describe(const Tensor& t) {
  return detail::concat("[", ir::dtype_short_name(t.dtype()), " ", shape_str(t.sizes()), "]");
}

// Whether a gradient can become a leaf's grad() as it is: nobody else holds it or its storage
// (an expand of the incoming gradient, say, must be copied first).
bool is_own(const Tensor& g) {
  return !g.is_traced() && g.is_leaf() && g.is_contiguous() && g.array().storage() &&
         g.array().storage().use_count() == 1;
}

}  // namespace

std::string Node::name() const {
  return custom ? custom_name : std::string(kOpEnumNames[size_t(op)]) + "Backward";
}

void Node::check_not_released() const {
  EMBER_CHECK(!released, Error, name(),
              ": trying to backward through the graph a second time (or to use saved tensors "
              "after they were freed); pass retain_graph=true to the first backward() or grad() "
              "if you need to backward through the graph again");
}

Tensor Node::unpack(const SavedTensor& saved, bool create_graph) {
  check_not_released();
  const uint64_t now = version_of(saved.tensor);
  EMBER_CHECK(now == saved.version, Error,
              "one of the variables needed for gradient computation has been modified by an "
              "inplace operation: ",
              describe(saved.tensor),
              (saved.is_output ? ", which is the output of " : ", saved by "), name(),
              ", is at version ", now, "; expected version ", saved.version, " instead");
  if (!saved.is_output || !create_graph) return saved.tensor;
  Tensor t = saved.tensor.detach();
  Access::set_grad_fn(t, shared_from_this());
  return t;
}

bool should_record(std::span<const Tensor> inputs) {
  if (!grad_mode_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

uint64_t new_sequence() { return next_sequence++; }

Edge edge_of(const Tensor& t) {
  Edge edge;
  if (t.defined() && t.requires_grad() && is_floating(t.dtype())) {
    edge.node = Access::grad_fn(t);
    edge.output_nr = edge.node ? Access::output_nr(t) : 0;
    if (!edge.node) edge.leaf = t;
  }
  return edge;
}

void record(ir::Op op, const ir::Attrs& attrs, std::span<const Tensor> inputs,
            const Tensor& output) {
  const Rule* rule = backward_rule(op);
  if (!rule || !is_floating(output.dtype())) return;  // no gradient: the result is a constant
  auto node = std::make_shared<Node>();
  node->op = op;
  node->attrs = attrs;
  node->sequence = new_sequence();
  const bool save_inputs = rule->saves & Rule::Inputs;
  for (const Tensor& t : inputs) {
    node->next.push_back(edge_of(t));
    node->input_sizes.push_back(t.defined() ? t.sizes().vec() : Shape());
    node->input_dtypes.push_back(t.defined() ? t.dtype() : DType::Float32);
    node->saved_inputs.push_back(save_inputs && t.defined() ? SavedTensor{t, version_of(t), false}
                                                            : SavedTensor{});
  }
  if (rule->saves & Rule::Output)
    node->saved_output = SavedTensor{output.detach(), version_of(output), true};
  Access::set_grad_fn(output, std::move(node));
}

namespace {

// One backward pass: from the outputs and their gradients, to the leaves' grad() (backward) or
// to the requested inputs (grad).
class Engine {
 public:
  Engine(bool keep_graph, bool create_graph)
      : keep_graph_(keep_graph), create_graph_(create_graph) {}

  // grad(): gradients are kept for these inputs only; no leaf's grad() changes.
  void capture(const std::vector<Tensor>& inputs) {
    capturing_ = true;
    captured_.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      EMBER_CHECK(inputs[i].defined() && inputs[i].requires_grad(), Error, "grad: input ", i,
                  " does not require grad");
      if (auto node = Access::grad_fn(inputs[i]))
        node_inputs_[node.get()].push_back({i, Access::output_nr(inputs[i])});
      else
        leaf_inputs_[inputs[i].identity()].push_back(i);
    }
  }

  void run(const std::vector<Tensor>& outputs, const std::vector<Tensor>& gradients) {
    const AutoGradMode mode(create_graph_);
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor& out = outputs[i];
      EMBER_CHECK(out.defined() && out.requires_grad(), Error, "backward: element ", i,
                  " of tensors does not require grad and does not have a grad_fn");
      Tensor g = i < gradients.size() ? gradients[i] : Tensor();
      if (!g.defined()) {
        EMBER_CHECK(out.numel() == 1, Error,
                    "backward: grad can be implicitly created only for scalar outputs, but "
                    "output ",
                    i, " has shape ", shape_str(out.sizes()));
        g = ones_like(out);
      }
      EMBER_CHECK(g.sizes().vec() == out.sizes().vec(), ShapeError,
                  "backward: the gradient of output ", i, " has shape ", shape_str(g.sizes()),
                  " but the output has shape ", shape_str(out.sizes()));
      if (g.dtype() != out.dtype()) g = g.to(out.dtype());
      deliver(edge_of(out), std::move(g));
    }
    while (!ready_.empty()) {
      Node* node = ready_.top().second;
      ready_.pop();
      auto it = pending_.find(node);
      std::shared_ptr<Node> keep = std::move(it->second.first);
      std::vector<Tensor> grads = std::move(it->second.second);
      pending_.erase(it);
      if (capturing_) {
        if (auto c = node_inputs_.find(node); c != node_inputs_.end())
          for (const auto& [i, nr] : c->second)
            if (grads[nr].defined()) add_to(captured_[i], grads[nr]);
      }
      run_node(*node, grads);
    }
  }

  std::vector<Tensor> captured() const { return captured_; }

 private:
  void run_node(Node& node, const std::vector<Tensor>& output_grads) {
    if (node.custom) {
      node.check_not_released();
      EMBER_CHECK(!create_graph_, Error, node.name(),
                  ": compiled backward does not record a graph for higher-order gradients (call "
                  "the function uncompiled, or eagerly, for create_graph)");
      std::vector<Tensor> grads = node.custom(output_grads, !keep_graph_);
      if (!keep_graph_) node.released = true;
      for (size_t i = 0; i < node.next.size() && i < grads.size(); ++i)
        if (node.next[i].defined() && grads[i].defined())
          deliver(node.next[i], std::move(grads[i]));
      return;
    }
    const Tensor& g = output_grads[0];
    const Rule* rule = backward_rule(node.op);
    if (rule->saves != Rule::Nothing) node.check_not_released();
    std::vector<Tensor> inputs(node.saved_inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      if (node.saved_inputs[i].defined())
        inputs[i] = node.unpack(node.saved_inputs[i], create_graph_);
    const Tensor output =
        node.saved_output.defined() ? node.unpack(node.saved_output, create_graph_) : Tensor();
    std::vector<bool> needs(node.next.size());
    for (size_t i = 0; i < node.next.size(); ++i) needs[i] = node.next[i].defined();
    if (std::find(needs.begin(), needs.end(), true) != needs.end()) {
      const BackwardArgs args{node.op,           node.attrs, inputs, node.input_sizes,
                              node.input_dtypes, output,     g,      needs};
      Gradients grads = rule->backward(args);
      for (size_t i = 0; i < node.next.size() && i < grads.size(); ++i) {
        if (!node.next[i].defined() || !grads[i].defined()) continue;
        Tensor gi = std::move(grads[i]);
        EMBER_INTERNAL_ASSERT(gi.sizes().vec() == node.input_sizes[i], node.name(),
                              ": the rule gave input ", i, " a gradient of shape ",
                              shape_str(gi.sizes()), " for an input of shape ",
                              shape_str(node.input_sizes[i]));
        if (gi.dtype() != node.input_dtypes[i]) gi = gi.to(node.input_dtypes[i]);
        deliver(node.next[i], std::move(gi));
      }
    }
    if (!keep_graph_) {
      node.released = true;
      for (SavedTensor& s : node.saved_inputs) s = SavedTensor{};
      node.saved_output = SavedTensor{};
    }
  }

  void add_to(Tensor& sum, const Tensor& g) { sum = sum.defined() ? sum + g : g; }

  void deliver(const Edge& edge, Tensor g) {
    if (edge.node) {
      auto [it, fresh] = pending_.try_emplace(edge.node.get(), edge.node,
                                              std::vector<Tensor>(edge.node->num_outputs));
      add_to(it->second.second[edge.output_nr], g);
      if (fresh) ready_.emplace(edge.node->sequence, edge.node.get());
      return;
    }
    if (capturing_) {
      if (auto c = leaf_inputs_.find(edge.leaf.identity()); c != leaf_inputs_.end())
        for (size_t i : c->second) add_to(captured_[i], g);
      return;
    }
    // Inside a traced function, a real leaf's grad() takes a traced gradient: a write each run
    // of the compiled function applies.
    TraceContext* tc = TraceContext::active();
    if (tc && g.is_traced()) tc->note_grad_slot(edge.leaf, false);
    Tensor& slot = Access::grad(edge.leaf);
    if (tc) tc->note_grad_read(edge.leaf, slot);
    if (slot.defined())
      slot = slot + g;
    else
      slot = create_graph_ || is_own(g) ? std::move(g) : g.clone();
  }

  bool keep_graph_, create_graph_;
  bool capturing_ = false;
  std::unordered_map<const Node*, std::vector<std::pair<size_t, uint32_t>>> node_inputs_;
  std::unordered_map<const void*, std::vector<size_t>> leaf_inputs_;
  std::vector<Tensor> captured_;
  std::unordered_map<Node*, std::pair<std::shared_ptr<Node>, std::vector<Tensor>>> pending_;
  std::priority_queue<std::pair<uint64_t, Node*>> ready_;
};

}  // namespace

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph,
                         bool create_graph, bool allow_unused) {
  EMBER_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ValueError,
              "grad: got ", grad_outputs.size(), " gradients for ", outputs.size(), " outputs");
  Engine engine(retain_graph.value_or(create_graph), create_graph);
  engine.capture(inputs);
  engine.run(outputs, grad_outputs);
  std::vector<Tensor> result = engine.captured();
  for (size_t i = 0; i < result.size(); ++i)
    EMBER_CHECK(result[i].defined() || allow_unused, Error, "grad: input ", i,
                " appears to not have been used in the graph; pass allow_unused=true if this is "
                "the desired behavior");
  return result;
}

void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors,
              std::optional<bool> retain_graph, bool create_graph) {
  EMBER_CHECK(grad_tensors.size() <= tensors.size(), ValueError, "backward: got ",
              grad_tensors.size(), " gradients for ", tensors.size(), " tensors");
  Engine engine(retain_graph.value_or(create_graph), create_graph);
  engine.run(tensors, grad_tensors);
}

}  // namespace autograd
}  // namespace ember
