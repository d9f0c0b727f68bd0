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

#include "autoregressive/ar_fit.hpp"
#include "autoregressive/ar_moments.hpp"
#include "common/philox_vec.hpp"  // rng::normals: vector Philox + vectorised Box-Muller
#include "common/rng.hpp"
#include "common/simd.hpp"
#include "common/threads.hpp"
#include "common/vec.hpp"

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
  std::vector<int64_t> first(static_cast<size_t>(S + 1), I);
  for (int64_t i = I - 1; i >= 0; --i) first[items[i].s] = i;
  for (int64_t s = S - 1; s >= 0; --s) first[s] = std::min(first[s], first[s + 1]);
  std::vector<double> part(static_cast<size_t>(I * kk), 0.0);
  const std::vector<double> zero(static_cast<size_t>(k), 0.0);
  const size_t bufsize = static_cast<size_t>((kChunkRows + P) * k + 16), rsize = static_cast<size_t>(kChunkRows * k);
  auto run_item = [&](int64_t i, double* buf, double* rs) {
    const Item& it = items[i];
    const int p = static_cast<int>(orders[it.s]);
    load_rows(Y + offsets[it.s] * k, k, it.t0 - p, it.t1, zero.data(), buf, 0);
    const double* B = params + (n_param_sets == 1 ? 0 : it.s) * static_cast<int64_t>(Dx) * k;
    residual_products(buf + static_cast<int64_t>(p) * k, it.t1 - it.t0, k, p, trend, static_cast<double>(it.t0 + 1),
                      B, part.data() + i * kk, nullptr, rs);
  };
  auto combine = [&](int64_t s) {  // item order = row order
    std::fill(sse + s * kk, sse + (s + 1) * kk, 0.0);
    for (int64_t i = first[s]; i < first[s + 1]; ++i)
      for (int64_t j = 0; j < kk; ++j) sse[s * kk + j] += part[i * kk + j];
  };
  // Per row: the residual (k x Dx multiply-adds) and its outer product (k x k).
  const double work = static_cast<double>(offsets[S] - offsets[0]) * k * (Dx + k);
  if (by_series(S)) {
    static thread_local par::Clock series_clock;
    par::Region r(series_clock, work, S);
    par::Scratch<double> buf(r, bufsize), rs(r, rsize);  // fully written by load_rows / residual_products
    r.for_each(S, [&](int64_t s, int w) {
      for (int64_t i = first[s]; i < first[s + 1]; ++i) run_item(i, buf[w], rs[w]);
      combine(s);
    });
    return;
  }
  {
    static thread_local par::Clock items_clock;
    par::Region r(items_clock, work, I);
    par::Scratch<double> buf(r, bufsize), rs(r, rsize);
    r.for_each(I, [&](int64_t i, int w) { run_item(i, buf[w], rs[w]); });
  }
  for (int64_t s = 0; s < S; ++s) combine(s);
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
  // Per series and step: the mean (k x P k multiply-adds), Phi_h (P k^3) and Ph Sig Ph^T (2 k^3).
  static thread_local par::Clock clock;
  const double work = static_cast<double>(S) * static_cast<double>(steps) * kk * (P + (P + 2.0) * k);
  struct alignas(64) Buffers {  // one per worker: whole cache lines (common/threads.hpp)
    par::Vec<double> hist, Phi, tmp, acc;
  };
  par::Region r(clock, work, S);
  std::vector<Buffers> bufs(static_cast<size_t>(r.workers()));  // each worker sizes its own
  r.for_each(S, [&](int64_t s, int w) {
    par::Vec<double>&hist = bufs[w].hist, &Phi = bufs[w].Phi, &tmp = bufs[w].tmp, &acc = bufs[w].acc;
    tmp.resize(static_cast<size_t>(kk));
    acc.resize(static_cast<size_t>(kk));
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
  });
}

constexpr int64_t kSimBlock = 512;  // steps whose normals are drawn at once
constexpr int kRecBlock = 16;       // steps of one block of the univariate recursion

// Block form of the univariate recursion y_h = x_h + sum_{i=1}^{P} phi_i y_{h-i} (x_h the forcing:
// deterministic part plus innovation). Over a block of 16 steps the output is linear in the
// block's forcing and in the P values before it:
//   y_{h0+j} = sum_{i<=j} psi_{j-i} x_{h0+i} + sum_{m<P} g_{m,j} y_{h0-1-m},
// psi the impulse response (psi_0 = 1) and g_{m, .} the response to y_{-1-m} = 1 with no forcing.
// T (16 x 16, T[i][j] = psi_{j-i} for j >= i, else 0) and G (P x 16) are built once per series.
// A block then costs 16 + P multiply-adds of 16 lanes (2 AVX-512 or 4 AVX2 vectors), independent
// across lanes, instead of 16 P scalar ones in a chain: the step-to-step dependency becomes one chain of
// P / 2 multiply-adds per 16 steps (the history term), ~4x faster than the scalar recursion.
// Rounding differs from the step-by-step recursion at the 1e-16 level; a path's value at step h
// does not depend on n_steps (a partial last block runs as a full one on zero-padded forcing).
inline void block_matrices(int P, const double* phi, double* T, double* G) {
  double psi[kRecBlock];
  for (int j = 0; j < kRecBlock; ++j) {
    double v = j == 0 ? 1.0 : 0.0;
    for (int i = 1; i <= std::min(j, P); ++i) v += phi[i - 1] * psi[j - i];
    psi[j] = v;
  }
  for (int i = 0; i < kRecBlock; ++i)
    for (int j = 0; j < kRecBlock; ++j) T[i * kRecBlock + j] = j >= i ? psi[j - i] : 0.0;
  std::vector<double> w(static_cast<size_t>(P + kRecBlock));
  for (int m = 0; m < P; ++m) {
    std::fill(w.begin(), w.end(), 0.0);
    w[P - 1 - m] = 1.0;
    for (int j = 0; j < kRecBlock; ++j) {
      double v = 0;
      for (int i = 1; i <= P; ++i) v += phi[i - 1] * w[P + j - i];
      w[P + j] = v;
      G[m * kRecBlock + j] = v;
    }
  }
}

// n_blocks blocks of 16 steps: y[0 .. 16 n_blocks) from x and the history y[-P .. -1]. A block is
// 16 lanes held as 16 / L vectors of B bytes (L = B / 8 doubles: 2 AVX-512, 4 AVX2, 8 baseline
// vectors); each lane is summed in the same order whatever B, so paths are the same on every ISA.
template <int B>
FASTGEN_VEC_INLINE void recurse_blocks_w(int64_t n_blocks, int P, const double* T, const double* G, const double* x,
                                         double* y) {
  using V = vec::V<double, B>;
  constexpr int L = vec::lanes<double, B>, NV = kRecBlock / L;
  static_assert(kRecBlock % L == 0, "a block is whole vectors");
  for (int64_t b = 0; b < n_blocks; ++b) {
    const double* xb = x + b * kRecBlock;
    double* yb = y + b * kRecBlock;
    V p[NV], a[NV], c[NV];
    for (int v = 0; v < NV; ++v) p[v] = a[v] = c[v] = V{};
    for (int i = 0; i < kRecBlock; ++i) {
      const double xi = xb[i];
      for (int v = 0; v < NV; ++v) p[v] += xi * vec::load<B>(T + i * kRecBlock + v * L);
    }
    int m = 0;
    for (; m + 2 <= P; m += 2) {
      const double u = yb[-1 - m], w = yb[-2 - m];
      for (int v = 0; v < NV; ++v) {
        a[v] += u * vec::load<B>(G + m * kRecBlock + v * L);
        c[v] += w * vec::load<B>(G + (m + 1) * kRecBlock + v * L);
      }
    }
    if (m < P) {
      const double u = yb[-1 - m];
      for (int v = 0; v < NV; ++v) a[v] += u * vec::load<B>(G + m * kRecBlock + v * L);
    }
    for (int v = 0; v < NV; ++v) vec::store(yb + v * L, p[v] + (a[v] + c[v]));
  }
}

static void recurse_blocks(int64_t n_blocks, int P, const double* T, const double* G, const double* x, double* y) {
  vec::dispatch([&](auto w) FASTGEN_LAMBDA_INLINE { recurse_blocks_w<decltype(w)::value>(n_blocks, P, T, G, x, y); });
}

// x[h] = c + d t_h + sigma z[h] for h < len, 0 for len <= h < lenp.
FASTGEN_SIMD_CLONES static void univariate_forcing(int64_t len, int64_t lenp, double c, double d, double t0,
                                                   double sigma, const double* z, double* x) {
#pragma omp simd
  for (int64_t h = 0; h < len; ++h) x[h] = (c + d * (t0 + static_cast<double>(h))) + sigma * z[h];
  for (int64_t h = len; h < lenp; ++h) x[h] = 0.0;
}

// The k = 1 case of ar_simulate (same contract) through the block recursion. Per path: for each
// chunk of kSimBlock steps, the normals and the forcing, then the recursion. With fewer paths than
// the team's workers (one long path: a sequential recursion), the normals and forcing of all chunks
// are first made in parallel into a scratch array, then each path's recursion runs over it: the
// same arithmetic on the same chunks either way, so the paths do not depend on the thread count.
template <class T>
void simulate_univariate(int64_t S, int P, int trend, const double* params, const double* chol, const T* y_last,
                         const int64_t* t_next, int64_t n_steps, int64_t n_paths, uint64_t seed, uint64_t stream,
                         T* out) {
  const int kt = n_trend(trend), Dx = kt + P;
  const int64_t mat = kRecBlock * kRecBlock + static_cast<int64_t>(P) * kRecBlock;
  const int64_t n_units = S * n_paths, n_chunks = (n_steps + kSimBlock - 1) / kSimBlock;
  std::vector<double> TG(static_cast<size_t>(S * mat));
  {
    // block_matrices: psi (16 P), T (256) and G (16 P^2) per series: tiny items.
    static thread_local par::Clock tg_clock;
    par::for_range(tg_clock, static_cast<double>(S) * (kRecBlock * kRecBlock + kRecBlock * P * (P + 1.0)), S, 16,
                   [&](int64_t b, int64_t e) {
                     for (int64_t s = b; s < e; ++s)
                       block_matrices(P, params + s * Dx + kt, TG.data() + s * mat,
                                      TG.data() + s * mat + kRecBlock * kRecBlock);
                   });
  }
  // Forcing x of chunk `ch` of path `sj` into x (kSimBlock + kRecBlock doubles; zero-padded to a
  // whole number of recursion blocks). Returns the chunk's length.
  auto forcing = [&](int64_t sj, int64_t ch, double* z, double* x) -> int64_t {
    const int64_t s = sj / n_paths, h0 = ch * kSimBlock, len = std::min(kSimBlock, n_steps - h0);
    const double* B = params + s * Dx;
    const double c = has_const(trend) ? B[0] : 0.0, d = has_time(trend) ? B[kt - 1] : 0.0;
    const rng::Stream rs(seed, stream + static_cast<uint64_t>(sj));
    rng::normals(rs, static_cast<uint64_t>(h0), len, z);
    univariate_forcing(len, (len + kRecBlock - 1) / kRecBlock * kRecBlock, c, d, static_cast<double>(t_next[s] + h0),
                       chol[s], z, x);
    return len;
  };
  // Per step: the normal and forcing (~20 operations) and the recursion (16 + P multiply-adds).
  static thread_local par::Clock clock;
  const double work = static_cast<double>(n_units) * static_cast<double>(n_steps) * (36.0 + P);
  par::Region r(clock, work, std::max(n_units, n_units * n_chunks));
  // The split follows the team the region chose (none on one thread); it does not change results.
  const bool split = n_units < r.workers() && n_chunks > 1;
  std::vector<double> xs(split ? static_cast<size_t>(n_units * n_chunks * (kSimBlock + kRecBlock)) : 0);
  // Per-worker buffers: every element read is written first (history, forcing, normals).
  par::Scratch<double> hist_b(r, static_cast<size_t>(P + kSimBlock + kRecBlock)),
      z_b(r, static_cast<size_t>(kSimBlock + 2)), x_b(r, static_cast<size_t>(kSimBlock + kRecBlock));
  if (split)
    r.for_each(n_units * n_chunks, [&](int64_t i, int w) {
      forcing(i / n_chunks, i % n_chunks, z_b[w], xs.data() + i * (kSimBlock + kRecBlock));
    });
  r.for_each(n_units, [&](int64_t sj, int w) {
    double* hist = hist_b[w];
    const int64_t s = sj / n_paths;
    const double* Tm = TG.data() + s * mat;
    const double* Gm = Tm + kRecBlock * kRecBlock;
    for (int i = 0; i < P; ++i) hist[i] = static_cast<double>(y_last[s * P + i]);
    T* o = out + sj * n_steps;
    double* y = hist + P;
    for (int64_t ch = 0; ch < n_chunks; ++ch) {
      par::check_interrupt();  // a path of 1e8 steps is one task
      const int64_t h0 = ch * kSimBlock, len = std::min(kSimBlock, n_steps - h0);
      const double* xc = split ? xs.data() + (sj * n_chunks + ch) * (kSimBlock + kRecBlock) : x_b[w];
      if (!split) forcing(sj, ch, z_b[w], x_b[w]);
      recurse_blocks((len + kRecBlock - 1) / kRecBlock, P, Tm, Gm, xc, y);
      for (int64_t h = 0; h < len; ++h) o[h0 + h] = static_cast<T>(y[h]);
      std::copy(y + len - P, y + len, hist);  // the next chunk's history (overlap: forward copy)
    }
  });
}

// Monte-Carlo paths (KERNELS.md): out[s, j, h, :] for series s, path j, step h; innovations
// chol[s] z with z[h k + l] the normals of Philox stream `stream + s n_paths + j`.
template <class T>
void ar_simulate(int64_t S, int k, int P, int trend, const double* params, const double* chol, const T* y_last,
                 const int64_t* t_next, int64_t n_steps, int64_t n_paths, uint64_t seed, uint64_t stream, T* out) {
  if (k == 1) {
    simulate_univariate(S, P, trend, params, chol, y_last, t_next, n_steps, n_paths, seed, stream, out);
    return;
  }
  const int kt = n_trend(trend), Dx = kt + P * k;
  const int64_t kk = static_cast<int64_t>(k) * k;
  // Per step and variable: the normal (~20 operations), the innovation (<= k) and the lags (P k).
  static thread_local par::Clock clock;
  const double work = static_cast<double>(S * n_paths) * static_cast<double>(n_steps) * k * (20.0 + k + P * k);
  par::Region region(clock, work, S * n_paths);
  // Per-worker buffers: every element read is written first (history, normals, innovations).
  par::Scratch<double> hist_b(region, static_cast<size_t>((P + kSimBlock) * k)),
      z_b(region, static_cast<size_t>(kSimBlock * k + 2)), e_b(region, static_cast<size_t>(kSimBlock * k)),
      det_b(region, static_cast<size_t>(kSimBlock * k));
  region.for_each(S * n_paths, [&](int64_t sj, int w) {
    double *hist = hist_b[w], *z = z_b[w], *e = e_b[w], *det = det_b[w];
    const int64_t s = sj / n_paths;
    const double* B = params + s * static_cast<int64_t>(Dx) * k;
    const double* Lc = chol + s * kk;
    const rng::Stream rs(seed, stream + static_cast<uint64_t>(sj));
    for (int64_t r = 0; r < static_cast<int64_t>(P) * k; ++r)
      hist[r] = static_cast<double>(y_last[s * static_cast<int64_t>(P) * k + r]);
    T* o = out + sj * n_steps * k;
    for (int64_t h0 = 0; h0 < n_steps; h0 += kSimBlock) {
      par::check_interrupt();  // a long path is one task
      const int64_t len = std::min(kSimBlock, n_steps - h0);
      rng::normals(rs, static_cast<uint64_t>(h0 * k), len * k, z);
      for (int64_t h = 0; h < len; ++h) {
        const double tix = static_cast<double>(t_next[s] + h0 + h);
        for (int a = 0; a < k; ++a) {
          double v = 0;
          for (int l = 0; l <= a; ++l) v += Lc[a * k + l] * z[h * k + l];
          e[h * k + a] = v;
          det[h * k + a] = trend_value(B, k, trend, a, tix);
        }
      }
      double* y = hist + static_cast<int64_t>(P) * k;
      for (int64_t h = 0; h < len; ++h)
        for (int a = 0; a < k; ++a) {
          double v = det[h * k + a] + e[h * k + a];
          for (int i = P; i >= 1; --i)
            for (int j = 0; j < k; ++j) v += B[static_cast<int64_t>(kt + (i - 1) * k + j) * k + a] * y[(h - i) * k + j];
          y[h * k + a] = v;
        }
      for (int64_t r = 0; r < len * k; ++r) o[h0 * k + r] = static_cast<T>(y[r]);
      // Keep the last P rows as the next block's history.
      const int64_t keep = static_cast<int64_t>(P) * k;
      std::copy(y + len * k - keep, y + len * k, hist);
    }
  });
}

}  // namespace fastgen::ar
