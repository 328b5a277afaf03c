// ember-opt: reads textual IR (a file, or stdin for "-" or no file), runs the passes named on the
// command line in order, and prints the result. The driver of the golden pass tests (lit +
// FileCheck), in the manner of mlir-opt. --autodiff first replaces the graph by its joint
// forward + backward graph (autograd::joint_graph); --split then prints the forward and backward
// graphs split_joint cuts it into, instead of the joint graph. --emit-mlir prints the result in
// upstream MLIR 19 dialects instead (ir::to_mlir; composites decomposed first, params become
// function arguments).
//
//   ember-opt [FILE] [--autodiff [--split]] [--NAME | --pass NAME]... [--hash] [--memory-plan]
//             [--emit-mlir]
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "ember/frontend/autograd.h"
#include "ember/ir/graph.h"
#include "ember/ir/mlir.h"
#include "ember/passes/decompose.h"
#include "ember/passes/pipeline.h"
#include "ember/passes/plan_memory.h"
#include "ember/passes/split_joint.h"

namespace {

// The passes come from the pipeline's registry: every pass of the pipeline, the pipeline itself,
// and verify.
const std::map<std::string, ember::passes::PassFn>& passes() {
  return ember::passes::registered_passes();
}

int usage() {
  std::fprintf(
      stderr,
      "usage: ember-opt [FILE|-] [--autodiff [--split]] [--NAME | --pass NAME]... [--hash] "
      "[--memory-plan] [--emit-mlir]\npasses:");
  for (const auto& [name, pass] : passes()) std::fprintf(stderr, " %s", name.c_str());
  std::fprintf(stderr, "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string file = "-";
  std::vector<std::string> pipeline;
  bool print_hash = false, memory_plan = false, autodiff = false, split = false, emit_mlir = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--pass" && i + 1 < argc) {
      pipeline.push_back(argv[++i]);
    } else if (arg.rfind("--", 0) == 0 && passes().count(arg.substr(2))) {
      pipeline.push_back(arg.substr(2));
    } else if (arg == "--autodiff") {
      autodiff = true;
    } else if (arg == "--split") {
      split = true;
    } else if (arg == "--emit-mlir") {
      emit_mlir = true;
    } else if (arg == "--hash") {
      print_hash = true;
    } else if (arg == "--memory-plan") {
      memory_plan = true;
    } else if (arg == "--help" || arg == "-h") {
      return usage();
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "ember-opt: unknown option %s\n", arg.c_str());
      return usage();
    } else {
      file = arg;
    }
  }
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) {
      std::fprintf(stderr, "ember-opt: cannot open %s\n", file.c_str());
      return 1;
    }
    text << in.rdbuf();
  }
  try {
    if (split && !autodiff) {
      std::fprintf(stderr, "ember-opt: --split splits the joint graph of --autodiff\n");
      return usage();
    }
    if (emit_mlir && (split || print_hash || memory_plan)) {
      std::fprintf(stderr,
                   "ember-opt: --emit-mlir prints one function (no --split, --hash or "
                   "--memory-plan)\n");
      return usage();
    }
    std::shared_ptr<ember::ir::Graph> graph = ember::ir::parse(text.str());
    ember::autograd::JointGraph joint;
    if (autodiff) {
      joint = ember::autograd::joint_graph(*graph);
      graph = joint.graph;
    }
    for (const std::string& name : pipeline) {
      auto it = passes().find(name);
      if (it == passes().end()) {
        std::fprintf(stderr, "ember-opt: unknown pass %s\n", name.c_str());
        return usage();
      }
      it->second(*graph);
    }
    if (emit_mlir) {
      ember::passes::decompose(*graph);
      std::cout << ember::ir::to_mlir(*graph);
      return 0;
    }
    if (split)
      std::cout << ember::passes::print_split(
          ember::passes::split_joint(*graph, joint.num_forward_outputs, joint.tangents));
    else
      std::cout << ember::ir::print(*graph);
    if (print_hash) std::cout << "// hash: " << graph->structural_hash() << "\n";
    if (memory_plan)
      std::cout << ember::passes::print_plan(*graph, ember::passes::plan_memory(*graph));
  } catch (const ember::Error& e) {
    std::fprintf(stderr, "%s:%s\n", file == "-" ? "<stdin>" : file.c_str(), e.what());
    return 1;
  }
  return 0;
}
