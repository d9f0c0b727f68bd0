// Using a fitted AR/VAR: residual sums of squares (the conditional log-likelihood), point
// forecasts with their MSE matrices, and Monte-Carlo paths (contract: csrc/KERNELS.md, "Linear
// autoregressive models").
//
// Parameter layout (all kernels): params (kt + p k, k), rows [1 | t | lag 1 | ... | lag p] as
// present (kt = 0, 1, 1, 2 for trends n, c, t, ct), columns the k equations: equation e predicts
//   y_t[e] = c[e] + d[e] (t + 1) + sum_i sum_j A_i[e, j] y_{t-i}[j],  A_i[e, j] = params[kt + (i-1) k + j, e],
// t the 0-based position in the series (statsmodels' AutoReg/VAR time trend starts at 1).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ar_fit.hpp"
#include "ar_moments.hpp"
#include "common/rng.hpp"
#include "nn_losses.hpp"  // nn::normals: vector Philox + vectorised Box-Muller

namespace fastgen::ar {

// SSE of every sequence s under params[s] (n_param_sets == S) or params[0] (== 1), laid out for
// order P: sse[s] = sum_{t=p_s}^{n_s - 1} r_t r_t^T, r_t the one-step residual of the order
// p_s = orders[s] <= P model (lag blocks past p_s are not read). Sequences need n_s > p_s.
template <class T>
void ar_sse(int64_t S, int k, const T* Y, const int64_t* offsets, const double* params, int64_t n_param_sets, int P,
            const int64_t* orders, int trend, double* sse) {
  const int Dx = n_trend(trend) + P * k;
  const std::vector<Item> items = make_items(S, offsets, orders);
  const int64_t I = static_cast<int64_t>(items.size()), kk = static_cast<int64_t>(k) * k;
  std::vector<double> part(static_cast<size_t>(I * kk), 0.0);
  const std::vector<double> zero(static_cast<size_t>(k), 0.0);
#pragma omp parallel
  {
    std::vector<double> buf(static_cast<size_t>((kChunkRows + P) * k + 16)), rs(static_cast<size_t>(kChunkRows * k));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < I; ++i) {
      const Item& it = items[i];
      const int p = static_cast<int>(orders[it.s]);
      load_rows(Y + offsets[it.s] * k, k, it.t0 - p, it.t1, zero.data(), buf.data(), 0);
      const double* B = params + (n_param_sets == 1 ? 0 : it.s) * static_cast<int64_t>(Dx) * k;
      residual_products(buf.data() + static_cast<int64_t>(p) * k, it.t1 - it.t0, k, p, trend,
                        static_cast<double>(it.t0 + 1), B, part.data() + i * kk, nullptr, rs.data());
    }
  }
  std::fill(sse, sse + S * kk, 0.0);
  for (int64_t i = 0; i < I; ++i)  // item order = series then row order
    for (int64_t j = 0; j < kk; ++j) sse[items[i].s * kk + j] += part[i * kk + j];
}

// Deterministic part c + d t_index of equation e.
inline double trend_value(const double* B, int k, int trend, int e, double t_index) {
  double v = 0;
  int r = 0;
  if (has_const(trend)) v += B[static_cast<int64_t>(r++) * k + e];
  if (has_time(trend)) v += B[static_cast<int64_t>(r) * k + e] * t_index;
  return v;
}

// Forecasts of every series: mean[s, h] = E[y_{n+h} | y_{..n-1}] (h = 0..steps-1, time index
// t_next[s] + h, t_next = n + 1 for a series of n values), y_last[s] the last P rows (oldest first),
// and mse[s, h] = sum_{j<=h} Phi_j Sigma Phi_j^T with the MA matrices Phi_0 = I,
// Phi_j = sum_{i=1}^{min(j,P)} A_i Phi_{j-i}.
inline void ar_forecast(int64_t S, int k, int P, int trend, const double* params, const double* y_last,
                        const int64_t* t_next, const double* sigma, int64_t steps, double* mean, double* mse) {
  const int kt = n_trend(trend), Dx = kt + P * k;
  const int64_t kk = static_cast<int64_t>(k) * k;
#pragma omp parallel
  {
    std::vector<double> hist, Phi, tmp(static_cast<size_t>(kk)), acc(static_cast<size_t>(kk));
#pragma omp for schedule(dynamic, 1)
    for (int64_t s = 0; s < S; ++s) {
      const double* B = params + s * static_cast<int64_t>(Dx) * k;
      const double* Sig = sigma + s * kk;
      hist.assign(static_cast<size_t>((P + steps) * k), 0.0);
      std::copy(y_last + s * static_cast<int64_t>(P) * k, y_last + (s + 1) * static_cast<int64_t>(P) * k, hist.begin());
      double* ms = mean + s * steps * k;
      for (int64_t h = 0; h < steps; ++h) {
        double* yh = hist.data() + (P + h) * k;
        for (int e = 0; e < k; ++e) {
          double v = trend_value(B, k, trend, e, static_cast<double>(t_next[s] + h));
          for (int i = 1; i <= P; ++i)
            for (int j = 0; j < k; ++j) v += B[static_cast<int64_t>(kt + (i - 1) * k + j) * k + e] * yh[-i * k + j];
          yh[e] = v;
          ms[h * k + e] = v;
        }
      }
      // MA matrices and the accumulated MSE.
      Phi.assign(static_cast<size_t>(steps * kk), 0.0);
      std::fill(acc.begin(), acc.end(), 0.0);
      double* out = mse + s * steps * kk;
      for (int64_t h = 0; h < steps; ++h) {
        double* Ph = Phi.data() + h * kk;
        if (h == 0) {
          for (int e = 0; e < k; ++e) Ph[e * k + e] = 1.0;
        } else {
          for (int i = 1; i <= std::min<int64_t>(h, P); ++i) {
            const double* Pj = Phi.data() + (h - i) * kk;
            for (int e = 0; e < k; ++e)
              for (int f = 0; f < k; ++f) {
                double v = 0;
                for (int j = 0; j < k; ++j) v += B[static_cast<int64_t>(kt + (i - 1) * k + j) * k + e] * Pj[j * k + f];
                Ph[e * k + f] += v;
              }
          }
        }
        // acc += Ph Sig Ph^T
        for (int e = 0; e < k; ++e)
          for (int f = 0; f < k; ++f) {
            double v = 0;
            for (int j = 0; j < k; ++j) v += Ph[e * k + j] * Sig[j * k + f];
            tmp[e * k + f] = v;
          }
        for (int e = 0; e < k; ++e)
          for (int f = 0; f < k; ++f) {
            double v = 0;
            for (int j = 0; j < k; ++j) v += tmp[e * k + j] * Ph[f * k + j];
            acc[e * k + f] += v;
          }
        std::copy(acc.begin(), acc.end(), out + h * kk);
      }
    }
  }
}

constexpr int64_t kSimBlock = 512;  // steps whose normals are drawn at once

// One path of the univariate recursion over steps [0, len) of a block: y[h] = det(h) + e[h] +
// sum_{i=2}^{P} phi_i y[h-i] + phi_1 y[h-1], y[-P..-1] valid. The lags 2..P go into four partial
// sums first (they do not wait for y[h-1]); the lag-1 term is added last, so the step-to-step
// dependency is one multiply-add.
FASTGEN_SIMD_CLONES static void recurse_univariate(int64_t len, int P, const double* phi, const double* det,
                                                   const double* e, double* y) {
  for (int64_t h = 0; h < len; ++h) {
    double a0 = det[h] + e[h], a1 = 0, a2 = 0, a3 = 0;
    int i = P;
    for (; i >= 5; i -= 4) {
      a0 += phi[i - 1] * y[h - i];
      a1 += phi[i - 2] * y[h - i + 1];
      a2 += phi[i - 3] * y[h - i + 2];
      a3 += phi[i - 4] * y[h - i + 3];
    }
    for (; i >= 2; --i) a0 += phi[i - 1] * y[h - i];
    const double s = (a0 + a1) + (a2 + a3);
    y[h] = P >= 1 ? s + phi[0] * y[h - 1] : s;
  }
}

// Monte-Carlo paths (KERNELS.md): out[s, j, h, :] for series s, path j, step h; innovations
// chol[s] z with z[h k + l] the normals of Philox stream `stream + s n_paths + j`.
template <class T>
void ar_simulate(int64_t S, int k, int P, int trend, const double* params, const double* chol, const T* y_last,
                 const int64_t* t_next, int64_t n_steps, int64_t n_paths, uint64_t seed, uint64_t stream, T* out) {
  const int kt = n_trend(trend), Dx = kt + P * k;
  const int64_t kk = static_cast<int64_t>(k) * k;
#pragma omp parallel
  {
    std::vector<double> hist(static_cast<size_t>((P + kSimBlock) * k)), z(static_cast<size_t>(kSimBlock * k + 2)),
        e(static_cast<size_t>(kSimBlock * k)), det(static_cast<size_t>(kSimBlock * k)), phi(static_cast<size_t>(P));
#pragma omp for schedule(dynamic, 1)
    for (int64_t sj = 0; sj < S * n_paths; ++sj) {
      const int64_t s = sj / n_paths;
      const double* B = params + s * static_cast<int64_t>(Dx) * k;
      const double* Lc = chol + s * kk;
      const rng::Stream rs(seed, stream + static_cast<uint64_t>(sj));
      for (int64_t r = 0; r < static_cast<int64_t>(P) * k; ++r)
        hist[r] = static_cast<double>(y_last[s * static_cast<int64_t>(P) * k + r]);
      if (k == 1)
        for (int i = 0; i < P; ++i) phi[i] = B[kt + i];
      T* o = out + sj * n_steps * k;
      for (int64_t h0 = 0; h0 < n_steps; h0 += kSimBlock) {
        const int64_t len = std::min(kSimBlock, n_steps - h0);
        nn::normals(rs, static_cast<uint64_t>(h0 * k), len * k, z.data());
        for (int64_t h = 0; h < len; ++h) {
          const double tix = static_cast<double>(t_next[s] + h0 + h);
          for (int a = 0; a < k; ++a) {
            double v = 0;
            for (int l = 0; l <= a; ++l) v += Lc[a * k + l] * z[h * k + l];
            e[h * k + a] = v;
            det[h * k + a] = trend_value(B, k, trend, a, tix);
          }
        }
        double* y = hist.data() + static_cast<int64_t>(P) * k;
        if (k == 1) {
          recurse_univariate(len, P, phi.data(), det.data(), e.data(), y);
        } else {
          for (int64_t h = 0; h < len; ++h)
            for (int a = 0; a < k; ++a) {
              double v = det[h * k + a] + e[h * k + a];
              for (int i = P; i >= 1; --i)
                for (int j = 0; j < k; ++j) v += B[static_cast<int64_t>(kt + (i - 1) * k + j) * k + a] * y[(h - i) * k + j];
              y[h * k + a] = v;
            }
        }
        for (int64_t r = 0; r < len * k; ++r) o[h0 * k + r] = static_cast<T>(y[r]);
        // Keep the last P rows as the next block's history.
        const int64_t keep = static_cast<int64_t>(P) * k;
        std::copy(y + len * k - keep, y + len * k, hist.data());
      }
    }
  }
}

}  // namespace fastgen::ar
