"""Emission log-likelihood kernels on CUDA (Numba) -> frame_logprob T[N, K]; contract in
``csrc/KERNELS.md`` (same names, arguments and results as ``fastgen._core``):

- ``categorical_logprob(X int64[N], log_emission T[K, M])``
- ``gaussian_logprob_diag(X T[N, D], means T[K, D], precisions T[K, D])``
- ``gaussian_logprob_full(X T[N, D], means T[K, D], prec_chol T[C, D, D])``, C == K or 1 (tied)
- ``poisson_logprob(X T[N, D], lambdas T[K, D])``

One thread per (frame n, state k), k fastest, so a warp's writes to ``out[n, :]`` coalesce and its
reads of ``X[n, :]`` are broadcasts. The per-state constants (Gaussian normalisers, log rates) and
per-frame constants (sum of lgamma(x + 1)) are computed once by small kernels into float64
scratch, not once per (n, k).

Precision: inputs are read as T and every sum is formed in float64; the result is rounded to T
once. For float32 this is slightly more accurate than the C++ kernels (which sum in T).

Categorical symbols outside [0, M) raise ValueError: checked on the host for NumPy input; for
device-resident X the kernel records the first bad row (writing NaN there, never reading out of
bounds) and one 8-byte copy reports it.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..common.args import checked, DevArg, launch, scratch
from ..common.kernels import safe_log
from ..common.widen import f64 as _f64

__all__ = ["categorical_logprob", "gaussian_logprob_diag", "gaussian_logprob_full", "poisson_logprob"]

_LOG_2PI = 1.8378770664093454835606594728112
_NEG_INF = -math.inf
_NAN = math.nan



# ---------------------------------------------------------------------------------------------
# Categorical


@cuda.jit
def _categorical_kernel(X, le, out, bad):
    tid = cuda.grid(1)
    N = out.shape[0]
    K = out.shape[1]
    if tid >= N * K:
        return
    n = tid // K
    k = tid - n * K
    s = X[n]
    if s >= 0 and s < le.shape[1]:
        out[n, k] = le[k, s]
    else:
        out[n, k] = _NAN
        if k == 0:
            cuda.atomic.min(bad, 0, n)


def categorical_logprob(X, log_emission):
    """T[N, K]: out[n, k] = log_emission[k, X[n]]."""
    La = DevArg(log_emission, "log_emission", 2)
    dtype = La.float_dtype()
    Xa = DevArg(X, "X", 1)
    Xa.expect_dtype(np.int64)
    N = Xa.shape[0]
    K, M = La.shape
    if Xa.host is not None and N:
        badrows = np.flatnonzero((Xa.host < 0) | (Xa.host >= M))
        if badrows.size:
            i = int(badrows[0])
            raise ValueError(f"X: symbol {int(Xa.host[i])} at row {i} outside [0, {M})")
    out = cuda.device_array((N, K), dtype=dtype)
    if N * K == 0:
        return out
    bad = cuda.to_device(np.array([N], dtype=np.int64))
    _categorical_kernel[launch(N * K)](Xa.device(), La.device(), out, bad)
    if Xa.host is None:
        i = int(bad.copy_to_host()[0])
        if i < N:
            v = int(Xa.dev[i:i + 1].copy_to_host()[0])
            raise ValueError(f"X: symbol {v} at row {i} outside [0, {M})")
    return out


# ---------------------------------------------------------------------------------------------
# Gaussian, diagonal precisions


@cuda.jit
def _diag_norm_kernel(prec, norm):
    """norm[k] = 1/2 (sum_d log prec[k, d] - D log 2 pi)."""
    k = cuda.grid(1)
    if k >= norm.shape[0]:
        return
    D = prec.shape[1]
    s = 0.0
    for d in range(D):
        s += safe_log(_f64(prec[k, d]))
    norm[k] = 0.5 * (s - D * _LOG_2PI)


@cuda.jit
def _diag_kernel(X, means, prec, norm, out):
    """out[n, k] = norm[k] - 1/2 sum_d prec[k, d] (x[n, d] - mu[k, d])^2 (direct form: no
    cancellation far from the mean)."""
    tid = cuda.grid(1)
    N = out.shape[0]
    K = out.shape[1]
    if tid >= N * K:
        return
    n = tid // K
    k = tid - n * K
    s = 0.0
    for d in range(X.shape[1]):
        r = _f64(X[n, d]) - _f64(means[k, d])
        s += _f64(prec[k, d]) * r * r
    out[n, k] = norm[k] - 0.5 * s


def _gaussian_args(X, means):
    Xa = DevArg(X, "X", 2)
    dtype = Xa.float_dtype()
    N, D = Xa.shape
    Ma = checked(means, "means", dtype, -1, D)
    return Xa, Ma, dtype, N, Ma.shape[0], D


def gaussian_logprob_diag(X, means, precisions):
    """T[N, K]: log N(x_n | means[k], diag(1 / precisions[k]))."""
    Xa, Ma, dtype, N, K, D = _gaussian_args(X, means)
    Pa = checked(precisions, "precisions", dtype, K, D)
    out = cuda.device_array((N, K), dtype=dtype)
    if K == 0:
        return out
    norm = cuda.device_array(K, dtype=np.float64)
    _diag_norm_kernel[launch(K)](Pa.device(), norm)
    if N:
        _diag_kernel[launch(N * K)](Xa.device(), Ma.device(), Pa.device(), norm, out)
    return out


# ---------------------------------------------------------------------------------------------
# Gaussian, full or tied precision Cholesky factors


@cuda.jit
def _full_norm_kernel(P, norm):
    """norm[c] = sum_d log P[c, d, d] - D/2 log 2 pi."""
    c = cuda.grid(1)
    if c >= norm.shape[0]:
        return
    D = P.shape[1]
    s = 0.0
    for d in range(D):
        s += safe_log(_f64(P[c, d, d]))
    norm[c] = s - 0.5 * D * _LOG_2PI


@cuda.jit
def _full_kernel(X, means, P, norm, out):
    """out[n, k] = norm[c] - 1/2 ||(x - mu_k) @ P_c||^2 with c = k (C == K) or 0 (tied); only the
    upper triangle of P_c is read: y_j = sum_{i <= j} (x_i - mu_i) P[c, i, j]."""
    tid = cuda.grid(1)
    N = out.shape[0]
    K = out.shape[1]
    if tid >= N * K:
        return
    n = tid // K
    k = tid - n * K
    c = k if P.shape[0] != 1 else 0
    D = X.shape[1]
    s = 0.0
    for j in range(D):
        y = 0.0
        for i in range(j + 1):
            y += (_f64(X[n, i]) - _f64(means[k, i])) * _f64(P[c, i, j])
        s += y * y
    out[n, k] = norm[c] - 0.5 * s


def gaussian_logprob_full(X, means, prec_chol):
    """T[N, K]: log N(x_n | means[k], (P_c P_c^T)^-1), P upper triangular, C == K or C == 1."""
    Xa, Ma, dtype, N, K, D = _gaussian_args(X, means)
    Pa = checked(prec_chol, "prec_chol", dtype, -1, D, D)
    C = Pa.shape[0]
    if C != K and C != 1:
        raise ValueError(f"prec_chol: expected {K} or 1 factors, got {C}")
    out = cuda.device_array((N, K), dtype=dtype)
    if K == 0:
        return out
    norm = cuda.device_array(C, dtype=np.float64)
    _full_norm_kernel[launch(C)](Pa.device(), norm)
    if N:
        _full_kernel[launch(N * K)](Xa.device(), Ma.device(), Pa.device(), norm, out)
    return out


# ---------------------------------------------------------------------------------------------
# Poisson


@cuda.jit
def _poisson_params_kernel(lam, loglam, lamsum):
    """loglam[k, d] = log lam[k, d] (log 0 = -inf); lamsum[k] = sum_d lam[k, d]."""
    k = cuda.grid(1)
    if k >= lam.shape[0]:
        return
    s = 0.0
    for d in range(lam.shape[1]):
        v = _f64(lam[k, d])
        loglam[k, d] = safe_log(v)
        s += v
    lamsum[k] = s


@cuda.jit
def _poisson_rows_kernel(X, lgam):
    """lgam[n] = sum_d lgamma(x[n, d] + 1)."""
    n = cuda.grid(1)
    if n >= X.shape[0]:
        return
    s = 0.0
    for d in range(X.shape[1]):
        s += math.lgamma(_f64(X[n, d]) + 1.0)
    lgam[n] = s


@cuda.jit
def _poisson_kernel(X, loglam, lamsum, lgam, out):
    """out[n, k] = sum_d x log lam - sum_d lam - sum_d lgamma(x + 1), with 0 log 0 = 0."""
    tid = cuda.grid(1)
    N = out.shape[0]
    K = out.shape[1]
    if tid >= N * K:
        return
    n = tid // K
    k = tid - n * K
    s = 0.0
    for d in range(X.shape[1]):
        x = _f64(X[n, d])
        if x != 0.0:
            s += x * loglam[k, d]
    out[n, k] = s - lamsum[k] - lgam[n]


def poisson_logprob(X, lambdas):
    """T[N, K]: sum_d x log(lam) - lam - lgamma(x + 1) (independent Poisson counts)."""
    Xa = DevArg(X, "X", 2)
    dtype = Xa.float_dtype()
    N, D = Xa.shape
    La = checked(lambdas, "lambdas", dtype, -1, D)
    K = La.shape[0]
    out = cuda.device_array((N, K), dtype=dtype)
    if K == 0 or N == 0:
        return out
    loglam = scratch((K, D), np.float64)
    lamsum = cuda.device_array(K, dtype=np.float64)
    lgam = cuda.device_array(N, dtype=np.float64)
    Xd = Xa.device()
    _poisson_params_kernel[launch(K)](La.device(), loglam, lamsum)
    _poisson_rows_kernel[launch(N)](Xd, lgam)
    _poisson_kernel[launch(N * K)](Xd, loglam, lamsum, lgam, out)
    return out
