// Bytes in and out for Ember's binary formats (serialized plans, exported model files):
// little-endian fixed-width numbers, strings and lists prefixed by their length. Every read is
// bounds-checked: malformed bytes are a ValueError naming the format, the field and the offset,
// never a read past the end or an allocation the bytes cannot back.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "ember/runtime/dtype.h"
#include "ember/runtime/error.h"

namespace ember::codegen {

class ByteWriter {
 public:
  void bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  template <class T>
  requires std::is_arithmetic_v<T>
  void num(T v) { bytes(&v, sizeof v); }
  void size(size_t n) { num(uint64_t(n)); }
  void str(std::string_view s) {
    size(s.size());
    bytes(s.data(), s.size());
  }
  void dtype(DType d) { num(uint8_t(d)); }
  size_t position() const { return out_.size(); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  // format names the bytes in messages ("plan", "model file").
  ByteReader(std::string_view in, const char* format) : in_(in), format_(format) {}

  void bytes(void* p, size_t n, const char* what) {
    EMBER_CHECK(n <= in_.size() - at_, ValueError, format_, ": truncated (reading ", what,
                " at byte ", at_, ")");
    std::memcpy(p, in_.data() + at_, n);
    at_ += n;
  }
  // n bytes in place, without a copy.
  std::string_view view(size_t n, const char* what) {
    EMBER_CHECK(n <= in_.size() - at_, ValueError, format_, ": truncated (reading ", what,
                " at byte ", at_, ")");
    const std::string_view v = in_.substr(at_, n);
    at_ += n;
    return v;
  }
  template <class T>
  T num(const char* what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  // A count of items that each take at least one byte: never more than what is left.
  size_t count(const char* what) {
    const uint64_t n = num<uint64_t>(what);
    EMBER_CHECK(n <= in_.size() - at_, ValueError, format_, ": ", what, " count ", n,
                " exceeds the bytes left");
    return size_t(n);
  }
  size_t index(size_t limit, const char* what) {
    const uint64_t v = num<uint64_t>(what);
    EMBER_CHECK(v < limit, ValueError, format_, ": ", what, " ", v, " out of range (", limit, ")");
    return size_t(v);
  }
  bool flag(const char* what) {
    const uint8_t v = num<uint8_t>(what);
    EMBER_CHECK(v <= 1, ValueError, format_, ": ", what, " is not a bool");
    return v == 1;
  }
  std::string str(const char* what) {
    std::string s(count(what), '\0');
    bytes(s.data(), s.size(), what);
    return s;
  }
  DType dtype(const char* what) {
    const uint8_t v = num<uint8_t>(what);
    EMBER_CHECK(v <= uint8_t(DType::Float64), ValueError, format_, ": ", what, " has no dtype ",
                int(v));
    return DType(v);
  }
  bool done() const { return at_ == in_.size(); }
  size_t position() const { return at_; }
  const char* format() const { return format_; }

 private:
  std::string_view in_;
  const char* format_;
  size_t at_ = 0;
};

}  // namespace ember::codegen
