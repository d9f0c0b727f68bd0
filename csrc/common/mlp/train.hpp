// What the fused training steps share (contract: csrc/KERNELS.md, "Neural networks"): a network
// with its optimiser state, the optimiser's settings, the label concatenation of conditional
// models and the float64 batch mean of per-row losses.
#pragma once
#include <cstdint>
#include <cstring>

#include "common/mlp/layers.hpp"
#include "common/mlp/optim.hpp"

namespace fastgen::nn {

// A network and its optimiser state, updated in place.
template <class T>
struct Trainable {
  Net net;
  T* theta;
  T* m;
  T* v;
};

// The optimiser of a step: code (0 Adam, 1 SGD-momentum, 2 SGD-Nesterov), hp[6], step number t.
struct OptSpec {
  int optimizer;
  const double* hp;
  int64_t t;
};

template <class T>
void apply_update(const Trainable<T>& tr, const OptSpec& o, const T* grad) {
  optimizer_step(o.optimizer, o.hp, o.t, tr.net.P, tr.theta, grad, tr.m, tr.v);
}

// [X | C] rows into out [N, dx + c].
template <class T>
void with_labels(int64_t N, int64_t dx, const T* X, int64_t c, const T* C, T* out) {
  const int64_t w = dx + c;
  for (int64_t n = 0; n < N; ++n) {
    std::memcpy(out + n * w, X + n * dx, sizeof(T) * dx);
    if (c) std::memcpy(out + n * w + dx, C + n * c, sizeof(T) * c);
  }
}

inline double mean(int64_t N, const double* x) {
  double s = 0;
  for (int64_t n = 0; n < N; ++n) s += x[n];
  return s / static_cast<double>(N);
}

}  // namespace fastgen::nn
