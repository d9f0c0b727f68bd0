"""HMM sampling on CUDA: ``sample_states`` (the stream's uniforms drawn in parallel, then one
thread walks the chain by inverse CDF) and ``sample_poisson`` (one thread per element, exact
inverse CDF searched from the mode), as KERNELS.md."""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..common.widen import f64 as _f64

_NEG_INF = -math.inf
_DBL_MIN = 2.2250738585072014e-308

from ..common.args import checked, DevArg, launch
from ..common.philox import key_words, stream_uniform, uniform_kernel


@cuda.jit
def _chain_kernel(pi, A, u, out):
    """One thread: z_0 from pi with u[0], z_t from A[z_{t-1}] with u[t] (inverse CDF; past the
    total, the last state with p > 0)."""
    if cuda.grid(1) != 0:
        return
    K = pi.shape[0]
    prev = 0
    for t in range(out.shape[0]):
        ut = u[t]
        acc = 0.0
        last = 0
        z = -1
        for k in range(K):
            p = _f64(pi[k]) if t == 0 else _f64(A[prev, k])
            if p > 0.0:
                last = k
            acc += p
            if ut < acc:
                z = k
                break
        if z < 0:
            z = last
        out[t] = z
        prev = z


@cuda.jit(device=True)
def _poisson_inverse_cdf(lam, u):
    """Exact inverse-CDF Poisson draw from one uniform, searched from the mode (KERNELS.md)."""
    if not (lam > 0.0 and lam < math.inf):
        return 0
    mode = math.floor(lam)
    pm = math.exp(mode * math.log(lam) - lam - math.lgamma(mode + 1.0))
    F = pm
    p = pm
    j = float(mode)
    while j > 0.0:  # F(mode) = sum_{j <= mode} p(j), summed downward
        p *= j / lam
        F += p
        if p < 1e-17 * F:
            break
        j -= 1.0
    k = int(mode)
    p = pm
    if u <= F:
        while k > 0 and u <= F - p:
            F -= p
            p *= float(k) / lam
            k -= 1
    else:
        limit = k + int(40.0 * math.sqrt(lam)) + 100
        while u > F and k < limit:
            p *= lam / float(k + 1)
            k += 1
            F += p
    return k


@cuda.jit
def _poisson_kernel(lam, k0, k1, s0, s1, out):
    i = cuda.grid(1)
    D = lam.shape[1]
    if i >= lam.shape[0] * D:
        return
    n = i // D
    d = i - n * D
    u = stream_uniform(k0, k1, s0, s1, np.uint64(i))
    out[n, d] = _poisson_inverse_cdf(_f64(lam[n, d]), u)


def sample_states(startprob, transmat, n_samples, seed, stream):
    """int64[n_samples]: a Markov chain drawn with the stream's uniforms u[0:n_samples]."""
    Pi = DevArg(startprob, "startprob", 1)
    dtype = Pi.float_dtype()
    K = Pi.shape[0]
    if K < 1:
        raise ValueError("startprob: need at least one state")
    A = checked(transmat, "transmat", dtype, K, K)
    n = int(n_samples)
    if n < 0:
        raise ValueError(f"n_samples: must be >= 0, got {n}")
    k0, k1, s0, s1 = key_words(seed, stream)
    out = cuda.device_array(n, dtype=np.int64)
    if n == 0:
        return out
    u = cuda.device_array(n, dtype=np.float64)
    uniform_kernel[launch((n + 1) // 2)](k0, k1, s0, s1, np.uint64(0), 0, u)
    _chain_kernel[1, 1](Pi.device(), A.device(), u, out)
    return out


def sample_poisson(lambdas, seed, stream):
    """int64[N, D]: element (n, d) drawn from u[n*D + d] by exact inverse CDF."""
    La = DevArg(lambdas, "lambdas", 2)
    La.float_dtype()
    N, D = La.shape
    k0, k1, s0, s1 = key_words(seed, stream)
    out = cuda.device_array((N, D), dtype=np.int64)
    if N * D:
        _poisson_kernel[launch(N * D)](La.device(), k0, k1, s0, s1, out)
    return out
