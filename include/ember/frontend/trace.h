// Tracing: turning an eager Tensor program into IR. Under a TraceContext every Tensor op appends
// a node instead of computing, composites (gelu, softmax, layer_norm, var, ...) record their
// decomposition into primitives, and tensors the function captures from outside become graph
// parameters read by reference. Reading a traced value (item(), conversion to bool) runs the graph
// built so far with the reference interpreter, records a guard node holding the value seen, and
// tracing goes on: the mechanism compile() uses for data-dependent control flow.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ember/frontend/tensor.h"
#include "ember/ir/graph.h"

namespace ember {

// What trace() returns: the graph and what its extra inputs are bound to.
struct TracedGraph {
  std::shared_ptr<ir::Graph> graph;
  // Graph inputs after the user's: captured tensors (read at run time, so in-place updates are
  // seen) and the random-generator states the trace consumed, in the graph's input order.
  std::vector<Tensor> params;
  std::vector<kernels::RngState> rng_states;
  // Draws made after fn called manual_seed: their states are fixed (the same on every run), and
  // final_rng is the generator state fn leaves behind.
  std::vector<bool> rng_fixed;
  std::optional<kernels::RngState> final_rng;

  // fn's writes to tensors that outlive it (see TraceContext::write), which every run applies:
  // the graph's outputs from num_outputs on are the new values, one per write that has one.
  struct Write {
    enum class Kind : uint8_t {
      Data,   // target's values are overwritten (a captured tensor)
      Input,  // the tensor argument `input` is overwritten
      Grad,   // target (a leaf)'s grad() becomes a new tensor, or undefined when to_none
    } kind;
    Tensor target;
    size_t input = 0;
    bool to_none = false;
    bool guard = false;  // Grad: check that the leaf's grad() is defined as when traced
    bool grad_was_defined = false;
  };
  std::vector<Write> writes;
  size_t num_outputs = 0;  // fn's own outputs
  // Per param: the leaf whose grad() it was read as; each run reads that leaf's grad() anew (the
  // tensor object changes from step to step). Undefined for other params.
  std::vector<Tensor> grad_of;
  // Host numbers fn read through TraceContext::host_scalar: each run refreshes the 0-dim param
  // `holder` with read().
  struct HostScalar {
    Tensor holder;
    std::function<double()> read;
  };
  std::vector<HostScalar> host_scalars;

  // ir::GuardFailure when a leaf's grad() that fn accumulated into is now defined where it was not
  // when traced (or the other way round), or one fn reads changed shape or dtype.
  void check_writes() const;
  // Applies the writes (args: the call's tensor arguments) and drops their outputs.
  void apply_writes(std::vector<Array>& outputs, const Tensor* const* args, size_t n) const;

  // Runs the graph with the reference interpreter on new inputs (same shapes and dtypes), the
  // current values of the params and the recorded generator states.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;
  // The full input list the interpreter takes.
  std::vector<Array> interpreter_inputs(const std::vector<Tensor>& inputs) const;
  // The same from n input tensors, with the generator states the trace drew (a replay of it) or,
  // with fresh_rng, new ones drawn as eager would draw them (the draws after a manual_seed in fn
  // stay fixed). What compiled replays take.
  std::vector<Array> graph_inputs(const Tensor* const* inputs, size_t n, bool fresh_rng) const;
};

// The sizes one trace saw fn compute and pass to ops (view's sizes, a slice's bounds, arange's
// length), in order, with the size each symbol had: the evidence that decides which of them are
// symbolic (see TraceContext::use_evidence).
struct SizeRecord {
  std::vector<int64_t> bindings;  // per symbol, its size in that trace
  std::vector<int64_t> sizes;
  std::vector<double> numbers;  // every number operand (x / double(T)), in order
};

using TraceableFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Traces fn on example inputs; fn must be a function of its inputs and captured tensors.
TracedGraph trace(const TraceableFn& fn, const std::vector<Tensor>& example_inputs,
                  const std::string& name = "main");

// While alive, no trace is active on this thread: ops run eagerly (what an optimizer's state
// creation inside a traced step uses, so the state is real and outlives the trace).
class TracePause {
 public:
  TracePause();
  ~TracePause();
  TracePause(const TracePause&) = delete;
  TracePause& operator=(const TracePause&) = delete;

 private:
  TraceContext* saved_;
};

class TraceContext {
 public:
  TraceContext(const std::string& name);
  ~TraceContext();
  TraceContext(const TraceContext&) = delete;
  TraceContext& operator=(const TraceContext&) = delete;

  // The context tracing on this thread, or null.
  static TraceContext* active();

  // A graph input standing for t; returns the tracer tensor that fn sees. Dims marked in
  // `symbolic` get a symbol instead of their size (dims of equal size share one symbol), so the
  // graph is shape-generic in them (sizes 0 and 1 stay static); fn still sees the real sizes.
  Tensor add_input(const Tensor& t, const std::vector<bool>& symbolic = {});
  // A graph input of a traced tensor's dtype and (symbolic) shape that fn does not see as an
  // argument: how a joint graph takes its outputs' gradients. Its example value is zeros.
  Tensor add_input_like(const Tensor& traced, const std::string& name);
  // ---- sizes fn computes ----
  // Every size fn passes to an op is recorded (size_record()). In a trace given evidence (the
  // records of earlier traces of fn at other sizes, the first at this trace's own), a size is
  // symbolic exactly when it varied across them: the simplest polynomial in the symbols that
  // fits every record (s1, s0*s1, s0 - 1, 4*s0), and a constant otherwise, whatever it equals.
  // The polynomial must also give this trace's size, or Error names the op and the argument:
  // that is how a trace at a third set of sizes checks what two decided. Without evidence, a
  // size equal to a symbol's value is that symbol (a guess: the evidence of probe traces is what
  // compile() uses).
  void use_evidence(std::vector<SizeRecord> evidence);
  SizeRecord size_record() const { return {symbol_sizes_, sizes_seen_, numbers_seen_}; }
  // A size passed to op as `what` ("size 2", "end"), in IR form.
  ir::SymInt size(int64_t value, const char* op, const char* what);
  // A size op can only take as a number (a step, topk's k): Error when the evidence shows that
  // it varies with the symbols.
  int64_t static_size(int64_t value, const char* op, const char* what);
  // The IR form of sizes fn computed (for full, rand, expand, reshape), each a size() of op.
  // Without evidence, for a reshape of `reshaped`, when the sizes do not cover its elements
  // symbolically, the one size that makes them do becomes the quotient (flatten of [s0, 10]
  // gives [s0*10]). Plain integers when the trace has no symbols.
  std::vector<ir::SymInt> symbolic_sizes(IntArrayRef sizes, const char* op,
                                         const Tensor* reshaped = nullptr);
  // A symbolic size's value in this trace.
  int64_t evaluate(const ir::SymInt& size) const { return size.evaluate(symbol_sizes_); }
  // Records op on the tensors (tracer tensors of this trace, or eager tensors that become
  // params) and returns the tracer tensor of its result. A composite (gelu, softmax,
  // layer_norm, ...) is recorded as its decomposition into primitives, through the
  // decomposition pass's code.
  Tensor record(ir::Op op, std::span<const Tensor> inputs, ir::Attrs attrs = {});
  Tensor record(ir::Op op, std::initializer_list<Tensor> inputs, ir::Attrs attrs = {});
  // A 0-dim constant of dtype: a number operand (x * 2, x / double(T)). Recorded like sizes:
  // given evidence, a number that varied across the traces with the sizes is a size_scalar node
  // of the polynomial that fits (T, T - 1, B*T), evaluated when the graph runs; Error when it
  // varied beyond a polynomial of integers (1.0 / T), so that its dims are specialized.
  Tensor scalar(ir::AttrValue value, DType dtype, std::string_view op = "constant");
  // A random node drawing the next generator state (as eager would), recorded as rng inputs.
  Tensor random(ir::Op op, IntArrayRef sizes, DType dtype);
  // Runs the graph so far to get t's value, and records a guard on it (t has one element).
  double read_and_guard(const Tensor& t);
  // fn called manual_seed: later draws are fixed states, not fresh ones per run.
  void note_manual_seed() { seeded_ = true; }
  // Runs the graph so far to get t's value, without a guard.
  Array materialize(const Tensor& t);
  // Records a guard that t (one element) holds `value` when the graph runs again.
  void record_guard(const Tensor& t, double value);

  ir::Value* value_of(const Tensor& t);

  // ---- writes to tensors that outlive the trace ----
  // An in-place write: target (a captured tensor, an argument, or a tensor fn made) holds value
  // (traced, target's dtype and shape) from now on, for every handle of it. finish() turns the
  // final values of captured tensors and arguments into outputs that each run writes back, and
  // puts captured tensors back as they were. A write to a view, or to a tensor with live views
  // taken inside the trace, is an Error: the graph has no aliasing to carry it to the others.
  void write(const Tensor& target, const Tensor& value);
  // leaf (a real tensor) is about to have its grad() assigned: by mutable_grad() (zero_grad, a
  // user's assignment: `assigned`), or by backward's accumulation into it. finish() makes its
  // final grad() a write and restores the old. An accumulation into the grad() the leaf had
  // before the trace (not assigned since) depends on whether it had one: every run checks that.
  void note_grad_slot(const Tensor& leaf, bool assigned);
  // grad, a real tensor, was read as leaf's grad(): as a param it is read from the leaf anew on
  // every run.
  void note_grad_read(const Tensor& leaf, const Tensor& grad);
  // A 0-dim tensor of dtype holding read(), re-read on every run: how a host number that may
  // change between calls (a learning rate a scheduler sets) enters a graph.
  Tensor host_scalar(std::function<double()> read, DType dtype);
  // out is a view of base (both traced, or base captured).
  void note_view(const Tensor& base, const Tensor& out);
  bool has_grad_writes() const { return !grad_slots_.empty(); }
  bool has_writes() const {
    return !rebound_.empty() || !written_inputs_.empty() || has_grad_writes();
  }
  // The tensors from outside the function that became params, in the graph's order.
  const std::vector<Tensor>& params() const { return params_; }
  // A number no other trace in this process has.
  uint64_t id() const { return id_; }
  const std::shared_ptr<ir::Graph>& graph() const { return graph_; }
  TracedGraph finish(const std::vector<Tensor>& outputs);

 private:
  Tensor make_tracer(ir::Value* v);
  // The symbol standing for a size in this trace, or -1.
  int symbol_of(int64_t size) const;

  std::shared_ptr<ir::Graph> graph_;
  std::vector<Array> input_arrays_;  // every graph input's current value, in order
  std::vector<Tensor> inputs_, params_;
  std::vector<kernels::RngState> rng_states_;
  std::vector<bool> rng_fixed_;
  bool seeded_ = false;
  std::vector<int64_t> symbol_sizes_;  // the size each symbol stands for in this trace
  std::vector<int64_t> sizes_seen_;    // every size() and static_size(), in order
  std::vector<double> numbers_seen_;   // every scalar(), in order
  std::vector<SizeRecord> evidence_;
  std::unordered_map<const void*, ir::Value*> param_of_;  // eager Tensor impl -> param
  TraceContext* previous_;
  uint64_t id_;
  friend class TracePause;

  // Writes (see write()): captured tensors with their real arrays, the argument tracers written
  // (by input index), leaves whose grad() fn assigned with the grad() they had.
  struct Rebound {
    Tensor target;
    Array original;
  };
  std::vector<Rebound> rebound_;
  std::unordered_map<const void*, size_t> input_of_;       // argument tracer impl -> input index
  std::vector<std::pair<size_t, Tensor>> written_inputs_;  // input index, its tracer
  struct GradSlot {
    Tensor leaf, original;
    bool assigned = false, guard = false;
  };
  std::vector<GradSlot> grad_slots_;
  std::unordered_map<const void*, Tensor> grad_leaf_of_;  // grad impl -> its leaf
  std::vector<TracedGraph::HostScalar> host_scalars_;
  std::unordered_map<const void*, std::vector<std::weak_ptr<const void>>> views_of_;
  std::unordered_map<const void*, std::weak_ptr<const void>> views_;
  bool restored_ = false;
  // Puts captured tensors and grad() slots back as they were before the trace.
  void restore();
};

}  // namespace ember
