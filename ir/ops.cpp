#include "ember/ir/ops.h"

#include <array>

namespace ember::ir {
namespace {

struct OpInfo {
  std::string_view name;
  OpCategory category;
  int arity;
};

constexpr std::array<OpInfo, kNumOps> kOps = {{
#define EMBER_OP(name, text, category, arity) {text, OpCategory::category, arity},
#include "ember/ir/ops.def"
#undef EMBER_OP
}};

// The op table's size is part of the contract: adding an op means revisiting every switch.
static_assert(kNumOps == 67, "ops.def changed: update the rules, the interpreter and this count");

}  // namespace

std::string_view op_name(Op op) { return kOps[size_t(op)].name; }
OpCategory op_category(Op op) { return kOps[size_t(op)].category; }
int op_arity(Op op) { return kOps[size_t(op)].arity; }

std::optional<Op> op_from_name(std::string_view name) {
  for (size_t i = 0; i < kOps.size(); ++i)
    if (kOps[i].name == name) return Op(i);
  return std::nullopt;
}

}  // namespace ember::ir
