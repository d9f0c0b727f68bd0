// Branch-free elementary functions for loops that must vectorise (sigmoid and softplus layers,
// the RBM's draws): always inlined, so each ISA-specific caller gets its own vector version.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/fastmath.hpp"
#include "common/isa.hpp"

namespace fastgen::simd {

// exp(x), branch-free so that loops over it vectorise. x is clamped to the finite range first
// (|x| <= 87 in float, where exp and 1 / (1 + exp) stay normal numbers; [-708, 709] in double),
// so sigmoid never sees inf or NaN and never produces a subnormal.
// Range reduction x = n ln2 + r, |r| <= ln2/2, then a Taylor polynomial (float: degree 7,
// rel. error < 1e-7 before rounding; double: degree 13, < 2e-17) and 2^n built in the exponent bits.
FG_ALWAYS_INLINE float exp_clamped(float x) {
  x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
  const float t = x * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23: round to integer
  const float n = t - 12582912.0f;
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const int32_t eb = (tb - 0x4B400000 + 127) << 23;
  float scale;
  std::memcpy(&scale, &eb, sizeof scale);
  return p * scale;
}

FG_ALWAYS_INLINE double exp_clamped(double x) {
  return fm::exp_in_range(x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x));
}

template <class T>
FG_ALWAYS_INLINE T sigmoid(T x) { return T(1) / (T(1) + exp_clamped(-x)); }

// log(1 + y) for y in [0, 1], branch-free: log1p(y) = 2 atanh(s), s = y / (2 + y) in [0, 1/3],
// by the odd series 2 (s + s^3/3 + ... + s^29/29); truncation < 3e-17 relative at s = 1/3.
FG_ALWAYS_INLINE double log1p_unit(double y) {
  const double s = y / (2.0 + y), s2 = s * s;
  double p = 1.0 / 29;
  p = p * s2 + 1.0 / 27;
  p = p * s2 + 1.0 / 25;
  p = p * s2 + 1.0 / 23;
  p = p * s2 + 1.0 / 21;
  p = p * s2 + 1.0 / 19;
  p = p * s2 + 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  p = p * s2 + 1.0;
  return 2.0 * s * p;
}

// softplus(a) = log(1 + e^a) = max(a, 0) + log1p(e^-|a|), in double, branch-free.
FG_ALWAYS_INLINE double softplus(double a) {
  const double m = a > 0 ? a : 0.0, na = a > 0 ? -a : a;
  return m + log1p_unit(exp_clamped(na));
}

// e^x - 1 with full relative accuracy near 0, branch-free: the Taylor series (Horner, relative
// error ~ 1 ulp) for |x| < 1/2, exp(x) - 1 beyond (its cancellation costs at most 2.5 ulp there).
FG_ALWAYS_INLINE double expm1_vec(double x) {
  double p = 1.0 / 355687428096000.0;  // 1/17!
  p = p * x + 1.0 / 20922789888000.0;
  p = p * x + 1.0 / 1307674368000.0;
  p = p * x + 1.0 / 87178291200.0;
  p = p * x + 1.0 / 6227020800.0;
  p = p * x + 1.0 / 479001600.0;
  p = p * x + 1.0 / 39916800.0;
  p = p * x + 1.0 / 3628800.0;
  p = p * x + 1.0 / 362880.0;
  p = p * x + 1.0 / 40320.0;
  p = p * x + 1.0 / 5040.0;
  p = p * x + 1.0 / 720.0;
  p = p * x + 1.0 / 120.0;
  p = p * x + 1.0 / 24.0;
  p = p * x + 1.0 / 6.0;
  p = p * x + 0.5;
  p = p * x + 1.0;
  const double small = p * x, big = exp_clamped(x) - 1.0;
  return (x < 0.5 && x > -0.5) ? small : big;
}

FG_ALWAYS_INLINE float expm1_vec(float x) {
  float p = 1.0f / 3628800.0f;  // 1/10!
  p = p * x + 1.0f / 362880.0f;
  p = p * x + 1.0f / 40320.0f;
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  p = p * x + 1.0f;
  const float small = p * x, big = exp_clamped(x) - 1.0f;
  return (x < 0.5f && x > -0.5f) ? small : big;
}

// tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|) through expm1 (no cancellation near 0).
template <class T>
FG_ALWAYS_INLINE T tanh_vec(T x) {
  const T ax = x < T(0) ? -x : x;
  const T e = expm1_vec(T(-2) * ax);  // in (-1, 0]
  const T t = -e / (T(2) + e);
  return x < T(0) ? -t : t;
}

// log(x) for a positive normal double, branch-free (fdlibm's reduction, Taylor coefficients):
// x = 2^e m, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f / (2 + f), and
// log(1 + f) = f - (f^2/2 - s (f^2/2 + R)), R = sum_k 2 s^2k / (2k + 1) (k <= 11: truncation
// < 1e-19 at |s| <= 0.172). Within ~1 ulp of libm's log.
FG_ALWAYS_INLINE double log_positive(double x) {
  int64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int64_t e = ((bits >> 52) & 0x7ff) - 1023;
  int64_t mbits = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;
  // m > sqrt(2) (positive doubles order as their bits): m / 2 and e + 1, in the integers (exact).
  // A conditional double product (`big ? 0.5 * m : m`) may trap, which stops gcc's if-conversion
  // of the callers' loops without AVX-512 masks: Box-Muller ran scalar on AVX2.
  const bool big = mbits > 0x3ff6a09e667f3bcdLL;
  mbits = big ? mbits - (int64_t{1} << 52) : mbits;
  e = big ? e + 1 : e;
  double m;
  std::memcpy(&m, &mbits, sizeof m);
  const double f = m - 1.0, s = f / (2.0 + f), z = s * s, hfsq = 0.5 * f * f;
  double R = 2.0 / 23;
  R = R * z + 2.0 / 21;
  R = R * z + 2.0 / 19;
  R = R * z + 2.0 / 17;
  R = R * z + 2.0 / 15;
  R = R * z + 2.0 / 13;
  R = R * z + 2.0 / 11;
  R = R * z + 2.0 / 9;
  R = R * z + 2.0 / 7;
  R = R * z + 2.0 / 5;
  R = R * z + 2.0 / 3;
  R *= z;
  const double dk = static_cast<double>(static_cast<int32_t>(e));  // |e| <= 1024; no int64 -> double on AVX2
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1], branch-free: q = round(4u), r = u - q/4 (exact,
// |r| <= 1/8), x = 2 pi r in [-pi/4, pi/4] by Taylor polynomials (truncation < 1e-18), then the
// quadrant q mod 4 swaps and negates. Within ~1 ulp of libm's sin/cos of fl(2 pi u) (away from
// their zeros, where both are within ~1e-16 absolute of the true value).
FG_ALWAYS_INLINE void sincos_2pi(double u, double& sn, double& cs) {
  constexpr double shifter = 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer in the low bits
  const double t = 4.0 * u + shifter;
  const double q = t - shifter;
  int64_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const int64_t k = tb & 3;
  const double r = u - 0.25 * q;
  const double x = r * 6.283185307179586476925286766559, x2 = x * x;
  double ps = -1.0 / 355687428096000.0;  // -1/17!
  ps = ps * x2 + 1.0 / 1307674368000.0;
  ps = ps * x2 - 1.0 / 6227020800.0;
  ps = ps * x2 + 1.0 / 39916800.0;
  ps = ps * x2 - 1.0 / 362880.0;
  ps = ps * x2 + 1.0 / 5040.0;
  ps = ps * x2 - 1.0 / 120.0;
  ps = ps * x2 + 1.0 / 6.0;
  const double sx = x - x * x2 * ps;
  double pc = 1.0 / 6402373705728000.0;  // 1/18!
  pc = pc * x2 - 1.0 / 20922789888000.0;
  pc = pc * x2 + 1.0 / 87178291200.0;
  pc = pc * x2 - 1.0 / 479001600.0;
  pc = pc * x2 + 1.0 / 3628800.0;
  pc = pc * x2 - 1.0 / 40320.0;
  pc = pc * x2 + 1.0 / 720.0;
  pc = pc * x2 - 1.0 / 24.0;
  const double cx = 1.0 - (0.5 * x2 - x2 * x2 * (-pc));
  const bool swap = (k & 1) != 0;
  const double s0 = swap ? cx : sx, c0 = swap ? sx : cx;
  sn = (k == 2 || k == 3) ? -s0 : s0;
  cs = (k == 1 || k == 2) ? -c0 : c0;
}

// Box-Muller on one Philox block's uniforms (KERNELS.md RNG section): u0 in (0, 1], u1 in (0, 1].
FG_ALWAYS_INLINE void box_muller(double u0, double u1, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * log_positive(u0));
  double sn, cs;
  sincos_2pi(u1, sn, cs);
  z0 = r * cs;
  z1 = r * sn;
}

}  // namespace fastgen::simd
