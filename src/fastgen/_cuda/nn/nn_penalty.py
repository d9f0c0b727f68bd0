"""WGAN-GP gradient penalty of an MLP critic on CUDA (Numba): the GPU twin of ``csrc/nn/penalty.hpp``;
contract in ``csrc/KERNELS.md`` ("Neural networks").

- ``mlp_penalty_backward(theta, sizes, acts, slope, X, A, weight) -> (gp T[N], grad T[P])``

The derivation (forward-over-reverse through the input-gradient pass) is written out in
``csrc/nn/penalty.hpp``; this module runs the same sweeps:

1. input-gradient sweep, downwards: delta_L = act'_L(a_L); g_{l-1} = delta_l W_l^T (a product);
   delta_{l-1} = g_{l-1} * act'_{l-1}(a_{l-1}) (elementwise);
2. per row: ||g_0|| in float64 (T values widened through ``widen.f64``), gp, and
   gbar_0 = (2 weight / N) (||g_0|| - 1) g_0 / ||g_0|| (0 when ||g_0|| = 0);
3. reverse, upwards: deltabar_l = gbar_{l-1} W_l (a product); gbar_l = deltabar_l * act'_l and
   zbar_l = deltabar_l * g_l * act''_l (elementwise); layers above `top` (the highest layer with
   act'' != 0) take dW_l = gbar_{l-1}^T delta_l at once;
4. z-adjoints back through the forward pass, downwards from top: dW_l = [gbar_{l-1}; a_{l-1}]^T
   [delta_l; zt_l] (one product of inner size 2N over the stacked operands, as on the CPU),
   db_l = column sums of zt_l (rows in order, float64), zt_{l-1} = zbar_{l-1} + (zt_l W_l^T) * act'.

The products are the MLP engine's tiled kernels (``common/mlp/dense.py``; k-ordered fma chains:
results independent of the launch shape): ``backward_product`` for X W^T, ``forward_product``
with the identity and a zero bias for X W, ``weight_product`` (its bias row left out) for the dW
products. The elementwise kernels here
run one thread per element, the per-row and per-column sums one thread per row / column with a
fixed order (deterministic, no atomics).

Inputs are NumPy arrays (copied to the device once) or device arrays (used in place); results are
Numba device arrays.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from ..common.args import launch1 as _launch, matrix, real, vector
from ..common.mlp import dense as _dense
from ..common.mlp.dense import LEAKY, RELU, SIGMOID, SOFTPLUS, TANH
from ..common.mlp.net import Net
from ..common.widen import f64 as _f64

__all__ = ["mlp_penalty_backward"]

_SECOND_ORDER = (TANH, SIGMOID, SOFTPLUS)  # act'' is identically 0 for identity, relu, leaky_relu
assert RELU not in _SECOND_ORDER and LEAKY not in _SECOND_ORDER


@functools.lru_cache(maxsize=None)
def _kernels(dtype_name: str):
    """The elementwise and row/column kernels of one float dtype (T-typed constants)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    ZERO, ONE, TWO = F(0.0), F(1.0), F(2.0)
    _, act_grad = _dense.activations(dtype_name)

    @cuda.jit(device=True)
    def act_grad2(a, code):
        """act''(z) from a = act(z) (KERNELS.md)."""
        if code == TANH:
            return -TWO * a * (ONE - a * a)
        if code == SIGMOID:
            return a * (ONE - a) * (ONE - TWO * a)
        if code == SOFTPLUS:
            s = F(-math.expm1(-a))
            return s * (ONE - s)
        return ZERO

    @cuda.jit
    def output_delta(A, code, slope, out):
        """out[n] = act'_L(a_L[n]) (d_L = 1): delta_L."""
        i = cuda.grid(1)
        if i < out.shape[0]:
            out[i, 0] = act_grad(A[i, 0], code, slope)

    @cuda.jit
    def times_act_grad(G, A, code, slope, out):
        """out = G * act'(A), elementwise over [N, d]."""
        i = cuda.grid(1)
        if i < out.size:
            m = i // out.shape[1]
            n = i % out.shape[1]
            out[m, n] = G[m, n] * act_grad(A[m, n], code, slope)

    @cuda.jit
    def norms(G, scale, gp, gbar):
        """Per row: ||g|| in float64; gp = (||g|| - 1)^2; gbar = scale (||g|| - 1) / ||g|| g (0 at ||g|| = 0)."""
        n = cuda.grid(1)
        if n < G.shape[0]:
            ss = 0.0
            for j in range(G.shape[1]):
                v = _f64(G[n, j])
                ss += v * v
            norm = math.sqrt(ss)
            gp[n] = F((norm - 1.0) * (norm - 1.0))
            coef = scale * (norm - 1.0) / norm if norm > 0.0 else 0.0
            for j in range(G.shape[1]):
                gbar[n, j] = F(coef * _f64(G[n, j]))

    @cuda.jit
    def reverse_step(Dbar, A, G, has_g, code, slope, want_gbar, gbar, zmode, zbar):
        """gbar = Dbar * act'(A) (want_gbar); zbar = Dbar * g * act''(A) (zmode 2; g = 1 when not
        has_g) or 0 (zmode 1); elementwise over [N, d]."""
        i = cuda.grid(1)
        if i < Dbar.size:
            m = i // Dbar.shape[1]
            n = i % Dbar.shape[1]
            d = Dbar[m, n]
            a = A[m, n]
            if want_gbar:
                gbar[m, n] = d * act_grad(a, code, slope)
            if zmode == 2:
                g = G[m, n] if has_g else ONE
                zbar[m, n] = d * g * act_grad2(a, code)
            elif zmode == 1:
                zbar[m, n] = ZERO

    @cuda.jit
    def add_times_act_grad(P, A, code, slope, Z):
        """Z += P * act'(A), elementwise over [N, d] (zt_{l-1} = zbar_{l-1} + (zt_l W_l^T) * act')."""
        i = cuda.grid(1)
        if i < Z.size:
            m = i // Z.shape[1]
            n = i % Z.shape[1]
            Z[m, n] = Z[m, n] + P[m, n] * act_grad(A[m, n], code, slope)

    @cuda.jit
    def column_sums(Z, out):
        """out[j] = sum_n Z[n, j], rows in order, in float64 (the bias gradient)."""
        j = cuda.grid(1)
        if j < Z.shape[1]:
            s = 0.0
            for n in range(Z.shape[0]):
                s += _f64(Z[n, j])
            out[j] = F(s)

    @cuda.jit
    def fill(a, v):
        i = cuda.grid(1)
        if i < a.size:
            a[i] = v

    return {"output_delta": output_delta, "times_act_grad": times_act_grad, "norms": norms,
            "reverse_step": reverse_step, "add_times_act_grad": add_times_act_grad,
            "column_sums": column_sums, "fill": fill}


def mlp_penalty_backward(theta, sizes, acts, slope, X, A, weight):
    """(gp T[N], grad T[P]): the WGAN-GP penalty gp_n = (||d a_L[n] / d X[n]|| - 1)^2 of a critic with
    d_L = 1 and the gradient of weight * mean_n gp_n in theta."""
    net = Net(theta, sizes, acts, slope)
    if net.d_out != 1:
        raise ValueError(f"sizes: the gradient penalty needs a scalar output (d_L = 1), got d_L = {net.d_out}")
    weight = real(weight, "weight")
    T = net.dtype
    Xa = matrix(X, "X", T, -1, net.d_in)
    N = Xa.shape[0]
    if N < 1:
        raise ValueError("X: need at least one row (the penalty is a mean over rows)")
    Aa = vector(A, "A", T, N * net.n_act)

    dk = _dense.kernels(T.name, _dense.geometry)
    ek = _kernels(T.name)
    L, d = net.L, net.sizes
    slope_t = net.slope_t
    codes = [int(c) for c in net.acts]
    a = [Xa.device()] + net.act_views(Aa.device(), N)  # a[l]: [N, d_l]
    top = max((l for l in range(1, L + 1) if codes[l - 1] in _SECOND_ORDER), default=0)

    grad = cuda.device_array(net.P, dtype=T)
    gp = cuda.device_array(N, dtype=T)
    # Stacked dW operands U_l = [gbar_{l-1}; a_{l-1}] [2N, d_{l-1}], V_l = [delta_l; zt_l] [2N, d_l]
    # (N rows for layers above top); G[l] = g_l [N, d_l] for l < L.
    U = [None] + [cuda.device_array(((2 if l <= top else 1) * N, d[l - 1]), dtype=T) for l in range(1, L + 1)]
    V = [None] + [cuda.device_array(((2 if l <= top else 1) * N, d[l]), dtype=T) for l in range(1, L + 1)]
    G = [cuda.device_array((N, d[l]), dtype=T) for l in range(L)]
    dmax = max(d)
    tmp = cuda.device_array(N * dmax, dtype=T)
    zero_b = cuda.device_array(dmax, dtype=T)
    ek["fill"][_launch(dmax)](zero_b, T.type(0))

    def W(l):
        return net.W(l)

    def dW(l):
        o = net.offsets[l - 1]
        return grad[o:o + d[l - 1] * d[l]].reshape(d[l - 1], d[l])

    def db(l):
        o = net.offsets[l - 1] + d[l - 1] * d[l]
        return grad[o:o + d[l]]

    # 1. input-gradient sweep
    ek["output_delta"][_launch(N)](a[L], codes[L - 1], slope_t, V[L][:N])
    for l in range(L, 0, -1):
        _dense.backward_product(dk, V[l][:N], W(l), a[0], False, 0, slope_t, G[l - 1])
        if l > 1:
            ek["times_act_grad"][_launch(N * d[l - 1])](G[l - 1], a[l - 1], codes[l - 2], slope_t, V[l - 1][:N])

    # 2. penalty and gbar_0
    ek["norms"][_launch(N)](G[0], 2.0 * weight / N, gp, U[1][:N])

    # 3. reverse sweep, upwards
    for l in range(1, L + 1):
        need_gbar = l < L
        need_zbar = l <= top and codes[l - 1] in _SECOND_ORDER
        if need_gbar or need_zbar:
            Dbar = tmp[:N * d[l]].reshape(N, d[l])
            _dense.forward_product(dk, U[l][:N], U[l][:N], d[l - 1], d[l - 1], W(l), zero_b[:d[l]], 0, slope_t,
                                   Dbar)
            zmode = 2 if need_zbar else (1 if l <= top else 0)
            gl = G[l] if l < L else Dbar
            gb = U[l + 1][:N] if need_gbar else Dbar
            zb = V[l][N:] if l <= top else Dbar
            ek["reverse_step"][_launch(N * d[l])](Dbar, a[l], gl, l < L, codes[l - 1], slope_t, need_gbar, gb,
                                                  zmode, zb)
        if l > top:
            _dense.weight_product(dk, U[l], U[l], d[l - 1], d[l - 1], V[l], dW(l))
            ek["fill"][_launch(d[l])](db(l), T.type(0))

    # 4. z-adjoints back through the forward pass, downwards from top
    for l in range(top, 0, -1):
        zt = V[l][N:]
        U[l][N:].copy_to_device(a[l - 1])
        _dense.weight_product(dk, U[l], U[l], d[l - 1], d[l - 1], V[l], dW(l))
        ek["column_sums"][_launch(d[l])](zt, db(l))
        if l > 1:
            P = tmp[:N * d[l - 1]].reshape(N, d[l - 1])
            _dense.backward_product(dk, zt, W(l), a[0], False, 0, slope_t, P)
            ek["add_times_act_grad"][_launch(N * d[l - 1])](P, a[l - 1], codes[l - 2], slope_t, V[l - 1][N:])
    return gp, grad
