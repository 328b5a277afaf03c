#include "ember/frontend/trace.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>

#include "ember/frontend/autograd.h"
#include "ember/ir/interpreter.h"
#include "ember/passes/decompose.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/small_vector.h"
#include "frontend/autograd/node.h"
#include "frontend/tensor_impl.h"

namespace ember {
namespace {

// initial-exec: a plain offset from the thread pointer, not a __tls_get_addr call per op (the
// library is linked statically or loaded at startup, never dlopen-ed late).
[[gnu::tls_model("initial-exec")]] thread_local TraceContext* tls_active = nullptr;

Array meta_of(const Array& a) { return Array(nullptr, a.dtype(), a.sizes(), a.strides(), 0); }

Array int64_scalar(uint64_t v) {
  Array a = Array::empty({}, kInt64);
  *a.data_as<int64_t>() = int64_t(v);
  return a;
}

}  // namespace

TraceContext::TraceContext(const std::string& name)
    : graph_(std::make_shared<ir::Graph>(name)), previous_(tls_active) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1);
  tls_active = this;
}

TraceContext::~TraceContext() {
  restore();  // a trace that failed must not leave captured tensors traced
  tls_active = previous_;
}

TraceContext* TraceContext::active() { return tls_active; }

TracePause::TracePause() : saved_(tls_active) { tls_active = nullptr; }
TracePause::~TracePause() { tls_active = saved_; }

Tensor TraceContext::make_tracer(ir::Value* v) {
  if (!v) return Tensor();
  Shape sizes = ir::evaluate_shape(v->shape, symbol_sizes_);
  const Shape strides = contiguous_strides(sizes);
  return Tensor::traced(this, v, Array(nullptr, v->dtype, std::move(sizes), strides, 0));
}

Tensor TraceContext::add_input(const Tensor& t, const std::vector<bool>& symbolic) {
  EMBER_CHECK(!t.is_traced(), Error, "trace: an example input is itself a traced tensor");
  ir::SymShape shape = ir::sym_shape(t.sizes());
  for (size_t d = 0; d < symbolic.size() && d < shape.size(); ++d) {
    const int64_t size = t.sizes()[d];
    if (!symbolic[d] || size < 2) continue;  // 0 and 1 mean too much to stand for a symbol
    int sym = symbol_of(size);
    if (sym < 0) {
      sym = int(symbol_sizes_.size());
      symbol_sizes_.push_back(size);
    }
    shape[d] = ir::SymInt::symbol(sym);
  }
  ir::Value* v = graph_->add_input(t.dtype(), std::move(shape), ir::ValueKind::Input,
                                   "x" + std::to_string(inputs_.size()));
  inputs_.push_back(t);
  input_arrays_.push_back(t.array());
  Tensor tracer = Tensor::traced(this, v, meta_of(t.array()));
  input_of_[tracer.identity()] = inputs_.size() - 1;
  return tracer;
}

Tensor TraceContext::add_input_like(const Tensor& traced, const std::string& name) {
  const ir::Value* like = value_of(traced);
  ir::Value* v = graph_->add_input(like->dtype, like->shape, ir::ValueKind::Input, name);
  const Tensor example(kernels::full(traced.sizes(), 0.0, like->dtype));
  inputs_.push_back(example);
  input_arrays_.push_back(example.array());
  return make_tracer(v);
}

ir::Value* TraceContext::value_of(const Tensor& t) {
  EMBER_CHECK(t.defined(), Error, "trace: an undefined tensor was used");
  if (t.is_traced()) {
    EMBER_CHECK(t.trace_context() == this, Error,
                "trace: a tensor from another trace (or one that has ended) was used here");
    return t.traced_value();
  }
  // A tensor from outside the function: a parameter, read by reference at run time.
  auto it = param_of_.find(t.identity());
  if (it != param_of_.end()) return it->second;
  ir::Value* v = graph_->add_input(t.dtype(), ir::sym_shape(t.sizes()), ir::ValueKind::Param,
                                   "p" + std::to_string(params_.size()));
  params_.push_back(t);
  input_arrays_.push_back(t.array());
  param_of_[t.identity()] = v;
  return v;
}

int TraceContext::symbol_of(int64_t size) const {
  const auto it = std::find(symbol_sizes_.begin(), symbol_sizes_.end(), size);
  return it == symbol_sizes_.end() ? -1 : int(it - symbol_sizes_.begin());
}

void TraceContext::use_evidence(std::vector<SizeRecord> evidence) {
  evidence_ = std::move(evidence);
}

namespace {

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string bindings_text(const std::vector<int64_t>& bindings) {
  std::string s = "[";
  for (size_t i = 0; i < bindings.size(); ++i)
    s += (i ? ", s" : "s") + std::to_string(i) + "=" + std::to_string(bindings[i]);
  return s + "]";
}

}  // namespace

ir::SymInt TraceContext::size(int64_t value, const char* op, const char* what) {
  const size_t k = sizes_seen_.size();
  sizes_seen_.push_back(value);
  if (evidence_.empty()) {
    if (const int sym = symbol_of(value); sym >= 0 && value >= 2) return ir::SymInt::symbol(sym);
    return value;
  }
  std::vector<std::vector<int64_t>> points;
  std::vector<int64_t> values;
  for (const SizeRecord& r : evidence_) {
    EMBER_CHECK(k < r.sizes.size(), Error, op, ": its ", what,
                " is a size the trace at other sizes did not compute: fn takes another path "
                "when sizes change");
    points.push_back(r.bindings);
    values.push_back(r.sizes[k]);
  }
  const std::optional<ir::SymInt> fit = ir::fit_polynomial(points, values);
  if (fit && evaluate(*fit) == value) return *fit;
  std::string seen;  // the evidence, for the message
  for (size_t r = 0; r < values.size(); ++r)
    seen += (r ? ", " : "") + std::to_string(values[r]) + " at " + bindings_text(points[r]);
  EMBER_CHECK(fit, Error, op, ": its ", what,
              " depends on the symbolic sizes in a way a "
              "polynomial does not fit (",
              seen, ")");
  throw Error(detail::concat(
      op, ": its ", what, " is ", value, " at ", bindings_text(symbol_sizes_), ", not ", fit->str(),
      " as at other sizes (", seen, "): it depends on the sizes' values beyond a polynomial"));
}

int64_t TraceContext::static_size(int64_t value, const char* op, const char* what) {
  const ir::SymInt s = size(value, op, what);
  EMBER_CHECK(s.is_constant() || evidence_.empty(), Error, op, ": its ", what, " (", value,
              ") varies with the symbolic sizes as ", s.str(), ", but ", op,
              " takes it as a number");
  return value;
}

std::vector<ir::SymInt> TraceContext::symbolic_sizes(IntArrayRef sizes, const char* op,
                                                     const Tensor* reshaped) {
  std::vector<ir::SymInt> out;
  static const char* const kNames[] = {"size 0", "size 1", "size 2", "size 3",
                                       "size 4", "size 5", "size 6", "size 7"};
  for (size_t i = 0; i < sizes.size(); ++i)
    out.push_back(size(sizes[i], op, i < 8 ? kNames[i] : "size 8 or later"));
  if (!reshaped || !evidence_.empty() || symbol_sizes_.empty()) return out;
  const ir::SymInt numel = ir::sym_numel(value_of(*reshaped)->shape);
  if (ir::sym_numel(out) == numel) return out;
  for (size_t i = 0; i < out.size(); ++i) {
    ir::SymInt others = 1;
    for (size_t j = 0; j < out.size(); ++j)
      if (j != i) others = others * out[j];
    const auto q = ir::SymInt::divide(numel, others);
    if (q && q->evaluate(symbol_sizes_) == sizes[i]) {
      out[i] = *q;
      break;
    }
  }
  return out;
}

Tensor TraceContext::record(ir::Op op, std::span<const Tensor> inputs, ir::Attrs attrs) {
  std::vector<ir::Value*> values(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) values[i] = value_of(inputs[i]);
  ir::Value* result = graph_->add(op, std::move(values), std::move(attrs));
  if (ir::op_category(op) == ir::OpCategory::Composite) {
    const ir::Node* composite = graph_->nodes().back().get();
    result = passes::decompose_node(*graph_, graph_->nodes().size() - 1);
    graph_->erase_nodes_if([composite](const ir::Node& n) { return &n == composite; });
  }
  return make_tracer(result);
}
Tensor TraceContext::record(ir::Op op, std::initializer_list<Tensor> inputs, ir::Attrs attrs) {
  return record(op, std::span<const Tensor>(inputs.begin(), inputs.size()), std::move(attrs));
}

Tensor TraceContext::scalar(ir::AttrValue value, DType dtype, std::string_view op) {
  const double number = std::holds_alternative<int64_t>(value) ? double(std::get<int64_t>(value))
                                                               : std::get<double>(value);
  const size_t k = numbers_seen_.size();
  numbers_seen_.push_back(number);
  bool varies = false;
  for (const SizeRecord& r : evidence_) {
    EMBER_CHECK(k < r.numbers.size(), Error, op,
                ": a number operand the trace at other sizes did not compute: fn takes another "
                "path when sizes change");
    varies |= !(r.numbers[k] == number || (std::isnan(r.numbers[k]) && std::isnan(number)));
  }
  if (varies) {
    // A number computed from sizes: the polynomial of the symbols it follows, when one does.
    std::vector<std::vector<int64_t>> points;
    std::vector<int64_t> values;
    bool integral = true;
    for (const SizeRecord& r : evidence_) {
      const double v = r.numbers[k];
      integral &= std::nearbyint(v) == v && std::abs(v) < 9e15;
      points.push_back(r.bindings);
      values.push_back(integral ? int64_t(v) : 0);
    }
    const std::optional<ir::SymInt> fit =
        integral ? ir::fit_polynomial(points, values) : std::nullopt;
    if (!fit || double(evaluate(*fit)) != number) {
      std::string seen;  // the evidence, for the message
      for (const SizeRecord& r : evidence_)
        seen += (seen.empty() ? "" : ", ") + number_text(r.numbers[k]) + " at " +
                bindings_text(r.bindings);
      throw Error(detail::concat(
          op, ": its number operand (", number_text(number), " at ", bindings_text(symbol_sizes_),
          ") varies with the symbolic sizes beyond a polynomial of them (", seen, ")"));
    }
    return record(ir::Op::SizeScalar, {},
                  {{ir::Attr::Value, *fit},
                   {ir::Attr::Shape, std::vector<ir::SymInt>{}},
                   {ir::Attr::DType, dtype}});
  }
  return record(ir::Op::Constant, {},
                {{ir::Attr::Value, std::move(value)},
                 {ir::Attr::Shape, std::vector<ir::SymInt>{}},
                 {ir::Attr::DType, dtype}});
}

Tensor TraceContext::random(ir::Op op, IntArrayRef sizes, DType dtype) {
  check_sizes(sizes, ir::op_name(op).data());
  EMBER_CHECK(is_floating(dtype), DTypeError, ir::op_name(op),
              ": expected a floating point dtype, but got ", dtype);
  const kernels::RngState state = kernels::next_rng_state();
  const std::string k = std::to_string(rng_states_.size());
  ir::Value* seed = graph_->add_input(kInt64, {}, ir::ValueKind::Rng, "seed" + k);
  ir::Value* offset = graph_->add_input(kInt64, {}, ir::ValueKind::Rng, "offset" + k);
  input_arrays_.push_back(int64_scalar(state.seed));
  input_arrays_.push_back(int64_scalar(state.offset));
  rng_states_.push_back(state);
  rng_fixed_.push_back(seeded_);
  return make_tracer(graph_->add(op, {seed, offset},
                                 {{ir::Attr::Shape, symbolic_sizes(sizes, ir::op_name(op).data())},
                                  {ir::Attr::DType, dtype}}));
}

Array TraceContext::materialize(const Tensor& t) {
  const ir::Value* v = value_of(t);
  if (v->kind != ir::ValueKind::Node) {
    for (size_t i = 0; i < graph_->inputs().size(); ++i)
      if (graph_->inputs()[i] == v) return input_arrays_[i];
  }
  const std::vector<const ir::Value*> wanted{v};
  return ir::interpret(*graph_, input_arrays_, &wanted)[0];
}

double TraceContext::read_and_guard(const Tensor& t) {
  const double value = materialize(t).element_as_double(0);
  record_guard(t, value);
  return value;
}

void TraceContext::record_guard(const Tensor& t, double value) {
  graph_->add(ir::Op::Guard, {value_of(t)}, {{ir::Attr::Value, value}});
}

// ---- writes ----

void TraceContext::write(const Tensor& target, const Tensor& value) {
  EMBER_CHECK(target.defined() && value.is_traced(), InternalError, "write: bad operands");
  const void* id = target.identity();
  if (auto v = views_.find(id); v != views_.end() && !v->second.expired())
    throw Error(
        "in-place write to a view inside a traced function: the graph cannot carry it to the "
        "tensor the view shares memory with (write to that tensor, or call this eagerly)");
  if (auto it = views_of_.find(id); it != views_of_.end())
    for (const auto& w : it->second)
      EMBER_CHECK(w.expired(), Error,
                  "in-place write inside a traced function to a tensor with a live view taken in "
                  "the function: the view would not see it (take the view after the write, or "
                  "call this eagerly)");
  Tensor::Impl& impl = *target.impl_;
  if (!target.is_traced()) {
    value_of(target);  // reads before the write see the old value through the param
    rebound_.push_back({target, impl.array});
  } else if (auto in = input_of_.find(id); in != input_of_.end()) {
    bool seen = false;
    for (const auto& w : written_inputs_) seen |= w.first == in->second;
    if (!seen) written_inputs_.emplace_back(in->second, target);
  }
  const Array& meta = value.array();
  impl.array = Array(nullptr, meta.dtype(), meta.sizes(), contiguous_strides(meta.sizes()), 0);
  impl.trace_id = id_;
  impl.graph = graph_;
  impl.value = value.traced_value();
}

void TraceContext::note_grad_slot(const Tensor& leaf, bool assigned) {
  if (leaf.is_traced()) return;
  GradSlot* slot = nullptr;
  for (GradSlot& g : grad_slots_)
    if (g.leaf.identity() == leaf.identity()) slot = &g;
  if (!slot) {
    grad_slots_.push_back({leaf, leaf.impl_->grad});
    slot = &grad_slots_.back();
  }
  if (assigned)
    slot->assigned = true;
  else if (!slot->assigned && leaf.impl_->grad.identity() == slot->original.identity())
    slot->guard = true;
}

void TraceContext::note_grad_read(const Tensor& leaf, const Tensor& grad) {
  if (!leaf.is_traced() && grad.defined() && !grad.is_traced())
    grad_leaf_of_[grad.identity()] = leaf;
}

Tensor TraceContext::host_scalar(std::function<double()> read, DType dtype) {
  Tensor holder(is_floating(dtype) ? kernels::full({}, read(), dtype)
                                   : kernels::full_int({}, int64_t(read()), dtype));
  host_scalars_.push_back({holder, std::move(read)});
  return make_tracer(value_of(holder));
}

void TraceContext::note_view(const Tensor& base, const Tensor& out) {
  views_of_[base.identity()].push_back(std::weak_ptr<const void>(out.impl_));
  views_[out.identity()] = std::weak_ptr<const void>(out.impl_);
}

void TraceContext::restore() {
  if (restored_) return;
  restored_ = true;
  for (Rebound& r : rebound_) {
    Tensor::Impl& impl = *r.target.impl_;
    impl.array = r.original;
    impl.trace_id = 0;
    impl.graph = nullptr;
    impl.value = nullptr;
  }
  for (GradSlot& g : grad_slots_) g.leaf.impl_->grad = g.original;
}

TracedGraph TraceContext::finish(const std::vector<Tensor>& outputs) {
  std::vector<ir::Value*> values;
  for (const Tensor& t : outputs) values.push_back(value_of(t));
  std::vector<TracedGraph::Write> writes;
  using Kind = TracedGraph::Write::Kind;
  for (const Rebound& r : rebound_) {
    values.push_back(r.target.traced_value());
    writes.push_back({Kind::Data, r.target});
  }
  for (const auto& [input, tracer] : written_inputs_) {
    values.push_back(tracer.traced_value());
    writes.push_back({Kind::Input, Tensor(), input});
  }
  for (const GradSlot& g : grad_slots_) {
    const Tensor& final = g.leaf.impl_->grad;
    TracedGraph::Write w{Kind::Grad, g.leaf};
    w.guard = g.guard;
    w.grad_was_defined = g.original.defined();
    if (!final.defined()) {
      if (!g.original.defined()) continue;
      w.to_none = true;
    } else if (final.is_traced()) {
      values.push_back(value_of(final));
    } else {
      if (final.identity() == g.original.identity()) continue;
      throw Error(
          "a traced function set a grad() to a tensor from outside it; assign computed "
          "gradients, or call this eagerly");
    }
    writes.push_back(std::move(w));
  }
  graph_->set_outputs(std::move(values));
#ifndef NDEBUG
  ir::verify(*graph_);  // the tests verify every traced graph in release builds too
#endif
  TracedGraph traced{graph_, params_, rng_states_, rng_fixed_, std::nullopt};
  if (seeded_) traced.final_rng = kernels::rng_state();
  traced.writes = std::move(writes);
  traced.num_outputs = outputs.size();
  traced.host_scalars = host_scalars_;
  for (const Tensor& p : params_) {
    auto it = grad_leaf_of_.find(p.identity());
    traced.grad_of.push_back(it == grad_leaf_of_.end() ? Tensor() : it->second);
  }
  restore();
  return traced;
}

void TracedGraph::check_writes() const {
  for (const Write& w : writes)
    if (w.kind == Write::Kind::Grad && w.guard && w.target.grad().defined() != w.grad_was_defined)
      throw ir::GuardFailure(w.grad_was_defined
                                 ? "a leaf's grad() the function assigns is now undefined"
                                 : "a leaf's grad() the function assigns is now defined");
  for (size_t k = 0; k < grad_of.size(); ++k)
    if (grad_of[k].defined()) {
      const Tensor g = grad_of[k].grad();
      if (!g.defined() || g.sizes().vec() != params[k].sizes().vec() ||
          g.dtype() != params[k].dtype())
        throw ir::GuardFailure("a grad() the function reads changed its presence, shape or dtype");
    }
}

void TracedGraph::apply_writes(std::vector<Array>& outputs, const Tensor* const* args,
                               size_t n) const {
  size_t next = num_outputs;
  // A new value that is (a view of) a tensor written too must not change under the writes.
  std::vector<const Storage*> targets;
  for (const Write& w : writes)
    if (w.kind != Write::Kind::Grad) {
      const Tensor& t = w.kind == Write::Kind::Data ? w.target : *args[w.input];
      if (t.array().storage()) targets.push_back(t.array().storage().get());
    }
  for (size_t i = num_outputs; i < outputs.size(); ++i)
    if (outputs[i].storage() &&
        std::find(targets.begin(), targets.end(), outputs[i].storage().get()) != targets.end())
      outputs[i] = kernels::contiguous(kernels::cast(outputs[i], outputs[i].dtype()));
  for (const Write& w : writes) {
    switch (w.kind) {
      case Write::Kind::Data:
      case Write::Kind::Input: {
        EMBER_CHECK(w.kind == Write::Kind::Data || w.input < n, InternalError,
                    "apply_writes: argument ", w.input, " of ", n);
        const Tensor& t = w.kind == Write::Kind::Data ? w.target : *args[w.input];
        kernels::copy_into(t.array(), outputs[next++]);
        if (t.array().storage()) t.array().storage()->bump_version();
        break;
      }
      case Write::Kind::Grad:
        autograd::Access::grad(w.target) =
            w.to_none ? Tensor() : Tensor(std::move(outputs[next++]));
        break;
    }
  }
  outputs.resize(num_outputs);
}

std::vector<Array> TracedGraph::interpreter_inputs(const std::vector<Tensor>& inputs) const {
  SmallVector<const Tensor*, 8> pointers;
  for (const Tensor& t : inputs) pointers.push_back(&t);
  return graph_inputs(pointers.data(), pointers.size(), false);
}

std::vector<Array> TracedGraph::graph_inputs(const Tensor* const* inputs, size_t n,
                                             bool fresh_rng) const {
  for (const HostScalar& h : host_scalars) kernels::fill(h.holder.array(), h.read());
  std::vector<Array> arrays;
  arrays.reserve(graph->inputs().size());
  size_t next_input = 0, next_param = 0, next_rng = 0;
  kernels::RngState state{};
  for (const ir::Value* v : graph->inputs()) {
    switch (v->kind) {
      case ir::ValueKind::Input:
        EMBER_CHECK(next_input < n, ValueError, "run: expected more inputs than ", n);
        arrays.push_back(inputs[next_input++]->array());
        break;
      case ir::ValueKind::Param: {
        const size_t k = next_param++;
        const bool live = k < grad_of.size() && grad_of[k].defined();
        arrays.push_back(live ? grad_of[k].grad().array() : params.at(k).array());
        break;
      }
      case ir::ValueKind::Rng: {
        if (next_rng % 2 == 0) {
          const size_t k = next_rng / 2;
          state = fresh_rng && !rng_fixed.at(k) ? kernels::next_rng_state() : rng_states.at(k);
        }
        arrays.push_back(int64_scalar(next_rng % 2 == 0 ? state.seed : state.offset));
        ++next_rng;
        break;
      }
      case ir::ValueKind::Node:
        throw InternalError("a graph input of kind Node");
    }
  }
  EMBER_CHECK(next_input == n, ValueError, "run: expected ", next_input, " inputs, got ", n);
  return arrays;
}

std::vector<Tensor> TracedGraph::run(const std::vector<Tensor>& inputs) const {
  check_writes();
  std::vector<Array> arrays = ir::interpret(*graph, interpreter_inputs(inputs));
  SmallVector<const Tensor*, 8> pointers;
  for (const Tensor& t : inputs) pointers.push_back(&t);
  apply_writes(arrays, pointers.data(), pointers.size());
  std::vector<Tensor> out;
  for (Array& a : arrays) out.emplace_back(std::move(a));
  return out;
}

TracedGraph trace(const TraceableFn& fn, const std::vector<Tensor>& example_inputs,
                  const std::string& name) {
  TraceContext tc(name);
  std::vector<Tensor> inputs;
  for (const Tensor& t : example_inputs) inputs.push_back(tc.add_input(t));
  return tc.finish(fn(inputs));
}

}  // namespace ember
