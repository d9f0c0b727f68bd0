"""EM sufficient statistics and mixture emissions on CUDA (Numba); contract in ``csrc/KERNELS.md``.

Same names, arguments and results as ``fastgen._core`` (``csrc/emissions/stats.hpp``, ``csrc/emissions/logsumexp.hpp``):

- ``weighted_moments(X, weights, order) -> (w_sum, wx, wxx or None)``
- ``categorical_counts(X, weights, n_symbols) -> counts``
- ``sum_rows(values, rows) -> sums``
- ``mixture_logprob(comp_logprob, log_weights) -> logprob``
- ``mixture_posteriors(comp_logprob, log_weights, state_post) -> posteriors``

Inputs are NumPy arrays (copied to the device once) or objects with ``__cuda_array_interface__``
(used in place; they must be C-contiguous). Results are Numba device arrays of the input's float dtype.

Determinism: no floating-point atomics. The reductions over rows run in two kernels: the first
gives every (chunk of rows, statistic) pair one thread, which adds its chunk's rows in row order
into a float64 partial buffer ``part[chunk, ...]``; the second adds the partials in chunk order
and casts to the output dtype. The chunk length depends only on the shapes (``_chunk_rows``), never
on the device, so a given input always gives the same bits. Everything is accumulated in float64,
as the C++ kernels do; the exact bits can still differ from the CPU in the last place (the CPU's
chunks are 4096 rows, the GPU's are sized to the data, and NVVM fuses multiply-adds).

Index checks (symbols in [0, n_symbols), rows in [0, N)) run on the host for NumPy input; for
device input a small kernel finds the first bad index and one 8-byte copy reports it (the only
host round trip, and only for device-resident indices). The reduction kernels guard their own
indexing as well, so no kernel reads or writes out of bounds.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..common.args import checked, DevArg, launch
from ..common.widen import f64 as _f64

__all__ = ["weighted_moments", "categorical_counts", "sum_rows", "mixture_logprob", "mixture_posteriors"]

_NEG_INF = -math.inf
_INF = math.inf

# Chunking of the row reductions (shape-only, so results are reproducible on any device).
_TARGET_THREADS = 1 << 18  # about two waves of resident threads on an H100 (132 SMs x 2048)
_MAX_CHUNKS = 4096         # bounds the serial loop of the combine kernel
_MIN_CHUNK = 64            # rows per chunk at least (tests lower it to get several chunks cheaply)
# categorical_counts: up to this many symbols, one thread per (chunk, symbol, state) compares
# X[n] == m (broadcast reads, no memory writes in the loop); above it one thread per
# (chunk, state) scatters into its own slice of the partial buffer. Both add the same terms in the
# same order, so they give identical bits.
_COUNTS_COMPARE_MAX_SYMBOLS = 32


def _chunk_rows(n_rows: int, n_cols: int) -> int:
    """Rows per chunk: enough chunks to fill the GPU, at most _MAX_CHUNKS; a power of two."""
    want = max(_MIN_CHUNK, -(-n_rows * n_cols // _TARGET_THREADS), -(-n_rows // _MAX_CHUNKS), 1)
    return 1 << (int(want) - 1).bit_length()


# --------------------------------------------------------------------------------------------
# Host-side argument handling


def _float_dtype(arg: DevArg, name: str) -> np.dtype:
    if arg.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name}: expected float32 or float64, got {arg.dtype}")
    return arg.dtype


@cuda.jit
def _first_bad_index_kernel(idx, hi, first):
    """first[0] = min index i with idx[i] outside [0, hi) (unchanged if none)."""
    i = cuda.grid(1)
    if i < idx.shape[0]:
        v = idx[i]
        if v < 0 or v >= hi:
            cuda.atomic.min(first, 0, i)


def _check_indices(arg: DevArg, hi: int, what: str, kind: str) -> None:
    """Raise ValueError naming the first index outside [0, hi). what: message prefix."""
    n = arg.shape[0]
    if n == 0:
        return
    if arg.host is not None:
        bad = np.flatnonzero((arg.host < 0) | (arg.host >= hi))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{what} {int(arg.host[i])} at {kind} {i} outside [0, {hi})")
        return
    first = cuda.to_device(np.array([n], dtype=np.int64))
    _first_bad_index_kernel[launch(n)](arg.dev, np.int64(hi), first)
    i = int(first.copy_to_host()[0])
    if i < n:
        v = int(arg.dev[i:i + 1].copy_to_host()[0])
        raise ValueError(f"{what} {v} at {kind} {i} outside [0, {hi})")


# --------------------------------------------------------------------------------------------
# weighted_moments


@cuda.jit
def _moments_partial_kernel(X, W, order, chunk, n_chunks, part):
    """part[c, col] for one (chunk c, statistic col) per thread.

    Columns: [0, K) w_sum; [K, K + K*D) wx as (k, d); then order 1: K*D columns (k, d) of
    sum w x_d^2; order 2: K * D(D+1)/2 columns (k, i <= j) of sum w x_i x_j (upper triangle, row
    major). Consecutive threads take consecutive d (or j), so the reads of a row coalesce.
    """
    tid = cuda.grid(1)
    N = X.shape[0]
    D = X.shape[1]
    K = W.shape[1]
    stride = part.shape[1]
    if tid >= n_chunks * stride:
        return
    c = tid // stride
    col = tid - c * stride
    n0 = c * chunk
    n1 = min(N, n0 + chunk)
    KD = K * D
    acc = 0.0
    if col < K:
        k = col
        for n in range(n0, n1):
            wk = _f64(W[n, k])
            if wk != 0.0:
                acc += wk
    elif col < K + KD:
        r = col - K
        k = r // D
        d = r - k * D
        for n in range(n0, n1):
            wk = _f64(W[n, k])
            if wk != 0.0:
                acc += wk * _f64(X[n, d])
    elif order == 1:
        r = col - K - KD
        k = r // D
        d = r - k * D
        for n in range(n0, n1):
            wk = _f64(W[n, k])
            if wk != 0.0:
                xd = _f64(X[n, d])
                acc += wk * xd * xd
    else:
        tri = D * (D + 1) // 2
        r = col - K - KD
        k = r // tri
        t = r - k * tri
        i = 0
        while t >= D - i:  # row i of the packed upper triangle holds D - i entries
            t -= D - i
            i += 1
        j = i + t
        for n in range(n0, n1):
            wk = _f64(W[n, k])
            if wk != 0.0:
                a = wk * _f64(X[n, i])
                acc += a * _f64(X[n, j])
    part[c, col] = acc


@cuda.jit
def _moments_combine_kernel(part, n_chunks, K, D, order, ws, wx, wxx):
    """One output element per thread: its partials added in chunk order, then cast.

    Outputs are flat views (wx: K*D, wxx: K*D or K*D*D, row major). Order 2 reads the packed upper
    triangle for both (i, j) and (j, i), so wxx is exactly symmetric.
    """
    tid = cuda.grid(1)
    KD = K * D
    n_out = K + KD + wxx.shape[0] if order != 0 else K + KD
    if tid >= n_out:
        return
    r = tid - K - KD
    if tid < K + KD or order == 1:
        col = tid
    else:
        k = r // (D * D)
        ij = r - k * D * D
        i = ij // D
        j = ij - i * D
        if i > j:
            i, j = j, i
        col = K + KD + k * (D * (D + 1) // 2) + i * D - i * (i - 1) // 2 + (j - i)
    acc = 0.0
    for c in range(n_chunks):
        acc += part[c, col]
    if tid < K:
        ws[tid] = acc
    elif tid < K + KD:
        wx[tid - K] = acc
    else:
        wxx[r] = acc


def weighted_moments(X, weights, order):
    """(w_sum T[K], wx T[K, D], wxx) with wxx None (order 0), T[K, D] (1) or T[K, D, D] (2)."""
    order = int(order)
    if order not in (0, 1, 2):
        raise ValueError(f"order: expected 0, 1 or 2, got {order}")
    Xa = DevArg(X, "X", 2)
    dtype = _float_dtype(Xa, "X")
    N, D = Xa.shape
    Wa = checked(weights, "weights", dtype, N, -1)
    K = Wa.shape[1]

    ws = cuda.device_array((K,), dtype=dtype)
    wx = cuda.device_array((K, D), dtype=dtype)
    if order == 0:
        wxx = None
        q = 0
    elif order == 1:
        wxx = cuda.device_array((K, D), dtype=dtype)
        q = K * D
    else:
        wxx = cuda.device_array((K, D, D), dtype=dtype)
        q = K * (D * (D + 1) // 2)
    stride = K + K * D + q
    n_out = K + K * D + (0 if order == 0 else (K * D if order == 1 else K * D * D))
    if n_out == 0:
        return ws, wx, wxx

    chunk = _chunk_rows(N, stride)
    n_chunks = -(-N // chunk)
    part = cuda.device_array((max(n_chunks, 1), stride), dtype=np.float64)
    if n_chunks:
        _moments_partial_kernel[launch(n_chunks * stride)](Xa.device(), Wa.device(), order, chunk, n_chunks, part)
    # Flat views (no copies); a one-element dummy stands in for wxx at order 0.
    wxx_flat = wxx.reshape(wxx.size) if wxx is not None else cuda.device_array((1,), dtype=dtype)
    _moments_combine_kernel[launch(n_out)](part, n_chunks, K, D, order, ws, wx.reshape(K * D), wxx_flat)
    return ws, wx, wxx


# --------------------------------------------------------------------------------------------
# categorical_counts


@cuda.jit
def _counts_compare_kernel(X, W, M, chunk, n_chunks, part):
    """part[c, m, k] = sum of W[n, k] over rows n of chunk c with X[n] == m (row order).

    One thread per (c, m, k), k fastest: a warp reads X[n] once (broadcast) and W[n, :] coalesced.
    """
    tid = cuda.grid(1)
    N = X.shape[0]
    K = W.shape[1]
    per = M * K
    if tid >= n_chunks * per:
        return
    c = tid // per
    r = tid - c * per
    m = r // K
    k = r - m * K
    n1 = min(N, c * chunk + chunk)
    acc = 0.0
    for n in range(c * chunk, n1):
        if X[n] == m:
            acc += _f64(W[n, k])
    part[c, m, k] = acc


@cuda.jit
def _counts_scatter_kernel(X, W, M, chunk, n_chunks, part):
    """Same result as _counts_compare_kernel; one thread per (c, k) owns part[c, :, k].

    Threads of a warp take consecutive k, so each row's read-modify-write of part[c, X[n], :]
    touches consecutive addresses. No two threads write the same element: no atomics needed.
    """
    tid = cuda.grid(1)
    N = X.shape[0]
    K = W.shape[1]
    if tid >= n_chunks * K:
        return
    c = tid // K
    k = tid - c * K
    for m in range(M):
        part[c, m, k] = 0.0
    n1 = min(N, c * chunk + chunk)
    for n in range(c * chunk, n1):
        s = X[n]
        if s >= 0 and s < M:
            part[c, s, k] += _f64(W[n, k])


@cuda.jit
def _counts_combine_kernel(part, n_chunks, out):
    """out[k, m] = sum over chunks of part[c, m, k], in chunk order (k fastest: coalesced reads)."""
    tid = cuda.grid(1)
    K = out.shape[0]
    M = out.shape[1]
    if tid >= K * M:
        return
    m = tid // K
    k = tid - m * K
    acc = 0.0
    for c in range(n_chunks):
        acc += part[c, m, k]
    out[k, m] = acc


def categorical_counts(X, weights, n_symbols):
    """T[K, M]: counts[k, m] = sum of weights[n, k] over rows with X[n] == m."""
    Wa = DevArg(weights, "weights", 2)
    dtype = _float_dtype(Wa, "weights")
    Xa = DevArg(X, "X", 1)
    Xa.expect_dtype(np.int64)
    N = Xa.shape[0]
    Wa.expect_shape(N, -1)
    K = Wa.shape[1]
    M = int(n_symbols)
    if M < 1:
        raise ValueError("n_symbols: must be >= 1")
    _check_indices(Xa, M, "X: symbol", "row")

    out = cuda.device_array((K, M), dtype=dtype)
    if K == 0:
        return out
    compare = M <= _COUNTS_COMPARE_MAX_SYMBOLS
    cols = K * M if compare else K
    chunk = _chunk_rows(N, cols)
    n_chunks = -(-N // chunk)
    part = cuda.device_array((max(n_chunks, 1), M, K), dtype=np.float64)
    if n_chunks:
        if compare:
            _counts_compare_kernel[launch(n_chunks * K * M)](Xa.device(), Wa.device(), M, chunk, n_chunks, part)
        else:
            _counts_scatter_kernel[launch(n_chunks * K)](Xa.device(), Wa.device(), M, chunk, n_chunks, part)
    _counts_combine_kernel[launch(K * M)](part, n_chunks, out)
    return out


# --------------------------------------------------------------------------------------------
# sum_rows


@cuda.jit
def _sum_rows_kernel(values, rows, R, out):
    """out[k] = sum over r < R (list order) of values[rows[r], k]; one thread per k (coalesced)."""
    k = cuda.grid(1)
    N = values.shape[0]
    if k >= values.shape[1]:
        return
    acc = 0.0
    for r in range(R):
        n = rows[r]
        if n >= 0 and n < N:
            acc += _f64(values[n, k])
    out[k] = acc


def sum_rows(values, rows):
    """T[K]: the sum of values[rows[r]] over r, added in list order (rows checked in [0, N))."""
    Va = DevArg(values, "values", 2)
    dtype = _float_dtype(Va, "values")
    N, K = Va.shape
    Ra = DevArg(rows, "rows", 1)
    Ra.expect_dtype(np.int64)
    _check_indices(Ra, N, "rows: index", "position")
    out = cuda.device_array((K,), dtype=dtype)
    R = Ra.shape[0]
    if K:
        # No rows: a one-element stand-in (never read) instead of a zero-size transfer.
        rows_d = Ra.device() if R else cuda.to_device(np.zeros(1, dtype=np.int64))
        _sum_rows_kernel[launch(K)](Va.device(), rows_d, R, out)
    return out


# --------------------------------------------------------------------------------------------
# Mixture emissions


@cuda.jit(device=True)
def shifted_sum(lp, n, c0, lw, g, M):
    """Of v_m = lp[n, c0 + m] + lw[g, m] (m < M), in float64: (max_m v_m, sum_m exp(v_m - max)).
    (-inf, 0) when every v_m is -inf; (NaN or +inf, 0) when the row holds NaN or +inf (a NaN never
    wins the comparison: it is looked for explicitly). The one max-shifted log-sum-exp of the
    mixture kernels (csrc/emissions/logsumexp.hpp's on the CPU): mixture_logprob and mixture_posteriors here,
    mixture.responsibilities (_cuda/mixture.py, one group)."""
    mx = _NEG_INF
    for m in range(M):
        v = _f64(lp[n, c0 + m]) + _f64(lw[g, m])
        if v > mx:
            mx = v
    for m in range(M):
        v = _f64(lp[n, c0 + m])
        if v != v:
            mx = v
    s = 0.0
    if mx != _NEG_INF and mx < _INF:
        for m in range(M):
            s += math.exp(_f64(lp[n, c0 + m]) + _f64(lw[g, m]) - mx)
    return mx, s


@cuda.jit
def _mixture_logprob_kernel(comp, logw, out):
    """out[n, k] = logsumexp_m(comp[n, k*M + m] + logw[k, m]), max-shifted; one thread per (n, k)."""
    tid = cuda.grid(1)
    K = logw.shape[0]
    M = logw.shape[1]
    N = comp.shape[0]
    if tid >= N * K:
        return
    n = tid // K
    k = tid - n * K
    mx, s = shifted_sum(comp, n, k * M, logw, k, M)
    if mx == _NEG_INF:
        out[n, k] = _NEG_INF
    elif mx < _INF:
        out[n, k] = mx + math.log(s)
    else:  # NaN or +inf among the log-densities
        out[n, k] = math.nan


@cuda.jit
def _mixture_posteriors_kernel(comp, logw, state_post, out):
    """out[n, k*M + m] = state_post[n, k] * softmax_m(comp[n, k*M + :] + logw[k, :])[m]."""
    tid = cuda.grid(1)
    K = logw.shape[0]
    M = logw.shape[1]
    N = comp.shape[0]
    if tid >= N * K:
        return
    n = tid // K
    k = tid - n * K
    base = k * M
    mx, s = shifted_sum(comp, n, base, logw, k, M)
    if mx == _NEG_INF:
        for m in range(M):
            out[n, base + m] = 0.0
        return
    if not (mx < _INF):
        for m in range(M):
            out[n, base + m] = math.nan
        return
    scale = _f64(state_post[n, k]) / s
    for m in range(M):
        out[n, base + m] = math.exp(_f64(comp[n, base + m]) + _f64(logw[k, m]) - mx) * scale


def _mixture_args(comp_logprob, log_weights):
    Ca = DevArg(comp_logprob, "comp_logprob", 2)
    dtype = _float_dtype(Ca, "comp_logprob")
    La = DevArg(log_weights, "log_weights", 2)
    La.expect_dtype(dtype)
    K, M = La.shape
    if Ca.shape[1] != K * M:
        raise ValueError(f"comp_logprob: expected {K * M} columns (K*M), got {Ca.shape[1]}")
    return Ca, La, dtype, Ca.shape[0], K, M


def mixture_logprob(comp_logprob, log_weights):
    """T[N, K]: per-state logsumexp over its M weighted components (all -inf gives -inf)."""
    Ca, La, dtype, N, K, M = _mixture_args(comp_logprob, log_weights)
    out = cuda.device_array((N, K), dtype=dtype)
    if N * K:
        _mixture_logprob_kernel[launch(N * K)](Ca.device(), La.device(), out)
    return out


def mixture_posteriors(comp_logprob, log_weights, state_post):
    """T[N, K*M]: component responsibilities scaled by the state posterior (all -inf gives zeros)."""
    Ca, La, dtype, N, K, M = _mixture_args(comp_logprob, log_weights)
    Sa = checked(state_post, "state_post", dtype, N, K)
    out = cuda.device_array((N, K * M), dtype=dtype)
    if N * K * M:
        _mixture_posteriors_kernel[launch(N * K)](Ca.device(), La.device(), Sa.device(), out)
    return out
