#include "ember/runtime/storage.h"

#include "ember/runtime/allocator.h"
#include "ember/runtime/cuda.h"
#include "ember/runtime/error.h"

namespace ember {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (device.is_cuda()) return cuda::allocate(nbytes, device.index);
  void* p = CachingCpuAllocator::instance().allocate(nbytes);
  return std::make_shared<Storage>(p, nbytes, device, nullptr, true);
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device,
                                       std::function<void(void*)> deleter) {
  return std::make_shared<Storage>(data, nbytes, device, std::move(deleter), false);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter,
                 bool from_allocator)
    : data_(data),
      nbytes_(nbytes),
      device_(device),
      deleter_(std::move(deleter)),
      from_allocator_(from_allocator) {}

Storage::~Storage() {
  if (from_allocator_)
    CachingCpuAllocator::instance().deallocate(data_, nbytes_);
  else if (deleter_)
    deleter_(data_);
}

}  // namespace ember
