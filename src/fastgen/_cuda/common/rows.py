"""Device helpers of the data-dependent initialisations and value checks: data that arrived on the
GPU are shifted, one-hot encoded, grouped and searched there, and only K- or D-sized results (or
one index) come back to the host. ``fastgen._reductions`` is their one caller and holds their
NumPy twins; the sums themselves run in the shared kernels (``emissions.weighted_moments``).

- ``shift_rows(X, shift, dtype)``: X - shift (one row vector), formed in float64 and rounded to
  `dtype` once, as the host's ``(X - shift).astype(dtype)``.
- ``one_hot(labels, n_classes, dtype)``: W[n, k] = 1 where labels[n] == k, else 0.
- ``group_rows(X, labels, n_groups)``: the rows of X ordered by label, each label's rows in their
  original order, and the host offsets (int64[n_groups + 1]) of each label's block.
- ``argmax(x, sign)``: the flat index of the largest sign * x (ties: the last index).
- ``largest(x, n)``: the flat indices of the n largest values, largest first, ties to the later
  index (NumPy's ``np.argsort(x, kind="stable")[::-1][:n]``).
- ``first_difference(a, b)``: the flat index of the first a != b, or -1.

Every input is a C-contiguous device array; every loop over rows runs in row order, so results
do not depend on the launch (no floating-point atomics).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .args import launch
from .arrays import _as_device, as_contiguous, copy

_CHUNK = 64              # elements per thread of the argmax stages
_MAX_GROUP_CHUNKS = 4096  # bounds the serial loop over chunks of group_rows' offsets


@cuda.jit
def _shift_kernel(X, shift, out):
    i = cuda.grid(1)
    D = X.shape[1]
    if i < X.shape[0] * D:
        n = i // D
        d = i - n * D
        out[n, d] = X[n, d] - shift[d]   # shift is float64: the difference is formed in float64


def shift_rows(X, shift, dtype):
    """X - shift as a new C-contiguous device array of `dtype` (X: device T[N, D], shift: host float64[D])."""
    X = _as_device(X)
    out = cuda.device_array(X.shape, dtype=np.dtype(dtype))
    if X.size:
        _shift_kernel[launch(X.size)](X, cuda.to_device(np.ascontiguousarray(shift, dtype=np.float64)), out)
    return out


@cuda.jit
def _one_hot_kernel(labels, out):
    i = cuda.grid(1)
    K = out.shape[1]
    if i < out.shape[0] * K:
        n = i // K
        k = i - n * K
        out[n, k] = 1.0 if labels[n] == k else 0.0


def one_hot(labels, n_classes, dtype):
    """W dtype[N, n_classes] with W[n, labels[n]] = 1 (labels: device int64[N])."""
    labels = _as_device(labels)
    out = cuda.device_array((labels.shape[0], int(n_classes)), dtype=np.dtype(dtype))
    if out.size:
        _one_hot_kernel[launch(out.size)](labels, out)
    return out


@cuda.jit
def _group_count_kernel(labels, chunk, counts):
    """counts[c, g]: rows of chunk c with label g (one thread per chunk)."""
    c = cuda.grid(1)
    if c >= counts.shape[0]:
        return
    G = counts.shape[1]
    for g in range(G):
        counts[c, g] = 0
    for n in range(c * chunk, min(labels.shape[0], c * chunk + chunk)):
        g = labels[n]
        if g >= 0 and g < G:
            counts[c, g] += 1


@cuda.jit
def _group_start_kernel(counts, totals):
    """counts[c, g] becomes the rows of label g in chunks before c; totals[g] all of them (one thread per g)."""
    g = cuda.grid(1)
    if g >= counts.shape[1]:
        return
    acc = 0
    for c in range(counts.shape[0]):
        here = counts[c, g]
        counts[c, g] = acc
        acc += here
    totals[g] = acc


@cuda.jit
def _group_scatter_kernel(X, labels, chunk, cursor, offsets, out):
    """Each chunk's rows, in order, to offsets[g] + cursor[c, g]; the thread of chunk c owns cursor[c, :]."""
    c = cuda.grid(1)
    if c >= cursor.shape[0]:
        return
    for n in range(c * chunk, min(labels.shape[0], c * chunk + chunk)):
        g = labels[n]
        if g >= 0 and g < cursor.shape[1]:
            dest = offsets[g] + cursor[c, g]
            cursor[c, g] += 1
            for d in range(X.shape[1]):
                out[dest, d] = X[n, d]


def group_rows(X, labels, n_groups):
    """(rows of X grouped by label, host int64 offsets[n_groups + 1]): label g's rows are
    out[offsets[g]:offsets[g + 1]], in their order in X. Rows whose label is outside
    [0, n_groups) are left out."""
    X, labels = _as_device(X), _as_device(labels)
    N, G = labels.shape[0], int(n_groups)
    chunk = max(_CHUNK, -(-N // _MAX_GROUP_CHUNKS))
    n_chunks = max(1, -(-N // chunk))
    counts = cuda.device_array((n_chunks, G), dtype=np.int64)
    totals = cuda.device_array(G, dtype=np.int64)
    _group_count_kernel[launch(n_chunks)](labels, chunk, counts)
    _group_start_kernel[launch(G)](counts, totals)
    offsets = np.concatenate([[0], np.cumsum(totals.copy_to_host())]).astype(np.int64)
    out = cuda.device_array((int(offsets[-1]),) + tuple(X.shape[1:]), dtype=X.dtype)
    if N:
        _group_scatter_kernel[launch(n_chunks)](X, labels, chunk, counts, cuda.to_device(offsets), out)
    return out, offsets


@cuda.jit
def _argmax_first_kernel(x, sign, vals, idx):
    """vals/idx[c]: the largest sign * x over x[c * _CHUNK:(c + 1) * _CHUNK], the last such index."""
    c = cuda.grid(1)
    if c >= vals.shape[0]:
        return
    start = c * _CHUNK
    best = sign * float(x[start])
    bi = start
    for i in range(start + 1, min(x.shape[0], start + _CHUNK)):
        v = sign * float(x[i])
        if v >= best:
            best = v
            bi = i
    vals[c] = best
    idx[c] = bi


@cuda.jit
def _argmax_next_kernel(vin, iin, vals, idx):
    """The same over the previous stage's (value, index) pairs, whose indices increase."""
    c = cuda.grid(1)
    if c >= vals.shape[0]:
        return
    start = c * _CHUNK
    best = vin[start]
    bi = iin[start]
    for i in range(start + 1, min(vin.shape[0], start + _CHUNK)):
        if vin[i] >= best:
            best = vin[i]
            bi = iin[i]
    vals[c] = best
    idx[c] = bi


def argmax(x, sign=1.0):
    """Flat index of the largest sign * x (sign -1: the smallest x); ties: the last index. x must
    hold no NaN. Stages of _CHUNK elements per thread until one remains; one integer back."""
    x = _as_device(x)
    flat = x.reshape(x.size)
    n_out = -(-flat.shape[0] // _CHUNK)
    vals = cuda.device_array(n_out, dtype=np.float64)
    idx = cuda.device_array(n_out, dtype=np.int64)
    _argmax_first_kernel[launch(n_out)](flat, float(sign), vals, idx)
    while vals.shape[0] > 1:
        n_out = -(-vals.shape[0] // _CHUNK)
        nv, ni = cuda.device_array(n_out, dtype=np.float64), cuda.device_array(n_out, dtype=np.int64)
        _argmax_next_kernel[launch(n_out)](vals, idx, nv, ni)
        vals, idx = nv, ni
    return int(idx.copy_to_host()[0])


@cuda.jit
def _set_kernel(x, i, v):
    if cuda.grid(1) == 0:
        x[i] = v


def largest(x, n):
    """Host int64[n]: the flat indices of the n largest values of x (no NaN), largest first, equal
    values by decreasing index: argmax on a float64 copy, each winner then set to -inf."""
    x = _as_device(x)
    work = as_contiguous(x.reshape(x.size), np.float64)
    if x.dtype == np.float64:   # no cast was made: a copy of our own to overwrite
        work = copy(work)
    out = np.empty(int(n), dtype=np.int64)
    for j in range(int(n)):
        out[j] = argmax(work)
        _set_kernel[1, 1](work, out[j], -math.inf)
    return out


@cuda.jit
def _first_difference_kernel(a, b, out):
    i = cuda.grid(1)
    if i < a.shape[0] and a[i] != b[i]:
        cuda.atomic.min(out, 0, i)


def first_difference(a, b) -> int:
    """The flat index of the first element where the equally shaped device arrays a and b differ; -1 if none."""
    a, b = _as_device(a), _as_device(b)
    if a.size == 0:
        return -1
    out = cuda.to_device(np.array([np.iinfo(np.int64).max], dtype=np.int64))
    _first_difference_kernel[launch(a.size)](a.reshape(a.size), b.reshape(b.size), out)
    i = int(out.copy_to_host()[0])
    return -1 if i == np.iinfo(np.int64).max else i
