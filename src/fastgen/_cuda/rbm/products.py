"""The RBM half-steps, the AIS base draw and the CD weight update as launches of the shared tiled
GEMM (``common/gemm.py``): each is its stagers and its epilogue (bias, sigmoid, the Philox draw of
the element, row partials of the float64 sums; see the package docstring). Kernel arguments are
``(M, N, K, a, b, e)``; ``model.py`` launches them.
"""
from __future__ import annotations

import functools

from numba import cuda

from ..common.fma import _fma  # the hardware FMA on a GPU; an exactly rounded one under the simulator
from ..common.gemm import Geometry, col_stager, gemm, no_stage, row_stager, tiles
from ..common.philox import normal_at, uniform_at
from ..common.widen import f64 as _f64
from .sigmoid import ADD, MUL, make_sigmoid, softplus

# Epilogue modes of the hidden product.
H_PROBS = 0   # p = sigmoid(beta (acc + b_h)): write P and/or draw S
H_FREE = 1    # row partials of sum_j softplus(acc + b_h)
H_PSEUDO = 2  # row partials of sum_j softplus(a'_j) - softplus(a_j), a' = a + d W[j, flip]
H_AIS = 3     # accumulate sum_j softplus(b1 x_j) - softplus(b0 x_j); draw S if asked


@cuda.jit(device=True)
def _visible_term(v, gaussian, sigma, b_v, a, n):
    """The change of visible unit n's linear term of log p* from the base model's (a) to the
    model's (b_v) at the value v, float64 (AIS weight increments)."""
    vd = _f64(v)
    if gaussian:
        sd = _f64(sigma[n])
        db = vd - _f64(b_v[n])
        da = vd - _f64(a[n])
        return -(0.5 * (db * db - da * da) * (1.0 / (sd * sd)))
    return (_f64(b_v[n]) - _f64(a[n])) * vd


@functools.lru_cache(maxsize=None)
def _stagers(dtype_name: str, g: Geometry):
    """(stage_scaled_rows, stage_cols, stage_stacked): the stagers of the RBM operands."""
    tl = tiles(dtype_name, g)
    ZERO = tl.F(0.0)

    @cuda.jit(device=True)
    def load_scaled(a, r, k):
        """a = (src, scale, scaled): src[r, k] (times scale[k] if scaled), 0 outside."""
        src, scale, scaled = a
        v = ZERO
        if r < src.shape[0] and k < src.shape[1]:
            v = src[r, k]
            if scaled:
                v = v * scale[k]
        return v

    @cuda.jit(device=True)
    def load_stacked(a, r, c):
        """a = (X1, X2, s1, s2, scaled): row r of [X1 (* s1); X2 (* s2)] at column c (the B positive
        rows, then the C negative rows), 0 outside."""
        X1, X2, s1, s2, scaled = a
        B = X1.shape[0]
        v = ZERO
        if c < X1.shape[1] and r < B + X2.shape[0]:
            if scaled:
                v = X1[r, c] * s1 if r < B else X2[r - B, c] * s2
            else:
                v = X1[r, c] if r < B else X2[r - B, c]
        return v

    return (row_stager(dtype_name, g, load_scaled), col_stager(dtype_name, g, tl.load),
            col_stager(dtype_name, g, load_stacked))


@functools.lru_cache(maxsize=None)
def _hidden_kernel(dtype_name: str, g: Geometry):
    """X[m, j] = sum_i Vin[m, i] (/ s_i) W[j, i], then the epilogue `mode`. a = (Vin, iv, scaled),
    b = (W, iv, False), e = (Vin, W, b_h, mode, beta, b1, b0, want_p, P, want_s, S, k0, k1, s0, s1,
    flip, part, accumulate)."""
    tl = tiles(dtype_name, g)
    F = tl.F
    single = dtype_name == "float32"
    sigmoid = make_sigmoid(single, True)  # the product epilogues (CPU: FMA code)
    mul_t, add_t = MUL[single], ADD[single]
    ZERO, ONE, TWO = F(0.0), F(1.0), F(2.0)
    tile_partials = tl.tile_partials
    stage_scaled_rows = _stagers(dtype_name, g)[0]

    @cuda.jit(device=True)
    def epilogue(e, acc, m, n):
        Vin, W, b_h, mode, beta, b1, b0, want_p, P, want_s, S, k0, k1, s0, s1, flip, part, accumulate = e
        x = acc + b_h[n]
        if mode == H_PROBS or mode == H_AIS:
            term = 0.0
            if mode == H_AIS:
                xd = _f64(x)
                term = softplus(b1 * xd) - softplus(b0 * xd)
            if want_p or want_s:
                p = sigmoid(beta * x)
                if want_p:
                    P[m, n] = p
                if want_s:
                    u = uniform_at(k0, k1, s0, s1, m * W.shape[0] + n)
                    S[m, n] = ONE if u < _f64(p) else ZERO
            return term
        if mode == H_FREE:
            return softplus(_f64(x))
        i = flip[m]
        d = ONE - TWO * Vin[m, i]
        x2 = add_t(x, mul_t(d, W[n, i]))  # CPU: baseline code, not fused
        return softplus(_f64(x2)) - softplus(_f64(x))

    @cuda.jit(device=True)
    def rows(e, red, m0, M, t):
        mode, part, accumulate = e[3], e[16], e[17]
        if mode != H_PROBS:
            tile_partials(red, part, t, m0, M, cuda.blockIdx.y, 1.0, accumulate)

    return gemm(dtype_name, g, stage_scaled_rows, stage_scaled_rows, epilogue, rows)


@functools.lru_cache(maxsize=None)
def _visible_kernels(dtype_name: str, g: Geometry):
    """The visible half-step X[m, i] = sum_j Hs[m, j] W[j, i], then the mean and the draw
    (a = (Hs, b_v, False), b = W, e = (W, b_v, gaussian, sigma, ais, beta, base_w, a, want_m, Mout,
    want_s, S, k0, k1, s0, s1, lin_w, part)); and AIS's base-model draw, the same tiling with K = 0
    so that its partials line up (e = (a, gaussian, sigma, b_v, k0, k1, s0, s1, lin_w, Vout, part))."""
    tl = tiles(dtype_name, g)
    F = tl.F
    single = dtype_name == "float32"
    sigmoid = make_sigmoid(single, True)            # the product epilogues (CPU: FMA code)
    sigmoid_unfused = make_sigmoid(single, False)   # the AIS base draw (CPU: baseline code)
    mul_t, add_t = MUL[single], ADD[single]
    ZERO, ONE = F(0.0), F(1.0)
    tile_partials = tl.tile_partials
    stage_scaled_rows, stage_cols, _ = _stagers(dtype_name, g)

    @cuda.jit(device=True)
    def visible(e, acc, m, n):
        W, b_v, gaussian, sigma, ais, beta, base_w, a, want_m, Mout, want_s, S, k0, k1, s0, s1, lin_w, part = e
        if ais:
            mu = _fma(base_w, a[n], beta * (acc + b_v[n]))
        else:
            mu = acc + b_v[n]
        if not gaussian:
            mu = sigmoid(mu)
        if want_m:
            Mout[m, n] = mu
        term = 0.0
        if want_s:
            idx = m * W.shape[1] + n
            if gaussian:
                v = _fma(sigma[n], F(normal_at(k0, k1, s0, s1, idx)), mu)
            else:
                v = ONE if uniform_at(k0, k1, s0, s1, idx) < _f64(mu) else ZERO
            S[m, n] = v
            if ais:
                term = _visible_term(v, gaussian, sigma, b_v, a, n)
        return term

    @cuda.jit(device=True)
    def visible_rows(e, red, m0, M, t):
        if e[4]:
            tile_partials(red, e[17], t, m0, M, cuda.blockIdx.y, e[16], True)

    @cuda.jit(device=True)
    def base(e, acc, m, n):
        a, gaussian, sigma, b_v, k0, k1, s0, s1, lin_w, Vout, part = e
        idx = m * Vout.shape[1] + n
        # The CPU draws the base model in baseline code: nothing fused here.
        if gaussian:
            v = add_t(a[n], mul_t(sigma[n], F(normal_at(k0, k1, s0, s1, idx))))
        else:
            v = ONE if uniform_at(k0, k1, s0, s1, idx) < _f64(sigmoid_unfused(a[n])) else ZERO
        Vout[m, n] = v
        return _visible_term(v, gaussian, sigma, b_v, a, n)

    @cuda.jit(device=True)
    def base_rows(e, red, m0, M, t):
        tile_partials(red, e[10], t, m0, M, cuda.blockIdx.y, e[8], False)

    return (gemm(dtype_name, g, stage_scaled_rows, stage_cols, visible, visible_rows),
            gemm(dtype_name, g, no_stage, no_stage, base, base_rows))


@functools.lru_cache(maxsize=None)
def _cd_kernel(dtype_name: str, g: Geometry):
    """CD update: G[j, i] = sum over the B + C rows r of A[r, j] Bm[r, i], A = [H_pos / B; -H_neg / C],
    Bm = [V_pos; V_neg] (a = (Hp, Hn, sp, sn, True), b = (Vp, Vn, 1, 1, False)); the epilogue applies
    the momentum/decay update to W in place (fuse) or keeps G (learned variances).
    e = (fuse, gaussian, sigma, W, vel_W, lr, momentum, decay, G)."""
    ONE = tiles(dtype_name, g).F(1.0)
    stage_stacked = _stagers(dtype_name, g)[2]

    @cuda.jit(device=True)
    def epilogue(e, acc, j, i):
        fuse, gaussian, sigma, W, vel_W, lr, momentum, decay, G = e
        if fuse:
            w = W[j, i]
            if gaussian:
                s = sigma[i]
                grad = _fma(acc, ONE / (s * s), -(decay * w))
            else:
                grad = _fma(-decay, w, acc)
            m = _fma(momentum, vel_W[j, i], lr * grad)
            vel_W[j, i] = m
            W[j, i] = w + m
        else:
            G[j, i] = acc
        return 0.0

    return gemm(dtype_name, g, stage_stacked, stage_stacked, epilogue)


def kernels(dtype_name: str, g: Geometry) -> dict:
    """The product kernels of one float dtype and launch geometry (compiled at their first launch)."""
    visible, ais_base = _visible_kernels(dtype_name, g)
    return dict(hidden=_hidden_kernel(dtype_name, g), visible=visible, ais_base=ais_base,
                cd=_cd_kernel(dtype_name, g), threads=tiles(dtype_name, g).NTH)
