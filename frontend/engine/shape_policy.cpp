#include "frontend/engine/shape_policy.h"

#include <sstream>

namespace ember::detail {

ShapePolicy::EntryShape ShapePolicy::new_entry(const std::vector<CompileArg>& args,
                                               const std::vector<const Signature*>& existing,
                                               std::string& reason) const {
  EntryShape shape;
  shape.any_layout.assign(args.size(), false);
  std::vector<std::vector<bool>>& symbolic = shape.symbolic;
  symbolic.resize(args.size());
  for (size_t i = 0; i < args.size(); ++i)
    if (const Tensor* t = std::get_if<Tensor>(&args[i])) {
      symbolic[i].assign(size_t(t->dim()), false);
      if (mode_ == CompileOptions::Dynamic::Always)
        for (int64_t d = 0; d < t->dim(); ++d) symbolic[i][size_t(d)] = t->size(d) >= 2;
    }
  if (existing.empty()) {
    reason = "first call";
    return shape;
  }
  // The most recent entry whose kinds, dtypes, ranks, numbers and gradient needs all agree.
  const Signature* near = nullptr;
  std::string other;
  for (const Signature* e : existing) {
    std::string why;
    for (size_t i = 0; i < args.size() && why.empty(); ++i) {
      const ArgSpec& s = (*e)[i];
      const Tensor* t = std::get_if<Tensor>(&args[i]);
      if (s.kind != args[i].index()) {
        why = arg_name(i) + ": argument kind changed";
      } else if (!t) {
        if (!same_number(s.number, args[i]))
          why = arg_name(i) + ": " + number_text(s.number) + " -> " + number_text(args[i]);
      } else if (t->dtype() != s.dtype) {
        why = arg_name(i) + ": dtype " + dtype_name(s.dtype) + " -> " + dtype_name(t->dtype());
      } else if (size_t(t->dim()) != s.sizes.size()) {
        why = arg_name(i) + ": rank " + std::to_string(s.sizes.size()) + " -> " +
              std::to_string(t->dim());
      } else if (wants_grad(*t) != s.requires_grad) {
        why = arg_name(i) + (s.requires_grad ? ": no longer requires grad" : ": now requires grad");
      }
    }
    if (why.empty()) {
      near = e;
      break;
    }
    if (other.empty()) other = why;
  }
  if (!near) {
    reason = other;
    return shape;
  }
  std::ostringstream os;
  bool generic = false;  // the first layout change makes every tensor argument layout-generic
  for (size_t i = 0; i < args.size(); ++i) {
    const Tensor* t = std::get_if<Tensor>(&args[i]);
    if (!t) continue;
    const ArgSpec& s = (*near)[i];
    if (s.any_layout) {
      generic = true;
    } else if (t->is_contiguous() != s.contiguous) {
      generic = true;
      if (os.tellp() > 0) os << "; ";
      os << arg_name(i) << (t->is_contiguous() ? ": now contiguous" : ": now non-contiguous")
         << ", the entry now takes any layout";
    }
    for (size_t d = 0; d < s.sizes.size(); ++d) {
      const int64_t now = t->size(int64_t(d));
      const bool was_symbolic = s.symbol[d] >= 0;
      if (was_symbolic && now >= 2) {
        symbolic[i][d] = true;
        continue;
      }
      if (now == s.sizes[d] && !was_symbolic) continue;
      if (os.tellp() > 0) os << "; ";
      os << arg_name(i) << " dim " << d << ": " << (was_symbolic ? "symbolic" : "")
         << (was_symbolic ? "" : std::to_string(s.sizes[d])) << " -> " << now;
      if (mode_ == CompileOptions::Dynamic::Never)
        os << " (dynamic = never)";
      else if (now < 2)
        os << " (sizes 0 and 1 are specialized)";
      else if (keep_static_.count({i, d}))
        os << " (specialized: its symbolic trace failed before)";
      else {
        symbolic[i][d] = true;
        os << ", now symbolic";
      }
    }
  }
  for (size_t i = 0; i < args.size(); ++i)
    shape.any_layout[i] = generic && std::holds_alternative<Tensor>(args[i]);
  reason = os.str();
  if (reason.empty()) reason = "symbolic sizes that must be equal differ";
  return shape;
}

void ShapePolicy::specialize(const std::vector<std::vector<bool>>& symbolic) {
  for (size_t a = 0; a < symbolic.size(); ++a)
    for (size_t d = 0; d < symbolic[a].size(); ++d)
      if (symbolic[a][d]) keep_static_.insert({a, d});
}

}  // namespace ember::detail
