// RBM log partition function: exact by enumerating the smaller layer, and annealed importance
// sampling; with rbm/energy.hpp and rbm/gibbs.hpp the whole family's kernels (the binding's header).
#pragma once

#include "rbm/energy.hpp"

namespace fastgen::rbm {

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
