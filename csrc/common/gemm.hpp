// Register-blocked, cache-tiled matrix product with a fused epilogue, shared by the RBM and MLP kernels.
//
//   C[m, n] = sum_k a(m, k) B[k, n],   a(m, k) = A[m * lda + k]  (A row-major)  or  A[k * lda + m]  (TransA)
//
// The output is cut into tiles of up to RB rows x NB columns; a tile is computed by micro-kernels
// of MR rows x NB columns (MR x NV vector accumulators that stay in registers over the whole k
// loop: one broadcast of a(m, k) and NV vector loads of B feed MR x NV fused multiply-adds), and
// the caller's epilogue then runs on the finished tile while it is in L1 (bias, sigmoid, the
// Philox draw: no second pass over C, no array of uniforms). Every C element is the k-ordered
// chain acc = acc + a(m, k) * B[k, n] starting from 0, whichever tile, micro-kernel or thread
// computes it, so the result does not depend on the thread count. The pool's tasks are runs of
// consecutive tiles in panel-major order (common/threads.hpp), so a thread keeps its B panel
// (K x NB) in L2, about four runs per thread so that a descheduled thread's runs are taken over.
//
// 2.0-2.1x faster than numpy's OpenBLAS at the RBM shapes (float32, 100 x 784 x 500, 1 and 2
// threads): benchmarks/bench_rbm.py (R3) and the note at the end of csrc/KERNELS.md's RBM section.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "common/isa.hpp"
#include "common/threads.hpp"

namespace fastgen::simd {

// Register tile per instruction set: 32 x 512-bit registers hold 8 x 3 accumulators (AVX-512),
// 16 x 256-bit hold 6 x 2 (AVX2, the classic Haswell shape), 16 x 128-bit hold 4 x 2 (SSE2).
template <Isa I> struct Shape;
template <> struct Shape<Isa::v4> { static constexpr int bytes = 64, MR = 8, NV = 3; };
template <> struct Shape<Isa::v3> { static constexpr int bytes = 32, MR = 6, NV = 2; };
template <> struct Shape<Isa::base> { static constexpr int bytes = 16, MR = 4, NV = 2; };

template <class T, Isa I>
struct Tiling {
  using V = typename Vec<T, Shape<I>::bytes>::type;
  static constexpr int L = Vec<T, Shape<I>::bytes>::lanes;
  static constexpr int MR = Shape<I>::MR, NV = Shape<I>::NV, NB = NV * L;
};

// MR x (NV vectors) block of C = A B over k in [0, K), written to C (ldc). B rows are NV * L wide
// (NV: the full panel's, or fewer for a narrow last panel).
template <class T, Isa I, int MR, bool TransA, int NV = Tiling<T, I>::NV>
FG_ALWAYS_INLINE void micro(int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc) {
  using Tl = Tiling<T, I>;
  using V = typename Tl::V;
  constexpr int L = Tl::L;
  V acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t k = 0; k < K; ++k) {
    V b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = vload<V>(B + k * ldb + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const T a = TransA ? A[k * lda + r] : A[r * lda + k];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) vstore(C + r * ldc + v * L, acc[r][v]);
}

// Rows [0, M) of a tile whose B panel is NV * L wide (ldb), by MR-row micro-kernels and a tail.
template <class T, Isa I, bool TransA, int NV = Tiling<T, I>::NV>
FG_ALWAYS_INLINE void tile_rows(int64_t M, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                                int64_t ldc) {
  constexpr int MR = Tiling<T, I>::MR;
  auto arow = [&](int64_t m) { return TransA ? A + m : A + m * lda; };
  int64_t m = 0;
  for (; m + MR <= M; m += MR) micro<T, I, MR, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc);
  switch (M - m) {  // the tail: same per-element arithmetic, fewer rows
    case 7: if constexpr (MR > 7) micro<T, I, 7, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    case 6: if constexpr (MR > 6) micro<T, I, 6, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    case 5: if constexpr (MR > 5) micro<T, I, 5, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    case 4: if constexpr (MR > 4) micro<T, I, 4, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    case 3: micro<T, I, 3, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    case 2: micro<T, I, 2, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    case 1: micro<T, I, 1, TransA, NV>(K, arow(m), lda, B, ldb, C + m * ldc, ldc); break;
    default: break;
  }
}

// tile_rows with a B panel of nv vectors (1 <= nv <= the full panel's NV).
template <class T, Isa I, bool TransA>
FG_ALWAYS_INLINE void tile_rows_nv(int nv, int64_t M, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                                   T* C, int64_t ldc) {
  constexpr int NV = Tiling<T, I>::NV;
  if (nv == 1 && NV > 1)
    tile_rows<T, I, TransA, 1>(M, K, A, lda, B, ldb, C, ldc);
  else if (nv == 2 && NV > 2)
    tile_rows<T, I, TransA, (NV > 2 ? 2 : NV)>(M, K, A, lda, B, ldb, C, ldc);
  else
    tile_rows<T, I, TransA>(M, K, A, lda, B, ldb, C, ldc);
}

// The nonzero entries of a row-major A, row by row (CSR): row m's are idx[start[m] .. start[m + 1]).
template <class T>
struct SparseRows {
  const int64_t* start;
  const int32_t* idx;
  const T* val;
};

// Row m of C = A B from A's nonzeros alone: acc = acc + a(m, k) B[k, :] over the nonzero k in
// increasing order. A zero a(m, k) adds an exact zero in the dense kernel (acc is never -0), so
// this is bit for bit the dense result, with (density x) the work: binary data and samples are
// mostly zeros.
template <class T, Isa I>
FG_ALWAYS_INLINE void micro_sparse(int64_t t0, int64_t t1, const int32_t* idx, const T* val, const T* B, int64_t ldb,
                                   T* C) {
  using Tl = Tiling<T, I>;
  using V = typename Tl::V;
  constexpr int NV = Tl::NV, L = Tl::L;
  V acc[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) acc[v] = V{};
  for (int64_t t = t0; t < t1; ++t) {
    const T a = val[t];
    const T* b = B + static_cast<int64_t>(idx[t]) * ldb;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[v] += a * vload<V>(b + v * L);
  }
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) vstore(C + v * L, acc[v]);
}

template <class T, Isa I>
FG_ALWAYS_INLINE void tile_rows_sparse(int64_t m0, int64_t m1, const SparseRows<T>& sp, const T* B, int64_t ldb,
                                       T* C, int64_t ldc) {
  for (int64_t m = m0; m < m1; ++m) micro_sparse<T, I>(sp.start[m], sp.start[m + 1], sp.idx, sp.val, B, ldb, C + (m - m0) * ldc);
}

// Per-thread scratch for a narrow last panel: B columns copied into a zero-padded NB-wide panel
// and the C tile computed into a padded buffer (zero columns add exact zeros: same results).
template <class T>
struct Scratch {
  std::unique_ptr<T[]> b, c;
  int64_t b_size = 0, c_size = 0;
  T* bpanel(int64_t n) {
    if (n > b_size) { b.reset(new T[n]); b_size = n; }
    return b.get();
  }
  T* ctile(int64_t n) {
    if (n > c_size) { c.reset(new T[n]); c_size = n; }
    return c.get();
  }
};

// One tile: rows [m0, m1), columns [n0, n1) of C; then epi(m0, m1, n0, n1) on the written tile.
template <class T, Isa I, bool TransA, class Epi>
FG_ALWAYS_INLINE void tile(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const T* A, int64_t lda,
                           const T* B, int64_t ldb, T* C, int64_t ldc, Epi& epi, Scratch<T>& s,
                           const SparseRows<T>* sp) {
  constexpr int NB = Tiling<T, I>::NB;
  const T* Am = TransA ? A + m0 : A + m0 * lda;
  if (n1 - n0 == NB) {
    if (sp)
      tile_rows_sparse<T, I>(m0, m1, *sp, B + n0, ldb, C + m0 * ldc + n0, ldc);
    else
      tile_rows<T, I, TransA>(m1 - m0, K, Am, lda, B + n0, ldb, C + m0 * ldc + n0, ldc);
  } else if (!sp) {
    // A narrow last panel (the MLPs' 16- or 64-wide layers): a register tile of only the vectors
    // it needs; B read and C written in place when it is whole vectors, else through padded copies.
    constexpr int L = Tiling<T, I>::L;
    const int64_t w = n1 - n0;
    const int nv = static_cast<int>((w + L - 1) / L);
    if (w == nv * L) {
      tile_rows_nv<T, I, TransA>(nv, m1 - m0, K, Am, lda, B + n0, ldb, C + m0 * ldc + n0, ldc);
    } else {
      const int64_t pw = nv * L;
      T* bp = s.bpanel(K * pw);
      for (int64_t k = 0; k < K; ++k) {
        std::memcpy(bp + k * pw, B + k * ldb + n0, sizeof(T) * w);
        std::fill(bp + k * pw + w, bp + (k + 1) * pw, T(0));
      }
      T* ct = s.ctile((m1 - m0) * pw);
      tile_rows_nv<T, I, TransA>(nv, m1 - m0, K, Am, lda, bp, pw, ct, pw);
      for (int64_t m = m0; m < m1; ++m) std::memcpy(C + m * ldc + n0, ct + (m - m0) * pw, sizeof(T) * w);
    }
  } else {
    const int64_t w = n1 - n0;
    T* bp = s.bpanel(K * NB);
    for (int64_t k = 0; k < K; ++k) {
      std::memcpy(bp + k * NB, B + k * ldb + n0, sizeof(T) * w);
      std::fill(bp + k * NB + w, bp + (k + 1) * NB, T(0));
    }
    T* ct = s.ctile((m1 - m0) * NB);
    if (sp)
      tile_rows_sparse<T, I>(m0, m1, *sp, bp, NB, ct, NB);
    else
      tile_rows<T, I, TransA>(m1 - m0, K, Am, lda, bp, NB, ct, NB);
    for (int64_t m = m0; m < m1; ++m) std::memcpy(C + m * ldc + n0, ct + (m - m0) * NB, sizeof(T) * w);
  }
  epi.template run<I>(m0, m1, n0, n1);
}

template <class T, Isa I, bool TransA, class Epi>
FG_ALWAYS_INLINE void tiles(int64_t t0, int64_t t1, int64_t n_row_tiles, int64_t RB, int64_t M, int64_t N,
                            int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, Epi& epi,
                            const SparseRows<T>* sp) {
  constexpr int NB = Tiling<T, I>::NB;
  Scratch<T> s;
  for (int64_t t = t0; t < t1; ++t) {  // panel-major: consecutive tiles share their B panel
    // A tile is >= ~1e5 multiply-adds at the shapes that take long. Not a throw (target functions):
    // gemm() and the pool raise Interrupted for the tiles left unwritten.
    if (par::interrupted()) return;
    const int64_t p = t / n_row_tiles, r = t % n_row_tiles;
    const int64_t m0 = r * RB, n0 = p * NB;
    tile<T, I, TransA>(m0, std::min(M, m0 + RB), n0, std::min(N, n0 + NB), K, A, lda, B, ldb, C, ldc, epi, s, sp);
  }
}

template <class T, bool TransA, class Epi>
FG_TARGET_V4 __attribute__((noinline)) void tiles_v4(int64_t t0, int64_t t1, int64_t nrt, int64_t RB, int64_t M,
                                                      int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                                                      int64_t ldb, T* C, int64_t ldc, Epi& epi,
                                          const SparseRows<T>* sp) {
  tiles<T, Isa::v4, TransA>(t0, t1, nrt, RB, M, N, K, A, lda, B, ldb, C, ldc, epi, sp);
}
template <class T, bool TransA, class Epi>
FG_TARGET_V3 __attribute__((noinline)) void tiles_v3(int64_t t0, int64_t t1, int64_t nrt, int64_t RB, int64_t M,
                                                      int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                                                      int64_t ldb, T* C, int64_t ldc, Epi& epi,
                                          const SparseRows<T>* sp) {
  tiles<T, Isa::v3, TransA>(t0, t1, nrt, RB, M, N, K, A, lda, B, ldb, C, ldc, epi, sp);
}
template <class T, bool TransA, class Epi>
__attribute__((noinline)) void tiles_base(int64_t t0, int64_t t1, int64_t nrt, int64_t RB, int64_t M, int64_t N,
                                          int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                                          int64_t ldc, Epi& epi, const SparseRows<T>* sp) {
  tiles<T, Isa::base, TransA>(t0, t1, nrt, RB, M, N, K, A, lda, B, ldb, C, ldc, epi, sp);
}

inline int64_t nb_for(Isa isa, int64_t elem_bytes) {
  const int64_t bytes = isa == Isa::v4 ? 64 : isa == Isa::v3 ? 32 : 16;
  const int64_t nv = isa == Isa::v4 ? 3 : 2;
  return nv * bytes / elem_bytes;
}

// C[M, N] = a(M, K) B[K, N] followed by epi.run<I>(m0, m1, n0, n1) on each finished tile (I: the
// instruction set the tile was computed with, for the epilogue's own dispatch). Epi is called
// concurrently from several threads on disjoint tiles. Inside a pool task it runs on that thread.
// With `sp` (row-major A only), the rows are computed from A's nonzeros (same results, see micro_sparse).
template <class T, bool TransA, class Epi>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
          Epi& epi, const SparseRows<T>* sp = nullptr) {
  if (M <= 0 || N <= 0) return;
  const Isa isa = detect_isa();
  const int64_t NB = nb_for(isa, sizeof(T));
  const int64_t n_panels = (N + NB - 1) / NB;
    auto run = [&](int64_t t0, int64_t t1, int64_t n_row_tiles, int64_t RB) {
    if (isa == Isa::v4)
      tiles_v4<T, TransA>(t0, t1, n_row_tiles, RB, M, N, K, A, lda, B, ldb, C, ldc, epi, sp);
    else if (isa == Isa::v3)
      tiles_v3<T, TransA>(t0, t1, n_row_tiles, RB, M, N, K, A, lda, B, ldb, C, ldc, epi, sp);
    else
      tiles_base<T, TransA>(t0, t1, n_row_tiles, RB, M, N, K, A, lda, B, ldb, C, ldc, epi, sp);
  };
  // One thread: all rows at once while A stays cache-resident next to a B panel (row tiles of ~96
  // rows past 128). A team: as many row tiles as keep >= 16 rows each, up to 4 tiles per thread, so
  // a descheduled thread's tiles are taken by the others. Every element is the same k-ordered chain
  // whatever the tiling, so results do not depend on it.
  static thread_local par::Clock clock;
  const int64_t most_row_tiles = std::max<int64_t>(1, M / 16);
  par::Region r(clock, static_cast<double>(M) * N * K, n_panels * most_row_tiles);
  const int nt = r.workers();
  int64_t n_row_tiles = M <= 128 ? 1 : (M + 95) / 96;
  while (nt > 1 && n_panels * n_row_tiles < 4 * nt && n_row_tiles < most_row_tiles) ++n_row_tiles;
  const int64_t RB = (M + n_row_tiles - 1) / n_row_tiles;
  n_row_tiles = (M + RB - 1) / RB;
  const int64_t n_tiles = n_panels * n_row_tiles;
  if (nt <= 1) {
    run(0, n_tiles, n_row_tiles, RB);
    par::check_interrupt();  // run() may have stopped early
    return;
  }
  const int64_t n_runs = std::min<int64_t>(n_tiles, 4 * nt);
  r.for_each(n_runs, [&](int64_t i, int) { run(n_tiles * i / n_runs, n_tiles * (i + 1) / n_runs, n_row_tiles, RB); });
}

// Plain product with no epilogue.
struct NoEpilogue {
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t, int64_t, int64_t, int64_t) const {}
};

#if FG_HAVE_DISPATCH
// 8 x 8 float block transpose in AVX registers (unpack, shuffle, 128-bit permute).
FG_TARGET_V3 FG_ALWAYS_INLINE void transpose8x8(const float* src, int64_t ls, float* dst, int64_t ld) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ls);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

// 4 x 4 double block transpose.
FG_TARGET_V3 FG_ALWAYS_INLINE void transpose4x4(const double* src, int64_t ls, double* dst, int64_t ld) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ls), r2 = _mm256_loadu_pd(src + 2 * ls),
                r3 = _mm256_loadu_pd(src + 3 * ls);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1), t2 = _mm256_unpacklo_pd(r2, r3),
                t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + ld, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31));
}

template <class T>
FG_TARGET_V3 __attribute__((noinline)) void transpose_block_v3(int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                                                               int64_t rows, int64_t cols, const T* B, T* Bt) {
  constexpr int64_t k = sizeof(T) == 4 ? 8 : 4;
  int64_t r = r0;
  for (; r + k <= r1; r += k) {
    int64_t c = c0;
    for (; c + k <= c1; c += k) {
      if constexpr (sizeof(T) == 4)
        transpose8x8(B + r * cols + c, cols, Bt + c * rows + r, rows);
      else
        transpose4x4(B + r * cols + c, cols, Bt + c * rows + r, rows);
    }
    for (; c < c1; ++c)
      for (int64_t i = r; i < r + k; ++i) Bt[c * rows + i] = B[i * cols + c];
  }
  for (; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) Bt[c * rows + r] = B[r * cols + c];
}
#endif

// B^T (row-major [cols, rows]) of a row-major [rows, cols] matrix, by cache blocks, in parallel.
template <class T>
void transpose(int64_t rows, int64_t cols, const T* B, T* Bt) {
  constexpr int64_t blk = 64;
  const int64_t nbr = (rows + blk - 1) / blk, nbc = (cols + blk - 1) / blk;
  const bool vec = detect_isa() != Isa::base;
  auto block = [&](int64_t t) {
    const int64_t r0 = (t / nbc) * blk, c0 = (t % nbc) * blk;
    const int64_t r1 = std::min(rows, r0 + blk), c1 = std::min(cols, c0 + blk);
#if FG_HAVE_DISPATCH
    if (vec) {
      transpose_block_v3(r0, r1, c0, c1, rows, cols, B, Bt);
      return;
    }
#endif
    (void)vec;
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = r0; r < r1; ++r) Bt[c * rows + r] = B[r * cols + c];
  };
  static thread_local par::Clock clock;
  par::for_each(clock, static_cast<double>(rows) * cols, nbr * nbc, [&](int64_t t, int) { block(t); });
}

}  // namespace fastgen::simd
