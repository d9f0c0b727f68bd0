// Emission log-likelihood kernels: frame_logprob[n, k] = log p(x_n | state or component k).
// Shared by the HMMs and the mixtures. Raw pointers and sizes; parallel over rows.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/simd.hpp"

namespace fastgen::emissions {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// log_emission is (K, M); X holds symbols already checked to lie in [0, M).
template <class T>
void categorical_logprob(int64_t N, int K, int M, const int64_t* X, const T* log_emission, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) out[n * K + k] = log_emission[static_cast<int64_t>(k) * M + X[n]];
}

// Diagonal Gaussian: -1/2 [D log 2pi - sum log prec + sum prec (x - mu)^2], computed directly
// (not by the expanded GEMM form, which cancels catastrophically far from the mean).
template <class T>
FASTGEN_SIMD_CLONES static void gaussian_diag_rows(int64_t n0, int64_t n1, int K, int D, const T* X,
                                                   const T* means, const T* prec, const T* norm, T* out) {
  for (int64_t n = n0; n < n1; ++n) {
    const T* x = X + n * D;
    for (int k = 0; k < K; ++k) {
      const T* mu = means + static_cast<int64_t>(k) * D;
      const T* p = prec + static_cast<int64_t>(k) * D;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int d = 0; d < D; ++d) { const T r = x[d] - mu[d]; s += p[d] * r * r; }
      out[n * K + k] = norm[k] - T(0.5) * s;
    }
  }
}

template <class T>
void gaussian_logprob_diag(int64_t N, int K, int D, const T* X, const T* means, const T* prec, T* out) {
  std::vector<T> norm(K);
  for (int k = 0; k < K; ++k) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += std::log(static_cast<double>(prec[static_cast<int64_t>(k) * D + d]));
    norm[k] = static_cast<T>(0.5 * (s - D * kLog2Pi));
  }
  constexpr int64_t kRows = 256;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < (N + kRows - 1) / kRows; ++b)
    gaussian_diag_rows(b * kRows, std::min(N, (b + 1) * kRows), K, D, X, means, prec, norm.data(), out);
}

// Full or tied Gaussian through the upper-triangular precision Cholesky factor P (precision = P P^T):
// y = (x - mu) P, log N = sum log P_ii - 1/2 (D log 2pi + |y|^2). C == K (full) or C == 1 (tied).
template <class T>
FASTGEN_SIMD_CLONES static void gaussian_full_rows(int64_t n0, int64_t n1, int K, int D, int C, const T* X,
                                                   const T* means, const T* P, const T* norm, T* out) {
  std::vector<T> r(D);
  for (int64_t n = n0; n < n1; ++n) {
    const T* x = X + n * D;
    for (int k = 0; k < K; ++k) {
      const T* mu = means + static_cast<int64_t>(k) * D;
      const T* Pk = P + (C == 1 ? 0 : static_cast<int64_t>(k) * D * D);
      for (int d = 0; d < D; ++d) r[d] = x[d] - mu[d];
      T s = 0;
      for (int j = 0; j < D; ++j) {
        T y = 0;
        for (int i = 0; i <= j; ++i) y += r[i] * Pk[i * D + j];
        s += y * y;
      }
      out[n * K + k] = norm[C == 1 ? 0 : k] - T(0.5) * s;
    }
  }
}

template <class T>
void gaussian_logprob_full(int64_t N, int K, int D, int C, const T* X, const T* means, const T* P, T* out) {
  std::vector<T> norm(C);
  for (int c = 0; c < C; ++c) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += std::log(static_cast<double>(P[static_cast<int64_t>(c) * D * D + d * D + d]));
    norm[c] = static_cast<T>(s - 0.5 * D * kLog2Pi);
  }
  constexpr int64_t kRows = 128;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < (N + kRows - 1) / kRows; ++b)
    gaussian_full_rows(b * kRows, std::min(N, (b + 1) * kRows), K, D, C, X, means, P, norm.data(), out);
}

// Independent Poisson counts per feature: sum_d x log lam - lam - lgamma(x + 1).
template <class T>
void poisson_logprob(int64_t N, int K, int D, const T* X, const T* lambdas, T* out) {
  std::vector<T> loglam(static_cast<size_t>(K) * D), lamsum(K, 0);
  for (int k = 0; k < K; ++k)
    for (int d = 0; d < D; ++d) {
      const T lam = lambdas[static_cast<int64_t>(k) * D + d];
      loglam[static_cast<int64_t>(k) * D + d] = std::log(lam);
      lamsum[k] += lam;
    }
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const T* x = X + n * D;
    T lgam = 0;
    for (int d = 0; d < D; ++d) lgam += std::lgamma(x[d] + T(1));
    for (int k = 0; k < K; ++k) {
      T s = 0;
      for (int d = 0; d < D; ++d) {
        // 0 * log(0) is 0: a zero count is certain under a zero rate.
        if (x[d] != 0) s += x[d] * loglam[static_cast<int64_t>(k) * D + d];
      }
      out[n * K + k] = s - lamsum[k] - lgam;
    }
  }
}

}  // namespace fastgen::emissions
