// The optimizers' fused updates: every parameter of a step in one parallel pass, each element read
// and written once (parameter, gradient and state together), where the unfused form makes a
// temporary per arithmetic op. The ranges of all parameters are laid end to end and split into
// chunks, so a model of many small tensors still fills the pool.
#include <algorithm>
#include <cmath>

#include "ember/runtime/kernels.h"
#include "ember/runtime/thread_pool.h"

namespace ember::kernels {
namespace {

bool fusable(const Array& a, const Array& like) {
  return a.defined() && a.is_contiguous() && a.dtype() == like.dtype() && a.sizes() == like.sizes();
}

// f(slot, begin, end) over every slot's elements, chunked across the pool.
template <class F>
void for_each_chunk(std::span<const UpdateSlot> slots, const F& f) {
  std::vector<int64_t> starts{0};
  for (const UpdateSlot& s : slots) starts.push_back(starts.back() + s.param.numel());
  parallel_for(0, starts.back(), 16384, [&](int64_t begin, int64_t end) {
    size_t i = size_t(std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin()) - 1;
    for (; i < slots.size() && starts[i] < end; ++i) {
      const int64_t lo = std::max(begin, starts[i]) - starts[i];
      const int64_t hi = std::min(end, starts[i + 1]) - starts[i];
      if (lo < hi) f(slots[i], lo, hi);
    }
  });
}

void bump(const Array& a) {
  if (a.storage()) a.storage()->bump_version();
}

}  // namespace

bool can_fuse_update(const UpdateSlot& s, int states) {
  const Array* state[] = {&s.a, &s.b, &s.c};
  if (!(s.param.dtype() == DType::Float32 || s.param.dtype() == DType::Float64)) return false;
  if (!s.param.is_contiguous() || !fusable(s.grad, s.param)) return false;
  for (int k = 0; k < states; ++k)
    if (!fusable(*state[k], s.param)) return false;
  return true;
}

void sgd_update(std::span<const UpdateSlot> slots, const SgdHyper& h) {
  for_each_chunk(slots, [&](const UpdateSlot& s, int64_t lo, int64_t hi) {
    dispatch_dtype(s.param.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        T* p = s.param.data_as<T>();
        const T* grad = s.grad.data_as<T>();
        T* buf = h.momentum != 0 ? s.a.data_as<T>() : nullptr;
        const T lr = T(s.lr), wd = T(h.weight_decay), mom = T(h.momentum),
                keep = T(1 - h.dampening);
        const bool first = s.step == 1;
        for (int64_t i = lo; i < hi; ++i) {
          T g = grad[i] + wd * p[i];
          if (buf) {
            buf[i] = first ? g : mom * buf[i] + keep * g;
            g = h.nesterov ? g + mom * buf[i] : buf[i];
          }
          p[i] -= lr * g;
        }
      }
    });
  });
  for (const UpdateSlot& s : slots) bump(s.param);
}

void adam_update(std::span<const UpdateSlot> slots, const AdamHyper& h) {
  for_each_chunk(slots, [&](const UpdateSlot& s, int64_t lo, int64_t hi) {
    dispatch_dtype(s.param.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        T* p = s.param.data_as<T>();
        const T* grad = s.grad.data_as<T>();
        T *m = s.a.data_as<T>(), *v = s.b.data_as<T>();
        T* vmax = h.amsgrad ? s.c.data_as<T>() : nullptr;
        const double bias1 = 1 - std::pow(h.beta1, double(s.step));
        const double bias2 = 1 - std::pow(h.beta2, double(s.step));
        const T b1 = T(h.beta1), b2 = T(h.beta2), eps = T(h.eps);
        const T step_size = T(s.lr / bias1), inv_root_bias2 = T(1 / std::sqrt(bias2));
        const T decay = h.decoupled ? T(1 - s.lr * h.weight_decay) : T(1);
        const T l2 = h.decoupled ? T(0) : T(h.weight_decay);
        for (int64_t i = lo; i < hi; ++i) {
          const T g = grad[i] + l2 * p[i];
          m[i] = b1 * m[i] + (1 - b1) * g;
          v[i] = b2 * v[i] + (1 - b2) * g * g;
          T second = v[i];
          if (vmax) second = vmax[i] = std::max(vmax[i], second);
          const T denom = std::sqrt(second) * inv_root_bias2 + eps;
          p[i] = p[i] * decay - step_size * m[i] / denom;
        }
      }
    });
  });
  for (const UpdateSlot& s : slots) bump(s.param);
}

}  // namespace ember::kernels
