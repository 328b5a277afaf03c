// Branch-free float32 transcendentals that the compiler vectorizes inside the eager kernels' inner
// loops (glibc's scalar expf/erff/tanhf would not vectorize without -ffast-math, which Ember does
// not use). Each is within a few ulp of the correctly rounded result over its whole domain; the
// tests compare them with double-precision std:: functions. Float64 kernels use std:: directly.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <iterator>

#include "ember/runtime/polynomials.h"

// Forced inline: a call inside an inner loop stops it from vectorizing, and with many kernel
// instantiations per file GCC's inliner gives up on functions this size.
#define EMBER_VEC_INLINE [[gnu::always_inline]] inline
// The same for the per-element lambdas the kernels pass to their loops.
#define EMBER_LAMBDA_INLINE __attribute__((always_inline))

namespace ember::vec_math {

// The polynomials are spelled out step by step below: a helper (a loop or a fold over the
// coefficients) made GCC emit slower code inside the eager kernels' vectorized loops (eager gelu
// 10-13% slower, measured). The degrees are pinned here so that polynomials.h cannot change
// under them unnoticed.
static_assert(std::size(polynomials::kExpP) == 6 && std::size(polynomials::kTanhP) == 7 &&
              std::size(polynomials::kTanhQ) == 4 && std::size(polynomials::kErfP) == 7 &&
              std::size(polynomials::kErfQ) == 5);

EMBER_VEC_INLINE float pow2i(int32_t n) { return std::bit_cast<float>(uint32_t(n + 127) << 23); }

// exp: 2^n * exp(r), |r| <= ln2/2 (polynomials.h). 2^n is applied in two halves so results down
// in the subnormal range and up to FLT_MAX come out right.
EMBER_VEC_INLINE float exp(float x) {
  using namespace polynomials;
  const bool nan = x != x;
  const float xc = std::min(std::max(nan ? 0.0f : x, float(kExpLo)), float(kExpHi));
  const float n = std::floor(xc * float(kLog2E) + 0.5f);
  float r = xc - n * float(kLn2Hi);
  r = r - n * float(kLn2Lo);
  float p = float(kExpP[0]);
  p = p * r + float(kExpP[1]);
  p = p * r + float(kExpP[2]);
  p = p * r + float(kExpP[3]);
  p = p * r + float(kExpP[4]);
  p = p * r + float(kExpP[5]);
  const float y = p * r * r + r + 1.0f;
  const int32_t ni = int32_t(n);
  const int32_t n1 = ni >> 1;
  const float result = y * pow2i(n1) * pow2i(ni - n1);
  return nan ? x : (x < float(kExpLo) ? 0.0f : result);
}

// tanh as a [7/6] rational function of x, saturating to +-1 outside its range (where |tanh|
// rounds to 1). The saturation is explicit: whether the compiler fuses the polynomials' steps
// into FMAs would otherwise decide whether the function reaches exactly +-1 there.
EMBER_VEC_INLINE float tanh(float x) {
  using namespace polynomials;
  const bool nan = x != x;
  const float xc = std::min(std::max(nan ? 0.0f : x, -float(kTanhClamp)), float(kTanhClamp));
  const float x2 = xc * xc;
  float p = float(kTanhP[0]);
  p = p * x2 + float(kTanhP[1]);
  p = p * x2 + float(kTanhP[2]);
  p = p * x2 + float(kTanhP[3]);
  p = p * x2 + float(kTanhP[4]);
  p = p * x2 + float(kTanhP[5]);
  p = p * x2 + float(kTanhP[6]);
  float q = float(kTanhQ[0]);
  q = q * x2 + float(kTanhQ[1]);
  q = q * x2 + float(kTanhQ[2]);
  q = q * x2 + float(kTanhQ[3]);
  const float r = xc * p / q;
  return nan ? x : (xc == float(kTanhClamp) ? 1.0f : xc == -float(kTanhClamp) ? -1.0f : r);
}

// erf as x * P(x^2) / Q(x^2) on [-4, 4], saturating outside (|erf| rounds to 1). The rational
// function is evaluated in double: in float its rounding reaches ~4e-7 near |erf| = 1, which
// gelu(x) = x/2 * (1 + erf) turns into a visible absolute error for negative x; in double the
// error is the approximation's own ~6.5e-8 (one float ulp below 1).
EMBER_VEC_INLINE float erf(float xf) {
  using namespace polynomials;
  const bool nan = xf != xf;
  const double x = std::min(std::max(nan ? 0.0 : double(xf), -kErfClamp), kErfClamp);
  const double x2 = x * x;
  double p = kErfP[0];
  p = p * x2 + kErfP[1];
  p = p * x2 + kErfP[2];
  p = p * x2 + kErfP[3];
  p = p * x2 + kErfP[4];
  p = p * x2 + kErfP[5];
  p = p * x2 + kErfP[6];
  double q = kErfQ[0];
  q = q * x2 + kErfQ[1];
  q = q * x2 + kErfQ[2];
  q = q * x2 + kErfQ[3];
  q = q * x2 + kErfQ[4];
  return nan ? xf : float(x * p / q);
}

EMBER_VEC_INLINE float sigmoid(float x) { return 1.0f / (1.0f + vec_math::exp(-x)); }

}  // namespace ember::vec_math
