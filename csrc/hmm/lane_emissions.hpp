// The emissions of the lanes kernels (hmm/lanes.hpp): what fills a frame's log-likelihoods
// raw[k * G + l] = log p(frame begin[l] + t | state k) for the lanes of a group. An emission is
// asked in two steps, a step apart: gather<B>(group, t, buf, raw) copies what frame t needs with
// scalar loads (into buf, its slot() doubles, or straight into raw), and compute<B>(buf, raw) turns
// it into the log-likelihoods with vector arithmetic, once the copies have reached the cache.
// rows(b, e, out) gives frames [b, e) as a row-major (e - b) x K array of T, for the sequences
// redone in the log domain.
//
// FrameLogprob reads a precomputed N x K array, Categorical a row of the log-emission table by
// symbol. DiagGaussian, FullGaussian and Poisson compute their log-likelihoods from the rows of X in
// the lattice pass itself (the emissions kernel's formula and order of operations, lane by lane), so
// score, predict and the E-step (their moments summed per group, `moments`) never write or read an
// N x K array of them.
#pragma once
#include <algorithm>
#include <vector>

#include "emissions/emissions.hpp"
#include "hmm/lanes.hpp"

namespace fastgen::hmm::lanes {

// x[c * G + l] = src[begin[l] + t, c] for the `width` columns of a row-major source, as double (0
// past a lane's end).
template <int B, class T>
FASTGEN_VEC_INLINE void gather_rows(const Group& gr, int64_t t, const T* src, int width, double* x) {
  constexpr int L = G<B>;
  for (int l = 0; l < L; ++l) {
    const T* row = src + (gr.begin[l] + t) * width;
    const bool in = t < gr.len[l];
    for (int c = 0; c < width; ++c) x[c * L + l] = in ? static_cast<double>(row[c]) : 0.0;
  }
}

template <class T>
struct FrameLogprob {
  const T* lp;
  int K;

  int64_t slot() const { return 0; }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double*, double* raw) const {
    gather_rows<B>(gr, t, lp, K, raw);
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(const double*, double*) const {}

  void rows(int64_t b, int64_t e, T* out) const { std::copy(lp + b * K, lp + e * K, out); }

  int64_t n_stats() const { return 0; }  // (no M-step statistics of its own)
  template <int B>
  FASTGEN_VEC_INLINE void stats(const Group&, const double*, double*, double*) const {}
};

// Categorical emissions: frame t's row is its symbol's row of the log-emission table, transposed
// (ltab[m * K + k] = log B[k, m]); symbols already checked to lie in [0, M).
template <class T>
struct Categorical {
  const int64_t* x;
  const T* ltab;
  int K;

  int64_t slot() const { return 0; }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double*, double* raw) const {
    constexpr int L = G<B>;
    for (int l = 0; l < L; ++l) {
      const bool in = t < gr.len[l];
      const T* row = ltab + (in ? x[gr.begin[l] + t] : 0) * static_cast<int64_t>(K);
      for (int k = 0; k < K; ++k) raw[k * L + l] = in ? static_cast<double>(row[k]) : 0.0;
    }
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(const double*, double*) const {}

  void rows(int64_t b, int64_t e, T* out) const {
    for (int64_t t = b; t < e; ++t) std::copy(ltab + x[t] * K, ltab + (x[t] + 1) * K, out + (t - b) * K);
  }

  int64_t n_stats() const { return 0; }
  template <int B>
  FASTGEN_VEC_INLINE void stats(const Group&, const double*, double*, double*) const {}
};

// The M-step's statistics of a group, lane by lane, from its posteriors P (steps K G, zeros outside
// live frames) and its frames' features xl (frame t's feature d at xl + t SL + d G):
//   out[k G + l] = sum_t P_t(k), then wx[k, d] = sum_t P_t(k) x_td at out + K G, then for
//   Order 1 wxx[k, d] = sum_t P_t(k) x_td^2, for Order 2 wxx[k, i, j] = sum_t P_t(k) x_ti x_tj
//   (both triangles), at out + (K + K D) G; t in order (emissions::weighted_moments' orders).
template <int Order>
constexpr int64_t n_moments(int K, int D) {
  const int64_t KD = static_cast<int64_t>(K) * D;
  return K + KD + (Order == 0 ? 0 : Order == 1 ? KD : KD * D);
}

// Columns d0 .. d0 + DB - 1 of wx (when `first`) and of wxx's row i (Order 2; Order 1: the
// diagonal, i unused) for state k, accumulators held over all steps.
template <int Order, int DB, int B>
FASTGEN_VEC_INLINE void moment_tile(int64_t steps, int K, int D, int64_t SL, int k, int i, int d0, bool first,
                                    const double* P, const double* xl, double* wx, double* wxx) {
  constexpr int L = G<B>;
  const int64_t KL = static_cast<int64_t>(K) * L;
  VD<B> ax[DB] = {}, axx[DB] = {};
  for (int64_t t = 0; t < steps; ++t) {
    const VD<B> pk = vec::load<B>(P + t * KL + k * L);
    const VD<B> pxi = Order == 2 ? pk * vec::load<B>(xl + t * SL + i * L) : pk;
    for (int d = 0; d < DB; ++d) {
      const VD<B> x = vec::load<B>(xl + t * SL + (d0 + d) * L);
      if (first) ax[d] += pk * x;
      if (Order == 1) axx[d] += (pk * x) * x;
      if (Order == 2) axx[d] += pxi * x;
    }
  }
  const int64_t row = Order == 2 ? (static_cast<int64_t>(k) * D + i) * D : static_cast<int64_t>(k) * D;
  for (int d = 0; d < DB; ++d) {
    if (first) vec::store(wx + (static_cast<int64_t>(k) * D + d0 + d) * L, ax[d]);
    if (Order > 0) vec::store(wxx + (row + d0 + d) * L, axx[d]);
  }
}

template <int Order, int B>
FASTGEN_VEC_INLINE void moment_row(int64_t steps, int K, int D, int64_t SL, int k, int i, bool first,
                                   const double* P, const double* xl, double* wx, double* wxx) {
  int d0 = Order == 2 ? i : 0;  // (order 2: the upper triangle; wx comes with row 0)
  for (; d0 + 4 <= D; d0 += 4) moment_tile<Order, 4, B>(steps, K, D, SL, k, i, d0, first, P, xl, wx, wxx);
  for (; d0 < D; ++d0) moment_tile<Order, 1, B>(steps, K, D, SL, k, i, d0, first, P, xl, wx, wxx);
}

template <int Order, int B>
FASTGEN_VEC_INLINE void moments(int64_t steps, int K, int D, int64_t SL, const double* P, const double* xl,
                                double* out) {
  constexpr int L = G<B>;
  const int64_t KL = static_cast<int64_t>(K) * L;
  for (int k = 0; k < K; ++k) {
    VD<B> s = {};
    for (int64_t t = 0; t < steps; ++t) s += vec::load<B>(P + t * KL + k * L);
    vec::store(out + k * L, s);
  }
  double* wx = out + KL;
  double* wxx = wx + KL * D;
  for (int k = 0; k < K; ++k) {
    if (Order < 2) {
      moment_row<Order, B>(steps, K, D, SL, k, 0, true, P, xl, wx, wxx);
      continue;
    }
    for (int i = 0; i < D; ++i) moment_row<Order, B>(steps, K, D, SL, k, i, i == 0, P, xl, wx, wxx);
    for (int i = 0; i < D; ++i)  // the lower triangle: its mirror
      for (int j = 0; j < i; ++j) {
        const int64_t kd = static_cast<int64_t>(k) * D;
        std::copy_n(wxx + ((kd + j) * D + i) * L, L, wxx + ((kd + i) * D + j) * L);
      }
  }
}

// The Gaussian and Poisson emissions: frames are rows of X (N x D), the M-step's statistics the
// posterior-weighted moments of the given order.
template <class T, int Order>
struct RowEmission {
  const T* X;
  int K, D;

  static constexpr int order = Order;
  int64_t n_stats() const { return n_moments<Order>(K, D); }

  // xl: the group's features, steps D G doubles.
  template <int B>
  FASTGEN_VEC_INLINE void stats(const Group& gr, const double* P, double* xl, double* out) const {
    const int64_t SL = static_cast<int64_t>(D) * G<B>;
    for (int64_t t = 0; t < gr.steps; ++t) gather_rows<B>(gr, t, X, D, xl + t * SL);
    moments<Order, B>(gr.steps, K, D, SL, P, xl, out);
  }
};

// log N(x; mu_k, diag(1 / prec_k)) = norm_k - 1/2 sum_d prec_kd (x_d - mu_kd)^2 (emissions.hpp's
// gaussian_diag_block; norm_k = 1/2 (sum_d log prec_kd - D log 2 pi), emissions::diag_log_norms).
template <class T>
struct DiagGaussian : RowEmission<T, 1> {
  using RowEmission<T, 1>::X, RowEmission<T, 1>::K, RowEmission<T, 1>::D;
  const T* means;
  const T* prec;
  std::vector<double> norm;

  DiagGaussian(const T* X, int K, int D, const T* means, const T* prec)
      : RowEmission<T, 1>{X, K, D}, means(means), prec(prec), norm(emissions::diag_log_norms(K, D, prec)) {}

  int64_t slot() const { return static_cast<int64_t>(D) * kMaxLanes; }
  double cost() const { return D; }  // multiply-adds per frame and state

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double* buf, double*) const {
    gather_rows<B>(gr, t, X, D, buf);
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(const double* buf, double* raw) const {
    constexpr int L = G<B>;
    for (int k = 0; k < K; ++k) {
      const T* mu = means + static_cast<int64_t>(k) * D;
      const T* p = prec + static_cast<int64_t>(k) * D;
      VD<B> s = {};
      for (int d = 0; d < D; ++d) {
        const VD<B> r = vec::load<B>(buf + d * L) - static_cast<double>(mu[d]);
        s += static_cast<double>(p[d]) * r * r;
      }
      vec::store(raw + k * L, norm[k] - 0.5 * s);
    }
  }

  void rows(int64_t b, int64_t e, T* out) const {
    emissions::gaussian_logprob_diag(e - b, K, D, X + b * D, means, prec, out);
  }

};

// log N(x; mu_k, (P_c P_c^T)^-1) = norm_c - 1/2 |(x - mu_k)^T P_c|^2 with P_c the upper-triangular
// precision factor of component k (c = k, or c = 0 for all when C = 1: tied), norm_c = sum_d log
// P_c,dd - D/2 log 2 pi (emissions.hpp's gaussian_full_block and full_log_norms: the same sums in
// the same order, y_j over i <= j, then s over j).
template <class T>
struct FullGaussian : RowEmission<T, 2> {
  using RowEmission<T, 2>::X, RowEmission<T, 2>::K, RowEmission<T, 2>::D;
  int C;
  const T* means;
  const T* P;
  std::vector<double> norm;

  FullGaussian(const T* X, int K, int D, int C, const T* means, const T* P)
      : RowEmission<T, 2>{X, K, D}, C(C), means(means), P(P) {
    const std::vector<T> n = emissions::full_log_norms(C, D, P);
    norm.assign(n.begin(), n.end());
  }

  int64_t slot() const { return static_cast<int64_t>(D) * kMaxLanes; }
  double cost() const { return 0.5 * D * (D + 3); }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double* buf, double*) const {
    gather_rows<B>(gr, t, X, D, buf);
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(const double* buf, double* raw) const {
    constexpr int L = G<B>;
    for (int k = 0; k < K; ++k) {
      const T* mu = means + static_cast<int64_t>(k) * D;
      const T* Pk = P + (C == 1 ? 0 : static_cast<int64_t>(k) * D * D);
      VD<B> s = {};
      for (int j = 0; j < D; ++j) {
        VD<B> y = {};
        for (int i = 0; i <= j; ++i)
          y += (vec::load<B>(buf + i * L) - static_cast<double>(mu[i])) * static_cast<double>(Pk[i * D + j]);
        s += y * y;
      }
      vec::store(raw + k * L, norm[C == 1 ? 0 : k] - 0.5 * s);
    }
  }

  void rows(int64_t b, int64_t e, T* out) const {
    emissions::gaussian_logprob_full(e - b, K, D, C, X + b * D, means, P, out);
  }

};

// Independent Poisson counts: sum_d x_d log lam_kd - sum_d lam_kd - sum_d lgamma(x_d + 1)
// (emissions::poisson_logprob; a zero count adds 0 even under a zero rate). The frame's lgamma sum
// is formed when it is gathered and rides after its counts.
template <class T>
struct Poisson : RowEmission<T, 0> {
  using RowEmission<T, 0>::X, RowEmission<T, 0>::K, RowEmission<T, 0>::D;
  const T* lambdas;
  std::vector<double> loglam, lamsum;
  const double* lfact = emissions::log_factorials();

  Poisson(const T* X, int K, int D, const T* lambdas)
      : RowEmission<T, 0>{X, K, D}, lambdas(lambdas), loglam(static_cast<size_t>(K) * D), lamsum(K, 0.0) {
    for (int k = 0; k < K; ++k)
      for (int d = 0; d < D; ++d) {
        const T lam = lambdas[static_cast<int64_t>(k) * D + d];
        loglam[static_cast<size_t>(k) * D + d] = std::log(lam);
        lamsum[k] += lam;
      }
  }

  int64_t slot() const { return static_cast<int64_t>(D + 1) * kMaxLanes; }
  double cost() const { return D; }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double* buf, double*) const {
    constexpr int L = G<B>;
    gather_rows<B>(gr, t, X, D, buf);
    for (int l = 0; l < L; ++l) {
      double g = 0;
      for (int d = 0; d < D; ++d) g += emissions::log_factorial(lfact, buf[d * L + l]);
      buf[D * L + l] = g;
    }
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(const double* buf, double* raw) const {
    constexpr int L = G<B>;
    const VD<B> lgam = vec::load<B>(buf + D * L), nil = {};
    for (int k = 0; k < K; ++k) {
      const double* ll = loglam.data() + static_cast<int64_t>(k) * D;
      VD<B> s = {};
      for (int d = 0; d < D; ++d) {
        const VD<B> x = vec::load<B>(buf + d * L);
        s += x != 0.0 ? x * ll[d] : nil;
      }
      vec::store(raw + k * L, s - lamsum[k] - lgam);
    }
  }

  void rows(int64_t b, int64_t e, T* out) const { emissions::poisson_logprob(e - b, K, D, X + b * D, lambdas, out); }

};

}  // namespace fastgen::hmm::lanes
