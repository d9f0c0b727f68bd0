// AR/VAR fits of many independent series in one call: OLS through the lagged Gram matrix, and
// Yule-Walker (contract: csrc/KERNELS.md, "Linear autoregressive models").
//
// Both start with one pass of lagged cross-products over fixed chunks of rows (ar_moments.hpp),
// parallel over (series, chunk) items; then one task per series forms the Gram matrix or the
// autocovariances by boundary corrections (ar_gram.hpp) and solves a small system.
//
// OLS numerics. The normal equations square the design's condition number, so:
// - a model with a constant is fitted to y - y_0 (the constant absorbs the shift; far fewer
//   digits cancel for a series whose level is large next to its variation), and a "ct" model
//   uses the centred time tau_t = t + 1 - t_c (t_c the mean time of the targets), which is nearly
//   orthogonal to the constant; both are mapped back to the caller's parametrisation at the end;
// - the Gram matrix is equilibrated (unit diagonal) before its Cholesky factorisation;
// - when the factorisation signals trouble (largest / smallest pivot > kRefineCond, or a residual
//   sum of squares below 1 / kRefineCond of the target's sum of squares, where subtracting the
//   explained part cancels digits) the series gets one step of iterative refinement (corrected
//   semi-normal equations, Bjorck): a second pass computes the residuals r = y - X b directly,
//   g = X^T r and SSE = sum r r^T, then b += (X^T X)^{-1} g and SSE -= g^T delta. That restores
//   the accuracy of a QR solve (1e-13 where the plain normal equations give 1e-8 at condition
//   1e8), at the cost of a second pass for those series only.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ar_gram.hpp"
#include "ar_linalg.hpp"
#include "ar_moments.hpp"

namespace fastgen::ar {

constexpr double kRefineCond = 1e4;
constexpr double kSingularPivot = 1e-14;  // smallest pivot of the equilibrated Gram matrix

enum Status : int64_t { kOk = 0, kSingular = 1, kTooShort = 2 };

// Per-item partial sums of the pass, laid out item after item; sizes k W + 2 k, W = (p + 1) k.
struct Pass {
  std::vector<Item> items;
  std::vector<int64_t> off;      // item i's sums start at part[off[i]]
  std::vector<int64_t> first;    // series s's first item
  std::vector<double> part;
};

inline int64_t pass_size(int k, int p) { return static_cast<int64_t>(k) * (p + 1) * k + 2 * k; }

// Runs the lagged cross-product pass of every series s over targets t = orders[s] .. n_s - 1, with
// shift shifts[s k ..] and time centre tcs[s].
template <class T>
Pass lagged_pass(int64_t S, int k, const T* Y, const int64_t* offsets, const int64_t* orders, const double* shifts,
                 const double* tcs) {
  Pass ps;
  ps.items = make_items(S, offsets, orders);
  const int64_t I = static_cast<int64_t>(ps.items.size());
  ps.off.resize(I + 1);
  ps.first.assign(S + 1, I);
  ps.off[0] = 0;
  int64_t maxp = 0;
  for (int64_t i = 0; i < I; ++i) {
    const Item& it = ps.items[i];
    if (ps.first[it.s] == I) ps.first[it.s] = i;
    ps.off[i + 1] = ps.off[i] + pass_size(k, static_cast<int>(orders[it.s]));
    maxp = std::max(maxp, orders[it.s]);
  }
  for (int64_t s = S - 1; s >= 0; --s)
    if (ps.first[s] == I) ps.first[s] = ps.first[s + 1];  // a series without items (never: n > p)
  ps.part.assign(ps.off[I], 0.0);
#pragma omp parallel if (I > 1)
  {
    std::vector<double> buf(static_cast<size_t>((kChunkRows + maxp) * k + 16));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < I; ++i) {
      const Item& it = ps.items[i];
      const int p = static_cast<int>(orders[it.s]);
      const T* y = Y + offsets[it.s] * k;
      const double* m = shifts + it.s * k;
      load_rows(y, k, it.t0 - p, it.t1, m, buf.data(), 16);
      double* acc = ps.part.data() + ps.off[i];
      const int64_t W = static_cast<int64_t>(p + 1) * k;
      window_products(buf.data() + static_cast<int64_t>(p) * k, it.t1 - it.t0, k, p,
                      static_cast<double>(it.t0 + 1) - tcs[it.s], acc, acc + k * W, acc + k * W + k);
    }
  }
  return ps;
}

// Sums of series s's items, added in item order, into out (pass_size(k, p) doubles).
inline void series_sums(const Pass& ps, int64_t s, int64_t size, double* out) {
  std::fill(out, out + size, 0.0);
  for (int64_t i = ps.first[s]; i < ps.first[s + 1]; ++i) {
    const double* a = ps.part.data() + ps.off[i];
    for (int64_t j = 0; j < size; ++j) out[j] += a[j];
  }
}

// Maps coefficients of the shifted, centred model (rows [1 | tau | lags] x k equations) to the
// caller's: c = c' - d t_c + (I - sum_i A_i) m, d = d', A_i unchanged. B is (kt + p k) x k.
inline void unshift_params(int k, int p, int trend, const double* m, double tc, double* B) {
  if (!has_const(trend)) return;  // "n" and "t" are fitted unshifted and uncentred
  const int kt = n_trend(trend);
  for (int e = 0; e < k; ++e) {
    double c = B[e];
    if (has_time(trend)) c -= B[k + e] * tc;
    double am = m[e];
    for (int i = 1; i <= p; ++i)
      for (int j = 0; j < k; ++j) am -= B[static_cast<int64_t>(kt + (i - 1) * k + j) * k + e] * m[j];
    B[e] = c + am;
  }
}

// OLS fit of every series (kernel contract in KERNELS.md): params (S, kt + P k, k) zero-padded past
// series s's own order, sse (S, Q, k, k) with Q = P + 1 when all_orders (SSE of each nested order q
// on the sample of order orders[s]), else Q = 1; status (S).
template <class T>
void ar_ols(int64_t S, int k, const T* Y, const int64_t* offsets, const int64_t* orders, int trend, bool all_orders,
            int P, double* params, double* sse, int64_t* status) {
  const int kt = n_trend(trend);
  const int DxP = kt + P * k;
  const int Q = all_orders ? P + 1 : 1;
  std::vector<double> shifts(static_cast<size_t>(S * k), 0.0), tcs(static_cast<size_t>(S), 0.0);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = offsets[s + 1] - offsets[s], p = orders[s];
    if (has_const(trend)) {
      for (int j = 0; j < k; ++j) shifts[s * k + j] = static_cast<double>(Y[offsets[s] * k + j]);
      if (has_time(trend)) tcs[s] = 0.5 * static_cast<double>(p + 1 + n);
    }
  }
  Pass ps = lagged_pass(S, k, Y, offsets, orders, shifts.data(), tcs.data());

  // Per-series state kept for the refinement step: the equilibrated Cholesky factor, the scaling
  // and the solution in shifted coordinates.
  std::vector<int64_t> st_off(static_cast<size_t>(S + 1), 0);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t Dx = kt + orders[s] * k;
    st_off[s + 1] = st_off[s] + Dx * Dx + Dx + Dx * k;
  }
  std::vector<double> state(static_cast<size_t>(st_off[S]));
  std::vector<char> refine(static_cast<size_t>(S), 0);

#pragma omp parallel if (S > 1)  // one series: no thread team (its solve is microseconds)
  {
    std::vector<double> sums, M, Wv, rows(static_cast<size_t>(2 * k));
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < S; ++s) {
      const int p = static_cast<int>(orders[s]);
      const int64_t n = offsets[s + 1] - offsets[s], nobs = n - p;
      const int Dx = kt + p * k, D = Dx + k;
      double* par = params + s * static_cast<int64_t>(DxP) * k;
      double* out_sse = sse + s * static_cast<int64_t>(Q) * k * k;
      std::fill(par, par + static_cast<int64_t>(DxP) * k, 0.0);
      std::fill(out_sse, out_sse + static_cast<int64_t>(Q) * k * k, 0.0);
      if (nobs <= Dx) {
        status[s] = kTooShort;
        continue;
      }
      const int64_t size = pass_size(k, p);
      sums.resize(size);
      series_sums(ps, s, size, sums.data());
      M.assign(static_cast<size_t>(D) * D, 0.0);
      const T* y = Y + offsets[s] * k;
      const double* m = shifts.data() + s * k;
      const int64_t W = static_cast<int64_t>(p + 1) * k;
      build_gram(y, n, k, p, trend, m, tcs[s], sums.data(), sums.data() + k * W, sums.data() + k * W + k, M.data(), D,
                 rows.data());
      double* Lf = state.data() + st_off[s];
      double* dsc = Lf + static_cast<int64_t>(Dx) * Dx;
      double* Bs = dsc + Dx;
      bool ok = true;
      for (int r = 0; r < Dx; ++r) {
        const double mrr = M[static_cast<int64_t>(r) * D + r];
        if (!(mrr > 0) || !std::isfinite(mrr)) ok = false;
        dsc[r] = ok ? 1.0 / std::sqrt(mrr) : 0.0;
      }
      double pmin = 1, pmax = 1;
      if (ok) {
        for (int r = 0; r < Dx; ++r)
          for (int c = 0; c < Dx; ++c) Lf[static_cast<int64_t>(r) * Dx + c] = M[static_cast<int64_t>(r) * D + c] * dsc[r] * dsc[c];
        ok = Dx == 0 || cholesky(Dx, Lf, Dx, kSingularPivot, &pmin, &pmax);
      }
      if (!ok) {
        status[s] = kSingular;
        continue;
      }
      // w = L^{-1} D M_xy (Dx x k); b' = D L^{-T} w.
      Wv.resize(static_cast<size_t>(Dx) * k);
      for (int r = 0; r < Dx; ++r)
        for (int e = 0; e < k; ++e) Wv[static_cast<int64_t>(r) * k + e] = dsc[r] * M[static_cast<int64_t>(r) * D + Dx + e];
      solve_lower(Dx, Lf, Dx, Wv.data(), k, k);
      std::copy(Wv.begin(), Wv.end(), Bs);
      solve_lower_t(Dx, Lf, Dx, Bs, k, k);
      for (int r = 0; r < Dx; ++r)
        for (int e = 0; e < k; ++e) Bs[static_cast<int64_t>(r) * k + e] *= dsc[r];
      // SSE of order p = M_yy - W^T W; nested orders add back the rows of W beyond their regressors.
      double* sse_p = out_sse + static_cast<int64_t>(all_orders ? p : 0) * k * k;
      bool cancels = false;
      for (int e = 0; e < k; ++e)
        for (int f = 0; f < k; ++f) {
          double v = M[static_cast<int64_t>(Dx + e) * D + Dx + f];
          for (int r = 0; r < Dx; ++r) v -= Wv[static_cast<int64_t>(r) * k + e] * Wv[static_cast<int64_t>(r) * k + f];
          sse_p[e * k + f] = v;
        }
      if (all_orders)  // SSE_q = SSE_{q+1} + sum of w_r w_r^T over the regressors of lag q + 1
        for (int q = p - 1; q >= 0; --q) {
          double* Sq = out_sse + static_cast<int64_t>(q) * k * k;
          const double* Sq1 = Sq + static_cast<int64_t>(k) * k;
          for (int e = 0; e < k; ++e)
            for (int f = 0; f < k; ++f) {
              double v = Sq1[e * k + f];
              for (int r = kt + q * k; r < kt + (q + 1) * k; ++r)
                v += Wv[static_cast<int64_t>(r) * k + e] * Wv[static_cast<int64_t>(r) * k + f];
              Sq[e * k + f] = v;
            }
        }
      for (int e = 0; e < k; ++e)
        if (!(sse_p[e * k + e] * kRefineCond > M[static_cast<int64_t>(Dx + e) * D + Dx + e])) cancels = true;
      refine[s] = (Dx > 0 && (pmax > kRefineCond * pmin || cancels)) ? 1 : 0;
      status[s] = kOk;
    }
  }

  // Refinement: residual pass for the flagged series.
  std::vector<int64_t> ritems;
  for (int64_t i = 0; i < static_cast<int64_t>(ps.items.size()); ++i)
    if (status[ps.items[i].s] == kOk && refine[ps.items[i].s]) ritems.push_back(i);
  std::vector<int64_t> roff(ritems.size() + 1, 0);
  for (size_t j = 0; j < ritems.size(); ++j) {
    const int64_t s = ps.items[ritems[j]].s;
    const int64_t Dx = kt + orders[s] * k;
    roff[j + 1] = roff[j] + Dx * k + static_cast<int64_t>(k) * k;
  }
  std::vector<double> rpart(static_cast<size_t>(roff.back()), 0.0);
  if (!ritems.empty()) {
    int64_t maxp = 0;
    for (int64_t s = 0; s < S; ++s) maxp = std::max(maxp, orders[s]);
#pragma omp parallel if (ritems.size() > 1)
    {
      std::vector<double> buf(static_cast<size_t>((kChunkRows + maxp) * k + 16)), rs(static_cast<size_t>(kChunkRows * k));
#pragma omp for schedule(dynamic, 1)
      for (int64_t j = 0; j < static_cast<int64_t>(ritems.size()); ++j) {
        const Item& it = ps.items[ritems[j]];
        const int p = static_cast<int>(orders[it.s]);
        const int64_t Dx = kt + static_cast<int64_t>(p) * k;
        load_rows(Y + offsets[it.s] * k, k, it.t0 - p, it.t1, shifts.data() + it.s * k, buf.data(), 0);
        const double* Bs = state.data() + st_off[it.s] + Dx * Dx + Dx;
        double* g = rpart.data() + roff[j];
        residual_products(buf.data() + static_cast<int64_t>(p) * k, it.t1 - it.t0, k, p, trend,
                          static_cast<double>(it.t0 + 1) - tcs[it.s], Bs, g + Dx * k, g, rs.data());
      }
    }
  }
  // Series s's refinement items are ritems[rbeg[s] .. rend[s]) (contiguous: items are in series order).
  std::vector<int64_t> rbeg(static_cast<size_t>(S), 0), rend(static_cast<size_t>(S), 0);
  for (int64_t j = 0; j < static_cast<int64_t>(ritems.size()); ++j) {
    const int64_t s = ps.items[ritems[j]].s;
    if (rend[s] == 0) rbeg[s] = j;
    rend[s] = j + 1;
  }

#pragma omp parallel if (S > 1)  // one series: no thread team (its solve is microseconds)
  {
    std::vector<double> g, delta, ssex;
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < S; ++s) {
      if (status[s] != kOk) continue;
      const int p = static_cast<int>(orders[s]);
      const int Dx = kt + p * k;
      double* Lf = state.data() + st_off[s];
      double* dsc = Lf + static_cast<int64_t>(Dx) * Dx;
      double* Bs = dsc + Dx;
      double* out_sse = sse + s * static_cast<int64_t>(Q) * k * k;
      double* sse_p = out_sse + static_cast<int64_t>(all_orders ? p : 0) * k * k;
      if (refine[s]) {
        g.assign(static_cast<size_t>(Dx) * k, 0.0);
        ssex.assign(static_cast<size_t>(k) * k, 0.0);
        for (int64_t j = rbeg[s]; j < rend[s]; ++j) {
          const double* a = rpart.data() + roff[j];
          for (int64_t r = 0; r < static_cast<int64_t>(Dx) * k; ++r) g[r] += a[r];
          for (int64_t r = 0; r < static_cast<int64_t>(k) * k; ++r) ssex[r] += a[static_cast<int64_t>(Dx) * k + r];
        }
        // delta = D L^{-T} L^{-1} D g
        delta.resize(g.size());
        for (int r = 0; r < Dx; ++r)
          for (int e = 0; e < k; ++e) delta[static_cast<int64_t>(r) * k + e] = dsc[r] * g[static_cast<int64_t>(r) * k + e];
        solve_lower(Dx, Lf, Dx, delta.data(), k, k);
        solve_lower_t(Dx, Lf, Dx, delta.data(), k, k);
        for (int r = 0; r < Dx; ++r)
          for (int e = 0; e < k; ++e) {
            delta[static_cast<int64_t>(r) * k + e] *= dsc[r];
            Bs[static_cast<int64_t>(r) * k + e] += delta[static_cast<int64_t>(r) * k + e];
          }
        // Nested orders: SSE_q = SSE_p + (their old difference); keep the differences.
        for (int e = 0; e < k; ++e)
          for (int f = 0; f < k; ++f) {
            double gd = 0;
            for (int r = 0; r < Dx; ++r) gd += g[static_cast<int64_t>(r) * k + e] * delta[static_cast<int64_t>(r) * k + f];
            const double exact = ssex[e * k + f] - gd;
            const double old = sse_p[e * k + f];
            if (all_orders)
              for (int q = 0; q < p; ++q) out_sse[(static_cast<int64_t>(q) * k + e) * k + f] -= old;
            sse_p[e * k + f] = exact;
            if (all_orders)
              for (int q = 0; q < p; ++q) out_sse[(static_cast<int64_t>(q) * k + e) * k + f] += exact;
          }
        // symmetrise
        for (int q = 0; q < Q; ++q) {
          double* Sq = out_sse + static_cast<int64_t>(q) * k * k;
          for (int e = 0; e < k; ++e)
            for (int f = e + 1; f < k; ++f) Sq[e * k + f] = Sq[f * k + e] = 0.5 * (Sq[e * k + f] + Sq[f * k + e]);
        }
      }
      double* par = params + s * static_cast<int64_t>(DxP) * k;
      // Lag block i of order p sits at rows kt + (i - 1) k of the padded (kt + P k) layout too.
      std::copy(Bs, Bs + static_cast<int64_t>(Dx) * k, par);
      unshift_params(k, p, trend, shifts.data() + s * k, tcs[s], par);
    }
  }
}

// Solves the order-q Yule-Walker system R B = r (R: q k x q k, block (i, j) = Gamma(j - i) with
// Gamma(-h) = Gamma(h)^T; r: block i = Gamma(i + 1)^T), B = [A_1^T; ...; A_q^T], and the innovation
// covariance Sigma = Gamma(0) - B^T r (symmetrised). G holds Gamma(0..p). k == 1 uses
// Levinson-Durbin for every order at once (coef_all, sig), otherwise an LU solve per order.
// Returns false on a singular system.
inline bool yw_solve(int k, int q, const double* G, double* B, double* Sigma, std::vector<double>& R,
                     std::vector<double>& rhs) {
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
template <class T>
void ar_yule_walker(int64_t S, int k, const T* Y, const int64_t* offsets, const int64_t* orders, bool demean,
                    bool adjusted, bool all_orders, int P, double* params, double* sigma, int64_t* status) {
  const int kt = demean ? 1 : 0;
  const int DxP = kt + P * k;
  const int Q = all_orders ? P + 1 : 1;
  std::vector<double> shifts(static_cast<size_t>(S * k), 0.0), tcs(static_cast<size_t>(S), 0.0);
  if (demean)
    for (int64_t s = 0; s < S; ++s)
      for (int j = 0; j < k; ++j) shifts[s * k + j] = static_cast<double>(Y[offsets[s] * k + j]);
  Pass ps = lagged_pass(S, k, Y, offsets, orders, shifts.data(), tcs.data());
#pragma omp parallel if (S > 1)  // one series: no thread team (its solve is microseconds)
  {
    std::vector<double> sums, G, mean(static_cast<size_t>(k)), work(static_cast<size_t>(3 * k)), B, R, rhs, phi, tmp,
        all;
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < S; ++s) {
      const int p = static_cast<int>(orders[s]);
      const int64_t n = offsets[s + 1] - offsets[s];
      double* par = params + s * static_cast<int64_t>(DxP) * k;
      double* sig = sigma + s * static_cast<int64_t>(Q) * k * k;
      std::fill(par, par + static_cast<int64_t>(DxP) * k, 0.0);
      std::fill(sig, sig + static_cast<int64_t>(Q) * k * k, 0.0);
      if (n <= p) {
        status[s] = kTooShort;
        continue;
      }
      const int64_t size = pass_size(k, p);
      sums.resize(size);
      series_sums(ps, s, size, sums.data());
      const T* y = Y + offsets[s] * k;
      const int64_t W = static_cast<int64_t>(p + 1) * k;
      G.resize(static_cast<size_t>(p + 1) * k * k);
      autocovariances(y, n, k, p, demean, adjusted, shifts.data() + s * k, sums.data(), sums.data() + k * W,
                      G.data(), mean.data(), work.data());
      bool ok = true;
      for (int j = 0; j < k; ++j)
        if (!(G[j * k + j] > 0)) ok = false;
      B.assign(static_cast<size_t>(p) * k * k, 0.0);
      double* sig_p = sig + static_cast<int64_t>(all_orders ? p : 0) * k * k;
      if (ok && k == 1) {
        // Levinson-Durbin gives every order's coefficients; sigma^2_q = r0 - sum_j phi_{q,j} r_j.
        phi.resize(static_cast<size_t>(p));
        tmp.resize(static_cast<size_t>(p));
        all.assign(static_cast<size_t>(p + 1) * (p + 1), 0.0);
        ok = levinson(p, G.data(), phi.data(), tmp.data(), all.data());
        if (ok) {
          for (int q = all_orders ? 0 : p; q <= p; ++q) {
            double v = G[0];
            for (int j = 0; j < q; ++j) v -= all[static_cast<int64_t>(q) * (p + 1) + j] * G[j + 1];
            sig[all_orders ? q : 0] = v;
          }
          std::copy(phi.begin(), phi.end(), B.begin());
        }
      } else if (ok) {
        ok = yw_solve(k, p, G.data(), B.data(), sig_p, R, rhs);
        if (ok && all_orders) {
          tmp.resize(static_cast<size_t>(p) * k * k);
          for (int q = 0; q < p && ok; ++q)
            ok = yw_solve(k, q, G.data(), tmp.data(), sig + static_cast<int64_t>(q) * k * k, R, rhs);
        }
      }
      if (!ok) {
        std::fill(sig, sig + static_cast<int64_t>(Q) * k * k, 0.0);
        status[s] = kSingular;
        continue;
      }
      std::copy(B.begin(), B.end(), par + static_cast<int64_t>(kt) * k);
      if (demean)  // intercept (I - sum_i A_i) mu; A_i[e, j] = B[(i - 1) k + j, e]
        for (int e = 0; e < k; ++e) {
          double c = mean[e];
          for (int r = 0; r < p * k; ++r) c -= B[static_cast<int64_t>(r) * k + e] * mean[r % k];
          par[e] = c;
        }
      status[s] = kOk;
    }
  }
}

}  // namespace fastgen::ar
