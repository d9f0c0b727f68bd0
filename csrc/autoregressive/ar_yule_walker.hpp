// Yule-Walker fits of many AR/VAR series (ar_yule_walker): autocovariances from the pass of
// autoregressive/ar_pass.hpp, Levinson-Durbin (k == 1) or an LU solve per order.
#pragma once

#include "autoregressive/ar_pass.hpp"

namespace fastgen::ar {

// Solves the order-q Yule-Walker system R B = r (R: q k x q k, block (i, j) = Gamma(j - i) with
// Gamma(-h) = Gamma(h)^T; r: block i = Gamma(i + 1)^T), B = [A_1^T; ...; A_q^T], and the innovation
// covariance Sigma = Gamma(0) - B^T r (symmetrised). G holds Gamma(0..p). k == 1 uses
// Levinson-Durbin for every order at once (coef_all, sig), otherwise an LU solve per order.
// Returns false on a singular system.
inline bool yw_solve(int k, int q, const double* G, double* B, double* Sigma, par::Vec<double>& R,
                     par::Vec<double>& rhs) {
  const int n = q * k;
  auto gam = [&](int h, int i, int j) {  // Gamma(h)[i, j] for any sign of h
    return h >= 0 ? G[(static_cast<int64_t>(h) * k + i) * k + j] : G[(static_cast<int64_t>(-h) * k + j) * k + i];
  };
  R.resize(static_cast<size_t>(n) * n);
  rhs.resize(static_cast<size_t>(n) * k);
  for (int bi = 0; bi < q; ++bi)
    for (int bj = 0; bj < q; ++bj)
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) R[static_cast<int64_t>(bi * k + i) * n + bj * k + j] = gam(bj - bi, i, j);
  for (int bi = 0; bi < q; ++bi)
    for (int i = 0; i < k; ++i)
      for (int e = 0; e < k; ++e) rhs[static_cast<int64_t>(bi * k + i) * k + e] = gam(bi + 1, e, i);
  std::copy(rhs.begin(), rhs.end(), B);
  if (n > 0 && !lu_solve(n, R.data(), n, B, k, k, 1e-14)) return false;
  for (int e = 0; e < k; ++e)
    for (int f = 0; f < k; ++f) {
      double v = gam(0, e, f);
      for (int r = 0; r < n; ++r) v -= B[static_cast<int64_t>(r) * k + e] * rhs[static_cast<int64_t>(r) * k + f];
      Sigma[e * k + f] = v;
    }
  for (int e = 0; e < k; ++e)
    for (int f = e + 1; f < k; ++f) Sigma[e * k + f] = Sigma[f * k + e] = 0.5 * (Sigma[e * k + f] + Sigma[f * k + e]);
  return true;
}

// Yule-Walker fit of every series (KERNELS.md): params (S, kt + P k, k) with kt = 1 when demean
// (the intercept (I - sum A_i) mu) else 0, zero-padded past the series' order; sigma (S, Q, k, k)
// the innovation covariance Gamma(0) - sum_i A_i Gamma(i)^T of order orders[s] (Q = 1), or of
// every order q = 0..orders[s] (Q = P + 1, all_orders); status (S).
// Yule-Walker solve of series s from its summed pass (the body of ar_yule_walker's per-series step).
struct alignas(64) YwScratch {  // one per worker: whole cache lines (common/threads.hpp)
  par::Vec<double> sums, G, mean, work, B, R, rhs, phi, tmp, all, buf;
};

template <class T>
void yw_series(int64_t s, const Pass& ps, int k, const T* Y, const int64_t* offsets, const int64_t* orders,
               bool demean, bool adjusted, bool all_orders, int P, const double* shifts, double* params,
               double* sigma, int64_t* status, YwScratch& w) {
  const int kt = demean ? 1 : 0;
  const int DxP = kt + P * k;
  const int Q = all_orders ? P + 1 : 1;
  const int p = static_cast<int>(orders[s]);
  const int64_t n = offsets[s + 1] - offsets[s];
  double* par = params + s * static_cast<int64_t>(DxP) * k;
  double* sig = sigma + s * static_cast<int64_t>(Q) * k * k;
  std::fill(par, par + static_cast<int64_t>(DxP) * k, 0.0);
  std::fill(sig, sig + static_cast<int64_t>(Q) * k * k, 0.0);
  if (n <= p) {
    status[s] = kTooShort;
    return;
  }
  const int64_t size = pass_size(k, p);
  w.sums.resize(size);
  ps.series_sums(s, size, w.sums.data());
  const T* y = Y + offsets[s] * k;
  const int64_t W = static_cast<int64_t>(p + 1) * k;
  w.G.resize(static_cast<size_t>(p + 1) * k * k);
  w.mean.resize(static_cast<size_t>(k));
  w.work.resize(static_cast<size_t>(3 * k));
  autocovariances(y, n, k, p, demean, adjusted, shifts + s * k, w.sums.data(), w.sums.data() + k * W, w.G.data(),
                  w.mean.data(), w.work.data());
  const double* G = w.G.data();
  bool ok = true;
  for (int j = 0; j < k; ++j)
    if (!(G[j * k + j] > 0)) ok = false;
  w.B.assign(static_cast<size_t>(p) * k * k, 0.0);
  double* sig_p = sig + static_cast<int64_t>(all_orders ? p : 0) * k * k;
  if (ok && k == 1) {
    // Levinson-Durbin gives every order's coefficients; sigma^2_q = r0 - sum_j phi_{q,j} r_j.
    w.phi.resize(static_cast<size_t>(p));
    w.tmp.resize(static_cast<size_t>(p));
    w.all.assign(static_cast<size_t>(p + 1) * (p + 1), 0.0);
    ok = levinson(p, G, w.phi.data(), w.tmp.data(), w.all.data());
    if (ok) {
      for (int q = all_orders ? 0 : p; q <= p; ++q) {
        double v = G[0];
        for (int j = 0; j < q; ++j) v -= w.all[static_cast<int64_t>(q) * (p + 1) + j] * G[j + 1];
        sig[all_orders ? q : 0] = v;
      }
      std::copy(w.phi.begin(), w.phi.end(), w.B.begin());
    }
  } else if (ok) {
    ok = yw_solve(k, p, G, w.B.data(), sig_p, w.R, w.rhs);
    if (ok && all_orders) {
      w.tmp.resize(static_cast<size_t>(p) * k * k);
      for (int q = 0; q < p && ok; ++q)
        ok = yw_solve(k, q, G, w.tmp.data(), sig + static_cast<int64_t>(q) * k * k, w.R, w.rhs);
    }
  }
  if (!ok) {
    std::fill(sig, sig + static_cast<int64_t>(Q) * k * k, 0.0);
    status[s] = kSingular;
    return;
  }
  std::copy(w.B.begin(), w.B.end(), par + static_cast<int64_t>(kt) * k);
  if (demean)  // intercept (I - sum_i A_i) mu; A_i[e, j] = B[(i - 1) k + j, e]
    for (int e = 0; e < k; ++e) {
      double c = w.mean[e];
      for (int r = 0; r < p * k; ++r) c -= w.B[static_cast<int64_t>(r) * k + e] * w.mean[r % k];
      par[e] = c;
    }
  status[s] = kOk;
}

// Yule-Walker fit of every series (KERNELS.md): params (S, kt + P k, k) with kt = 1 when demean
// (the intercept (I - sum A_i) mu) else 0, zero-padded past the series' order; sigma (S, Q, k, k)
// the innovation covariance Gamma(0) - sum_i A_i Gamma(i)^T of order orders[s] (Q = 1), or of
// every order q = 0..orders[s] (Q = P + 1, all_orders); status (S).
template <class T>
void ar_yule_walker(int64_t S, int k, const T* Y, const int64_t* offsets, const int64_t* orders, bool demean,
                    bool adjusted, bool all_orders, int P, double* params, double* sigma, int64_t* status) {
  std::vector<double> shifts(static_cast<size_t>(S * k), 0.0);
  if (demean)  // y - y_0: the mean correction of the autocovariances then cancels little
    for (int64_t s = 0; s < S; ++s)
      for (int j = 0; j < k; ++j) shifts[s * k + j] = static_cast<double>(Y[offsets[s] * k + j]);
  Pass ps(S, k, offsets, orders);
  const int64_t I = ps.n_items();
  auto run_item = [&](int64_t i, YwScratch& w) {
    ps.run_item(i, k, Y, offsets, orders, shifts.data() + ps.items[i].s * k, 0.0, w.buf.data());
  };
  const double pass = pass_work(S, k, P, offsets);
  const size_t bufsize = ps.buffer_size(k);
  if (by_series(S)) {
    // The pass, plus per series the solve: an LU of order P k (~(P k)^3 / 3, once per order when
    // all_orders; Levinson-Durbin for k == 1 costs less).
    static thread_local par::Clock series_clock;
    const double n = static_cast<double>(P) * k;
    par::Region r(series_clock, pass + static_cast<double>(S) * (n * n * (n / 3.0 + k) + k * k), S);
    std::vector<YwScratch> ws(static_cast<size_t>(r.workers()));  // each worker sizes its own buf
    r.for_each(S, [&](int64_t s, int wk) {
      YwScratch& w = ws[wk];
      w.buf.resize(bufsize);
      for (int64_t i = ps.first[s]; i < ps.first[s + 1]; ++i) run_item(i, w);
      yw_series(s, ps, k, Y, offsets, orders, demean, adjusted, all_orders, P, shifts.data(), params, sigma, status, w);
    });
    return;
  }
  {
    static thread_local par::Clock pass_clock;
    par::Region r(pass_clock, pass, I);
    std::vector<YwScratch> ws(static_cast<size_t>(r.workers()));
    r.for_each(I, [&](int64_t i, int wk) {
      YwScratch& w = ws[wk];
      w.buf.resize(bufsize);
      run_item(i, w);
    });
  }
  YwScratch w;
  for (int64_t s = 0; s < S; ++s)
    yw_series(s, ps, k, Y, offsets, orders, demean, adjusted, all_orders, P, shifts.data(), params, sigma, status, w);
}

}  // namespace fastgen::ar
