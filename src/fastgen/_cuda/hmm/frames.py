"""HMM frame preparation and bookkeeping kernels on CUDA: sequence bounds (``seq_bounds``,
``seq_of``), the shifted exps of the scaled recursion, the float64 logs of the parameters, and the
row gathers/scatters of the log-domain redo (package docstring, steps 1 and 5)."""
from __future__ import annotations

import math

from numba import cuda

from ..common.kernels import safe_log
from ..common.widen import f64 as _f64

_NEG_INF = -math.inf
_DBL_MIN = 2.2250738585072014e-308


@cuda.jit(device=True)
def seq_bounds(offsets, s, N):
    """Rows [b, e) of sequence s, clamped into [0, N] (device offsets are not validated)."""
    b = offsets[s]
    e = offsets[s + 1]
    if b < 0:
        b = 0
    if b > N:
        b = N
    if e > N:
        e = N
    if e < b:
        e = b
    return b, e


@cuda.jit(device=True)
def seq_of(offsets, n_seq, n):
    """The largest s in [0, n_seq) with offsets[s] <= n (binary search)."""
    lo = 0
    hi = n_seq - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offsets[mid] <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------------------------
# Parameter and frame preparation


@cuda.jit
def _shift_exp_kernel(lp, E, m):
    """m[n] = max_k lp[n, k]; E[n, k] = exp(lp[n, k] - m[n]) (an all -inf row: m = -inf, E = 0)."""
    n = cuda.grid(1)
    if n >= lp.shape[0]:
        return
    K = lp.shape[1]
    mx = _NEG_INF
    for k in range(K):
        v = _f64(lp[n, k])
        if v > mx:
            mx = v
    m[n] = mx
    if mx == _NEG_INF:
        for k in range(K):
            E[n, k] = 0.0
    else:
        for k in range(K):
            E[n, k] = math.exp(_f64(lp[n, k]) - mx)


@cuda.jit
def _log_params_kernel(pi, A, logpi, logA, logAT):
    """float64 logs of the start and transition probabilities (log 0 = -inf), and logA^T."""
    tid = cuda.grid(1)
    K = pi.shape[0]
    if tid < K * K:
        i = tid // K
        j = tid - i * K
        v = safe_log(_f64(A[i, j]))
        logA[i, j] = v
        logAT[j, i] = v
    if tid < K:
        logpi[tid] = safe_log(_f64(pi[tid]))


@cuda.jit
def _gather_rows_kernel(src, rows, dst):
    """dst[r, k] = src[rows[r], k]."""
    tid = cuda.grid(1)
    K = dst.shape[1]
    if tid < dst.shape[0] * K:
        r = tid // K
        k = tid - r * K
        dst[r, k] = src[rows[r], k]


@cuda.jit
def _scatter_rows_kernel(src, rows, dst):
    """dst[rows[r], k] = src[r, k]."""
    tid = cuda.grid(1)
    K = src.shape[1]
    if tid < src.shape[0] * K:
        r = tid // K
        k = tid - r * K
        dst[rows[r], k] = src[r, k]


@cuda.jit
def _scatter_kernel(src, idx, dst):
    """dst[idx[r]] = src[r]."""
    r = cuda.grid(1)
    if r < src.shape[0]:
        dst[idx[r]] = src[r]


@cuda.jit
def _add_kernel(src, dst):
    """dst[i, j] += src[i, j]."""
    tid = cuda.grid(1)
    K = dst.shape[1]
    if tid < dst.shape[0] * K:
        i = tid // K
        j = tid - i * K
        dst[i, j] += src[i, j]
