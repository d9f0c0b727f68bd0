// From the lagged cross-products of one series (ar_moments.hpp) to the Gram matrix of its lag-p
// regression (OLS) or to its sample autocovariances (Yule-Walker), by boundary corrections.
//
// Notation: y' = y - m, targets t = p .. n-1 (nobs = n - p), G(a, b) = sum_t y'_{t-a} y'_{t-b}^T
// (a, b = 0..p; lag 0 is the target). The pass gives G(0, h) = C_h; moving both lags down by one
// drops the last target row and adds the row before the first:
//   G(a + 1, b + 1) = G(a, b) + y'_{p-1-a} y'_{p-1-b}^T - y'_{n-1-a} y'_{n-1-b}^T.
// Likewise for the trend columns (1 and tau_t = t + 1 - t_c):
//   S(a) = sum_t y'_{t-a}:        S(a + 1) = S(a) + y'_{p-1-a} - y'_{n-1-a},
//   T(a) = sum_t tau_t y'_{t-a}:  T(a + 1) = T(a) + S(a) + tau_p y'_{p-1-a} - tau_n y'_{n-1-a},
// with tau_p = p + 1 - t_c and tau_n = n + 1 - t_c (tau_{s+1} = tau_s + 1). O(p^2 k^2) in all.
#pragma once
#include <cstdint>

#include "autoregressive/ar_moments.hpp"

namespace fastgen::ar {

// Row `r` of series `y` minus m, as doubles.
template <class T>
inline void row_shifted(const T* y, int k, int64_t r, const double* m, double* out) {
  for (int j = 0; j < k; ++j) out[j] = static_cast<double>(y[r * k + j]) - m[j];
}

// The (Dx + k) x (Dx + k) augmented Gram matrix M of [trend | lag 1 | ... | lag p | target],
// Dx = kt + p k, row-major with leading dimension ld. acc: C_h(i, j) = acc[i W + (p - h) k + j],
// W = (p + 1) k; S0, T0 as in ar_moments.hpp. `rows` needs 2 k doubles of scratch.
template <class T>
void build_gram(const T* y, int64_t n, int k, int p, int trend, const double* m, double tc, const double* acc,
                const double* S0, const double* T0, double* M, int ld, double* rows) {
  const int kt = n_trend(trend), Dx = kt + p * k, W = (p + 1) * k;
  const int64_t nobs = n - p;
  auto idx = [&](int a) { return a == 0 ? Dx : kt + (a - 1) * k; };
  auto at = [&](int r, int c) -> double& { return M[static_cast<int64_t>(r) * ld + c]; };
  // Lag blocks, one diagonal d = b - a at a time, from G(0, d) = C_d downwards.
  for (int d = 0; d <= p; ++d) {
    const int r0 = idx(0), c0 = idx(d);
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) at(r0 + i, c0 + j) = acc[static_cast<int64_t>(i) * W + (p - d) * k + j];
    for (int a = 0; a + d < p; ++a) {
      const int b = a + d, ra = idx(a), cb = idx(b), ra1 = idx(a + 1), cb1 = idx(b + 1);
      // Rows p-1-a, p-1-b (start) and n-1-a, n-1-b (end).
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) {
          const double ya_lo = static_cast<double>(y[(p - 1 - a) * static_cast<int64_t>(k) + i]) - m[i];
          const double yb_lo = static_cast<double>(y[(p - 1 - b) * static_cast<int64_t>(k) + j]) - m[j];
          const double ya_hi = static_cast<double>(y[(n - 1 - a) * k + i]) - m[i];
          const double yb_hi = static_cast<double>(y[(n - 1 - b) * k + j]) - m[j];
          at(ra1 + i, cb1 + j) = at(ra + i, cb + j) + ya_lo * yb_lo - ya_hi * yb_hi;
        }
    }
  }
  // Mirror the lag blocks: M[idx(b), idx(a)] = G(a, b)^T.
  for (int a = 0; a <= p; ++a)
    for (int b = a; b <= p; ++b) {
      const int ra = idx(a), cb = idx(b);
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) at(cb + j, ra + i) = at(ra + i, cb + j);
    }
  if (kt == 0) return;
  // Trend rows.
  const int rc = has_const(trend) ? 0 : -1, rt = has_time(trend) ? (has_const(trend) ? 1 : 0) : -1;
  const double tau_p = static_cast<double>(p + 1) - tc, tau_n = static_cast<double>(n + 1) - tc;
  double* S = rows;  // S(a)
  double* Tt = rows + k;  // T(a)
  for (int j = 0; j < k; ++j) {
    S[j] = S0[j];
    Tt[j] = T0[j];
  }
  for (int a = 0; a <= p; ++a) {
    const int c = idx(a);
    for (int j = 0; j < k; ++j) {
      if (rc >= 0) at(rc, c + j) = at(c + j, rc) = S[j];
      if (rt >= 0) at(rt, c + j) = at(c + j, rt) = Tt[j];
    }
    if (a == p) break;
    for (int j = 0; j < k; ++j) {
      const double ylo = static_cast<double>(y[(p - 1 - a) * static_cast<int64_t>(k) + j]) - m[j];
      const double yhi = static_cast<double>(y[(n - 1 - a) * k + j]) - m[j];
      Tt[j] = Tt[j] + S[j] + tau_p * ylo - tau_n * yhi;
      S[j] = S[j] + ylo - yhi;
    }
  }
  const double dn = static_cast<double>(nobs);
  if (rc >= 0) at(rc, rc) = dn;
  if (rt >= 0) {
    double stt;
    if (tc == 0) {  // sum of (t + 1)^2 over t = p..n-1
      const double a = static_cast<double>(p), b = static_cast<double>(n);
      stt = (b * (b + 1) * (2 * b + 1) - a * (a + 1) * (2 * a + 1)) / 6.0;
    } else {  // centred: tau runs over nobs consecutive values symmetric about 0
      stt = dn * (dn * dn - 1.0) / 12.0;
    }
    at(rt, rt) = stt;
    if (rc >= 0) {
      const double st = dn * (0.5 * static_cast<double>(p + 1 + n) - tc);
      at(rc, rt) = at(rt, rc) = st;
    }
  }
}

// Sample autocovariances Gamma(h) = sum_{t=h}^{n-1} (y_t - mu)(y_{t-h} - mu)^T / den_h, h = 0..p
// (den_h = n, or n - h when `adjusted`; mu the sample mean when `demean`, else 0), into
// G[h k^2 + i k + j], from the pass over targets t = p..n-1 of y' = y - m (m = y_0 when demeaning,
// else 0) plus the first p rows, and the mean correction
//   sum (y'_t - mu')(y'_{t-h} - mu')^T = C^full_h - F_h mu'^T - mu' B_h^T + (n - h) mu' mu'^T,
//   F_h = sum_{t=h}^{n-1} y'_t,  B_h = sum_{t=0}^{n-1-h} y'_t,  mu' = mu - m.
// mean receives mu (k values). `work` needs 3 k doubles.
template <class T>
void autocovariances(const T* y, int64_t n, int k, int p, bool demean, bool adjusted, const double* m,
                     const double* acc, const double* S0, double* G, double* mean, double* work) {
  const int W = (p + 1) * k;
  double* mu = work;         // mu'
  double* F = work + k;      // F_h
  double* B = work + 2 * k;  // B_h
  double* Sf = mean;         // total sum of y' first (mean is overwritten at the end)
  for (int j = 0; j < k; ++j) {
    double s = S0[j];
    for (int64_t t = 0; t < p; ++t) s += static_cast<double>(y[t * k + j]) - m[j];
    Sf[j] = s;
    mu[j] = demean ? s / static_cast<double>(n) : 0.0;
  }
  for (int j = 0; j < k; ++j) F[j] = B[j] = Sf[j];
  for (int h = 0; h <= p; ++h) {
    if (h > 0)
      for (int j = 0; j < k; ++j) {
        F[j] -= static_cast<double>(y[(h - 1) * static_cast<int64_t>(k) + j]) - m[j];
        B[j] -= static_cast<double>(y[(n - h) * k + j]) - m[j];
      }
    const double den = adjusted ? static_cast<double>(n - h) : static_cast<double>(n);
    double* Gh = G + static_cast<int64_t>(h) * k * k;
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) {
        double c = acc[static_cast<int64_t>(i) * W + (p - h) * k + j];
        for (int64_t t = h; t < p; ++t)
          c += (static_cast<double>(y[t * k + i]) - m[i]) * (static_cast<double>(y[(t - h) * k + j]) - m[j]);
        if (demean) c += -F[i] * mu[j] - mu[i] * B[j] + static_cast<double>(n - h) * mu[i] * mu[j];
        Gh[i * k + j] = c / den;
      }
  }
  for (int j = 0; j < k; ++j) mean[j] = m[j] + mu[j];
}

}  // namespace fastgen::ar
