// WGAN-GP gradient penalty of an MLP critic and its gradient in the critic's parameters
// (`mlp_penalty_backward`, csrc/KERNELS.md "Neural networks"; CUDA twin: _cuda/nn_penalty.py).
//
// Derivation. Rows are independent, so take one row x (d_L = 1). Forward (given as A):
//   a_0 = x,  z_l = a_{l-1} W_l + b_l,  a_l = act_l(z_l),  s = a_L.
// The input gradient g_0 = ds/dx by the usual backward sweep:
//   g_L = 1;  delta_l = g_l * act'_l(z_l);  g_{l-1} = delta_l W_l^T            (l = L .. 1)
// gp = (||g_0|| - 1)^2 and loss = weight * mean_n gp_n.
//
// The loss depends on theta through that sweep, which reads W_l (in g_{l-1} = delta_l W_l^T) and
// z_l (in act'_l(z_l)). Its reverse, with xbar = d loss / d x:
//   gbar_0 = (2 weight / N) (||g_0|| - 1) g_0 / ||g_0||   (0 when ||g_0|| = 0: the limit along
//            any direction is bounded and torch's norm gives 0 there; we need no NaN)
//   for l = 1 .. L (the sweep ran l = L .. 1, its reverse runs upwards):
//     g_{l-1} = delta_l W_l^T  =>  dW_l += gbar_{l-1}^T delta_l,  deltabar_l = gbar_{l-1} W_l
//     delta_l = g_l * act'_l   =>  gbar_l = deltabar_l * act'_l(z_l)                (l < L)
//                                  zbar_l = deltabar_l * g_l * act''_l(z_l)        (g_L = 1)
// act'(z) and act''(z) are read from a_l (KERNELS.md): relu/leaky/identity have act'' = 0, so
// zbar_l = 0 for them. The z-adjoints zbar_l are sources on the forward pass, whose ordinary
// backward (with zt = total adjoint of z) then gives the rest:
//   zt_top = zbar_top (top = the highest layer with act'' != 0);  for l = top .. 1:
//     dW_l += a_{l-1}^T zt_l,  db_l += sum_n zt_l,
//     zt_{l-1} = zbar_{l-1} + (zt_l W_l^T) * act'_{l-1}(z_{l-1})                     (l > 1)
// Layers above `top` get no z-adjoint (db = 0 there); with no act'' layer at all the second sweep
// is skipped and every db is 0. b_l appears in the loss only through z_l, hence only here.
//
// Products. Both dW contributions are one product of inner size 2N (N when l > top):
//   dW_l = [gbar_{l-1}; a_{l-1}]^T [delta_l; zt_l],
// the first N rows of the stacked operands from the first sweep, the last N from the second, so
// every dW element is a single k-ordered chain (the shared GEMM's sum, independent of the thread
// count). Other products: g_{l-1} = delta_l W_l^T (W_l transposed once per call), deltabar_l =
// gbar_{l-1} W_l, zt_l W_l^T. Elementwise passes are row-parallel; db sums rows in row order in
// float64 (columns split into tasks); the norms are float64. Results do not depend on the
// number of threads.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "common/gemm.hpp"
#include "common/threads.hpp"
#include "common/mlp/activations.hpp"

namespace fastgen::nn {

namespace penalty_detail {

// Elements per piece (at least) of a row-parallel pass.
constexpr int64_t kRowsGrain = 4096;

// Rows [0, N) of an elementwise pass, row-parallel (each row's arithmetic fixed: no dependence on
// the thread count). Through the threading policy (common/threads.hpp): a team only when the pass
// is large enough to pay for waking it, on this machine. Each pass (each lambda type F, so each
// call site and activation) keeps its own clock; work ~ the elements.
template <class F>
void rows(int64_t N, int64_t width, F&& f) {
  static thread_local par::Clock clock;
  const int64_t grain = std::max<int64_t>(1, kRowsGrain / std::max<int64_t>(width, 1));
  par::for_range(clock, static_cast<double>(N) * static_cast<double>(width), N, grain, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) f(n);
  });
}

// out[j] = sum_n M[n, j] over rows in order (float64), rounded to T; tasks of CB columns (each
// column's sum is one chain whichever worker takes it). Work ~ the elements read.
template <class T>
void column_sums(int64_t N, int64_t D, const T* M, T* out) {
  constexpr int64_t CB = 64;
  static thread_local par::Clock clock;
  par::for_chunks(clock, static_cast<double>(N) * static_cast<double>(D), D, CB, [&](int64_t j0, int64_t j1, int) {
    double acc[CB] = {};
    for (int64_t n = 0; n < N; ++n) {
      const T* r = M + n * D;
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += static_cast<double>(r[j]);
    }
    for (int64_t j = j0; j < j1; ++j) out[j] = static_cast<T>(acc[j - j0]);
  });
}

// C[M, N] = A[M, K] B[K, N] (row-major, tight) by the shared GEMM.
template <class T>
void matmul(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  simd::NoEpilogue none;
  simd::gemm<T, false>(M, N, K, A, K, B, N, C, N, none);
}

// C[M, N] = A^T B with A [K, M], B [K, N] (row-major, tight): the dW products.
template <class T>
void matmul_tn(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  simd::NoEpilogue none;
  simd::gemm<T, true>(M, N, K, A, M, B, N, C, N, none);
}

// act'' is identically 0 for identity, relu and leaky_relu (piecewise linear).
inline bool has_second_derivative(int32_t code) {
  return code == static_cast<int32_t>(Act::tanh) || code == static_cast<int32_t>(Act::sigmoid) ||
         code == static_cast<int32_t>(Act::softplus);
}

// One call's state: the layout of theta and A, the layer `top`, and the buffers of the four stages
// (one method each, run in order by mlp_penalty_backward).
template <class T>
struct PenaltySweeps {
  int64_t L, N;
  const int64_t* sizes;
  const int32_t* acts;
  T slope;
  const T *theta, *X, *A;
  std::vector<int64_t> woff, boff, aoff;  // W_l, b_l in theta; a_l in A
  int64_t P = 0;
  int64_t top = 0;  // the highest layer whose act'' is not identically zero (0: none, no second sweep)
  // Stacked operands of the dW products: U_l [2N, d_{l-1}] = [gbar_{l-1}; a_{l-1}],
  // V_l [2N, d_l] = [delta_l; zt_l] (the second halves only for l <= top).
  std::vector<std::unique_ptr<T[]>> U, V, G, Wt;
  std::unique_ptr<T[]> tmp;  // deltabar_l, then zt_l W_l^T

  PenaltySweeps(int64_t L_, const int64_t* sizes_, const int32_t* acts_, T slope_, const T* theta_, int64_t N_,
                const T* X_, const T* A_)
      : L(L_), N(N_), sizes(sizes_), acts(acts_), slope(slope_), theta(theta_), X(X_), A(A_), woff(L_ + 1),
        boff(L_ + 1), aoff(L_ + 1) {
    for (int64_t l = 1, ao = 0; l <= L; ++l) {
      woff[l] = P;
      boff[l] = P + sizes[l - 1] * sizes[l];
      P = boff[l] + sizes[l];
      aoff[l] = ao;
      ao += N * sizes[l];
    }
  }

  const T* W(int64_t l) const { return theta + woff[l]; }
  const T* act_out(int64_t l) const { return l == 0 ? X : A + aoff[l]; }  // a_l [N, d_l]
  int64_t d(int64_t l) const { return sizes[l]; }

  void allocate();
  void input_gradient_sweep();
  void penalty_and_gbar0(double weight, T* gp);
  void reverse_sweep(T* grad);
  void z_adjoint_sweep(T* grad);
};

// top, the stacked operands, the transposed weights, the g_l and the scratch.
template <class T>
void PenaltySweeps<T>::allocate() {
  for (int64_t l = 1; l <= L; ++l)
    if (has_second_derivative(acts[l - 1])) top = l;
  U.resize(L + 1);
  V.resize(L + 1);
  G.resize(L);
  Wt.resize(L + 1);
  for (int64_t l = 1; l <= L; ++l) {
    const int64_t rows_l = l <= top ? 2 * N : N;
    U[l].reset(new T[rows_l * d(l - 1)]);
    V[l].reset(new T[rows_l * d(l)]);
    Wt[l].reset(new T[d(l) * d(l - 1)]);
    simd::transpose(d(l - 1), d(l), W(l), Wt[l].get());
  }
  for (int64_t l = 0; l < L; ++l) G[l].reset(new T[N * d(l)]);  // g_l (g_L = 1 is implicit)
  int64_t dmax = 0;
  for (int64_t l = 0; l <= L; ++l) dmax = std::max(dmax, d(l));
  tmp.reset(new T[N * dmax]);
}

// 1. Input-gradient sweep (downwards): delta_L = act'_L(a_L); g_{l-1} = delta_l W_l^T;
//    delta_{l-1} = g_{l-1} * act'_{l-1}(a_{l-1}).
template <class T>
void PenaltySweeps<T>::input_gradient_sweep() {
  const T slope = this->slope;
  const int64_t N = this->N;
  {
    const T* aL = act_out(L);
    T* dL = V[L].get();
    const int32_t c = acts[L - 1];
    with_act(c, [&](auto k) {
      for (int64_t n = 0; n < N; ++n) dL[n] = act_deriv<decltype(k)::value>(aL[n], slope);
    });
  }
  for (int64_t l = L; l >= 1; --l) {
    matmul(N, d(l - 1), d(l), V[l].get(), Wt[l].get(), G[l - 1].get());
    if (l > 1) {
      const int64_t w = d(l - 1);
      const int32_t c = acts[l - 2];
      const T *g = G[l - 1].get(), *a = act_out(l - 1);
      T* dl = V[l - 1].get();
      with_act(c, [&](auto k) {
        rows(N, w, [&](int64_t n) { act_backprop_row<decltype(k)::value>(w, a + n * w, g + n * w, dl + n * w, slope); });
      });
    }
  }
}

// 2. Penalty and gbar_0 (into U_1's first half).
template <class T>
void PenaltySweeps<T>::penalty_and_gbar0(double weight, T* gp) {
  const int64_t N = this->N;
  const int64_t w = d(0);
  const T* g = G[0].get();
  T* gb = U[1].get();
  const double scale = 2.0 * weight / static_cast<double>(N);
  rows(N, w, [&](int64_t n) {
    double ss = 0;
    for (int64_t j = 0; j < w; ++j) ss += static_cast<double>(g[n * w + j]) * static_cast<double>(g[n * w + j]);
    const double norm = std::sqrt(ss);
    gp[n] = static_cast<T>((norm - 1.0) * (norm - 1.0));
    const double coef = norm > 0 ? scale * (norm - 1.0) / norm : 0.0;
    for (int64_t j = 0; j < w; ++j) gb[n * w + j] = static_cast<T>(coef * static_cast<double>(g[n * w + j]));
  });
}

// 3. Reverse of the sweep (upwards): deltabar_l = gbar_{l-1} W_l; gbar_l = deltabar_l * act'_l;
//    zbar_l = deltabar_l * g_l * act''_l (into V_l's second half, l <= top). Layers above top
//    take their dW product now (inner size N).
template <class T>
void PenaltySweeps<T>::reverse_sweep(T* grad) {
  const T slope = this->slope;
  const int64_t N = this->N;
  for (int64_t l = 1; l <= L; ++l) {
    const bool need_gbar = l < L, need_zbar = l <= top && has_second_derivative(acts[l - 1]);
    if (need_gbar || need_zbar) {
      const int64_t w = d(l);
      T* db = tmp.get();
      matmul(N, w, d(l - 1), U[l].get(), W(l), db);
      const int32_t c = acts[l - 1];
      const T* a = act_out(l);
      const T* g = l < L ? G[l].get() : nullptr;
      T* gb = need_gbar ? U[l + 1].get() : nullptr;
      T* zb = l <= top ? V[l].get() + N * w : nullptr;
      with_act(c, [&](auto k) {
        constexpr Act K = decltype(k)::value;
        rows(N, w, [&](int64_t n) {
          const int64_t r = n * w;
          if (gb) act_backprop_row<K>(w, a + r, db + r, gb + r, slope);
          if (zb) {
            if (need_zbar) {
#pragma omp simd
              for (int64_t j = 0; j < w; ++j)
                zb[r + j] = db[r + j] * (g ? g[r + j] : T(1)) * act_deriv2<K>(a[r + j], slope);
            } else {
              std::fill(zb + r, zb + r + w, T(0));
            }
          }
        });
      });
    } else if (l <= top) {
      std::fill(V[l].get() + N * d(l), V[l].get() + 2 * N * d(l), T(0));
    }
    if (l > top) matmul_tn(d(l - 1), d(l), N, U[l].get(), V[l].get(), grad + woff[l]);
  }
}

// 4. z-adjoints back through the forward pass (downwards from top): zt_l sits in V_l's second
//    half (zbar_l so far, completed by the layer above); a_{l-1} joins U_l's second half.
template <class T>
void PenaltySweeps<T>::z_adjoint_sweep(T* grad) {
  const T slope = this->slope;
  const int64_t N = this->N;
  for (int64_t l = top; l >= 1; --l) {
    const int64_t wo = d(l), wi = d(l - 1);
    T* zt = V[l].get() + N * wo;
    std::memcpy(U[l].get() + N * wi, act_out(l - 1), sizeof(T) * N * wi);
    matmul_tn(wi, wo, 2 * N, U[l].get(), V[l].get(), grad + woff[l]);
    column_sums(N, wo, zt, grad + boff[l]);
    if (l > 1) {
      T* p = tmp.get();
      matmul(N, wi, wo, zt, Wt[l].get(), p);
      const int32_t c = acts[l - 2];
      const T* a = act_out(l - 1);
      T* zlow = V[l - 1].get() + N * wi;
      with_act(c, [&](auto k) {
        constexpr Act K = decltype(k)::value;
        rows(N, wi, [&](int64_t n) {
#pragma omp simd
          for (int64_t i = n * wi; i < (n + 1) * wi; ++i) zlow[i] = zlow[i] + p[i] * act_deriv<K>(a[i], slope);
        });
      });
    }
  }
}
}  // namespace penalty_detail

// The network: L layers, sizes[0..L], acts[0..L-1] (valid codes of common/mlp/activations.hpp), theta [P].
// X [N, d_0]; A = mlp_forward's activations (every a_l, l >= 1, blocks [N, d_l] layer after layer).
// Writes gp [N] (norms in float64) and grad [P] (theta's layout). Requires sizes[L] == 1, N >= 0.
template <class T>
void mlp_penalty_backward(int64_t L, const int64_t* sizes, const int32_t* acts, T slope, const T* theta, int64_t N,
                          const T* X, const T* A, double weight, T* gp, T* grad) {
  penalty_detail::PenaltySweeps<T> s(L, sizes, acts, slope, theta, N, X, A);
  std::fill(grad, grad + s.P, T(0));
  if (N == 0) return;
  s.allocate();
  s.input_gradient_sweep();
  s.penalty_and_gbar0(weight, gp);
  s.reverse_sweep(grad);
  s.z_adjoint_sweep(grad);
}

}  // namespace fastgen::nn
