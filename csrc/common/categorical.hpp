// The one inverse-CDF categorical draw of the contract (KERNELS.md: HMM sample_states, the Gaussian
// mixtures' labels), shared by the hmm and mixture families.
#pragma once
#include <cstdint>

namespace fastgen {

// Inverse CDF: smallest k with u < cumsum(p)[k]; past the total (rounding), the last k with p > 0.
template <class T>
inline int64_t draw_categorical(int K, const T* p, double u) {
  double acc = 0;
  int last = 0;
  for (int k = 0; k < K; ++k) {
    if (p[k] > 0) last = k;
    acc += p[k];
    if (u < acc) return k;
  }
  return last;
}

}  // namespace fastgen
