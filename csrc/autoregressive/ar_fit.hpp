// AR/VAR fits of many independent series in one call: OLS through the lagged Gram matrix, and
// Yule-Walker (contract: csrc/KERNELS.md, "Linear autoregressive models").
//
// Both start with one pass of lagged cross-products over fixed chunks of rows (ar_moments.hpp),
// then, per series, form the Gram matrix or the autocovariances by boundary corrections
// (ar_gram.hpp) and solve a small system. Two schedules, with the same arithmetic (so results do
// not depend on which runs, nor on the thread count):
// - many series (S >= 2 x threads): one task per series does all of its steps (no barrier between
//   steps: with thousands of short series the steps are microseconds each);
// - few (long) series: each step in parallel over its work items (chunks of rows) or series.
// Either way a series' item partial sums are added in item order.
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
#include <optional>
#include <vector>

#include "autoregressive/ar_gram.hpp"
#include "autoregressive/ar_linalg.hpp"
#include "autoregressive/ar_moments.hpp"
#include "common/threads.hpp"

namespace fastgen::ar {

constexpr double kRefineCond = 1e4;
constexpr double kSingularPivot = 1e-14;  // smallest pivot of the equilibrated Gram matrix

enum Status : int64_t { kOk = 0, kSingular = 1, kTooShort = 2 };

inline int64_t pass_size(int k, int p) { return static_cast<int64_t>(k) * (p + 1) * k + 2 * k; }

// The work items of every series s (targets t = orders[s] .. n_s - 1) and their partial sums, laid
// out item after item (pass_size(k, orders[s]) doubles each).
struct Pass {
  std::vector<Item> items;
  std::vector<int64_t> off;    // item i's sums start at part[off[i]]
  std::vector<int64_t> first;  // series s's items are first[s] .. first[s + 1] - 1
  std::vector<double> part;
  int64_t maxp = 0;

  Pass(int64_t S, int k, const int64_t* offsets, const int64_t* orders) {
    items = make_items(S, offsets, orders);
    const int64_t I = static_cast<int64_t>(items.size());
    off.assign(I + 1, 0);
    first.assign(S + 1, I);
    for (int64_t i = I - 1; i >= 0; --i) first[items[i].s] = i;
    for (int64_t s = S - 1; s >= 0; --s) first[s] = std::min(first[s], first[s + 1]);
    for (int64_t i = 0; i < I; ++i) off[i + 1] = off[i] + pass_size(k, static_cast<int>(orders[items[i].s]));
    for (int64_t s = 0; s < S; ++s) maxp = std::max(maxp, orders[s]);
    part.assign(off[I], 0.0);
  }
  int64_t n_items() const { return static_cast<int64_t>(items.size()); }
  size_t buffer_size(int k) const { return static_cast<size_t>((kChunkRows + maxp) * k + 16); }

  // Item i's cross-products with shift m (k values) and time centre tc.
  template <class T>
  void run_item(int64_t i, int k, const T* Y, const int64_t* offsets, const int64_t* orders, const double* m,
                double tc, double* buf) {
    const Item& it = items[i];
    const int p = static_cast<int>(orders[it.s]);
    load_rows(Y + offsets[it.s] * k, k, it.t0 - p, it.t1, m, buf, 16);
    double* acc = part.data() + off[i];
    const int64_t W = static_cast<int64_t>(p + 1) * k;
    window_products(buf + static_cast<int64_t>(p) * k, it.t1 - it.t0, k, p, static_cast<double>(it.t0 + 1) - tc, acc,
                    acc + k * W, acc + k * W + k);
  }

  // Series s's sums, added in item order, into out (pass_size doubles).
  void series_sums(int64_t s, int64_t size, double* out) const {
    std::fill(out, out + size, 0.0);
    for (int64_t i = first[s]; i < first[s + 1]; ++i) {
      const double* a = part.data() + off[i];
      for (int64_t j = 0; j < size; ++j) out[j] += a[j];
    }
  }
};

// Whether to run one task per series (see the header comment). Only the schedule depends on the
// thread count: both add a series' item sums in item order, so the results do not.
inline bool by_series(int64_t S) { return S >= 2 * static_cast<int64_t>(par::max_threads()); }

// Lagged cross-products of the pass: k x (p + 1) k multiply-adds per row (P the largest order).
inline double pass_work(int64_t S, int k, int P, const int64_t* offsets) {
  return static_cast<double>(offsets[S] - offsets[0]) * k * k * (P + 1.0);
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

// The OLS fit of many series (ar_ols below), as steps on one series or one item each.
template <class T>
struct OlsFit {
  int64_t S;
  int k;
  const T* Y;
  const int64_t* offsets;
  const int64_t* orders;
  int trend;
  bool all_orders;
  int P;
  double* params;
  double* sse;
  int64_t* status;
  int kt, DxP, Q;
  std::vector<double> shifts, tcs;
  Pass ps;
  // Per series, kept for the refinement: the equilibrated Cholesky factor, the scaling and the
  // solution in shifted coordinates. Per item, the refinement's partial sums (g, then SSE).
  std::vector<int64_t> st_off, r_off;
  std::vector<double> state, rpart;
  std::vector<char> refine;

  struct alignas(64) Scratch {  // one per worker: whole cache lines (common/threads.hpp)
    par::Vec<double> buf, rs, sums, M, Wv, rows, g, delta, ssex;
    Scratch(const OlsFit& f)
        : buf(f.ps.buffer_size(f.k)), rs(static_cast<size_t>(kChunkRows * f.k)), rows(static_cast<size_t>(2 * f.k)) {}
  };

  OlsFit(int64_t S_, int k_, const T* Y_, const int64_t* off_, const int64_t* ord_, int trend_, bool all_,
         int P_, double* params_, double* sse_, int64_t* status_)
      : S(S_), k(k_), Y(Y_), offsets(off_), orders(ord_), trend(trend_), all_orders(all_), P(P_), params(params_),
        sse(sse_), status(status_), kt(n_trend(trend_)), DxP(kt + P_ * k_), Q(all_ ? P_ + 1 : 1),
        shifts(static_cast<size_t>(S_ * k_), 0.0), tcs(static_cast<size_t>(S_), 0.0), ps(S_, k_, off_, ord_),
        st_off(static_cast<size_t>(S_ + 1), 0), refine(static_cast<size_t>(S_), 0) {
    for (int64_t s = 0; s < S; ++s) {
      const int64_t n = offsets[s + 1] - offsets[s], p = orders[s];
      if (has_const(trend)) {
        for (int j = 0; j < k; ++j) shifts[s * k + j] = static_cast<double>(Y[offsets[s] * k + j]);
        if (has_time(trend)) tcs[s] = 0.5 * static_cast<double>(p + 1 + n);
      }
      const int64_t Dx = kt + p * k;
      st_off[s + 1] = st_off[s] + Dx * Dx + Dx + Dx * k;
    }
    state.resize(static_cast<size_t>(st_off[S]));
    const int64_t I = ps.n_items();
    r_off.assign(I + 1, 0);
    for (int64_t i = 0; i < I; ++i) r_off[i + 1] = r_off[i] + (kt + orders[ps.items[i].s] * k) * k + k * k;
    rpart.assign(static_cast<size_t>(r_off[I]), 0.0);
  }

  void pass_item(int64_t i, Scratch& w) {
    const int64_t s = ps.items[i].s;
    ps.run_item(i, k, Y, offsets, orders, shifts.data() + s * k, tcs[s], w.buf.data());
  }

  // Gram matrix, Cholesky, solution and SSE of series s; flags it for refinement.
  void finish(int64_t s, Scratch& w) {
    const int p = static_cast<int>(orders[s]);
    const int64_t n = offsets[s + 1] - offsets[s], nobs = n - p;
    const int Dx = kt + p * k, D = Dx + k;
    double* par = params + s * static_cast<int64_t>(DxP) * k;
    double* out_sse = sse + s * static_cast<int64_t>(Q) * k * k;
    std::fill(par, par + static_cast<int64_t>(DxP) * k, 0.0);
    std::fill(out_sse, out_sse + static_cast<int64_t>(Q) * k * k, 0.0);
    refine[s] = 0;
    if (nobs <= Dx) {
      status[s] = kTooShort;
      return;
    }
    const int64_t size = pass_size(k, p);
    w.sums.resize(size);
    ps.series_sums(s, size, w.sums.data());
    w.M.assign(static_cast<size_t>(D) * D, 0.0);
    const double* m = shifts.data() + s * k;
    const int64_t W = static_cast<int64_t>(p + 1) * k;
    build_gram(Y + offsets[s] * k, n, k, p, trend, m, tcs[s], w.sums.data(), w.sums.data() + k * W,
               w.sums.data() + k * W + k, w.M.data(), D, w.rows.data());
    const double* M = w.M.data();
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
        for (int c = 0; c < Dx; ++c)
          Lf[static_cast<int64_t>(r) * Dx + c] = M[static_cast<int64_t>(r) * D + c] * dsc[r] * dsc[c];
      ok = Dx == 0 || cholesky(Dx, Lf, Dx, kSingularPivot, &pmin, &pmax);
    }
    if (!ok) {
      status[s] = kSingular;
      return;
    }
    // w = L^{-1} D M_xy (Dx x k); b' = D L^{-T} w.
    w.Wv.resize(static_cast<size_t>(Dx) * k);
    double* Wv = w.Wv.data();
    for (int r = 0; r < Dx; ++r)
      for (int e = 0; e < k; ++e) Wv[static_cast<int64_t>(r) * k + e] = dsc[r] * M[static_cast<int64_t>(r) * D + Dx + e];
    solve_lower(Dx, Lf, Dx, Wv, k, k);
    std::copy(Wv, Wv + static_cast<int64_t>(Dx) * k, Bs);
    solve_lower_t(Dx, Lf, Dx, Bs, k, k);
    for (int r = 0; r < Dx; ++r)
      for (int e = 0; e < k; ++e) Bs[static_cast<int64_t>(r) * k + e] *= dsc[r];
    // SSE of order p = M_yy - W^T W; nested orders add back the rows of W beyond their regressors.
    double* sse_p = out_sse + static_cast<int64_t>(all_orders ? p : 0) * k * k;
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
    bool cancels = false;
    for (int e = 0; e < k; ++e)
      if (!(sse_p[e * k + e] * kRefineCond > M[static_cast<int64_t>(Dx + e) * D + Dx + e])) cancels = true;
    refine[s] = (Dx > 0 && (pmax > kRefineCond * pmin || cancels)) ? 1 : 0;
    status[s] = kOk;
  }

  // The refinement's residual sums over item i's rows (its series must be flagged).
  void refine_item(int64_t i, Scratch& w) {
    const Item& it = ps.items[i];
    const int p = static_cast<int>(orders[it.s]);
    const int64_t Dx = kt + static_cast<int64_t>(p) * k;
    load_rows(Y + offsets[it.s] * k, k, it.t0 - p, it.t1, shifts.data() + it.s * k, w.buf.data(), 0);
    const double* Bs = state.data() + st_off[it.s] + Dx * Dx + Dx;
    double* g = rpart.data() + r_off[i];
    residual_products(w.buf.data() + static_cast<int64_t>(p) * k, it.t1 - it.t0, k, p, trend,
                      static_cast<double>(it.t0 + 1) - tcs[it.s], Bs, g + Dx * k, g, w.rs.data());
  }

  // Applies the refinement (when flagged) and writes series s's parameters.
  void final(int64_t s, Scratch& w) {
    if (status[s] != kOk) return;
    const int p = static_cast<int>(orders[s]);
    const int Dx = kt + p * k;
    double* Lf = state.data() + st_off[s];
    double* dsc = Lf + static_cast<int64_t>(Dx) * Dx;
    double* Bs = dsc + Dx;
    double* out_sse = sse + s * static_cast<int64_t>(Q) * k * k;
    double* sse_p = out_sse + static_cast<int64_t>(all_orders ? p : 0) * k * k;
    if (refine[s]) {
      w.g.assign(static_cast<size_t>(Dx) * k, 0.0);
      w.ssex.assign(static_cast<size_t>(k) * k, 0.0);
      for (int64_t i = ps.first[s]; i < ps.first[s + 1]; ++i) {
        const double* a = rpart.data() + r_off[i];
        for (int64_t r = 0; r < static_cast<int64_t>(Dx) * k; ++r) w.g[r] += a[r];
        for (int64_t r = 0; r < static_cast<int64_t>(k) * k; ++r) w.ssex[r] += a[static_cast<int64_t>(Dx) * k + r];
      }
      // delta = D L^{-T} L^{-1} D g
      w.delta.resize(w.g.size());
      double* delta = w.delta.data();
      for (int r = 0; r < Dx; ++r)
        for (int e = 0; e < k; ++e) delta[static_cast<int64_t>(r) * k + e] = dsc[r] * w.g[static_cast<int64_t>(r) * k + e];
      solve_lower(Dx, Lf, Dx, delta, k, k);
      solve_lower_t(Dx, Lf, Dx, delta, k, k);
      for (int r = 0; r < Dx; ++r)
        for (int e = 0; e < k; ++e) {
          delta[static_cast<int64_t>(r) * k + e] *= dsc[r];
          Bs[static_cast<int64_t>(r) * k + e] += delta[static_cast<int64_t>(r) * k + e];
        }
      // SSE_p from the residuals (minus the correction's g^T delta); the nested orders keep their
      // differences to it.
      for (int e = 0; e < k; ++e)
        for (int f = 0; f < k; ++f) {
          double gd = 0;
          for (int r = 0; r < Dx; ++r) gd += w.g[static_cast<int64_t>(r) * k + e] * delta[static_cast<int64_t>(r) * k + f];
          const double exact = w.ssex[e * k + f] - gd;
          const double old = sse_p[e * k + f];
          if (all_orders)
            for (int q = 0; q < p; ++q) out_sse[(static_cast<int64_t>(q) * k + e) * k + f] += exact - old;
          sse_p[e * k + f] = exact;
        }
      for (int q = 0; q < Q; ++q) {  // symmetrise
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

  // One Scratch per worker of a Region, made by the worker on first use.
  struct Scratches {
    const OlsFit& f;
    std::vector<std::optional<Scratch>> v;
    Scratches(const OlsFit& f_, const par::Region& r) : f(f_), v(static_cast<size_t>(r.workers())) {}
    Scratch& operator[](int w) {
      if (!v[w]) v[w].emplace(f);
      return *v[w];
    }
  };

  void run() {
    const int64_t I = ps.n_items();
    const double pass = pass_work(S, k, P, offsets);
    if (by_series(S)) {
      // The pass, plus per series the Gram matrix and its Cholesky factorisation (~Dx^3 / 3 + Dx^2 k;
      // the refinement, for the few flagged series, is not counted).
      static thread_local par::Clock series_clock;
      const double Dx = DxP;
      par::Region r(series_clock, pass + static_cast<double>(S) * Dx * Dx * (Dx / 3.0 + k), S);
      Scratches ws(*this, r);
      r.for_each(S, [&](int64_t s, int wk) {
        Scratch& w = ws[wk];
        for (int64_t i = ps.first[s]; i < ps.first[s + 1]; ++i) pass_item(i, w);
        finish(s, w);
        if (status[s] == kOk && refine[s])
          for (int64_t i = ps.first[s]; i < ps.first[s + 1]; ++i) refine_item(i, w);
        final(s, w);
      });
      return;
    }
    {
      static thread_local par::Clock pass_clock;
      par::Region r(pass_clock, pass, I);
      Scratches ws(*this, r);
      r.for_each(I, [&](int64_t i, int wk) { pass_item(i, ws[wk]); });
    }
    {
      Scratch w(*this);
      for (int64_t s = 0; s < S; ++s) finish(s, w);  // few series: microseconds each
    }
    std::vector<int64_t> ri;
    double refine_rows = 0;
    for (int64_t i = 0; i < I; ++i)
      if (status[ps.items[i].s] == kOk && refine[ps.items[i].s]) {
        ri.push_back(i);
        refine_rows += static_cast<double>(ps.items[i].t1 - ps.items[i].t0);
      }
    {
      // Per refined row: the residual (k x Dx multiply-adds), g = X^T r (Dx k) and r r^T (k x k).
      static thread_local par::Clock refine_clock;
      const int64_t n_ri = static_cast<int64_t>(ri.size());
      par::Region r(refine_clock, refine_rows * k * (2.0 * DxP + k), n_ri);
      Scratches ws(*this, r);
      r.for_each(n_ri, [&](int64_t j, int wk) { refine_item(ri[j], ws[wk]); });
    }
    Scratch w(*this);
    for (int64_t s = 0; s < S; ++s) final(s, w);
  }
};

// OLS fit of every series (kernel contract in KERNELS.md): params (S, kt + P k, k) zero-padded past
// series s's own order, sse (S, Q, k, k) with Q = P + 1 when all_orders (SSE of each nested order q
// on the sample of order orders[s]), else Q = 1; status (S).
template <class T>
void ar_ols(int64_t S, int k, const T* Y, const int64_t* offsets, const int64_t* orders, int trend, bool all_orders,
            int P, double* params, double* sse, int64_t* status) {
  OlsFit<T>(S, k, Y, offsets, orders, trend, all_orders, P, params, sse, status).run();
}

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
