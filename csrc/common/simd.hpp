// Runtime SIMD dispatch without -march=native: gcc picks the best clone for the CPU at load time.
#pragma once
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FASTGEN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTGEN_SIMD_CLONES
#endif

// Helpers of FASTGEN_SIMD_CLONES functions: a helper is compiled for the clone's instruction set only
// when inlined into it, and gcc's heuristics stopped inlining them once a clone grew a little (an
// interruption check turned Viterbi's vectorised step into a scalar call: 2x slower).
#define FASTGEN_CLONE_INLINE inline __attribute__((always_inline))
