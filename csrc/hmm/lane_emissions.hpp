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
// the lattice pass itself (the emissions kernel's formula and order of operations, lane by lane), and
// Mixture a mixture of either Gaussian per state (GMMHMM), so score, predict and the E-step (their
// moments summed per group, `moments`) never write or read an N x K array of them.
#pragma once
#include <algorithm>
#include <vector>

#include "emissions/emissions.hpp"
#include "emissions/logsumexp.hpp"
#include "emissions/stats.hpp"
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

  using value_type = T;
  static constexpr int order = Order;
  int components() const { return K; }  // the moments' rows
  int64_t n_stats() const { return n_moments<Order>(K, D); }

  // A frame's features, gathered lane by lane (the Gaussians' buf; Poisson adds its lgamma sum).
  int64_t slot() const { return static_cast<int64_t>(D) * kMaxLanes; }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double* buf, double*) const {
    gather_rows<B>(gr, t, X, D, buf);
  }

  // The moments from an N x K array of posteriors (the paths without the lanes).
  void posterior_moments(int64_t N, const T* post, T* ws, T* wx, T* wxx) const {
    stats::weighted_moments(N, K, D, Order, X, post, ws, wx, wxx);
  }

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

  double cost() const { return D; }  // multiply-adds per frame and state

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

  double cost() const { return 0.5 * D * (D + 3); }

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

// A mixture of M Gaussians per state (GMMHMM): state k's log-likelihood of a frame is
// logsumexp_m(log w_km + log N(x; component k M + m)), the K M components those of Comp
// (DiagGaussian or FullGaussian over them, state-major). The E-step's moments are the components',
// weighted by P_t(k) softmax_m(log w_km + log N(x_t; km)) (emissions.mixture_posteriors' weights),
// formed per group from the frames again. The component log-densities of a frame ride in its slot
// after its features; in the statistics, the groups' weights after all their features.
template <class Comp>
struct Mixture {
  using T = typename Comp::value_type;
  using value_type = T;
  static constexpr int order = Comp::order;
  Comp comp;
  int K, M;
  const T* log_w;             // K x M
  std::vector<double> lw;     // the same in double
  const T* X;
  int D;

  Mixture(Comp c, int K, int M, const T* log_w)
      : comp(std::move(c)), K(K), M(M), log_w(log_w), lw(log_w, log_w + static_cast<int64_t>(K) * M), X(comp.X),
        D(comp.D) {}

  int components() const { return K * M; }
  int64_t n_stats() const { return n_moments<order>(K * M, D); }
  int64_t slot() const { return comp.slot() + static_cast<int64_t>(K) * M * kMaxLanes; }
  double cost() const { return M * (comp.cost() + 2); }

  template <int B>
  FASTGEN_VEC_INLINE void gather(const Group& gr, int64_t t, double* buf, double*) const {
    comp.template gather<B>(gr, t, buf, nullptr);
  }

  // raw[k G + l] = logsumexp_m(lw[k M + m] + c[(k M + m) G + l]) over the component log-densities c;
  // -inf where every term is. w (if set): P[k G + l] softmax_m(...), the components' posterior weights.
  template <int B>
  FASTGEN_VEC_INLINE void mix(const double* c, double* raw, const double* P, double* w) const {
    constexpr int L = G<B>;
    constexpr double ninf = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < K; ++k) {
      const double* ck = c + static_cast<int64_t>(k) * M * L;
      const double* lk = lw.data() + static_cast<int64_t>(k) * M;
      VD<B> mx = VD<B>{} + ninf;
      for (int m = 0; m < M; ++m) {
        const VD<B> v = vec::load<B>(ck + m * L) + lk[m];
        mx = v > mx ? v : mx;
      }
      const auto none = mx == ninf;
      const VD<B> shift = none ? VD<B>{} : mx;
      VD<B> sum = {};
      for (int m = 0; m < M; ++m) sum += emissions::exp_nonpositive_v<B>(vec::load<B>(ck + m * L) + lk[m] - shift);
      if (raw) {
        Lanes<B> out(VD<B>{}), mx_l(mx), s_l(sum);
        for (int l = 0; l < L; ++l) out[l] = mx_l[l] == ninf ? ninf : mx_l[l] + std::log(s_l[l]);
        vec::store(raw + k * L, out.vector());
      }
      if (w) {
        const VD<B> f = none ? VD<B>{} : vec::load<B>(P + k * L) / sum;
        for (int m = 0; m < M; ++m)
          vec::store(w + (static_cast<int64_t>(k) * M + m) * L,
                     f * emissions::exp_nonpositive_v<B>(vec::load<B>(ck + m * L) + lk[m] - shift));
      }
    }
  }

  template <int B>
  FASTGEN_VEC_INLINE void compute(double* buf, double* raw) const {
    double* c = buf + comp.slot();
    comp.template compute<B>(buf, c);
    mix<B>(c, raw, nullptr, nullptr);
  }

  void rows(int64_t b, int64_t e, T* out) const {
    std::vector<T> c(static_cast<size_t>(e - b) * K * M);
    comp.rows(b, e, c.data());
    emissions::mixture_logprob(e - b, K, M, c.data(), log_w, out);
  }

  void posterior_moments(int64_t N, const T* post, T* ws, T* wx, T* wxx) const {
    Buffer<T> c = buffer<T>(static_cast<size_t>(N) * K * M), r = buffer<T>(static_cast<size_t>(N) * K * M);
    comp.rows(0, N, c.get());
    emissions::mixture_posteriors(N, K, M, c.get(), log_w, post, r.get());
    stats::weighted_moments(N, K * M, D, order, X, r.get(), ws, wx, wxx);
  }

  // xl: steps (D + K M) G doubles: the features, then the components' weights.
  template <int B>
  FASTGEN_VEC_INLINE void stats(const Group& gr, const double* P, double* xl, double* out) const {
    constexpr int L = G<B>;
    const int64_t SL = static_cast<int64_t>(D) * L, KML = static_cast<int64_t>(K) * M * L, KL = static_cast<int64_t>(K) * L;
    double* w = xl + gr.steps * SL;
    for (int64_t t = 0; t < gr.steps; ++t) {
      gather_rows<B>(gr, t, X, D, xl + t * SL);
      comp.template compute<B>(xl + t * SL, w + t * KML);  // (the log-densities, turned into weights in place)
      mix<B>(w + t * KML, nullptr, P + t * KL, w + t * KML);
    }
    moments<order, B>(gr.steps, K * M, D, SL, w, xl, out);
  }
};

}  // namespace fastgen::hmm::lanes
