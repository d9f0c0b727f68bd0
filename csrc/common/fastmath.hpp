// Numeric helpers for hot loops.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

// exp_in_range also takes GCC vectors by value; it is always inlined, so gcc's note that vectors
// wider than the target's registers change the ABI does not apply (as in common/vec.hpp).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fastgen::fm {

// Flushes subnormal results and inputs to zero on this thread while alive. Probabilities below
// 2.2e-308 are zero to every tolerance we state, and subnormal arithmetic is ~100x slower: without
// this, well-separated data (tiny emission ratios) made the scaled recursions 3x slower.
struct FlushDenormals {
#if defined(__SSE2__)
  unsigned int saved;
  FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

// exp(x) for x in [-708, 709] (callers clamp), branch-free so loops over it vectorise:
// x = n ln2 + r, |r| <= ln2/2, exp(r) by its degree-13 Taylor polynomial (truncation < 2e-17
// relative), 2^n assembled in the exponent bits. Within 2 ulp of std::exp. Always inlined so every
// runtime-dispatched clone (simd.hpp) gets its own vector version. D is double, or a GCC vector of
// doubles with U the vector of uint64_t of its width: the same operations lane by lane, for the
// kernels that vectorise by hand (emissions/logsumexp.hpp), where an omp simd loop stayed scalar.
template <class D, class U = uint64_t>
inline __attribute__((always_inline)) D exp_in_range(D x) {
  constexpr double log2e = 1.4426950408889634074, ln2_hi = 6.93147180369123816490e-01,
                   ln2_lo = 1.90821492927058770002e-10, shifter = 6755399441055744.0;  // 1.5 * 2^52
  const D t = x * log2e + shifter;
  const D n = t - shifter;
  const D r = (x - n * ln2_hi) - n * ln2_lo;
  D p = D{} + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // Unsigned: the same bits for every x in range, and defined (a wrap, not UB) for the NaN or
  // out-of-range x of rows that are rejected or selected away afterwards (UBSan, .ci/run).
  // Bit casts, not memcpy: inside `omp simd` a memcpy'd local becomes a per-lane "simd array",
  // which gcc 12 vectorises only in the AVX-512 clone (the AVX2 clone's loops stayed scalar).
  const U eb = (__builtin_bit_cast(U, t) - 0x4338000000000000ULL + 1023) << 52;
  return p * __builtin_bit_cast(D, eb);
}

// exp(x) for x <= 0 (shifted log-likelihoods); 0 below -708.
// Computed on the clamped argument, then selected, so the loop stays branch-free.
inline __attribute__((always_inline)) double exp_nonpositive(double x) {
  const double e = exp_in_range(x < -708.0 ? -708.0 : x);
  return x < -708.0 ? 0.0 : e;
}

}  // namespace fastgen::fm
