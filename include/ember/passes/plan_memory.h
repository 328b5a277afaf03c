// Memory planning over a fused graph: which values are materialized between kernels, when each
// is live, and which buffer holds it. Buffers of dead intermediates are reused (best fit), and an
// elementwise kernel writes in place over an operand that dies in it. Graph inputs, params and
// outputs are never planned (the caller owns them), so nothing aliases them.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ember/ir/graph.h"

namespace ember::passes {

struct MemoryPlan {
  std::vector<int64_t> buffer_bytes;                    // the arena's buffers
  std::unordered_map<const ir::Value*, int> buffer_of;  // each materialized intermediate
  std::unordered_set<const ir::Value*> in_place;        // took a dying operand's buffer
  int64_t peak_bytes = 0;                               // the bytes the buffers take together
  int64_t naive_bytes = 0;                              // every intermediate in a buffer of its own
};

// Plans a fused graph (Node::group set; static shapes — symbolic ones throw Error naming the
// value).
MemoryPlan plan_memory(const ir::Graph& graph);

// The plan as comment lines: one per buffer with the values it holds, then the totals.
std::string print_plan(const ir::Graph& graph, const MemoryPlan& plan);

}  // namespace ember::passes
