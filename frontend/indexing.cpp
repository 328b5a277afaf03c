// Tensor indexing (ember/frontend/indexing.h): basic indices become views, tensor indices one
// index_select over the indexed dims flattened, and a write one index_copy (or index_add) at the
// flat positions that the same indexing selects from an arange: one algorithm reads and writes.
#include "ember/frontend/indexing.h"

#include <cstring>

#include "ember/frontend/ops.h"
#include "ember/frontend/trace.h"
#include "ember/runtime/kernels.h"

namespace ember {
namespace indexing {

TensorIndex::TensorIndex(const char* s) : kind_(Kind::Ellipsis) {
  EMBER_CHECK(std::string_view(s) == "...", IndexError,
              "index: a string index must be \"...\" (Ellipsis), got \"", s, "\"");
}

}  // namespace indexing

namespace {

using indexing::TensorIndex;
using Kind = TensorIndex::Kind;

bool is_mask(const Tensor& t) { return t.dtype() == kBool || t.dtype() == kUInt8; }

// The dims of x an index consumes.
int64_t consumed(const TensorIndex& i) {
  switch (i.kind()) {
    case Kind::Integer:
    case Kind::Slice:
      return 1;
    case Kind::Tensor:
      return is_mask(i.tensor()) ? i.tensor().dim() : 1;  // a 0-D mask adds a dim
    default:
      return 0;
  }
}

// Index tensors of the advanced part: the dim of the (basic-indexed) view each one indexes.
struct Advanced {
  std::vector<int64_t> dims;
  std::vector<Tensor> index;
};

// Positions along a dim of `size`: negative ones count from the end; out of range is an error
// (checked eagerly; a traced index is checked by the kernel that reads it).
Tensor wrap_positions(const Tensor& idx, int64_t size, int64_t dim) {
  const Tensor i = idx.to(kInt64);
  if (i.is_traced()) return where(i < int64_t(0), i + size, i);
  if (i.numel() == 0) return i;
  const int64_t lo = i.min().item<int64_t>(), hi = i.max().item<int64_t>();
  EMBER_CHECK(lo >= -size && hi < size, IndexError, "index ", lo < -size ? lo : hi,
              " is out of bounds for dimension ", dim, " with size ", size);
  return lo < 0 ? where(i < int64_t(0), i + size, i) : i;
}

// Applies the basic indices to x (views) and collects the tensor ones.
Tensor apply_basic(const Tensor& x, const std::vector<TensorIndex>& indices, Advanced& adv) {
  int64_t named = 0, ellipses = 0;
  for (const TensorIndex& i : indices) {
    named += consumed(i);
    ellipses += i.kind() == Kind::Ellipsis;
  }
  EMBER_CHECK(ellipses <= 1, IndexError, "index: an index can only have a single ellipsis");
  EMBER_CHECK(named <= x.dim(), IndexError, "index: too many indices for tensor of dimension ",
              x.dim(), " (got ", named, ")");
  Tensor v = x;
  int64_t d = 0;  // the dim of v the next index applies to
  for (const TensorIndex& i : indices) {
    switch (i.kind()) {
      case Kind::Integer:
        v = v.select(d, i.integer());
        break;
      case Kind::Slice:
        v = v.slice(d, i.slice().start, i.slice().stop, i.slice().step);
        ++d;
        break;
      case Kind::None:
        v = v.unsqueeze(d++);
        break;
      case Kind::Boolean:
        v = v.unsqueeze(d);
        if (!i.integer()) v = v.slice(d, 0, 0);
        ++d;
        break;
      case Kind::Ellipsis:
        d += x.dim() - named;
        break;
      case Kind::Tensor: {
        const Tensor& t = i.tensor();
        if (!is_mask(t)) {
          EMBER_CHECK(is_integral(t.dtype(), false), IndexError,
                      "index: tensors used as indices must be long, int, byte or bool tensors, "
                      "got ",
                      t.dtype());
          adv.dims.push_back(d);
          adv.index.push_back(wrap_positions(t, v.size(d), d));
          ++d;
          break;
        }
        const Tensor mask = t.dim() == 0 ? t.unsqueeze(0) : t;
        if (t.dim() == 0) v = v.unsqueeze(d);  // x[True]: a new dim of size 1 (or 0) picks
        for (int64_t k = 0; k < mask.dim(); ++k)
          EMBER_CHECK(mask.size(k) == v.size(d + k), IndexError, "index: the shape of the mask ",
                      shape_str(mask.sizes()), " at index ", k,
                      " does not match the shape of the indexed tensor ", shape_str(v.sizes()),
                      " at index ", d + k);
        const Tensor coords = nonzero(mask);
        for (int64_t k = 0; k < mask.dim(); ++k) {
          adv.dims.push_back(d + k);
          adv.index.push_back(coords.select(1, k));
        }
        d += mask.dim();
        break;
      }
    }
  }
  return v;
}

// The broadcast shape of the index tensors.
std::vector<int64_t> broadcast_shape(const std::vector<Tensor>& index) {
  std::vector<int64_t> out;
  for (const Tensor& t : index) {
    const IntArrayRef s = t.sizes();
    if (s.size() > out.size()) out.insert(out.begin(), s.size() - out.size(), 1);
    const size_t lead = out.size() - s.size();
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t& o = out[lead + k];
      EMBER_CHECK(o == s[k] || o == 1 || s[k] == 1, IndexError,
                  "index: shape mismatch: indexing tensors could not be broadcast together with "
                  "shapes ",
                  shape_str(index[0].sizes()), " and ", shape_str(s));
      if (o == 1) o = s[k];
    }
  }
  return out;
}

// v[index tensors at adv.dims]: the indexed dims moved first and flattened, one index_select at
// the flat positions, the broadcast index shape put where NumPy puts it.
Tensor apply_advanced(const Tensor& v, const Advanced& adv) {
  const size_t na = adv.dims.size();
  const std::vector<int64_t> b = broadcast_shape(adv.index);
  std::vector<int64_t> perm(adv.dims.begin(), adv.dims.end()), rest_sizes;
  bool adjacent = true;
  for (size_t k = 1; k < na; ++k) adjacent &= adv.dims[k] == adv.dims[k - 1] + 1;
  for (int64_t d = 0; d < v.dim(); ++d)
    if (std::find(adv.dims.begin(), adv.dims.end(), d) == adv.dims.end()) {
      perm.push_back(d);
      rest_sizes.push_back(v.size(d));
    }
  std::vector<int64_t> flat_sizes{1};
  Tensor linear;
  int64_t stride = 1;
  for (size_t k = na; k-- > 0;) {
    const int64_t size = v.size(adv.dims[k]);
    const Tensor term = stride == 1 ? adv.index[k] : adv.index[k] * stride;
    linear = linear.defined() ? linear + term : term;
    stride *= size;
  }
  flat_sizes[0] = stride;
  flat_sizes.insert(flat_sizes.end(), rest_sizes.begin(), rest_sizes.end());
  const Tensor flat = v.permute(perm).reshape(flat_sizes);
  const Tensor positions = linear.expand(b).reshape({-1});
  std::vector<int64_t> out_sizes = b;
  out_sizes.insert(out_sizes.end(), rest_sizes.begin(), rest_sizes.end());
  Tensor out = index_select(flat, 0, positions).reshape(out_sizes);
  const int64_t first = adv.dims[0], nb = int64_t(b.size());
  if (!adjacent || first == 0) return out;
  std::vector<int64_t> move;  // [rest before first, b, rest after]
  for (int64_t d = 0; d < first; ++d) move.push_back(nb + d);
  for (int64_t d = 0; d < nb; ++d) move.push_back(d);
  for (int64_t d = first; d < int64_t(rest_sizes.size()); ++d) move.push_back(nb + d);
  return out.permute(move);
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<TensorIndex>& indices) {
  Advanced adv;
  const Tensor v = apply_basic(x, indices, adv);
  return adv.dims.empty() ? v : apply_advanced(v, adv);
}

Tensor index_put(const Tensor& x, const std::vector<TensorIndex>& indices, const Tensor& values,
                 bool accumulate) {
  const Tensor vals = values.to(x.dtype());
  // x[mask] = value, the mask over all of x: a where, without a data-dependent size (traces).
  if (indices.size() == 1 && indices[0].kind() == Kind::Tensor && !accumulate &&
      is_mask(indices[0].tensor()) && indices[0].tensor().sizes().vec() == x.sizes().vec() &&
      vals.numel() == 1 && x.dim() > 0)
    return where(indices[0].tensor().to(kBool), vals.reshape({}), x);
  const Tensor positions = index(arange(x.numel(), kInt64).reshape(x.sizes()), indices);
  const IntArrayRef target = positions.sizes();
  // values may have extra leading size-1 dims (x[0] = t.unsqueeze(0)), as in PyTorch.
  Tensor v = vals;
  while (v.dim() > int64_t(target.size()) && v.size(0) == 1) v = v.squeeze(0);
  bool fits = v.dim() <= int64_t(target.size());
  for (int64_t k = 1; fits && k <= v.dim(); ++k) {
    const int64_t vs = v.size(-k), ts = target[target.size() - size_t(k)];
    fits = vs == ts || vs == 1;
  }
  EMBER_CHECK(fits, ShapeError, "index_put: shape mismatch: value tensor of shape ",
              shape_str(values.sizes()), " cannot be broadcast to indexing result of shape ",
              shape_str(target));
  const Tensor source = v.expand(target).reshape({-1});
  const Tensor flat = x.reshape({-1}), at = positions.reshape({-1});
  const Tensor out = accumulate ? index_add(flat, 0, at, source) : index_copy(flat, 0, at, source);
  return out.reshape(x.sizes());
}

Tensor nonzero(const Tensor& x) {
  EMBER_CHECK(!TraceContext::active(), Error,
              "nonzero: the result's size depends on the values, which a traced function cannot "
              "express (boolean-mask indexing needs it too); this runs eagerly");
  const Array a = kernels::contiguous(kernels::cast(x.array(), kBool));
  const bool* p = a.data_as<bool>();
  const int64_t n = a.numel(), rank = a.dim();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += p[i];
  Array out = Array::empty({count, rank}, kInt64);
  int64_t* dst = out.data_as<int64_t>();
  const Shape strides = contiguous_strides(a.sizes());
  for (int64_t i = 0; i < n; ++i) {
    if (!p[i]) continue;
    for (int64_t k = 0; k < rank; ++k) *dst++ = (i / strides[size_t(k)]) % a.size(k);
  }
  return Tensor(std::move(out));
}

}  // namespace ember
