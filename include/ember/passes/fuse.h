// Fusion: partitions the graph into kernels and makes each kernel's nodes consecutive.
//
// A kernel is a connected group of elementwise ops and index-only movement ops (reshape, permute,
// expand, slice, pad, concat: index arithmetic, not copies), with at most one reduction level: a
// reduction with its elementwise prologue, the consumers over its reduced shape, and the
// normalization pattern (reduce a row, then use the result across the same row: softmax,
// log_softmax, layer_norm, RMSNorm) where every reduction shares one input shape and axes.
// Matmul and conv2d are library calls that take their elementwise epilogue (bias, activation)
// into their kernel; movement ops that only feed library calls are views (strides, no kernel).
// Constants are kernel arguments and belong to no kernel. A value needed outside its kernel is
// materialized once; a cheap value (no transcendental, a short chain) needed by another kernel
// is recomputed there instead; a transcendental over a large tensor is never duplicated.
// EMBER_LOG=fusion explains each decision.
#pragma once

#include "ember/ir/graph.h"

namespace ember::passes {

// Sets Node::group on every node (-1 for constants, guards and views) and reorders the nodes so
// each group is consecutive. Returns true (the grouping is always (re)computed).
bool fuse(ir::Graph& graph);

// The number of kernels (groups) in a fused graph.
int count_kernels(const ir::Graph& graph);

}  // namespace ember::passes
