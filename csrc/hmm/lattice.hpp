// HMM lattice recursions for one sequence: the scaled and log-domain forward/backward passes
// and their small dense helpers (the batched entry points over many sequences are hmm/hmm.hpp).
// The scaling scheme is described at the top of hmm/hmm.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "common/big_buffer.hpp"
#include "common/categorical.hpp"
#include "common/fastmath.hpp"
#include "common/threads.hpp"
#include "common/rng.hpp"
#include "common/simd.hpp"
#include "common/vec.hpp"

namespace fastgen::hmm {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Work arrays of N*K values are written before they are read: skip std::vector's zero fill (a
// full extra pass over tens of MB per call); large ones on huge pages (common/big_buffer.hpp).
template <class T>
using Buffer = BigBuffer<T>;
template <class T>
Buffer<T> buffer(size_t n) { return big_buffer<T>(n); }
constexpr int64_t kChunkFrames = 2048;

// ---------------------------------------------------------------------------------------------
// Small dense helpers (vectorised through runtime dispatch).

// out[j] = sum_i a[i] A[i, j], each column's sum over i in order. Columns go in blocks of JB vectors
// of B bytes whose accumulators stay in registers over the whole i loop. Eight vectors on every ISA:
// eight independent chains of multiply-adds keep both FMA ports busy (the former fixed 32 columns
// were four zmm chains, 64 deep for K = 64: the forward step waited on their latency).
template <int JB, int B, class T>
FASTGEN_VEC_INLINE int vecmat_columns(int K, int j0, const T* a, const T* A, T* out) {
  using V = vec::V<T, B>;
  constexpr int W = vec::lanes<T, B>;
  for (; j0 + JB * W <= K; j0 += JB * W) {
    V acc[JB] = {};
    for (int i = 0; i < K; ++i) {
      const T ai = a[i];
      const T* Ai = A + static_cast<int64_t>(i) * K + j0;
#pragma GCC unroll 8
      for (int u = 0; u < JB; ++u) acc[u] += ai * vec::load<B>(Ai + u * W);
    }
#pragma GCC unroll 8
    for (int u = 0; u < JB; ++u) vec::store(out + j0 + u * W, acc[u]);
  }
  return j0;
}

template <int B, class T>
FASTGEN_VEC_INLINE void vecmat_v(int K, const T* a, const T* A, T* out) {
  int j0 = vecmat_columns<8, B>(K, 0, a, A, out);
  j0 = vecmat_columns<1, B>(K, j0, a, A, out);
  for (int j = j0; j < K; ++j) {
    T s = 0;
    for (int i = 0; i < K; ++i) s += a[i] * A[static_cast<int64_t>(i) * K + j];
    out[j] = s;
  }
}

template <class T>
inline void vecmat(int K, const T* a, const T* A, T* out) {
  vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE { vecmat_v<decltype(b)::value>(K, a, A, out); });
}

// out[i] = sum_j A[i, j] v[j]
template <class T>
static FASTGEN_CLONE_INLINE void matvec(int K, const T* A, const T* v, T* out) {
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
static FASTGEN_CLONE_INLINE void outer_add(int K, const T* a, const double* w, double* acc) {
  for (int i = 0; i < K; ++i) {
    const double ai = a[i];
    if (ai == 0) continue;
    double* r = acc + static_cast<int64_t>(i) * K;
#pragma omp simd
    for (int j = 0; j < K; ++j) r[j] += ai * w[j];
  }
}

// One Viterbi step: nd[j] = max_i (delta[i] + logA[i, j]) + lp[j], bp[j] = the lowest argmax
// (strict '>' keeps the lowest index on ties). Columns go in blocks of JB vectors of B bytes whose
// running max and argmax stay in registers over all K rows; the argmax is kept in T lanes so the
// compare and both blends are vector instructions. Written with explicit vectors: the omp simd
// loop it replaces came out of gcc 12 with its accumulators on the stack and a branch on every
// compare mask (kortestb/jne), ~6x above this step's throughput.
template <int JB, int B, class T>
FASTGEN_VEC_INLINE int viterbi_columns(int K, int j0, const T* delta, const T* logA, const T* lp, T* nd, int32_t* bp) {
  using V = vec::V<T, B>;
  constexpr int W = vec::lanes<T, B>;
  for (; j0 + JB * W <= K; j0 += JB * W) {
    V best[JB], arg[JB];
    for (int u = 0; u < JB; ++u) {
      best[u] = delta[0] + vec::load<B>(logA + j0 + u * W);
      arg[u] = V{};
    }
    for (int i = 1; i < K; ++i) {
      const T di = delta[i];
      const V ti = V{} + static_cast<T>(i);
      const T* Ai = logA + static_cast<int64_t>(i) * K + j0;
      for (int u = 0; u < JB; ++u) {
        const V cand = di + vec::load<B>(Ai + u * W);
        const auto better = cand > best[u];
        best[u] = better ? cand : best[u];
        arg[u] = better ? ti : arg[u];
      }
    }
    alignas(64) T a[JB * W];
    for (int u = 0; u < JB; ++u) {
      vec::store(nd + j0 + u * W, best[u] + vec::load<B>(lp + j0 + u * W));
      vec::store(a + u * W, arg[u]);
    }
    for (int j = 0; j < JB * W; ++j) bp[j0 + j] = static_cast<int32_t>(a[j]);
  }
  return j0;
}

template <int B, class T>
FASTGEN_VEC_INLINE void viterbi_step(int K, const T* delta, const T* logA, const T* lp, T* nd, int32_t* bp) {
  int j0 = viterbi_columns<4, B>(K, 0, delta, logA, lp, nd, bp);
  j0 = viterbi_columns<1, B>(K, j0, delta, logA, lp, nd, bp);
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
static FASTGEN_CLONE_INLINE T max_of(int K, const T* x) {
  T m = x[0];
  for (int k = 1; k < K; ++k) m = x[k] > m ? x[k] : m;
  return m;
}

// e[k] = exp(lp[k] - max lp) for one frame; returns the max (-inf and e = 0 for an impossible frame).
template <class T>
FASTGEN_CLONE_INLINE double frame_shifted_exp(int K, const T* lp, T* e) {
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
// prev, lp_t and cur may hold another type than the parameters (the lanes kernels keep double lattices).
template <class T, class U>
static bool lost_forward_mass(int K, const U* prev, const T* pi, const T* A, const U* lp_t, const U* cur) {
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

// cur[j] *= e[j]; returns sum_j cur[j] (in double) and counts the zeros. The sum runs in 8 partial
// sums (lane j mod 8) added pairwise at the end: a single running sum was a K-deep chain of
// dependent adds every step (a third of a K = 64 forward step). Each partial is its own chain, so
// the bits do not depend on the vector width.
template <class T>
FASTGEN_CLONE_INLINE double emit_and_sum(int K, T* cur, const T* e, int& zeros) {
  double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int z = 0;
  int j = 0;
  for (; j + 8 <= K; j += 8)
    for (int l = 0; l < 8; ++l) {
      cur[j + l] *= e[j + l];
      p[l] += cur[j + l];
      z += cur[j + l] == 0;
    }
  for (int l = 0; j < K; ++j, ++l) {
    cur[j] *= e[j];
    p[l] += cur[j];
    z += cur[j] == 0;
  }
  zeros = z;
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// Where frame t's emissions come from: row t of arrays (x null) or, with categorical emissions
// read by symbol, row x[t] of tables. lp: the log-likelihood rows; etab, mtab (when set): each
// row's shifted exps and max (shifted_exp of the rows: the same bits from a table as from an array
// of the rows); without them a pass computes a frame's exps itself (shifted).
template <class T>
struct Frames {
  const T* lp;
  int K;
  const int64_t* x = nullptr;
  const T* etab = nullptr;
  const double* mtab = nullptr;

  int64_t row(int64_t t) const { return x ? x[t] : t; }
  const T* log_row(int64_t t) const { return lp + row(t) * K; }
  const T* exp_row(int64_t t) const { return etab + row(t) * K; }
  double max_at(int64_t t) const { return mtab[row(t)]; }
  // The frame's max into the return value and its shifted exps at *e (the table's, or computed into buf).
  FASTGEN_CLONE_INLINE double shifted(int64_t t, T* buf, const T** e) const {
    if (etab) {
      *e = exp_row(t);
      return max_at(t);
    }
    *e = buf;
    return frame_shifted_exp(K, log_row(t), buf);
  }
};

// Forward pass for scoring only: two alpha rows, the frame's shifted exp computed on the fly
// (no N*K temporaries). Returns log P(sequence) or -inf.
template <class T>
FASTGEN_SIMD_CLONES static double forward_score(int64_t b, int64_t e, int K, const T* pi, const T* A,
                                                const Frames<T>& fr, T* scratch) {
  T* prev = scratch;
  T* cur = scratch + K;
  T* buf = scratch + 2 * static_cast<int64_t>(K);
  double ll = 0, prod = 1;
  const int64_t every = par::steps_per_check(static_cast<double>(K) * K);
  for (int64_t t0 = b; t0 < e; t0 += every) {
    if (par::interrupted()) return kNegInf;  // garbage: the pool's job throws Interrupted (common/interrupt.hpp)
    for (int64_t t = t0, t1 = std::min<int64_t>(e, t0 + every); t < t1; ++t) {
      const T* et;
      const double mt = fr.shifted(t, buf, &et);
      if (t == b) {
        for (int j = 0; j < K; ++j) cur[j] = pi[j];
      } else {
        vecmat(K, prev, A, cur);
      }
      int zeros;
      const double s = emit_and_sum(K, cur, et, zeros);
      // the guard first: a frame where every reachable state's emission underflowed is not impossible
      if (zeros && lost_forward_mass(K, t == b ? nullptr : prev, pi, A, fr.log_row(t), cur)) return kRedoInLog;
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
  }
  return ll + std::log(prod);
}

// Returns log P(sequence), -inf, or kRedoInLog. Frames b..e-1 of fr (with its exps), alpha, c.
template <class T>
FASTGEN_SIMD_CLONES static double forward_scaled(int64_t b, int64_t e, int K, const T* pi, const T* A,
                                                 const Frames<T>& fr, T* alpha, double* c) {
  auto row = [&](int64_t t) { return alpha + t * K; };
  // log P = sum_t (log c_t + m_t): the c_t (<= 1 for stochastic A) are multiplied up and folded
  // into the sum only when the product nears underflow, so a step costs no log.
  double ll = 0, prod = 1;
  const int64_t every = par::steps_per_check(static_cast<double>(K) * K);
  for (int64_t t0 = b; t0 < e; t0 += every) {
    if (par::interrupted()) return kNegInf;  // garbage: the pool's job throws Interrupted
    for (int64_t t = t0, t1 = std::min<int64_t>(e, t0 + every); t < t1; ++t) {
      T* cur = row(t);
      if (t == b) {
        for (int j = 0; j < K; ++j) cur[j] = pi[j];
      } else {
        vecmat(K, row(t - 1), A, cur);
      }
      const T* et = fr.exp_row(t);
      int zeros;
      const double s = emit_and_sum(K, cur, et, zeros);
      // the guard first: a frame where every reachable state's emission underflowed is not impossible
      if (zeros && lost_forward_mass(K, t == b ? nullptr : row(t - 1), pi, A, fr.log_row(t), cur)) return kRedoInLog;
      if (!(s > 0) || !std::isfinite(s)) return kNegInf;
      const T inv = static_cast<T>(1.0 / s);
      for (int j = 0; j < K; ++j) cur[j] *= inv;
      c[t] = s;
      ll += fr.max_at(t);
      prod *= s;
      if (prod < 1e-250 || prod > 1e250) {
        ll += std::log(prod);
        prod = 1;
      }
    }
  }
  return ll + std::log(prod);
}

template <class T>
FASTGEN_SIMD_CLONES static void backward_scaled(int64_t b, int64_t e, int K, const T* A, const Frames<T>& fr,
                                                const double* c, T* beta, T* v) {
  for (int j = 0; j < K; ++j) beta[(e - 1) * K + j] = 1;
  const int64_t every = par::steps_per_check(static_cast<double>(K) * K);
  for (int64_t t0 = e - 2; t0 >= b; t0 -= every) {
    if (par::interrupted()) return;  // the pool's job throws Interrupted
    for (int64_t t = t0, t1 = std::max<int64_t>(b, t0 - every + 1); t >= t1; --t) {
      const T* bn = beta + (t + 1) * K;
      const T* en = fr.exp_row(t + 1);
      for (int j = 0; j < K; ++j) v[j] = en[j] * bn[j];
      T* bt = beta + t * K;
      matvec(K, A, v, bt);
      const T inv = static_cast<T>(1.0 / c[t + 1]);
      for (int i = 0; i < K; ++i) bt[i] = std::min(bt[i] * inv, beta_max<T>());
    }
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
  const int64_t every = par::steps_per_check(24.0 * K * K);
  for (int64_t t0 = b + 1; t0 < e; t0 += every) {
    par::check_interrupt();
    for (int64_t t = t0, t1 = std::min<int64_t>(e, t0 + every); t < t1; ++t) {
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
  const int64_t every = par::steps_per_check(24.0 * K * K);
  for (int64_t t0 = e - 2; t0 >= b; t0 -= every) {
    par::check_interrupt();
    for (int64_t t = t0, t1 = std::max<int64_t>(b, t0 - every + 1); t >= t1; --t) {
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
}

}  // namespace fastgen::hmm
