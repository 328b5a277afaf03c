#include "ember/runtime/cuda.h"

#include <dlfcn.h>

#include <cstdlib>

#include "ember/runtime/error.h"

namespace ember::cuda {
namespace {

// The few driver entry points device discovery needs (CUresult is an int, CUdevice an int).
struct Driver {
  void* handle = nullptr;
  std::string error;  // why it is not usable
  int count = 0;
  int (*get_error_string)(int, const char**) = nullptr;
  int (*device_get)(int*, int) = nullptr;
  int (*device_get_name)(char*, int, int) = nullptr;
  int (*device_get_attribute)(int*, int, int) = nullptr;
};

std::string driver_message(const Driver& d, int result) {
  const char* text = nullptr;
  if (d.get_error_string) d.get_error_string(result, &text);
  return text ? text : "CUDA driver error " + std::to_string(result);
}

const Driver& driver() {
  static const Driver loaded = [] {
    Driver d;
    const char* path = std::getenv("EMBER_CUDA_DRIVER_LIBRARY");
    const std::string name = path && *path ? path : "libcuda.so.1";
    d.handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!d.handle) {
      d.error = name + " not found: no NVIDIA driver on this machine";
      return d;
    }
    auto* init = reinterpret_cast<int (*)(unsigned)>(dlsym(d.handle, "cuInit"));
    auto* get_count = reinterpret_cast<int (*)(int*)>(dlsym(d.handle, "cuDeviceGetCount"));
    d.get_error_string =
        reinterpret_cast<int (*)(int, const char**)>(dlsym(d.handle, "cuGetErrorString"));
    d.device_get = reinterpret_cast<int (*)(int*, int)>(dlsym(d.handle, "cuDeviceGet"));
    d.device_get_name =
        reinterpret_cast<int (*)(char*, int, int)>(dlsym(d.handle, "cuDeviceGetName"));
    d.device_get_attribute =
        reinterpret_cast<int (*)(int*, int, int)>(dlsym(d.handle, "cuDeviceGetAttribute"));
    if (!init || !get_count || !d.device_get || !d.device_get_name || !d.device_get_attribute) {
      d.error = name + " lacks the driver API Ember needs";
      return d;
    }
    if (int r = init(0); r != 0) {
      d.error = "cuInit: " + driver_message(d, r);
      return d;
    }
    if (int r = get_count(&d.count); r != 0) {
      d.error = "cuDeviceGetCount: " + driver_message(d, r);
      d.count = 0;
      return d;
    }
    if (d.count == 0) d.error = "no CUDA device";
    return d;
  }();
  return loaded;
}

int device(int index) {
  const Driver& d = driver();
  if (index < 0 || index >= d.count)
    throw BackendError("cuda", "",
                       "device " + std::to_string(index) + " does not exist (" +
                           std::to_string(d.count) + " CUDA device" + (d.count == 1 ? "" : "s") +
                           (d.error.empty() ? "" : "; " + d.error) + ")");
  int dev = 0;
  if (int r = d.device_get(&dev, index); r != 0)
    throw BackendError("cuda", "", "cuDeviceGet: " + driver_message(d, r));
  return dev;
}

}  // namespace

bool is_available() { return driver().count > 0; }
int device_count() { return driver().count; }
std::string unavailable_reason() { return driver().error; }

std::string device_name(int index) {
  const int dev = device(index);
  char name[256] = {};
  if (int r = driver().device_get_name(name, sizeof name, dev); r != 0)
    throw BackendError("cuda", "", "cuDeviceGetName: " + driver_message(driver(), r));
  return name;
}

int compute_capability(int index) {
  const int dev = device(index);
  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76.
  int major = 0, minor = 0;
  driver().device_get_attribute(&major, 75, dev);
  driver().device_get_attribute(&minor, 76, dev);
  return major * 10 + minor;
}

}  // namespace ember::cuda
