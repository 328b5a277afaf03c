// Branch-free float32 transcendentals that the compiler vectorizes inside the eager kernels' inner
// loops (glibc's scalar expf/erff/tanhf would not vectorize without -ffast-math, which Ember does
// not use). Each is within a few ulp of the correctly rounded result over its whole domain; the
// tests compare them with double-precision std:: functions. Float64 kernels use std:: directly.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

// Forced inline: a call inside an inner loop stops it from vectorizing, and with many kernel
// instantiations per file GCC's inliner gives up on functions this size.
#define EMBER_VEC_INLINE [[gnu::always_inline]] inline
// The same for the per-element lambdas the kernels pass to their loops.
#define EMBER_LAMBDA_INLINE __attribute__((always_inline))

namespace ember::vec_math {

EMBER_VEC_INLINE float pow2i(int32_t n) { return std::bit_cast<float>(uint32_t(n + 127) << 23); }

// exp: 2^n * exp(r), |r| <= ln2/2, with Cephes' degree-6 polynomial. 2^n is applied in two halves
// so results down in the subnormal range and up to FLT_MAX come out right.
EMBER_VEC_INLINE float exp(float x) {
  const bool nan = x != x;
  const float xc = std::min(std::max(nan ? 0.0f : x, -104.0f), 89.0f);
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t ni = int32_t(n);
  const int32_t n1 = ni >> 1;
  const float result = y * pow2i(n1) * pow2i(ni - n1);
  return nan ? x : (x < -104.0f ? 0.0f : result);
}

// tanh as a [7/6] rational function of x on [-7.9, 7.9], saturating outside (|tanh| rounds to 1).
EMBER_VEC_INLINE float tanh(float x) {
  const bool nan = x != x;
  const float xc = std::min(std::max(nan ? 0.0f : x, -7.90531110763549805f), 7.90531110763549805f);
  const float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return nan ? x : xc * p / q;
}

// erf as x * P(x^2) / Q(x^2) on [-4, 4], saturating outside (|erf| rounds to 1). The rational
// function is evaluated in double: in float its rounding reaches ~4e-7 near |erf| = 1, which
// gelu(x) = x/2 * (1 + erf) turns into a visible absolute error for negative x; in double the
// error is the approximation's own ~6.5e-8 (one float ulp below 1).
EMBER_VEC_INLINE float erf(float xf) {
  const bool nan = xf != xf;
  const double x = std::min(std::max(nan ? 0.0 : double(xf), -4.0), 4.0);
  const double x2 = x * x;
  double p = -2.72614225801306e-10;
  p = p * x2 + 2.77068142495902e-08;
  p = p * x2 + -2.10102402082508e-06;
  p = p * x2 + -5.69250639462346e-05;
  p = p * x2 + -7.34990630326855e-04;
  p = p * x2 + -2.95459980854025e-03;
  p = p * x2 + -1.60960333262415e-02;
  double q = -1.45660718464996e-05;
  q = q * x2 + -2.13374055278905e-04;
  q = q * x2 + -1.68282697438203e-03;
  q = q * x2 + -7.37332916720468e-03;
  q = q * x2 + -1.42647390514189e-02;
  return nan ? xf : float(x * p / q);
}

EMBER_VEC_INLINE float sigmoid(float x) { return 1.0f / (1.0f + vec_math::exp(-x)); }

}  // namespace ember::vec_math
