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
// over a block of kMomentRows rows with a tile of accumulators in registers: features go in vectors
// of L doubles (L = 8 with AVX-512, 4 with AVX2; rows copied to double, zero-padded).
//  - Orders 0 and 1 take kGroup components at a time over one column tile: each accumulator gains
//    one multiply-add per row, so one component alone waits on its latency; kGroup chains overlap.
//  - Order 2 runs over L x L tiles (i-tile, j-tile >= i-tile) of the feature matrix, one component
//    at a time: per row one product b = w x_j over the tile's columns, then one multiply-add per i
//    with x_i broadcast from memory (L chains). ws and wx ride along in the diagonal tiles.
// Rows with w == 0 are skipped (0 * inf would be NaN).
constexpr int64_t kMomentRows = 128;
constexpr int kGroup = 4;

// Orders 0 and 1: ws, wx (and the squares) of components k0 .. k0 + G - 1 over the column tile at c0
// (cn live columns; cn == 0 for D == 0, where only ws is summed). wk[g] points at row 0's weight.
template <int B, int Order, int G, class T>
FASTGEN_VEC_INLINE void sums_tile(int64_t nb, int D, int c0, int cn, bool first, const T* const* wk, int64_t w_row,
                                  const int* ks, double* ws, double* wx, double* wxx, const double* xp, int Dp) {
  using V = vec::V<double, B>;
  V a[G], q[G];
  double s[G];
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    a[g] = vec::load_first<B>(wx + static_cast<int64_t>(ks[g]) * D + c0, cn);
    q[g] = Order == 1 ? vec::load_first<B>(wxx + static_cast<int64_t>(ks[g]) * D + c0, cn) : V{};
    s[g] = ws[ks[g]];  // kept only from the first tile (a register, unlike a conditional update)
  }
  for (int64_t r = 0; r < nb; ++r) {
    const V xv = vec::load<B>(xp + r * Dp + c0);  // (D == 0: Dp == 0, zeros)
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const double w = wk[g][r * w_row];
      if (w == 0) continue;
      s[g] += w;
      a[g] += w * xv;  // scalar op vector: a broadcast in this clone
      if (Order == 1) q[g] += w * xv * xv;
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    vec::store_first(wx + static_cast<int64_t>(ks[g]) * D + c0, a[g], cn);
    if (Order == 1) vec::store_first(wxx + static_cast<int64_t>(ks[g]) * D + c0, q[g], cn);
    if (first) ws[ks[g]] = s[g];
  }
}

// Order 2: the (i-tile at i0, j-tile at c0) block of component k's q; Diag: also its wx over the
// j-tile, and its ws when c0 == 0.
template <int B, bool Diag, class T>
FASTGEN_VEC_INLINE void square_tile(int64_t nb, int D, int i0, int in, int c0, int cn, const T* wk, int64_t w_row,
                                    double* wsk, double* wxk, double* qk, const double* xp, int Dp) {
  using V = vec::V<double, B>;
  constexpr int L = vec::lanes<double, B>;
  V C[L];
#pragma GCC unroll 8
  for (int ii = 0; ii < L; ++ii) C[ii] = ii < in ? vec::load_first<B>(qk + (i0 + ii) * D + c0, cn) : V{};
  V a = Diag ? vec::load_first<B>(wxk + c0, cn) : V{};
  double s = *wsk;
  for (int64_t r = 0; r < nb; ++r) {
    const double w = wk[r * w_row];
    if (w == 0) continue;
    const double* xr = xp + r * Dp;
    const V xv = vec::load<B>(xr + c0);
    const V b = w * xv;  // w x_j over the tile's L columns
#pragma GCC unroll 8
    for (int ii = 0; ii < L; ++ii) C[ii] += xr[i0 + ii] * b;  // x_i broadcast from memory
    if (Diag) {
      a += w * xv;
      s += w;
    }
  }
#pragma GCC unroll 8
  for (int ii = 0; ii < L; ++ii)
    if (ii < in) vec::store_first(qk + (i0 + ii) * D + c0, C[ii], cn);
  if (Diag) {
    vec::store_first(wxk + c0, a, cn);
    if (c0 == 0) *wsk = s;
  }
}

// Row n's weight for state k is W[n * w_row + k * w_col] (an N x K array: w_row = K, w_col = 1).
// xp: kMomentRows * max(D rounded up to L, L) doubles of scratch.
template <int B, int Order, class T>
FASTGEN_VEC_INLINE void moments_rows(int64_t n0, int64_t n1, int K, int D, const T* X, const T* W, int64_t w_row,
                                     int64_t w_col, double* ws, double* wx, double* wxx, double* xp) {
  constexpr int L = vec::lanes<double, B>;
  const int nt = (D + L - 1) / L, Dp = nt * L;
  for (int64_t b0 = n0; b0 < n1; b0 += kMomentRows) {
    const int64_t nb = std::min(kMomentRows, n1 - b0);
    for (int64_t r = 0; r < nb; ++r)
      for (int d = 0; d < Dp; ++d) xp[r * Dp + d] = d < D ? static_cast<double>(X[(b0 + r) * D + d]) : 0.0;
    const T* Wb = W + b0 * w_row;
    if (Order < 2) {
      for (int k0 = 0; k0 < K; k0 += kGroup) {
        const int g = std::min(kGroup, K - k0);
        int ks[kGroup];
        const T* wk[kGroup];
        for (int i = 0; i < kGroup; ++i) {
          ks[i] = k0 + std::min(i, g - 1);  // (a short last group runs one component at a time below)
          wk[i] = Wb + ks[i] * w_col;
        }
        for (int jt = 0; jt < std::max(nt, 1); ++jt) {  // D == 0: one empty tile, so that ws is still summed
          const int c0 = jt * L, cn = std::max(0, std::min(L, D - c0));
          if (g == kGroup)
            sums_tile<B, Order, kGroup>(nb, D, c0, cn, jt == 0, wk, w_row, ks, ws, wx, wxx, xp, Dp);
          else
            for (int i = 0; i < g; ++i)
              sums_tile<B, Order, 1>(nb, D, c0, cn, jt == 0, wk + i, w_row, ks + i, ws, wx, wxx, xp, Dp);
        }
      }
      continue;
    }
    for (int k = 0; k < K; ++k) {
      const T* wk = Wb + k * w_col;
      double* qk = wxx + static_cast<int64_t>(k) * D * D;
      if (D == 0) {  // no tiles: ws alone
        for (int64_t r = 0; r < nb; ++r) ws[k] += wk[r * w_row];
        continue;
      }
      for (int it = 0; it < nt; ++it) {
        const int i0 = it * L, in = std::min(L, D - i0);
        for (int jt = it; jt < nt; ++jt) {
          const int c0 = jt * L, cn = std::min(L, D - c0);
          if (jt == it)
            square_tile<B, true>(nb, D, i0, in, c0, cn, wk, w_row, ws + k, wx + static_cast<int64_t>(k) * D, qk, xp, Dp);
          else
            square_tile<B, false>(nb, D, i0, in, c0, cn, wk, w_row, ws + k, wx + static_cast<int64_t>(k) * D, qk, xp,
                                  Dp);
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

// moments_rows at the CPU's width and the given order (0, 1 or 2), W an N x K array.
template <class T>
void add_moments(int order, int64_t n0, int64_t n1, int K, int D, const T* X, const T* W, double* ws, double* wx,
                 double* wxx, double* xp) {
  vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
    constexpr int B = decltype(b)::value;
    if (order == 0) moments_rows<B, 0>(n0, n1, K, D, X, W, K, 1, ws, wx, wxx, xp);
    else if (order == 1) moments_rows<B, 1>(n0, n1, K, D, X, W, K, 1, ws, wx, wxx, xp);
    else moments_rows<B, 2>(n0, n1, K, D, X, W, K, 1, ws, wx, wxx, xp);
  });
}

// Doubles of one chunk's partial sums: ws[K], wx[K, D], then wxx (order 1: [K, D]; order 2: [K, D, D]).
inline int64_t moments_stride(int K, int D, int order) {
  const int64_t q = order == 0 ? 0 : (order == 1 ? static_cast<int64_t>(K) * D : static_cast<int64_t>(K) * D * D);
  return K + static_cast<int64_t>(K) * D + q;
}

// Adds the nc chunks' partial sums (part[c * stride ...]) in chunk order and writes them out in T
// (order 2: the upper triangle mirrored).
template <class T>
void reduce_moments(int64_t nc, int K, int D, int order, const double* part, T* ws_out, T* wx_out, T* wxx_out) {
  const int64_t stride = moments_stride(K, D, order), q = stride - K - static_cast<int64_t>(K) * D;
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

// Accumulates in double whatever T is: float32 sums over 1e6 rows would lose digits.
template <class T>
void weighted_moments(int64_t N, int K, int D, int order, const T* X, const T* W, T* ws_out, T* wx_out,
                      T* wxx_out) {
  const int64_t nc = par::n_chunks(N, kChunkRows);
  const int64_t stride = moments_stride(K, D, order);
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(nc, 1) * stride), 0.0);
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * D * (order == 2 ? D : 1), nc);
  par::Scratch<double> xp(r, moments_scratch(D));
  r.for_chunks(N, kChunkRows, [&](int64_t n0, int64_t n1, int w) {
    double* p = part.data() + (n0 / kChunkRows) * stride;
    add_moments(order, n0, n1, K, D, X, W, p, p + K, p + K + static_cast<int64_t>(K) * D, xp[w]);
  });
  reduce_moments(nc, K, D, order, part.data(), ws_out, wx_out, wxx_out);
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
