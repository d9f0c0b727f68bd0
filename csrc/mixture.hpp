// Mixture emissions: K groups (HMM states) of M weighted components. comp_logprob[n, k*M + m] is
// the log-density of component (k, m); the group's log-likelihood is a max-shifted logsumexp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace fastgen::mixture {

template <class T>
void mixture_logprob(int64_t N, int K, int M, const T* comp_lp, const T* log_w, T* out) {
  constexpr double ninf = -std::numeric_limits<double>::infinity();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int k = 0; k < K; ++k) {
      const T* c = comp_lp + (n * K + k) * M;
      const T* w = log_w + static_cast<int64_t>(k) * M;
      double mx = ninf;
      for (int m = 0; m < M; ++m) mx = std::max(mx, static_cast<double>(c[m]) + w[m]);
      double s = 0;
      if (mx != ninf)
        for (int m = 0; m < M; ++m) s += std::exp(static_cast<double>(c[m]) + w[m] - mx);
      out[n * K + k] = static_cast<T>(mx == ninf ? ninf : mx + std::log(s));
    }
  }
}

template <class T>
void mixture_posteriors(int64_t N, int K, int M, const T* comp_lp, const T* log_w, const T* state_post, T* out) {
  constexpr double ninf = -std::numeric_limits<double>::infinity();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int k = 0; k < K; ++k) {
      const T* c = comp_lp + (n * K + k) * M;
      const T* w = log_w + static_cast<int64_t>(k) * M;
      T* o = out + (n * K + k) * M;
      double mx = ninf;
      for (int m = 0; m < M; ++m) mx = std::max(mx, static_cast<double>(c[m]) + w[m]);
      if (mx == ninf) {
        for (int m = 0; m < M; ++m) o[m] = 0;
        continue;
      }
      double s = 0;
      for (int m = 0; m < M; ++m) s += std::exp(static_cast<double>(c[m]) + w[m] - mx);
      const double scale = state_post[n * K + k] / s;
      for (int m = 0; m < M; ++m) o[m] = static_cast<T>(std::exp(static_cast<double>(c[m]) + w[m] - mx) * scale);
    }
  }
}

}  // namespace fastgen::mixture
