// SIMD vectors through GCC/Clang vector extensions, B bytes wide: V<T, B> holds lanes<T, B> values.
// Used by hot loops that vectorise across rows (rows in lanes, features in a loop), where `omp simd`
// alone would leave accumulators in memory. Helpers are always inlined.
//
// Width follows the CPU: a kernel is written once as a template on B and run through `dispatch`,
// which calls it with B = 64 in an AVX-512 function, 32 in an AVX2 one and 16 otherwise (the
// register width: common/isa.hpp picks the ISA once from cpuid). One fixed 64-byte type for every
// ISA (the first design, through target_clones) compiled to stack traffic without AVX-512: gcc 12
// keeps a vector wider than the registers in memory and moves it through general registers,
// which made the Gaussian log-densities 18x slower on an AVX2 machine than this. A lane's result
// does not depend on how many lanes a register holds (rows or features in lanes, each summed in
// its own order), so these kernels give the same bits on every ISA. A kernel whose logical block is
// wider than a register (the AR recursion's 16 steps, the MADE sampler's 64 bytes of samples) holds
// it as an array of B-byte vectors. B is always explicit: there is no default width.
#pragma once
#include <cstring>
#include <type_traits>

#include "common/isa.hpp"

// GCC notes that 64-byte vectors change the ABI in the functions without AVX-512. It does not
// apply: these helpers are always inlined and no function takes or returns a vector. The note
// fires at every use site, so it stays off for the including file too (not popped).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fastgen::vec {

template <class T, int B>
struct Traits {
  typedef T type __attribute__((vector_size(B)));
};

template <class T, int B>
using V = typename Traits<T, B>::type;

template <class T, int B>
constexpr int lanes = B / static_cast<int>(sizeof(T));

#define FASTGEN_VEC_INLINE inline __attribute__((always_inline))

template <int B, class T>
FASTGEN_VEC_INLINE V<T, B> load(const T* p) {
  V<T, B> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T, class VT>
FASTGEN_VEC_INLINE void store(T* p, VT v) {
  std::memcpy(p, &v, sizeof v);
}

// No splat helper on purpose: write scalar-vector operations (w * v) in the kernel itself.
// A helper's broadcast is lowered for the default target before inlining and came out as a chain of
// 8 masked broadcasts in the AVX-512 clone.

// The first n (<= lanes) entries of p, zeros after; and the inverse. A whole vector goes straight
// to memory (a memcpy of run-time length is a libc call).
template <int B, class T>
FASTGEN_VEC_INLINE V<T, B> load_first(const T* p, int n) {
  if (n == lanes<T, B>) return load<B>(p);
  T buf[lanes<T, B>] = {};
  std::memcpy(buf, p, sizeof(T) * n);
  return load<B>(buf);
}

template <class T, class VT>
FASTGEN_VEC_INLINE void store_first(T* p, VT v, int n) {
  if (n == static_cast<int>(sizeof(VT) / sizeof(T))) return store(p, v);
  T buf[sizeof(VT) / sizeof(T)];
  store(buf, v);
  std::memcpy(p, buf, sizeof(T) * n);
}

// ---------------------------------------------------------------------------------------------
// Run-time width. `dispatch(f)` calls f(std::integral_constant<int, B>{}) inside a function
// compiled for the CPU's instruction set, B its register width; f must be a lambda marked
// FASTGEN_LAMBDA_INLINE whose body calls FASTGEN_VEC_INLINE templates on B, so that everything
// inlines into that function (a callee with the default target inlines into any of them).
#define FASTGEN_LAMBDA_INLINE __attribute__((always_inline))

template <class F>
FG_TARGET_V4 __attribute__((noinline)) void run_v4(const F& f) { f(std::integral_constant<int, 64>{}); }
template <class F>
FG_TARGET_V3 __attribute__((noinline)) void run_v3(const F& f) { f(std::integral_constant<int, 32>{}); }
template <class F>
__attribute__((noinline)) void run_base(const F& f) { f(std::integral_constant<int, 16>{}); }

template <class F>
FASTGEN_VEC_INLINE void dispatch(const F& f) {
  switch (simd::detect_isa()) {
    case simd::Isa::v4: return run_v4(f);
    case simd::Isa::v3: return run_v3(f);
    default: return run_base(f);
  }
}

// The B that dispatch passes on this CPU.
inline int width() {
  switch (simd::detect_isa()) {
    case simd::Isa::v4: return 64;
    case simd::Isa::v3: return 32;
    default: return 16;
  }
}

}  // namespace fastgen::vec
