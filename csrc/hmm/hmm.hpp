// HMM inference kernels over concatenated sequences (offsets[s]..offsets[s+1]).
//
// Scaled forward/backward: frame log-likelihoods are shifted by their per-frame maximum m_n and
// exponentiated once (E = exp(lp - m), N*K exps), then the recursions run in the probability
// domain with per-step normalisation, so T = 1e6 steps cannot underflow:
//   alpha_t = normalise(E_t * (alpha_{t-1} A)),  c_t = the normaliser,  log P = sum_t (log c_t + m_t)
//   beta_t  = A (E_{t+1} * beta_{t+1}) / c_{t+1}     (the forward scale, Rabiner's scaling)
// Scaling beta by its own sum instead would let the beta of the only reachable state underflow
// next to an unreachable state with larger emissions (an absorbing state loses all mass after
// ~250 steps); the forward normaliser tracks the reachable mass. Posteriors and the expected transition counts are then formed in one
// pass over fixed chunks of frames, using
//   xi_t(i, j) = alpha_t(i) A_ij E_{t+1}(j) beta_{t+1}(j) / (c_{t+1} sum_j alpha_{t+1}(j) beta_{t+1}(j)),
// accumulating sum_t alpha_t(i) w_{t+1}(j) per chunk and multiplying by A_ij once at the end.
// Normalising alpha over all states cannot keep a state whose share falls below the floating-point
// range; when such a state could only come back through itself, the sequence is redone in the log
// domain (lost_forward_mass below), so the scaled path is never silently wrong.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "common/categorical.hpp"
#include "common/fastmath.hpp"
#include "common/threads.hpp"
#include "common/rng.hpp"
#include "common/simd.hpp"

namespace fastgen::hmm {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Work arrays of N*K values are written before they are read: skip std::vector's zero fill (a
// full extra pass over tens of MB per call).
template <class T>
using Buffer = std::unique_ptr<T[]>;
template <class T>
Buffer<T> buffer(size_t n) { return Buffer<T>(new T[n]); }
constexpr int64_t kChunkFrames = 2048;

// ---------------------------------------------------------------------------------------------
// Small dense helpers (vectorised through runtime dispatch).

// out[j] = sum_i a[i] A[i, j]. Columns go in blocks of JB whose accumulators stay in registers
// over the whole i loop (one load of A per FMA instead of load-A, load-out, store-out).
template <int JB, class T>
static inline int vecmat_blocks(int K, int j0, const T* a, const T* A, T* out) {
  for (; j0 + JB <= K; j0 += JB) {
    T acc[JB] = {};
    for (int i = 0; i < K; ++i) {
      const T ai = a[i];
      const T* Ai = A + static_cast<int64_t>(i) * K + j0;
#pragma omp simd
      for (int j = 0; j < JB; ++j) acc[j] += ai * Ai[j];
    }
    for (int j = 0; j < JB; ++j) out[j0 + j] = acc[j];
  }
  return j0;
}

template <class T>
static inline void vecmat(int K, const T* a, const T* A, T* out) {
  int j0 = vecmat_blocks<32>(K, 0, a, A, out);
  j0 = vecmat_blocks<8>(K, j0, a, A, out);
  for (int j = j0; j < K; ++j) {
    T s = 0;
    for (int i = 0; i < K; ++i) s += a[i] * A[static_cast<int64_t>(i) * K + j];
    out[j] = s;
  }
}

// out[i] = sum_j A[i, j] v[j]
template <class T>
static inline void matvec(int K, const T* A, const T* v, T* out) {
  for (int i = 0; i < K; ++i) {
    const T* Ai = A + static_cast<int64_t>(i) * K;
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < K; ++j) s += Ai[j] * v[j];
    out[i] = s;
  }
}

// acc[i, j] += a[i] w[j]
template <class T>
static inline void outer_add(int K, const T* a, const double* w, double* acc) {
  for (int i = 0; i < K; ++i) {
    const double ai = a[i];
    if (ai == 0) continue;
    double* r = acc + static_cast<int64_t>(i) * K;
#pragma omp simd
    for (int j = 0; j < K; ++j) r[j] += ai * w[j];
  }
}

// One Viterbi step: nd[j] = max_i (delta[i] + logA[i, j]) + lp[j], bp[j] = the lowest argmax.
// Register-blocked over columns like vecmat; strict '>' keeps the lowest index on ties.
template <int JB, class T>
static inline int viterbi_blocks(int K, int j0, const T* delta, const T* logA, const T* lp, T* nd, int32_t* bp) {
  for (; j0 + JB <= K; j0 += JB) {
    T best[JB], arg[JB];  // the argmax kept in T lanes so the compare-and-blend vectorises
    for (int j = 0; j < JB; ++j) { best[j] = delta[0] + logA[j0 + j]; arg[j] = 0; }
    for (int i = 1; i < K; ++i) {
      const T di = delta[i], ti = static_cast<T>(i);
      const T* Ai = logA + static_cast<int64_t>(i) * K + j0;
#pragma omp simd
      for (int j = 0; j < JB; ++j) {
        const T cand = di + Ai[j];
        const bool better = cand > best[j];
        best[j] = better ? cand : best[j];
        arg[j] = better ? ti : arg[j];
      }
    }
    for (int j = 0; j < JB; ++j) { nd[j0 + j] = best[j] + lp[j0 + j]; bp[j0 + j] = static_cast<int32_t>(arg[j]); }
  }
  return j0;
}

template <class T>
static inline void viterbi_step(int K, const T* delta, const T* logA, const T* lp, T* nd, int32_t* bp) {
  int j0 = viterbi_blocks<16>(K, 0, delta, logA, lp, nd, bp);
  j0 = viterbi_blocks<4>(K, j0, delta, logA, lp, nd, bp);
  for (int j = j0; j < K; ++j) {
    T best = delta[0] + logA[j];
    int32_t arg = 0;
    for (int i = 1; i < K; ++i) {
      const T cand = delta[i] + logA[static_cast<int64_t>(i) * K + j];
      if (cand > best) { best = cand; arg = i; }
    }
    nd[j] = best + lp[j];
    bp[j] = arg;
  }
}

template <class T>
static T max_of(int K, const T* x) {
  T m = x[0];
  for (int k = 1; k < K; ++k) m = x[k] > m ? x[k] : m;
  return m;
}

// e[k] = exp(lp[k] - max lp) for one frame; returns the max (-inf and e = 0 for an impossible frame).
template <class T>
inline double frame_shifted_exp(int K, const T* lp, T* e) {
  const T mx = max_of(K, lp);
  if (mx == -std::numeric_limits<T>::infinity()) {
    for (int k = 0; k < K; ++k) e[k] = 0;
    return kNegInf;
  }
#pragma omp simd
  for (int k = 0; k < K; ++k) e[k] = static_cast<T>(fm::exp_nonpositive(static_cast<double>(lp[k]) - mx));
  return mx;
}

// With Rabiner's scaling sum_i alpha_t(i) beta_t(i) = 1, so a beta above this bound belongs to a
// state whose alpha is below its inverse, i.e. below the smallest normal T (1/FLT_MIN = 8.5e37,
// 1/DBL_MIN = 4.5e307), where the forward pass already holds 0: clamping it loses no posterior mass,
// while an unclamped beta of an unreachable state can overflow and turn 0 * inf into NaN.
template <class T>
constexpr T beta_max() { return sizeof(T) == 4 ? T(1e38) : T(1e300); }

// The xi weight w_{t+1}(j) = E_{t+1}(j) beta_{t+1}(j) / (c_{t+1} g_{t+1}) is formed in double and
// capped here: next to a clamped beta and a tiny normaliser it can overflow, and alpha(i) * inf
// (or inf * A_ij with A_ij = 0 at the end) would be NaN. Since alpha_t(i) A_ij w(j) <= 1, a capped
// weight only drops terms with alpha_t(i) A_ij < 1e-300.
constexpr double kMaxXiWeight = 1e300;

// Returned by the scaled forward passes for a sequence that must be redone in the log domain.
constexpr double kRedoInLog = std::numeric_limits<double>::quiet_NaN();

// Called when the unnormalised forward row cur = (prev A) * E_t (pi * E_t at the first frame,
// prev == nullptr) has zeros. A zero is structural when the state cannot be reached (lp = -inf,
// or no live predecessor); otherwise its mass underflowed. That is harmless when a surviving
// state re-enters it next step (only mass below the underflow threshold is lost), but when none
// does -- a transient state beside an absorbing one, a deep emission dip in a left-right chain --
// the state is gone for good although it may explain the rest of the sequence far better, and the
// scaled recursion would return a silently wrong answer: the sequence is redone in the log domain.
template <class T>
static bool lost_forward_mass(int K, const T* prev, const T* pi, const T* A, const T* lp_t, const T* cur) {
  for (int j = 0; j < K; ++j) {
    if (cur[j] != 0 || !(lp_t[j] > -std::numeric_limits<T>::infinity())) continue;
    bool reachable = false;
    if (!prev) {
      reachable = pi[j] > 0;
    } else {
      for (int i = 0; i < K && !reachable; ++i) reachable = prev[i] > 0 && A[static_cast<int64_t>(i) * K + j] > 0;
    }
    if (!reachable) continue;
    bool reentered = false;
    for (int i = 0; i < K && !reentered; ++i) reentered = i != j && cur[i] > 0 && A[static_cast<int64_t>(i) * K + j] > 0;
    if (!reentered) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Scaled recursions for one sequence.

// E[n, k] = exp(lp[n, k] - m[n]), m[n] = max_k lp[n, k]; an all -inf row gives E = 0, m = -inf.
template <class T>
FASTGEN_SIMD_CLONES static void shifted_exp_rows(int64_t n0, int64_t n1, int K, const T* lp, T* E, double* m) {
  for (int64_t n = n0; n < n1; ++n) m[n] = frame_shifted_exp(K, lp + n * K, E + n * K);
}

template <class T>
void shifted_exp(int64_t N, int K, const T* lp, T* E, double* m) {
  static thread_local par::Clock clock;
  par::for_chunks(clock, 8.0 * N * K, N, kChunkFrames,
                  [&](int64_t b, int64_t e, int) { shifted_exp_rows(b, e, K, lp, E, m); });
}

// Forward pass for scoring only: two alpha rows, the frame's shifted exp computed on the fly
// (no N*K temporaries). Returns log P(sequence) or -inf.
template <class T>
FASTGEN_SIMD_CLONES static double forward_score(int64_t b, int64_t e, int K, const T* pi, const T* A, const T* lp, T* scratch) {
  T* prev = scratch;
  T* cur = scratch + K;
  T* et = scratch + 2 * static_cast<int64_t>(K);
  double ll = 0, prod = 1;
  for (int64_t t = b; t < e; ++t) {
    const double mt = frame_shifted_exp(K, lp + t * K, et);
    if (t == b) {
      for (int j = 0; j < K; ++j) cur[j] = pi[j];
    } else {
      vecmat(K, prev, A, cur);
    }
    double s = 0;
    int zeros = 0;
    for (int j = 0; j < K; ++j) { cur[j] *= et[j]; s += cur[j]; zeros += cur[j] == 0; }
    // the guard first: a frame where every reachable state's emission underflowed is not impossible
    if (zeros && lost_forward_mass(K, t == b ? nullptr : prev, pi, A, lp + t * K, cur)) return kRedoInLog;
    if (!(s > 0) || !std::isfinite(s)) return kNegInf;
    const T inv = static_cast<T>(1.0 / s);
    for (int j = 0; j < K; ++j) cur[j] *= inv;
    ll += mt;
    prod *= s;
    if (prod < 1e-250 || prod > 1e250) {
      ll += std::log(prod);
      prod = 1;
    }
    std::swap(prev, cur);
  }
  return ll + std::log(prod);
}

// Returns log P(sequence), -inf, or kRedoInLog. Rows b..e-1 of lp, E, m, alpha, c.
template <class T>
FASTGEN_SIMD_CLONES static double forward_scaled(int64_t b, int64_t e, int K, const T* pi, const T* A, const T* lp,
                                                 const T* E, const double* m, T* alpha, double* c) {
  auto row = [&](int64_t t) { return alpha + t * K; };
  // log P = sum_t (log c_t + m_t): the c_t (<= 1 for stochastic A) are multiplied up and folded
  // into the sum only when the product nears underflow, so a step costs no log.
  double ll = 0, prod = 1;
  for (int64_t t = b; t < e; ++t) {
    T* cur = row(t);
    if (t == b) {
      for (int j = 0; j < K; ++j) cur[j] = pi[j];
    } else {
      vecmat(K, row(t - 1), A, cur);
    }
    const T* et = E + t * K;
    double s = 0;
    int zeros = 0;
    for (int j = 0; j < K; ++j) { cur[j] *= et[j]; s += cur[j]; zeros += cur[j] == 0; }
    // the guard first: a frame where every reachable state's emission underflowed is not impossible
    if (zeros && lost_forward_mass(K, t == b ? nullptr : row(t - 1), pi, A, lp + t * K, cur)) return kRedoInLog;
    if (!(s > 0) || !std::isfinite(s)) return kNegInf;
    const T inv = static_cast<T>(1.0 / s);
    for (int j = 0; j < K; ++j) cur[j] *= inv;
    c[t] = s;
    ll += m[t];
    prod *= s;
    if (prod < 1e-250 || prod > 1e250) {
      ll += std::log(prod);
      prod = 1;
    }
  }
  return ll + std::log(prod);
}

template <class T>
FASTGEN_SIMD_CLONES static void backward_scaled(int64_t b, int64_t e, int K, const T* A, const T* E, const double* c,
                                                T* beta, T* v) {
  for (int j = 0; j < K; ++j) beta[(e - 1) * K + j] = 1;
  for (int64_t t = e - 2; t >= b; --t) {
    const T* bn = beta + (t + 1) * K;
    const T* en = E + (t + 1) * K;
    for (int j = 0; j < K; ++j) v[j] = en[j] * bn[j];
    T* bt = beta + t * K;
    matvec(K, A, v, bt);
    const T inv = static_cast<T>(1.0 / c[t + 1]);
    for (int i = 0; i < K; ++i) bt[i] = std::min(bt[i] * inv, beta_max<T>());
  }
}

// ---------------------------------------------------------------------------------------------
// Log-domain recursions for one sequence (logsumexp; K^2 exps per step).

// Log lattices are double whatever T is: at T = 1e5 steps log-alphas reach ~1e5 in magnitude,
// where float32 resolves only ~0.01, which would put 1% errors into every posterior.
template <class T>
double forward_log(int64_t b, int64_t e, int K, const T* logpi, const T* logA, const T* lp, double* la,
                   double* mx) {
  for (int j = 0; j < K; ++j) la[b * K + j] = logpi[j] + lp[b * K + j];
  for (int64_t t = b + 1; t < e; ++t) {
    const double* prev = la + (t - 1) * K;
    double* cur = la + t * K;
    for (int j = 0; j < K; ++j) mx[j] = kNegInf;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) mx[j] = std::max(mx[j], static_cast<double>(prev[i]) + logA[i * K + j]);
    for (int j = 0; j < K; ++j) {
      if (mx[j] == kNegInf) { cur[j] = kNegInf; continue; }
      double s = 0;
      for (int i = 0; i < K; ++i) s += std::exp(static_cast<double>(prev[i]) + logA[i * K + j] - mx[j]);
      cur[j] = mx[j] + std::log(s) + lp[t * K + j];
    }
  }
  const double* last = la + (e - 1) * K;
  const double m = max_of(K, last);
  if (m == kNegInf || !std::isfinite(m)) return kNegInf;
  double s = 0;
  for (int j = 0; j < K; ++j) s += std::exp(last[j] - m);
  return m + std::log(s);
}

template <class T>
void backward_log(int64_t b, int64_t e, int K, const T* logA, const T* lp, double* lb, double* tmp) {
  for (int j = 0; j < K; ++j) lb[(e - 1) * K + j] = 0;
  for (int64_t t = e - 2; t >= b; --t) {
    const double* nxt = lb + (t + 1) * K;
    const T* lpn = lp + (t + 1) * K;
    for (int j = 0; j < K; ++j) tmp[j] = static_cast<double>(lpn[j]) + nxt[j];
    for (int i = 0; i < K; ++i) {
      const T* Ai = logA + static_cast<int64_t>(i) * K;
      double m = kNegInf;
      for (int j = 0; j < K; ++j) m = std::max(m, Ai[j] + tmp[j]);
      if (m == kNegInf) { lb[t * K + i] = kNegInf; continue; }
      double s = 0;
      for (int j = 0; j < K; ++j) s += std::exp(Ai[j] + tmp[j] - m);
      lb[t * K + i] = m + std::log(s);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Batched entry points.

// Index of the sequence holding frame n (offsets strictly increasing, offsets[0] = 0).
inline int64_t sequence_of(const int64_t* offsets, int64_t S, int64_t n) {
  return static_cast<int64_t>(std::upper_bound(offsets, offsets + S + 1, n) - offsets) - 1;
}

// Adds the chunk's xi partial into the total in chunk order; scales by A (or exp(logA)) at the end.
template <class T>
static void reduce_xi(int64_t nc, int K, const std::vector<double>& part, const T* A, T* xi_sum) {
  const int64_t KK = static_cast<int64_t>(K) * K;
  for (int64_t i = 0; i < KK; ++i) {
    double s = 0;
    for (int64_t c = 0; c < nc; ++c) s += part[c * KK + i];
    xi_sum[i] = static_cast<T>(!A ? s : A[i] == 0 ? 0.0 : s * A[i]);  // never inf * 0
  }
}

// Posteriors and the xi partial sum for frames [n0, n1) (see the header comment for the formula).
template <class T>
FASTGEN_SIMD_CLONES static void posterior_chunk(int64_t n0, int64_t n1, int K, int64_t S, const int64_t* offsets,
                                                const double* ll, const T* alpha, const T* beta, const T* E,
                                                const double* c, T* post, double* xi_part, double* w) {
  int64_t s = sequence_of(offsets, S, n0);
  for (int64_t n = n0; n < n1; ++n) {
    while (n >= offsets[s + 1]) ++s;
    const bool dead = !(ll[s] > kNegInf);  // impossible, or to be redone in the log domain
    const T* an = alpha + n * K;
    const T* bn = beta + n * K;
    if (post) {
      T* pn = post + n * K;
      double g = 0;
      if (!dead)
        for (int k = 0; k < K; ++k) g += static_cast<double>(an[k]) * bn[k];
      if (g > 0) {
        const double inv = 1.0 / g;
        for (int k = 0; k < K; ++k) pn[k] = static_cast<T>(an[k] * static_cast<double>(bn[k]) * inv);
      } else {
        for (int k = 0; k < K; ++k) pn[k] = 0;
      }
    }
    if (xi_part && !dead && n + 1 < offsets[s + 1]) {
      const T* a1 = an + K;
      const T* b1 = bn + K;
      const T* e1 = E + (n + 1) * K;
      double g1 = 0;
      for (int k = 0; k < K; ++k) g1 += static_cast<double>(a1[k]) * b1[k];
      const double z = c[n + 1] * g1;
      if (!(z > 0)) continue;
      const double invz = 1.0 / z;
      for (int k = 0; k < K; ++k)
        w[k] = a1[k] == 0 ? 0.0 : std::min(e1[k] * static_cast<double>(b1[k]) * invz, kMaxXiWeight);
      outer_add(K, an, w, xi_part);
    }
  }
}

// One whole sequence in cache-resident scratch (used when there are many sequences): frame exps,
// forward, then a backward pass that writes the posteriors and accumulates the xi partial as it
// goes. Scratch: E, alpha (L*K), m, c (L), bcur, bnext, v (K) for L = e - b; w (K doubles).
// A sequence to be redone in the log domain (kRedoInLog) gets nothing written.
template <class T>
FASTGEN_SIMD_CLONES static double sequence_posteriors(int64_t b, int64_t e, int K, const T* pi, const T* A, const T* lp,
                                                      T* post, double* xi_part, T* E, T* alpha, double* m, double* c,
                                                      T* bcur, T* bnext, T* v, double* w) {
  const int64_t L = e - b;
  for (int64_t t = 0; t < L; ++t) m[t] = frame_shifted_exp(K, lp + (b + t) * K, E + t * K);
  const double ll = forward_scaled(int64_t{0}, L, K, pi, A, lp + b * K, E, m, alpha, c);
  if (std::isnan(ll)) return ll;
  if (ll == kNegInf) {
    if (post)
      for (int64_t i = 0; i < L * K; ++i) post[b * K + i] = 0;
    return ll;
  }
  double g_next = 0;  // sum_k alpha_{t+1}(k) beta_{t+1}(k)
  for (int64_t t = L - 1; t >= 0; --t) {
    const T* at = alpha + t * K;
    if (t == L - 1) {
      for (int k = 0; k < K; ++k) bcur[k] = 1;
    } else {
      const T* en = E + (t + 1) * K;
      for (int k = 0; k < K; ++k) v[k] = en[k] * bnext[k];  // E_{t+1} beta_{t+1}
      matvec(K, A, v, bcur);
      const T inv = static_cast<T>(1.0 / c[t + 1]);
      for (int k = 0; k < K; ++k) bcur[k] = std::min(bcur[k] * inv, beta_max<T>());
      if (xi_part) {
        const double z = c[t + 1] * g_next;
        if (z > 0) {
          const double invz = 1.0 / z;
          const T* an = alpha + (t + 1) * K;
          for (int k = 0; k < K; ++k) w[k] = an[k] == 0 ? 0.0 : std::min(v[k] * invz, kMaxXiWeight);
          outer_add(K, at, w, xi_part);
        }
      }
    }
    double g = 0;
    for (int k = 0; k < K; ++k) g += static_cast<double>(at[k]) * bcur[k];
    if (post) {
      T* pn = post + (b + t) * K;
      const double inv = g > 0 ? 1.0 / g : 0.0;
      for (int k = 0; k < K; ++k) pn[k] = static_cast<T>(at[k] * static_cast<double>(bcur[k]) * inv);
    }
    g_next = g;
    std::swap(bcur, bnext);
  }
  return ll;
}

// Sequences per xi partial in the per-sequence path; with many sequences this path is taken
// (decided by the data, never by the thread count, so results stay thread-count independent).
constexpr int64_t kSeqGroup = 8;
constexpr int64_t kManySequences = 16;

template <class T>
void forward_backward_log(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp,
                          const int64_t* offsets, T* logprob, T* post, T* xi_sum);

// Reruns the sequences whose scaled forward pass returned kRedoInLog through the log-domain
// recursion (gathered into one compact batch) and scatters their log-likelihoods and posteriors
// back; their expected transitions are added to xi_sum, which holds the other sequences' already.
template <class T>
static void redo_in_log_domain(int K, const T* pi, const T* A, const T* lp, const int64_t* offsets,
                               std::vector<double>& ll, T* post, T* xi_sum) {
  std::vector<int64_t> seqs, sub_off{0};
  for (int64_t s = 0; s < static_cast<int64_t>(ll.size()); ++s)
    if (std::isnan(ll[s])) {
      seqs.push_back(s);
      sub_off.push_back(sub_off.back() + offsets[s + 1] - offsets[s]);
    }
  if (seqs.empty()) return;
  const int64_t S = static_cast<int64_t>(seqs.size()), N = sub_off.back(), KK = static_cast<int64_t>(K) * K;
  std::vector<T> sub_lp(static_cast<size_t>(N) * K), sub_ll(S), sub_post(post ? sub_lp.size() : 0), sub_xi(xi_sum ? KK : 0);
  for (int64_t i = 0; i < S; ++i)
    std::copy(lp + offsets[seqs[i]] * K, lp + offsets[seqs[i] + 1] * K, sub_lp.begin() + sub_off[i] * K);
  forward_backward_log(N, K, S, pi, A, sub_lp.data(), sub_off.data(), sub_ll.data(), post ? sub_post.data() : nullptr,
                       xi_sum ? sub_xi.data() : nullptr);
  for (int64_t i = 0; i < S; ++i) {
    ll[seqs[i]] = sub_ll[i];
    if (post)
      std::copy(sub_post.begin() + sub_off[i] * K, sub_post.begin() + sub_off[i + 1] * K, post + offsets[seqs[i]] * K);
  }
  for (int64_t i = 0; i < (xi_sum ? KK : 0); ++i) xi_sum[i] += sub_xi[i];
}

template <class T>
void forward_backward(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp, const int64_t* offsets,
                      T* logprob, T* post, T* xi_sum) {
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  std::vector<double> ll(S);
  const double work = static_cast<double>(N) * K * (K + 8);  // a vector-matrix product and K exps per frame
  if (!post && !xi_sum) {  // scoring: forward only, nothing of size N*K
    static thread_local par::Clock clock;
    par::Region r(clock, work, S);
    par::Scratch<T> scratch(r, 3 * static_cast<size_t>(K));
    r.for_each(S, [&](int64_t s, int w) { ll[s] = forward_score(offsets[s], offsets[s + 1], K, pi, A, lp, scratch[w]); });
    redo_in_log_domain(K, pi, A, lp, offsets, ll, post, xi_sum);
    for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
    return;
  }
  const int64_t KK = static_cast<int64_t>(K) * K;
  if (S >= kManySequences) {
    int64_t maxlen = 0;
    for (int64_t s = 0; s < S; ++s) maxlen = std::max(maxlen, offsets[s + 1] - offsets[s]);
    const int64_t ng = par::n_chunks(S, kSeqGroup);
    std::vector<double> part(xi_sum ? static_cast<size_t>(ng * KK) : 0, 0.0);
    static thread_local par::Clock clock;
    par::Region r(clock, 2 * work, ng);
    const size_t LK = static_cast<size_t>(maxlen) * K;
    par::Scratch<T> E(r, LK), alpha(r, LK), vec(r, 3 * static_cast<size_t>(K));
    par::Scratch<double> m(r, maxlen), c(r, maxlen), wk(r, K);
    r.for_each(ng, [&](int64_t g, int w) {
      for (int64_t s = g * kSeqGroup; s < std::min(S, (g + 1) * kSeqGroup); ++s)
        ll[s] = sequence_posteriors(offsets[s], offsets[s + 1], K, pi, A, lp, post,
                                    xi_sum ? part.data() + g * KK : nullptr, E[w], alpha[w], m[w], c[w], vec[w],
                                    vec[w] + K, vec[w] + 2 * K, wk[w]);
    });
    if (xi_sum) reduce_xi(ng, K, part, A, xi_sum);
    redo_in_log_domain(K, pi, A, lp, offsets, ll, post, xi_sum);
    for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
    return;
  }
  // Few (long) sequences: whole-array lattices, forwards in parallel, then backwards.
  const size_t NK = static_cast<size_t>(N) * K;
  Buffer<T> E = buffer<T>(NK), alpha = buffer<T>(NK), beta = buffer<T>(NK);
  Buffer<double> m = buffer<double>(N), c = buffer<double>(N);
  shifted_exp(N, K, lp, E.get(), m.get());
  {
    static thread_local par::Clock clock;
    par::Region r(clock, 2 * work, S);
    par::Scratch<T> scratch(r, K);
    r.for_each(S, [&](int64_t s, int) {
      ll[s] = forward_scaled(offsets[s], offsets[s + 1], K, pi, A, lp, E.get(), m.get(), alpha.get(), c.get());
    });
    r.for_each(S, [&](int64_t s, int w) {  // the backward pass needs the forward normalisers c
      if (ll[s] > kNegInf) backward_scaled(offsets[s], offsets[s + 1], K, A, E.get(), c.get(), beta.get(), scratch[w]);
    });
  }

  const int64_t nc = par::n_chunks(N, kChunkFrames);
  std::vector<double> part(xi_sum ? static_cast<size_t>(nc * KK) : 0, 0.0);
  static thread_local par::Clock clock;
  par::Region r(clock, work, nc);
  par::Scratch<double> wk(r, K);
  r.for_chunks(N, kChunkFrames, [&](int64_t n0, int64_t n1, int w) {
    posterior_chunk(n0, n1, K, S, offsets, ll.data(), alpha.get(), beta.get(), E.get(), c.get(), post,
                    xi_sum ? part.data() + (n0 / kChunkFrames) * KK : nullptr, wk[w]);
  });
  if (xi_sum) reduce_xi(nc, K, part, A, xi_sum);
  redo_in_log_domain(K, pi, A, lp, offsets, ll, post, xi_sum);
  for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
}

template <class T>
void forward_backward_log(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp,
                          const int64_t* offsets, T* logprob, T* post, T* xi_sum) {
  const bool need_lattices = post || xi_sum;
  const int64_t KK = static_cast<int64_t>(K) * K;
  std::vector<T> logpi(K), logA(KK);
  for (int k = 0; k < K; ++k) logpi[k] = std::log(pi[k]);
  for (int64_t i = 0; i < KK; ++i) logA[i] = std::log(A[i]);

  std::vector<double> la(static_cast<size_t>(N) * K), lb(need_lattices ? static_cast<size_t>(N) * K : 0);
  std::vector<double> ll(S);
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  const int64_t n_tasks = need_lattices ? 2 * S : S;
  const double work = static_cast<double>(N) * KK * 24;  // a logsumexp over K terms per state and frame
  {
    static thread_local par::Clock clock;
    par::Region r(clock, work * (need_lattices ? 2 : 1), n_tasks);
    par::Scratch<double> scratch(r, K);
    r.for_each(n_tasks, [&](int64_t task, int w) {
      const int64_t s = task % S;
      const int64_t b = offsets[s], e = offsets[s + 1];
      if (task < S)
        ll[s] = forward_log(b, e, K, logpi.data(), logA.data(), lp, la.data(), scratch[w]);
      else
        backward_log(b, e, K, logA.data(), lp, lb.data(), scratch[w]);
    });
  }
  for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
  if (!need_lattices) return;

  const int64_t nc = par::n_chunks(N, kChunkFrames);
  std::vector<double> part(xi_sum ? static_cast<size_t>(nc * KK) : 0, 0.0);
  static thread_local par::Clock clock;
  par::Region r(clock, work, nc);
  par::Scratch<double> vs(r, K);
  r.for_chunks(N, kChunkFrames, [&](int64_t n0, int64_t n1, int w) {
    double* v = vs[w];
    int64_t s = sequence_of(offsets, S, n0);
    for (int64_t n = n0; n < n1; ++n) {
      while (n >= offsets[s + 1]) ++s;
      const double lls = ll[s];
      const bool dead = lls == kNegInf;
      if (post) {
        // Normalised per frame (as hmmlearn does): over 1e6 steps la + lb - log P drifts by ~1e-6.
        T* pn = post + n * K;
        double mx = kNegInf;
        for (int k = 0; k < K; ++k) mx = std::max(mx, la[n * K + k] + lb[n * K + k]);
        if (dead || mx == kNegInf) {
          for (int k = 0; k < K; ++k) pn[k] = 0;
        } else {
          double z = 0;
          for (int k = 0; k < K; ++k) z += std::exp(la[n * K + k] + lb[n * K + k] - mx);
          const double lz = mx + std::log(z);
          for (int k = 0; k < K; ++k) pn[k] = static_cast<T>(std::exp(la[n * K + k] + lb[n * K + k] - lz));
        }
      }
      if (xi_sum && !dead && n + 1 < offsets[s + 1]) {
        double* acc = part.data() + (n0 / kChunkFrames) * KK;
        for (int j = 0; j < K; ++j) v[j] = static_cast<double>(lp[(n + 1) * K + j]) + lb[(n + 1) * K + j] - lls;
        for (int i = 0; i < K; ++i) {
          const double ai = la[n * K + i];
          if (ai == kNegInf) continue;
          for (int j = 0; j < K; ++j) acc[i * K + j] += std::exp(ai + logA[i * K + j] + v[j]);
        }
      }
    }
  });
  if (xi_sum) reduce_xi<T>(nc, K, part, nullptr, xi_sum);
}

template <class T>
FASTGEN_SIMD_CLONES static T viterbi_sequence(int64_t b, int64_t e, int K, const T* logpi, const T* logA, const T* lp,
                                              int32_t* bp, int64_t* states, T* delta, T* nd) {
  for (int j = 0; j < K; ++j) delta[j] = logpi[j] + lp[b * K + j];
  for (int64_t t = b + 1; t < e; ++t) {
    viterbi_step(K, delta, logA, lp + t * K, nd, bp + t * K);
    std::swap(delta, nd);
  }
  int best = 0;
  for (int j = 1; j < K; ++j)
    if (delta[j] > delta[best]) best = j;
  states[e - 1] = best;
  for (int64_t t = e - 1; t > b; --t) states[t - 1] = bp[t * K + states[t]];
  return delta[best];
}

template <class T>
void viterbi(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp, const int64_t* offsets,
             T* logprob, int64_t* states) {
  const int64_t KK = static_cast<int64_t>(K) * K;
  std::vector<T> logpi(K), logA(KK);
  for (int k = 0; k < K; ++k) logpi[k] = std::log(pi[k]);
  for (int64_t i = 0; i < KK; ++i) logA[i] = std::log(A[i]);
  Buffer<int32_t> bp = buffer<int32_t>(static_cast<size_t>(N) * K);
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * KK, S);
  par::Scratch<T> d(r, 2 * static_cast<size_t>(K));
  r.for_each(S, [&](int64_t s, int w) {
    logprob[s] = viterbi_sequence(offsets[s], offsets[s + 1], K, logpi.data(), logA.data(), lp, bp.get(), states,
                                  d[w], d[w] + K);
  });
}

// ---------------------------------------------------------------------------------------------
// Sampling with Philox (see common/rng.hpp).

template <class T>
void sample_states(int K, const T* pi, const T* A, int64_t n, uint64_t seed, uint64_t stream, int64_t* out) {
  const rng::Stream rs(seed, stream);
  for (int64_t t = 0; t < n; ++t) {
    const T* p = t == 0 ? pi : A + out[t - 1] * K;
    out[t] = draw_categorical(K, p, rs.uniform(static_cast<uint64_t>(t)));
  }
}

// Exact inverse-CDF Poisson draw from one uniform, searching from the mode (O(sqrt(lam)) steps).
inline int64_t poisson_inverse_cdf(double lam, double u) {
  if (!(lam > 0)) return 0;
  const double mode = std::floor(lam);
  const double pm = std::exp(mode * std::log(lam) - lam - std::lgamma(mode + 1));
  double F = pm, p = pm;
  for (double j = mode; j > 0; --j) {  // F(mode) = sum_{j <= mode} p(j), summed downward
    p *= j / lam;
    F += p;
    if (p < 1e-17 * F) break;
  }
  int64_t k = static_cast<int64_t>(mode);
  p = pm;
  if (u <= F) {
    while (k > 0 && u <= F - p) {
      F -= p;
      p *= static_cast<double>(k) / lam;
      --k;
    }
  } else {
    const int64_t limit = k + static_cast<int64_t>(40 * std::sqrt(lam)) + 100;
    while (u > F && k < limit) {
      p *= lam / static_cast<double>(k + 1);
      ++k;
      F += p;
    }
  }
  return k;
}

template <class T>
void sample_poisson(int64_t N, int D, const T* lam, uint64_t seed, uint64_t stream, int64_t* out) {
  const rng::Stream rs(seed, stream);
  static thread_local par::Clock clock;
  par::for_range(clock, 64.0 * N * D, N * D, 1024, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = poisson_inverse_cdf(lam[i], rs.uniform(static_cast<uint64_t>(i)));
  });
}

}  // namespace fastgen::hmm
