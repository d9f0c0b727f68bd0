"""Small device functions and kernels that several ``fastgen._cuda`` families use: ``safe_log``
(float64 log with log 0 = -inf and NaN below 0), ``transpose_kernel`` (At = A^T, one thread per
element) and ``zero_kernel`` (a flat array set to 0)."""
from __future__ import annotations

import math

from numba import cuda

_NEG_INF = -math.inf
_NAN = math.nan


@cuda.jit(device=True)
def safe_log(x):
    """log(x) with log(0) = -inf and NaN for x < 0 (the simulator's math.log raises instead)."""
    if x > 0.0:
        return math.log(x)
    if x == 0.0:
        return _NEG_INF
    return _NAN


@cuda.jit
def transpose_kernel(A, At):
    """At[c, r] = A[r, c]; thread tid < R * C takes element (tid // C, tid % C)."""
    tid = cuda.grid(1)
    R = A.shape[0]
    C = A.shape[1]
    if tid < R * C:
        r = tid // C
        c = tid - r * C
        At[c, r] = A[r, c]


@cuda.jit
def zero_kernel(a):
    """a[i] = 0 for the flat array a."""
    i = cuda.grid(1)
    if i < a.size:
        a[i] = 0
