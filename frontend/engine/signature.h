// Signatures: what a compiled entry accepts in each argument position (kinds, dtypes, ranks,
// layout classes, static sizes, which dims are symbolic and which share a symbol, numbers by
// value), and the check of a call's arguments against one. The first job of every call.
#pragma once

#include <string>
#include <vector>

#include "ember/frontend/compile.h"

namespace ember::detail {

struct ArgSpec {
  size_t kind = 0;  // the CompileArg alternative
  DType dtype = DType::Float32;
  bool contiguous = true;
  // Layout-generic: any strides (transposed, broadcast, sliced) fit, since an earlier entry saw
  // this argument change layout. The plan's kernels take strides at run time either way.
  bool any_layout = false;
  bool requires_grad = false;  // wants_grad when traced: a training entry
  Shape sizes;                 // tensors; a symbolic dim's size is the one it was traced with
  std::vector<int> symbol;     // tensors: per dim, its symbol or -1
  CompileArg number;           // numbers: the value
};
using Signature = std::vector<ArgSpec>;

inline constexpr size_t kMaxSymbols = 16;  // per entry

// Whether a call wants t's gradient: grad mode is on and t requires grad.
bool wants_grad(const Tensor& t);

// Whether args fit: kinds, dtypes, ranks, layout classes (unless layout-generic) and
// wants_grad, static sizes equal, symbolic sizes >= 2 and equal wherever they share a symbol. A
// hash-free scan: a few comparisons per argument.
bool matches(const Signature& signature, const std::vector<CompileArg>& args);
// The signature of args with the given dims symbolic (dims of equal size share a symbol, as the
// tracer gives them one; at most kMaxSymbols, the rest stay specialized) and the given tensor
// arguments layout-generic.
Signature make_signature(const std::vector<CompileArg>& args,
                         const std::vector<std::vector<bool>>& symbolic,
                         const std::vector<bool>& any_layout = {});
// "float32[s0, 4], 2" for describe().
std::string signature_text(const Signature& signature);

// Numbers compare by value and kind (NaN matches NaN; 0.0 does not match -0.0).
bool same_number(const CompileArg& a, const CompileArg& b);
std::string number_text(const CompileArg& a);
std::string arg_name(size_t i);  // "input 2", in recompile reasons

}  // namespace ember::detail
