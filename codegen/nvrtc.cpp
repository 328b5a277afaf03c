// NVRTC through dlopen: the build needs neither the CUDA toolkit's headers nor its libraries, and
// a machine without NVRTC gets a BackendError saying so when a CUDA kernel is compiled.
#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "ember/codegen/cuda.h"
#include "ember/runtime/error.h"

namespace ember::codegen::cuda {
namespace {

// The part of nvrtc.h Ember calls (NVRTC's C ABI: nvrtcResult is an int, a program an opaque
// pointer).
using Program = struct ProgramOpaque*;
struct Nvrtc {
  void* handle = nullptr;
  std::string error;  // why it did not load
  const char* (*get_error_string)(int) = nullptr;
  int (*version)(int*, int*) = nullptr;
  int (*create_program)(Program*, const char*, const char*, int, const char* const*,
                        const char* const*) = nullptr;
  int (*destroy_program)(Program*) = nullptr;
  int (*compile_program)(Program, int, const char* const*) = nullptr;
  int (*get_program_log_size)(Program, size_t*) = nullptr;
  int (*get_program_log)(Program, char*) = nullptr;
  int (*get_cubin_size)(Program, size_t*) = nullptr;
  int (*get_cubin)(Program, char*) = nullptr;
};

template <class F>
bool bind(void* handle, F& f, const char* name, std::string& error) {
  f = reinterpret_cast<F>(dlsym(handle, name));
  if (!f) error = std::string("NVRTC has no ") + name;
  return f != nullptr;
}

const Nvrtc& nvrtc() {
  static const Nvrtc loaded = [] {
    Nvrtc n;
    std::vector<std::string> names;
    if (const char* path = std::getenv("EMBER_NVRTC_LIBRARY"); path && *path) names.push_back(path);
    for (const char* name :
         {"libnvrtc.so.13", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13",
          "/usr/local/cuda/lib64/libnvrtc.so"})
      names.push_back(name);
    std::string tried;
    for (const std::string& name : names) {
      n.handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (n.handle) break;
      tried += (tried.empty() ? "" : ", ") + name;
    }
    if (!n.handle) {
      n.error = "NVRTC not found (tried " + tried + "; set EMBER_NVRTC_LIBRARY)";
      return n;
    }
    const bool ok = bind(n.handle, n.get_error_string, "nvrtcGetErrorString", n.error) &&
                    bind(n.handle, n.version, "nvrtcVersion", n.error) &&
                    bind(n.handle, n.create_program, "nvrtcCreateProgram", n.error) &&
                    bind(n.handle, n.destroy_program, "nvrtcDestroyProgram", n.error) &&
                    bind(n.handle, n.compile_program, "nvrtcCompileProgram", n.error) &&
                    bind(n.handle, n.get_program_log_size, "nvrtcGetProgramLogSize", n.error) &&
                    bind(n.handle, n.get_program_log, "nvrtcGetProgramLog", n.error) &&
                    bind(n.handle, n.get_cubin_size, "nvrtcGetCUBINSize", n.error) &&
                    bind(n.handle, n.get_cubin, "nvrtcGetCUBIN", n.error);
    if (!ok) n.handle = nullptr;
    return n;
  }();
  return loaded;
}

}  // namespace

bool nvrtc_available(std::string* why) {
  const Nvrtc& n = nvrtc();
  if (!n.handle && why) *why = n.error;
  return n.handle != nullptr;
}

std::string nvrtc_version() {
  const Nvrtc& n = nvrtc();
  if (!n.handle) return "";
  int major = 0, minor = 0;
  n.version(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string compile_cubin(const Source& source, int arch) {
  const Nvrtc& n = nvrtc();
  if (!n.handle) throw BackendError("cuda", source.name, n.error);
  auto check = [&](int result, const char* what) {
    if (result != 0)
      throw BackendError("cuda", source.name,
                         std::string(what) + ": " + n.get_error_string(result));
  };
  Program program = nullptr;
  check(n.create_program(&program, source.code.c_str(), (source.name + ".cu").c_str(), 0, nullptr,
                         nullptr),
        "nvrtcCreateProgram");
  // Destroyed on every path out.
  struct Guard {
    const Nvrtc& n;
    Program& p;
    ~Guard() { n.destroy_program(&p); }
  } guard{n, program};
  const std::string gpu = "--gpu-architecture=sm_" + std::to_string(arch);
  // No FMA contraction: a*b+c rounds twice, as the CPU kernels compute it.
  const char* options[] = {gpu.c_str(), "--std=c++17", "--fmad=false"};
  const int compiled = n.compile_program(program, 3, options);
  if (compiled != 0) {
    size_t size = 0;
    n.get_program_log_size(program, &size);
    std::string log(size, '\0');
    if (size) n.get_program_log(program, log.data());
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
    throw BackendError(
        "cuda", source.name,
        std::string("NVRTC (") + gpu + "): " + n.get_error_string(compiled) + "\n" + log);
  }
  size_t size = 0;
  check(n.get_cubin_size(program, &size), "nvrtcGetCUBINSize");
  std::string cubin(size, '\0');
  check(n.get_cubin(program, cubin.data()), "nvrtcGetCUBIN");
  return cubin;
}

}  // namespace ember::codegen::cuda
