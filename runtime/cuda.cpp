#include "ember/runtime/cuda.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "ember/runtime/error.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/storage.h"

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
  // Kernels (CUcontext, CUmodule and CUfunction are opaque pointers).
  int (*primary_ctx_retain)(void**, int) = nullptr;
  int (*ctx_set_current)(void*) = nullptr;
  int (*ctx_synchronize)() = nullptr;
  int (*module_load_data)(void**, const void*) = nullptr;
  int (*module_get_function)(void**, void*, const char*) = nullptr;
  int (*mem_alloc)(uint64_t*, size_t) = nullptr;
  int (*mem_free)(uint64_t) = nullptr;
  int (*memcpy_htod)(uint64_t, const void*, size_t) = nullptr;
  int (*memcpy_dtoh)(void*, uint64_t, size_t) = nullptr;
  int (*launch_kernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                       void*, void**, void**) = nullptr;
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
    auto sym = [&](auto& f, const char* fn) {
      f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(d.handle, fn));
      return f != nullptr;
    };
    const bool kernels =
        sym(d.primary_ctx_retain, "cuDevicePrimaryCtxRetain") &&
        sym(d.ctx_set_current, "cuCtxSetCurrent") && sym(d.ctx_synchronize, "cuCtxSynchronize") &&
        sym(d.module_load_data, "cuModuleLoadData") &&
        sym(d.module_get_function, "cuModuleGetFunction") &&
        sym(d.launch_kernel, "cuLaunchKernel") && sym(d.mem_alloc, "cuMemAlloc_v2") &&
        sym(d.mem_free, "cuMemFree_v2") && sym(d.memcpy_htod, "cuMemcpyHtoD_v2") &&
        sym(d.memcpy_dtoh, "cuMemcpyDtoH_v2");
    if (!init || !get_count || !d.device_get || !d.device_get_name || !d.device_get_attribute ||
        !kernels) {
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

void check(int result, const char* what, const std::string& kernel = "") {
  if (result != 0)
    throw BackendError("cuda", kernel, std::string(what) + ": " + driver_message(driver(), result));
}

// Device 0's primary context, current on the calling thread.
void make_current() {
  static void* context = [] {
    void* c = nullptr;
    check(driver().primary_ctx_retain(&c, device(0)), "cuDevicePrimaryCtxRetain");
    return c;
  }();
  thread_local bool current = false;
  if (!current) {
    check(driver().ctx_set_current(context), "cuCtxSetCurrent");
    current = true;
  }
}

}  // namespace

void* load_function(const std::string& cubin, const std::string& name) {
  make_current();
  void* module = nullptr;  // kept loaded for the process's life, as the kernel caches are
  check(driver().module_load_data(&module, cubin.data()), "cuModuleLoadData", name);
  void* function = nullptr;
  check(driver().module_get_function(&function, module, name.c_str()), "cuModuleGetFunction", name);
  return function;
}

void launch(void* function, const std::string& name, unsigned grid, unsigned bx, unsigned by,
            void* args) {
  make_current();
  void* params[] = {args};
  check(driver().launch_kernel(function, grid, 1, 1, bx, by, 1, 0, nullptr, params, nullptr),
        "cuLaunchKernel", name);
}

void synchronize() {
  if (!is_available()) return;  // nothing can be running
  make_current();
  check(driver().ctx_synchronize(), "cuCtxSynchronize");
}

std::shared_ptr<Storage> allocate(size_t bytes, int index) {
  if (!is_available()) throw BackendError("cuda", "", "no CUDA device: " + unavailable_reason());
  if (index != 0)
    throw BackendError("cuda", "", "only device 0 is used so far, not cuda:" + std::to_string(index));
  make_current();
  uint64_t pointer = 0;
  check(driver().mem_alloc(&pointer, std::max<size_t>(bytes, 1)), "cuMemAlloc");
  return Storage::wrap(reinterpret_cast<void*>(pointer), bytes, Device(kCUDA, 0),
                       [](void* p) { driver().mem_free(reinterpret_cast<uint64_t>(p)); });
}

Array copy_to_device(const Array& host) {
  EMBER_CHECK(host.device().is_cpu(), ValueError, "copy_to_device: the array is already on ",
              host.device());
  const Array dense = kernels::contiguous(host);
  const size_t bytes = size_t(dense.numel()) * dense.itemsize();
  auto storage = allocate(bytes, 0);
  if (bytes)
    check(driver().memcpy_htod(reinterpret_cast<uint64_t>(storage->data()), dense.data(), bytes),
          "cuMemcpyHtoD");
  return Array(std::move(storage), dense.dtype(), dense.sizes(), dense.strides(), 0);
}

Array copy_to_host(const Array& device) {
  EMBER_CHECK(device.device().is_cuda(), ValueError, "copy_to_host: the array is on ",
              device.device());
  make_current();
  // The storage as a whole (a view's offset and strides then mean the same on the host), then a
  // contiguous copy of the view.
  const size_t bytes = device.storage()->nbytes();
  Array raw = Array::empty({int64_t(bytes)}, DType::UInt8);
  if (bytes)
    check(driver().memcpy_dtoh(raw.data(), reinterpret_cast<uint64_t>(device.storage()->data()),
                               bytes),
          "cuMemcpyDtoH");
  const Array view(raw.storage(), device.dtype(), device.sizes(), device.strides(),
                   device.offset());
  return kernels::contiguous(view);
}

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
