// Where a tensor lives. CUDA tensors can be made and copied (Tensor::to, cuda(), cpu()) where a
// device is; ops on them come with the GPU backend's eager kernels, and fail with a clear error
// until then.
#pragma once

#include <cstdint>
#include <ostream>

namespace ember {

enum class DeviceType : uint8_t { CPU, CUDA };
inline constexpr DeviceType kCPU = DeviceType::CPU;
inline constexpr DeviceType kCUDA = DeviceType::CUDA;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}
  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  friend constexpr bool operator==(Device, Device) = default;
};

inline std::ostream& operator<<(std::ostream& os, Device d) {
  if (d.is_cpu()) return os << "cpu";
  return os << "cuda:" << d.index;
}

}  // namespace ember
