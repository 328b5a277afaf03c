// Array: a strided view of typed storage, the value the eager kernels read and write. It knows
// nothing of autograd or tracing (those live in frontend's Tensor); the reference interpreter of
// the IR runs on Arrays too. Sizes and strides are in elements; views share storage.
#pragma once

#include <cstdint>
#include <memory>

#include "ember/runtime/device.h"
#include "ember/runtime/dtype.h"
#include "ember/runtime/shape.h"
#include "ember/runtime/storage.h"

namespace ember {

class Array {
 public:
  Array() = default;
  Array(std::shared_ptr<Storage> storage, DType dtype, Shape sizes, Shape strides, int64_t offset);

  // A fresh contiguous array (uninitialized memory).
  static Array empty(IntArrayRef sizes, DType dtype, Device device = Device());
  // A 0-dim array holding one value converted to dtype.
  static Array scalar(double value, DType dtype);
  // The same from an integer, exact in integer dtypes (which wrap it), rounded in float ones.
  static Array scalar_int(int64_t value, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device(); }
  const Shape& sizes() const { return sizes_; }
  const Shape& strides() const { return strides_; }
  int64_t size(int64_t d) const { return sizes_[size_t(d)]; }
  int64_t stride(int64_t d) const { return strides_[size_t(d)]; }
  int64_t dim() const { return int64_t(sizes_.size()); }
  int64_t numel() const { return numel_; }
  int64_t offset() const { return offset_; }
  size_t itemsize() const { return ember::itemsize(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Address of the first element (storage base + offset), for CPU code: a CUDA array's memory is
  // not readable here (Error: copy it with .cpu() first).
  char* data() const {
    EMBER_CHECK(storage_ != nullptr, Error,
                "this tensor has no data (a traced tensor used outside its trace?)");
    EMBER_CHECK(storage_->device().is_cpu(), Error, "a tensor on ", storage_->device(),
                " was read by CPU code; only copies (.cpu(), .to(kCPU)) read CUDA memory so far");
    return device_data();
  }
  // The same on any device (a CUDA array's device address): for copies and kernel launches.
  char* device_data() const {
    EMBER_CHECK(storage_ != nullptr, Error,
                "this tensor has no data (a traced tensor used outside its trace?)");
    return static_cast<char*>(storage_->data()) + offset_ * int64_t(itemsize());
  }
  template <class T>
  T* data_as() const {
    return reinterpret_cast<T*>(data());
  }

  // A view of the same storage.
  Array as_strided(Shape sizes, Shape strides, int64_t offset) const;
  // The element at a flat row-major index, as a double (slow: for printing and item()).
  double element_as_double(int64_t flat_index) const;

 private:
  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::Float32;
  Shape sizes_;
  Shape strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
};

}  // namespace ember
