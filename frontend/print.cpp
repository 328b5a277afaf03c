// operator<< for Tensor, in PyTorch's format: one format for all elements (integers, "1." for
// integral floats, fixed with 4 decimals, or scientific when the range is wide), right-aligned,
// rows wrapped at 80 columns, summarized with "..." past 1000 elements, and the dtype named
// when it is not the default for its kind.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "ember/frontend/tensor.h"
#include "ember/ir/graph.h"
#include "ember/runtime/cuda.h"

namespace ember {
namespace {

constexpr int64_t kThreshold = 1000, kEdgeItems = 3, kLineWidth = 80;

// One element: its value as a double, and exactly for integer dtypes (int64 beyond 2^53).
struct Element {
  double d;
  int64_t i;
};

struct Formatter {
  enum class Mode { Int, Bool, IntegralFloat, Fixed, Scientific } mode = Mode::Fixed;
  size_t width = 1;

  std::string format(Element e) const {
    const double v = e.d;
    if (mode == Mode::Bool) return v != 0 ? "True" : "False";
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    switch (mode) {
      case Mode::Int:
        std::snprintf(buf, sizeof buf, "%lld", (long long)e.i);
        break;
      case Mode::IntegralFloat:
        std::snprintf(buf, sizeof buf, "%.0f.", v);
        break;
      case Mode::Fixed:
        std::snprintf(buf, sizeof buf, "%.4f", v);
        break;
      default:
        std::snprintf(buf, sizeof buf, "%.4e", v);
        break;
    }
    return buf;
  }
  std::string padded(Element v) const {
    std::string s = format(v);
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  }
};

// The multi-index positions printed along one dim (all, or edge items around "...").
std::vector<int64_t> shown(int64_t size, bool summarize) {
  std::vector<int64_t> idx;
  if (summarize && size > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);  // the ellipsis
    for (int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < size; ++i) idx.push_back(i);
  }
  return idx;
}

Element value_at(const Array& a, const std::vector<int64_t>& index) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d) offset += index[d] * a.stride(int64_t(d));
  return dispatch_dtype(a.dtype(), [&]<class T>() -> Element {
    const auto v = compute_t<T>(a.data_as<T>()[offset]);
    if constexpr (std::is_floating_point_v<decltype(v)>)
      return {double(v), 0};
    else
      return {double(v), int64_t(v)};
  });
}

void collect(const Array& a, bool summarize, std::vector<int64_t>& index,
             std::vector<Element>& values) {
  const size_t d = index.size();
  if (int64_t(d) == a.dim()) {
    values.push_back(value_at(a, index));
    return;
  }
  for (int64_t i : shown(a.size(int64_t(d)), summarize)) {
    if (i < 0) continue;
    index.push_back(i);
    collect(a, summarize, index, values);
    index.pop_back();
  }
}

Formatter make_formatter(const Array& a, const std::vector<Element>& values) {
  Formatter f;
  if (a.dtype() == DType::Bool)
    f.mode = Formatter::Mode::Bool;
  else if (!is_floating(a.dtype()))
    f.mode = Formatter::Mode::Int;
  else {
    bool integral = true;
    double lo = INFINITY, hi = 0;
    for (const Element& e : values) {
      const double v = e.d;
      if (!std::isfinite(v)) continue;
      integral &= v == std::ceil(v);
      if (v != 0) {
        lo = std::min(lo, std::fabs(v));
        hi = std::max(hi, std::fabs(v));
      }
    }
    if (integral)
      f.mode = hi > 1e8 ? Formatter::Mode::Scientific : Formatter::Mode::IntegralFloat;
    else if (hi != 0 && (hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4))
      f.mode = Formatter::Mode::Scientific;
    else
      f.mode = Formatter::Mode::Fixed;
  }
  for (const Element& v : values) f.width = std::max(f.width, f.format(v).size());
  return f;
}

void print_dim(std::ostream& os, const Array& a, const Formatter& f, bool summarize,
               std::vector<int64_t>& index, size_t indent) {
  const size_t d = index.size();
  const std::vector<int64_t> positions = shown(a.size(int64_t(d)), summarize);
  os << '[';
  if (int64_t(d) + 1 == a.dim()) {
    const size_t per_line = std::max<size_t>(1, (size_t(kLineWidth) - indent - 1) / (f.width + 2));
    for (size_t k = 0; k < positions.size(); ++k) {
      if (k && k % per_line) os << ", ";
      if (k && !(k % per_line)) os << ",\n" << std::string(indent + 1, ' ');
      if (positions[k] < 0) {
        os << " ...";  // PyTorch's element ellipsis, which reads ",  ..., "
        continue;
      }
      index.push_back(positions[k]);
      os << f.padded(value_at(a, index));
      index.pop_back();
    }
  } else {
    const std::string newlines(size_t(a.dim() - int64_t(d) - 1), '\n');
    const std::string spaces(indent + 1, ' ');
    for (size_t k = 0; k < positions.size(); ++k) {
      if (k) os << ',' << newlines << spaces;
      if (positions[k] < 0) {
        os << "...";
        continue;
      }
      index.push_back(positions[k]);
      print_dim(os, a, f, summarize, index, indent + 1);
      index.pop_back();
    }
  }
  os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "[ Tensor (undefined) ]";
  if (t.is_traced()) {
    return os << "tensor(<traced %" << t.traced_value()->name << ": "
              << ir::dtype_short_name(t.dtype()) << shape_str(t.sizes()) << ">)";
  }
  // A CUDA tensor prints its values copied to the host, as PyTorch's does, with its device.
  const Array a = t.device().is_cuda() ? cuda::copy_to_host(t.array()) : t.array();
  const bool summarize = a.numel() > kThreshold;
  std::vector<std::string> suffixes;
  os << "tensor(";
  if (a.numel() == 0) {
    os << "[]";
    if (a.dim() != 1)
      suffixes.push_back("size=" + [&] {
        std::ostringstream s;
        s << '(';
        for (int64_t d = 0; d < a.dim(); ++d) s << (d ? ", " : "") << a.size(d);
        s << (a.dim() == 1 ? ",)" : ")");
        return s.str();
      }());
  } else {
    std::vector<int64_t> index;
    std::vector<Element> values;
    collect(a, summarize, index, values);
    const Formatter f = make_formatter(a, values);
    if (a.dim() == 0)
      os << f.format(values[0]);
    else
      print_dim(os, a, f, summarize, index, 7);
  }
  if (t.device().is_cuda())
    suffixes.push_back("device='cuda:" + std::to_string(t.device().index) + "'");
  if (a.dtype() != kFloat32 && a.dtype() != kInt64 && a.dtype() != kBool)
    suffixes.push_back(std::string("dtype=ember.") + dtype_name(a.dtype()));
  if (t.requires_grad()) suffixes.push_back("requires_grad=True");
  for (const std::string& s : suffixes) os << ", " << s;
  return os << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace ember
