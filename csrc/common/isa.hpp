// Run-time instruction-set dispatch and register-wide vector types for the hand-vectorised kernels
// (the shared GEMM, the RBM and MLP epilogues).
//
// Why manual dispatch instead of FASTGEN_SIMD_CLONES: the GEMM micro-kernel's register tile must
// change with the register file (32 x 512-bit, 16 x 256-bit, 16 x 128-bit), and target_clones
// compiles one source for every ISA. Each ISA gets its own instantiation of the same templates,
// inlined into a function with a target attribute (a callee with the default target inlines into
// any of them), and the caller picks one at run time from cpuid. No -march flag anywhere.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Vector-typed helpers are always inlined into their ISA's caller: the by-value ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

#define FG_ALWAYS_INLINE inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FG_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define FG_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define FG_HAVE_DISPATCH 1
#else
#define FG_TARGET_V4
#define FG_TARGET_V3
#define FG_HAVE_DISPATCH 0
#endif

namespace fastgen::simd {

enum class Isa { base = 0, v3 = 1, v4 = 2 };

// The best instruction set this CPU runs (checked once), capped by the environment variable
// FASTGEN_ISA=base|v3|v4 when set: the tests run the narrower paths of the hand-dispatched kernels
// on a wider CPU (tests/common/test_isa_paths.py). A cap never raises the choice above the CPU's.
// (Functions cloned with FASTGEN_SIMD_CLONES keep gcc's own choice.)
inline Isa detect_isa() {
#if FG_HAVE_DISPATCH
  static const Isa isa = [] {
    __builtin_cpu_init();
    Isa best = Isa::base;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
      best = Isa::v4;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      best = Isa::v3;
    const char* cap = std::getenv("FASTGEN_ISA");
    if (cap && std::strcmp(cap, "base") == 0) return Isa::base;
    if (cap && std::strcmp(cap, "v3") == 0 && best == Isa::v4) return Isa::v3;
    return best;
  }();
  return isa;
#else
  return Isa::base;
#endif
}

inline const char* isa_name(Isa i) { return i == Isa::v4 ? "v4" : i == Isa::v3 ? "v3" : "base"; }

// A vector of `Bytes / sizeof(T)` lanes (gcc vector extension): the width of one register.
template <class T, int Bytes>
struct Vec {
  static constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  typedef T type __attribute__((vector_size(Bytes)));
};

template <class V, class T>
FG_ALWAYS_INLINE V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V, class T>
FG_ALWAYS_INLINE void vstore(T* p, const V& v) { std::memcpy(p, &v, sizeof v); }

}  // namespace fastgen::simd
