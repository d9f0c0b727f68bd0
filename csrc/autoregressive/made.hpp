// MADE training and scoring kernels (Germain et al. 2015; contract: csrc/KERNELS.md, "MADE"):
// the row-wise losses of the categorical and mixture-of-Gaussians outputs, one fused training
// step and exact log-likelihoods, all on the nn engine (nn/steps.hpp): the masked weights
// theta * mask go through the engine's forward and backward passes, the loss is taken on the
// output layer (logits / mixture parameters), the gradient is masked and the engine's optimiser
// updates theta in place. The degrees, masks and input/output layouts are src/fastgen/_made_masks.py's.
//
// Categorical inputs are one-hot. For V >= kSparseCategories the first layer runs from the
// category indices alone: its product through the shared GEMM's sparse-row path and its weight
// gradient as a scatter of the rows of dz_1 into the rows of W_1 the batch hit (1/V of the dense
// work). Both are the dense product bit for bit (a one-hot row adds exact zeros and exact 1 * w
// terms in the same k order), so the choice never shows in the results.
//
// Every loss is per row (float64 sums in variable order) and every product a k-ordered sum fixed
// by the kernel: results are identical on 1 and 2 threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/fastmath.hpp"
#include "common/rng.hpp"
#include "common/threads.hpp"
#include "common/mlp/layers.hpp"  // the MLP engine (shared with nn): Net, forward/backward, losses, optimisers
#include "common/mlp/losses.hpp"
#include "common/mlp/optim.hpp"
#include "common/mlp/train.hpp"

namespace fastgen::made {

using nn::grab;
using nn::Net;

enum Output : int { kBernoulli = 0, kCategorical = 1, kGaussianMixture = 2 };

// One-hot first layers from indices when V reaches this: the sparse-row product reads W_1 without
// the dense kernel's register reuse across rows, which pays only below ~10% density (measured for
// the RBM's binary data, rbm.hpp kSparseDensity).
constexpr int64_t kSparseCategories = 10;

constexpr double kHalfLog2Pi = 0.91893853320467274178;

// Work (in the callers' cost units) of at least one piece of split(): a few microseconds, so that
// claiming a piece costs little next to running it.
constexpr double kSplitPieceWork = 2048;

// Runs f(i0, i1) on pieces of [0, n) (at least min_grain items, and at least kSplitPieceWork of
// work, when n allows) through the threading policy (common/threads.hpp): on the calling thread
// when the work (cost per item, times n) is small or a team is slower on this machine, else the
// pieces are spread over the team. Each caller kind passes its own clock. Items are independent:
// same results either way. The calling thread flushes subnormals and the pool carries that mode to
// its workers (a subnormal flushed on one thread but not on another would make results depend on
// the split). Nested in a task, everything runs on the calling thread.
template <class F>
void split(par::Clock& clock, int64_t n, double cost, F&& f, int64_t min_grain = 1) {
  if (n <= 0) return;
  fm::FlushDenormals ftz;
  const double g = cost > 0 ? std::ceil(kSplitPieceWork / cost) : static_cast<double>(n);
  const int64_t grain = std::max(min_grain, g < static_cast<double>(n) ? static_cast<int64_t>(g) : n);
  par::for_range(clock, cost * static_cast<double>(n), n, grain, [&](int64_t i0, int64_t i1) { f(i0, i1); });
}

// ---- losses -------------------------------------------------------------------------------------

// Categorical NLL of rows [n0, n1): variable d of row n has logits z = Z[n, dV : dV + V] and
// category c = X[n, d] (an integer in [0, V), checked by the caller):
//   loss_n = sum_d logsumexp(z) - z_c;   dZ = scale (softmax(z) - onehot(c)).
// In double (max-shifted, one exp per logit kept in `e`); the gradient is rounded to T once.
template <class T>
FASTGEN_SIMD_CLONES static void categorical_rows(int64_t n0, int64_t n1, int64_t D, int64_t V, const T* Z, const T* X,
                                                 double scale, double* loss, T* dZ, double* e) {
  for (int64_t n = n0; n < n1; ++n) {
    double acc = 0;
    for (int64_t d = 0; d < D; ++d) {
      const T* z = Z + (n * D + d) * V;
      const int64_t c = static_cast<int64_t>(X[n * D + d]);
      double mx = static_cast<double>(z[0]);
#pragma omp simd reduction(max : mx)
      for (int64_t v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(z[v]));
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t v = 0; v < V; ++v) {
        e[v] = simd::exp_clamped(static_cast<double>(z[v]) - mx);
        s += e[v];
      }
      acc += mx + std::log(s) - static_cast<double>(z[c]);
      if (dZ) {
        T* g = dZ + (n * D + d) * V;
        const double r = scale / s;
#pragma omp simd
        for (int64_t v = 0; v < V; ++v) g[v] = static_cast<T>(r * e[v]);
        g[c] = static_cast<T>(scale * (e[c] / s - 1.0));
      }
    }
    if (loss) loss[n] = acc;
  }
}

// Mixture-of-Gaussians NLL of rows [n0, n1): variable d of row n has K weight logits a, K means mu
// and K log standard deviations s at Z[n, 3Kd : 3K(d + 1)] (in that order), value x = X[n, d]:
//   l_k = log_softmax(a)_k - log(2 pi)/2 - s_k - u_k^2 / 2,  u_k = (x - mu_k) e^-s_k,
//   loss_n = -sum_d logsumexp_k l_k;  with pi = softmax(a), r = softmax(l) (the responsibilities):
//   da_k = scale (pi_k - r_k),  dmu_k = -scale r_k u_k e^-s_k,  ds_k = scale r_k (1 - u_k^2).
// In double with libm's exp/log (K is small; exactness at the tails matters more than speed). A
// component with r_k = 0 contributes no gradient (never 0 * inf); a variable whose every l_k is
// -inf (u overflowed) gives loss +inf and da = scale pi.
template <class T>
static void mixture_rows(int64_t n0, int64_t n1, int64_t D, int64_t K, const T* Z, const T* X, double scale,
                         double* loss, T* dZ) {
  thread_local std::vector<double> buf;
  double* l = grab(buf, 3 * K);
  double* u = l + K;
  double* inv = u + K;
  const double ninf = -std::numeric_limits<double>::infinity();
  for (int64_t n = n0; n < n1; ++n) {
    double acc = 0;
    for (int64_t d = 0; d < D; ++d) {
      const T* a = Z + (n * D + d) * 3 * K;
      const T *mu = a + K, *ls = a + 2 * K;
      const double x = static_cast<double>(X[n * D + d]);
      double amax = static_cast<double>(a[0]);
      for (int64_t k = 1; k < K; ++k) amax = std::max(amax, static_cast<double>(a[k]));
      double sa = 0;
      for (int64_t k = 0; k < K; ++k) sa += std::exp(static_cast<double>(a[k]) - amax);
      const double lsa = amax + std::log(sa);
      double lmax = ninf;
      for (int64_t k = 0; k < K; ++k) {
        const double s = static_cast<double>(ls[k]);
        inv[k] = std::exp(-s);
        u[k] = (x - static_cast<double>(mu[k])) * inv[k];
        l[k] = (static_cast<double>(a[k]) - lsa) - kHalfLog2Pi - s - 0.5 * u[k] * u[k];
        lmax = std::max(lmax, l[k]);
      }
      double lse = ninf;
      if (lmax > ninf) {
        double sl = 0;
        for (int64_t k = 0; k < K; ++k) sl += std::exp(l[k] - lmax);
        lse = lmax + std::log(sl);
      }
      acc -= lse;
      if (!dZ) continue;
      T* ga = dZ + (n * D + d) * 3 * K;
      T *gm = ga + K, *gs = ga + 2 * K;
      for (int64_t k = 0; k < K; ++k) {
        const double pi = std::exp(static_cast<double>(a[k]) - lsa);
        const double r = lse > ninf ? std::exp(l[k] - lse) : 0.0;
        ga[k] = static_cast<T>(scale * (pi - r));
        gm[k] = r > 0 ? static_cast<T>(-scale * r * u[k] * inv[k]) : T(0);
        gs[k] = r > 0 ? static_cast<T>(scale * r * (1.0 - u[k] * u[k])) : T(0);
      }
    }
    if (loss) loss[n] = acc;
  }
}

template <class T>
void categorical_nll(int64_t N, int64_t D, int64_t V, const T* Z, const T* X, double scale, double* loss, T* dZ) {
  static thread_local par::Clock clock;
  split(clock, N, 8.0 * static_cast<double>(D * V), [&](int64_t n0, int64_t n1) {
    thread_local std::vector<double> e;
    categorical_rows<T>(n0, n1, D, V, Z, X, scale, loss, dZ, grab(e, V));
  });
}

template <class T>
void gaussian_mixture_nll(int64_t N, int64_t D, int64_t K, const T* Z, const T* X, double scale, double* loss, T* dZ) {
  static thread_local par::Clock clock;
  split(clock, N, 60.0 * static_cast<double>(D * K), [&](int64_t n0, int64_t n1) {
    mixture_rows<T>(n0, n1, D, K, Z, X, scale, loss, dZ);
  });
}

// The negative log-likelihood of each row from the network output Y [N, D * width]; dY (if set)
// receives scale dNLL/dY. n_out: V (categorical) or K (mixture); Bernoulli uses the engine's bce_logits.
template <class T>
void output_nll(int output, int64_t N, int64_t D, int64_t n_out, const T* Y, const T* X, double scale, double* loss,
                T* dY) {
  if (output == kCategorical) {
    categorical_nll<T>(N, D, n_out, Y, X, scale, loss, dY);
  } else if (output == kGaussianMixture) {
    gaussian_mixture_nll<T>(N, D, n_out, Y, X, scale, loss, dY);
  } else {
    static thread_local par::Clock clock;
    split(clock, N, 8.0 * static_cast<double>(D), [&](int64_t n0, int64_t n1) {
      nn::bce_logits<T>(n1 - n0, D, Y + n0 * D, D, X + n0 * D, D, static_cast<T>(scale), loss + n0,
                        dY ? dY + n0 * D : nullptr, D);
    });
  }
}

// ---- masked parameters -----------------------------------------------------------------------------

template <class T>
FASTGEN_SIMD_CLONES static void mul_range(int64_t i0, int64_t i1, const T* a, const T* b, T* out) {
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) out[i] = a[i] * b[i];
}

// out = a * b elementwise over P values (out may be a).
template <class T>
void mul(int64_t P, const T* a, const T* b, T* out) {
  static thread_local par::Clock clock;
  split(clock, P, 1.0 / 16, [&](int64_t i0, int64_t i1) { mul_range<T>(i0, i1, a, b, out); });
}

// ---- one-hot first layer -----------------------------------------------------------------------

// The network's input for a batch of X [N, D]: X itself (Bernoulli, mixture), the dense one-hot
// rows [N, D V] (categorical, V < kSparseCategories), or the one-hot rows as CSR (column d V + X[n, d]
// for d in order, value 1) for the sparse first layer.
template <class T>
struct Input {
  const T* dense = nullptr;
  simd::SparseRows<T> rows{};
  bool sparse = false;
  std::vector<T> onehot, ones;
  std::vector<int64_t> start;
  std::vector<int32_t> idx;

  void build(int output, int64_t N, int64_t D, int64_t V, const T* X) {
    sparse = false;
    if (output != kCategorical) {
      dense = X;
      return;
    }
    if (V < kSparseCategories) {
      T* oh = grab(onehot, N * D * V);
      std::fill(oh, oh + N * D * V, T(0));
      for (int64_t i = 0; i < N * D; ++i) oh[i * V + static_cast<int64_t>(X[i])] = T(1);
      dense = oh;
      return;
    }
    sparse = true;
    int64_t* st = grab(start, N + 1);
    int32_t* ix = grab(idx, N * D);
    T* val = grab(ones, N * D);
    std::fill(val, val + N * D, T(1));
    for (int64_t n = 0; n <= N; ++n) st[n] = n * D;
    for (int64_t i = 0; i < N * D; ++i) ix[i] = static_cast<int32_t>((i % D) * V + static_cast<int64_t>(X[i]));
    rows = simd::SparseRows<T>{st, ix, val};
    dense = val;  // never read as a matrix (the GEMM reads the rows); a valid pointer for its arithmetic
  }
};

// The network from layer 2 on, on theta's tail (the sparse first layer is run separately).
inline Net tail(const Net& net) { return Net(net.L - 1, net.d + 1, net.act + 1); }

// a_1 = act(onehot W_1 + b_1) from the CSR rows.
template <class T>
void sparse_first_layer(const Net& net, const T* theta, T slope, int64_t N, const Input<T>& in, T* out) {
  const int64_t k = net.d[0], h = net.d[1];
  nn::LayerEpi<T> epi{h, net.b(theta, 1), out, net.act[0], slope};
  simd::gemm<T, false>(N, h, k, in.dense, 0, net.W(theta, 1), h, out, h, epi, &in.rows);
}

template <class T>
FASTGEN_SIMD_CLONES static void add_row(int64_t n, const T* x, T* acc) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) acc[j] += x[j];
}

// gW_1 [k, h] = onehot^T dz_1 as a gather: row r of gW_1 is the sum, in row order, of the rows n of
// dz_1 whose input has r among its nonzeros (the dense product's k-ordered chain: exact zeros
// skipped, 1 * dz exact). The rows n of each r come from one counting sort of the nonzeros (stable:
// ascending n); tasks own blocks of gW_1's rows, so no two threads write one row, and each task
// reads only its rows' entries (a split by columns made every task walk all the nonzeros, and its
// blocks shared cache lines along every row: slower on two threads than on one).
template <class T>
void sparse_first_layer_grad(const Net& net, int64_t N, const Input<T>& in, const T* dz, T* grad) {
  const int64_t k = net.d[0], h = net.d[1], nnz = in.rows.start[N];
  T* gW = grad + net.w_off[0];
  thread_local std::vector<int64_t> first_b, rows_b;
  int64_t* first = grab(first_b, k + 1);  // rows of input r: rows_of[first[r] .. first[r + 1])
  int64_t* rows_of = grab(rows_b, std::max<int64_t>(nnz, 1));
  std::fill(first, first + k + 1, int64_t{0});
  for (int64_t t = 0; t < nnz; ++t) ++first[in.rows.idx[t] + 1];
  for (int64_t r = 0; r < k; ++r) first[r + 1] += first[r];
  {
    thread_local std::vector<int64_t> at_b;
    int64_t* at = grab(at_b, k);
    std::copy(first, first + k, at);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t t = in.rows.start[n]; t < in.rows.start[n + 1]; ++t) rows_of[at[in.rows.idx[t]]++] = n;
  }
  static thread_local par::Clock clock;
  split(clock, k, static_cast<double>(nnz) * h / std::max<int64_t>(k, 1) + h, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* g = gW + r * h;
      std::fill(g, g + h, T(0));
      for (int64_t q = first[r]; q < first[r + 1]; ++q) add_row<T>(h, dz + rows_of[q] * h, g);
    }
  });
  nn::bias_grad_sums<T>(N, h, dz, gW + k * h);
}

// ---- forward, backward, step, log-likelihood ------------------------------------------------------

// Every layer's activations into A (the engine's layout) for the masked parameters thm.
template <class T>
void forward(const Net& net, const T* thm, T slope, int64_t N, const Input<T>& in, T* A) {
  if (!in.sparse) {
    nn::forward(net, thm, slope, N, in.dense, A);
    return;
  }
  sparse_first_layer(net, thm, slope, N, in, A);
  if (net.L > 1) {
    const Net t = tail(net);
    nn::forward(t, thm + net.w_off[1], slope, N, static_cast<const T*>(A), A + N * net.d[1]);
  }
}

// grad = dLoss/dtheta (at the masked parameters) from dY = dLoss/dz_L (identity output layer).
template <class T>
void backward(const Net& net, const T* thm, T slope, int64_t N, const Input<T>& in, const T* A, const T* dY, T* grad) {
  if (!in.sparse) {
    nn::backward(net, thm, slope, N, in.dense, A, dY, grad, static_cast<T*>(nullptr), true);
    return;
  }
  const int64_t h = net.d[1];
  const T* dz1 = dY;
  if (net.L > 1) {
    thread_local std::vector<T> dz_b;
    T* dz = grab(dz_b, N * h);
    const Net t = tail(net);
    nn::backward(t, thm + net.w_off[1], slope, N, A, A + N * h, dY, grad + net.w_off[1], dz, true);
    nn::backprop_act<T>(net.act[0], N * h, A, dz, dz, slope);
    dz1 = dz;
  }
  sparse_first_layer_grad(net, N, in, dz1, grad);
}

// One training step (contract: made_step): forward with theta * mask, mean NLL, backward, the
// gradient masked, the optimiser's update of theta in place. Returns the batch-mean NLL before it.
template <class T>
double made_step(const nn::Trainable<T>& tr, T slope, const T* mask, int64_t N, int64_t D, const T* X, int output,
                 int64_t n_out, const nn::OptSpec& o) {
  fm::FlushDenormals ftz;
  const Net& net = tr.net;
  thread_local std::vector<T> thm_b, A_b, dY_b, g_b;
  thread_local std::vector<double> l_b;
  thread_local Input<T> in;
  T* thm = grab(thm_b, net.P);
  T* A = grab(A_b, N * net.width);
  T* dY = grab(dY_b, N * net.out());
  T* grad = grab(g_b, net.P);
  double* rows = grab(l_b, N);
  mul(net.P, tr.theta, mask, thm);
  in.build(output, N, D, n_out, X);
  forward(net, thm, slope, N, in, A);
  output_nll<T>(output, N, D, n_out, net.block(static_cast<const T*>(A), N, net.L), X, 1.0 / static_cast<double>(N),
                rows, dY);
  backward(net, thm, slope, N, in, A, dY, grad);
  mul(net.P, grad, mask, grad);
  nn::apply_update(tr, o, grad);
  return nn::mean(N, rows);
}

// Rows per pass of made_logprob (at most): bounds the scratch (a chunk's activations) whatever N is.
constexpr int64_t kLogprobRows = 1024;
// Chunks per thread of made_logprob, and rows per chunk at least (fewer only when N is): a chunk
// below a few rows would run its products at a fraction of the GEMM's speed.
constexpr int64_t kLogprobTasks = 4, kLogprobMinRows = 8;

// Exact log p(x) of each row (float64) under the masked parameters thm: minus the summed NLL.
// Chunks of rows are the tasks of one parallel call (about kLogprobTasks per thread, so that the
// chunks of a descheduled thread are taken by the others; the products and losses inside a chunk
// run on the thread that took it). Rows are independent and every product element is a k-ordered
// sum, so neither the chunk size nor the split ever shows in the results.
template <class T>
void made_logprob(const Net& net, const T* thm, T slope, int64_t N, int64_t D, const T* X, int output, int64_t n_out,
                  double* out) {
  if (N == 0) return;
  const int64_t tasks = kLogprobTasks * par::max_threads();
  const int64_t R = std::min(kLogprobRows, std::max(kLogprobMinRows, (N + tasks - 1) / tasks));
  const int64_t n_chunks = (N + R - 1) / R;
  auto chunks = [&](int64_t c0, int64_t c1) {
    thread_local std::vector<T> A_b;
    thread_local Input<T> in;
    T* A = grab(A_b, R * net.width);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * R, rows = std::min(R, N - r0);
      const T* x = X + r0 * D;
      in.build(output, rows, D, n_out, x);
      forward(net, thm, slope, rows, in, A);
      output_nll<T>(output, rows, D, n_out, net.block(static_cast<const T*>(A), rows, net.L), x, 0.0, out + r0,
                    static_cast<T*>(nullptr));
      for (int64_t n = r0; n < r0 + rows; ++n) out[n] = -out[n];
    }
  };
  // A chunk's work ~ its rows times the network's multiply-adds per row.
  static thread_local par::Clock clock;
  split(clock, n_chunks, static_cast<double>(R) * static_cast<double>(net.P), chunks);
}

}  // namespace fastgen::made
