// MLP losses (contract: csrc/KERNELS.md, "Neural networks"), row-wise: each row's loss is summed
// over its features in float64, in feature order; gradients are per element in T, scaled by
// `scale` (the estimator's 1/N for a batch mean). Every function takes row strides, so the
// training steps can read halves of one network output ([mean | log-variance]) in place.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/rng.hpp"
#include "common/philox_vec.hpp"  // rng::normals (vector Philox + vectorised Box-Muller)
#include "common/simd.hpp"
#include "common/vmath.hpp"

namespace fastgen::nn {

using rng::normals;  // the engine's noise (VAE reparameterisation, GAN inputs)

constexpr double kLog2Pi = 1.8378770664093454836;

// Bernoulli log-loss on logits: loss_n = sum_d softplus(z) - x z; dZ = scale (sigmoid(z) - x).
template <class T>
FASTGEN_SIMD_CLONES static void bce_logits(int64_t N, int64_t D, const T* Z, int64_t ldz, const T* X, int64_t ldx,
                                           T scale, double* loss, T* dZ, int64_t ldd) {
  if (D == 1 && loss && dZ) {  // one logit a row (the discriminator): vectorise across rows instead
#pragma omp simd
    for (int64_t n = 0; n < N; ++n) {
      const T z = Z[n * ldz], x = X[n * ldx];
      const double zd = static_cast<double>(z);
      loss[n] = simd::softplus(zd) - static_cast<double>(x) * zd;
      dZ[n * ldd] = scale * (simd::sigmoid(z) - x);
    }
    return;
  }
  for (int64_t n = 0; n < N; ++n) {
    const T* z = Z + n * ldz;
    const T* x = X + n * ldx;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < D; ++d) {
      const double zd = static_cast<double>(z[d]);
      s += simd::softplus(zd) - static_cast<double>(x[d]) * zd;
    }
    if (loss) loss[n] = s;
    if (dZ) {
      T* g = dZ + n * ldd;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) g[d] = scale * (simd::sigmoid(z[d]) - x[d]);
    }
  }
}

// Gaussian negative log-likelihood with log-variances S: per row (ld_s > 0) or one row shared
// by all (ld_s == 0: fixed variances, dS not computed).
//   loss_n = 0.5 sum_d (log 2pi + s + (x - m)^2 e^-s);  dM = scale (m - x) e^-s;
//   dS = scale 0.5 (1 - (x - m)^2 e^-s).
template <class T>
FASTGEN_SIMD_CLONES static void gaussian_nll(int64_t N, int64_t D, const T* M, int64_t ldm, const T* S, int64_t lds,
                                             const T* X, int64_t ldx, T scale, double* loss, T* dM, int64_t lddm,
                                             T* dS, int64_t ldds) {
  for (int64_t n = 0; n < N; ++n) {
    const T* m = M + n * ldm;
    const T* s = S + n * lds;
    const T* x = X + n * ldx;
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t d = 0; d < D; ++d) {
      const double r = static_cast<double>(x[d]) - static_cast<double>(m[d]);
      const double sd = static_cast<double>(s[d]);
      acc += kLog2Pi + sd + r * r * simd::exp_clamped(-sd);
    }
    if (loss) loss[n] = 0.5 * acc;
    if (dM) {
      T* gm = dM + n * lddm;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d)
        gm[d] = scale * (m[d] - x[d]) * static_cast<T>(simd::exp_clamped(-static_cast<double>(s[d])));
    }
    if (dS && lds > 0) {
      T* gs = dS + n * ldds;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) {
        const T r = x[d] - m[d];
        gs[d] = scale * T(0.5) * (T(1) - r * r * static_cast<T>(simd::exp_clamped(-static_cast<double>(s[d]))));
      }
    }
  }
}

// Reparameterised draw and KL to N(0, I) from H = [mu | log_var] (row stride ldh, K each):
// Zs = mu + exp(lv / 2) eps (row stride ldz), kl_n = -0.5 sum_k (1 + lv - mu^2 - e^lv).
// eps [N, K] must hold the normals already (index n K + k of the stream).
template <class T>
FASTGEN_SIMD_CLONES static void kl_reparam(int64_t N, int64_t K, const T* H, int64_t ldh, const T* eps, T* Zs,
                                           int64_t ldz, double* kl) {
  for (int64_t n = 0; n < N; ++n) {
    const T* mu = H + n * ldh;
    const T* lv = mu + K;
    const T* e = eps + n * K;
    T* z = Zs + n * ldz;
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t k = 0; k < K; ++k) {
      const double l = static_cast<double>(lv[k]), m = static_cast<double>(mu[k]);
      acc += 1.0 + l - m * m - simd::exp_clamped(l);
      z[k] = mu[k] + static_cast<T>(simd::exp_clamped(0.5 * l)) * e[k];
    }
    if (kl) kl[n] = -0.5 * acc;
  }
}

// dH = [dmu | dlv] (row stride 2K): dmu = dZs + scale w mu, dlv = dZs eps exp(lv/2)/2 + scale w (e^lv - 1)/2.
template <class T>
FASTGEN_SIMD_CLONES static void kl_reparam_backward(int64_t N, int64_t K, const T* H, int64_t ldh, const T* eps,
                                                    const T* dZs, int64_t lddz, T kl_weight, T scale, T* dH) {
  const T sw = scale * kl_weight;
  for (int64_t n = 0; n < N; ++n) {
    const T* mu = H + n * ldh;
    const T* lv = mu + K;
    const T* e = eps + n * K;
    const T* dz = dZs + n * lddz;
    T* dmu = dH + n * 2 * K;
    T* dlv = dmu + K;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) {
      const double l = static_cast<double>(lv[k]);
      dmu[k] = dz[k] + sw * mu[k];
      dlv[k] = dz[k] * e[k] * static_cast<T>(simd::exp_clamped(0.5 * l)) * T(0.5) +
               sw * T(0.5) * static_cast<T>(simd::exp_clamped(l) - 1.0);
    }
  }
}

// Squared error with unit variance: loss_n = 0.5 sum_d (y - a)^2; dA = scale (a - y).
template <class T>
FASTGEN_SIMD_CLONES static void squared_error(int64_t N, int64_t D, const T* A, const T* Y, T scale, double* loss,
                                              T* dA) {
  for (int64_t n = 0; n < N; ++n) {
    const T* a = A + n * D;
    const T* y = Y + n * D;
    T* g = dA + n * D;
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t d = 0; d < D; ++d) {
      const double r = static_cast<double>(y[d]) - static_cast<double>(a[d]);
      acc += r * r;
      g[d] = scale * (a[d] - y[d]);
    }
    loss[n] = 0.5 * acc;
  }
}

}  // namespace fastgen::nn
