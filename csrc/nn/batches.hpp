// Row assembly where the data live, and the importance-weighted bound's reduction (contract:
// csrc/KERNELS.md, "Neural networks", "Row assembly and the importance-weighted bound"). The
// estimators gather shuffled minibatches (take_rows), join label columns and repeat rows for
// importance sampling (repeat_join) with these, so that data given as device arrays never pass
// through the host; the CPU versions are the same copies as NumPy's indexing and hstack.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/threads.hpp"

namespace fastgen::nn {

namespace batches_detail {

// Elements per piece (at least) of a row-parallel pass.
constexpr int64_t kGrain = 1 << 14;

// f(r) for the rows [0, M), row-parallel through the threading policy (a team only when the copy is
// large enough to pay for waking it). Each row is written by one task: no dependence on the thread
// count. One clock per call site (lambda type).
template <class F>
void rows(int64_t M, int64_t width, F&& f) {
  static thread_local par::Clock clock;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(width, 1));
  par::for_range(clock, static_cast<double>(M) * static_cast<double>(std::max<int64_t>(width, 1)), M, grain,
                 [&](int64_t r0, int64_t r1) {
                   for (int64_t r = r0; r < r1; ++r) f(r);
                 });
}

}  // namespace batches_detail

// out[r, :] = A[rows[r], :] for r < M (A: [*, d]; rows checked in range by the binding).
template <class T>
void take_rows(int64_t M, int64_t d, const T* A, const int64_t* rows, T* out) {
  if (d == 0) return;
  batches_detail::rows(M, d, [&](int64_t r) {
    std::memcpy(out + r * d, A + rows[r] * d, static_cast<size_t>(d) * sizeof(T));
  });
}

// out[r, :] = [A[r / ka, :] | B[r / kb, :]] for r < M (A: [*, a], B: [*, b]; a or b may be 0).
template <class T>
void repeat_join(int64_t M, int64_t a, const T* A, int64_t ka, int64_t b, const T* B, int64_t kb, T* out) {
  const int64_t w = a + b;
  if (w == 0) return;
  batches_detail::rows(M, w, [&](int64_t r) {
    T* o = out + r * w;
    if (a) std::memcpy(o, A + (r / ka) * a, static_cast<size_t>(a) * sizeof(T));
    if (b) std::memcpy(o + a, B + (r / kb) * b, static_cast<size_t>(b) * sizeof(T));
  });
}

// The importance-weighted bound of N rows from k draws each (row n's draws are rows n k .. n k + k - 1
// of nll, Zs, eps). Log-weights lw_j = -nll_j + 0.5 sum_i ((lv_i + eps_ji^2) - Zs_ji^2) (log p(z) -
// log q(z | x): the 2 pi terms cancel), lv = H[n, K:]; out[n] = top + log((sum_j exp(lw_j - top)) / k)
// with top = max_j lw_j. Every sum in float64 in index order (the same order on CUDA); a NaN weight
// gives NaN, top = -inf gives -inf and top = +inf gives +inf. Row-parallel: no dependence on the
// thread count.
template <class T>
void iwae_bound(int64_t N, int64_t K, int64_t k, const T* nll, const T* H, const T* Zs, const T* eps, double* out) {
  static thread_local par::Clock clock;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double work = static_cast<double>(N) * static_cast<double>(k) * static_cast<double>(K + 4);
  const int64_t grain = std::max<int64_t>(1, batches_detail::kGrain / std::max<int64_t>(k * (K + 4), 1));
  par::for_range(clock, work, N, grain, [&](int64_t n0, int64_t n1) {
    std::vector<double> lw(static_cast<size_t>(k));
    for (int64_t n = n0; n < n1; ++n) {
      const T* lv = H + n * 2 * K + K;
      double top = -inf;
      bool nan = false;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = n * k + j;
        const T *z = Zs + r * K, *e = eps + r * K;
        double s = 0.0;
        for (int64_t i = 0; i < K; ++i) {
          const double ei = static_cast<double>(e[i]), zi = static_cast<double>(z[i]);
          s += (static_cast<double>(lv[i]) + ei * ei) - zi * zi;
        }
        const double w = -static_cast<double>(nll[r]) + 0.5 * s;
        lw[static_cast<size_t>(j)] = w;
        if (std::isnan(w)) nan = true;
        else top = std::max(top, w);
      }
      if (nan) {
        out[n] = std::numeric_limits<double>::quiet_NaN();
      } else if (std::isinf(top)) {
        out[n] = top;
      } else {
        double s = 0.0;
        for (int64_t j = 0; j < k; ++j) s += std::exp(lw[static_cast<size_t>(j)] - top);
        out[n] = top + std::log(s / static_cast<double>(k));
      }
    }
  });
}

}  // namespace fastgen::nn
