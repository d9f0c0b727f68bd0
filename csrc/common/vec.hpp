// Fixed-width SIMD vectors through GCC/Clang vector extensions: 64 bytes = 8 doubles or 16 floats.
// One register in the AVX-512 clone of a FASTGEN_SIMD_CLONES function, two in the AVX2 clone, four
// SSE registers in the default one: the lane layout, and so the order of every sum, is the same
// in all clones. Used by hot loops that vectorise across rows (rows in lanes, features in a loop),
// where `omp simd` alone would leave accumulators in memory. Helpers are always inlined: 64-byte
// vectors must never cross a call boundary in the clones without AVX-512.
#pragma once
#include <cstring>

// GCC notes that 64-byte vectors change the ABI in the clones without AVX-512. It does not apply:
// these helpers are always inlined and no function takes or returns a vector. The note fires at
// every use site, so it stays off for the including file too (not popped).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fastgen::vec {

template <class T>
struct Traits;
template <>
struct Traits<double> {
  typedef double type __attribute__((vector_size(64)));
};
template <>
struct Traits<float> {
  typedef float type __attribute__((vector_size(64)));
};

template <class T>
using V = typename Traits<T>::type;

template <class T>
constexpr int lanes = static_cast<int>(64 / sizeof(T));

#define FASTGEN_VEC_INLINE inline __attribute__((always_inline))

template <class T>
FASTGEN_VEC_INLINE V<T> load(const T* p) {
  V<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
FASTGEN_VEC_INLINE void store(T* p, V<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// No splat helper on purpose: write scalar-vector operations (w * v) in the cloned function itself.
// A helper's broadcast is lowered for the default target before inlining and came out as a chain of
// 8 masked broadcasts in the AVX-512 clone.

// The first n (<= lanes) entries of p, zeros after; and the inverse.
template <class T>
FASTGEN_VEC_INLINE V<T> load_first(const T* p, int n) {
  T buf[lanes<T>] = {};
  std::memcpy(buf, p, sizeof(T) * n);
  return load(buf);
}

template <class T>
FASTGEN_VEC_INLINE void store_first(T* p, V<T> v, int n) {
  T buf[lanes<T>];
  store(buf, v);
  std::memcpy(p, buf, sizeof(T) * n);
}

}  // namespace fastgen::vec
