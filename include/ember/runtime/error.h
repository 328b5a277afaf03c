// Ember's three kinds of error (STYLE.md):
//  - user errors throw ember::Error or a subclass, with the op, the shapes and the dimension named;
//  - runtime failures of a backend or library (LLVM, NVRTC, CUDA) throw BackendError, an
//    ember::Error that carries the library's own message and the kernel's name;
//  - broken internal invariants throw InternalError (through EMBER_INTERNAL_ASSERT, which names
//    the invariant and the site). It is deliberately not an ember::Error: a `catch (const
//    Error&)` that handles bad input or falls back to eager never swallows a bug of ours.
#pragma once

#include <cstdint>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Shapes that do not fit an op (broadcasting, matmul, view, cat, ...).
class ShapeError : public Error {
 public:
  using Error::Error;
};
// A dtype an op does not accept.
class DTypeError : public Error {
 public:
  using Error::Error;
};
// A dimension or an index out of range.
class IndexError : public Error {
 public:
  using Error::Error;
};
// An argument value out of its domain (negative size, zero step, probability > 1, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};
// Memory could not be had.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};
// A backend or library refused or failed a kernel: the library's message and the kernel's name.
// Callers that can run the kernel's nodes another way (eagerly) do so and log the reason.
class BackendError : public Error {
 public:
  BackendError(std::string backend, std::string kernel, const std::string& message)
      : Error(backend + ": " + (kernel.empty() ? "" : kernel + ": ") + message),
        backend_(std::move(backend)),
        kernel_(std::move(kernel)) {}
  const std::string& backend() const { return backend_; }
  const std::string& kernel() const { return kernel_; }

 private:
  std::string backend_, kernel_;
};
// A broken invariant inside Ember: a bug of ours, never of the caller. Not an ember::Error (see
// the top of this file).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {

// Formats a shape as PyTorch does in its messages: [2, 3].
struct ShapeText {
  std::span<const int64_t> dims;
};
inline std::ostream& operator<<(std::ostream& os, ShapeText s) {
  os << '[';
  for (size_t i = 0; i < s.dims.size(); ++i) os << (i ? ", " : "") << s.dims[i];
  return os << ']';
}

template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace detail

inline detail::ShapeText shape_str(std::span<const int64_t> dims) { return {dims}; }
inline detail::ShapeText shape_str(const std::vector<int64_t>& dims) {
  return {std::span<const int64_t>(dims)};
}

}  // namespace ember

// Throws ErrorType with the message built from the remaining arguments when cond is false.
#define EMBER_CHECK(cond, ErrorType, ...)                    \
  do {                                                       \
    if (!(cond)) [[unlikely]]                                \
      throw ErrorType(::ember::detail::concat(__VA_ARGS__)); \
  } while (0)

#define EMBER_INTERNAL_ASSERT(cond, ...)                                                    \
  do {                                                                                      \
    if (!(cond)) [[unlikely]]                                                               \
      throw ::ember::InternalError(                                                         \
          ::ember::detail::concat("internal invariant broken at ", __FILE__, ":", __LINE__, \
                                  ": " #cond " " __VA_OPT__(, ) __VA_ARGS__));              \
  } while (0)
