// Storage: one block of memory that tensors view. Views share it through shared_ptr; the block
// goes back to its allocator (or to the owner's deleter, for from_blob) with the last view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "ember/runtime/device.h"

namespace ember {

class Storage {
 public:
  // nbytes of fresh memory from the caching allocator of the device.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device());
  // Memory owned by the caller; deleter (if any) runs when the last view goes.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device,
                                       std::function<void(void*)> deleter = nullptr);

  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter,
          bool from_allocator);
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Counts in-place writes through any view of the storage (autograd's saved tensors check it).
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> deleter_;
  bool from_allocator_;
  uint64_t version_ = 0;
};

}  // namespace ember
