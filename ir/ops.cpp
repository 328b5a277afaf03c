#include "ember/ir/ops.h"

#include "ember/ir/graph.h"

#include <array>
#include <vector>

#include "ember/runtime/error.h"

namespace ember::ir {
namespace {

struct OpInfo {
  std::string_view name;
  OpCategory category;
  int arity;
  uint32_t properties;
  std::string_view attributes;  // "name:type name:type ..."
};

namespace table {
using namespace prop;
constexpr std::array<OpInfo, kNumOps> kOps = {{
#define EMBER_OP(name, text, category, arity, props, attrs) \
  {text, OpCategory::category, arity, props, attrs},
#include "ember/ir/ops.def"
#undef EMBER_OP
}};
}  // namespace table
using table::kOps;

// The op table's size is part of the contract: adding an op means revisiting every switch.
static_assert(kNumOps == 74, "ops.def changed: update the rules, the interpreter and this count");

constexpr std::array<std::string_view, 6> kAttrTypeNames = {"int",   "float", "bool",
                                                            "dtype", "list",  "size"};

// The attribute column parsed once: each op's "name:type" words.
const std::vector<std::vector<AttrSpec>>& attribute_table() {
  static const std::vector<std::vector<AttrSpec>> parsed = [] {
    std::vector<std::vector<AttrSpec>> out(kOps.size());
    for (size_t i = 0; i < kOps.size(); ++i) {
      std::string_view rest = kOps[i].attributes;
      while (!rest.empty()) {
        const size_t space = rest.find(' ');
        const std::string_view word = rest.substr(0, space);
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
        const size_t colon = word.find(':');
        EMBER_INTERNAL_ASSERT(colon != std::string_view::npos, "ops.def attribute ", word);
        const std::string_view type = word.substr(colon + 1);
        size_t t = 0;
        while (t < kAttrTypeNames.size() && kAttrTypeNames[t] != type) ++t;
        EMBER_INTERNAL_ASSERT(t < kAttrTypeNames.size(), "ops.def attribute type ", type);
        const auto name = attr_from_name(word.substr(0, colon));
        EMBER_INTERNAL_ASSERT(name, "ops.def attribute ", word, " is not in attributes.def");
        out[i].push_back({*name, AttrType(t)});
      }
    }
    return out;
  }();
  return parsed;
}

}  // namespace

std::string_view op_name(Op op) { return kOps[size_t(op)].name; }
OpCategory op_category(Op op) { return kOps[size_t(op)].category; }
int op_arity(Op op) { return kOps[size_t(op)].arity; }
uint32_t op_properties(Op op) { return kOps[size_t(op)].properties; }

std::optional<Op> op_from_name(std::string_view name) {
  for (size_t i = 0; i < kOps.size(); ++i)
    if (kOps[i].name == name) return Op(i);
  return std::nullopt;
}

std::span<const AttrSpec> op_attributes(Op op) { return attribute_table()[size_t(op)]; }
std::string_view attr_type_name(AttrType type) { return kAttrTypeNames[size_t(type)]; }

}  // namespace ember::ir
