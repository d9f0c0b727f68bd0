// Restricted Boltzmann machine kernels (contract: csrc/KERNELS.md, "Restricted Boltzmann machines").
//
// Every half-step of Gibbs sampling is one matrix product (common/gemm.hpp) whose epilogue adds the
// bias, applies the sigmoid and draws the unit from its own Philox uniform, on each finished tile
// while it is in L1. The hidden affine term V W^T reads a transposed copy of W made once per call
// (the product kernel wants the columns it writes contiguous in B). Elements are computed the same
// way whatever the thread count (see common/gemm.hpp); row reductions (free energies, AIS weights)
// are summed per row in column order, column reductions (CD statistics) per column in row order,
// and the log partition function over fixed blocks of states combined in block order.
#pragma once
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/fastmath.hpp"
#include "common/rng.hpp"
#include "common/gemm.hpp"
#include "common/threads.hpp"
#include "common/isa.hpp"
#include "common/philox_vec.hpp"
#include "common/vmath.hpp"

namespace fastgen::rbm {

using namespace fastgen::simd;     // Isa, Vec, vload/vstore, exp_clamped, sigmoid, softplus, the GEMM
using rng::philox_block_list_isa;  // the vector Philox uniforms (common/philox_vec.hpp)
using rng::philox_uniforms_isa;

template <class T>
using Buf = std::unique_ptr<T[]>;
template <class T>
Buf<T> buf(int64_t n) { return Buf<T>(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]); }

// The model: W [H, V] (row j = hidden unit j), biases, and the visible model (sigma == nullptr:
// Bernoulli; else Gaussian with standard deviations sigma[V]).
template <class T>
struct Model {
  int64_t H, V;
  const T* W;
  const T* b_h;
  const T* b_v;
  const T* sigma;
  bool gaussian() const { return sigma != nullptr; }
};

// Derived read-only arrays for one call: W^T [V, H], 1 / sigma^2 in T (Gaussian).
template <class T>
struct Prepared {
  Buf<T> Wt, inv_var;
  explicit Prepared(const Model<T>& m) : Wt(buf<T>(m.V * m.H)) {
    transpose(m.H, m.V, m.W, Wt.get());
    if (m.gaussian()) {
      inv_var = buf<T>(m.V);
      for (int64_t i = 0; i < m.V; ++i) inv_var[i] = T(1) / (m.sigma[i] * m.sigma[i]);
    }
  }
};

// v / sigma^2 rowwise (the Gaussian visible's input to the hiddens), in T.
template <class T>
void scale_visibles(int64_t N, int64_t V, const T* X, const T* inv_var, T* Xs) {
  static thread_local par::Clock clock;
  par::for_range(clock, static_cast<double>(N) * V, N, 16, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n)
      for (int64_t i = 0; i < V; ++i) Xs[n * V + i] = X[n * V + i] * inv_var[i];
  });
}

// Largest panel width of any ISA (float, AVX-512: 3 x 16), for stack buffers of uniforms.
constexpr int kMaxPanel = 48;

// The uniforms of the draws of rows [g0, g1) (at most kRowGroup rows) x columns [n0, n0 + w) of a
// layer of `units` units, element (row0 + m) * units + n0 + j: all their Philox blocks in one
// vector pass (a row's run of ~25 blocks alone would leave most of the last 32-block pass idle).
// Row m's uniforms start at u + off[m - g0].
constexpr int kRowGroup = 8;
struct TileUniforms {
  static constexpr int kBlocks = kRowGroup * (kMaxPanel / 2 + 1) + 32;
  uint64_t blk[kBlocks];
  double u[2 * kBlocks];
  int off[kRowGroup];
  template <Isa I>
  FG_ALWAYS_INLINE void fill(const rng::Stream& rs, int64_t row0, int64_t g0, int64_t g1, int64_t units, int64_t n0,
                             int w) {
    int nb = 0;
    for (int64_t m = g0; m < g1; ++m) {
      const uint64_t e0 = static_cast<uint64_t>((row0 + m) * units + n0);
      off[m - g0] = 2 * nb + static_cast<int>(e0 & 1);
      for (uint64_t b = e0 >> 1; b < ((e0 + w + 1) >> 1); ++b) blk[nb++] = b;
    }
    for (int i = nb; i < ((nb + 31) & ~31); ++i) blk[i] = 0;  // the vector pass reads whole 32-block groups
    philox_block_list_isa<I>(rs, blk, nb, u);
  }
};

// ---------------------------------------------------------------------------------------------
// Epilogues (run by the GEMM (common/gemm.hpp) on each finished tile; always inlined into the ISA-specific code).

// Hidden half-step on tile X[m0:m1, n0:n1] (X = the affine term without bias, ld = H):
// p = sigmoid(x + b_h, scaled by beta); writes p to P (if set) and the draw u < p to S (if set).
// P or S may be X itself. An absent stream means no draw.
template <class T>
struct HiddenEpi {
  int64_t H;
  const T* b_h;
  T* X;
  T* P;
  T* S;
  const rng::Stream* rs;
  T beta = T(1);
  int64_t row0 = 0;  // global row (chain) number of X's first row: the draws' element indices
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    const int w = static_cast<int>(n1 - n0);
    TileUniforms tu;
    for (int64_t g0 = m0; g0 < m1; g0 += kRowGroup) {
      const int64_t g1 = std::min(m1, g0 + kRowGroup);
      if (S) tu.fill<I>(*rs, row0, g0, g1, H, n0, w);
      for (int64_t m = g0; m < g1; ++m) {
        T p[kMaxPanel];
        const T* x = X + m * H + n0;
#pragma omp simd
        for (int j = 0; j < w; ++j) p[j] = sigmoid(beta * (x[j] + b_h[n0 + j]));
        if (P) {
          T* pm = P + m * H + n0;
#pragma omp simd
          for (int j = 0; j < w; ++j) pm[j] = p[j];
        }
        if (S) {
          const double* ue = tu.u + tu.off[m - g0];
          T* sm = S + m * H + n0;
#pragma omp simd
          for (int j = 0; j < w; ++j) sm[j] = ue[j] < static_cast<double>(p[j]) ? T(1) : T(0);
        }
      }
    }
  }
};

// Visible half-step on tile X[m0:m1, n0:n1] (X = h W without bias, ld = V). The mean is
//   Bernoulli: sigmoid(c), Gaussian: c, with c = base_w * a + beta * (x + b_v)
// (base_w = 0, beta = 1 outside AIS). Writes the mean to M (if set) and the draw to S (if set:
// Bernoulli u < p, Gaussian mean + sigma z); with Sv set (Gaussian) also S / sigma^2 to Sv.
template <class T>
struct VisibleEpi {
  int64_t V;
  const T* b_v;
  const T* sigma;
  const T* inv_var;
  T* X;
  T* M;
  T* S;
  T* Sv;
  const rng::Stream* rs;
  T beta = T(1), base_w = T(0);
  const T* a = nullptr;
  int64_t row0 = 0;  // global row (chain) number of X's first row
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    const int w = static_cast<int>(n1 - n0);
    TileUniforms tu;
    for (int64_t m = m0; m < m1; ++m) {
      T mu[kMaxPanel];
      const T* x = X + m * V + n0;
      if (a) {
#pragma omp simd
        for (int i = 0; i < w; ++i) mu[i] = base_w * a[n0 + i] + beta * (x[i] + b_v[n0 + i]);
      } else {
#pragma omp simd
        for (int i = 0; i < w; ++i) mu[i] = x[i] + b_v[n0 + i];
      }
      if (!sigma) {
#pragma omp simd
        for (int i = 0; i < w; ++i) mu[i] = sigmoid(mu[i]);
      }
      if (M) {
        T* mm = M + m * V + n0;
#pragma omp simd
        for (int i = 0; i < w; ++i) mm[i] = mu[i];
      }
      if (!S) continue;
      const uint64_t e0 = static_cast<uint64_t>((row0 + m) * V + n0);
      T* sm = S + m * V + n0;
      if (!sigma) {
        if ((m - m0) % kRowGroup == 0) tu.fill<I>(*rs, row0, m, std::min(m1, m + kRowGroup), V, n0, w);
        const double* ue = tu.u + tu.off[(m - m0) % kRowGroup];
#pragma omp simd
        for (int i = 0; i < w; ++i) sm[i] = ue[i] < static_cast<double>(mu[i]) ? T(1) : T(0);
      } else {
        // Normals z[e] by Box-Muller on Philox blocks e >> 1 (scalar: the Gaussian path is not the hot one).
        double z[kMaxPanel + 2];
        const uint64_t b0 = e0 >> 1, b1 = (e0 + w + 1) >> 1;
        for (uint64_t b = b0; b < b1; ++b) rs->normal_pair(b, z[2 * (b - b0)], z[2 * (b - b0) + 1]);
        const double* ze = z + (e0 & 1);
        for (int i = 0; i < w; ++i) sm[i] = mu[i] + sigma[n0 + i] * static_cast<T>(ze[i]);
        if (Sv) {
          T* sv = Sv + m * V + n0;
          for (int i = 0; i < w; ++i) sv[i] = sm[i] * inv_var[n0 + i];
        }
      }
    }
  }
};

template <class T>
struct BiasEpi {  // X += bias (columns), nothing else
  int64_t ld;
  const T* bias;
  T* X;
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    for (int64_t m = m0; m < m1; ++m) {
      T* x = X + m * ld;
#pragma omp simd
      for (int64_t j = n0; j < n1; ++j) x[j] += bias[j];
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Half-steps.

// A's nonzeros (CSR) when at most kSparseDensity of its entries are nonzero (very sparse binary
// data); else none, and the dense kernel runs. The row-by-row sparse product reads B without the
// dense kernel's reuse across 8 rows: measured (100 x 784 @ 784 x 500, 1 thread) 2x faster at 5%
// nonzeros, 1.3x at 10%, break-even near 13%, 2x slower at 30%. Either way the products are the same
// bit for bit (common/gemm.hpp, micro_sparse), so the choice never shows in the results.
constexpr double kSparseDensity = 0.1;
template <class T>
struct SparseBuf {
  std::vector<int64_t> start;
  std::vector<int32_t> idx;
  std::vector<T> val;
  SparseRows<T> rows{};
  const SparseRows<T>* build(int64_t N, int64_t K, const T* A) {
    const int64_t total = N * K, limit = static_cast<int64_t>(kSparseDensity * static_cast<double>(total));
    if (total == 0 || K > INT32_MAX) return nullptr;
    int64_t nnz = 0;
    for (int64_t i0 = 0; i0 < total; i0 += 4096) {  // stop early on dense input
      const int64_t i1 = std::min(total, i0 + 4096);
      int64_t c = 0;
#pragma omp simd reduction(+ : c)
      for (int64_t i = i0; i < i1; ++i) c += A[i] != T(0);
      nnz += c;
      if (nnz > limit) return nullptr;
    }
    start.resize(static_cast<size_t>(N + 1));
    idx.resize(static_cast<size_t>(nnz + 1));  // + 1: the branch-free fill writes one slot ahead
    val.resize(static_cast<size_t>(nnz + 1));
    int64_t t = 0;
    for (int64_t n = 0; n < N; ++n) {
      start[n] = t;
      const T* a = A + n * K;
      for (int64_t k = 0; k < K; ++k) {  // no branch: random 0/1 data would mispredict it
        idx[t] = static_cast<int32_t>(k);
        val[t] = a[k];
        t += a[k] != T(0);
      }
    }
    start[N] = t;
    rows = SparseRows<T>{start.data(), idx.data(), val.data()};
    return &rows;
  }
};

// Hidden affine term (without bias) into X [N, H] for visibles V0 [N, V] (scaled for Gaussians).
template <class T, class Epi>
void hidden_gemm(const Model<T>& mdl, const Prepared<T>& pr, int64_t N, const T* Vin, T* X, Epi& epi) {
  SparseBuf<T> sb;
  const SparseRows<T>* sp = sb.build(N, mdl.V, Vin);
  gemm<T, false>(N, mdl.H, mdl.V, Vin, mdl.V, pr.Wt.get(), mdl.H, X, mdl.H, epi, sp);
}

template <class T, class Epi>
void visible_gemm(const Model<T>& mdl, int64_t N, const T* Hin, T* X, Epi& epi) {
  SparseBuf<T> sb;
  const SparseRows<T>* sp = sb.build(N, mdl.H, Hin);
  gemm<T, false>(N, mdl.V, mdl.H, Hin, mdl.H, mdl.W, mdl.V, X, mdl.V, epi, sp);
}

// Visibles as the hiddens see them: X itself (Bernoulli) or X / sigma^2 in `scratch`.
template <class T>
const T* visible_input(const Model<T>& mdl, const Prepared<T>& pr, int64_t N, const T* X, Buf<T>& scratch) {
  if (!mdl.gaussian()) return X;
  scratch = buf<T>(N * mdl.V);
  scale_visibles(N, mdl.V, X, pr.inv_var.get(), scratch.get());
  return scratch.get();
}

template <class T>
void hidden_probs(const Model<T>& mdl, int64_t N, const T* X, T* P) {
  const Prepared<T> pr(mdl);
  Buf<T> xs;
  const T* xin = visible_input(mdl, pr, N, X, xs);
  HiddenEpi<T> epi{mdl.H, mdl.b_h, P, P, nullptr, nullptr};
  hidden_gemm(mdl, pr, N, xin, P, epi);
}

template <class T>
void sample_hiddens(const Model<T>& mdl, int64_t N, const T* X, uint64_t seed, uint64_t stream, T* P, T* S) {
  const Prepared<T> pr(mdl);
  Buf<T> xs;
  const T* xin = visible_input(mdl, pr, N, X, xs);
  const rng::Stream rs(seed, stream);
  HiddenEpi<T> epi{mdl.H, mdl.b_h, P, P, S, &rs};
  hidden_gemm(mdl, pr, N, xin, P, epi);
}

template <class T>
void visible_means(const Model<T>& mdl, int64_t N, const T* Hs, T* out) {
  VisibleEpi<T> epi{mdl.V, mdl.b_v, mdl.sigma, nullptr, out, out, nullptr, nullptr, nullptr};
  visible_gemm(mdl, N, Hs, out, epi);
}

template <class T>
void sample_visibles(const Model<T>& mdl, int64_t N, const T* Hs, uint64_t seed, uint64_t stream, T* out) {
  const rng::Stream rs(seed, stream);
  VisibleEpi<T> epi{mdl.V, mdl.b_v, mdl.sigma, nullptr, out, nullptr, out, nullptr, &rs};
  visible_gemm(mdl, N, Hs, out, epi);
}

// ---------------------------------------------------------------------------------------------
// Chains.

// Runs f(c0, c1) on blocks of chains, each a task of the pool (no barrier per half-step; the
// products inside run on their task's thread), up to 4 blocks per thread of at least `min_rows`
// chains, so a descheduled thread's blocks are taken by the others; or f(0, C) once on the calling
// thread, whose products may then use the team over their tiles. A chain's arithmetic is the same
// either way (common/gemm.hpp), so the split changes nothing in the results. `work`: the call's
// multiply-adds.
template <class F>
void over_chain_blocks(par::Clock& clock, double work, int64_t C, int64_t min_rows, F&& f) {
  const int64_t most = C / min_rows;
  par::Region r(clock, work, most);
  if (r.workers() <= 1) {
    f(int64_t{0}, C);
    return;
  }
  const int64_t nb = std::min<int64_t>(most, 4 * r.workers());
  r.for_each(nb, [&](int64_t b, int) { f(C * b / nb, C * (b + 1) / nb); });
}
constexpr int64_t kMinChainsPerThread = 16;

// n_steps sweeps v -> h -> v from V0; V [C, V] and S [C, H] receive the last samples.
template <class T>
void gibbs_vhv(const Model<T>& mdl, int64_t C, const T* V0, int64_t n_steps, uint64_t seed, uint64_t stream, T* Vout,
               T* S) {
  fm::FlushDenormals ftz;
  const Prepared<T> pr(mdl);
  const int64_t H = mdl.H, V = mdl.V;
  std::copy(V0, V0 + C * V, Vout);
  Buf<T> vs_all = mdl.gaussian() ? buf<T>(C * V) : Buf<T>();
  static thread_local par::Clock clock;
  const double work = 2.0 * static_cast<double>(C) * n_steps * H * V;
  over_chain_blocks(clock, work, C, kMinChainsPerThread, [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    T *v = Vout + c0 * V, *s = S + c0 * H, *vs = mdl.gaussian() ? vs_all.get() + c0 * V : nullptr;
    if (vs) scale_visibles(n, V, v, pr.inv_var.get(), vs);
    const T* vin = vs ? vs : v;
    for (int64_t t = 0; t < n_steps; ++t) {
      const rng::Stream rh(seed, stream + 2 * static_cast<uint64_t>(t));
      HiddenEpi<T> he{H, mdl.b_h, s, nullptr, s, &rh};
      he.row0 = c0;
      hidden_gemm(mdl, pr, n, vin, s, he);
      const rng::Stream rv(seed, stream + 2 * static_cast<uint64_t>(t) + 1);
      VisibleEpi<T> ve{V, mdl.b_v, mdl.sigma, pr.inv_var.get(), v, nullptr, v, vs, &rv};
      ve.row0 = c0;
      visible_gemm(mdl, n, s, v, ve);
    }
  });
}

// n_steps sweeps h -> v -> h from H0; returns the last visible sample, p(h | v) and its draw.
template <class T>
void gibbs_hvh(const Model<T>& mdl, int64_t C, const T* H0, int64_t n_steps, uint64_t seed, uint64_t stream, T* Vout,
               T* P, T* S) {
  fm::FlushDenormals ftz;
  const Prepared<T> pr(mdl);
  const int64_t H = mdl.H, V = mdl.V;
  std::copy(H0, H0 + C * H, S);
  Buf<T> vs_all = mdl.gaussian() ? buf<T>(C * V) : Buf<T>();
  static thread_local par::Clock clock;
  const double work = 2.0 * static_cast<double>(C) * n_steps * H * V;
  over_chain_blocks(clock, work, C, kMinChainsPerThread, [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    T *v = Vout + c0 * V, *p = P + c0 * H, *s = S + c0 * H, *vs = mdl.gaussian() ? vs_all.get() + c0 * V : nullptr;
    const T* vin = vs ? vs : v;
    for (int64_t t = 0; t < n_steps; ++t) {
      const rng::Stream rv(seed, stream + 2 * static_cast<uint64_t>(t));
      VisibleEpi<T> ve{V, mdl.b_v, mdl.sigma, pr.inv_var.get(), v, nullptr, v, vs, &rv};
      ve.row0 = c0;
      visible_gemm(mdl, n, s, v, ve);
      const rng::Stream rh(seed, stream + 2 * static_cast<uint64_t>(t) + 1);
      HiddenEpi<T> he{H, mdl.b_h, p, p, s, &rh};
      he.row0 = c0;
      hidden_gemm(mdl, pr, n, vin, p, he);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// CD / PCD parameter update (in place).

template <class T>
struct Update {
  T* W;
  T* b_h;
  T* b_v;
  T* log_var;  // nullptr: variances not learned
  T* sigma;    // nullptr: Bernoulli
  T* vel_W;
  T* vel_b_h;
  T* vel_b_v;
  T* vel_log_var;
  T lr, momentum, weight_decay;
};

// vel = momentum vel + lr (G / s - weight_decay W); W += vel, on each finished tile of G.
template <class T>
struct WeightEpi {
  int64_t V;
  const T* G;
  const T* inv_var;  // nullptr: s = 1
  T* W;
  T* vel;
  T lr, momentum, weight_decay;
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    for (int64_t j = m0; j < m1; ++j) {
      const T* g = G + j * V;
      T* w = W + j * V;
      T* m = vel + j * V;
      if (inv_var) {
#pragma omp simd
        for (int64_t i = n0; i < n1; ++i) {
          m[i] = momentum * m[i] + lr * (g[i] * inv_var[i] - weight_decay * w[i]);
          w[i] += m[i];
        }
      } else {
#pragma omp simd
        for (int64_t i = n0; i < n1; ++i) {
          m[i] = momentum * m[i] + lr * (g[i] - weight_decay * w[i]);
          w[i] += m[i];
        }
      }
    }
  }
};

// Columns [c0, c1) of one CD operand: rows [pos (B rows); neg (C rows)] of width D copied into
// dst [(B + C), D] (times sp / sn when `scale`, else as they are) and their column means per phase
// in double, each column's rows added in order (vectorised over the block's columns), so any split
// of the columns over threads gives the same bits.
template <class T>
void stack_columns(int64_t B, int64_t C, int64_t D, int64_t c0, int64_t c1, const T* pos, const T* neg, bool scale,
                   T sp, T sn, T* dst, double* mean_pos, double* mean_neg) {
  for (int phase = 0; phase < 2; ++phase) {
    const int64_t rows = phase == 0 ? B : C, row0 = phase == 0 ? 0 : B;
    const T* src = phase == 0 ? pos : neg;
    const T s = phase == 0 ? sp : sn;
    double* mean = phase == 0 ? mean_pos : mean_neg;
    std::fill(mean + c0, mean + c1, 0.0);
    for (int64_t n = 0; n < rows; ++n) {
      const T* x = src + n * D;
      T* d = dst + (row0 + n) * D;
#pragma omp simd
      for (int64_t j = c0; j < c1; ++j) {
        d[j] = scale ? x[j] * s : x[j];
        mean[j] += static_cast<double>(x[j]);
      }
    }
    for (int64_t j = c0; j < c1; ++j) mean[j] /= static_cast<double>(rows);
  }
}

template <class T>
void cd_update(int64_t H, int64_t V, const Update<T>& u, int64_t B, const T* V_pos, const T* H_pos, int64_t C,
               const T* V_neg, const T* H_neg) {
  fm::FlushDenormals ftz;
  const bool gaussian = u.sigma != nullptr, learn_var = u.log_var != nullptr;
  Buf<T> inv_var;
  if (gaussian) {
    inv_var = buf<T>(V);
    for (int64_t i = 0; i < V; ++i) inv_var[i] = T(1) / (u.sigma[i] * u.sigma[i]);
  }
  // Both phases as one product of inner size B + C: rows [h+ / B; -h- / C] against [v+; v-];
  // the copies also give the bias statistics (column means; parameters before the update), one
  // pass over the four operands split by column blocks over the threads.
  const int64_t K = B + C;
  Buf<T> A = buf<T>(K * H), Bm = buf<T>(K * V), G = buf<T>(H * V);
  const T sp = T(1) / static_cast<T>(B), sn = -T(1) / static_cast<T>(C);
  std::vector<double> hp(H), hn(H), vp(V), vn(V);
  constexpr int64_t kCols = 64;
  const int64_t nbh = (H + kCols - 1) / kCols, nbv = (V + kCols - 1) / kCols;
  static thread_local par::Clock stack_clock;
  par::for_each(stack_clock, static_cast<double>(K) * (H + V), nbh + nbv, [&](int64_t b, int) {
    if (b < nbh)
      stack_columns(B, C, H, b * kCols, std::min(H, (b + 1) * kCols), H_pos, H_neg, true, sp, sn, A.get(), hp.data(),
                    hn.data());
    else
      stack_columns(B, C, V, (b - nbh) * kCols, std::min(V, (b - nbh + 1) * kCols), V_pos, V_neg, false, sp, sn,
                    Bm.get(), vp.data(), vn.data());
  });
  std::vector<double> glv;
  if (learn_var) {
    // <(v - b)^2>_+ - <(v - b)^2>_-  and  sum_j W_ji G_ji (needs G: computed below, before W moves).
    glv.assign(V, 0.0);
    std::vector<double> qp(V, 0.0), qn(V, 0.0);
    for (int64_t n = 0; n < B; ++n)
      for (int64_t i = 0; i < V; ++i) {
        const double d = static_cast<double>(V_pos[n * V + i]) - u.b_v[i];
        qp[i] += d * d;
      }
    for (int64_t n = 0; n < C; ++n)
      for (int64_t i = 0; i < V; ++i) {
        const double d = static_cast<double>(V_neg[n * V + i]) - u.b_v[i];
        qn[i] += d * d;
      }
    for (int64_t i = 0; i < V; ++i) glv[i] = 0.5 * (qp[i] / B - qn[i] / C);
    NoEpilogue none;
    gemm<T, true>(H, V, K, A.get(), H, Bm.get(), V, G.get(), V, none);
    std::vector<double> wg(V, 0.0);
    for (int64_t j = 0; j < H; ++j)
      for (int64_t i = 0; i < V; ++i) wg[i] += static_cast<double>(u.W[j * V + i]) * G[j * V + i];
    for (int64_t i = 0; i < V; ++i) glv[i] = std::exp(-static_cast<double>(u.log_var[i])) * (glv[i] - wg[i]);
    WeightEpi<T> we{V, G.get(), inv_var.get(), u.W, u.vel_W, u.lr, u.momentum, u.weight_decay};
    static thread_local par::Clock update_clock;
    par::for_range(update_clock, static_cast<double>(H) * V, H, 8, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) we.template run<Isa::base>(j, j + 1, 0, V);
    });
  } else {
    WeightEpi<T> we{V, G.get(), gaussian ? inv_var.get() : nullptr, u.W, u.vel_W, u.lr, u.momentum, u.weight_decay};
    gemm<T, true>(H, V, K, A.get(), H, Bm.get(), V, G.get(), V, we);
  }
  for (int64_t j = 0; j < H; ++j) {
    u.vel_b_h[j] = u.momentum * u.vel_b_h[j] + u.lr * static_cast<T>(hp[j] - hn[j]);
    u.b_h[j] += u.vel_b_h[j];
  }
  for (int64_t i = 0; i < V; ++i) {
    T g = static_cast<T>(vp[i] - vn[i]);
    if (gaussian) g *= inv_var[i];
    u.vel_b_v[i] = u.momentum * u.vel_b_v[i] + u.lr * g;
    u.b_v[i] += u.vel_b_v[i];
  }
  if (learn_var) {
    for (int64_t i = 0; i < V; ++i) {
      u.vel_log_var[i] = u.momentum * u.vel_log_var[i] + u.lr * static_cast<T>(glv[i]);
      u.log_var[i] += u.vel_log_var[i];
      u.sigma[i] = static_cast<T>(std::exp(0.5 * static_cast<double>(u.log_var[i])));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Free energy, pseudo-likelihood.

// Hidden pre-activations b_h + W (v / s) for all rows, into X [N, H].
template <class T>
void hidden_affine(const Model<T>& mdl, const Prepared<T>& pr, int64_t N, const T* Xv, T* X) {
  Buf<T> xs;
  const T* xin = visible_input(mdl, pr, N, Xv, xs);
  BiasEpi<T> epi{mdl.H, mdl.b_h, X};
  hidden_gemm(mdl, pr, N, xin, X, epi);
}

// sum_j softplus(a_j) over one row, double, in column order.
template <class T>
inline double softplus_sum(int64_t H, const T* a) {
  double s = 0;
  for (int64_t j = 0; j < H; ++j) s += softplus(static_cast<double>(a[j]));
  return s;
}

// The visible part of the free energy: -b_v.v (Bernoulli) or sum (v - b_v)^2 / (2 s) (Gaussian).
template <class T>
inline double visible_energy(const Model<T>& mdl, const Prepared<T>& pr, const T* v) {
  double s = 0;
  if (mdl.gaussian()) {
    for (int64_t i = 0; i < mdl.V; ++i) {
      const double d = static_cast<double>(v[i]) - mdl.b_v[i];
      s += 0.5 * d * d * static_cast<double>(pr.inv_var[i]);
    }
  } else {
    for (int64_t i = 0; i < mdl.V; ++i) s -= static_cast<double>(mdl.b_v[i]) * v[i];
  }
  return s;
}

template <class T>
void free_energy(const Model<T>& mdl, int64_t N, const T* Xv, T* out) {
  const Prepared<T> pr(mdl);
  Buf<T> X = buf<T>(N * mdl.H);
  hidden_affine(mdl, pr, N, Xv, X.get());
  static thread_local par::Clock clock;
  par::for_range(clock, 8.0 * N * (mdl.H + mdl.V), N, 16, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n)
      out[n] = static_cast<T>(visible_energy(mdl, pr, Xv + n * mdl.V) - softplus_sum(mdl.H, X.get() + n * mdl.H));
  });
}

// scikit-learn's pseudo-likelihood: V log sigmoid(F(v') - F(v)), v' = v with unit flip[n] flipped.
template <class T>
void pseudo_likelihood(const Model<T>& mdl, int64_t N, const T* Xv, const int64_t* flip, T* out) {
  const Prepared<T> pr(mdl);
  const int64_t H = mdl.H, V = mdl.V;
  Buf<T> X = buf<T>(N * H);
  hidden_affine(mdl, pr, N, Xv, X.get());
  static thread_local par::Clock clock;
  par::Region r(clock, 16.0 * N * H, par::n_chunks(N, 16));
  par::Scratch<T> a2s(r, static_cast<size_t>(H));
  r.for_chunks(N, 16, [&](int64_t n0, int64_t n1, int w) {
    T* a2 = a2s[w];
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t i = flip[n];
      const T* a = X.get() + n * H;
      const T d = T(1) - T(2) * Xv[n * V + i];
      for (int64_t j = 0; j < H; ++j) a2[j] = a[j] + d * pr.Wt[i * H + j];
      // F(v) - F(v') = -b_v.(v - v') - sum softplus(a) + sum softplus(a')
      const double diff = static_cast<double>(mdl.b_v[i]) * d - softplus_sum(H, a) + softplus_sum(H, a2);
      out[n] = static_cast<T>(-static_cast<double>(V) * softplus(diff));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Exact log partition function by enumeration of one layer.

// log(sum exp) accumulator: (max, sum of exp(x - max)).
struct LogSum {
  double mx = -std::numeric_limits<double>::infinity(), s = 0.0;
  void add(double x) {
    if (x <= mx) {
      s += std::exp(x - mx);
    } else {
      s = s * std::exp(mx - x) + 1.0;
      mx = x;
    }
  }
  void merge(const LogSum& o) {
    if (o.s == 0.0) return;
    if (o.mx <= mx) {
      s += o.s * std::exp(o.mx - mx);
    } else {
      s = s * std::exp(mx - o.mx) + o.s;
      mx = o.mx;
    }
  }
  double value() const { return s == 0.0 ? mx : mx + std::log(s); }
};

// Enumerates the m units of one layer; `rows` [m, n] are their weight vectors into the other layer,
// `lin` [m] their own biases, `other` [n] the other layer's bias. term(h) = lin.h + f(other + h rows):
//   f = sum softplus (Bernoulli other layer), or sum (b_i c_i + c_i^2 / 2) / s_i with c = h rows
//   (Gaussian visibles, `inv_var` set; then `other` holds b_v and the affine c excludes it).
// States in blocks of 2^q consecutive numbers, each block in Gray-code order (one row added or
// subtracted per state, in double); blocks summed in order.
template <class T>
double log_partition_enum(int m, int64_t n, const T* rows, const T* lin, const T* other, const double* inv_var) {
  const int q = std::min(m, 12);
  const int64_t n_blocks = int64_t(1) << (m - q), per_block = int64_t(1) << q;
  std::vector<LogSum> parts(static_cast<size_t>(n_blocks));
  static thread_local par::Clock clock;
  par::Region reg(clock, static_cast<double>(n_blocks) * per_block * (n + 1), n_blocks);
  par::Scratch<double> cs(reg, static_cast<size_t>(n));
  par::Scratch<int> states(reg, static_cast<size_t>(m));
  reg.for_each(n_blocks, [&](int64_t blk, int w) {
    {
      double* c = cs[w];
      int* state = states[w];
      // High bits fixed by the block number; low q bits walk the Gray code from 0.
      double linsum = 0;
      std::fill(c, c + n, 0.0);
      for (int u = 0; u < m; ++u) {
        state[u] = u >= q ? static_cast<int>((blk >> (u - q)) & 1) : 0;
        if (state[u]) {
          linsum += lin[u];
          for (int64_t i = 0; i < n; ++i) c[i] += rows[u * n + i];
        }
      }
      LogSum acc;
      for (int64_t g = 0; g < per_block; ++g) {
        if (g > 0) {
          const int u = __builtin_ctzll(static_cast<unsigned long long>(g));  // Gray code: flip bit u
          const double sgn = state[u] ? -1.0 : 1.0;
          state[u] ^= 1;
          linsum += sgn * lin[u];
          const T* r = rows + u * n;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) c[i] += sgn * r[i];
        }
        double f = 0;
        if (inv_var) {
#pragma omp simd reduction(+ : f)
          for (int64_t i = 0; i < n; ++i) f += (other[i] * c[i] + 0.5 * c[i] * c[i]) * inv_var[i];
        } else {
#pragma omp simd reduction(+ : f)
          for (int64_t i = 0; i < n; ++i) f += softplus(other[i] + c[i]);
        }
        acc.add(linsum + f);
      }
      parts[static_cast<size_t>(blk)] = acc;
    }
  });
  LogSum total;
  for (const LogSum& p : parts) total.merge(p);
  return total.value();
}

template <class T>
double log_partition(const Model<T>& mdl, bool over_hidden) {
  fm::FlushDenormals ftz;
  const int64_t H = mdl.H, V = mdl.V;
  if (!over_hidden) {
    Buf<T> Wt = buf<T>(V * H);
    transpose(H, V, mdl.W, Wt.get());
    return log_partition_enum<T>(static_cast<int>(V), H, Wt.get(), mdl.b_v, mdl.b_h, nullptr);
  }
  if (!mdl.gaussian()) return log_partition_enum<T>(static_cast<int>(H), V, mdl.W, mdl.b_h, mdl.b_v, nullptr);
  // Gaussian visibles integrated out: sum_i log(2 pi sigma_i^2) / 2 plus the enumeration.
  std::vector<double> iv(static_cast<size_t>(V));
  double c = 0;
  for (int64_t i = 0; i < V; ++i) {
    const double s2 = static_cast<double>(mdl.sigma[i]) * mdl.sigma[i];
    iv[i] = 1.0 / s2;
    c += 0.5 * std::log(2.0 * M_PI * s2);
  }
  return c + log_partition_enum<T>(static_cast<int>(H), V, mdl.W, mdl.b_h, mdl.b_v, iv.data());
}

// ---------------------------------------------------------------------------------------------
// Annealed importance sampling (Salakhutdinov & Murray 2008).

// Per chain: the beta-independent visible term of log p*_beta(v), L(v), such that
// log p*_beta(v) = const + beta L(v) + (visible part of the base) + sum_j softplus(beta x_j):
//   Bernoulli: L = (b_v - a).v;  Gaussian: L = -(||(v - b_v) / sigma||^2 - ||(v - a) / sigma||^2) / 2.
template <class T>
double ais_linear(const Model<T>& mdl, const T* a, const double* inv_var, const T* v) {
  double s = 0;
  if (mdl.gaussian()) {
    for (int64_t i = 0; i < mdl.V; ++i) {
      const double db = static_cast<double>(v[i]) - mdl.b_v[i], da = static_cast<double>(v[i]) - a[i];
      s -= 0.5 * (db * db - da * da) * inv_var[i];
    }
  } else {
    for (int64_t i = 0; i < mdl.V; ++i) s += (static_cast<double>(mdl.b_v[i]) - a[i]) * v[i];
  }
  return s;
}

// One chain's weight increment at beta_{k-1} -> beta_k from its affine terms x [H]:
// sum_j softplus(beta_k x_j) - softplus(beta_{k-1} x_j), in column order. Then, if S is set,
// the hidden draw S_j = u_j < sigmoid(T(beta_k) x_j).
template <Isa I, class T>
FG_ALWAYS_INLINE double ais_hidden_row(int64_t H, const T* x, double b1, double b0, T* S, const rng::Stream* rs,
                                       uint64_t e0) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < H; ++j) {
    const double xj = static_cast<double>(x[j]);
    s += softplus(b1 * xj) - softplus(b0 * xj);
  }
  if (S) {
    const T tb = static_cast<T>(b1);
    double u[kMaxPanel + 2];
    T p[kMaxPanel];
    for (int64_t j0 = 0; j0 < H; j0 += kMaxPanel) {
      const int w = static_cast<int>(std::min<int64_t>(kMaxPanel, H - j0));
      const uint64_t e = e0 + static_cast<uint64_t>(j0);
      philox_uniforms_isa<I>(*rs, e, w, u);
      const double* ue = u + (e & 1);
      const T* xj = x + j0;
#pragma omp simd
      for (int j = 0; j < w; ++j) p[j] = sigmoid(tb * xj[j]);
      T* sj = S + j0;
#pragma omp simd
      for (int j = 0; j < w; ++j) sj[j] = ue[j] < static_cast<double>(p[j]) ? T(1) : T(0);
    }
  }
  return s;
}

template <class T>
FG_TARGET_V4 __attribute__((noinline)) double ais_hidden_row_v4(int64_t H, const T* x, double b1, double b0, T* S,
                                                                 const rng::Stream* rs, uint64_t e0) {
  return ais_hidden_row<Isa::v4>(H, x, b1, b0, S, rs, e0);
}
template <class T>
FG_TARGET_V3 __attribute__((noinline)) double ais_hidden_row_v3(int64_t H, const T* x, double b1, double b0, T* S,
                                                                 const rng::Stream* rs, uint64_t e0) {
  return ais_hidden_row<Isa::v3>(H, x, b1, b0, S, rs, e0);
}
template <class T>
__attribute__((noinline)) double ais_hidden_row_base(int64_t H, const T* x, double b1, double b0, T* S,
                                                     const rng::Stream* rs, uint64_t e0) {
  return ais_hidden_row<Isa::base>(H, x, b1, b0, S, rs, e0);
}

template <class T>
void ais(const Model<T>& mdl, const T* a, const double* betas, int64_t K, int64_t C, uint64_t seed, uint64_t stream,
         double* log_w) {
  fm::FlushDenormals ftz;
  const int64_t H = mdl.H, V = mdl.V;
  const Prepared<T> pr(mdl);
  const Isa isa = detect_isa();
  std::vector<double> iv;
  if (mdl.gaussian()) {
    iv.resize(static_cast<size_t>(V));
    for (int64_t i = 0; i < V; ++i) iv[i] = 1.0 / (static_cast<double>(mdl.sigma[i]) * mdl.sigma[i]);
  }
  static thread_local par::Clock clock;
  over_chain_blocks(clock, 2.0 * static_cast<double>(C) * K * H * V, C, kMinChainsPerThread, [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    Buf<T> v = buf<T>(n * V), vs = mdl.gaussian() ? buf<T>(n * V) : Buf<T>(), x = buf<T>(n * H), S = buf<T>(n * H);
    std::vector<double> lin(static_cast<size_t>(n));
    double* lw = log_w + c0;
    const T* vin = mdl.gaussian() ? vs.get() : v.get();
    // v ~ A (stream + 0, element (global chain) * V + i), then its linear term.
    const rng::Stream rs(seed, stream);
    for (int64_t c = 0; c < n; ++c) {
      T* vc = v.get() + c * V;
      for (int64_t i = 0; i < V; ++i) {
        const uint64_t e = static_cast<uint64_t>((c0 + c) * V + i);
        if (mdl.gaussian()) {
          double z0, z1;
          rs.normal_pair(e >> 1, z0, z1);
          vc[i] = a[i] + mdl.sigma[i] * static_cast<T>((e & 1) ? z1 : z0);
          vs[c * V + i] = vc[i] * pr.inv_var[i];
        } else {
          vc[i] = rs.uniform(e) < static_cast<double>(sigmoid(a[i])) ? T(1) : T(0);
        }
      }
      lin[c] = ais_linear(mdl, a, iv.data(), vc);
      lw[c] = 0.0;
    }
    for (int64_t k = 1; k <= K; ++k) {
      const double b1 = betas[k], b0 = betas[k - 1];
      BiasEpi<T> be{H, mdl.b_h, x.get()};
      hidden_gemm(mdl, pr, n, vin, x.get(), be);
      const bool last = k == K;
      const rng::Stream rh(seed, stream + 2 * static_cast<uint64_t>(k) - 1);
      for (int64_t c = 0; c < n; ++c) {
        const T* xc = x.get() + c * H;
        T* sc = last ? nullptr : S.get() + c * H;
        const uint64_t e0 = static_cast<uint64_t>((c0 + c) * H);
        const double inc = isa == Isa::v4   ? ais_hidden_row_v4(H, xc, b1, b0, sc, &rh, e0)
                           : isa == Isa::v3 ? ais_hidden_row_v3(H, xc, b1, b0, sc, &rh, e0)
                                            : ais_hidden_row_base(H, xc, b1, b0, sc, &rh, e0);
        lw[c] += (b1 - b0) * lin[c] + inc;
      }
      if (last) break;
      const rng::Stream rv(seed, stream + 2 * static_cast<uint64_t>(k));
      VisibleEpi<T> ve{V, mdl.b_v, mdl.sigma, pr.inv_var.get(), v.get(), nullptr, v.get(), vs.get(), &rv};
      ve.beta = static_cast<T>(b1);
      ve.base_w = static_cast<T>(1.0 - b1);
      ve.a = a;
      ve.row0 = c0;
      visible_gemm(mdl, n, S.get(), v.get(), ve);
      for (int64_t c = 0; c < n; ++c) lin[c] = ais_linear(mdl, a, iv.data(), v.get() + c * V);
    }
  });
}

}  // namespace fastgen::rbm
