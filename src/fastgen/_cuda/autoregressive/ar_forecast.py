"""Forecasts and simulation of fitted linear AR/VAR models on CUDA: ``ar_forecast`` (point forecasts
and MSE matrices) and ``ar_simulate`` (Monte-Carlo paths); see ``ar.py`` for the contract."""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..common.args import checked, DevArg, launch, scratch
from ..common.widen import f64 as _f64
from ..common.philox import key_words, normal_pair
from .ar import _trend
from .ar_linalg import has_const, has_time, n_trend


# ---------------------------------------------------------------------------------------------
# Forecasts

@cuda.jit(device=True)
def _trend_value(B, k, trend, e, t_index):
    v = 0.0
    r = 0
    if has_const(trend):
        v += B[r, e]
        r += 1
    if has_time(trend):
        v += B[r, e] * t_index
    return v


@cuda.jit
def _forecast_kernel(params, trend, y_last, t_next, sigma, hist, Phi, tmp, accm, mean, mse):
    s = cuda.grid(1)
    S, P, k = y_last.shape
    if s >= S:
        return
    kt = n_trend(trend)
    steps = mean.shape[1]
    B = params[s]
    for r in range(P):
        for j in range(k):
            hist[s, r, j] = y_last[s, r, j]
    for h in range(steps):
        for e in range(k):
            v = _trend_value(B, k, trend, e, float(t_next[s] + h))
            for i in range(1, P + 1):
                for j in range(k):
                    v += B[kt + (i - 1) * k + j, e] * hist[s, P + h - i, j]
            hist[s, P + h, e] = v
            mean[s, h, e] = v
    for e in range(k):
        for f in range(k):
            accm[s, e, f] = 0.0
    for h in range(steps):
        for e in range(k):
            for f in range(k):
                Phi[s, h, e, f] = 1.0 if (h == 0 and e == f) else 0.0
        if h > 0:
            for i in range(1, min(h, P) + 1):
                for e in range(k):
                    for f in range(k):
                        v = 0.0
                        for j in range(k):
                            v += B[kt + (i - 1) * k + j, e] * Phi[s, h - i, j, f]
                        Phi[s, h, e, f] += v
        for e in range(k):
            for f in range(k):
                v = 0.0
                for j in range(k):
                    v += Phi[s, h, e, j] * sigma[s, j, f]
                tmp[s, e, f] = v
        for e in range(k):
            for f in range(k):
                v = 0.0
                for j in range(k):
                    v += tmp[s, e, j] * Phi[s, h, f, j]
                accm[s, e, f] += v
        for e in range(k):
            for f in range(k):
                mse[s, h, e, f] = accm[s, e, f]


def ar_forecast(params, trend, y_last, t_next, sigma, steps):
    """Point forecasts and MSE matrices -> (mean f64[S, steps, k], mse f64[S, steps, k, k])."""
    kt = _trend(trend)
    yl = DevArg(y_last, "y_last", 3)
    yl.expect_dtype(np.float64)
    S, P, k = yl.shape
    if k < 1:
        raise ValueError("y_last: need at least one variable")
    b = checked(params, "params", np.float64, S, kt + P * k, k)
    tn = checked(t_next, "t_next", np.int64, S)
    sg = checked(sigma, "sigma", np.float64, S, k, k)
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps: must be >= 0, got {steps}")
    mean = cuda.device_array((S, steps, k), dtype=np.float64)
    mse = cuda.device_array((S, steps, k, k), dtype=np.float64)
    if S and steps:
        hist = scratch((S, P + steps, k), np.float64)
        Phi = scratch((S, steps, k, k), np.float64)
        tmp = scratch((S, k, k), np.float64)
        accm = scratch((S, k, k), np.float64)
        _forecast_kernel[launch(S)](b.device(), int(trend), yl.device(), tn.device(), sg.device(), hist, Phi, tmp,
                                    accm, mean, mse)
    return mean, mse


# ---------------------------------------------------------------------------------------------
# Simulation

@cuda.jit
def _simulate_kernel(params, trend, chol, y_last, t_next, n_paths, k0, k1, stream, ring, out):
    sj = cuda.grid(1)
    S, P, k = y_last.shape
    if sj >= S * n_paths:
        return
    s = sj // n_paths
    n_steps = out.shape[2]
    j = sj - s * n_paths
    kt = n_trend(trend)
    B = params[s]
    st = stream + np.uint64(sj)
    s0 = st & np.uint64(0xFFFFFFFF)
    s1 = st >> np.uint64(32)
    R = P + 1
    for r in range(P):
        for a in range(k):
            ring[sj, r, a] = _f64(y_last[s, r, a])
    cached = np.int64(-1)
    z_hi = 0.0
    for h in range(n_steps):
        slot = (h + P) % R
        # z[h k + l] into the slot, then e = L z in place (descending rows keep z[l < a] intact).
        for l in range(k):
            idx = h * k + l
            blk = idx // 2
            if blk == cached:
                z = z_hi
            else:
                z0, z1 = normal_pair(k0, k1, s0, s1, np.uint64(blk))
                cached = blk
                z_hi = z1
                z = z0 if idx % 2 == 0 else z1
            ring[sj, slot, l] = z
        for a in range(k - 1, -1, -1):
            v = 0.0
            for l in range(a + 1):
                v += chol[s, a, l] * ring[sj, slot, l]
            ring[sj, slot, a] = v
        tix = float(t_next[s] + h)
        for a in range(k):
            v = _trend_value(B, k, trend, a, tix) + ring[sj, slot, a]
            for i in range(P, 0, -1):
                prev = (h + P - i) % R
                for jj in range(k):
                    v += B[kt + (i - 1) * k + jj, a] * ring[sj, prev, jj]
            ring[sj, slot, a] = v
        for a in range(k):
            out[s, j, h, a] = ring[sj, slot, a]


def ar_simulate(params, trend, chol, y_last, t_next, n_steps, n_paths, seed, stream):
    """Monte-Carlo paths -> T[S, n_paths, n_steps, k]."""
    kt = _trend(trend)
    yl = DevArg(y_last, "y_last", 3)
    dt = yl.float_dtype()
    S, P, k = yl.shape
    if k < 1:
        raise ValueError("y_last: need at least one variable")
    b = checked(params, "params", np.float64, S, kt + P * k, k)
    L = checked(chol, "chol", np.float64, S, k, k)
    tn = checked(t_next, "t_next", np.int64, S)
    n_steps, n_paths = int(n_steps), int(n_paths)
    if n_steps < 0:
        raise ValueError(f"n_steps: must be >= 0, got {n_steps}")
    if n_paths < 0:
        raise ValueError(f"n_paths: must be >= 0, got {n_paths}")
    k0, k1, _, _ = key_words(seed, 0)
    stream = np.uint64(int(stream) % (1 << 64))
    out = cuda.device_array((S, n_paths, n_steps, k), dtype=dt)
    if S * n_paths and n_steps:
        ring = scratch((S * n_paths, P + 1, k), np.float64)
        _simulate_kernel[launch(S * n_paths)](b.device(), int(trend), L.device(), yl.device(), tn.device(), n_paths,
                                              k0, k1, stream, ring, out)
    return out
