"""Row assembly on the device and the importance-weighted bound: the CUDA twin of ``csrc/nn/batches.hpp``
(contract: ``csrc/KERNELS.md``, "Neural networks", "Row assembly and the importance-weighted bound").

- ``take_rows(A, rows) -> T[M, d]``: A[rows] (a shuffled minibatch set, a few rows of a series).
- ``repeat_join(A, B, ka, kb) -> T[N_A ka, a + b]``: row r = [A[r // ka] | B[r // kb]] (label
  columns joined to the inputs, rows repeated for importance sampling); B None: no columns.
- ``iwae_bound(nll, H, Zs, eps, k) -> float64[N]``: log (1/k) sum_j exp(lw_j) per row, one thread
  per row, its sums in float64 in index order (as on the CPU; exp and log are libdevice's).

Inputs are NumPy arrays (copied once) or device arrays (used in place); results are device arrays.
A row index outside [0, N) is never read: the kernel flags the first such position and the call
raises ValueError naming it, as the C++ binding does.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..common.args import DevArg, integer, launch1, matrix, vector
from ..common.widen import f64

__all__ = ["take_rows", "repeat_join", "iwae_bound"]


def _float_matrix(a, name):
    arg = DevArg(a, name, 2)
    arg.float_dtype()
    return arg


@cuda.jit
def _take_rows(A, rows, width, out, bad):
    """Thread i: element (i // width, i % width) of out; width = max(d, 1), so d = 0 still checks."""
    i = cuda.grid(1)
    M = rows.shape[0]
    if i >= M * width:
        return
    r = i // width
    c = i % width
    src = rows[r]
    if src < 0 or src >= A.shape[0]:
        if c == 0:
            cuda.atomic.min(bad, 0, r)
        return
    if c < A.shape[1]:
        out[r, c] = A[src, c]


def take_rows(A, rows):
    """A[rows]: T[M, d] for rows int64[M] in [0, N)."""
    Ra = vector(rows, "rows", np.int64)
    Aa = _float_matrix(A, "A")
    N, d = Aa.shape
    M = Ra.shape[0]
    out = cuda.device_array((M, d), dtype=Aa.dtype)
    if M == 0:
        return out
    bad = cuda.to_device(np.array([M], dtype=np.int64))
    width = max(d, 1)
    rows_dev = Ra.device()
    _take_rows[launch1(M * width)](Aa.device(), rows_dev, width, out, bad)
    first = int(bad.copy_to_host()[0])
    if first < M:
        raise ValueError(f"rows: index {int(rows_dev[first])} at position {first} outside [0, {N})")
    return out


@cuda.jit
def _repeat_join(A, ka, B, kb, out):
    i = cuda.grid(1)
    w = out.shape[1]
    if i >= out.shape[0] * w:
        return
    r = i // w
    c = i % w
    a = A.shape[1]
    if c < a:
        out[r, c] = A[r // ka, c]
    else:
        out[r, c] = B[r // kb, c - a]


def repeat_join(A, B, ka, kb):
    """Row r = [A[r // ka] | B[r // kb]]: T[N_A ka, a + b] (B None: no columns)."""
    ka, kb = integer(ka, "ka", low=1), integer(kb, "kb", low=1)
    Aa = _float_matrix(A, "A")
    T = Aa.dtype
    M = Aa.shape[0] * ka
    if B is None:
        Bd, wb = cuda.device_array((1, 1), dtype=T), 0   # never read (no columns of B)
    else:
        Ba = DevArg(B, "B", 2)
        Ba.expect_dtype(T)
        if Ba.shape[0] * kb != M:
            raise ValueError(f"B: needs {M} / kb = {M // kb} rows (A's {Aa.shape[0]} rows x ka = {ka}, kb = {kb}), "
                             f"got shape ({Ba.shape[0]}, {Ba.shape[1]})")
        Bd, wb = Ba.device(), Ba.shape[1]
    out = cuda.device_array((M, Aa.shape[1] + wb), dtype=T)
    if out.size:
        _repeat_join[launch1(out.size)](Aa.device(), ka, Bd, kb, out)
    return out


@cuda.jit(device=True)
def _log_weight(nll, H, Zs, eps, K, n, r):
    s = 0.0
    for i in range(K):
        e = f64(eps[r, i])
        z = f64(Zs[r, i])
        s += (f64(H[n, K + i]) + e * e) - z * z
    return -f64(nll[r]) + 0.5 * s


@cuda.jit
def _iwae_bound(nll, H, Zs, eps, k, out):
    """Thread n: row n's bound from its k log-weights (computed twice: for the maximum, then the sum)."""
    n = cuda.grid(1)
    if n >= out.shape[0]:
        return
    K = Zs.shape[1]
    top = -math.inf
    nan = False
    for j in range(k):
        w = _log_weight(nll, H, Zs, eps, K, n, n * k + j)
        if math.isnan(w):
            nan = True
        elif w > top:
            top = w
    if nan:
        out[n] = math.nan
    elif math.isinf(top):
        out[n] = top
    else:
        s = 0.0
        for j in range(k):
            s += math.exp(_log_weight(nll, H, Zs, eps, K, n, n * k + j) - top)
        out[n] = top + math.log(s / k)


def iwae_bound(nll, H, Zs, eps, k):
    """float64[N]: log (1/k) sum_j exp(lw_j) of each row's k log-weights (KERNELS.md)."""
    k = integer(k, "k", low=1)
    Ha = _float_matrix(H, "H")
    T = Ha.dtype
    N, K2 = Ha.shape
    if K2 % 2 or K2 == 0:
        raise ValueError(f"H: expected [mu | log_var] with an even, nonzero width, got shape ({N}, {K2})")
    K, M = K2 // 2, N * k
    La = vector(nll, "nll", T, M)
    Za = matrix(Zs, "Zs", T, M, K)
    Ea = matrix(eps, "eps", T, M, K)
    out = cuda.device_array(N, dtype=np.float64)
    if N:
        _iwae_bound[launch1(N)](La.device(), Ha.device(), Za.device(), Ea.device(), k, out)
    return out
