// Vector Philox: uniforms for a run of consecutive elements (or a list of blocks) of a stream, and
// normals from them (vectorised Box-Muller). Shared by the RBM half-steps, the MLP engine (VAE/GAN
// noise), the AR simulator and the MADE sampler. Same values as common/rng.hpp, many at a time.
#pragma once
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/fastmath.hpp"
#include "common/isa.hpp"
#include "common/rng.hpp"
#include "common/simd.hpp"
#include "common/vmath.hpp"

namespace fastgen::rng {

// Uniforms u[e0], ..., u[e0 + n - 1] of a Philox stream (KERNELS.md RNG section) into `u`.
// Each block b gives u[2b] and u[2b + 1]; the loop over blocks vectorises (32-bit lanes, the
// 32x32->64 products as vpmuludq). `u` needs room for n + 1 values (an odd e0 writes u[-1]
// into u[0] first; the caller reads from u + (e0 & 1)).
FG_ALWAYS_INLINE void philox_uniforms(const Stream& rs, uint64_t e0, int n, double* u) {
  const uint64_t b0 = e0 >> 1;
  const int nb = static_cast<int>(((e0 + n + 1) >> 1) - b0);
  const uint32_t s0 = rs.s0, s1 = rs.s1;
#pragma omp simd
  for (int i = 0; i < nb; ++i) {
    const uint64_t b = b0 + static_cast<uint64_t>(i);
    uint32_t c0 = static_cast<uint32_t>(b), c1 = static_cast<uint32_t>(b >> 32), c2 = s0, c3 = s1;
    uint32_t k0 = rs.k0, k1 = rs.k1;
    for (int r = 0; r < 10; ++r) {
      const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
      const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
      const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
      const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
      c0 = hi1 ^ c1 ^ k0;
      c1 = lo1;
      c2 = hi0 ^ c3 ^ k1;
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    u[2 * i] = ((c0 >> 5) * 67108864.0 + (c1 >> 6) + 0.5) * (1.0 / 9007199254740992.0);
    u[2 * i + 1] = ((c2 >> 5) * 67108864.0 + (c3 >> 6) + 0.5) * (1.0 / 9007199254740992.0);
  }
}

#if FG_HAVE_DISPATCH
FG_TARGET_V4 FG_ALWAYS_INLINE __m512d philox_unit_v4(__m256i a, __m256i b, __m512d half, __m512d scale) {
  const __m512i hiw = _mm512_slli_epi64(_mm512_cvtepu32_epi64(_mm256_srli_epi32(a, 5)), 26);
  const __m512i m = _mm512_or_si512(hiw, _mm512_cvtepu32_epi64(_mm256_srli_epi32(b, 6)));
  return _mm512_mul_pd(_mm512_add_pd(_mm512_cvtepu64_pd(m), half), scale);
}

// Ten Philox rounds on 16 counters (c0, c1 = block number lo, hi per lane; c2, c3 = the stream)
// at once with AVX-512: the 32x32->64 products by vpmuludq on the even and odd lanes (gcc's
// auto-vectorised loop above uses the slow 64-bit vpmullq).
FG_TARGET_V4 FG_ALWAYS_INLINE void philox_rounds_v4(const Stream& rs, __m512i& c0, __m512i& c1, __m512i& c2,
                                                    __m512i& c3) {
  const __m512i M0 = _mm512_set1_epi64(0xD2511F53), M1 = _mm512_set1_epi64(0xCD9E8D57);
  c2 = _mm512_set1_epi32(static_cast<int>(rs.s0));
  c3 = _mm512_set1_epi32(static_cast<int>(rs.s1));
  uint32_t k0 = rs.k0, k1 = rs.k1;
  for (int r = 0; r < 10; ++r) {
    const __m512i pe0 = _mm512_mul_epu32(c0, M0), po0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), M0);
    const __m512i pe1 = _mm512_mul_epu32(c2, M1), po1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), M1);
    const __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe0, 32), po0);
    const __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, pe0, _mm512_slli_epi64(po0, 32));
    const __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe1, 32), po1);
    const __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, pe1, _mm512_slli_epi64(po1, 32));
    c0 = _mm512_ternarylogic_epi32(hi1, c1, _mm512_set1_epi32(static_cast<int>(k0)), 0x96);  // a ^ b ^ c
    c1 = lo1;
    c2 = _mm512_ternarylogic_epi32(hi0, c3, _mm512_set1_epi32(static_cast<int>(k1)), 0x96);
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// Philox blocks b .. b + 15 of a stream.
FG_TARGET_V4 FG_ALWAYS_INLINE void philox16_v4(const Stream& rs, uint64_t b, __m512i& c0, __m512i& c1,
                                               __m512i& c2, __m512i& c3) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(b)));
  const __m512i hi = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(b >> 32)));
  c0 = _mm512_add_epi32(lo, lane);
  c1 = _mm512_mask_add_epi32(hi, _mm512_cmplt_epu32_mask(c0, lo), hi, _mm512_set1_epi32(1));  // carry
  philox_rounds_v4(rs, c0, c1, c2, c3);
}

// Philox blocks blk[0 .. 15] (any block numbers) of a stream.
FG_TARGET_V4 FG_ALWAYS_INLINE void philox16_list_v4(const Stream& rs, const uint64_t* blk, __m512i& c0,
                                                    __m512i& c1, __m512i& c2, __m512i& c3) {
  const __m512i b0 = _mm512_loadu_si512(blk), b1 = _mm512_loadu_si512(blk + 8);
  c0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(b0)), _mm512_cvtepi64_epi32(b1), 1);
  c1 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_srli_epi64(b0, 32))),
                          _mm512_cvtepi64_epi32(_mm512_srli_epi64(b1, 32)), 1);
  philox_rounds_v4(rs, c0, c1, c2, c3);
}

// The 2 x 16 uniforms of philox16_v4's blocks in element order, the first 2 * count stored.
FG_TARGET_V4 FG_ALWAYS_INLINE void store_uniforms_v4(__m512i c0, __m512i c1, __m512i c2, __m512i c3, int count,
                                                     double* u) {
  const __m512d half = _mm512_set1_pd(0.5), scale = _mm512_set1_pd(1.0 / 9007199254740992.0);
  const __m512i lo_idx = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), hi_idx = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  const __m256i a[4] = {_mm512_castsi512_si256(c0), _mm512_castsi512_si256(c1), _mm512_castsi512_si256(c2),
                        _mm512_castsi512_si256(c3)};
  const __m256i b[4] = {_mm512_extracti64x4_epi64(c0, 1), _mm512_extracti64x4_epi64(c1, 1),
                        _mm512_extracti64x4_epi64(c2, 1), _mm512_extracti64x4_epi64(c3, 1)};
  for (int h = 0; h < 2; ++h) {
    const __m256i* w = h ? b : a;
    const __m512d ue = philox_unit_v4(w[0], w[1], half, scale), uo = philox_unit_v4(w[2], w[3], half, scale);
    for (int q = 0; q < 2; ++q) {
      const int k = 2 * h + q, left = 2 * count - 8 * k;  // doubles still to store from this one
      if (left <= 0) return;
      const __mmask8 m = left >= 8 ? 0xFF : static_cast<__mmask8>((1u << left) - 1);
      _mm512_mask_storeu_pd(u + 8 * k, m, _mm512_permutex2var_pd(ue, q ? hi_idx : lo_idx, uo));
    }
  }
}

// philox_uniforms with AVX-512, two independent 16-block vectors in flight (the 10 rounds are a
// dependency chain: one vector alone leaves the multipliers idle). Not inlined: callable only on a
// CPU with the ISA.
FG_TARGET_V4 __attribute__((noinline)) inline void philox_uniforms_v4(const Stream& rs, uint64_t e0, int n,
                                                                       double* u) {
  const uint64_t b0 = e0 >> 1;
  const int nb = static_cast<int>(((e0 + n + 1) >> 1) - b0);
  for (int i = 0; i < nb; i += 32) {
    __m512i a0, a1, a2, a3, c0, c1, c2, c3;
    philox16_v4(rs, b0 + static_cast<uint64_t>(i), a0, a1, a2, a3);
    philox16_v4(rs, b0 + static_cast<uint64_t>(i) + 16, c0, c1, c2, c3);
    store_uniforms_v4(a0, a1, a2, a3, std::min(16, nb - i), u + 2 * i);
    if (nb - i > 16) store_uniforms_v4(c0, c1, c2, c3, std::min(16, nb - i - 16), u + 2 * i + 32);
  }
}

// u[2i], u[2i + 1] of Philox blocks blk[i], i < nb, of a stream (blk padded to a multiple of 32
// entries by the caller). Lets one vector pass serve the short runs of several rows of a tile.
FG_TARGET_V4 __attribute__((noinline)) inline void philox_block_list_v4(const Stream& rs, const uint64_t* blk,
                                                                         int nb, double* u) {
  for (int i = 0; i < nb; i += 32) {
    __m512i a0, a1, a2, a3, c0, c1, c2, c3;
    philox16_list_v4(rs, blk + i, a0, a1, a2, a3);
    philox16_list_v4(rs, blk + i + 16, c0, c1, c2, c3);
    store_uniforms_v4(a0, a1, a2, a3, std::min(16, nb - i), u + 2 * i);
    if (nb - i > 16) store_uniforms_v4(c0, c1, c2, c3, std::min(16, nb - i - 16), u + 2 * i + 32);
  }
}

// The same with AVX2 (8 blocks a vector): 32x32->64 products by vpmuludq on the even and odd
// lanes; the uniforms' 53-bit integers are formed in doubles (exact: (c >> 5) 2^26 + (c' >> 6) <
// 2^53), as AVX2 has no 64-bit integer conversion. Same bits as the scalar path.
FG_TARGET_V3 FG_ALWAYS_INLINE __m256d philox_unit_v3(__m128i a, __m128i b, __m256d half, __m256d scale) {
  const __m256d hi = _mm256_cvtepi32_pd(_mm_srli_epi32(a, 5)), lo = _mm256_cvtepi32_pd(_mm_srli_epi32(b, 6));
  const __m256d m = _mm256_add_pd(_mm256_mul_pd(hi, _mm256_set1_pd(67108864.0)), lo);  // exact
  return _mm256_mul_pd(_mm256_add_pd(m, half), scale);
}

FG_TARGET_V3 FG_ALWAYS_INLINE void philox_rounds_v3(const Stream& rs, __m256i& c0, __m256i& c1, __m256i& c2,
                                                    __m256i& c3) {
  const __m256i M0 = _mm256_set1_epi64x(0xD2511F53), M1 = _mm256_set1_epi64x(0xCD9E8D57);
  c2 = _mm256_set1_epi32(static_cast<int>(rs.s0));
  c3 = _mm256_set1_epi32(static_cast<int>(rs.s1));
  uint32_t k0 = rs.k0, k1 = rs.k1;
  for (int r = 0; r < 10; ++r) {
    const __m256i pe0 = _mm256_mul_epu32(c0, M0), po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), M0);
    const __m256i pe1 = _mm256_mul_epu32(c2, M1), po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), M1);
    const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
    const __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
    const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
    const __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    c1 = lo1;
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// Philox blocks b .. b + 7 of a stream.
FG_TARGET_V3 FG_ALWAYS_INLINE void philox8_v3(const Stream& rs, uint64_t b, __m256i& c0, __m256i& c1, __m256i& c2,
                                              __m256i& c3) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(b)));
  const __m256i hi = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(b >> 32)));
  c0 = _mm256_add_epi32(lo, lane);
  const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));  // unsigned c0 < lo: the carry
  const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(lo, sign), _mm256_xor_si256(c0, sign));
  c1 = _mm256_sub_epi32(hi, carry);  // carry lanes are -1
  philox_rounds_v3(rs, c0, c1, c2, c3);
}

// Philox blocks blk[0 .. 7] (any block numbers) of a stream.
FG_TARGET_V3 FG_ALWAYS_INLINE void philox8_list_v3(const Stream& rs, const uint64_t* blk, __m256i& c0, __m256i& c1,
                                                   __m256i& c2, __m256i& c3) {
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);  // low halves, then high halves
  const __m256i b0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)), idx);
  const __m256i b1 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 4)), idx);
  c0 = _mm256_permute2x128_si256(b0, b1, 0x20);
  c1 = _mm256_permute2x128_si256(b0, b1, 0x31);
  philox_rounds_v3(rs, c0, c1, c2, c3);
}

// The 2 x 8 uniforms of philox8_v3's blocks in element order, the first 2 * count stored.
FG_TARGET_V3 FG_ALWAYS_INLINE void store_uniforms_v3(__m256i c0, __m256i c1, __m256i c2, __m256i c3, int count,
                                                     double* u) {
  const __m256d half = _mm256_set1_pd(0.5), scale = _mm256_set1_pd(1.0 / 9007199254740992.0);
  double tmp[16];
  double* dst = count >= 8 ? u : tmp;
  for (int h = 0; h < 2; ++h) {  // blocks 4h .. 4h + 3
    const __m128i a0 = h ? _mm256_extracti128_si256(c0, 1) : _mm256_castsi256_si128(c0);
    const __m128i a1 = h ? _mm256_extracti128_si256(c1, 1) : _mm256_castsi256_si128(c1);
    const __m128i a2 = h ? _mm256_extracti128_si256(c2, 1) : _mm256_castsi256_si128(c2);
    const __m128i a3 = h ? _mm256_extracti128_si256(c3, 1) : _mm256_castsi256_si128(c3);
    const __m256d ue = philox_unit_v3(a0, a1, half, scale), uo = philox_unit_v3(a2, a3, half, scale);
    const __m256d l = _mm256_unpacklo_pd(ue, uo), r = _mm256_unpackhi_pd(ue, uo);  // (e0 o0 e2 o2), (e1 o1 e3 o3)
    _mm256_storeu_pd(dst + 8 * h, _mm256_permute2f128_pd(l, r, 0x20));
    _mm256_storeu_pd(dst + 8 * h + 4, _mm256_permute2f128_pd(l, r, 0x31));
  }
  if (count < 8) std::memcpy(u, tmp, sizeof(double) * 2 * static_cast<size_t>(count));
}

// philox_uniforms with AVX2, two 8-block vectors in flight. Not inlined: callable only on a CPU
// with the ISA.
FG_TARGET_V3 __attribute__((noinline)) inline void philox_uniforms_v3(const Stream& rs, uint64_t e0, int n,
                                                                       double* u) {
  const uint64_t b0 = e0 >> 1;
  const int nb = static_cast<int>(((e0 + n + 1) >> 1) - b0);
  for (int i = 0; i < nb; i += 16) {
    __m256i a0, a1, a2, a3, c0, c1, c2, c3;
    philox8_v3(rs, b0 + static_cast<uint64_t>(i), a0, a1, a2, a3);
    philox8_v3(rs, b0 + static_cast<uint64_t>(i) + 8, c0, c1, c2, c3);
    store_uniforms_v3(a0, a1, a2, a3, std::min(8, nb - i), u + 2 * i);
    if (nb - i > 8) store_uniforms_v3(c0, c1, c2, c3, std::min(8, nb - i - 8), u + 2 * i + 16);
  }
}

// u[2i], u[2i + 1] of Philox blocks blk[i], i < nb, of a stream (blk padded to a multiple of 16
// entries by the caller; philox_block_list_v4's callers pad to 32).
FG_TARGET_V3 __attribute__((noinline)) inline void philox_block_list_v3(const Stream& rs, const uint64_t* blk,
                                                                         int nb, double* u) {
  for (int i = 0; i < nb; i += 16) {
    __m256i a0, a1, a2, a3, c0, c1, c2, c3;
    philox8_list_v3(rs, blk + i, a0, a1, a2, a3);
    philox8_list_v3(rs, blk + i + 8, c0, c1, c2, c3);
    store_uniforms_v3(a0, a1, a2, a3, std::min(8, nb - i), u + 2 * i);
    if (nb - i > 8) store_uniforms_v3(c0, c1, c2, c3, std::min(8, nb - i - 8), u + 2 * i + 16);
  }
}
#endif

// The same for any instruction set (the portable path computes block by block).
template <simd::Isa I>
FG_ALWAYS_INLINE void philox_block_list_isa(const Stream& rs, const uint64_t* blk, int nb, double* u) {
#if FG_HAVE_DISPATCH
  if constexpr (I == simd::Isa::v4) {
    philox_block_list_v4(rs, blk, nb, u);
    return;
  }
  if constexpr (I == simd::Isa::v3) {
    philox_block_list_v3(rs, blk, nb, u);
    return;
  }
#endif
  for (int i = 0; i < nb; ++i) {
    const Block x = rs.block(blk[i]);
    u[2 * i] = to_unit(x.x[0], x.x[1]);
    u[2 * i + 1] = to_unit(x.x[2], x.x[3]);
  }
}

// Uniforms for the instruction set the caller was compiled for.
template <simd::Isa I>
FG_ALWAYS_INLINE void philox_uniforms_isa(const Stream& rs, uint64_t e0, int n, double* u) {
#if FG_HAVE_DISPATCH
  if constexpr (I == simd::Isa::v4) {
    philox_uniforms_v4(rs, e0, n, u);
    return;
  }
  if constexpr (I == simd::Isa::v3) {
    philox_uniforms_v3(rs, e0, n, u);
    return;
  }
#endif
  philox_uniforms(rs, e0, n, u);
}

// Box-Muller on nb Philox blocks' uniforms u[2j], u[2j + 1] -> z[2j], z[2j + 1], vectorised
// (vmath.hpp's log and sincos: ~1.6 ns a pair with AVX-512 against ~27 ns for libm's; the AVX2
// clone vectorises too since log_positive's m / 2 is done in the integers).
FASTGEN_SIMD_CLONES static void box_muller_blocks(int nb, const double* u, double* z) {
#pragma omp simd
  for (int j = 0; j < nb; ++j) simd::box_muller(u[2 * j], u[2 * j + 1], z[2 * j], z[2 * j + 1]);
}

// Normals z[e0 .. e0 + count) of a Philox stream (Box-Muller pairs, KERNELS.md RNG section), in T.
// The uniforms come from the vector Philox above (AVX-512, AVX2) in chunks.
template <class T>
void normals(const Stream& rs, uint64_t e0, int64_t count, T* out) {
  constexpr int kChunk = 512;  // normals per chunk (even)
  double u[kChunk + 4], z[kChunk + 4];
  const simd::Isa isa = simd::detect_isa();
  for (int64_t i0 = 0; i0 < count; i0 += kChunk) {
    const int n = static_cast<int>(std::min<int64_t>(kChunk, count - i0));
    const uint64_t e = e0 + static_cast<uint64_t>(i0);
    // u[2j], u[2j + 1] of blocks (e >> 1) + j: the uniforms of normals (e & ~1) .. up to e + n.
    const uint64_t b0 = e >> 1;
    const int nb = static_cast<int>(((e + n + 1) >> 1) - b0);
#if FG_HAVE_DISPATCH
    if (isa == simd::Isa::v4)
      philox_uniforms_v4(rs, 2 * b0, 2 * nb, u);
    else if (isa == simd::Isa::v3)
      philox_uniforms_v3(rs, 2 * b0, 2 * nb, u);
    else
#endif
      philox_uniforms(rs, 2 * b0, 2 * nb, u);
    (void)isa;
    box_muller_blocks(nb, u, z);
    const double* ze = z + (e & 1);
    T* o = out + i0;
    for (int k = 0; k < n; ++k) o[k] = static_cast<T>(ze[k]);
  }
}

}  // namespace fastgen::rng
