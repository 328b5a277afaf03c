// The dynamic-shape policy: for a call that matches no entry, which dims of the new entry are
// symbolic, and why it is needed (the recompile reason EMBER_LOG=recompiles prints). A size is
// specialized on first sight; a dim whose size changes against the nearest entry (same kinds,
// dtypes, ranks and numbers) becomes symbolic, unless CompileOptions::dynamic says otherwise, it
// is 0 or 1, or its symbolic trace failed before. When an argument's layout class changes
// (contiguous / strided), the new entry is layout-generic: one recompile, and later layouts of
// any argument replay.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "frontend/engine/signature.h"

namespace ember::detail {

class ShapePolicy {
 public:
  explicit ShapePolicy(CompileOptions::Dynamic mode) : mode_(mode) {}

  // The new entry's shape: per tensor argument, per dim, symbolic or not, and per argument
  // whether it is layout-generic (all tensor arguments are, once one's layout changed against
  // the nearest entry or that entry was generic). `existing` lists the entries' signatures, most
  // recently used first; `reason` says why a new entry is needed.
  struct EntryShape {
    std::vector<std::vector<bool>> symbolic;
    std::vector<bool> any_layout;
  };
  EntryShape new_entry(const std::vector<CompileArg>& args,
                       const std::vector<const Signature*>& existing, std::string& reason) const;
  // The symbolic trace with these dims failed: they stay specialized from now on.
  void specialize(const std::vector<std::vector<bool>>& symbolic);

 private:
  CompileOptions::Dynamic mode_;
  std::set<std::pair<size_t, size_t>> keep_static_;  // (argument, dim)
};

}  // namespace ember::detail
