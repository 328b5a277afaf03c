// The coefficients of Ember's float32 transcendentals, once: the eager kernels' vectorizable
// exp/tanh/erf (runtime/kernels/vec_math.h) and the code generators' (codegen/llvm_expr.h)
// evaluate these same polynomials by Horner's rule, highest degree first, so an eager and a
// compiled exp agree.
#pragma once

namespace ember::polynomials {

// exp(x) = 2^n * exp(r), n = floor(x * log2(e) + 1/2), r = x - n * ln2 (ln2 split in two for
// precision), exp(r) = p(r) * r^2 + r + 1 with Cephes' degree-5 p; x clamped to [lo, hi].
inline constexpr double kExpLo = -104.0, kExpHi = 89.0;
inline constexpr double kLog2E = 1.44269504088896341;
inline constexpr double kLn2Hi = 0.693359375, kLn2Lo = -2.12194440e-4;
inline constexpr double kExpP[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                   4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};

// tanh(x) = x * p(x^2) / q(x^2) on [-clamp, clamp], where |tanh| rounds to 1 beyond.
inline constexpr double kTanhClamp = 7.90531110763549805;
inline constexpr double kTanhP[] = {
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
    1.48572235717979e-05,  6.37261928875436e-04, 4.89352455891786e-03};
inline constexpr double kTanhQ[] = {1.19825839466702e-06, 1.18534705686654e-04,
                                    2.26843463243900e-03, 4.89352518554385e-03};

// erf(x) = x * p(x^2) / q(x^2) on [-clamp, clamp], evaluated in double.
inline constexpr double kErfClamp = 4.0;
inline constexpr double kErfP[] = {
    -2.72614225801306e-10, 2.77068142495902e-08,  -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02};
inline constexpr double kErfQ[] = {-1.45660718464996e-05, -2.13374055278905e-04,
                                   -1.68282697438203e-03, -7.37332916720468e-03,
                                   -1.42647390514189e-02};

}  // namespace ember::polynomials
