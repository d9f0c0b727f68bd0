// Row-block pieces of the training steps for narrow networks (nn/steps_narrow.hpp): a step runs on
// one team, each thread takes a block of the batch's rows through every layer (forward,
// loss, backward: rows are independent, so no thread waits for another between layers), and after
// one barrier the threads share the weight gradients, which sum over all rows, and each applies
// the optimiser to the parameters whose gradients it formed. That is the CPU counterpart of a fully
// fused MLP: a narrow layer's product is too small to split by output tiles (one team per product
// costs more than the product), but a whole step splits well by rows.
//
// Results are bit-identical to the layer-by-layer path (common/mlp/layers.hpp forward/backward + the
// optimisers) whatever the number of threads: a row's activations and dz are its own k-ordered
// chains, computed by the same GEMM micro-kernels and epilogues; each weight-gradient element is
// still one chain over all rows in row order (the TransA product over the rows, cut by rows of dW
// instead of output tiles), each bias gradient one row-ordered sum, and the optimiser's arithmetic is
// per element.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/gemm.hpp"
#include "common/mlp/layers.hpp"
#include "common/mlp/optim.hpp"
#include "common/mlp/train.hpp"

namespace fastgen::nn {

// Widest layer (inputs included) that takes the row-parallel path: the narrow regime. A
// thread's weights (and their transposes) stay in its L2 at this width.
constexpr int64_t kNarrowWidth = 128;
// Rows per thread below which one thread runs the whole step (a team costs ~1-2 us to wake and
// each barrier ~1 us on 2 cores; a 64-row block of a 64-wide layer is ~0.6 us of products, a
// whole 64-row step of a 16-64-64-16 VAE ~20 us).
constexpr int64_t kMinRowsPerThread = 64;

inline bool narrow(const Net& net) { return net.max_d <= kNarrowWidth; }

// The most threads a row-parallel step over N rows may use (blocks of >= kMinRowsPerThread rows).
inline int64_t row_blocks(int64_t N) { return std::max<int64_t>(1, N / kMinRowsPerThread); }

// Thread id's rows [r0, r1) of N: contiguous blocks, boundaries on multiples of 8 rows (the
// AVX-512 micro-kernel's height) where N allows.
struct RowBlock {
  int64_t r0, r1;
  int64_t n() const { return r1 - r0; }
};
inline RowBlock row_block(int64_t N, int id, int nt) {
  auto cut = [&](int t) {
    if (t >= nt) return N;
    return std::min(N, (N * t / nt) / 8 * 8);
  };
  return {cut(id), cut(id + 1)};
}

// Rows [r0, r1) of the stacked activations A (forward's layout for N rows) from rows [r0, r1) of X.
template <class T>
void forward_rows(const Net& net, const T* theta, T slope, int64_t N, int64_t r0, int64_t r1, const T* X, T* A) {
  if (r1 <= r0) return;
  const T* in = X + r0 * net.d[0];
  for (int64_t l = 1; l <= net.L; ++l) {
    T* out = net.block(A, N, l) + r0 * net.d[l];
    layer_forward(net, theta, slope, l, r1 - r0, in, out);
    in = out;
  }
}

// Every layer's W_l^T [d_l, d_{l-1}] at Wt + w_off[l - 1] (this thread's copy: the data products
// want B's rows contiguous, see common/mlp/layers.hpp backward).
template <class T>
void transpose_weights(const Net& net, const T* theta, T* Wt) {
  for (int64_t l = 1; l <= net.L; ++l) simd::transpose(net.d[l - 1], net.d[l], net.W(theta, l), Wt + net.w_off[l - 1]);
}

// Rows [r0, r1) of every layer's dz_l into DZ (A's layout, N rows) from dY = dLoss/da_L (row
// stride ldy), given the input X and the activations A; dX (if set, [N, d_0]) gets dLoss/dX of
// those rows. Wt: transpose_weights of the network.
template <class T>
void backward_rows(const Net& net, const T* Wt, T slope, int64_t N, int64_t r0, int64_t r1, const T* X, const T* A,
                   const T* dY, int64_t ldy, T* DZ, T* dX) {
  if (r1 <= r0) return;
  const int64_t L = net.L, M = r1 - r0, dL = net.d[L];
  T* dz = net.block(DZ, N, L) + r0 * dL;
  const T* aL = net.block(A, N, L) + r0 * dL;
  if (ldy == dL)
    backprop_act<T>(net.act[L - 1], M * dL, aL, dY + r0 * dL, dz, slope);
  else  // dY is a column slice of a wider array (the generator's share of [fake | C]'s gradient)
    for (int64_t n = 0; n < M; ++n) backprop_act<T>(net.act[L - 1], dL, aL + n * dL, dY + (r0 + n) * ldy, dz + n * dL, slope);
  for (int64_t l = L; l >= 1; --l) {
    const int64_t k = net.d[l - 1], n = net.d[l];
    if (l == 1 && !dX) break;
    T* target = l > 1 ? net.block(DZ, N, l - 1) + r0 * k : dX + r0 * k;
    const T* a_prev = l > 1 ? net.block(A, N, l - 1) + r0 * k : X + r0 * k;
    BackEpi<T> epi{k, a_prev, target, l > 1 ? net.act[l - 2] : -1, slope};
    simd::gemm<T, false>(M, k, n, dz, n, Wt + net.w_off[l - 1], k, target, k, epi);
    dz = target;
  }
}

// One network's weight gradients (sums over `rows` rows of its input X, activations A and DZ, all
// in forward's layout for `rows`) and its optimiser step.
template <class T>
struct GradJob {
  const Trainable<T>* tr;
  const OptSpec* opt;
  int64_t rows;
  const T* X;
  const T* A;
  const T* DZ;
  T* grad;  // [P] scratch
};

// This thread's share of the jobs' gradients and updates. The units, in parameter order, are the
// rows of each W_l and each b_l; thread id takes those whose cumulative cost starts in
// [total id / nt, total (id + 1) / nt) (integer bounds: every unit has exactly one owner), forms
// their gradients and updates exactly those parameters. Costs count vector lanes: a row of dW_l
// is d_l columns padded to a 16-lane vector, times the rows summed.
template <class T>
void grads_and_update(const GradJob<T>* jobs, int n_jobs, int id, int nt) {
  auto row_cost = [](const GradJob<T>& j, int64_t l) { return std::max<int64_t>(j.tr->net.d[l], 16) * j.rows; };
  int64_t total = 0;
  for (int i = 0; i < n_jobs; ++i)
    for (int64_t l = 1; l <= jobs[i].tr->net.L; ++l) total += (jobs[i].tr->net.d[l - 1] + 1) * row_cost(jobs[i], l);
  const int64_t lo = total / nt * id + total % nt * id / nt, hi = total / nt * (id + 1) + total % nt * (id + 1) / nt;
  // units starting in [lo, hi) among `count` units of cost c starting at `at`: indices [first, last)
  auto owned = [&](int64_t at, int64_t c, int64_t count, int64_t& first, int64_t& last) {
    auto index = [&](int64_t b) { return std::clamp<int64_t>(b <= at ? 0 : (b - at + c - 1) / c, 0, count); };
    first = index(lo);
    last = index(hi);
  };
  int64_t at = 0;
  for (int i = 0; i < n_jobs; ++i) {
    const GradJob<T>& j = jobs[i];
    const Net& net = j.tr->net;
    int64_t p0 = -1, p1 = -1;
    for (int64_t l = 1; l <= net.L; ++l) {
      const int64_t k = net.d[l - 1], n = net.d[l], c = row_cost(j, l), w = net.w_off[l - 1];
      const T* a_prev = l > 1 ? net.block(j.A, j.rows, l - 1) : j.X;
      const T* dz = net.block(j.DZ, j.rows, l);
      int64_t i0, i1;
      owned(at, c, k + 1, i0, i1);  // unit k is the bias
      const int64_t w1 = std::min(i1, k);
      if (i0 < w1) {
        simd::NoEpilogue none;
        simd::gemm<T, true>(w1 - i0, n, j.rows, a_prev + i0, k, dz, n, j.grad + w + i0 * n, n, none);
      }
      if (i0 <= k && k < i1) bias_grad_sums<T>(j.rows, n, dz, j.grad + w + k * n);
      if (i0 < i1) {
        if (p0 < 0) p0 = w + i0 * n;
        p1 = w + i1 * n;  // row i1 - 1 of W_l, or b_l when i1 = k + 1
      }
      at += (k + 1) * c;
    }
    if (p0 >= 0) optimizer_range(j.opt->optimizer, j.opt->hp, j.opt->t, p0, p1, j.tr->theta, j.grad, j.tr->m, j.tr->v);
  }
}

}  // namespace fastgen::nn
