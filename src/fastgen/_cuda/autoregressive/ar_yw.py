"""Yule-Walker fits and residual sums of squares of linear AR/VAR models on CUDA:
``ar_yule_walker`` and ``ar_sse`` (the same work items as the OLS passes of ``ar.py``)."""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..common.args import checked, launch, scratch
from .ar import (OK, SINGULAR, TOO_SHORT, _host_first_rows, _items, _pass, _prefix, _residual_rows, _series,
                 _series_sums, _trend)
from .ar_linalg import autocovariances, levinson, yw_solve


# ---------------------------------------------------------------------------------------------
# Yule-Walker

@cuda.jit
def _yw_finish_kernel(Y, offsets, orders, demean, adjusted, all_orders, P, shifts, part, item_off, first_item,
                      wk_off, work, params, sigma, status):
    # sigma: flat (S Q k k)
    s = cuda.grid(1)
    if s >= orders.shape[0]:
        return
    k = Y.shape[1]
    kt = 1 if demean else 0
    DxP = kt + P * k
    p = orders[s]
    n = offsets[s + 1] - offsets[s]
    Q = P + 1 if all_orders else 1
    for r in range(DxP):
        for e in range(k):
            params[s, r, e] = 0.0
    kk = k * k
    for r in range(Q * kk):
        sigma[s * Q * kk + r] = 0.0
    if n <= p:
        status[s] = TOO_SHORT
        return
    W = (p + 1) * k
    size = k * W + 2 * k
    pk = p * k
    so = wk_off[s]
    go = so + size                 # Gamma (p + 1) k k
    meo = go + (p + 1) * k * k     # mean k
    wo = meo + k                   # 3k
    bo = wo + 3 * k                # B (p k x k)
    ro = bo + pk * k               # R (p k)^2
    rho = ro + pk * pk             # rhs p k x k
    tbo = rho + pk * k             # tmp B (p k x k) / Levinson work (p)
    alo = tbo + pk * k             # Levinson all (p + 1)^2
    _series_sums(part, item_off, first_item, s, size, work, so)
    autocovariances(Y, offsets[s], n, k, p, demean, adjusted, shifts, s * k, work, so, work, go, work, meo, work, wo)
    ok = True
    for j in range(k):
        if not (work[go + j * k + j] > 0.0):
            ok = False
    for r in range(pk * k):
        work[bo + r] = 0.0
    qp = p if all_orders else 0
    if ok and k == 1:
        for r in range((p + 1) * (p + 1)):
            work[alo + r] = 0.0
        ok = levinson(p, work, go, work, bo, work, tbo, work, alo)
        if ok:
            q0 = 0 if all_orders else p
            for q in range(q0, p + 1):
                v = work[go]
                for j in range(q):
                    v -= work[alo + q * (p + 1) + j] * work[go + j + 1]
                sigma[s * Q + (q if all_orders else 0)] = v
    elif ok:
        ok = yw_solve(k, p, work, go, work, bo, sigma, (s * Q + qp) * kk, work, ro, work, rho)
        if ok and all_orders:
            for q in range(p):
                if ok:
                    ok = yw_solve(k, q, work, go, work, tbo, sigma, (s * Q + q) * kk, work, ro, work, rho)
    if not ok:
        for r in range(Q * kk):
            sigma[s * Q * kk + r] = 0.0
        status[s] = SINGULAR
        return
    for r in range(pk):
        for e in range(k):
            params[s, kt + r, e] = work[bo + r * k + e]
    if demean:
        for e in range(k):
            c = work[meo + e]
            for r in range(pk):
                c -= work[bo + r * k + e] * work[meo + r % k]
            params[s, 0, e] = c
    status[s] = OK


def ar_yule_walker(Y, offsets, orders, demean, adjusted=False, all_orders=False):
    """Yule-Walker fits -> (params f64[S, demean + P*k, k], sigma, status int64[S])."""
    y, N, k, S, P, oh, ph = _series(Y, offsets, orders)
    demean, adjusted, all_orders = bool(demean), bool(adjusted), bool(all_orders)
    shifts = _host_first_rows(y, oh, k).ravel() if demean else np.zeros(S * k)
    items, first_item, d_items, d_off, part = _pass(y, k, oh, ph, shifts, np.zeros(S))
    pk = ph * k
    sizes = (k * (ph + 1) * k + 2 * k) + (ph + 1) * k * k + k + 3 * k + pk * k + pk * pk + pk * k + pk * k + \
        (ph + 1) * (ph + 1)
    wk_off = _prefix(sizes)
    work = scratch((int(wk_off[-1]),), np.float64)
    kt = 1 if demean else 0
    params = cuda.device_array((S, kt + P * k, k), dtype=np.float64)
    Q = P + 1 if all_orders else 1
    sigma = cuda.device_array((S, Q, k, k), dtype=np.float64)
    status = cuda.device_array(S, dtype=np.int64)
    _yw_finish_kernel[launch(S)](y.device(), cuda.to_device(oh), cuda.to_device(ph), demean, adjusted, all_orders, P,
                                 cuda.to_device(shifts), part, d_off, cuda.to_device(first_item),
                                 cuda.to_device(wk_off), work, params, sigma.reshape(S * Q * k * k), status)
    return params, (sigma if all_orders else sigma.reshape(S, k, k)), status


# ---------------------------------------------------------------------------------------------
# Residual sums of squares

@cuda.jit
def _sse_pass_kernel(Y, items, offsets, orders, params, trend, zero, part, rscr):
    # params: (G, Dx k), one flat row per parameter set
    i = cuda.grid(1)
    if i >= items.shape[0]:
        return
    s = items[i, 0]
    k = Y.shape[1]
    for j in range(k * k):
        part[i * k * k + j] = 0.0
    g = 0 if params.shape[0] == 1 else s
    _residual_rows(Y, offsets[s], items[i, 1], items[i, 2], k, orders[s], trend, zero, 0, float(items[i, 1] + 1),
                   params[g], 0, part, i * k * k, part, -1, rscr, i * k)


@cuda.jit
def _sse_combine_kernel(first_item, part, sse):
    s = cuda.grid(1)
    if s >= sse.shape[0]:
        return
    k = sse.shape[1]
    for e in range(k):
        for f in range(k):
            sse[s, e, f] = 0.0
    for i in range(first_item[s], first_item[s + 1]):
        for e in range(k):
            for f in range(k):
                sse[s, e, f] += part[(i * k + e) * k + f]


def ar_sse(Y, offsets, params, trend, orders):
    """Residual sums of squares per sequence -> f64[S, k, k]."""
    kt = _trend(trend)
    y, N, k, S, Pmax, oh, ph = _series(Y, offsets, orders)
    b = checked(params, "params", np.float64, -1, -1, k)
    G, Dx = b.shape[0], b.shape[1]
    if G not in (1, S):
        raise ValueError(f"params: expected 1 or {S} parameter sets, got {G}")
    if Dx < kt or (Dx - kt) % k:
        raise ValueError(f"params: expected kt + p k = {kt} + p * {k} rows for this trend, got {Dx}")
    P = (Dx - kt) // k
    if Pmax > P:
        raise ValueError(f"orders: at most the params' order {P}, got {Pmax}")
    items, first_item = _items(oh, ph)
    I = items.shape[0]
    part = scratch((I * k * k,), np.float64)
    rscr = scratch((max(I, 1) * k,), np.float64)
    if I:
        _sse_pass_kernel[launch(I)](y.device(), cuda.to_device(items), cuda.to_device(oh), cuda.to_device(ph),
                                    b.device().reshape(G, Dx * k), int(trend), cuda.to_device(np.zeros(k)), part, rscr)
    sse = cuda.device_array((S, k, k), dtype=np.float64)
    _sse_combine_kernel[launch(S)](cuda.to_device(first_item), part, sse)
    return sse
