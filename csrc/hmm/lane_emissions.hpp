// The emissions of the lanes kernels (hmm/lanes.hpp): what fills a frame's log-likelihoods
// raw[k * G + l] = log p(frame begin[l] + t | state k) for the lanes of a group. An emission is
// asked in two steps, a step apart: gather<B>(group, t, buf, raw) copies what frame t needs with
// scalar loads (into buf, its slot() doubles, or straight into raw), and compute<B>(buf, raw) turns
// it into the log-likelihoods with vector arithmetic, once the copies have reached the cache.
// rows(b, e, out) gives frames [b, e) as a row-major (e - b) x K array of T, for the sequences
// redone in the log domain.
//
// FrameLogprob reads a precomputed N x K array. DiagGaussian computes the diagonal Gaussian
// densities in the lattice pass itself (the emissions kernel's formula and order of operations,
// lane by lane), so score, predict and the E-step never write or read an N x K array of them.
#pragma once
#include <algorithm>

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

// log N(x; mu_k, diag(1 / prec_k)) = norm_k - 1/2 sum_d prec_kd (x_d - mu_kd)^2 (emissions.hpp's
// gaussian_diag_block; norm_k = 1/2 (sum_d log prec_kd - D log 2 pi), emissions::diag_log_norms).
template <class T>
struct DiagGaussian {
  const T* X;
  int K, D;
  const T* means;
  const T* prec;
  const double* norm;

  int64_t slot() const { return static_cast<int64_t>(D) * kMaxLanes; }

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

  // The M-step's statistics of a group, lane by lane, from its posteriors P (steps K G, zeros
  // outside live frames): out[(k) G + l] = sum_t P_t(k), then wx[k, d] and wxx[k, d] (sums of
  // P_t(k) x_td and P_t(k) x_td^2) at out + K G and out + (K + K D) G, t in order. xl: steps D G.
  int64_t n_stats() const { return K + 2 * static_cast<int64_t>(K) * D; }

  template <int B>
  FASTGEN_VEC_INLINE void stats(const Group& gr, const double* P, double* xl, double* out) const {
    constexpr int L = G<B>;
    const int64_t KL = static_cast<int64_t>(K) * L, DL = static_cast<int64_t>(D) * L;
    for (int64_t t = 0; t < gr.steps; ++t) gather<B>(gr, t, xl + t * DL, nullptr);
    for (int k = 0; k < K; ++k) {
      VD<B> s = {};
      for (int64_t t = 0; t < gr.steps; ++t) s += vec::load<B>(P + t * KL + k * L);
      vec::store(out + k * L, s);
    }
    double* wx = out + KL;
    double* wxx = wx + KL * D;
    int d0 = 0;
    for (; d0 + 4 <= D; d0 += 4) moment_tile<4, B>(gr.steps, d0, P, xl, wx, wxx);
    for (; d0 < D; ++d0) moment_tile<1, B>(gr.steps, d0, P, xl, wx, wxx);
  }

  // Features d0 .. d0 + DB - 1 of every state, 2 DB accumulators a state held over all steps.
  template <int DB, int B>
  FASTGEN_VEC_INLINE void moment_tile(int64_t steps, int d0, const double* P, const double* xl, double* wx,
                                      double* wxx) const {
    constexpr int L = G<B>;
    const int64_t KL = static_cast<int64_t>(K) * L, DL = static_cast<int64_t>(D) * L;
    for (int k = 0; k < K; ++k) {
      VD<B> ax[DB] = {}, axx[DB] = {};
      for (int64_t t = 0; t < steps; ++t) {
        const VD<B> pk = vec::load<B>(P + t * KL + k * L);
        for (int d = 0; d < DB; ++d) {
          const VD<B> x = vec::load<B>(xl + t * DL + (d0 + d) * L);
          const VD<B> px = pk * x;
          ax[d] += px;
          axx[d] += px * x;
        }
      }
      for (int d = 0; d < DB; ++d) {
        vec::store(wx + (static_cast<int64_t>(k) * D + d0 + d) * L, ax[d]);
        vec::store(wxx + (static_cast<int64_t>(k) * D + d0 + d) * L, axx[d]);
      }
    }
  }
};

}  // namespace fastgen::hmm::lanes
