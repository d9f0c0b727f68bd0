"""Decoding of categorical outputs on CUDA (Numba); contract in ``csrc/KERNELS.md``, "Decoding
categorical outputs"; CPU twin ``csrc/autoregressive/decoding.hpp``.

- ``sample_logits(logits T[N, V], temperature, top_k, top_p, greedy, seed, stream) -> int64[N]``

One block of ``NT`` threads per row (rows in a grid-stride loop), with no sort and no scratch in
global memory: the block device function ``draw_row`` (which the MADE sampler calls for its
categorical outputs) makes a few passes over the row, each a strided loop and a fixed-tree block
reduction in shared memory (deterministic, so a row's token never depends on the launch):

1. x_max, the first index holding it, and a NaN/+inf count (greedy returns here).
2. Top-k and top-p cuts by quickselect on the rank order (larger logit first, ties by lower index):
   the candidates between the current bounds are split at a pivot, the candidate of highest
   priority (a fixed hash of the token index, so the expected number of rounds is about
   2 ln(candidates), whatever the logits); one pass gives the pivot's count or weight and both
   halves' next pivots. Top-k counts tokens; top-p adds the weights w = exp(-(x_max - x) / T)
   (float64, recomputed in each pass rather than stored: V may be 50,000 and more).
3. The inverse CDF in index order: each thread sums its contiguous chunk of the kept tokens, thread
   0 scans the chunk sums, each thread walks its chunk from its prefix, the lowest hit wins.

Sums run in another order than the CPU's, so a token can differ only when u or top_p lies within
rounding of a boundary.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda

from ..common.args import DevArg
from ..common.philox import key_words, stream_uniform
from ..common.widen import f64 as _f64

__all__ = ["sample_logits"]

NT = 8 if numba.config.ENABLE_CUDASIM else 256  # threads per row (a power of two); the most draw_row takes
BAD_LOGIT = -1    # as decoding::kBadLogit
ALL_MASKED = -2   # as decoding::kAllMasked
_MAX_W_EXPONENT = 708.0  # w = 0 beyond e^-708, as the CPU's (only subnormal weights are dropped)
_M32 = np.uint64(0xFFFFFFFF)
_H1 = np.uint64(0x7FEB352D)
_H2 = np.uint64(0x846CA68B)
_S15 = np.uint64(15)
_S16 = np.uint64(16)
_TWO31 = np.int64(1 << 31)


@cuda.jit(device=True)
def priority(i):
    """Pivot priority of token i (lowbias32 hash: a bijection of 32-bit words, so priorities are
    distinct) packed with the index: hash * 2^31 + i, an int64 whose max names one token."""
    h = np.uint64(i) & _M32
    h ^= h >> _S16
    h = (h * _H1) & _M32
    h ^= h >> _S15
    h = (h * _H2) & _M32
    h ^= h >> _S16
    return np.int64(h) * _TWO31 + np.int64(i)


@cuda.jit(device=True)
def before(x, a, b):
    """Token a ranks strictly before token b."""
    xa = x[a]
    xb = x[b]
    return xa > xb or (xa == xb and a < b)


@cuda.jit(device=True)
def weight(xi, xmax, temperature):
    """w = exp(-(x_max - x) / T) in float64; 0 beyond e^-708 and for -inf."""
    d = (xmax - _f64(xi)) / temperature
    if d > _MAX_W_EXPONENT:
        return 0.0
    return math.exp(-d)


@cuda.jit(device=True)
def block_sum(v, red):
    """Sum of v over the block (fixed tree in shared red[blockDim]); every thread gets it."""
    tid = cuda.threadIdx.x
    red[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            red[tid] += red[tid + s]
        cuda.syncthreads()
        s //= 2
    r = red[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _reduce3(v, a, b, red, ia, ib):
    """(sum of v, max of a, max of b) over the block, in one tree."""
    tid = cuda.threadIdx.x
    red[tid] = v
    ia[tid] = a
    ib[tid] = b
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            red[tid] += red[tid + s]
            ia[tid] = max(ia[tid], ia[tid + s])
            ib[tid] = max(ib[tid], ib[tid + s])
        cuda.syncthreads()
        s //= 2
    r = (red[0], ia[0], ib[0])
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _row_max(x, V, red, ia):
    """(x_max widened to float64, its first index, number of NaN/+inf) over the block."""
    tid = cuda.threadIdx.x
    m = -math.inf
    mi = V
    bad = 0.0
    for i in range(tid, V, cuda.blockDim.x):
        v = _f64(x[i])
        if v != v or v == math.inf:
            bad += 1.0
        elif v > m or (v == m and i < mi):
            m = v
            mi = i
    red[tid] = m
    ia[tid] = mi
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            o = tid + s
            if red[o] > red[tid] or (red[o] == red[tid] and ia[o] < ia[tid]):
                red[tid] = red[o]
                ia[tid] = ia[o]
        cuda.syncthreads()
        s //= 2
    xm = red[0]
    im = ia[0]
    cuda.syncthreads()
    return xm, im, block_sum(bad, red)


@cuda.jit(device=True)
def _in_set(x, i, xmax, temperature, th):
    """Weight of token i if it has w > 0 and does not rank after token th (th < 0: no bound), else 0."""
    w = weight(x[i], xmax, temperature)
    if w > 0.0 and th >= 0 and before(x, th, i):
        return 0.0
    return w


@cuda.jit(device=True)
def _cut(x, V, xmax, temperature, th_base, by_mass, target, red, ia, ib):
    """Quickselect on the rank order over the set B = {w > 0, not after th_base}: the token th such
    that the tokens of B up to th (in rank order) are the shortest prefix whose count (by_mass False)
    or weight (True) reaches target; -1 when that is all of B. Invariant: the prefix up to lo
    (exclusive bound, -1: empty) falls short (acc), the prefix up to hi reaches the target."""
    tid = cuda.threadIdx.x
    best = np.int64(-1)
    for i in range(tid, V, cuda.blockDim.x):
        if _in_set(x, i, xmax, temperature, th_base) > 0.0:
            best = max(best, priority(i))
    _, piv_key, _ = _reduce3(0.0, best, np.int64(-1), red, ia, ib)
    lo = -1
    hi = -1
    acc = 0.0
    while piv_key >= 0:
        piv = piv_key % _TWO31
        m = 0.0
        left = np.int64(-1)
        right = np.int64(-1)
        for i in range(tid, V, cuda.blockDim.x):
            w = _in_set(x, i, xmax, temperature, th_base)
            if w > 0.0 and (lo < 0 or before(x, lo, i)):
                if not before(x, piv, i):          # i up to the pivot: counted
                    m += w if by_mass else 1.0
                    if i != piv:
                        left = max(left, priority(i))
                elif hi < 0 or before(x, i, hi):   # strictly between the pivot and hi
                    right = max(right, priority(i))
        m, left, right = _reduce3(m, left, right, red, ia, ib)
        if acc + m >= target:
            hi = piv
            piv_key = left
        else:
            acc += m
            lo = piv
            piv_key = right
    return hi


@cuda.jit(device=True)
def draw_row(x, V, temperature, top_k, top_p, greedy, u, red, scan, ia, ib):
    """One draw from the logits x[0:V] (any 1-D array view) with uniform u, made by the whole block
    (every thread gets the result): the token index, or BAD_LOGIT / ALL_MASKED. Shared scratch:
    red, scan float64[>= blockDim], ia, ib int64[>= blockDim]. The block size must be a power of two."""
    tid = cuda.threadIdx.x
    xmax, imax, bad = _row_max(x, V, red, ia)
    if bad > 0.0:
        return BAD_LOGIT
    if xmax == -math.inf:
        return ALL_MASKED
    if greedy or V == 1:
        return imax
    npos = 0.0
    for i in range(tid, V, cuda.blockDim.x):
        if weight(x[i], xmax, temperature) > 0.0:
            npos += 1.0
    npos = block_sum(npos, red)
    k_on = top_k > 0 and top_k < npos
    p_on = top_p < 1.0 and npos > 1.0 and not (k_on and top_k == 1)
    th = -1
    if k_on:
        th = _cut(x, V, xmax, temperature, -1, False, float(top_k), red, ia, ib)
    if p_on:
        s = 0.0
        for i in range(tid, V, cuda.blockDim.x):
            s += _in_set(x, i, xmax, temperature, th)
        s = block_sum(s, red)
        th_p = _cut(x, V, xmax, temperature, th, True, top_p * s, red, ia, ib)
        if th_p >= 0:
            th = th_p
    # inverse CDF over the kept tokens in index order, by contiguous chunks
    nt = cuda.blockDim.x
    chunk = (V + nt - 1) // nt
    i0 = min(V, tid * chunk)
    i1 = min(V, i0 + chunk)
    local = 0.0
    last = np.int64(-1)
    for i in range(i0, i1):
        w = _in_set(x, i, xmax, temperature, th)
        if w > 0.0:
            local += w
            last = i
    scan[tid] = local
    cuda.syncthreads()
    if tid == 0:
        c = 0.0
        for j in range(nt):
            v = scan[j]
            scan[j] = c
            c += v
        red[0] = c
    cuda.syncthreads()
    t = u * red[0]
    c = scan[tid]
    cuda.syncthreads()
    found = np.int64(-1)
    if t < c + local:
        for i in range(i0, i1):
            w = _in_set(x, i, xmax, temperature, th)
            if w > 0.0:
                c += w
                if t < c:
                    found = i
                    break
    # lowest hit (negated for the max tree), else the last kept token
    _, neg_found, last = _reduce3(0.0, -found if found >= 0 else np.int64(-(V + 1)), last, red, ia, ib)
    if neg_found > -(V + 1):
        return -neg_found
    return last


@cuda.jit
def _sample_kernel(logits, temperature, top_k, top_p, greedy, k0, k1, s0, s1, out):
    red = cuda.shared.array(NT, numba.float64)
    scan = cuda.shared.array(NT, numba.float64)
    ia = cuda.shared.array(NT, numba.int64)
    ib = cuda.shared.array(NT, numba.int64)
    N, V = logits.shape
    for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
        u = stream_uniform(k0, k1, s0, s1, np.uint64(n))
        r = draw_row(logits[n], V, temperature, top_k, top_p, greedy, u, red, scan, ia, ib)
        if cuda.threadIdx.x == 0:
            out[n] = r


def check_filter(temperature, top_k, top_p):
    """The contract's domains (ValueError naming the argument), as decoding::check_filter."""
    t, k, p = float(temperature), int(top_k), float(top_p)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature: must be finite and > 0 (greedy decoding is the argmax), got {t}")
    if k < 0:
        raise ValueError(f"top_k: must be >= 0 (0: off), got {k}")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p: must lie in (0, 1] (1: off), got {p}")
    return t, k, p


def raise_bad_rows(codes, what="logits: row"):
    """ValueError for the first negative code of a host int64 array (as the C++ binding)."""
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        n = int(bad[0])
        if codes[n] == BAD_LOGIT:
            raise ValueError(f"{what} {n} holds NaN or +inf")
        raise ValueError(f"{what} {n} is all -inf (every token masked)")


def sample_logits(logits, temperature, top_k, top_p, greedy, seed, stream):
    """int64[N] (device array): one token per row of logits [N, V]; row n uses u[n] of the stream."""
    t, k, p = check_filter(temperature, top_k, top_p)
    X = DevArg(logits, "logits", 2)
    X.float_dtype()
    N, V = X.shape
    if V < 1:
        raise ValueError(f"logits: need at least one token per row, got shape ({N}, {V})")
    if V >= 1 << 31:
        raise ValueError(f"logits: at most 2^31 - 1 tokens per row, got {V}")
    k0, k1, s0, s1 = key_words(seed, stream)
    out = cuda.device_array(N, dtype=np.int64)
    if N == 0:
        return out
    grid = min(N, 65535)
    _sample_kernel[grid, NT](X.device(), t, np.int64(k), p, bool(greedy), k0, k1, s0, s1, out)
    raise_bad_rows(out.copy_to_host())
    return out
