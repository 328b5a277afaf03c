// Ember's graph IR.
//
// Semantics. A Graph is a pure SSA function: typed inputs (user inputs, parameters captured by
// reference, random-generator state), nodes in topological order, outputs. A Value is a tensor of
// one dtype and a shape of SymInts; its layout is not part of the IR (movement ops are index
// arithmetic, never copies). Binary ops take operands of one dtype, so type promotion is explicit
// (casts), and broadcast their shapes with numpy's rules; a symbolic dim broadcasts only against
// 1 or an equal expression. Integer arithmetic wraps; float ops follow IEEE 754 (NaN propagates
// through max/min/clamp). Every node is checked against its op's shape and dtype rule when built,
// so an ill-typed node never exists.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "ember/ir/ops.h"
#include "ember/ir/symint.h"
#include "ember/runtime/dtype.h"

namespace ember::ir {

// Malformed or ill-typed IR text; the message starts with line:column.
class ParseError : public Error {
 public:
  using Error::Error;
};

// An attribute's name (attributes.def). Items of Attrs are kept in this order.
enum class Attr : uint8_t {
#define EMBER_ATTR(name, text) name,
#include "ember/ir/attributes.def"
#undef EMBER_ATTR
};
std::string_view attr_name(Attr attr);
std::optional<Attr> attr_from_name(std::string_view name);

// An attribute value: an int, a float, a bool, a dtype, a list of (symbolic) ints, or one symbolic
// int (a `size` attribute whose value depends on symbols; a constant one is kept as an int).
using AttrValue = std::variant<int64_t, double, bool, DType, std::vector<SymInt>, SymInt>;

// A node's attributes. The typed getters throw InternalError when the attribute is missing or of
// another type: Graph::add checks every node's attributes against ops.def, so that is a bug.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<Attr, AttrValue>> items);

  void set(Attr key, AttrValue value);  // a constant SymInt is stored as its int
  bool has(Attr key) const;
  const AttrValue& get(Attr key) const;
  int64_t get_int(Attr key) const;
  double get_float(Attr key) const;  // ints convert
  bool get_bool(Attr key) const;
  DType get_dtype(Attr key) const;
  const std::vector<SymInt>& get_list(Attr key) const;
  SymInt get_size(Attr key) const;                // an int or a symbolic int
  std::vector<int64_t> get_ints(Attr key) const;  // a list of constants (else ValueError)
  const std::vector<std::pair<Attr, AttrValue>>& items() const { return items_; }
  bool operator==(const Attrs& other) const;

 private:
  std::vector<std::pair<Attr, AttrValue>> items_;  // sorted by key
};

class Node;

enum class ValueKind : uint8_t { Input, Param, Rng, Node };

struct Value {
  std::string name;  // printed as %name
  DType dtype;
  SymShape shape;
  ValueKind kind;
  Node* producer = nullptr;  // for kind == Node
  // The nodes that read it, once per operand that does (the Graph keeps this list: change a
  // node's operands through Graph::set_input or replace_all_uses only).
  std::vector<Node*> users;
  int64_t rank() const { return int64_t(shape.size()); }
};

class Node {
 public:
  Op op;
  std::vector<Value*> inputs;
  Value* output = nullptr;  // null for ops without a result (guard)
  Attrs attrs;
  // The fused kernel this node belongs to (-1: none yet). Set by the fusion pass; printed as
  // `kernel` blocks of consecutive nodes.
  int group = -1;
};

// The result type of an op applied to inputs with attrs, or ShapeError/DTypeError/ValueError
// naming the op, the shapes and the dimension. Guard has no result: nullopt.
struct ValueType {
  DType dtype;
  SymShape shape;
};
std::optional<ValueType> infer_type(Op op, const std::vector<const Value*>& inputs,
                                    const Attrs& attrs);

class Graph {
 public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  // Moving keeps every Value and Node where it is (they are owned through pointers).
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Inputs may be added at any time (a tracer finds captured tensors as it goes); they are
  // defined before every node. Names must be unique (an empty name picks the next free one).
  Value* add_input(DType dtype, SymShape shape, ValueKind kind = ValueKind::Input,
                   std::string name = "");
  // A checked node: its result type is inferred, or the op's rule throws.
  Value* add(Op op, std::vector<Value*> inputs, Attrs attrs = {}, std::string name = "");
  // The same, inserted before nodes()[index] (index == nodes().size() appends).
  Value* insert(size_t index, Op op, std::vector<Value*> inputs, Attrs attrs = {},
                std::string name = "");
  void set_outputs(std::vector<Value*> outputs);

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  // The number of distinct symbols (s0 .. s{n-1}) the input shapes use.
  int num_symbols() const;
  Value* find(const std::string& name) const;

  // Removes the nodes for which remove(node) is true; their results must be unused (the
  // verifier catches a use left behind). Their names become free again.
  void erase_nodes_if(const std::function<bool(const Node&)>& remove);
  // Every use of `from`, as an operand or an output, reads `to` instead (same dtype and shape).
  // Linear in from's uses.
  void replace_all_uses(Value* from, Value* to);
  // Operand k of node reads v instead.
  void set_input(Node& node, size_t k, Value* v);
  // How many operands and outputs read v.
  size_t use_count(const Value* v) const;
  // Whether v is one of the graph's outputs.
  bool is_output(const Value* v) const;
  // Reorders the nodes (stable) by `less`; the result must still define values before use.
  void reorder_nodes(const std::function<bool(const Node*, const Node*)>& less);

  // A hash of the graph's structure (ops, attributes, types, wiring; not value names) that is
  // the same in every run and process: the cache key of later milestones.
  uint64_t structural_hash() const;

 private:
  std::string fresh_name();
  Value* new_value(Value v);
  std::string name_;
  std::unordered_map<std::string, Value*> by_name_;  // names that are not plain numbers
  std::vector<Value*> numbered_;                     // values named "0", "1", ...
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<Value*> inputs_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> outputs_;
  int next_name_ = 0;
};

// Text form, printed and parsed back exactly:
//   graph @f(%x: f32[s0, 4], param %w: f32[4, 4]) -> (f32[s0, 4]) {
//     %0 = matmul(%x, %w) : f32[s0, 4]
//     %1 = reduce_sum(%0) {dims = [1], keepdim = true} : f32[s0, 1]
//     return %0
//   }
std::string print(const Graph& graph);
// Parses one graph; ParseError "line:column: ..." for malformed or ill-typed text.
std::unique_ptr<Graph> parse(std::string_view text);

// Checks the invariants the builder keeps (SSA order, types agree with the rules, no value from
// another graph, outputs defined, unique names, use lists that list exactly the operands);
// throws InternalError naming the first broken one.
void verify(const Graph& graph);

std::string dtype_short_name(DType dtype);  // f32, bf16, i64, bool, ...
// Attributes as the text form writes them: {dims = [1], keepdim = true}.
std::string attrs_text(const Attrs& attrs);
// One node as its line of the text form, by its values' names: %3 = tanh(%2) : f32[s0, 4].
std::string node_text(const Node& node);

// The axes a reduction-style node (reduce_*, mean, var) reduces: its `dims` attribute wrapped
// into [0, rank) and sorted, or every axis when it is empty.
std::vector<int64_t> reduced_axes(const Node& node);

}  // namespace ember::ir
