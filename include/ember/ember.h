// Ember: a PyTorch-like C++ tensor library with eager execution and a tracing JIT.
// This umbrella header brings in the whole public API.
#pragma once

#include "ember/data/data.h"
#include "ember/frontend/autograd.h"
#include "ember/frontend/compile.h"
#include "ember/frontend/export.h"
#include "ember/frontend/indexing.h"
#include "ember/frontend/ops.h"
#include "ember/frontend/serialize.h"
#include "ember/frontend/tensor.h"
#include "ember/frontend/trace.h"
#include "ember/ir/graph.h"
#include "ember/ir/interpreter.h"
#include "ember/nn/functional.h"
#include "ember/nn/module.h"
#include "ember/nn/modules.h"
#include "ember/optim/optim.h"
#include "ember/runtime/allocator.h"
#include "ember/runtime/device.h"
#include "ember/runtime/dtype.h"
#include "ember/runtime/error.h"
#include "ember/runtime/thread_pool.h"
