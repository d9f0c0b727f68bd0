// MLP optimisers (contract: csrc/KERNELS.md, "Neural networks"): Adam and SGD with momentum, in
// place, one pass over theta, torch.optim's arithmetic (step t counted from 1).
#pragma once
#include <cmath>
#include <cstdint>

#include "common/simd.hpp"
#include "common/threads.hpp"

namespace fastgen::nn {

// Elements per parallel piece (at least). Through the threading policy (common/threads.hpp): a
// small network's update runs on the calling thread (waking a team costs more than all of it), a
// large one on the team when that is faster on this machine. Every element's arithmetic is fixed,
// so the split never shows in the results. Work ~ the elements.
constexpr int64_t kOptGrain = 4096;

// g = grad + wd theta; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// theta -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
template <class T>
FASTGEN_SIMD_CLONES static void adam_range(int64_t i0, int64_t i1, T* theta, const T* grad, T* m, T* v, T step,
                                           T bc2_sqrt, T b1, T b2, T eps, T wd) {
  const T c1 = T(1) - b1, c2 = T(1) - b2;
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) {
    const T g = grad[i] + wd * theta[i];
    m[i] = b1 * m[i] + c1 * g;
    v[i] = b2 * v[i] + c2 * g * g;
    theta[i] -= step * (m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps));
  }
}

template <class T>
void adam_update(int64_t P, T* theta, const T* grad, T* m, T* v, int64_t t, double lr, double beta1, double beta2,
                 double eps, double wd) {
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(t)), bc2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  const T step = static_cast<T>(lr / bc1), bc2s = static_cast<T>(std::sqrt(bc2));
  static thread_local par::Clock clock;
  par::for_range(clock, static_cast<double>(P), P, kOptGrain, [&](int64_t i0, int64_t i1) {
    adam_range<T>(i0, i1, theta, grad, m, v, step, bc2s, static_cast<T>(beta1), static_cast<T>(beta2),
                  static_cast<T>(eps), static_cast<T>(wd));
  });
}

// g = grad + wd theta; vel = momentum vel + g; theta -= lr (nesterov ? g + momentum vel : vel).
template <class T>
FASTGEN_SIMD_CLONES static void sgd_range(int64_t i0, int64_t i1, T* theta, const T* grad, T* vel, T lr, T mom, T wd,
                                          bool nesterov) {
  if (nesterov) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const T g = grad[i] + wd * theta[i];
      vel[i] = mom * vel[i] + g;
      theta[i] -= lr * (g + mom * vel[i]);
    }
  } else {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const T g = grad[i] + wd * theta[i];
      vel[i] = mom * vel[i] + g;
      theta[i] -= lr * vel[i];
    }
  }
}

template <class T>
void sgd_update(int64_t P, T* theta, const T* grad, T* vel, double lr, double momentum, double wd, bool nesterov) {
  static thread_local par::Clock clock;
  par::for_range(clock, static_cast<double>(P), P, kOptGrain, [&](int64_t i0, int64_t i1) {
    sgd_range<T>(i0, i1, theta, grad, vel, static_cast<T>(lr), static_cast<T>(momentum), static_cast<T>(wd), nesterov);
  });
}

// One training step's update by optimizer code (0 Adam, 1 SGD-momentum, 2 SGD-Nesterov) and
// hp = (lr, beta1, beta2, eps, weight_decay, momentum).
template <class T>
void optimizer_step(int optimizer, const double* hp, int64_t t, int64_t P, T* theta, const T* grad, T* m, T* v) {
  if (optimizer == 0)
    adam_update(P, theta, grad, m, v, t, hp[0], hp[1], hp[2], hp[3], hp[4]);
  else
    sgd_update(P, theta, grad, m, hp[0], hp[5], hp[4], optimizer == 2);
}

// optimizer_step on the elements [i0, i1) only, on the calling thread: the same arithmetic per
// element (the row-parallel steps update each thread's share of the parameters).
template <class T>
void optimizer_range(int optimizer, const double* hp, int64_t t, int64_t i0, int64_t i1, T* theta, const T* grad, T* m,
                     T* v) {
  if (i1 <= i0) return;
  if (optimizer == 0) {
    const double bc1 = 1.0 - std::pow(hp[1], static_cast<double>(t)), bc2 = 1.0 - std::pow(hp[2], static_cast<double>(t));
    adam_range<T>(i0, i1, theta, grad, m, v, static_cast<T>(hp[0] / bc1), static_cast<T>(std::sqrt(bc2)),
                  static_cast<T>(hp[1]), static_cast<T>(hp[2]), static_cast<T>(hp[3]), static_cast<T>(hp[4]));
  } else {
    sgd_range<T>(i0, i1, theta, grad, m, static_cast<T>(hp[0]), static_cast<T>(hp[5]), static_cast<T>(hp[4]),
                 optimizer == 2);
  }
}

}  // namespace fastgen::nn
