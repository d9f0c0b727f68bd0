"""The RBM's per-column and per-row kernels (one thread per unit or per row, in T or float64 as the
CPU; no multiply-add fused, as the CPU's baseline code): the CD update of the biases (and
log-variances), the free-energy and pseudo-likelihood finishing sums (tile partials added in tile
order), 1 / sigma^2, and the AIS total.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from ..common.widen import f64 as _f64
from .sigmoid import ADD, MUL, exp_d, make_madd, softplus


@functools.lru_cache(maxsize=None)
def _cd_columns_kernel(dtype_name: str):
    F = np.float32 if dtype_name == "float32" else np.float64
    single = F is np.float32
    mul_t, add_t = MUL[single], ADD[single]
    madd_t = make_madd(single, False)   # unfused T multiply-add (CPU baseline code)
    madd_d = make_madd(False, False)    # unfused float64 multiply-add
    ONE = F(1.0)

    @cuda.jit
    def cd_columns_kernel(Vp, Vn, Hp, Hn, gaussian, learn_var, G, W, b_v, b_h, log_var, sigma, vel_W, vel_b_v,
                          vel_b_h, vel_lv, lr, momentum, decay):
        """Thread i < V: visible column i (means, variance statistics, its column of W when the
        variances are learned, b_v, log_var, sigma); thread V + j: hidden bias j. The CPU does
        all of this in baseline code: no multiply-add is fused."""
        tid = cuda.grid(1)
        H = W.shape[0]
        V = W.shape[1]
        B = Vp.shape[0]
        C = Vn.shape[0]
        if tid < V:
            i = tid
            iv = ONE
            if gaussian:
                s = sigma[i]
                iv = ONE / (s * s)
            vp = 0.0
            for n in range(B):
                vp += _f64(Vp[n, i])
            vn = 0.0
            for n in range(C):
                vn += _f64(Vn[n, i])
            gb = F(vp / B - vn / C)
            if gaussian:
                gb = gb * iv
            if learn_var:
                bv = _f64(b_v[i])
                qp = 0.0
                for n in range(B):
                    d = _f64(Vp[n, i]) - bv
                    qp = madd_d(d, d, qp)
                qn = 0.0
                for n in range(C):
                    d = _f64(Vn[n, i]) - bv
                    qn = madd_d(d, d, qn)
                wg = 0.0
                for j in range(H):
                    wg = madd_d(_f64(W[j, i]), _f64(G[j, i]), wg)
                glv = exp_d(-_f64(log_var[i])) * (0.5 * (qp / B - qn / C) - wg)
                for j in range(H):  # W moves only after sum_j W_ji G_ji has read it
                    w = W[j, i]
                    grad = add_t(mul_t(G[j, i], iv), -mul_t(decay, w))
                    m = madd_t(momentum, vel_W[j, i], mul_t(lr, grad))
                    vel_W[j, i] = m
                    W[j, i] = w + m
                ml = madd_t(momentum, vel_lv[i], mul_t(lr, F(glv)))
                vel_lv[i] = ml
                lv = log_var[i] + ml
                log_var[i] = lv
                sigma[i] = F(exp_d(0.5 * _f64(lv)))
            m = madd_t(momentum, vel_b_v[i], mul_t(lr, gb))
            vel_b_v[i] = m
            b_v[i] = b_v[i] + m
        elif tid < V + H:
            j = tid - V
            hp = 0.0
            for n in range(B):
                hp += _f64(Hp[n, j])
            hn = 0.0
            for n in range(C):
                hn += _f64(Hn[n, j])
            m = madd_t(momentum, vel_b_h[j], mul_t(lr, F(hp / B - hn / C)))
            vel_b_h[j] = m
            b_h[j] = b_h[j] + m

    return cd_columns_kernel


@functools.lru_cache(maxsize=None)
def kernels(dtype_name: str) -> dict:
    """The per-unit and per-row kernels of one float dtype (compiled at their first launch)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    ONE, TWO = F(1.0), F(2.0)

    @cuda.jit
    def free_energy_rows(X, b_v, gaussian, sigma, part, n_tiles, out):
        n = cuda.grid(1)
        if n >= X.shape[0]:
            return
        vis = 0.0
        for i in range(X.shape[1]):
            if gaussian:
                s = sigma[i]
                iv = ONE / (s * s)
                d = _f64(X[n, i]) - _f64(b_v[i])
                vis += 0.5 * d * d * _f64(iv)
            else:
                vis -= _f64(b_v[i]) * _f64(X[n, i])
        sp = 0.0
        for q in range(n_tiles):
            sp += part[n, q]
        out[n] = F(vis - sp)

    @cuda.jit
    def pseudo_rows(X, b_v, flip, part, n_tiles, out):
        n = cuda.grid(1)
        if n >= X.shape[0]:
            return
        i = flip[n]
        d = ONE - TWO * X[n, i]
        diff = _f64(b_v[i]) * _f64(d)
        for q in range(n_tiles):
            diff += part[n, q]
        out[n] = F(-_f64(X.shape[1]) * softplus(diff))

    @cuda.jit
    def inv_var_kernel(sigma, iv):
        """iv[i] = 1 / (sigma_i sigma_i) in T (rbm.hpp's Prepared::inv_var)."""
        i = cuda.grid(1)
        if i < iv.shape[0]:
            s = sigma[i]
            iv[i] = ONE / (s * s)

    return dict(inv_var=inv_var_kernel, cd_columns=_cd_columns_kernel(dtype_name), free_energy_rows=free_energy_rows,
                pseudo_rows=pseudo_rows)


@cuda.jit
def ais_total_kernel(lin_part, inc_part, log_w):
    """log_w[c] = visible-term accumulators then weight-increment accumulators, tiles in order."""
    c = cuda.grid(1)
    if c >= log_w.shape[0]:
        return
    s = 0.0
    for q in range(lin_part.shape[1]):
        s += lin_part[c, q]
    for q in range(inc_part.shape[1]):
        s += inc_part[c, q]
    log_w[c] = s
