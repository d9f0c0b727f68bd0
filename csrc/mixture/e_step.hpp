// The Gaussian mixtures' fused E-step: one pass over the data gives sum_n log p(x_n) and the
// responsibility-weighted moments (nk, sum r x, sum r x x^T or its diagonal), and no N x K array is
// written. The two-step path (gaussian_logprob_* -> responsibilities in place -> weighted_moments)
// writes the log-densities, rewrites them as responsibilities and reads them back: three passes
// over N x K doubles that cost more than the arithmetic.
//
// A chunk of stats::kChunkRows rows runs in blocks of emissions::kBlockRows rows. Per block:
//   1. the K log-densities, rows in lanes (emissions' gaussian_full_block / gaussian_diag_block),
//      into ob[k * RB + r];
//   2. the log-sum-exp and the responsibilities in place (emissions::logsumexp_rows, column stride RB);
//   3. the block's log-norms added to the chunk's sum in row order, and its rows added to the
//      chunk's moments (stats::moments_rows with the weights read down ob's columns).
// Chunk sums are added in chunk order. Every step is the two-step path's own code in the same
// order on the same chunks, so the results are the same bits as that path's (float64 and float32)
// on any thread count; tests check that.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/fastmath.hpp"
#include "common/threads.hpp"
#include "common/vec.hpp"
#include "emissions/emissions.hpp"
#include "emissions/logsumexp.hpp"
#include "emissions/stats.hpp"

namespace fastgen::mixture {

// The component densities: full or tied (upper precision factors P, C = K or 1 of them; the
// density kernel reads them as emissions::upper_padded lays them out, Pz) or diagonal (precisions
// P [K, D]); norm holds their constants as the emission kernels form them.
template <class T>
struct Gaussians {
  bool full;
  int K, D, C;
  const T* means;
  const T* P;
  std::vector<T> norm, Pz;

  Gaussians(bool full_, int K_, int D_, int C_, const T* means_, const T* P_)
      : full(full_), K(K_), D(D_), C(C_), means(means_), P(P_) {
    if (full) {
      norm = emissions::full_log_norms(C, D, P);
      Pz = emissions::upper_padded(C, D, P);
    } else {
      const std::vector<double> n64 = emissions::diag_log_norms(K, D, P);
      norm.assign(n64.begin(), n64.end());
    }
  }
  const T* factors() const { return full ? Pz.data() : P; }  // what the density kernel reads
};

// Per-worker scratch of one chunk (sizes for the widest vectors).
template <class T>
struct EStepScratch {
  T *xt, *rt, *ob, *lnb;
  double *e, *mxb, *sb, *xp;
};

// Rows [n0, n1) of one chunk into part (ws, wx, wxx as stats::moments_stride lays them out) and
// ln_sum. Returns the first row whose log-norm is NaN or +inf, or -1.
template <int B, bool Full, class T>
FASTGEN_VEC_INLINE int64_t e_step_rows(int64_t n0, int64_t n1, const T* X, const Gaussians<T>& g, const double* lw,
                                       const EStepScratch<T>& s, double* part, double& ln_sum) {
  constexpr int64_t RB = emissions::kBlockRows<T, B>;
  const int K = g.K, D = g.D;
  double *ws = part, *wx = part + K, *wxx = part + K + static_cast<int64_t>(K) * D;
  double ln = ln_sum;
  for (int64_t b0 = n0; b0 < n1; b0 += RB) {
    const int64_t nb = std::min(RB, n1 - b0);
    if (Full)
      emissions::gaussian_full_block<B>(b0, nb, K, D, g.C, X, g.means, g.factors(), g.norm.data(), s.xt, s.rt, s.ob);
    else
      emissions::gaussian_diag_block<B>(b0, nb, K, D, X, g.means, g.factors(), g.norm.data(), s.xt, s.ob);
    const int64_t bad =
        emissions::logsumexp_rows<B, T>(0, nb, K, s.ob, 1, RB, lw, s.lnb, 1, s.ob, 1, nullptr, 0, s.e, s.mxb, s.sb);
    if (bad >= 0) return b0 + bad;
    for (int64_t r = 0; r < nb; ++r) ln += static_cast<double>(s.lnb[r]);
    stats::moments_rows<B, Full ? 2 : 1>(0, nb, K, D, X + b0 * D, s.ob, 1, RB, ws, wx, wxx, s.xp);
  }
  ln_sum = ln;
  return -1;
}

// Fills ws[K], wx[K, D], wxx ([K, D, D] full/tied, [K, D] diagonal) in T and returns
// sum_n logsumexp_k(log N(x_n | k) + log_w[k]) summed in double, rounded to T (as the two-step path
// returns it). bad_row: the first row whose log-norm is NaN or +inf, or -1 (outputs then unset).
template <class T>
double e_step(int64_t N, const Gaussians<T>& g, const T* X, const T* log_w, T* ws_out, T* wx_out, T* wxx_out,
              int64_t& bad_row) {
  const int K = g.K, D = g.D, order = g.full ? 2 : 1;
  const std::vector<double> lw(log_w, log_w + K);
  const int64_t nc = par::n_chunks(N, stats::kChunkRows), stride = stats::moments_stride(K, D, order);
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(nc, 1) * stride), 0.0), ln_part(nc, 0.0);
  std::vector<int64_t> bad(nc, -1);
  fm::FlushDenormals ftz;  // as the responsibilities kernel: tiny responsibilities stay off subnormal arithmetic
  const int64_t RB = emissions::block_rows<T>();
  const size_t Dm = static_cast<size_t>(std::max(D, 1));
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * D * (g.full ? D + 4 : 3), nc);
  // Zeroed: the density kernels also run over the unused rows past a last partial block.
  par::Scratch<T> xt(r, RB * Dm, true), rt(r, g.full ? RB * Dm : 0, true), ob(r, RB * K, true), lnb(r, RB, true);
  par::Scratch<double> e(r, static_cast<size_t>(K) * vec::lanes<double, 64>), mxb(r, RB), sb(r, RB),
      xp(r, stats::moments_scratch(D));
  r.for_chunks(N, stats::kChunkRows, [&](int64_t n0, int64_t n1, int w) {
    const int64_t c = n0 / stats::kChunkRows;
    const EStepScratch<T> s{xt[w], rt[w], ob[w], lnb[w], e[w], mxb[w], sb[w], xp[w]};
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      constexpr int B = decltype(b)::value;
      double* p = part.data() + c * stride;
      bad[c] = g.full ? e_step_rows<B, true>(n0, n1, X, g, lw.data(), s, p, ln_part[c])
                      : e_step_rows<B, false>(n0, n1, X, g, lw.data(), s, p, ln_part[c]);
    });
  });
  bad_row = -1;
  for (const int64_t b : bad)
    if (b >= 0) {
      bad_row = b;
      return 0;
    }
  double ln_sum = 0;
  for (const double v : ln_part) ln_sum += v;
  stats::reduce_moments(nc, K, D, order, part.data(), ws_out, wx_out, wxx_out);
  return static_cast<double>(static_cast<T>(ln_sum));
}

}  // namespace fastgen::mixture
