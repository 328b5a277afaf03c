// CUDA devices, through the driver library (libcuda.so.1) opened with dlopen on first use: a
// machine without a GPU or a driver builds and runs everything else, and is_available() says
// false there (unavailable_reason() says why).
#pragma once

#include <string>

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

}  // namespace ember::cuda
