// One pass over a (multivariate) series: the lagged cross-products that the AR/VAR fits are built
// from (contract: csrc/KERNELS.md, "Linear autoregressive models").
//
// For a series y_0 .. y_{n-1} (rows of k values), an order p and a shift m (a k-vector subtracted
// from every row, y' = y - m), the pass sums over the target rows t = p .. n-1:
//   C_h = sum_t y'_t y'_{t-h}^T  (k x k, h = 0..p),   S0 = sum_t y'_t,   T0 = sum_t tau_t y'_t,
// tau_t = t + 1 - t_c. That is (p + 1) k^2 + 2k multiply-adds a row: every entry of the lag-p
// design's Gram matrix follows from these by O(p^2 k^2) boundary corrections (ar_gram.hpp).
// Rows are split into fixed chunks of kChunkRows (work items); item partial sums are added in item
// order, so results do not depend on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/isa.hpp"
#include "common/simd.hpp"
#include "common/vec.hpp"

namespace fastgen::ar {

constexpr int64_t kChunkRows = 4096;

// Trend codes: 0 "n", 1 "c" (constant), 2 "t" (time index t + 1), 3 "ct".
inline int n_trend(int trend) { return trend == 0 ? 0 : (trend == 3 ? 2 : 1); }
inline bool has_const(int trend) { return trend == 1 || trend == 3; }
inline bool has_time(int trend) { return trend >= 2; }

// Target rows [t0, t1) (relative to the series start) of series s.
struct Item {
  int64_t s, t0, t1;
};

// Items covering rows [first[s], n_s) of every series, in series then row order.
inline std::vector<Item> make_items(int64_t S, const int64_t* offsets, const int64_t* first) {
  std::vector<Item> items;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = offsets[s + 1] - offsets[s];
    for (int64_t t = first[s]; t < n; t += kChunkRows) items.push_back({s, t, std::min(n, t + kChunkRows)});
  }
  return items;
}

// Rows [r0, r1) of series `y` (row-major, k columns) minus `shift`, as doubles, into `buf`,
// followed by `pad` zeros.
template <class T>
inline void load_rows(const T* y, int k, int64_t r0, int64_t r1, const double* shift, double* buf, int pad) {
  double* b = buf;
  for (int64_t r = r0; r < r1; ++r)
    for (int j = 0; j < k; ++j) *b++ = static_cast<double>(y[r * k + j]) - shift[j];
  for (int i = 0; i < pad; ++i) *b++ = 0.0;
}

// acc[i W + w] += sum_{t < len} b[t k + i] b[(t - p) k + w] for w < W = (p + 1) k: row t of the
// chunk times the window of rows t - p .. t, flattened. `b` points at the chunk's first target row;
// rows -p .. len - 1 are valid and followed by >= 8 doubles of padding (the last vector of a window
// runs past it; those lanes are discarded). Windows go in vectors of L = B / 8 lags, with four
// accumulators (rows t mod 4) so the multiply-adds do not wait on each other; they are added at the
// end of the chunk ((a0 + a1) + (a2 + a3)). Also S0[i] += sum_t b[t k + i], T0[i] += sum_t tau_t b[t k + i].
// Every lag is a lane summed in its own order, so the sums do not depend on B.
//
// k == 1 with NB blocks of 8 lags (p + 1 <= 8 NB): one sweep over the rows updates every block, so
// each row's value is broadcast once (the generic loop below sweeps once per vector); two
// accumulators per lag (rows t even / odd). A block is 8 / L vectors of B bytes; one sweep updates
// at most kSweep of them (two accumulators each in the 16 registers of AVX2), more take more sweeps.
template <int B, int M>
FG_ALWAYS_INLINE void window_sweep_1(const double* b, int64_t len, int p, int q0, double* acc) {
  using V = vec::V<double, B>;
  constexpr int L = vec::lanes<double, B>;
  const double* base = b - p + q0 * L;  // lags q0 L .. (q0 + M) L - 1
  V a[M], c[M];
  for (int j = 0; j < M; ++j) a[j] = c[j] = V{};
  int64_t t = 0;
  for (; t + 2 <= len; t += 2) {
    const double y0 = b[t], y1 = b[t + 1];
    for (int j = 0; j < M; ++j) {
      a[j] += y0 * vec::load<B>(base + t + j * L);
      c[j] += y1 * vec::load<B>(base + t + 1 + j * L);
    }
  }
  for (; t < len; ++t)
    for (int j = 0; j < M; ++j) a[j] += b[t] * vec::load<B>(base + t + j * L);
  for (int j = 0; j < M; ++j) {
    double out[L];
    vec::store(out, a[j] + c[j]);
    const int nw = std::min(L, p + 1 - (q0 + j) * L);
    for (int l = 0; l < nw; ++l) acc[(q0 + j) * L + l] += out[l];
  }
}

// Vectors q0 .. q0 + M - 1 of the k == 1 window, in sweeps of at most kSweep vectors.
template <int B, int M>
FG_ALWAYS_INLINE void window_products_1(const double* b, int64_t len, int p, int q0, double* acc) {
  constexpr int kSweep = B == 64 ? 8 : 6;
  if (q0 * vec::lanes<double, B> > p) return;  // past the window: nothing to add
  if constexpr (M <= kSweep) {
    window_sweep_1<B, M>(b, len, p, q0, acc);
  } else {
    window_sweep_1<B, kSweep>(b, len, p, q0, acc);
    window_products_1<B, M - kSweep>(b, len, p, q0 + kSweep, acc);
  }
}

template <int B>
FASTGEN_VEC_INLINE void window_products_w(const double* b, int64_t len, int k, int p, double tau0, double* acc,
                                          double* S0, double* T0) {
  using V = vec::V<double, B>;
  constexpr int L = vec::lanes<double, B>, NV = 8 / L;  // NV vectors of a block of 8 lags
  const int W = (p + 1) * k;
  if (k == 1 && W <= 32) {
    if (W <= 8)
      window_products_1<B, NV>(b, len, p, 0, acc);
    else if (W <= 16)
      window_products_1<B, 2 * NV>(b, len, p, 0, acc);
    else if (W <= 24)
      window_products_1<B, 3 * NV>(b, len, p, 0, acc);
    else
      window_products_1<B, 4 * NV>(b, len, p, 0, acc);
    double s = 0, st = 0;
#pragma omp simd reduction(+ : s, st)
    for (int64_t t = 0; t < len; ++t) {
      const double v = b[t];
      s += v;
      st += (tau0 + static_cast<double>(t)) * v;
    }
    S0[0] += s;
    T0[0] += st;
    return;
  }
  const double* base = b - static_cast<int64_t>(p) * k;  // window of row t starts at base + t k
  for (int i = 0; i < k; ++i) {
    for (int w0 = 0; w0 < W; w0 += L) {
      V a0 = {}, a1 = {}, a2 = {}, a3 = {};
      int64_t t = 0;
      for (; t + 4 <= len; t += 4) {
        const double* r = base + t * k + w0;
        a0 += b[t * k + i] * vec::load<B>(r);
        a1 += b[(t + 1) * k + i] * vec::load<B>(r + k);
        a2 += b[(t + 2) * k + i] * vec::load<B>(r + 2 * k);
        a3 += b[(t + 3) * k + i] * vec::load<B>(r + 3 * k);
      }
      for (; t < len; ++t) a0 += b[t * k + i] * vec::load<B>(base + t * k + w0);
      const V a = (a0 + a1) + (a2 + a3);
      double out[L];
      vec::store(out, a);
      double* dst = acc + static_cast<int64_t>(i) * W + w0;
      const int nw = std::min(L, W - w0);
      for (int l = 0; l < nw; ++l) dst[l] += out[l];
    }
    double s = 0, st = 0;
#pragma omp simd reduction(+ : s, st)
    for (int64_t t = 0; t < len; ++t) {
      const double v = b[t * k + i];
      s += v;
      st += (tau0 + static_cast<double>(t)) * v;
    }
    S0[i] += s;
    T0[i] += st;
  }
}

static void window_products(const double* b, int64_t len, int k, int p, double tau0, double* acc, double* S0,
                            double* T0) {
  vec::dispatch([&](auto w) FASTGEN_LAMBDA_INLINE {
    window_products_w<decltype(w)::value>(b, len, k, p, tau0, acc, S0, T0);
  });
}

// Residuals of the lag-p regression with coefficients B (rows: the D_x = kt + p k regressors
// [1 | tau | y'_{t-1} | ... | y'_{t-p}], as present; columns: the k equations) over the chunk's
// rows: r_t = y'_t - B^T x_t. Adds sse += sum_t r_t r_t^T (k x k) and, when g is given,
// g += sum_t x_t r_t^T (D_x x k). Same buffer layout as window_products (no padding needed).
// Vectorised over rows: each equation's residuals go to scratch r (k * len doubles), one
// regressor at a time (r_e -= B[d, e] x_d over all rows), then every sum is a dot product.
FASTGEN_SIMD_CLONES static void residual_products(const double* b, int64_t len, int k, int p, int trend, double tau0,
                                                  const double* B, double* sse, double* g, double* r) {
  const int kt = n_trend(trend);
  const bool hc = has_const(trend), ht = has_time(trend);
  for (int e = 0; e < k; ++e) {
    double* re = r + static_cast<int64_t>(e) * len;
    const double c = hc ? B[e] : 0.0, d = ht ? B[static_cast<int64_t>(kt - 1) * k + e] : 0.0;
#pragma omp simd
    for (int64_t t = 0; t < len; ++t) re[t] = (b[t * k + e] - c) - d * (tau0 + static_cast<double>(t));
    for (int i = 1; i <= p; ++i)
      for (int j = 0; j < k; ++j) {
        const double w = B[static_cast<int64_t>(kt + (i - 1) * k + j) * k + e];
        const double* x = b + static_cast<int64_t>(-i) * k + j;
#pragma omp simd
        for (int64_t t = 0; t < len; ++t) re[t] -= w * x[t * k];
      }
  }
  for (int e = 0; e < k; ++e)
    for (int f = 0; f <= e; ++f) {
      const double* re = r + static_cast<int64_t>(e) * len;
      const double* rf = r + static_cast<int64_t>(f) * len;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t t = 0; t < len; ++t) s += re[t] * rf[t];
      sse[e * k + f] += s;
      if (f != e) sse[f * k + e] += s;
    }
  if (!g) return;
  for (int e = 0; e < k; ++e) {
    const double* re = r + static_cast<int64_t>(e) * len;
    int row = 0;
    if (hc) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t t = 0; t < len; ++t) s += re[t];
      g[static_cast<int64_t>(row++) * k + e] += s;
    }
    if (ht) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t t = 0; t < len; ++t) s += (tau0 + static_cast<double>(t)) * re[t];
      g[static_cast<int64_t>(row++) * k + e] += s;
    }
    for (int i = 1; i <= p; ++i)
      for (int j = 0; j < k; ++j) {
        const double* x = b + static_cast<int64_t>(-i) * k + j;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t t = 0; t < len; ++t) s += x[t * k] * re[t];
        g[static_cast<int64_t>(row++) * k + e] += s;
      }
  }
}

}  // namespace fastgen::ar
