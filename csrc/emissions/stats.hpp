// EM sufficient statistics, one pass over the data. Rows are split into fixed-size chunks whose
// partial sums are added in chunk order, so results do not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/threads.hpp"
#include "common/simd.hpp"
#include "common/vec.hpp"

namespace fastgen::stats {

constexpr int64_t kChunkRows = 4096;

// Adds rows [n0, n1) of the weighted moments into (ws, wx, wxx). Order: 0 none, 1 diagonal, 2 full
// (upper triangle; mirrored at the end). Every accumulator adds its rows in row order:
//   ws += w;  wx[d] += w x_d;  order 1: q[d] += (w x_d) x_d;  order 2: q[i, j] += x_i (w x_j) (j >= i),
// for one state k at a time over a block of kMomentRows rows, with a tile of accumulators in
// registers: features go in vectors of L doubles (L = 8 with AVX-512, 4 with AVX2; rows copied to
// double, zero-padded), and order 2 runs over L x L tiles (i-tile, j-tile >= i-tile) of the feature
// matrix: per row one product b = w x_j over the tile's columns, then one multiply-add per i with
// x_i broadcast from memory.
// Rows with w == 0 are skipped (0 * inf would be NaN).
constexpr int64_t kMomentRows = 128;

// xp: kMomentRows * max(D rounded up to L, L) doubles of scratch.
template <int B, int Order, class T>
FASTGEN_VEC_INLINE void moments_rows(int64_t n0, int64_t n1, int K, int D, const T* X, const T* W, double* ws,
                                     double* wx, double* wxx, double* xp) {
  using V = vec::V<double, B>;
  constexpr int L = vec::lanes<double, B>;
  const int nt = (D + L - 1) / L, Dp = nt * L;
  for (int64_t b0 = n0; b0 < n1; b0 += kMomentRows) {
    const int64_t nb = std::min(kMomentRows, n1 - b0);
    for (int64_t r = 0; r < nb; ++r)
      for (int d = 0; d < Dp; ++d) xp[r * Dp + d] = d < D ? static_cast<double>(X[(b0 + r) * D + d]) : 0.0;
    for (int k = 0; k < K; ++k) {
      const T* wk = W + b0 * K + k;  // w of row r: wk[r * K]
      double wsum = ws[k];
      for (int jt = 0; jt < std::max(nt, 1); ++jt) {  // ws, wx, order-1 squares; one column tile at a time
        // (D == 0: one empty tile, so that ws is still summed)
        const int c0 = jt * L, cn = std::max(0, std::min(L, D - c0));
        double* wxk = wx + static_cast<int64_t>(k) * D + c0;
        double* qk = wxx + static_cast<int64_t>(k) * D + c0;
        V a = vec::load_first<B>(wxk, cn), q = {};
        if (Order == 1) q = vec::load_first<B>(qk, cn);
        double s = wsum;  // kept only from the first tile (a register, unlike a conditional update)
        for (int64_t r = 0; r < nb; ++r) {
          const double w = wk[r * K];
          if (w == 0) continue;
          s += w;
          const V xv = vec::load<B>(xp + r * Dp + c0);  // (D == 0: Dp == 0, zeros)
          a += w * xv;  // scalar op vector: a broadcast in this clone
          if (Order == 1) q += w * xv * xv;
        }
        if (jt == 0) wsum = s;
        vec::store_first(wxk, a, cn);
        if (Order == 1) vec::store_first(qk, q, cn);
      }
      ws[k] = wsum;
      if (Order != 2) continue;
      double* qk = wxx + static_cast<int64_t>(k) * D * D;
      for (int it = 0; it < nt; ++it) {
        const int i0 = it * L, in = std::min(L, D - i0);
        for (int jt = it; jt < nt; ++jt) {
          const int c0 = jt * L, cn = std::min(L, D - c0);
          V C[L];
#pragma GCC unroll 8
          for (int ii = 0; ii < L; ++ii) C[ii] = ii < in ? vec::load_first<B>(qk + (i0 + ii) * D + c0, cn) : V{};
          for (int64_t r = 0; r < nb; ++r) {
            const double w = wk[r * K];
            if (w == 0) continue;
            const double* xr = xp + r * Dp;
            const V b = w * vec::load<B>(xr + c0);  // w x_j over the tile's L columns
#pragma GCC unroll 8
            for (int ii = 0; ii < L; ++ii) C[ii] += xr[i0 + ii] * b;  // x_i broadcast from memory
          }
#pragma GCC unroll 8
          for (int ii = 0; ii < L; ++ii)
            if (ii < in) vec::store_first(qk + (i0 + ii) * D + c0, C[ii], cn);
        }
      }
    }
  }
}

// Scratch doubles for moments_rows at any width (D rounded up to the widest vector's lanes).
inline size_t moments_scratch(int D) {
  constexpr int L = vec::lanes<double, 64>;
  return static_cast<size_t>(kMomentRows) * ((std::max(D, 1) + L - 1) / L * L);
}

// moments_rows at the CPU's width and the given order (0, 1 or 2).
template <class T>
void add_moments(int order, int64_t n0, int64_t n1, int K, int D, const T* X, const T* W, double* ws, double* wx,
                 double* wxx, double* xp) {
  vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
    constexpr int B = decltype(b)::value;
    if (order == 0) moments_rows<B, 0>(n0, n1, K, D, X, W, ws, wx, wxx, xp);
    else if (order == 1) moments_rows<B, 1>(n0, n1, K, D, X, W, ws, wx, wxx, xp);
    else moments_rows<B, 2>(n0, n1, K, D, X, W, ws, wx, wxx, xp);
  });
}

// Accumulates in double whatever T is: float32 sums over 1e6 rows would lose digits.
template <class T>
void weighted_moments(int64_t N, int K, int D, int order, const T* X, const T* W, T* ws_out, T* wx_out,
                      T* wxx_out) {
  const int64_t nc = par::n_chunks(N, kChunkRows);
  const int64_t q = order == 0 ? 0 : (order == 1 ? static_cast<int64_t>(K) * D : static_cast<int64_t>(K) * D * D);
  const int64_t stride = K + static_cast<int64_t>(K) * D + q;
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(nc, 1) * stride), 0.0);
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * D * (order == 2 ? D : 1), nc);
  par::Scratch<double> xp(r, moments_scratch(D));
  r.for_chunks(N, kChunkRows, [&](int64_t n0, int64_t n1, int w) {
    double* p = part.data() + (n0 / kChunkRows) * stride;
    add_moments(order, n0, n1, K, D, X, W, p, p + K, p + K + static_cast<int64_t>(K) * D, xp[w]);
  });
  std::vector<double> tot(stride, 0.0);
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = 0; i < stride; ++i) tot[i] += part[c * stride + i];
  for (int k = 0; k < K; ++k) ws_out[k] = static_cast<T>(tot[k]);
  for (int64_t i = 0; i < static_cast<int64_t>(K) * D; ++i) wx_out[i] = static_cast<T>(tot[K + i]);
  const double* tq = tot.data() + K + static_cast<int64_t>(K) * D;
  if (order == 1) {
    for (int64_t i = 0; i < q; ++i) wxx_out[i] = static_cast<T>(tq[i]);
  } else if (order == 2) {
    for (int k = 0; k < K; ++k)
      for (int i = 0; i < D; ++i)
        for (int j = 0; j < D; ++j) {
          const int64_t o = static_cast<int64_t>(k) * D * D;
          wxx_out[o + i * D + j] = static_cast<T>(i <= j ? tq[o + i * D + j] : tq[o + j * D + i]);
        }
  }
}

// counts[k, m] = sum of W[n, k] over rows with X[n] == m (symbols already checked to lie in [0, M)).
template <class T>
void categorical_counts(int64_t N, int K, int M, const int64_t* X, const T* W, T* out) {
  const int64_t nc = par::n_chunks(N, kChunkRows);
  const int64_t stride = static_cast<int64_t>(K) * M;
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(nc, 1) * stride), 0.0);
  static thread_local par::Clock clock;
  par::for_chunks(clock, static_cast<double>(N) * K, N, kChunkRows, [&](int64_t n0, int64_t n1, int) {
    double* p = part.data() + (n0 / kChunkRows) * stride;
    for (int64_t n = n0; n < n1; ++n)
      for (int k = 0; k < K; ++k) p[static_cast<int64_t>(k) * M + X[n]] += W[n * K + k];
  });
  for (int64_t i = 0; i < stride; ++i) {
    double s = 0;
    for (int64_t c = 0; c < nc; ++c) s += part[c * stride + i];
    out[i] = static_cast<T>(s);
  }
}

// out[k] = sum of values[rows[r], k] over r, added in list order (rows checked by the binding).
template <class T>
void sum_rows(int K, int64_t R, const T* values, const int64_t* rows, T* out) {
  std::vector<double> acc(K, 0.0);
  for (int64_t r = 0; r < R; ++r)
    for (int k = 0; k < K; ++k) acc[k] += values[rows[r] * K + k];
  for (int k = 0; k < K; ++k) out[k] = static_cast<T>(acc[k]);
}

}  // namespace fastgen::stats
