"""Linear AR/VAR kernels on CUDA (Numba); contract in ``csrc/KERNELS.md`` ("Linear autoregressive
models"). Same names, arguments and results as ``fastgen._core`` (``csrc/ar*.hpp``); this file holds the
shared work items and ``ar_ols``, ``ar_yw.py`` the Yule-Walker fit and ``ar_sse``,
``ar_forecast.py`` the forecasts and simulation:

- ``ar_ols(Y, offsets, orders, trend, all_orders=False) -> (params, sse, status)``
- ``ar_yule_walker(Y, offsets, orders, demean, adjusted=False, all_orders=False) -> (params, sigma, status)``
- ``ar_sse(Y, offsets, params, trend, orders) -> sse``
- ``ar_forecast(params, trend, y_last, t_next, sigma, steps) -> (mean, mse)``
- ``ar_simulate(params, trend, chol, y_last, t_next, n_steps, n_paths, seed, stream) -> paths``

Layout of the work, mirroring the C++ kernels:

1. The lagged cross-product pass: the same work items as the CPU (series s's target rows in
   chunks of 4096), one thread per (item, accumulator) -- accumulator (i, w) adds
   y'_t[i] y'_{t-p}[w] over the item's rows in row order (neighbouring threads read neighbouring
   window entries); the S0 and T0 accumulators likewise.
2. One thread per series adds its items' partials in item order, forms the Gram matrix (or the
   autocovariances) by the boundary corrections, and solves (``ar_linalg.py``: line-by-line ports
   of ``ar_gram.hpp``/``ar_linalg.hpp``). Scratch matrices live in one float64 device array.
3. OLS refinement (corrected semi-normal equations, the C++ rule and thresholds): one thread per
   item computes the residual sums of its rows for the flagged series (threads of other series
   return at once, so no host round trip decides who runs), then one thread per series applies
   the correction and maps the coefficients back to the caller's parametrisation.

``ar_sse``: one thread per item, then one per series adds the items in order. ``ar_forecast``: one
thread per series. ``ar_simulate``: one thread per (series, path), walking its path step by step
(the recursion is sequential) with its normals drawn from Philox on the fly (a block gives two);
the last p rows are kept in a float64 ring buffer, so float32 output does not feed rounded values
back into the recursion. One long path is therefore one GPU thread (latency-bound, far slower than
the CPU's block recursion); the GPU pays off with many paths or many series.

The sums are added in a different order than on the CPU (one accumulator per thread against the
CPU's four interleaved vector accumulators), so results agree with the C++ kernels to rounding
(1e-12 relative on well-conditioned fits), not bit for bit. Normals use CUDA's log/cos/sin
(libdevice), within ~1e-15 of the CPU's.

``offsets`` and ``orders`` are read on the host (they define the work items): device-resident
ones are copied back once.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .ar_linalg import build_gram, cholesky, has_const, has_time, n_trend, solve_lower, solve_lower_t, yv
from ..common.args import DevArg, launch, scratch
from ..common.widen import f64 as _f64

__all__ = ["ar_ols"]  # the family's other AR kernels: ar_yw.py, ar_forecast.py

CHUNK_ROWS = 4096      # as csrc/autoregressive/ar_moments.hpp kChunkRows: the same work items as the CPU
REFINE_COND = 1e4      # csrc/autoregressive/ar_fit.hpp kRefineCond
SINGULAR_PIVOT = 1e-14  # csrc/autoregressive/ar_fit.hpp kSingularPivot
OK, SINGULAR, TOO_SHORT = 0, 1, 2
_TWO_PI = 6.283185307179586476925286766559


# ---------------------------------------------------------------------------------------------
# Host helpers

def _host(arg: DevArg) -> np.ndarray:
    return arg.host if arg.dev is None else arg.dev.copy_to_host()


def _trend(trend) -> int:
    t = int(trend)
    if not 0 <= t <= 3:
        raise ValueError(f"trend: expected a code in 0..3 (n, c, t, ct), got {t}")
    return {0: 0, 1: 1, 2: 1, 3: 2}[t]


def _series(Y, offsets, orders):
    """Checks as the C++ binding; returns (Y DevArg, N, k, S, P, host offsets, host orders)."""
    y = DevArg(Y, "Y", 2)
    y.float_dtype()
    N, k = y.shape
    if k < 1:
        raise ValueError("Y: need at least one variable (column)")
    o = DevArg(offsets, "offsets", 1)
    o.expect_dtype(np.int64)
    oh = _host(o)
    if oh.shape[0] < 2:
        raise ValueError("offsets: need at least one sequence (length >= 2)")
    if oh[0] != 0 or oh[-1] != N:
        raise ValueError(f"offsets: must start at 0 and end at n_samples={N}")
    if np.any(np.diff(oh) <= 0):
        raise ValueError("offsets: sequence lengths must be positive")
    S = oh.shape[0] - 1
    p = DevArg(orders, "orders", 1)
    p.expect_shape(S)
    p.expect_dtype(np.int64)
    ph = _host(p)
    lens = np.diff(oh)
    bad = np.flatnonzero((ph < 0) | (ph >= lens))
    if bad.size:
        s = int(bad[0])
        raise ValueError(f"orders: series {s} has {int(lens[s])} rows, so its order must lie in "
                         f"[0, {int(lens[s]) - 1}], got {int(ph[s])}")
    P = int(ph.max()) if S else 0
    return y, N, k, S, P, oh.astype(np.int64), ph.astype(np.int64)


def _items(oh, first):
    """(items int64[I, 3] = (s, t0, t1), first_item int64[S + 1]) as csrc make_items."""
    rows, first_item = [], []
    for s in range(oh.shape[0] - 1):
        first_item.append(len(rows))
        n = int(oh[s + 1] - oh[s])
        for t in range(int(first[s]), n, CHUNK_ROWS):
            rows.append((s, t, min(n, t + CHUNK_ROWS)))
    first_item.append(len(rows))
    return np.array(rows, dtype=np.int64).reshape(-1, 3), np.array(first_item, dtype=np.int64)


def _prefix(sizes):
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The lagged cross-product pass (step 1)

@cuda.jit(device=True)
def _find_item(off, gid):
    """Largest i with off[i] <= gid (off increasing, off[0] = 0)."""
    lo = 0
    hi = off.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if off[mid] <= gid:
            lo = mid
        else:
            hi = mid
    return lo


@cuda.jit
def _pass_kernel(Y, items, item_off, offsets, orders, shifts, tcs, part):
    gid = cuda.grid(1)
    if gid >= item_off[item_off.shape[0] - 1]:
        return
    it = _find_item(item_off, gid)
    s = items[it, 0]
    t0 = items[it, 1]
    t1 = items[it, 2]
    k = Y.shape[1]
    p = orders[s]
    W = (p + 1) * k
    a = gid - item_off[it]
    base = offsets[s]
    mo = s * k
    acc = 0.0
    if a < k * W:
        i = a // W
        w = a - i * W
        wr = w // k
        wc = w - wr * k
        for t in range(t0, t1):
            acc += yv(Y, base + t, i, shifts, mo) * yv(Y, base + t - p + wr, wc, shifts, mo)
    elif a < k * W + k:
        i = a - k * W
        for t in range(t0, t1):
            acc += yv(Y, base + t, i, shifts, mo)
    else:
        i = a - k * W - k
        tau0 = float(t0 + 1) - tcs[s]
        for t in range(t0, t1):
            acc += (tau0 + float(t - t0)) * yv(Y, base + t, i, shifts, mo)
    part[gid] = acc


def _pass(y, k, oh, ph, shifts, tcs):
    """Runs step 1; returns (items, first_item, item_off, part) (device arrays)."""
    items, first_item = _items(oh, ph)
    sizes = np.array([k * (ph[s] + 1) * k + 2 * k for s in items[:, 0]], dtype=np.int64)
    item_off = _prefix(sizes)
    total = int(item_off[-1])
    part = scratch((total,), np.float64)
    d_items = cuda.to_device(items if items.size else np.zeros((1, 3), np.int64))
    d_off = cuda.to_device(item_off)
    if total:
        _pass_kernel[launch(total)](y.device(), d_items, d_off, cuda.to_device(oh), cuda.to_device(ph),
                                    cuda.to_device(shifts), cuda.to_device(tcs), part)
    return items, first_item, d_items, d_off, part


@cuda.jit(device=True)
def _series_sums(part, item_off, first_item, s, size, out, oo):
    for j in range(size):
        out[oo + j] = 0.0
    for i in range(first_item[s], first_item[s + 1]):
        a = item_off[i]
        for j in range(size):
            out[oo + j] += part[a + j]


# ---------------------------------------------------------------------------------------------
# OLS (steps 2 and 3)

@cuda.jit
def _ols_finish_kernel(Y, offsets, orders, trend, all_orders, P, shifts, tcs, part, item_off, first_item, st_off,
                       state, wk_off, work, params, sse, status, refine):
    s = cuda.grid(1)
    if s >= orders.shape[0]:
        return
    k = Y.shape[1]
    kt = n_trend(trend)
    DxP = kt + P * k
    p = orders[s]
    n = offsets[s + 1] - offsets[s]
    nobs = n - p
    Dx = kt + p * k
    D = Dx + k
    Q = P + 1 if all_orders else 1
    for r in range(DxP):
        for e in range(k):
            params[s, r, e] = 0.0
    for q in range(Q):
        for e in range(k):
            for f in range(k):
                sse[s, q, e, f] = 0.0
    refine[s] = 0
    if nobs <= Dx:
        status[s] = TOO_SHORT
        return
    W = (p + 1) * k
    size = k * W + 2 * k
    wo = wk_off[s]
    so = wo                  # summed pass (size)
    mo_ = so + size          # M (D x D)
    ro = mo_ + D * D         # rows scratch (2k)
    wvo = ro + 2 * k         # W = L^-1 D M_xy (Dx x k)
    _series_sums(part, item_off, first_item, s, size, work, so)
    for r in range(D * D):
        work[mo_ + r] = 0.0
    build_gram(Y, offsets[s], n, k, p, trend, shifts, s * k, tcs[s], work, so, work, mo_, D, work, ro)
    lo_ = st_off[s]
    dso = lo_ + Dx * Dx
    bso = dso + Dx
    ok = True
    for r in range(Dx):
        mrr = work[mo_ + r * D + r]
        if not (mrr > 0.0) or not math.isfinite(mrr):
            ok = False
        state[dso + r] = 1.0 / math.sqrt(mrr) if ok else 0.0
    pmin = 1.0
    pmax = 1.0
    if ok:
        for r in range(Dx):
            for c in range(Dx):
                state[lo_ + r * Dx + c] = work[mo_ + r * D + c] * state[dso + r] * state[dso + c]
        if Dx > 0:
            ok, pmin, pmax = cholesky(Dx, state, lo_, Dx, SINGULAR_PIVOT)
    if not ok:
        status[s] = SINGULAR
        return
    for r in range(Dx):
        for e in range(k):
            work[wvo + r * k + e] = state[dso + r] * work[mo_ + r * D + Dx + e]
    solve_lower(Dx, state, lo_, Dx, work, wvo, k, k)
    for r in range(Dx * k):
        state[bso + r] = work[wvo + r]
    solve_lower_t(Dx, state, lo_, Dx, state, bso, k, k)
    for r in range(Dx):
        for e in range(k):
            state[bso + r * k + e] *= state[dso + r]
    qp = p if all_orders else 0
    for e in range(k):
        for f in range(k):
            v = work[mo_ + (Dx + e) * D + Dx + f]
            for r in range(Dx):
                v -= work[wvo + r * k + e] * work[wvo + r * k + f]
            sse[s, qp, e, f] = v
    if all_orders:
        for q in range(p - 1, -1, -1):
            for e in range(k):
                for f in range(k):
                    v = sse[s, q + 1, e, f]
                    for r in range(kt + q * k, kt + (q + 1) * k):
                        v += work[wvo + r * k + e] * work[wvo + r * k + f]
                    sse[s, q, e, f] = v
    cancels = False
    for e in range(k):
        if not (sse[s, qp, e, e] * REFINE_COND > work[mo_ + (Dx + e) * D + Dx + e]):
            cancels = True
    if Dx > 0 and (pmax > REFINE_COND * pmin or cancels):
        refine[s] = 1
    status[s] = OK


@cuda.jit(device=True)
def _residual_rows(Y, base, t0, t1, k, p, trend, shifts, mo, tau0, B, bo, sse, so, g, go, r, ro):
    """Scalar version of csrc residual_products over rows [t0, t1): sse[so ..] += sum r r^T and,
    when go >= 0, g[go ..] += sum x r^T; r[ro .. ro + k) is scratch."""
    kt = n_trend(trend)
    hc = has_const(trend)
    ht = has_time(trend)
    for t in range(t0, t1):
        tau = tau0 + float(t - t0)
        for e in range(k):
            c = B[bo + e] if hc else 0.0
            d = B[bo + (kt - 1) * k + e] if ht else 0.0
            v = (yv(Y, base + t, e, shifts, mo) - c) - d * tau
            for i in range(1, p + 1):
                for j in range(k):
                    v -= B[bo + (kt + (i - 1) * k + j) * k + e] * yv(Y, base + t - i, j, shifts, mo)
            r[ro + e] = v
        for e in range(k):
            for f in range(k):
                sse[so + e * k + f] += r[ro + e] * r[ro + f]
        if go >= 0:
            for e in range(k):
                row = 0
                if hc:
                    g[go + row * k + e] += r[ro + e]
                    row += 1
                if ht:
                    g[go + row * k + e] += tau * r[ro + e]
                    row += 1
                for i in range(1, p + 1):
                    for j in range(k):
                        g[go + row * k + e] += yv(Y, base + t - i, j, shifts, mo) * r[ro + e]
                        row += 1


@cuda.jit
def _refine_pass_kernel(Y, items, offsets, orders, trend, shifts, tcs, st_off, state, status, refine, roff, rpart,
                        rscr):
    i = cuda.grid(1)
    if i >= items.shape[0] or roff[roff.shape[0] - 1] == 0:
        return
    s = items[i, 0]
    k = Y.shape[1]
    kt = n_trend(trend)
    p = orders[s]
    Dx = kt + p * k
    go = roff[i]
    for j in range(Dx * k + k * k):
        rpart[go + j] = 0.0
    if status[s] != OK or refine[s] == 0:
        return
    bo = st_off[s] + Dx * Dx + Dx
    _residual_rows(Y, offsets[s], items[i, 1], items[i, 2], k, p, trend, shifts, s * k,
                   float(items[i, 1] + 1) - tcs[s], state, bo, rpart, go + Dx * k, rpart, go, rscr, i * k)


@cuda.jit
def _ols_final_kernel(Y, orders, trend, all_orders, P, shifts, tcs, st_off, state, wk_off, work, first_item, roff,
                      rpart, params, sse, status, refine):
    s = cuda.grid(1)
    if s >= orders.shape[0] or status[s] != OK:
        return
    k = Y.shape[1]
    kt = n_trend(trend)
    p = orders[s]
    Dx = kt + p * k
    lo_ = st_off[s]
    dso = lo_ + Dx * Dx
    bso = dso + Dx
    qp = p if all_orders else 0
    if refine[s] != 0:
        wo = wk_off[s]
        go = wo
        sxo = go + Dx * k
        delo = sxo + k * k
        for j in range(Dx * k + k * k):
            work[go + j] = 0.0
        for i in range(first_item[s], first_item[s + 1]):
            a = roff[i]
            for j in range(Dx * k + k * k):
                work[go + j] += rpart[a + j]
        for r in range(Dx):
            for e in range(k):
                work[delo + r * k + e] = state[dso + r] * work[go + r * k + e]
        solve_lower(Dx, state, lo_, Dx, work, delo, k, k)
        solve_lower_t(Dx, state, lo_, Dx, work, delo, k, k)
        for r in range(Dx):
            for e in range(k):
                work[delo + r * k + e] *= state[dso + r]
                state[bso + r * k + e] += work[delo + r * k + e]
        for e in range(k):
            for f in range(k):
                gd = 0.0
                for r in range(Dx):
                    gd += work[go + r * k + e] * work[delo + r * k + f]
                exact = work[sxo + e * k + f] - gd
                old = sse[s, qp, e, f]
                if all_orders:
                    for q in range(p):
                        sse[s, q, e, f] -= old
                sse[s, qp, e, f] = exact
                if all_orders:
                    for q in range(p):
                        sse[s, q, e, f] += exact
        for q in range(sse.shape[1]):
            for e in range(k):
                for f in range(e + 1, k):
                    a2 = 0.5 * (sse[s, q, e, f] + sse[s, q, f, e])
                    sse[s, q, e, f] = a2
                    sse[s, q, f, e] = a2
    for r in range(Dx):
        for e in range(k):
            params[s, r, e] = state[bso + r * k + e]
    if has_const(trend):  # unshift_params
        for e in range(k):
            c = params[s, 0, e]
            if has_time(trend):
                c -= params[s, 1, e] * tcs[s]
            am = shifts[s * k + e]
            for i in range(1, p + 1):
                for j in range(k):
                    am -= params[s, kt + (i - 1) * k + j, e] * shifts[s * k + j]
            params[s, 0, e] = c + am


def ar_ols(Y, offsets, orders, trend, all_orders=False):
    """OLS fits of many AR/VAR series -> (params f64[S, kt+P*k, k], sse, status int64[S])."""
    kt = _trend(trend)
    y, N, k, S, P, oh, ph = _series(Y, offsets, orders)
    trend = int(trend)
    all_orders = bool(all_orders)
    shifts = np.zeros(S * k)
    tcs = np.zeros(S)
    if trend in (1, 3):  # a model with a constant is fitted to y - y_0 (csrc/autoregressive/ar_fit.hpp)
        shifts[:] = _host_first_rows(y, oh, k).ravel()
        if trend == 3:
            tcs[:] = 0.5 * (ph + 1 + np.diff(oh))
    items, first_item, d_items, d_off, part = _pass(y, k, oh, ph, shifts, tcs)
    Dx = kt + ph * k
    D = Dx + k
    st_off = _prefix(Dx * Dx + Dx + Dx * k)
    wk_sizes = np.maximum(k * (ph + 1) * k + 2 * k + D * D + 2 * k + Dx * k, Dx * k + k * k + Dx * k)
    wk_off = _prefix(wk_sizes)
    state = scratch((int(st_off[-1]),), np.float64)
    work = scratch((int(wk_off[-1]),), np.float64)
    params = cuda.device_array((S, kt + P * k, k), dtype=np.float64)
    Q = P + 1 if all_orders else 1
    sse = cuda.device_array((S, Q, k, k), dtype=np.float64)
    status = cuda.device_array(S, dtype=np.int64)
    refine = cuda.device_array(S, dtype=np.int64)
    d_oh, d_ph = cuda.to_device(oh), cuda.to_device(ph)
    d_shifts, d_tcs = cuda.to_device(shifts), cuda.to_device(tcs)
    d_first, d_st, d_wk = cuda.to_device(first_item), cuda.to_device(st_off), cuda.to_device(wk_off)
    _ols_finish_kernel[launch(S)](y.device(), d_oh, d_ph, trend, all_orders, P, d_shifts, d_tcs, part, d_off,
                                  d_first, d_st, state, d_wk, work, params, sse, status, refine)
    I = items.shape[0]
    rsizes = Dx[items[:, 0]] * k + k * k if I else np.zeros(0, np.int64)
    roff = _prefix(rsizes)
    rpart = scratch((int(roff[-1]),), np.float64)
    rscr = scratch((max(I, 1) * k,), np.float64)
    d_roff = cuda.to_device(roff)
    if I:
        _refine_pass_kernel[launch(I)](y.device(), d_items, d_oh, d_ph, trend, d_shifts, d_tcs, d_st, state, status,
                                       refine, d_roff, rpart, rscr)
    _ols_final_kernel[launch(S)](y.device(), d_ph, trend, all_orders, P, d_shifts, d_tcs, d_st, state, d_wk, work,
                                 d_first, d_roff, rpart, params, sse, status, refine)
    return params, (sse if all_orders else sse.reshape(S, k, k)), status


@cuda.jit
def _first_rows_kernel(Y, offsets, out):
    s = cuda.grid(1)
    if s >= out.shape[0]:
        return
    for j in range(Y.shape[1]):
        out[s, j] = _f64(Y[offsets[s], j])


def _host_first_rows(y: DevArg, oh, k):
    """First row of every series (the OLS / Yule-Walker shift), as float64 (S, k); device-resident
    Y is gathered on the device (S k values come back, not the series)."""
    if y.dev is None:
        return np.asarray(y.host, dtype=np.float64)[oh[:-1]]
    S = oh.shape[0] - 1
    out = cuda.device_array((S, k), dtype=np.float64)
    _first_rows_kernel[launch(S)](y.dev, cuda.to_device(oh), out)
    return out.copy_to_host()
