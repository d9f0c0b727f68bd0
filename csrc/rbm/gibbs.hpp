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

// p(h | v) of the rows X into P and, with a stream rs, their draws into S.
template <class T>
void hidden_phase(const Model<T>& mdl, const Prepared<T>& pr, int64_t N, const T* X, const rng::Stream* rs, T* P,
                  T* S) {
  Buf<T> xs;
  const T* xin = visible_input(mdl, pr, N, X, xs);
  HiddenEpi<T> epi{mdl.H, mdl.b_h, P, P, S, rs};
  hidden_gemm(mdl, pr, N, xin, P, epi);
}

template <class T>
void hidden_probs(const Model<T>& mdl, int64_t N, const T* X, T* P) {
  hidden_phase<T>(mdl, Prepared<T>(mdl), N, X, nullptr, P, nullptr);
}

template <class T>
void sample_hiddens(const Model<T>& mdl, int64_t N, const T* X, uint64_t seed, uint64_t stream, T* P, T* S) {
  const rng::Stream rs(seed, stream);
  hidden_phase(mdl, Prepared<T>(mdl), N, X, &rs, P, S);
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
void gibbs_hvh(const Model<T>& mdl, const Prepared<T>& pr, int64_t C, const T* H0, int64_t n_steps, uint64_t seed,
               uint64_t stream, T* Vout, T* P, T* S) {
  fm::FlushDenormals ftz;
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

template <class T>
void gibbs_hvh(const Model<T>& mdl, int64_t C, const T* H0, int64_t n_steps, uint64_t seed, uint64_t stream, T* Vout,
               T* P, T* S) {
  gibbs_hvh(mdl, Prepared<T>(mdl), C, H0, n_steps, seed, stream, Vout, P, S);
}

}  // namespace fastgen::rbm
