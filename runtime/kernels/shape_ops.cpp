// Movement ops. view, permute, transpose, expand, squeeze, unsqueeze, slice, narrow, select and
// flatten (when it can) return views that share storage; reshape views when the strides allow and
// copies otherwise; cat, stack and the index ops copy.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>

#include "ember/runtime/checked.h"
#include "ember/runtime/kernels.h"
#include "runtime/kernels/loops.h"

namespace ember::kernels {
namespace {

// Replaces one -1 with the size that keeps numel, checking the result (PyTorch's infer_size).
Shape infer_size(IntArrayRef sizes, int64_t numel, const char* op) {
  Shape out = sizes.vec();
  std::optional<size_t> infer;
  int64_t known = 1;
  bool overflow = false, zero = false;  // a product past int64 matches no numel, unless a 0
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      EMBER_CHECK(!infer, ShapeError, op, ": only one dimension can be inferred in shape ",
                  shape_str(sizes));
      infer = i;
    } else {
      EMBER_CHECK(out[i] >= 0, ValueError, op, ": invalid shape dimension ", out[i], " in ",
                  shape_str(sizes));
      zero = zero || out[i] == 0;
      overflow = overflow || __builtin_mul_overflow(known, out[i], &known);
    }
  }
  if (zero) known = 0;
  EMBER_CHECK(!overflow || zero, ShapeError, op, ": shape ", shape_str(sizes),
              " is invalid for input of size ", numel);
  if (infer) {
    EMBER_CHECK(known != 0 && numel % known == 0, ShapeError, op, ": shape ", shape_str(sizes),
                " is invalid for input of size ", numel);
    out[*infer] = numel / known;
  }
  EMBER_CHECK(numel_of(out) == numel, ShapeError, op, ": shape ", shape_str(sizes),
              " is invalid for input of size ", numel);
  return out;
}

// Strides that express `shape` over the memory of (old_sizes, old_strides), if any exist:
// PyTorch's computeStride, which splits the old dims into contiguous chunks.
std::optional<Shape> view_strides(const Shape& old_sizes, const Shape& old_strides,
                                  const Shape& shape) {
  Shape strides(shape.size());
  if (old_sizes.empty()) return contiguous_strides(shape);
  if (numel_of(old_sizes) == 0) {
    if (old_sizes == shape) return old_strides;
    return contiguous_strides(shape);
  }
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = int64_t(old_sizes.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_sizes[size_t(tensor_d)];
    if (tensor_d == 0 || (old_sizes[size_t(tensor_d - 1)] != 1 &&
                          old_strides[size_t(tensor_d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        strides[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[size_t(tensor_d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

}  // namespace

Array view(const Array& a, IntArrayRef sizes) {
  Shape shape = infer_size(sizes, a.numel(), "view");
  auto strides = view_strides(a.sizes(), a.strides(), shape);
  EMBER_CHECK(strides.has_value(), ShapeError, "view: shape ", shape_str(shape),
              " is not compatible with input of size ", shape_str(a.sizes()), " and stride ",
              shape_str(a.strides()),
              " (at least one dimension spans across two contiguous subspaces); use reshape");
  return a.as_strided(std::move(shape), std::move(*strides), a.offset());
}

bool is_viewable(const Array& a, IntArrayRef sizes) {
  const Shape shape = infer_size(sizes, a.numel(), "reshape");
  return view_strides(a.sizes(), a.strides(), shape).has_value();
}

Array reshape(const Array& a, IntArrayRef sizes) {
  Shape shape = infer_size(sizes, a.numel(), "reshape");
  if (auto strides = view_strides(a.sizes(), a.strides(), shape))
    return a.as_strided(std::move(shape), std::move(*strides), a.offset());
  const Array c = contiguous(a);
  return c.as_strided(shape, contiguous_strides(shape), c.offset());
}

Array permute(const Array& a, IntArrayRef dims) {
  EMBER_CHECK(int64_t(dims.size()) == a.dim(), ShapeError, "permute: number of dims ",
              shape_str(dims), " does not match the input's ", a.dim(), " dims (shape ",
              shape_str(a.sizes()), ")");
  Shape sizes(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], a.dim(), "permute");
    EMBER_CHECK(!seen[size_t(d)], IndexError, "permute: dim ", d, " repeats in ", shape_str(dims));
    seen[size_t(d)] = true;
    sizes[i] = a.size(d);
    strides[i] = a.stride(d);
  }
  return a.as_strided(std::move(sizes), std::move(strides), a.offset());
}

Array transpose(const Array& a, int64_t dim0, int64_t dim1) {
  if (a.dim() == 0) {
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
    return a;
  }
  const int64_t d0 = wrap_dim(dim0, a.dim(), "transpose"),
                d1 = wrap_dim(dim1, a.dim(), "transpose");
  Shape sizes = a.sizes(), strides = a.strides();
  std::swap(sizes[size_t(d0)], sizes[size_t(d1)]);
  std::swap(strides[size_t(d0)], strides[size_t(d1)]);
  return a.as_strided(std::move(sizes), std::move(strides), a.offset());
}

Array expand(const Array& a, IntArrayRef sizes) {
  EMBER_CHECK(int64_t(sizes.size()) >= a.dim(), ShapeError,
              "expand: the number of sizes provided (", sizes.size(),
              ") must be greater or equal to the number of dimensions in the tensor (", a.dim(),
              ")");
  const size_t lead = sizes.size() - size_t(a.dim());
  Shape out_sizes(sizes.size()), out_strides(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i < lead) {
      EMBER_CHECK(sizes[i] >= 0, ValueError, "expand: the expanded size ", sizes[i],
                  " is not allowed in a leading, non-existing dimension ", i);
      out_sizes[i] = sizes[i];
      out_strides[i] = 0;
      continue;
    }
    const int64_t cur = a.size(int64_t(i - lead));
    const int64_t want = sizes[i] == -1 ? cur : sizes[i];
    EMBER_CHECK(cur == want || cur == 1, ShapeError, "expand: the expanded size of the tensor (",
                want, ") must match the existing size (", cur, ") at non-singleton dimension ", i,
                ". Target sizes: ", shape_str(sizes), ". Tensor sizes: ", shape_str(a.sizes()));
    out_sizes[i] = want;
    out_strides[i] = cur == want ? a.stride(int64_t(i - lead)) : 0;
  }
  return a.as_strided(std::move(out_sizes), std::move(out_strides), a.offset());
}

Array squeeze(const Array& a, std::optional<int64_t> dim) {
  std::optional<int64_t> only;
  if (dim) only = wrap_dim(*dim, a.dim(), "squeeze");
  Shape sizes, strides;
  for (int64_t d = 0; d < a.dim(); ++d) {
    const bool drop = a.size(d) == 1 && (!only || *only == d);
    if (drop) continue;
    sizes.push_back(a.size(d));
    strides.push_back(a.stride(d));
  }
  return a.as_strided(std::move(sizes), std::move(strides), a.offset());
}

Array unsqueeze(const Array& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim() + 1, "unsqueeze");
  Shape sizes = a.sizes(), strides = a.strides();
  const int64_t stride = d < a.dim() ? a.size(d) * a.stride(d) : 1;
  sizes.insert(sizes.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return a.as_strided(std::move(sizes), std::move(strides), a.offset());
}

Array slice(const Array& a, int64_t dim, std::optional<int64_t> start_in,
            std::optional<int64_t> end_in, int64_t step) {
  EMBER_CHECK(a.dim() > 0, IndexError, "slice: cannot slice a 0-dim tensor");
  const int64_t d = wrap_dim(dim, a.dim(), "slice");
  EMBER_CHECK(step > 0, ValueError, "slice: step must be positive, but got ", step);
  const int64_t size = a.size(d);
  auto clip = [size](int64_t v) {
    if (v < 0) v += size;
    return std::clamp<int64_t>(v, 0, size);
  };
  const int64_t start = start_in ? clip(*start_in) : 0;
  const int64_t end = std::max(start, end_in ? clip(*end_in) : size);
  Shape sizes = a.sizes(), strides = a.strides();
  sizes[size_t(d)] = slice_length(start, end, step);
  // One element has no stride to speak of; keeping the old one avoids overflowing on a huge step.
  if (sizes[size_t(d)] > 1) strides[size_t(d)] = checked_mul(strides[size_t(d)], step, "slice");
  return a.as_strided(std::move(sizes), std::move(strides), a.offset() + start * a.stride(d));
}

Array narrow(const Array& a, int64_t dim, int64_t start, int64_t length) {
  EMBER_CHECK(a.dim() > 0, IndexError, "narrow: cannot narrow a 0-dim tensor");
  const int64_t d = wrap_dim(dim, a.dim(), "narrow");
  const int64_t size = a.size(d);
  EMBER_CHECK(start >= -size && start <= size, IndexError, "narrow: start (", start,
              ") is out of range for dimension ", d, " of size ", size);
  if (start < 0) start += size;
  EMBER_CHECK(length >= 0 && start + length <= size, IndexError, "narrow: start (", start,
              ") + length (", length, ") exceeds dimension size (", size, ") of dimension ", d);
  return slice(a, d, start, start + length, 1);
}

Array select(const Array& a, int64_t dim, int64_t index) {
  EMBER_CHECK(a.dim() > 0, IndexError, "select: cannot select on a 0-dim tensor");
  const int64_t d = wrap_dim(dim, a.dim(), "select");
  const int64_t size = a.size(d);
  EMBER_CHECK(index >= -size && index < size, IndexError, "select: index ", index,
              " out of range for tensor of size ", shape_str(a.sizes()), " at dimension ", d);
  if (index < 0) index += size;
  Shape sizes = a.sizes(), strides = a.strides();
  sizes.erase(sizes.begin() + d);
  strides.erase(strides.begin() + d);
  return a.as_strided(std::move(sizes), std::move(strides), a.offset() + index * a.stride(d));
}

Array flatten(const Array& a, int64_t start_dim, int64_t end_dim) {
  if (a.dim() == 0) return reshape(a, {1});
  const int64_t s = wrap_dim(start_dim, a.dim(), "flatten");
  const int64_t e = wrap_dim(end_dim, a.dim(), "flatten");
  EMBER_CHECK(s <= e, IndexError, "flatten: start_dim (", s, ") cannot come after end_dim (", e,
              ")");
  Shape sizes(a.sizes().begin(), a.sizes().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= a.size(d);
  sizes.push_back(n);
  for (int64_t d = e + 1; d < a.dim(); ++d) sizes.push_back(a.size(d));
  return reshape(a, sizes);
}

Array cat(const std::vector<Array>& arrays, int64_t dim) {
  EMBER_CHECK(!arrays.empty(), ValueError, "cat: expected a non-empty list of tensors");
  // PyTorch skips 1-D empty tensors of shape [0] whatever the others' rank (legacy behaviour).
  std::vector<const Array*> parts;
  DType dtype = arrays[0].dtype();
  for (const Array& x : arrays) {
    dtype = promote_types(dtype, x.dtype());
    if (!(x.dim() == 1 && x.size(0) == 0)) parts.push_back(&x);
  }
  if (parts.empty()) return Array::empty({0}, dtype);
  const Array& ref = *parts[0];
  EMBER_CHECK(ref.dim() > 0, ShapeError,
              "cat: zero-dimensional tensor (at position 0) cannot be "
              "concatenated");
  const int64_t d = wrap_dim(dim, ref.dim(), "cat");
  Shape out_sizes = ref.sizes();
  out_sizes[size_t(d)] = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Array& x = *parts[i];
    EMBER_CHECK(x.dim() == ref.dim(), ShapeError,
                "cat: tensors must have the same number of "
                "dimensions: got ",
                ref.dim(), " and ", x.dim(), " (shapes ", shape_str(ref.sizes()), " and ",
                shape_str(x.sizes()), ")");
    for (int64_t k = 0; k < x.dim(); ++k)
      EMBER_CHECK(k == d || x.size(k) == ref.size(k), ShapeError,
                  "cat: sizes of tensors must match except in dimension ", d, ". Expected size ",
                  ref.size(k), " but got size ", x.size(k), " for tensor number ", i,
                  " in the list (dimension ", k, ")");
    out_sizes[size_t(d)] += x.size(d);
  }
  Array out = Array::empty(out_sizes, dtype);
  int64_t offset = 0;
  for (const Array* x : parts) {
    copy_into(narrow(out, d, offset, x->size(d)), *x);
    offset += x->size(d);
  }
  return out;
}

Array stack(const std::vector<Array>& arrays, int64_t dim) {
  EMBER_CHECK(!arrays.empty(), ValueError, "stack: expected a non-empty list of tensors");
  const int64_t d = wrap_dim(dim, arrays[0].dim() + 1, "stack");
  std::vector<Array> parts;
  for (size_t i = 0; i < arrays.size(); ++i) {
    EMBER_CHECK(arrays[i].sizes() == arrays[0].sizes(), ShapeError,
                "stack: expects each tensor to be equal size, but got ",
                shape_str(arrays[0].sizes()), " at entry 0 and ", shape_str(arrays[i].sizes()),
                " at entry ", i);
    parts.push_back(unsqueeze(arrays[i], d));
  }
  return cat(parts, d);
}

namespace {

void check_index(int64_t v, int64_t size, int64_t dim, const char* op) {
  EMBER_CHECK(v >= 0 && v < size, IndexError, op, ": index ", v, " is out of bounds for dimension ",
              dim, " with size ", size);
}

void check_index_dtype(const Array& index, const char* op) {
  EMBER_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, DTypeError, op,
              ": expected an int64 or int32 index tensor, but got ", index.dtype());
}

// Index values as int64, each in [0, size) as PyTorch's index_select, gather and embedding require
// (negative positions are for Tensor::index, which wraps them before it gets here).
std::vector<int64_t> read_indices(const Array& index, int64_t size, int64_t dim, const char* op) {
  const Array idx = contiguous(cast(index, DType::Int64));
  std::vector<int64_t> out(idx.data_as<int64_t>(), idx.data_as<int64_t>() + idx.numel());
  for (int64_t v : out) check_index(v, size, dim, op);
  return out;
}

}  // namespace

void check_indices(const Array& index, int64_t size, int64_t dim, const char* op) {
  check_index_dtype(index, op);
  const Array idx = contiguous(index);
  dispatch_dtype(idx.dtype(), [&]<class T>() {
    if constexpr (std::is_integral_v<T>) {
      const T* v = idx.data_as<T>();
      for (int64_t i = 0; i < idx.numel(); ++i) check_index(int64_t(v[i]), size, dim, op);
    }
  });
}

namespace {

Array index_select_impl(const Array& a, int64_t dim, const Array& index, const char* op) {
  check_index_dtype(index, op);
  EMBER_CHECK(index.dim() <= 1, ShapeError,
              "index_select: index must be 0-D or 1-D, but got shape ", shape_str(index.sizes()));
  const int64_t d = wrap_dim(dim, a.dim(), "index_select");
  const int64_t size = a.dim() == 0 ? 1 : a.size(d);
  const std::vector<int64_t> idx = read_indices(index, size, d, op);
  if (a.dim() == 0) return contiguous(a);
  Shape out_sizes = a.sizes();
  out_sizes[size_t(d)] = int64_t(idx.size());
  Array out = Array::empty(out_sizes, a.dtype());
  if (d == 0 && a.is_contiguous()) {  // rows of memory: the embedding lookup
    const size_t row = size_t(a.numel() / std::max<int64_t>(size, 1)) * a.itemsize();
    for (size_t i = 0; i < idx.size(); ++i)
      std::memcpy(out.data() + i * row, a.data() + size_t(idx[i]) * row, row);
    return out;
  }
  for (size_t i = 0; i < idx.size(); ++i)
    copy_into(select(out, d, int64_t(i)), select(a, d, idx[i]));
  return out;
}

}  // namespace

Array index_select(const Array& a, int64_t dim, const Array& index) {
  return index_select_impl(a, dim, index, "index_select");
}

Array gather(const Array& a, int64_t dim, const Array& index) {
  check_index_dtype(index, "gather");
  EMBER_CHECK(index.dim() == a.dim(), ShapeError,
              "gather: index tensor must have the same number of dimensions as input tensor (",
              shape_str(index.sizes()), " vs ", shape_str(a.sizes()), ")");
  const int64_t d = wrap_dim(dim, a.dim(), "gather");
  for (int64_t k = 0; k < a.dim(); ++k)
    EMBER_CHECK(k == d || index.size(k) <= a.size(k), ShapeError, "gather: size of index ",
                shape_str(index.sizes()), " exceeds the input's ", shape_str(a.sizes()),
                " at dimension ", k);
  const int64_t size = a.dim() == 0 ? 1 : a.size(d);
  const std::vector<int64_t> idx = read_indices(index, size, d, "gather");
  Array out = Array::empty(index.sizes(), a.dtype());
  const Shape out_strides = contiguous_strides(index.sizes());
  dispatch_dtype(a.dtype(), [&]<class T>() {
    const T* src = a.data_as<T>();
    T* dst = out.data_as<T>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      int64_t off = 0;
      for (int64_t k = 0; k < a.dim(); ++k) {
        const int64_t pos = (i / out_strides[size_t(k)]) % index.size(k);
        off += (k == d ? idx[size_t(i)] : pos) * a.stride(k);
      }
      dst[i] = src[off];
    }
  });
  return out;
}

namespace {

// index_add (accumulate) and index_copy: a with source's slices along dim written at index's
// positions, in index order.
Array index_write(const Array& a, int64_t dim, const Array& index, const Array& source,
                  bool accumulate, const char* op) {
  check_index_dtype(index, op);
  EMBER_CHECK(a.dim() > 0, ShapeError, op, ": expected an input with at least one dimension");
  EMBER_CHECK(index.dim() <= 1, ShapeError, op, ": index must be 0-D or 1-D, but got shape ",
              shape_str(index.sizes()));
  EMBER_CHECK(source.dtype() == a.dtype(), DTypeError, op, ": source dtype ", source.dtype(),
              " does not match the input's ", a.dtype());
  const int64_t d = wrap_dim(dim, a.dim(), op);
  const std::vector<int64_t> idx = read_indices(index, a.size(d), d, op);
  Shape want = a.sizes();
  want[size_t(d)] = int64_t(idx.size());
  EMBER_CHECK(source.sizes() == want, ShapeError, op, ": source of shape ",
              shape_str(source.sizes()), " does not fit input ", shape_str(a.sizes()), " and ",
              idx.size(), " indices along dimension ", d, " (expected ", shape_str(want), ")");
  Array out = contiguous(cast(a, a.dtype()));
  // Destination offsets of source element i: its coordinates, with dim's replaced by idx.
  const Shape src_strides = contiguous_strides(source.sizes());
  const Array src = contiguous(source);
  dispatch_dtype(a.dtype(), [&]<class T>() {
    const T* s = src.data_as<T>();
    T* dst = out.data_as<T>();
    auto write = [&](T& to, T from) {
      to = accumulate ? T(compute_t<T>(to) + compute_t<T>(from)) : from;
    };
    if (d == 0) {  // rows: the embedding gradient
      const int64_t row = src.numel() / std::max<int64_t>(int64_t(idx.size()), 1);
      for (size_t i = 0; i < idx.size(); ++i) {
        T* to = dst + idx[i] * row;
        const T* from = s + int64_t(i) * row;
        for (int64_t k = 0; k < row; ++k) write(to[k], from[k]);
      }
      return;
    }
    for (int64_t i = 0; i < src.numel(); ++i) {
      int64_t off = 0;
      for (int64_t k = 0; k < src.dim(); ++k) {
        const int64_t pos = (i / src_strides[size_t(k)]) % src.size(k);
        off += (k == d ? idx[size_t(pos)] : pos) * out.stride(k);
      }
      write(dst[off], s[i]);
    }
  });
  return out;
}

}  // namespace

Array index_add(const Array& a, int64_t dim, const Array& index, const Array& source) {
  return index_write(a, dim, index, source, true, "index_add");
}
Array index_copy(const Array& a, int64_t dim, const Array& index, const Array& source) {
  return index_write(a, dim, index, source, false, "index_copy");
}

Array embedding(const Array& weight, const Array& indices) {
  EMBER_CHECK(weight.dim() == 2, ShapeError, "embedding: expected a 2-D weight, but got shape ",
              shape_str(weight.sizes()));
  check_index_dtype(indices, "embedding");
  Array rows = index_select_impl(weight, 0, reshape(indices, {indices.numel()}), "embedding");
  Shape sizes = indices.sizes();
  sizes.push_back(weight.size(1));
  return reshape(rows, sizes);
}

}  // namespace ember::kernels
