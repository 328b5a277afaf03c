#include "ember/ir/graph.h"

#include <algorithm>
#include <array>
#include <optional>
#include <set>

namespace ember::ir {

// ---- Attrs ----

namespace {

constexpr std::array<std::string_view, size_t(Attr::Value) + 1> kAttrNames = {
#define EMBER_ATTR(name, text) text,
#include "ember/ir/attributes.def"
#undef EMBER_ATTR
};

[[noreturn]] void bad_attribute(Attr key, const char* problem) {
  throw InternalError(detail::concat("attribute '", attr_name(key), "' ", problem));
}

}  // namespace

std::string_view attr_name(Attr attr) { return kAttrNames[size_t(attr)]; }

std::optional<Attr> attr_from_name(std::string_view name) {
  for (size_t i = 0; i < kAttrNames.size(); ++i)
    if (kAttrNames[i] == name) return Attr(i);
  return std::nullopt;
}

Attrs::Attrs(std::initializer_list<std::pair<Attr, AttrValue>> items) {
  for (const auto& [k, v] : items) set(k, v);
}

void Attrs::set(Attr key, AttrValue value) {
  if (const SymInt* s = std::get_if<SymInt>(&value); s && s->is_constant()) value = s->value();
  auto it = std::lower_bound(items_.begin(), items_.end(), key,
                             [](const auto& item, Attr k) { return item.first < k; });
  if (it != items_.end() && it->first == key)
    it->second = std::move(value);
  else
    items_.insert(it, {key, std::move(value)});
}

bool Attrs::has(Attr key) const {
  return std::any_of(items_.begin(), items_.end(), [&](const auto& i) { return i.first == key; });
}

const AttrValue& Attrs::get(Attr key) const {
  for (const auto& [k, v] : items_)
    if (k == key) return v;
  bad_attribute(key, "is missing");
}

int64_t Attrs::get_int(Attr key) const {
  if (auto* i = std::get_if<int64_t>(&get(key))) return *i;
  bad_attribute(key, "is not an int");
}
double Attrs::get_float(Attr key) const {
  const AttrValue& v = get(key);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return double(*i);
  bad_attribute(key, "is not a number");
}
bool Attrs::get_bool(Attr key) const {
  if (auto* b = std::get_if<bool>(&get(key))) return *b;
  bad_attribute(key, "is not a bool");
}
DType Attrs::get_dtype(Attr key) const {
  if (auto* d = std::get_if<DType>(&get(key))) return *d;
  bad_attribute(key, "is not a dtype");
}
const std::vector<SymInt>& Attrs::get_list(Attr key) const {
  if (auto* l = std::get_if<std::vector<SymInt>>(&get(key))) return *l;
  bad_attribute(key, "is not a list");
}
SymInt Attrs::get_size(Attr key) const {
  const AttrValue& v = get(key);
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* s = std::get_if<SymInt>(&v)) return *s;
  bad_attribute(key, "is not a size");
}
std::vector<int64_t> Attrs::get_ints(Attr key) const {
  std::vector<int64_t> out;
  for (const SymInt& s : get_list(key)) {
    EMBER_CHECK(s.is_constant(), ValueError, "attribute '", attr_name(key),
                "' must be a list of integers, but holds ", s.str());
    out.push_back(s.value());
  }
  return out;
}

bool Attrs::operator==(const Attrs& other) const { return items_ == other.items_; }

// ---- Graph ----

namespace {

// The number a name spells ("12" -> 12), if it is a plain decimal number.
// The number a name like "42" spells, or -1 when it is not such a name.
int64_t numeric_name(const std::string& name) {
  if (name.empty() || name.size() > 15 || (name.size() > 1 && name[0] == '0')) return -1;
  int64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace

// Numeric names live in a vector indexed by their number and the rest in a map: the tracer's
// auto-named results cost no string hashing, and every name stays unique and findable. A number
// far beyond the graph's size (%4294967296 in a hand-written file) goes to the map, so that a
// name never sizes the vector.
Value* Graph::find(const std::string& name) const {
  if (const int64_t n = numeric_name(name);
      n >= 0 && size_t(n) < numbered_.size() && numbered_[size_t(n)])
    return numbered_[size_t(n)];
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Value* Graph::new_value(Value v) {
  int64_t n = numeric_name(v.name);
  if (n >= 0 && size_t(n) >= numbered_.size() && size_t(n) > 2 * values_.size() + 1024) n = -1;
  EMBER_CHECK(!find(v.name), ValueError, "duplicate value name %", v.name);
  values_.push_back(std::make_unique<Value>(std::move(v)));
  Value* p = values_.back().get();
  if (n >= 0) {
    if (size_t(n) >= numbered_.size()) numbered_.resize(size_t(n) + 1, nullptr);
    numbered_[size_t(n)] = p;
  } else {
    by_name_[p->name] = p;
  }
  return p;
}

std::string Graph::fresh_name() {
  while (find(std::to_string(next_name_))) ++next_name_;
  return std::to_string(next_name_++);
}

Value* Graph::add_input(DType dtype, SymShape shape, ValueKind kind, std::string name) {
  EMBER_CHECK(kind != ValueKind::Node, Error, "an input cannot have kind Node");
  for (const SymInt& d : shape)
    EMBER_CHECK(!d.is_constant() || d.value() >= 0, ValueError, "input shape ", shape_text(shape),
                " has a negative size");
  if (name.empty()) name = "arg" + std::to_string(inputs_.size());
  inputs_.push_back(new_value(Value{std::move(name), dtype, std::move(shape), kind}));
  return inputs_.back();
}

Value* Graph::add(Op op, std::vector<Value*> inputs, Attrs attrs, std::string name) {
  return insert(nodes_.size(), op, std::move(inputs), std::move(attrs), std::move(name));
}

Value* Graph::insert(size_t index, Op op, std::vector<Value*> inputs, Attrs attrs,
                     std::string name) {
  EMBER_CHECK(index <= nodes_.size(), Error, "insert: position ", index, " past the end");
  std::vector<const Value*> in(inputs.begin(), inputs.end());
  for (const Value* v : in) EMBER_CHECK(v != nullptr, Error, op_name(op), ": null operand");
  std::optional<ValueType> type = infer_type(op, in, attrs);
  if (type && !name.empty()) EMBER_CHECK(!find(name), ValueError, "duplicate value name %", name);
  auto node = std::make_unique<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->attrs = std::move(attrs);
  if (type) {
    if (name.empty()) name = fresh_name();
    node->output = new_value(
        Value{std::move(name), type->dtype, std::move(type->shape), ValueKind::Node, node.get()});
  }
  Node* raw = node.get();
  for (Value* v : raw->inputs) v->users.push_back(raw);
  nodes_.insert(nodes_.begin() + std::ptrdiff_t(index), std::move(node));
  return raw->output;
}

namespace {

// Drops one occurrence of `user` from v's use list.
void drop_user(Value* v, const Node* user) {
  auto it = std::find(v->users.begin(), v->users.end(), user);
  EMBER_INTERNAL_ASSERT(it != v->users.end(), "use list of %", v->name, " misses a reader");
  *it = v->users.back();
  v->users.pop_back();
}

}  // namespace

void Graph::erase_nodes_if(const std::function<bool(const Node&)>& remove) {
  std::erase_if(nodes_, [&](const std::unique_ptr<Node>& n) {
    if (!remove(*n)) return false;
    for (Value* v : n->inputs) drop_user(v, n.get());
    if (n->output) {  // free the name; the Value itself stays owned (passes may hold pointers)
      const std::string& name = n->output->name;
      if (Value* v = find(name); v == n->output) {
        if (const int64_t k = numeric_name(name);
            k >= 0 && size_t(k) < numbered_.size() && numbered_[size_t(k)] == v)
          numbered_[size_t(k)] = nullptr;
        else
          by_name_.erase(name);
      }
      n->output->producer = nullptr;
      n->output->name = "<erased>" + n->output->name;
    }
    return true;
  });
}

void Graph::replace_all_uses(Value* from, Value* to) {
  EMBER_CHECK(from->dtype == to->dtype && from->shape == to->shape, InternalError,
              "replace_all_uses: %", from->name, " and %", to->name, " differ in type");
  if (from == to) return;
  for (Node* user : from->users)
    for (Value*& v : user->inputs)
      if (v == from) {
        v = to;
        to->users.push_back(user);
        break;  // one operand per entry of the use list
      }
  from->users.clear();
  for (Value*& v : outputs_)
    if (v == from) v = to;
}

void Graph::set_input(Node& node, size_t k, Value* v) {
  EMBER_CHECK(k < node.inputs.size() && v != nullptr, Error, "set_input: no operand ", k);
  drop_user(node.inputs[k], &node);
  node.inputs[k] = v;
  v->users.push_back(&node);
}

bool Graph::is_output(const Value* v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

void Graph::reorder_nodes(const std::function<bool(const Node*, const Node*)>& less) {
  std::stable_sort(nodes_.begin(), nodes_.end(),
                   [&](const std::unique_ptr<Node>& a, const std::unique_ptr<Node>& b) {
                     return less(a.get(), b.get());
                   });
}

size_t Graph::use_count(const Value* v) const {
  return v->users.size() + size_t(std::count(outputs_.begin(), outputs_.end(), v));
}

void Graph::set_outputs(std::vector<Value*> outputs) {
  for (Value* v : outputs) EMBER_CHECK(v != nullptr, Error, "graph output is null");
  outputs_ = std::move(outputs);
}

int Graph::num_symbols() const {
  int n = 0;
  for (const Value* v : inputs_)
    for (const SymInt& d : v->shape)
      for (int s : d.symbols()) n = std::max(n, s + 1);
  return n;
}

std::vector<int64_t> reduced_axes(const Node& node) {
  const int64_t rank = node.inputs.at(0)->rank();
  std::vector<int64_t> dims =
      wrap_dims(node.attrs.get_ints(ir::Attr::Dims), rank, std::string(op_name(node.op)).c_str());
  return dims;  // wrap_dims sorts, and returns every axis for an empty list
}

}  // namespace ember::ir
