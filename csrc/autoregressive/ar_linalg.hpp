// Small dense solves of the AR/VAR fits (sizes kt + p k, at most a few hundred): Cholesky with
// equilibration for the least-squares normal equations, LU with partial pivoting for the
// (possibly indefinite) Yule-Walker systems, and Levinson-Durbin for the univariate Toeplitz case.
// All in double, row-major, no allocation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fastgen::ar {

// In-place Cholesky A = L L^T of the leading n x n block of A (leading dimension lda; the lower
// triangle is read and overwritten with L, the strict upper triangle is left alone). Returns
// false if a pivot L_rr^2 falls to `tol` or below (A is then numerically singular). pivmin and
// pivmax receive the smallest and largest L_rr^2.
inline bool cholesky(int n, double* A, int lda, double tol, double* pivmin, double* pivmax) {
  double lo = INFINITY, hi = 0;
  for (int j = 0; j < n; ++j) {
    double* Aj = A + static_cast<int64_t>(j) * lda;
    double d = Aj[j];
    for (int l = 0; l < j; ++l) d -= Aj[l] * Aj[l];
    if (!(d > tol)) return false;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    const double ljj = std::sqrt(d);
    Aj[j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double* Ai = A + static_cast<int64_t>(i) * lda;
      double s = Ai[j];
      for (int l = 0; l < j; ++l) s -= Ai[l] * Aj[l];
      Ai[j] = s / ljj;
    }
  }
  *pivmin = lo;
  *pivmax = hi;
  return true;
}

// X <- L^{-1} X for the n x m matrix X (leading dimension ldx), L lower triangular (lda).
inline void solve_lower(int n, const double* L, int lda, double* X, int m, int ldx) {
  for (int i = 0; i < n; ++i) {
    const double* Li = L + static_cast<int64_t>(i) * lda;
    double* Xi = X + static_cast<int64_t>(i) * ldx;
    for (int l = 0; l < i; ++l) {
      const double c = Li[l];
      const double* Xl = X + static_cast<int64_t>(l) * ldx;
      for (int e = 0; e < m; ++e) Xi[e] -= c * Xl[e];
    }
    for (int e = 0; e < m; ++e) Xi[e] /= Li[i];
  }
}

// X <- L^{-T} X.
inline void solve_lower_t(int n, const double* L, int lda, double* X, int m, int ldx) {
  for (int i = n - 1; i >= 0; --i) {
    double* Xi = X + static_cast<int64_t>(i) * ldx;
    for (int l = i + 1; l < n; ++l) {
      const double c = L[static_cast<int64_t>(l) * lda + i];
      const double* Xl = X + static_cast<int64_t>(l) * ldx;
      for (int e = 0; e < m; ++e) Xi[e] -= c * Xl[e];
    }
    const double d = L[static_cast<int64_t>(i) * lda + i];
    for (int e = 0; e < m; ++e) Xi[e] /= d;
  }
}

// Solves A X = B in place (A n x n, lda; B n x m, ldb) by LU with partial pivoting; A is
// overwritten. Returns false on an exactly zero pivot or one below tol times the largest entry.
inline bool lu_solve(int n, double* A, int lda, double* B, int m, int ldb, double tol) {
  double amax = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(A[static_cast<int64_t>(i) * lda + j]));
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int i = c + 1; i < n; ++i)
      if (std::fabs(A[static_cast<int64_t>(i) * lda + c]) > std::fabs(A[static_cast<int64_t>(piv) * lda + c])) piv = i;
    const double pv = A[static_cast<int64_t>(piv) * lda + c];
    if (!(std::fabs(pv) > tol * amax)) return false;
    if (piv != c) {
      for (int j = 0; j < n; ++j) std::swap(A[static_cast<int64_t>(c) * lda + j], A[static_cast<int64_t>(piv) * lda + j]);
      for (int e = 0; e < m; ++e) std::swap(B[static_cast<int64_t>(c) * ldb + e], B[static_cast<int64_t>(piv) * ldb + e]);
    }
    const double* Ac = A + static_cast<int64_t>(c) * lda;
    const double* Bc = B + static_cast<int64_t>(c) * ldb;
    for (int i = c + 1; i < n; ++i) {
      double* Ai = A + static_cast<int64_t>(i) * lda;
      const double f = Ai[c] / pv;
      if (f == 0) continue;
      for (int j = c + 1; j < n; ++j) Ai[j] -= f * Ac[j];
      double* Bi = B + static_cast<int64_t>(i) * ldb;
      for (int e = 0; e < m; ++e) Bi[e] -= f * Bc[e];
    }
  }
  for (int i = n - 1; i >= 0; --i) {
    const double* Ai = A + static_cast<int64_t>(i) * lda;
    double* Bi = B + static_cast<int64_t>(i) * ldb;
    for (int j = i + 1; j < n; ++j) {
      const double* Bj = B + static_cast<int64_t>(j) * ldb;
      for (int e = 0; e < m; ++e) Bi[e] -= Ai[j] * Bj[e];
    }
    for (int e = 0; e < m; ++e) Bi[e] /= Ai[i];
  }
  return true;
}

// Levinson-Durbin on autocovariances r[0..p]: the order-p Yule-Walker coefficients phi[0..p-1]
// (phi[j-1] multiplies lag j). With `all`, all[q * (p + 1) + j] holds the order-q coefficients
// (j < q) for q = 0..p. `work` needs p doubles. Returns false when a prediction-error variance
// v_q = v_{q-1} (1 - kappa_q^2) reaches zero (a singular Toeplitz minor); v may go negative when
// the autocovariances are not positive definite (the "adjusted" denominators), which the
// recursion tolerates, as an LU solve of the Toeplitz system would.
inline bool levinson(int p, const double* r, double* phi, double* work, double* all) {
  double v = r[0];
  if (all) all[0] = 0;  // order 0: no coefficients (row 0 unused)
  for (int q = 1; q <= p; ++q) {
    if (v == 0 || !std::isfinite(v)) return false;
    double num = r[q];
    for (int j = 1; j < q; ++j) num -= phi[j - 1] * r[q - j];
    const double kappa = num / v;
    for (int j = 1; j < q; ++j) work[j - 1] = phi[j - 1] - kappa * phi[q - j - 1];
    for (int j = 1; j < q; ++j) phi[j - 1] = work[j - 1];
    phi[q - 1] = kappa;
    v *= (1.0 - kappa) * (1.0 + kappa);
    if (all)
      for (int j = 0; j < q; ++j) all[static_cast<int64_t>(q) * (p + 1) + j] = phi[j];
  }
  return std::isfinite(v);
}

}  // namespace fastgen::ar
