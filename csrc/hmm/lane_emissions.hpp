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

template <class T>
struct FrameLogprob {
  const T* lp;
  int K;

  int64_t slot() const { return 0; }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double*, double* raw) const {
    constexpr int L = G<B>;
    for (int l = 0; l < L; ++l) {
      const T* row = lp + (gr.begin[l] + t) * K;
      const bool in = t < gr.len[l];
      for (int k = 0; k < K; ++k) raw[k * L + l] = in ? static_cast<double>(row[k]) : 0.0;
    }
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(const double*, double*) const {}

  void rows(int64_t b, int64_t e, T* out) const { std::copy(lp + b * K, lp + e * K, out); }
};

// log N(x; mu_k, diag(1 / prec_k)) = norm_k - 1/2 sum_d prec_kd (x_d - mu_kd)^2 (emissions.hpp's
// gaussian_diag_block; norm_k = 1/2 (sum_d log prec_kd - D log 2 pi), in double).
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
    constexpr int L = G<B>;
    for (int l = 0; l < L; ++l) {
      const T* row = X + (gr.begin[l] + t) * D;
      const bool in = t < gr.len[l];
      for (int d = 0; d < D; ++d) buf[d * L + l] = in ? static_cast<double>(row[d]) : 0.0;
    }
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

// norm_k of DiagGaussian.
template <class T>
std::vector<double> diag_norms(int K, int D, const T* prec) {
  std::vector<double> norm(K);
  for (int k = 0; k < K; ++k) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += std::log(static_cast<double>(prec[static_cast<int64_t>(k) * D + d]));
    norm[k] = 0.5 * (s - D * emissions::kLog2Pi);
  }
  return norm;
}

}  // namespace fastgen::hmm::lanes
