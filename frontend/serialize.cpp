#include "ember/frontend/serialize.h"

#include "ember/runtime/npy.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "ember/frontend/autograd.h"
#include "ember/frontend/ops.h"
#include "ember/nn/module.h"
#include "ember/runtime/checked.h"

namespace ember {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

constexpr uint64_t kMaxHeaderBytes = 100 << 20;  // the format's own limit

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::Bool, "BOOL"},     {DType::UInt8, "U8"},    {DType::Int8, "I8"},
    {DType::Int32, "I32"},     {DType::Int64, "I64"},   {DType::Float16, "F16"},
    {DType::BFloat16, "BF16"}, {DType::Float32, "F32"}, {DType::Float64, "F64"},
};

const char* safetensors_name(DType d) {
  for (const DTypeName& n : kDTypeNames)
    if (n.dtype == d) return n.name;
  throw InternalError("safetensors: no name for a dtype");
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

// A JSON reader for the header's grammar: one object whose values are objects of strings,
// arrays of non-negative integers, or (for __metadata__) strings. Anything else is a ValueError.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : s_(text) {}

  struct Entry {
    std::string dtype;
    std::vector<uint64_t> shape;
    std::vector<uint64_t> offsets;
  };

  void parse(std::map<std::string, Entry>& entries, std::map<std::string, std::string>& metadata) {
    expect('{');
    if (peek() == '}') {
      ++i_;
    } else {
      do {
        const std::string name = string();
        expect(':');
        if (name == "__metadata__") {
          expect('{');
          if (peek() == '}') {
            ++i_;
          } else {
            do {
              const std::string key = string();
              expect(':');
              metadata[key] = string();
            } while (accept(','));
            expect('}');
          }
          continue;
        }
        EMBER_CHECK(!entries.count(name), ValueError, "safetensors: tensor '", name,
                    "' appears twice in the header");
        entries[name] = entry(name);
      } while (accept(','));
      expect('}');
    }
    skip_space();
    EMBER_CHECK(i_ == s_.size(), ValueError, "safetensors: trailing characters after the header");
  }

 private:
  Entry entry(const std::string& name) {
    Entry e;
    bool dtype = false, shape = false, offsets = false;
    expect('{');
    do {
      const std::string key = string();
      expect(':');
      if (key == "dtype") {
        e.dtype = string();
        dtype = true;
      } else if (key == "shape") {
        e.shape = integers();
        shape = true;
      } else if (key == "data_offsets") {
        e.offsets = integers();
        offsets = true;
      } else {
        fail("unknown field '" + key + "' of tensor '" + name + "'");
      }
    } while (accept(','));
    expect('}');
    EMBER_CHECK(dtype && shape && offsets, ValueError, "safetensors: tensor '", name,
                "' lacks dtype, shape or data_offsets");
    EMBER_CHECK(e.offsets.size() == 2, ValueError, "safetensors: tensor '", name, "' has ",
                e.offsets.size(), " data offsets, not 2");
    return e;
  }
  std::vector<uint64_t> integers() {
    std::vector<uint64_t> out;
    expect('[');
    if (peek() == ']') {
      ++i_;
      return out;
    }
    do {
      skip_space();
      EMBER_CHECK(i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])), ValueError,
                  "safetensors: expected a non-negative integer at header byte ", i_);
      uint64_t v = 0;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        EMBER_CHECK(v <= (UINT64_MAX - 9) / 10, ValueError, "safetensors: integer too large");
        v = v * 10 + uint64_t(s_[i_++] - '0');
      }
      out.push_back(v);
    } while (accept(','));
    expect(']');
    return out;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        EMBER_CHECK(i_ < s_.size(), ValueError, "safetensors: unterminated string");
        c = s_[i_++];
        if (c == 'u') {
          EMBER_CHECK(i_ + 4 <= s_.size(), ValueError, "safetensors: bad \\u escape");
          const unsigned code = unsigned(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
          i_ += 4;
          EMBER_CHECK(code < 0x80, ValueError,
                      "safetensors: non-ASCII \\u escapes in names are not supported");
          c = char(code);
        } else if (c == 'n') {
          c = '\n';
        } else if (c == 't') {
          c = '\t';
        } else if (c != '"' && c != '\\' && c != '/') {
          fail(std::string("bad escape \\") + c);
        }
      }
      out += c;
    }
    EMBER_CHECK(i_ < s_.size(), ValueError, "safetensors: unterminated string in the header");
    ++i_;
    return out;
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  char peek() {
    skip_space();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool accept(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'");
  }
  [[noreturn]] void fail(const std::string& what) {
    throw ValueError("safetensors: malformed header at byte " + std::to_string(i_) + ": " + what);
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

void save_safetensors(const std::map<std::string, Tensor>& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<Array> data;
  std::string header = "{";
  uint64_t offset = 0;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
      first = false;
    }
    header += "}";
  }
  for (const auto& [name, t] : tensors) {
    EMBER_CHECK(name != "__metadata__", ValueError, "save_safetensors: '__metadata__' is reserved");
    EMBER_CHECK(t.defined() && !t.is_traced(), ValueError, "save_safetensors: tensor '", name,
                "' is undefined or traced");
    const Array a = kernels::contiguous(t.array());
    const uint64_t bytes = uint64_t(a.numel()) * a.itemsize();
    std::string shape;
    for (int64_t s : a.sizes()) shape += (shape.empty() ? "" : ",") + std::to_string(s);
    header += std::string(header.size() > 1 ? "," : "") + json_string(name) + ":{\"dtype\":\"" +
              safetensors_name(a.dtype()) + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
    data.push_back(a);
  }
  header += "}";
  while (header.size() % 8) header += ' ';  // the data starts 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  EMBER_CHECK(bool(out), Error, "save_safetensors: cannot open ", path, " for writing");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), std::streamsize(header.size()));
  for (const Array& a : data)
    out.write(static_cast<const char*>(a.data()),
              std::streamsize(a.numel() * int64_t(a.itemsize())));
  EMBER_CHECK(bool(out.flush()), Error, "save_safetensors: writing ", path, " failed");
}

std::map<std::string, Tensor> load_safetensors(const std::string& path,
                                               std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EMBER_CHECK(bool(in), ValueError, "load_safetensors: cannot open ", path);
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  EMBER_CHECK(file_size >= 8, ValueError, "load_safetensors: ", path,
              " is too short for a header length (", file_size, " bytes)");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | len[i];
  EMBER_CHECK(header_size <= kMaxHeaderBytes && header_size <= file_size - 8, ValueError,
              "load_safetensors: ", path, ": header length ", header_size,
              " does not fit the file (", file_size, " bytes)");
  std::string header(size_t(header_size), '\0');
  in.read(header.data(), std::streamsize(header_size));
  std::map<std::string, HeaderParser::Entry> entries;
  std::map<std::string, std::string> meta;
  HeaderParser(header).parse(entries, meta);
  // Every entry checked, and the tensors tiling the data exactly, before any data is read.
  const uint64_t data_size = file_size - 8 - header_size;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  std::map<std::string, DType> dtypes;
  for (const auto& [name, e] : entries) {
    const DTypeName* known = nullptr;
    for (const DTypeName& n : kDTypeNames)
      if (e.dtype == n.name) known = &n;
    EMBER_CHECK(known != nullptr, ValueError, "load_safetensors: tensor '", name,
                "' has the dtype '", e.dtype, "', which Ember does not have");
    uint64_t bytes = itemsize(known->dtype);
    for (uint64_t s : e.shape) {
      EMBER_CHECK(s == 0 || bytes <= UINT64_MAX / s, ValueError, "load_safetensors: tensor '", name,
                  "' is too large");
      bytes *= s;
    }
    EMBER_CHECK(e.offsets[0] <= e.offsets[1] && e.offsets[1] <= data_size &&
                    e.offsets[1] - e.offsets[0] == bytes,
                ValueError, "load_safetensors: tensor '", name, "' spans bytes [", e.offsets[0],
                ", ", e.offsets[1], ") for ", bytes, " bytes of data in a ", data_size,
                "-byte buffer");
    spans.push_back({e.offsets[0], e.offsets[1]});
    dtypes[name] = known->dtype;
  }
  std::sort(spans.begin(), spans.end());
  uint64_t covered = 0;
  for (const auto& [b, e] : spans) {
    EMBER_CHECK(b == covered, ValueError, "load_safetensors: ", path,
                ": the tensors overlap or leave a hole at byte ", covered, " of the data");
    covered = e;
  }
  EMBER_CHECK(covered == data_size, ValueError, "load_safetensors: ", path, ": ",
              data_size - covered, " bytes of data belong to no tensor");
  std::map<std::string, Tensor> out;
  const std::streamoff base = std::streamoff(8 + header_size);
  for (const auto& [name, e] : entries) {
    Shape sizes;
    for (uint64_t s : e.shape) sizes.push_back(int64_t(s));
    Array a = Array::empty(sizes, dtypes[name]);
    in.seekg(base + std::streamoff(e.offsets[0]));
    in.read(static_cast<char*>(a.data()), std::streamsize(e.offsets[1] - e.offsets[0]));
    EMBER_CHECK(bool(in), ValueError, "load_safetensors: reading tensor '", name, "' failed");
    out.emplace(name, Tensor(std::move(a)));
  }
  if (metadata) *metadata = std::move(meta);
  return out;
}

void save_npy(const Tensor& tensor, const std::string& path) {
  EMBER_CHECK(tensor.defined() && !tensor.is_traced(), ValueError,
              "save_npy: the tensor is undefined or traced");
  const Array a = kernels::contiguous(tensor.array());
  write_npy(path, a.dtype(), std::vector<int64_t>(a.sizes().begin(), a.sizes().end()), a.data(),
            "save_npy");
}

Tensor load_npy(const std::string& path) {
  NpyArray file = read_npy(path, "load_npy");
  Array a = Array::empty(Shape(file.sizes), file.dtype);
  if (!file.data.empty()) std::memcpy(a.data(), file.data.data(), file.data.size());
  return Tensor(std::move(a));
}

void save(const nn::Module& module, const std::string& path) {
  std::map<std::string, Tensor> tensors;
  for (const auto& p : module.named_parameters()) tensors[p.key()] = p.value().detach();
  for (const auto& b : module.named_buffers()) tensors[b.key()] = b.value();
  save_safetensors(tensors, path);
}

void load(nn::Module& module, const std::string& path) {
  std::map<std::string, Tensor> file = load_safetensors(path);
  std::map<std::string, Tensor> wanted;
  for (const auto& p : module.named_parameters()) wanted[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) wanted[b.key()] = b.value();
  for (const auto& [name, t] : wanted) {
    auto it = file.find(name);
    EMBER_CHECK(it != file.end(), ValueError, "load: ", path, " has no tensor '", name, "'");
    EMBER_CHECK(it->second.sizes().vec() == t.sizes().vec() && it->second.dtype() == t.dtype(),
                ValueError, "load: tensor '", name, "' is ", dtype_name(it->second.dtype()),
                shape_str(it->second.sizes()), " in ", path, " but ", dtype_name(t.dtype()),
                shape_str(t.sizes()), " in the module");
  }
  for (const auto& [name, t] : file)
    EMBER_CHECK(wanted.count(name), ValueError, "load: the module has no parameter or buffer '",
                name, "' that ", path, " holds");
  NoGradGuard no_grad;
  for (auto& [name, t] : wanted) Tensor(t).copy_(file.at(name));
}

}  // namespace ember
