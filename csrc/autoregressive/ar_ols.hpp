// OLS fits of many AR/VAR series (ar_ols): the lagged Gram matrix from the pass of
// autoregressive/ar_pass.hpp, equilibrated Cholesky and iterative refinement (numerics: ar_pass.hpp).
#pragma once

#include "autoregressive/ar_pass.hpp"

namespace fastgen::ar {

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

}  // namespace fastgen::ar
