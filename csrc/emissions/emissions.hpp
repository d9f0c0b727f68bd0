// Emission log-likelihood kernels: frame_logprob[n, k] = log p(x_n | state or component k).
// Shared by the HMMs and the mixtures. Raw pointers and sizes; parallel over rows.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/simd.hpp"
#include "common/threads.hpp"
#include "common/vec.hpp"

namespace fastgen::emissions {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// log_emission is (K, M); X holds symbols already checked to lie in [0, M).
template <class T>
void categorical_logprob(int64_t N, int K, int M, const int64_t* X, const T* log_emission, T* out) {
  static thread_local par::Clock clock;
  par::for_range(clock, static_cast<double>(N) * K, N, 4096, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n)
      for (int k = 0; k < K; ++k) out[n * K + k] = log_emission[static_cast<int64_t>(k) * M + X[n]];
  });
}

// Rows in SIMD lanes: the Gaussian kernels take blocks of kRowVecs vectors of rows (16 doubles or 32
// floats with AVX2, twice that with AVX-512), transpose the block's features into columns and keep one accumulator per row vector in a
// register, so every multiply-add is a full vector whatever D is (vectorising over d instead leaves
// a horizontal sum per (n, k), and over a triangle of varying length). Each row's sums still run
// over the features in order. Results go to a K x rows block (ob[k * kBlockRows + r]): write_rows
// copies it out row by row; the mixtures' fused E-step (mixture/e_step.hpp) uses it where it is.
constexpr int kRowVecs = 4;
template <class T, int B>
constexpr int64_t kBlockRows = vec::lanes<T, B> * kRowVecs;

// Rows per block on this CPU (the B that vec::dispatch passes).
template <class T>
int64_t block_rows() {
  return kRowVecs * vec::width() / static_cast<int64_t>(sizeof(T));
}

// xt[d * kBlockRows + r] = X[n0 + r, d]; rows past nb are zero (computed, never written out).
template <int B, class T>
FASTGEN_VEC_INLINE void transpose_rows(int64_t n0, int64_t nb, int D, const T* X, T* xt) {
  constexpr int64_t RB = kBlockRows<T, B>;
  for (int64_t r = 0; r < RB; ++r)
    for (int d = 0; d < D; ++d) xt[d * RB + r] = r < nb ? X[(n0 + r) * D + d] : T(0);
}

// out[n0 + r, k] = ob[k * kBlockRows + r] for the block's nb rows.
template <int B, class T>
FASTGEN_VEC_INLINE void write_rows(int64_t n0, int64_t nb, int K, const T* ob, T* out) {
  constexpr int64_t RB = kBlockRows<T, B>;
  for (int64_t r = 0; r < nb; ++r)
    for (int k = 0; k < K; ++k) out[(n0 + r) * K + k] = ob[k * RB + r];
}

// Diagonal Gaussian: -1/2 [D log 2pi - sum log prec + sum prec (x - mu)^2], computed directly
// (not by the expanded GEMM form, which cancels catastrophically far from the mean).
template <int B, class T>
FASTGEN_VEC_INLINE void gaussian_diag_block(int64_t n0, int64_t nb, int K, int D, const T* X, const T* means,
                                            const T* prec, const T* norm, T* xt, T* ob) {
  using V = vec::V<T, B>;
  constexpr int W = vec::lanes<T, B>;
  constexpr int64_t RB = kBlockRows<T, B>;
  transpose_rows<B>(n0, nb, D, X, xt);
  for (int k = 0; k < K; ++k) {
    const T* mu = means + static_cast<int64_t>(k) * D;
    const T* p = prec + static_cast<int64_t>(k) * D;
    V s[kRowVecs] = {};
    for (int d = 0; d < D; ++d) {
      const T m = mu[d], pd = p[d];  // scalar op vector: broadcast in this clone
#pragma GCC unroll 4
      for (int u = 0; u < kRowVecs; ++u) {
        const V r = vec::load<B>(xt + d * RB + u * W) - m;
        s[u] += pd * r * r;
      }
    }
    const T nk = norm[k];
#pragma GCC unroll 4
    for (int u = 0; u < kRowVecs; ++u) vec::store(ob + k * RB + u * W, nk - T(0.5) * s[u]);
  }
}

// The diagonal densities' constants: 1/2 (sum_d log prec_kd - D log 2 pi), in double.
template <class T>
std::vector<double> diag_log_norms(int K, int D, const T* prec) {
  std::vector<double> norm(K);
  for (int k = 0; k < K; ++k) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += std::log(static_cast<double>(prec[static_cast<int64_t>(k) * D + d]));
    norm[k] = 0.5 * (s - D * kLog2Pi);
  }
  return norm;
}

template <class T>
void gaussian_logprob_diag(int64_t N, int K, int D, const T* X, const T* means, const T* prec, T* out) {
  const std::vector<double> norm64 = diag_log_norms(K, D, prec);
  const std::vector<T> norm(norm64.begin(), norm64.end());
  const int64_t RB = block_rows<T>();
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * D, par::n_chunks(N, RB));
  par::Scratch<T> xt(r, RB * std::max(D, 1)), ob(r, RB * K);
  r.for_chunks(N, RB, [&](int64_t n0, int64_t n1, int w) {
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      constexpr int B = decltype(b)::value;
      gaussian_diag_block<B>(n0, n1 - n0, K, D, X, means, prec, norm.data(), xt[w], ob[w]);
      write_rows<B>(n0, n1 - n0, K, ob[w], out);
    });
  });
}

// Full or tied Gaussian through the upper-triangular precision Cholesky factor P (precision = P P^T):
// y = (x - mu) P, log N = sum log P_ii - 1/2 (D log 2pi + |y|^2). C == K (full) or C == 1 (tied).
// y_j = sum_{i <= j} (x_i - mu_i) P_ij and |y|^2 = sum_j y_j^2 are formed in that order per row.
// The factors go in as upper_padded lays them out: kFullCols columns of y at a time, each a
// rectangle over i < (its last column + 1) whose entries below the diagonal are zeros, so that
// every multiply-add of a pass is independent of the others (a triangle's short, varying loops
// waited on each multiply-add's latency and mispredicted their exits). A zero adds an exact zero:
// the same bits as the triangle alone (finite data).
constexpr int kFullCols = 2;

// Pz[c, i, j] = P[c, i, j] for j >= i (and j < D), 0 elsewhere; j runs to D rounded up to kFullCols.
template <class T>
std::vector<T> upper_padded(int C, int D, const T* P) {
  const int Dj = (D + kFullCols - 1) / kFullCols * kFullCols;
  std::vector<T> Pz(static_cast<size_t>(C) * D * Dj, T(0));
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < D; ++i)
      for (int j = i; j < D; ++j)
        Pz[(static_cast<size_t>(c) * D + i) * Dj + j] = P[(static_cast<int64_t>(c) * D + i) * D + j];
  return Pz;
}

template <int B, class T>
FASTGEN_VEC_INLINE void gaussian_full_block(int64_t n0, int64_t nb, int K, int D, int C, const T* X, const T* means,
                                            const T* Pz, const T* norm, T* xt, T* rt, T* ob) {
  using V = vec::V<T, B>;
  constexpr int W = vec::lanes<T, B>, J = kFullCols;
  constexpr int64_t RB = kBlockRows<T, B>;
  const int Dj = (D + J - 1) / J * J;
  transpose_rows<B>(n0, nb, D, X, xt);
  for (int k = 0; k < K; ++k) {
    const T* mu = means + static_cast<int64_t>(k) * D;
    const T* Pk = Pz + (C == 1 ? 0 : static_cast<int64_t>(k) * D * Dj);
    for (int i = 0; i < D; ++i) {
      const T m = mu[i];
#pragma GCC unroll 4
      for (int u = 0; u < kRowVecs; ++u) vec::store(rt + i * RB + u * W, vec::load<B>(xt + i * RB + u * W) - m);
    }
    V s[kRowVecs] = {};
    for (int j0 = 0; j0 < D; j0 += J) {
      V y[J][kRowVecs] = {};
      const int i1 = std::min(D, j0 + J);
      for (int i = 0; i < i1; ++i) {
        const T* pr = Pk + static_cast<int64_t>(i) * Dj + j0;
#pragma GCC unroll 4
        for (int u = 0; u < kRowVecs; ++u) {
          const V r = vec::load<B>(rt + i * RB + u * W);
#pragma GCC unroll 2
          for (int jj = 0; jj < J; ++jj) y[jj][u] += r * pr[jj];
        }
      }
#pragma GCC unroll 2
      for (int jj = 0; jj < J; ++jj)  // (a padding column past D adds 0 * 0)
#pragma GCC unroll 4
        for (int u = 0; u < kRowVecs; ++u) s[u] += y[jj][u] * y[jj][u];
    }
    const T nk = norm[C == 1 ? 0 : k];
#pragma GCC unroll 4
    for (int u = 0; u < kRowVecs; ++u) vec::store(ob + k * RB + u * W, nk - T(0.5) * s[u]);
  }
}

// The full densities' constants: sum_d log P_dd - D/2 log 2 pi per factor, in double, rounded to T.
template <class T>
std::vector<T> full_log_norms(int C, int D, const T* P) {
  std::vector<T> norm(C);
  for (int c = 0; c < C; ++c) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += std::log(static_cast<double>(P[static_cast<int64_t>(c) * D * D + d * D + d]));
    norm[c] = static_cast<T>(s - 0.5 * D * kLog2Pi);
  }
  return norm;
}

template <class T>
void gaussian_logprob_full(int64_t N, int K, int D, int C, const T* X, const T* means, const T* P, T* out) {
  const std::vector<T> norm = full_log_norms(C, D, P), Pz = upper_padded(C, D, P);
  const int64_t RB = block_rows<T>();
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * D * (D + 3) / 2, par::n_chunks(N, RB));
  par::Scratch<T> xt(r, RB * std::max(D, 1)), rt(r, RB * std::max(D, 1)), ob(r, RB * K);
  r.for_chunks(N, RB, [&](int64_t n0, int64_t n1, int w) {
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      constexpr int B = decltype(b)::value;
      gaussian_full_block<B>(n0, n1 - n0, K, D, C, X, means, Pz.data(), norm.data(), xt[w], rt[w], ob[w]);
      write_rows<B>(n0, n1 - n0, K, ob[w], out);
    });
  });
}

// log(x!) = lgamma(x + 1) of the counts below kLogFactorials, from a table of std::lgamma's own values
// (the same bits; scalar lgamma calls were most of a Poisson pass). Float counts keep lgammaf.
constexpr int kLogFactorials = 1024;

inline const double* log_factorials() {
  static const std::vector<double> table = [] {
    std::vector<double> t(kLogFactorials);
    for (int i = 0; i < kLogFactorials; ++i) t[i] = std::lgamma(static_cast<double>(i) + 1.0);
    return t;
  }();
  return table.data();
}

inline double log_factorial(const double* table, double x) {
  return x >= 0 && x < kLogFactorials && x == std::floor(x) ? table[static_cast<int>(x)] : std::lgamma(x + 1.0);
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
  const double* lfact = log_factorials();
  static thread_local par::Clock clock;
  par::for_range(clock, static_cast<double>(N) * D * (K + 20), N, 256, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* x = X + n * D;
      T lgam = 0;
      for (int d = 0; d < D; ++d) {
        if constexpr (std::is_same_v<T, double>) lgam += log_factorial(lfact, x[d]);
        else lgam += std::lgamma(x[d] + T(1));
      }
      for (int k = 0; k < K; ++k) {
        T s = 0;
        for (int d = 0; d < D; ++d) {
          // 0 * log(0) is 0: a zero count is certain under a zero rate.
          if (x[d] != 0) s += x[d] * loglam[static_cast<int64_t>(k) * D + d];
        }
        out[n * K + k] = s - lamsum[k] - lgam;
      }
    }
  });
}

}  // namespace fastgen::emissions
