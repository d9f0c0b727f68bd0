// Gaussian mixture kernels: responsibilities (E-step), k-means++ seeding, nearest-centre
// assignment (Lloyd iterations) and sampling. The component densities themselves come from
// emissions/emissions.hpp (gaussian_logprob_diag / _full), the log-sum-exp from emissions/logsumexp.hpp
// (shared with the HMM mixture emissions) and the M-step sums from emissions/stats.hpp.
//
// Squared distances are sum_d (x_d - c_d)^2 in double, never the |x|^2 - 2 x.c + |c|^2 expansion:
// duplicates get exact zeros and points far from the origin keep their digits. Distance loops run
// over a block of rows transposed into double columns, so they vectorise across rows with unit
// stride whatever D is, and each row's sum still runs over d in order.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/categorical.hpp"  // draw_categorical: the one inverse-CDF draw of the contract
#include "common/fastmath.hpp"
#include "common/threads.hpp"
#include "common/rng.hpp"
#include "common/simd.hpp"
#include "common/vec.hpp"
#include "emissions/logsumexp.hpp"

namespace fastgen::mixture {

constexpr int64_t kBlockRows = 128;   // rows transposed at a time (D doubles each: L1/L2-resident)
static_assert(kBlockRows % 32 == 0, "block_dist2 takes rows up to 32 at a time");
constexpr int64_t kSeedChunk = 1024;  // k-means++ sums: fixed chunks of rows added in chunk order
static_assert(kSeedChunk % kBlockRows == 0, "a seeding chunk is a whole number of blocks");

// ---------------------------------------------------------------------------------------------
// Responsibilities: the mixture emissions' log-sum-exp (emissions/logsumexp.hpp) with one group of K components.

// log_norm[n] = logsumexp_k(lp[n, k] + log_w[k]); resp (may be null) = exp(. - log_norm).
// Returns the first row whose log_norm is NaN or +inf (NaN or +inf in comp_logprob), or -1.
template <class T>
int64_t mixture_responsibilities(int64_t N, int K, const T* lp, const T* log_w, T* log_norm, T* resp) {
  return emissions::grouped_logsumexp<T>(N, 1, K, lp, log_w, log_norm, resp, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Distances over a transposed block of rows

// xt[d * kBlockRows + r] = X[n0 + r, d] for r < nb.
template <class T>
FASTGEN_VEC_INLINE void transpose_block(int64_t n0, int64_t nb, int D, const T* X, double* xt) {
  const T* x = X + n0 * D;
  for (int d = 0; d < D; ++d)  // contiguous stores (row-outer order ran 3x slower: strided stores)
    for (int64_t r = 0; r < nb; ++r) xt[d * kBlockRows + r] = x[r * D + d];
}

// out[r] = sum_d (xt[d, r] - c[d])^2, summed over d in order, for the nb rows of the block (rows
// past nb computed from whatever the buffer holds, never used). Rows in SIMD lanes, four vectors
// of accumulators in registers at a time (vectors of B bytes, vec::dispatch).
template <int B, class T>
FASTGEN_VEC_INLINE void block_dist2(int64_t nb, int D, const double* xt, const T* c, double* out) {
  using V = vec::V<double, B>;
  constexpr int W = vec::lanes<double, B>, U = 4;
  for (int64_t r0 = 0; r0 < nb; r0 += W * U) {
    V acc[U] = {};
    for (int d = 0; d < D; ++d) {
      const double cd = c[d];
      const double* col = xt + d * kBlockRows + r0;
#pragma GCC unroll 4
      for (int u = 0; u < U; ++u) {
        const V v = vec::load<B>(col + u * W) - cd;
        acc[u] += v * v;
      }
    }
#pragma GCC unroll 4
    for (int u = 0; u < U; ++u) vec::store(out + r0 + u * W, acc[u]);
  }
}

// ---------------------------------------------------------------------------------------------
// Nearest centre

// labels[n] = argmin_k |x_n - c_k|^2 (ties to the lower k), mind2[n] its value. Returns the first
// row with no finite distance (NaN/inf in the row, or overflow), or -1.
template <int B, class T>
FASTGEN_VEC_INLINE int64_t assign_block(int64_t n0, int64_t nb, int K, int D, const T* X, const T* C, double* xt,
                                        double* dist, double* best, int64_t* lbl, int64_t* labels, T* mind2) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  transpose_block(n0, nb, D, X, xt);
  for (int64_t r = 0; r < nb; ++r) { best[r] = inf; lbl[r] = 0; }
  for (int k = 0; k < K; ++k) {
    block_dist2<B>(nb, D, xt, C + static_cast<int64_t>(k) * D, dist);
#pragma omp simd
    for (int64_t r = 0; r < nb; ++r) {
      const bool closer = dist[r] < best[r];  // strict: ties keep the lower index
      best[r] = closer ? dist[r] : best[r];
      lbl[r] = closer ? k : lbl[r];
    }
  }
  int64_t bad = -1;
  for (int64_t r = 0; r < nb; ++r) {
    if (best[r] == inf && bad < 0) bad = n0 + r;
    labels[n0 + r] = lbl[r];
    mind2[n0 + r] = static_cast<T>(best[r]);
  }
  return bad;
}

template <class T>
int64_t kmeans_assign(int64_t N, int K, int D, const T* X, const T* C, int64_t* labels, T* mind2) {
  const int64_t nb = par::n_chunks(N, kBlockRows);
  std::vector<int64_t> bad(nb);  // per block: its first bad row or -1; the first over blocks is returned
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * D, nb);
  // Zeroed: the distance kernel also runs over the unused rows past a last partial block.
  par::Scratch<double> xt(r, static_cast<size_t>(kBlockRows) * std::max(D, 1), true), dist(r, kBlockRows, true),
      best(r, kBlockRows, true);
  par::Scratch<int64_t> lbl(r, kBlockRows, true);
  r.for_chunks(N, kBlockRows, [&](int64_t n0, int64_t n1, int w) {
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      bad[n0 / kBlockRows] = assign_block<decltype(b)::value>(n0, n1 - n0, K, D, X, C, xt[w], dist[w], best[w], lbl[w],
                                                              labels, mind2);
    });
  });
  for (const int64_t b : bad)
    if (b >= 0) return b;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// k-means++ seeding (scikit-learn's greedy variant)

// Seeding passes over one chunk of rows [n0, n1). `mode`:
//  kInit:   d2 = dist2(x, c0); returns the chunk's sum of d2 (rows in order).
//  kUpdate: d2 = min(d2, dist2(x, c0)); returns the chunk's sum of d2 (rows in order).
//  kTrials: pot[t] = sum of min(d2, dist2(x, cand_t)) over the chunk, for the L candidates.
// The chunk sums of d2 are sequential because the candidate search needs prefix sums that end
// exactly on them; the trial sums only need to be deterministic (fixed block order, fixed lanes).
// Every pass transposes each block into xt (kBlockRows x D scratch): a transposed copy of all of X,
// kept between passes, cost as much memory as the data in double (twice float32 data) for a
// transposition that is cheap next to the distances.
enum SeedPass { kInit, kUpdate, kTrials };

template <int B, class T>
FASTGEN_VEC_INLINE double seed_chunk(SeedPass mode, int64_t n0, int64_t n1, int D, const T* X, const T* const* cands,
                                     int L, double* d2, double* pot, double* xt, double* dist) {
  double chunk_sum = 0;
  for (int t = 0; t < L && mode == kTrials; ++t) pot[t] = 0;
  for (int64_t b0 = n0; b0 < n1; b0 += kBlockRows) {
    const int64_t nb = std::min(kBlockRows, n1 - b0);
    double* d = d2 + b0;
    double* xb = xt;
    transpose_block(b0, nb, D, X, xb);
    if (mode == kTrials) {
      for (int t = 0; t < L; ++t) {
        block_dist2<B>(nb, D, xb, cands[t], dist);
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t r = 0; r < nb; ++r) s += std::min(d[r], dist[r]);
        pot[t] += s;
      }
    } else {
      block_dist2<B>(nb, D, xb, cands[0], dist);
      if (mode == kInit)
        for (int64_t r = 0; r < nb; ++r) d[r] = dist[r];
      else
#pragma omp simd
        for (int64_t r = 0; r < nb; ++r) d[r] = std::min(d[r], dist[r]);
      for (int64_t r = 0; r < nb; ++r) chunk_sum += d[r];
    }
  }
  return chunk_sum;
}

// Smallest n with r < cumsum(d2)[n], where cumsum[n] = prefix[chunk of n] + (sum of the chunk's rows
// up to n, in order); prefix[c + 1] = prefix[c] + chunk_sum[c], so the chunk boundaries agree exactly.
// r at or past the total (rounding) gives N - 1.
inline int64_t search_cumsum(int64_t N, const double* d2, const std::vector<double>& prefix, double r) {
  const int64_t nc = static_cast<int64_t>(prefix.size()) - 1;
  const int64_t c = std::upper_bound(prefix.begin() + 1, prefix.end(), r) - (prefix.begin() + 1);
  if (c >= nc) return N - 1;
  const int64_t n0 = c * kSeedChunk, n1 = std::min(N, n0 + kSeedChunk);
  double local = 0;
  for (int64_t n = n0; n < n1; ++n) {
    local += d2[n];
    if (r < prefix[c] + local) return n;
  }
  return n1 - 1;  // unreachable: prefix[c] + local == prefix[c + 1] > r at the chunk's end
}

// centers[K, D], indices[K]. u[0] picks the first centre; u[1 + (c-1) L + t] is trial t of centre c.
template <class T>
void kmeans_plusplus(int64_t N, int D, int K, int L, const T* X, uint64_t seed, uint64_t stream, T* centers,
                     int64_t* indices) {
  const rng::Stream rs(seed, stream);
  const int64_t nc = par::n_chunks(N, kSeedChunk);
  std::vector<double> d2(N), chunk_sum(nc), pot_part(static_cast<size_t>(nc) * L), prefix(nc + 1);
  std::vector<int64_t> cand(L);
  std::vector<const T*> cand_ptr(L);
  auto index_of = [N](double u) { return std::min(static_cast<int64_t>(u * static_cast<double>(N)), N - 1); };

  // One parallel pass over all chunks; every chunk writes only its own slots.
  auto pass = [&](SeedPass mode, int n_cands) {
    static thread_local par::Clock clock;
    par::Region r(clock, static_cast<double>(N) * D * n_cands, nc);
    // Zeroed: the distance kernel also runs over the unused rows past a last partial block.
    par::Scratch<double> xt(r, static_cast<size_t>(kBlockRows) * std::max(D, 1), true), dist(r, kBlockRows, true);
    r.for_each(nc, [&](int64_t c, int w) {
      double s = 0;
      vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
        s = seed_chunk<decltype(b)::value>(mode, c * kSeedChunk, std::min(N, (c + 1) * kSeedChunk), D, X,
                                           cand_ptr.data(), n_cands, d2.data(), pot_part.data() + c * L, xt[w],
                                           dist[w]);
      });
      if (mode != kTrials) chunk_sum[c] = s;
    });
  };

  indices[0] = index_of(rs.uniform(0));
  cand_ptr[0] = X + indices[0] * D;
  pass(kInit, 1);
  for (int c = 1; c < K; ++c) {
    prefix[0] = 0;
    for (int64_t i = 0; i < nc; ++i) prefix[i + 1] = prefix[i] + chunk_sum[i];
    const double total = prefix[nc];
    for (int t = 0; t < L; ++t) {
      const double u = rs.uniform(1 + static_cast<uint64_t>(c - 1) * L + t);
      cand[t] = total > 0 ? search_cumsum(N, d2.data(), prefix, u * total) : index_of(u);
      cand_ptr[t] = X + cand[t] * D;
    }
    pass(kTrials, L);
    int best = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (int t = 0; t < L; ++t) {
      double p = 0;
      for (int64_t i = 0; i < nc; ++i) p += pot_part[i * L + t];
      if (p < best_pot || t == 0) { best_pot = p; best = t; }  // ties to the earlier trial
    }
    indices[c] = cand[best];
    if (c + 1 < K) {
      cand_ptr[0] = X + indices[c] * D;
      pass(kUpdate, 1);
    }
  }
  for (int c = 0; c < K; ++c)
    for (int d = 0; d < D; ++d) centers[static_cast<int64_t>(c) * D + d] = X[indices[c] * D + d];
}

// ---------------------------------------------------------------------------------------------
// Sampling

// Sample i: label by inverse CDF of `weights` on u[i] of `stream`; x = mu + L z with
// z = z[i D : (i + 1) D] of the normal sequence of stream + 1 (mod 2^64). L = cov_chol[label] (C == K)
// or cov_chol[0] (tied), lower triangle only.
template <class T>
void sample_gaussian_mixture(int K, int D, int C, const T* weights, const T* means, const T* cov_chol, int64_t n,
                             uint64_t seed, uint64_t stream, T* X, int64_t* labels) {
  const rng::Stream ru(seed, stream), rz(seed, stream + 1);
  constexpr int64_t kRows = 256;
  static thread_local par::Clock clock;
  par::Region reg(clock, static_cast<double>(n) * D * (D + 40), par::n_chunks(n, kRows));
  par::Scratch<double> zs(reg, std::max(D, 1));
  reg.for_chunks(n, kRows, [&](int64_t i0, int64_t i1, int w) {
    double* z = zs[w];
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t k = draw_categorical(K, weights, ru.uniform(static_cast<uint64_t>(i)));
      labels[i] = k;
      const uint64_t j0 = static_cast<uint64_t>(i) * D;
      for (int d = 0; d < D;) {  // Box-Muller pairs (z[2p], z[2p+1]); a pair may straddle samples
        const uint64_t j = j0 + d;
        double z0, z1;
        rz.normal_pair(j >> 1, z0, z1);
        if (j & 1) {
          z[d++] = z1;
        } else {
          z[d++] = z0;
          if (d < D) z[d++] = z1;
        }
      }
      const T* mu = means + k * D;
      const T* L = cov_chol + (C == 1 ? 0 : k * D * D);
      T* x = X + i * D;
      for (int r = 0; r < D; ++r) {
        double acc = 0;
        for (int c = 0; c <= r; ++c) acc += static_cast<double>(L[r * D + c]) * z[c];
        x[r] = static_cast<T>(static_cast<double>(mu[r]) + acc);
      }
    }
  });
}

}  // namespace fastgen::mixture
