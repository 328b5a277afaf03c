#include "ember/runtime/npy.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ember/runtime/checked.h"
#include "ember/runtime/error.h"

namespace ember {
namespace {

struct NpyType {
  DType dtype;
  const char* descr;
};
constexpr NpyType kNpyTypes[] = {
    {DType::Float32, "<f4"}, {DType::Float64, "<f8"}, {DType::Float16, "<f2"},
    {DType::Int64, "<i8"},   {DType::Int32, "<i4"},   {DType::Int8, "|i1"},
    {DType::UInt8, "|u1"},   {DType::Bool, "|b1"},
};

// The value of 'key' in a .npy header's Python dict literal, as its text.
std::string npy_field(const std::string& header, const std::string& key, const std::string& path,
                      const char* who) {
  const size_t at = header.find("'" + key + "'");
  EMBER_CHECK(at != std::string::npos, ValueError, who, ": ", path, ": the header has no '", key,
              "'");
  size_t i = header.find(':', at);
  EMBER_CHECK(i != std::string::npos, ValueError, who, ": ", path, ": malformed header");
  ++i;
  while (i < header.size() && header[i] == ' ') ++i;
  EMBER_CHECK(i < header.size(), ValueError, who, ": ", path, ": malformed header");
  size_t end = i;
  if (header[i] == '\'') {
    end = header.find('\'', i + 1);
    EMBER_CHECK(end != std::string::npos, ValueError, who, ": ", path, ": malformed header");
    return header.substr(i + 1, end - i - 1);
  }
  if (header[i] == '(') {
    end = header.find(')', i);
    EMBER_CHECK(end != std::string::npos, ValueError, who, ": ", path, ": malformed header");
    return header.substr(i + 1, end - i - 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(i, end - i);
}

// Fortran-order bytes (the first index fastest) of an array of `sizes` as C-order bytes.
std::string fortran_to_c(const std::string& in, const std::vector<int64_t>& sizes, size_t item) {
  std::string out(in.size(), '\0');
  const size_t rank = sizes.size();
  std::vector<int64_t> index(rank, 0), f_stride(rank, 1);
  for (size_t d = 1; d < rank; ++d) f_stride[d] = f_stride[d - 1] * sizes[d - 1];
  const size_t n = item ? in.size() / item : 0;
  for (size_t c = 0; c < n; ++c) {
    int64_t f = 0;
    for (size_t d = 0; d < rank; ++d) f += index[d] * f_stride[d];
    std::memcpy(&out[c * item], &in[size_t(f) * item], item);
    for (size_t d = rank; d-- > 0;) {  // the next C-order index: the last dim fastest
      if (++index[d] < sizes[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

NpyArray read_npy(const std::string& path, const char* who) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EMBER_CHECK(bool(in), ValueError, who, ": cannot open ", path);
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  char magic[8] = {};
  in.read(magic, 8);
  EMBER_CHECK(bool(in) && std::memcmp(magic, "\x93NUMPY", 6) == 0, ValueError, who, ": ", path,
              " is not a .npy file");
  const int major = magic[6];
  EMBER_CHECK(major == 1 || major == 2, ValueError, who, ": ", path, ": version ", major,
              " is not supported");
  unsigned char len_bytes[4] = {};
  in.read(reinterpret_cast<char*>(len_bytes), major == 1 ? 2 : 4);
  uint64_t len = 0;
  for (int i = (major == 1 ? 1 : 3); i >= 0; --i) len = (len << 8) | len_bytes[i];
  const uint64_t data_start = 8 + (major == 1 ? 2 : 4) + len;
  EMBER_CHECK(bool(in) && data_start <= file_size, ValueError, who, ": ", path,
              ": the header does not fit the file");
  std::string header(size_t(len), '\0');
  in.read(header.data(), std::streamsize(len));
  const std::string descr = npy_field(header, "descr", path, who);
  const NpyType* type = nullptr;
  for (const NpyType& t : kNpyTypes)
    if (descr == t.descr ||
        (!descr.empty() && descr[0] == '=' && descr.substr(1) == std::string(t.descr + 1)))
      type = &t;
  EMBER_CHECK(type != nullptr, ValueError, who, ": ", path, ": the dtype '", descr,
              "' is not one Ember reads (little-endian bool, int8/32/64, uint8, float16/32/64)");
  const bool fortran = npy_field(header, "fortran_order", path, who) == "True";
  // The shape: sizes of decimal digits, their product in bytes checked against the file before
  // anything is allocated.
  NpyArray out;
  out.dtype = type->dtype;
  std::stringstream dims(npy_field(header, "shape", path, who));
  uint64_t bytes = itemsize(type->dtype);
  for (std::string item; std::getline(dims, item, ',');) {
    const size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    if (first == std::string::npos) continue;
    int64_t v = 0;
    for (size_t i = first; i <= last; ++i) {
      EMBER_CHECK(std::isdigit(static_cast<unsigned char>(item[i])), ValueError, who, ": ", path,
                  ": the shape holds '", item, "', which is not a size");
      v = checked_add(checked_mul(v, 10, who), item[i] - '0', who);
    }
    out.sizes.push_back(v);
    bytes =
        v == 0 ? 0 : (bytes > (uint64_t(1) << 62) / uint64_t(v) ? UINT64_MAX : bytes * uint64_t(v));
  }
  EMBER_CHECK(file_size - data_start == bytes, ValueError, who, ": ", path, " holds ",
              file_size - data_start, " bytes of data for a shape of ",
              bytes == UINT64_MAX ? std::string("more than 2^62") : std::to_string(bytes));
  out.data.resize(size_t(bytes));
  in.seekg(std::streamoff(data_start));
  in.read(out.data.data(), std::streamsize(bytes));
  EMBER_CHECK(bool(in), ValueError, who, ": reading ", path, " failed");
  if (fortran && out.sizes.size() > 1)
    out.data = fortran_to_c(out.data, out.sizes, itemsize(type->dtype));
  return out;
}

void write_npy(const std::string& path, DType dtype, const std::vector<int64_t>& sizes,
               const void* data, const char* who) {
  const NpyType* type = nullptr;
  for (const NpyType& t : kNpyTypes)
    if (t.dtype == dtype) type = &t;
  EMBER_CHECK(type != nullptr, DTypeError, who, ": NumPy has no dtype for ", dtype);
  std::string shape;
  int64_t numel = 1;
  for (int64_t s : sizes) {
    shape += std::to_string(s) + ", ";
    numel *= s;
  }
  if (sizes.size() > 1) shape.resize(shape.size() - 2);  // "(3, 4)"; a 1-D shape keeps "(3,)"
  if (sizes.size() == 1) shape.resize(shape.size() - 1);
  std::string header = std::string("{'descr': '") + type->descr +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';  // data 64-byte aligned
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  EMBER_CHECK(bool(out), Error, who, ": cannot open ", path, " for writing");
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = uint16_t(header.size());
  out.put(char(len & 0xff));
  out.put(char(len >> 8));
  out << header;
  out.write(static_cast<const char*>(data), std::streamsize(numel * int64_t(itemsize(dtype))));
  EMBER_CHECK(bool(out.flush()), Error, who, ": writing ", path, " failed");
}

}  // namespace ember
