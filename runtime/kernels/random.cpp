// Creation kernels: full, arange and the random fills. Random values come from Philox4x32-10 with
// the global seed as key and (element group, call offset) as counter: every call takes a fresh
// offset, and each group of four values depends only on its position, so results are the same on
// any number of threads.
#include <cmath>
#include <mutex>

#include "ember/runtime/kernels.h"
#include "ember/runtime/philox.h"
#include "runtime/kernels/loops.h"

namespace ember::kernels {
namespace {

struct GlobalGenerator {
  std::mutex mutex;
  uint64_t seed = 67280421310721ull;
  uint64_t offset = 0;
};
GlobalGenerator& generator() {
  static GlobalGenerator g;
  return g;
}

struct Stream {
  std::array<uint32_t, 2> key;
  uint64_t offset;
  std::array<uint32_t, 4> block(uint64_t group) const {
    return philox4x32(
        {uint32_t(group), uint32_t(group >> 32), uint32_t(offset), uint32_t(offset >> 32)}, key);
  }
};

Stream stream_of(RngState state) {
  return {{uint32_t(state.seed), uint32_t(state.seed >> 32)}, state.offset};
}

constexpr double kTwoPi = 6.283185307179586476925;

// Fills a contiguous array: fn(block, values) turns one Philox block into kPer values of double.
template <int kPer, class F>
void fill_random(const Array& out, RngState state, const F& fn) {
  const Stream stream = stream_of(state);
  const int64_t n = out.numel();
  const int64_t groups = (n + kPer - 1) / kPer;
  dispatch_dtype(out.dtype(), [&]<class T>() {
    T* dst = out.data_as<T>();
    parallel_for(0, groups, kParallelGrain / kPer, [&](int64_t b, int64_t e) {
      double values[kPer];
      for (int64_t g = b; g < e; ++g) {
        fn(stream.block(uint64_t(g)), values);
        for (int k = 0; k < kPer && g * kPer + k < n; ++k)
          dst[g * kPer + k] = T(compute_t<T>(values[k]));
      }
    });
  });
}

inline double uniform24(uint32_t x) { return double(x >> 8) * 0x1.0p-24; }
inline double uniform53(uint32_t hi, uint32_t lo) {
  return double((uint64_t(hi) << 21) ^ (lo >> 11)) * 0x1.0p-53;
}

void check_floating(DType dtype, const char* op) {
  EMBER_CHECK(is_floating(dtype), DTypeError, op, ": expected a floating point dtype, but got ",
              dtype);
}

}  // namespace

Array full(IntArrayRef sizes, double value, DType dtype) {
  check_sizes(sizes, "full");
  Array out = Array::empty(sizes, dtype);
  fill(out, value);
  return out;
}

Array full_int(IntArrayRef sizes, int64_t value, DType dtype) {
  check_sizes(sizes, "full");
  Array out = Array::empty(sizes, dtype);
  copy_into(out, Array::scalar_int(value, dtype));
  return out;
}

int64_t arange_length(double start, double end, double step) {
  EMBER_CHECK(step != 0, ValueError, "arange: step must be nonzero");
  EMBER_CHECK(std::isfinite(start) && std::isfinite(end), ValueError,
              "arange: unsupported range: ", start, " -> ", end);
  EMBER_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), ValueError,
              "arange: upper bound and larger bound inconsistent with step sign (start ", start,
              ", end ", end, ", step ", step, ")");
  const double n = std::ceil((end - start) / step);
  EMBER_CHECK(n < 9.2e18, ValueError, "arange: ", n, " elements (start ", start, ", end ", end,
              ", step ", step, ") are more than int64 can count");
  return int64_t(n);
}

Array arange_n(double start, double step, int64_t n, DType dtype) {
  Array out = Array::empty({n}, dtype);
  dispatch_dtype(dtype, [&]<class T>() {
    T* dst = out.data_as<T>();
    for (int64_t i = 0; i < n; ++i) dst[i] = T(compute_t<T>(start + double(i) * step));
  });
  return out;
}

Array arange(double start, double end, double step, DType dtype) {
  return arange_n(start, step, arange_length(start, end, step), dtype);
}

RngState next_rng_state() {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  return {g.seed, g.offset++};
}

RngState rng_state() {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  return {g.seed, g.offset};
}

void set_rng_state(RngState state) {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.seed = state.seed;
  g.offset = state.offset;
}

void manual_seed(uint64_t seed) {
  auto& g = generator();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.seed = seed;
  g.offset = 0;
}

Array rand(IntArrayRef sizes, DType dtype) { return rand_uniform(next_rng_state(), sizes, dtype); }
Array randn(IntArrayRef sizes, DType dtype) { return rand_normal(next_rng_state(), sizes, dtype); }

Array rand_uniform(RngState state, IntArrayRef sizes, DType dtype) {
  check_sizes(sizes, "rand");
  check_floating(dtype, "rand");
  Array out = Array::empty(sizes, dtype);
  if (dtype == DType::Float64) {
    fill_random<2>(out, state, [](std::array<uint32_t, 4> r, double* v) {
      v[0] = uniform53(r[0], r[1]);
      v[1] = uniform53(r[2], r[3]);
    });
  } else {
    fill_random<4>(out, state, [](std::array<uint32_t, 4> r, double* v) {
      for (int k = 0; k < 4; ++k) v[k] = uniform24(r[k]);
    });
  }
  // float16/bfloat16 may round 1 - 2^-24 up to 1.0; keep the interval half-open as documented.
  if (dtype == DType::Float16 || dtype == DType::BFloat16)
    copy_into(out, clamp(out, std::nullopt, dtype == DType::Float16 ? 0.99951171875 : 0.99609375));
  return out;
}

Array rand_normal(RngState state, IntArrayRef sizes, DType dtype) {
  check_sizes(sizes, "randn");
  check_floating(dtype, "randn");
  Array out = Array::empty(sizes, dtype);
  // Box-Muller on pairs of uniforms; u1 in (0, 1] so the log is finite.
  fill_random<2>(out, state, [](std::array<uint32_t, 4> r, double* v) {
    const double u1 = 1.0 - uniform53(r[0], r[1]);
    const double u2 = uniform53(r[2], r[3]);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    v[0] = radius * std::cos(kTwoPi * u2);
    v[1] = radius * std::sin(kTwoPi * u2);
  });
  return out;
}

Array randint(int64_t low, int64_t high, IntArrayRef sizes, DType dtype) {
  check_sizes(sizes, "randint");
  EMBER_CHECK(low < high, ValueError, "randint: expected low < high, but got low=", low,
              " and high=", high);
  EMBER_CHECK(dtype != DType::Bool || (low >= 0 && high <= 2), ValueError, "randint: range [", low,
              ", ", high, ") does not fit dtype bool");
  Array out = Array::empty(sizes, dtype);
  const uint64_t range = uint64_t(high) - uint64_t(low);
  fill_random<2>(out, next_rng_state(), [=](std::array<uint32_t, 4> r, double* v) {
    for (int k = 0; k < 2; ++k) {
      const uint64_t bits = (uint64_t(r[2 * k]) << 32) | r[2 * k + 1];
      v[k] = double(int64_t(uint64_t(low) + bits % range));
    }
  });
  return out;
}

}  // namespace ember::kernels
