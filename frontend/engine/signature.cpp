#include "frontend/engine/signature.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "ember/frontend/autograd.h"

namespace ember::detail {

bool same_number(const CompileArg& a, const CompileArg& b) {
  if (a.index() != b.index()) return false;
  if (const double* x = std::get_if<double>(&a)) {
    const double y = std::get<double>(b);
    return std::memcmp(x, &y, sizeof y) == 0;
  }
  if (const int64_t* x = std::get_if<int64_t>(&a)) return *x == std::get<int64_t>(b);
  if (const bool* x = std::get_if<bool>(&a)) return *x == std::get<bool>(b);
  return false;
}

std::string number_text(const CompileArg& a) {
  std::ostringstream os;
  std::visit(
      [&](const auto& v) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(v)>, Tensor>) os << v;
      },
      a);
  return os.str();
}

std::string arg_name(size_t i) { return "input " + std::to_string(i); }

bool wants_grad(const Tensor& t) { return t.requires_grad() && GradMode::is_enabled(); }

bool matches(const Signature& signature, const std::vector<CompileArg>& args) {
  if (signature.size() != args.size()) return false;
  int64_t symbols[kMaxSymbols];
  int bound = 0;
  const bool grad_mode = GradMode::is_enabled();
  for (size_t i = 0; i < args.size(); ++i) {
    const ArgSpec& s = signature[i];
    if (s.kind != args[i].index()) return false;
    const Tensor* t = std::get_if<Tensor>(&args[i]);
    if (!t) {
      if (!same_number(s.number, args[i])) return false;
      continue;
    }
    if (t->dtype() != s.dtype || size_t(t->dim()) != s.sizes.size() ||
        (!s.any_layout && t->is_contiguous() != s.contiguous) ||
        (grad_mode && t->requires_grad()) != s.requires_grad)
      return false;
    const auto sizes = t->sizes();
    for (size_t d = 0; d < s.sizes.size(); ++d) {
      const int sym = s.symbol[d];
      if (sym < 0) {
        if (sizes[d] != s.sizes[d]) return false;
        continue;
      }
      if (sizes[d] < 2) return false;
      if (sym >= bound) {
        for (; bound <= sym; ++bound) symbols[bound] = -1;
      }
      if (symbols[sym] < 0)
        symbols[sym] = sizes[d];
      else if (symbols[sym] != sizes[d])
        return false;
    }
  }
  return true;
}

Signature make_signature(const std::vector<CompileArg>& args,
                         const std::vector<std::vector<bool>>& symbolic,
                         const std::vector<bool>& any_layout) {
  Signature spec(args.size());
  std::vector<int64_t> symbol_sizes;
  for (size_t i = 0; i < args.size(); ++i) {
    ArgSpec& s = spec[i];
    s.kind = args[i].index();
    const Tensor* t = std::get_if<Tensor>(&args[i]);
    if (!t) {
      s.number = args[i];
      continue;
    }
    s.dtype = t->dtype();
    s.contiguous = t->is_contiguous();
    s.any_layout = i < any_layout.size() && any_layout[i];
    s.requires_grad = wants_grad(*t);
    s.sizes = t->sizes().vec();
    s.symbol.assign(s.sizes.size(), -1);
    for (size_t d = 0; d < s.sizes.size(); ++d) {
      if (i >= symbolic.size() || d >= symbolic[i].size() || !symbolic[i][d]) continue;
      auto it = std::find(symbol_sizes.begin(), symbol_sizes.end(), s.sizes[d]);
      if (it == symbol_sizes.end()) {
        if (symbol_sizes.size() == kMaxSymbols) continue;  // the rest stay specialized
        it = symbol_sizes.insert(symbol_sizes.end(), s.sizes[d]);
      }
      s.symbol[d] = int(it - symbol_sizes.begin());
    }
  }
  return spec;
}

std::string signature_text(const Signature& signature) {
  std::ostringstream os;
  for (size_t i = 0; i < signature.size(); ++i) {
    const ArgSpec& s = signature[i];
    if (i) os << ", ";
    if (s.kind != 0) {
      os << number_text(s.number);
      continue;
    }
    os << dtype_name(s.dtype) << '[';
    for (size_t d = 0; d < s.sizes.size(); ++d)
      os << (d ? ", " : "")
         << (s.symbol[d] >= 0 ? "s" + std::to_string(s.symbol[d]) : std::to_string(s.sizes[d]));
    os << ']'
       << (s.any_layout   ? " any layout"
           : s.contiguous ? ""
                          : " strided")
       << (s.requires_grad ? " requires_grad" : "");
  }
  return os.str();
}

}  // namespace ember::detail
