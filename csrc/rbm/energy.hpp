// RBM training and scoring kernels: the CD / PCD parameter update, free energy and
// pseudo-likelihood (on the Gibbs half-steps of rbm/gibbs.hpp).
#pragma once

#include "rbm/gibbs.hpp"

namespace fastgen::rbm {

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

}  // namespace fastgen::rbm
