// EM sufficient statistics, one pass over the data. Rows are split into fixed-size chunks whose
// partial sums are added in chunk order, so results do not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/parallel.hpp"
#include "common/simd.hpp"

namespace fastgen::stats {

constexpr int64_t kChunkRows = 4096;

// Adds rows [n0, n1) of the weighted moments into (ws, wx, wxx). order: 0 none, 1 diagonal, 2 full.
template <class T>
FASTGEN_SIMD_CLONES static void moments_rows(int64_t n0, int64_t n1, int K, int D, int order, const T* X,
                                             const T* W, double* ws, double* wx, double* wxx) {
  for (int64_t n = n0; n < n1; ++n) {
    const T* x = X + n * D;
    const T* w = W + n * K;
    for (int k = 0; k < K; ++k) {
      const double wk = w[k];
      if (wk == 0) continue;
      ws[k] += wk;
      double* wxk = wx + static_cast<int64_t>(k) * D;
#pragma omp simd
      for (int d = 0; d < D; ++d) wxk[d] += wk * x[d];
      if (order == 1) {
        double* q = wxx + static_cast<int64_t>(k) * D;
#pragma omp simd
        for (int d = 0; d < D; ++d) q[d] += wk * x[d] * x[d];
      } else if (order == 2) {
        double* q = wxx + static_cast<int64_t>(k) * D * D;
        for (int i = 0; i < D; ++i) {
          const double a = wk * x[i];
#pragma omp simd
          for (int j = i; j < D; ++j) q[i * D + j] += a * x[j];  // upper triangle; mirrored at the end
        }
      }
    }
  }
}

// Accumulates in double whatever T is: float32 sums over 1e6 rows would lose digits.
template <class T>
void weighted_moments(int64_t N, int K, int D, int order, const T* X, const T* W, T* ws_out, T* wx_out,
                      T* wxx_out) {
  const int64_t nc = par::n_chunks(N, kChunkRows);
  const int64_t q = order == 0 ? 0 : (order == 1 ? static_cast<int64_t>(K) * D : static_cast<int64_t>(K) * D * D);
  const int64_t stride = K + static_cast<int64_t>(K) * D + q;
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(nc, 1) * stride), 0.0);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < nc; ++c) {
    double* p = part.data() + c * stride;
    moments_rows(c * kChunkRows, std::min(N, (c + 1) * kChunkRows), K, D, order, X, W, p, p + K,
                 p + K + static_cast<int64_t>(K) * D);
  }
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
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < nc; ++c) {
    double* p = part.data() + c * stride;
    const int64_t n1 = std::min(N, (c + 1) * kChunkRows);
    for (int64_t n = c * kChunkRows; n < n1; ++n)
      for (int k = 0; k < K; ++k) p[static_cast<int64_t>(k) * M + X[n]] += W[n * K + k];
  }
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
