// Mixture emissions: K groups (HMM states) of M weighted components. comp_logprob[n, k*M + m] is
// the log-density of component (k, m); the group's log-likelihood is a max-shifted logsumexp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace fastgen::mixture {

// Of v_m = c[m] + w[m]: returns max_m v_m and sets *s = sum_m exp(v_m - max) (0 when all are -inf).
template <class T>
static inline double shifted_sum(int M, const T* c, const T* w, double* s) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int m = 0; m < M; ++m) mx = std::max(mx, static_cast<double>(c[m]) + w[m]);
  *s = 0;
  if (mx != -std::numeric_limits<double>::infinity())
    for (int m = 0; m < M; ++m) *s += std::exp(static_cast<double>(c[m]) + w[m] - mx);
  return mx;
}

template <class T>
void mixture_logprob(int64_t N, int K, int M, const T* comp_lp, const T* log_w, T* out) {
  constexpr double ninf = -std::numeric_limits<double>::infinity();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int k = 0; k < K; ++k) {
      double s;
      const double mx = shifted_sum(M, comp_lp + (n * K + k) * M, log_w + static_cast<int64_t>(k) * M, &s);
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
      double s;
      const double mx = shifted_sum(M, c, w, &s);
      if (mx == ninf) {
        for (int m = 0; m < M; ++m) o[m] = 0;
        continue;
      }
      const double scale = state_post[n * K + k] / s;
      for (int m = 0; m < M; ++m) o[m] = static_cast<T>(std::exp(static_cast<double>(c[m]) + w[m] - mx) * scale);
    }
  }
}

}  // namespace fastgen::mixture
