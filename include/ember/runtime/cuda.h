// CUDA devices, through the driver library (libcuda.so.1) opened with dlopen on first use: a
// machine without a GPU or a driver builds and runs everything else, and is_available() says
// false there (unavailable_reason() says why).
#pragma once

#include <string>

#include "ember/runtime/array.h"
#include "ember/runtime/storage.h"

namespace ember::cuda {

// A driver that loads and initializes, and at least one device.
bool is_available();
int device_count();  // 0 where is_available() is false
// Why is_available() is false ("libcuda.so.1 not found", the driver's error, "no CUDA device"),
// or empty.
std::string unavailable_reason();
// Device i's name and compute capability (90: sm_90); BackendError for an index out of range.
std::string device_name(int index);
int compute_capability(int index);

// Kernels on device 0 (its primary context, made current on first use). load_function: the entry
// `name` of a cubin, as an opaque CUfunction; launch: grid blocks of bx * by threads with one
// argument block passed by value (the kernel's single parameter) on the default stream;
// synchronize: waits for the device. BackendError with the driver's message (and the kernel's
// name) on failure, or when there is no device.
void* load_function(const std::string& cubin, const std::string& name);
void launch(void* function, const std::string& name, unsigned grid, unsigned bx, unsigned by,
            void* args);
void synchronize();

// Device memory on device 0, not yet through a caching allocator: a contiguous copy of a CPU
// array on the device (its storage frees the memory with the last view), and a contiguous CPU
// copy of a device array or view. BackendError without a device.
Array copy_to_device(const Array& host);
// `bytes` of device memory on cuda:index (only 0 so far), freed with the storage's last view.
std::shared_ptr<Storage> allocate(size_t bytes, int index);
Array copy_to_host(const Array& device);

}  // namespace ember::cuda
