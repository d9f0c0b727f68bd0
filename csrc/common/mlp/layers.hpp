// MLP layers (contract: csrc/KERNELS.md, "Neural networks"): the parameter layout, the forward
// pass (one GEMM per layer with the bias and activation fused into its epilogue) and the backward
// pass (dW = a^T dz by the TransA GEMM, db by row-ordered column sums, da = dz W^T with the next
// layer's dz = da * act'(a) fused into that product's epilogue).
//
// Every element of every product is a k-ordered sum fixed by the kernel (common/gemm.hpp), and
// every other loop is per element or per column in row order, so results do not depend on the
// thread count. Scratch buffers are thread-local and only grow: a training step called thousands
// of times allocates nothing after the first call.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/gemm.hpp"
#include "common/isa.hpp"
#include "common/simd.hpp"
#include "common/mlp/activations.hpp"

namespace fastgen::nn {

using simd::Isa;

// Calls CALL(A) with A the Act of the run-time code (the switch outside the element loop).
#define FG_NN_ACT_SWITCH(code, CALL)                 \
  switch (static_cast<Act>(code)) {                  \
    case Act::relu: CALL(Act::relu); break;          \
    case Act::leaky_relu: CALL(Act::leaky_relu); break; \
    case Act::tanh: CALL(Act::tanh); break;          \
    case Act::sigmoid: CALL(Act::sigmoid); break;    \
    case Act::softplus: CALL(Act::softplus); break;  \
    default: CALL(Act::identity); break;             \
  }

// A grow-only buffer: at least n elements, contents unspecified.
template <class T>
inline T* grab(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// The network's shape and where each layer lives in theta and in the stacked activations A.
struct Net {
  int64_t L = 0;
  const int64_t* d = nullptr;   // sizes d_0 .. d_L
  const int32_t* act = nullptr;  // layer l's activation code at act[l - 1]
  std::vector<int64_t> w_off;    // W_l at theta + w_off[l - 1], b_l right after it
  std::vector<int64_t> a_off;    // block l of A at A + N * a_off[l - 1]
  int64_t P = 0, width = 0, max_d = 0;
  Net() = default;
  Net(int64_t L_, const int64_t* d_, const int32_t* act_) : L(L_), d(d_), act(act_) {
    w_off.resize(static_cast<size_t>(L));
    a_off.resize(static_cast<size_t>(L));
    max_d = d[0];
    for (int64_t l = 1; l <= L; ++l) {
      w_off[l - 1] = P;
      P += d[l - 1] * d[l] + d[l];
      a_off[l - 1] = width;
      width += d[l];
      max_d = std::max(max_d, d[l]);
    }
  }
  int64_t in() const { return d[0]; }
  int64_t out() const { return d[L]; }
  template <class T>
  const T* W(const T* theta, int64_t l) const { return theta + w_off[l - 1]; }
  template <class T>
  const T* b(const T* theta, int64_t l) const { return theta + w_off[l - 1] + d[l - 1] * d[l]; }
  template <class T>
  T* block(T* A, int64_t N, int64_t l) const { return A + N * a_off[l - 1]; }
  template <class T>
  const T* block(const T* A, int64_t N, int64_t l) const { return A + N * a_off[l - 1]; }
};

// Forward epilogue: C[m, n0:n1] = act(C + b) on each finished tile.
template <class T>
struct LayerEpi {
  int64_t ld;
  const T* b;
  T* C;
  int32_t act;
  T slope;
  template <Act A>
  FG_ALWAYS_INLINE void rows(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    for (int64_t m = m0; m < m1; ++m) {
      T* x = C + m * ld;
#pragma omp simd
      for (int64_t j = n0; j < n1; ++j) x[j] = act_value<A>(x[j] + b[j], slope);
    }
  }
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
#define FG_NN_CALL(A) rows<A>(m0, m1, n0, n1)
    FG_NN_ACT_SWITCH(act, FG_NN_CALL)
#undef FG_NN_CALL
  }
};

// Backward epilogue: C = da (= dz_l W_l^T) becomes dz_{l-1} = da * act'(a) in place (act < 0:
// nothing, the input gradient dX).
template <class T>
struct BackEpi {
  int64_t ld;
  const T* a;
  T* C;
  int32_t act;
  T slope;
  template <Act A>
  FG_ALWAYS_INLINE void rows(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    for (int64_t m = m0; m < m1; ++m) {
      T* x = C + m * ld;
      const T* am = a + m * ld;
#pragma omp simd
      for (int64_t j = n0; j < n1; ++j) x[j] = x[j] * act_deriv<A>(am[j], slope);
    }
  }
  template <Isa I>
  FG_ALWAYS_INLINE void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1) const {
    if (act < 0 || act == static_cast<int32_t>(Act::identity)) return;
#define FG_NN_CALL(A) rows<A>(m0, m1, n0, n1)
    FG_NN_ACT_SWITCH(act, FG_NN_CALL)
#undef FG_NN_CALL
  }
};

// out[N, d_l] = act_l(in W_l + b_l).
template <class T>
void layer_forward(const Net& net, const T* theta, T slope, int64_t l, int64_t N, const T* in, T* out) {
  const int64_t k = net.d[l - 1], n = net.d[l];
  LayerEpi<T> epi{n, net.b(theta, l), out, net.act[l - 1], slope};
  simd::gemm<T, false>(N, n, k, in, k, net.W(theta, l), n, out, n, epi);
}

// Every layer's activation into A (blocks [N, d_l], layer after layer).
template <class T>
void forward(const Net& net, const T* theta, T slope, int64_t N, const T* X, T* A) {
  const T* in = X;
  for (int64_t l = 1; l <= net.L; ++l) {
    T* out = net.block(A, N, l);
    layer_forward(net, theta, slope, l, N, in, out);
    in = out;
  }
}

// The output a_L [N, d_L] alone (two ping-pong buffers for the hidden layers).
template <class T>
void predict(const Net& net, const T* theta, T slope, int64_t N, const T* X, T* Y) {
  thread_local std::vector<T> buf;
  T* b0 = grab(buf, 2 * N * net.max_d);
  T* b1 = b0 + N * net.max_d;
  const T* in = X;
  for (int64_t l = 1; l <= net.L; ++l) {
    T* out = l == net.L ? Y : ((l & 1) ? b0 : b1);
    layer_forward(net, theta, slope, l, N, in, out);
    in = out;
  }
}

// dz[i] = dy[i] * act'(a[i]) over n elements.
template <class T>
FASTGEN_SIMD_CLONES static void backprop_act(int32_t code, int64_t n, const T* a, const T* dy, T* dz, T slope) {
#define FG_NN_CALL(A) act_backprop_row<A>(n, a, dy, dz, slope)
  FG_NN_ACT_SWITCH(code, FG_NN_CALL)
#undef FG_NN_CALL
}

// g[j] = sum_n dz[n, j], rows in order, in T (like the products' k-ordered chains).
template <class T>
FASTGEN_SIMD_CLONES static void bias_grad_sums(int64_t N, int64_t D, const T* dz, T* g) {
  std::fill(g, g + D, T(0));
  if (D < 8) {  // narrow (a critic's single output): a vector loop per row would cost more than its adds
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < D; ++j) g[j] += dz[n * D + j];
    return;
  }
  for (int64_t n = 0; n < N; ++n) {
    const T* r = dz + n * D;
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) g[j] += r[j];
  }
}

// Backward pass from dY = dLoss/da_L [N, d_L] given the input X and the activations A (forward's
// layout). grad [P] (if set) receives dLoss/dtheta, dX [N, d_0] (if set) dLoss/dX. Either may be
// null: the generator step needs only dX of the discriminator, the encoder only grad. `dz_L`
// (if set) says dY already is dLoss/dz_L (the loss was taken on the logits).
template <class T>
void backward(const Net& net, const T* theta, T slope, int64_t N, const T* X, const T* A, const T* dY, T* grad, T* dX,
              bool dy_is_dz = false) {
  thread_local std::vector<T> dzbuf, wtbuf;
  T* dz0 = grab(dzbuf, 2 * N * net.max_d);
  T* dz1 = dz0 + N * net.max_d;
  const int64_t L = net.L;
  T* dz = dz0;
  if (dy_is_dz)
    std::copy(dY, dY + N * net.d[L], dz);
  else
    backprop_act<T>(net.act[L - 1], N * net.d[L], net.block(A, N, L), dY, dz, slope);
  for (int64_t l = L; l >= 1; --l) {
    const int64_t k = net.d[l - 1], n = net.d[l];
    const T* a_prev = l > 1 ? net.block(A, N, l - 1) : X;
    if (grad) {
      T* gW = grad + net.w_off[l - 1];
      simd::NoEpilogue none;
      simd::gemm<T, true>(k, n, N, a_prev, k, dz, n, gW, n, none);
      bias_grad_sums<T>(N, n, dz, gW + k * n);
    }
    if (l > 1 || dX) {
      T* wt = grab(wtbuf, k * n);
      simd::transpose(k, n, net.W(theta, l), wt);  // W_l^T [n, k]: the product wants B's rows contiguous
      T* target = l > 1 ? (dz == dz0 ? dz1 : dz0) : dX;
      BackEpi<T> epi{k, a_prev, target, l > 1 ? net.act[l - 2] : -1, slope};
      simd::gemm<T, false>(N, k, n, dz, n, wt, k, target, k, epi);
      dz = target;
    }
  }
}

}  // namespace fastgen::nn
