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

}  // namespace fastgen::ar
