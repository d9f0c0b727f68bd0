// Max-shifted log-sum-exp over weighted log-densities: the one implementation behind the Gaussian
// mixtures' E-step (mixture::mixture_responsibilities, bound as _core.mixture.responsibilities) and the HMM mixture emissions (GMMHMM: K states
// x M components, comp_logprob[n, k*M + m]; mixture_logprob and mixture_posteriors below).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/fastmath.hpp"
#include "common/threads.hpp"
#include "common/simd.hpp"
#include "common/vec.hpp"

namespace fastgen::emissions {

// log(s) for s >= 1 (a shifted sum of exps: its largest term is exp(0) = 1), branch-free so a loop
// over rows vectorises (glibc's scalar log was a third of the kernel's time): s = 2^e m with
// m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(f) = 2 f sum_i f^2i / (2i + 1), f = (m - 1)/(m + 1),
// |f| <= 0.172, the series cut after f^23 (truncation < 1e-18 relative). Within 2 ulp of std::log.
FASTGEN_CLONE_INLINE double log_ge1(double s) {
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double sqrt2 = 1.4142135623730950488;
  const int64_t b = __builtin_bit_cast(int64_t, s);  // (not memcpy: see fm::exp_in_range)
  double e = static_cast<double>((b >> 52) - 1023);
  double m = __builtin_bit_cast(double, (b & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);
  const bool high = m > sqrt2;
  m = high ? 0.5 * m : m;
  e = high ? e + 1.0 : e;
  const double f = (m - 1.0) / (m + 1.0), f2 = f * f;
  double p = 1.0 / 23;
  p = p * f2 + 1.0 / 21;
  p = p * f2 + 1.0 / 19;
  p = p * f2 + 1.0 / 17;
  p = p * f2 + 1.0 / 15;
  p = p * f2 + 1.0 / 13;
  p = p * f2 + 1.0 / 11;
  p = p * f2 + 1.0 / 9;
  p = p * f2 + 1.0 / 7;
  p = p * f2 + 1.0 / 5;
  p = p * f2 + 1.0 / 3;
  // 2f + 2f f2 p: the small correction added to the leading term last.
  return e * ln2_hi + ((2.0 * f) + (2.0 * f * f2 * p + e * ln2_lo));
}

// fm::exp_nonpositive on a vector of B bytes (fm::exp_in_range on vector types): the same bits lane
// by lane as the scalar function on an FMA machine.
template <int B>
FASTGEN_VEC_INLINE vec::V<double, B> exp_nonpositive_v(vec::V<double, B> x) {
  using VD = vec::V<double, B>;
  const VD lo = VD{} - 708.0;
  const auto below = x < lo;
  const VD e = fm::exp_in_range<VD, vec::V<uint64_t, B>>(below ? lo : x);
  return below ? VD{} : e;
}

// The exps of rows [n0, n0 + nb) (nb <= lanes): e[k * L + r] = exp(lp[(n0 + r) * ld + k * ldk] + lw[k] - mx_r)
// and s_r = their sum over k in order, rows in lanes (each row's arithmetic as the scalar loop's,
// in the same order); mx_r = max_k (lp + lw). Rows past nb are padded with zeros.
template <int B, class T>
FASTGEN_VEC_INLINE void row_exps(int64_t n0, int64_t nb, int K, const T* lp, int64_t ld, int64_t ldk,
                                 const double* lw, double* e, double* mx_out, double* s_out) {
  using VD = vec::V<double, B>;
  constexpr int L = vec::lanes<double, B>;
  if (ld == 1 && nb == L) {  // rows already in columns (a fused E-step's block): vector loads
    for (int k = 0; k < K; ++k) {  // (written as vectors: gcc 12 vectorised the plain loop across k, with permutes)
      const T* c = lp + n0 + k * ldk;
      VD v;
      if constexpr (std::is_same_v<T, double>)
        v = vec::load<B>(c);
      else
        v = __builtin_convertvector(vec::load<B / 2>(c), VD);
      vec::store(e + k * L, v + lw[k]);
    }
  } else {
    for (int k = 0; k < K; ++k)
      for (int r = 0; r < L; ++r)
        e[k * L + r] = r < nb ? static_cast<double>(lp[(n0 + r) * ld + k * ldk]) + lw[k] : 0.0;
  }
  VD mx = VD{} - std::numeric_limits<double>::infinity();
  for (int k = 0; k < K; ++k) {
    const VD v = vec::load<B>(e + k * L);
    mx = mx < v ? v : mx;
  }
  VD s = VD{};
  for (int k = 0; k < K; ++k) {
    const VD ek = exp_nonpositive_v<B>(vec::load<B>(e + k * L) - mx);
    vec::store(e + k * L, ek);
    s += ek;
  }
  vec::store(mx_out, mx);
  vec::store(s_out, s);
}

constexpr int64_t kRows = 256;  // rows per block: the block's logs are taken together

// Rows [n0, n1) (n1 - n0 <= kRows) of K weighted log-densities: row n reads lp[n * ld + k * ldk] + lw[k].
//   log_norm[n * ld_norm] = logsumexp_k (max-shifted, in double; all -inf gives -inf);
//   resp (if set): resp[n * ld_resp + k * ldk] = exp(. - log_norm) * (scale ? scale[n * ld_scale] : 1),
//   formed as e_k * (scale / s) with e_k = exp(v_k - max): K exps per row, not 2K; a row that is
//   all -inf gets zeros (never NaN).
// Returns the first row whose log_norm is NaN or +inf (NaN or +inf in lp), or -1; such rows get
// NaN. e [K x lanes], mxb and sb [kRows] are scratch. Rows go through row_exps L at a time.
template <int B, class T>
FASTGEN_VEC_INLINE int64_t logsumexp_rows(int64_t n0, int64_t n1, int K, const T* lp, int64_t ld, int64_t ldk,
                                          const double* lw,
                                          T* log_norm, int64_t ld_norm, T* resp, int64_t ld_resp, const T* scale,
                                          int64_t ld_scale, double* e, double* mxb, double* sb) {
  constexpr double ninf = -std::numeric_limits<double>::infinity();
  constexpr int L = vec::lanes<double, B>;
  int64_t bad = -1;
  for (int64_t g0 = n0; g0 < n1; g0 += L) {
    const int64_t nb = std::min<int64_t>(L, n1 - g0);
    alignas(64) double mxv[L], sv[L];
    row_exps<B>(g0, nb, K, lp, ld, ldk, lw, e, mxv, sv);
    if (ld == 1 && ld_resp == 1 && nb == L && !scale) {  // rows in columns (a fused E-step's block)
      bool finite = true;
      for (int r = 0; r < L; ++r) finite &= mxv[r] != ninf;
      if (finite) {  // the loop below, a vector of rows at a time (1 / s lane by lane: the same bits)
        using VD = vec::V<double, B>;
        const VD sv_ = vec::load<B>(sv), f = 1.0 / sv_;
        vec::store(mxb + (g0 - n0), vec::load<B>(mxv));
        vec::store(sb + (g0 - n0), sv_);
        if (resp)
          for (int k = 0; k < K; ++k) {
            const VD v = vec::load<B>(e + k * L) * f;
            if constexpr (std::is_same_v<T, double>)
              vec::store(resp + g0 + k * ldk, v);
            else
              vec::store(resp + g0 + k * ldk, __builtin_convertvector(v, vec::V<float, B / 2>));
          }
        continue;
      }
    }
    for (int64_t r = 0; r < nb; ++r) {
      const int64_t n = g0 + r;
      const T* c = lp + n * ld;
      const double mx = mxv[r];
      mxb[n - n0] = mx;
      sb[n - n0] = 1.0;
      if (mx == ninf) {  // every component impossible: -inf, zero responsibilities (never NaN)
        for (int k = 0; k < K && bad < 0; ++k)  // unless a NaN hid from the max
          if (std::isnan(c[k * ldk])) bad = n;
        if (resp)
          for (int k = 0; k < K; ++k) resp[n * ld_resp + k * ldk] = 0;
        continue;
      }
      const double s = sv[r];
      sb[n - n0] = s;
      if (resp) {
        const double f = scale ? static_cast<double>(scale[n * ld_scale]) / s : 1.0 / s;
        T* rr = resp + n * ld_resp;
        for (int k = 0; k < K; ++k) rr[k * ldk] = static_cast<T>(e[k * L + r] * f);
      }
    }
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
#pragma omp simd
  for (int64_t i = 0; i < n1 - n0; ++i) {
    const double s = sb[i], mx = mxb[i];
    const bool ok = s >= 1.0 && s <= std::numeric_limits<double>::max();  // false for NaN
    const double ln = mx == ninf ? ninf : (ok ? mx + log_ge1(s) : nan);
    log_norm[(n0 + i) * ld_norm] = static_cast<T>(ln);
  }
  for (int64_t i = 0; i < n1 - n0 && bad < 0; ++i) {
    const double ln = static_cast<double>(log_norm[(n0 + i) * ld_norm]);
    if (!(ln < std::numeric_limits<double>::infinity()) && ln != ninf) bad = n0 + i;
  }
  return bad;
}

// For each group g < G of K components, rows n < N: logsumexp_rows on lp + g * K (row stride
// ld = G * K) with log-weights log_w[g, :], writing log_norm[n * G + g] and (if set) resp at the
// same place as lp, scaled by scale[n * G + g] (if set). Blocks of rows in parallel; every row's
// arithmetic is fixed, so results do not depend on the thread count. Returns the first bad row or -1.
template <class T>
int64_t grouped_logsumexp(int64_t N, int G, int K, const T* lp, const T* log_w, T* log_norm, T* resp,
                          const T* scale) {
  std::vector<double> lw(log_w, log_w + static_cast<int64_t>(G) * K);
  const int64_t nb = par::n_chunks(N, kRows), ld = static_cast<int64_t>(G) * K;
  std::vector<int64_t> bad(nb, -1);  // per block: its first bad row; the first over blocks is returned
  fm::FlushDenormals ftz;  // tiny responsibilities: subnormal arithmetic is ~100x slower (the pool's workers follow)
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * G * K * 4, nb);
  par::Scratch<double> e(r, static_cast<size_t>(std::max(K, 1)) * vec::lanes<double, 64>), mxb(r, kRows), sb(r, kRows);
  r.for_chunks(N, kRows, [&](int64_t n0, int64_t n1, int w) {
    for (int g = 0; g < G; ++g) {
      const int64_t o = static_cast<int64_t>(g) * K;
      int64_t row = -1;
      vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
        row = logsumexp_rows<decltype(b)::value>(n0, n1, K, lp + o, ld, 1, lw.data() + o, log_norm + g, G,
                                                 resp ? resp + o : nullptr, ld, scale ? scale + g : nullptr, G, e[w],
                                                 mxb[w], sb[w]);
      });
      int64_t& b = bad[n0 / kRows];
      if (row >= 0 && (b < 0 || row < b)) b = row;
    }
  });
  for (const int64_t b : bad)
    if (b >= 0) return b;
  return -1;
}

// out[n, k] = logsumexp_m(comp_lp[n, k*M + m] + log_w[k, m]) (all -inf -> -inf).
template <class T>
void mixture_logprob(int64_t N, int K, int M, const T* comp_lp, const T* log_w, T* out) {
  grouped_logsumexp<T>(N, K, M, comp_lp, log_w, out, nullptr, nullptr);
}

// out[n, k*M + m] = state_post[n, k] * softmax_m(comp_lp[n, k*M + :] + log_w[k, :])[m] (a state
// whose row is all -inf gets zeros).
template <class T>
void mixture_posteriors(int64_t N, int K, int M, const T* comp_lp, const T* log_w, const T* state_post, T* out) {
  std::vector<T> log_norm(static_cast<size_t>(std::max<int64_t>(N * K, 1)));
  grouped_logsumexp<T>(N, K, M, comp_lp, log_w, log_norm.data(), out, state_post);
}

}  // namespace fastgen::emissions
