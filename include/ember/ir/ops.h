// The op enum and its static properties, generated from ir/ops.def.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ember/ir/op_properties.h"

namespace ember::ir {

enum class OpCategory : uint8_t {
  Unary,
  Binary,
  Ternary,
  Cast,
  Reduce,
  Movement,
  Matmul,
  Conv,
  Pool,
  Index,
  Scan,
  Sort,
  Random,
  Constant,
  Composite,
  Guard,
};

enum class Op : uint8_t {
#define EMBER_OP(name, text, category, arity, props, attrs) name,
#include "ember/ir/ops.def"
#undef EMBER_OP
};

inline constexpr int kNumOps = 0
#define EMBER_OP(name, text, category, arity, props, attrs) +1
#include "ember/ir/ops.def"
#undef EMBER_OP
    ;

std::string_view op_name(Op op);
OpCategory op_category(Op op);
int op_arity(Op op);  // -1: variadic
std::optional<Op> op_from_name(std::string_view name);

// The property column (op_properties.h's flags) and questions passes ask of it.
uint32_t op_properties(Op op);
inline bool has_property(Op op, uint32_t flags) { return (op_properties(op) & flags) == flags; }
inline bool is_elementwise(Op op) { return has_property(op, prop::Elementwise); }
inline bool is_transcendental(Op op) { return has_property(op, prop::Transcendental); }
inline bool is_commutative(Op op) { return has_property(op, prop::Commutative); }
inline bool is_differentiable(Op op) { return has_property(op, prop::Differentiable); }
inline bool is_library_call(Op op) { return has_property(op, prop::Library); }
inline bool is_reduction(Op op) { return op_category(op) == OpCategory::Reduce; }
inline bool is_movement(Op op) { return op_category(op) == OpCategory::Movement; }

// The attributes an op's nodes carry, from the table's last column.
enum class AttrType : uint8_t { Int, Float, Bool, DType, List, Size };
enum class Attr : uint8_t;  // graph.h
struct AttrSpec {
  Attr name;
  AttrType type;
};
std::span<const AttrSpec> op_attributes(Op op);
std::string_view attr_type_name(AttrType type);

}  // namespace ember::ir
