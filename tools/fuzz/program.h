// Random well-typed Tensor programs for the differential fuzzer (ember-fuzz).
//
// A Program is a straight-line list of ops over its inputs, with the inputs of several calls:
// sizes marked as variables change from call to call (so compile() recompiles symbolically), the
// others stay. Every program the generator returns runs eagerly on every one of its calls (each op
// was kept only where eager accepted it on all of them), and its values stay finite and moderate,
// so that any difference another backend shows is that backend's, not the program's.
//
// Discrete results (comparisons, argmax, integer casts of floats, the predicate of a branch) are
// only taken of values every backend must compute bit for bit (movement, abs/neg/relu, max/min,
// integer arithmetic, ...): a comparison of values that differ in the last bit between a fused
// kernel and eager would be a legitimate difference, and the fuzzer reports none of those.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember::fuzz {

enum class Layout : uint8_t { Contiguous, Transposed, Broadcast, Strided };

// One input dim: a fixed size, or variable `var` (its size in each call is Program::var_sizes).
struct DimSpec {
  int var = -1;
  int64_t size = 0;
};

struct InputSpec {
  std::vector<DimSpec> shape;
  DType dtype = kFloat32;
  Layout layout = Layout::Contiguous;
  int broadcast_dim = 0;  // Layout::Broadcast: the dim read with stride 0
};

struct Node {
  int op = 0;             // index into the op table
  std::vector<int> args;  // value numbers: inputs first, then nodes in order
  std::vector<int64_t> ints;
  double scalar = 0;
  DType dtype = kFloat32;  // casts
};

struct Program {
  uint64_t seed = 0;
  std::vector<InputSpec> inputs;
  std::vector<Node> nodes;
  std::vector<int> outputs;
  std::vector<std::vector<int64_t>> var_sizes;  // per call, per variable
  size_t num_calls() const { return var_sizes.size(); }
  size_t num_values() const { return inputs.size() + nodes.size(); }
};

// A random program; deterministic in seed.
Program generate(uint64_t seed);

// The inputs of call `call` (deterministic in the program's seed).
std::vector<Tensor> make_inputs(const Program& p, size_t call);

// Runs the program on inputs with Tensor ops: eagerly, or while being traced.
std::vector<Tensor> execute(const Program& p, const std::vector<Tensor>& inputs);

// The program as a C++ function, and one line per input describing call `call`'s inputs.
std::string to_cpp(const Program& p, size_t call);

// The op's name in the table (for statistics).
const char* op_name(int op);
int num_ops();

// Every program check() accepts satisfies this: it runs eagerly on every call, with finite
// floating values of moderate size. False when an edit (the minimizer's) broke it.
bool runs_eagerly(const Program& p);

// Whether a max or min of values that are not exact decides where gradients go: which of two
// nearly equal values wins may differ by the last bit between backends, and with it the
// gradient (a legitimate difference, so the gradient mode skips such programs).
bool gradients_follow_near_ties(const Program& p);

}  // namespace ember::fuzz
