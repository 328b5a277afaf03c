// Canonicalization: local algebra written as (pattern -> replacement) rules, applied until none
// fires: x*1, x+0, x-0, x/1, neg(neg(x)), reshape of reshape, reshape/expand/permute/slice that
// change nothing, permute of permute, cast to the same dtype, and cast chains through a wider
// type. Rules never change a value's result (no reassociation, nothing NaN-unsafe like x*0).
// The rules are a table of (op, rewrite) pairs; one matcher runs them over a worklist (every node
// once, then the readers of each replaced value again) instead of rescanning the graph after
// each rewrite; dead nodes go once, at the end.
#pragma once

#include "ember/ir/graph.h"

namespace ember::passes {

bool canonicalize(ir::Graph& graph);

}  // namespace ember::passes
