"""Dense layers of the MLP engine on CUDA (Numba), shared by the nn and MADE kernels: activations,
the layer products and the network walks (forward, backward). Contract: ``csrc/KERNELS.md``,
"Neural networks"; CPU twin ``csrc/common/mlp/``.

Every product is one launch of the shared tiled GEMM (``common/gemm.py``: BM x BN output tile per
block, BK-deep slices of both operands staged in shared memory, RM x RN accumulators per thread;
each output element is the k-ordered chain ``acc = fma(a_k, b_k, acc)`` from 0, whatever tile
computes it, so results do not depend on the launch shape; ``geometry`` is read at each call). Three products serve a layer l with
W_l [d_{l-1}, d_l], b_l [d_l] (contiguous in theta, so [W_l; b_l] is one [d_{l-1} + 1, d_l] matrix):

- ``forward``:       a_l = act(a_{l-1} W_l + b_l), bias and activation in the epilogue; the input
                     may be the column concatenation [A1 | A2] (data | condition), read in place.
- ``backward_data``: dz_{l-1} = (dz_l W_l^T) * act'(a_{l-1}), act' fused in the epilogue (layer 1:
                     the input gradient, only its first ``ncols`` columns).
- ``weight_grad``:   [dW_l; db_l] = [a_{l-1} | 1]^T dz_l: the bias gradient is the product's last
                     row (a virtual column of ones), so db sums the rows in row order.

Products run in T (float32 or float64); the kernels of each dtype are built with T-typed
constants by ``kernels(dtype_name, geometry)`` and launched by ``forward_product``,
``backward_product`` and ``weight_product``.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ..args import launch1
from ..kernels import zero_kernel
from ..gemm import GPU_TILES, Geometry, col_stager, gemm, grid, row_stager, tiles

IDENTITY, RELU, LEAKY, TANH, SIGMOID, SOFTPLUS = range(6)
N_ACTS = 6


GPU_GEOMETRY = GPU_TILES  # 256 threads, 2 x 16 x 65 shared words
# The simulator runs one Python thread per CUDA thread: tiny tiles, which the tests' small shapes
# still cross in every direction.
SIM_GEOMETRY = Geometry(bm=8, bn=8, bk=4, rm=2, rn=2)

geometry = SIM_GEOMETRY if numba.config.ENABLE_CUDASIM else GPU_GEOMETRY  # read at each launch


@functools.lru_cache(maxsize=None)
def activations(dtype_name: str):
    """(act(z, code, slope), act_grad(a, code, slope)) device functions in T. act_grad takes the
    activation's output a (the contract keeps no z)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    ZERO, ONE = F(0.0), F(1.0)

    @cuda.jit(device=True)
    def act(z, code, slope):
        if code == RELU:
            return z if z > ZERO else ZERO
        if code == LEAKY:
            return z if z > ZERO else slope * z
        if code == TANH:
            return F(math.tanh(z))
        if code == SIGMOID:
            if z >= ZERO:
                return ONE / (ONE + F(math.exp(-z)))
            e = F(math.exp(z))
            return e / (ONE + e)
        if code == SOFTPLUS:  # max(z, 0) + log1p(e^-|z|): no overflow
            return (z if z > ZERO else ZERO) + F(math.log1p(F(math.exp(-abs(z)))))
        return z

    @cuda.jit(device=True)
    def act_grad(a, code, slope):
        if code == RELU:
            return ONE if a > ZERO else ZERO
        if code == LEAKY:
            return ONE if a > ZERO else slope
        if code == TANH:
            return ONE - a * a
        if code == SIGMOID:
            return a * (ONE - a)
        if code == SOFTPLUS:  # sigmoid(z) = 1 - e^-a
            return F(-math.expm1(-a))
        return ONE

    return act, act_grad


@functools.lru_cache(maxsize=None)
def kernels(dtype_name: str, g: Geometry):
    """The product kernels of one float dtype and geometry (compiled at their first launch), on
    the shared tiled GEMM (``common/gemm.py``); launched by ``forward_product``,
    ``backward_product`` and ``weight_product``."""
    tl = tiles(dtype_name, g)
    F = tl.F
    act, act_grad = activations(dtype_name)
    ZERO, ONE = F(0.0), F(1.0)
    NTH = tl.NTH

    @cuda.jit(device=True)
    def load_input(a, r, k):
        """[A1 | A2][r, k] (a = (A1, A2, k1, K): K total columns), 0 outside."""
        A1, A2, k1, K = a
        v = ZERO
        if r < A1.shape[0] and k < K:
            v = A1[r, k] if k < k1 else A2[r, k - k1]
        return v

    @cuda.jit(device=True)
    def load_input_ones(a, k, c):
        """[A1 | A2 | 1][k, c] (a = (A1, A2, k1, C): C data columns, then a column of ones), 0 outside."""
        A1, A2, k1, C = a
        v = ZERO
        if k < A1.shape[0]:
            if c < k1:
                v = A1[k, c]
            elif c < C:
                v = A2[k, c - k1]
            elif c == C:
                v = ONE
        return v

    @cuda.jit(device=True)
    def forward_out(e, v, m, n):
        """Out[m, n] = act(v + b[n]); e = (b, code, slope, Out)."""
        b, code, slope, Out = e
        Out[m, n] = act(v + b[n], code, slope)
        return 0.0

    @cuda.jit(device=True)
    def backward_out(e, v, m, n):
        """Out[m, n] = v, times act'(Aprev[m, n]) when has_act; e = (Aprev, has_act, code, slope, Out)."""
        Aprev, has_act, code, slope, Out = e
        if has_act:
            v = v * act_grad(Aprev[m, n], code, slope)
        Out[m, n] = v
        return 0.0

    @cuda.jit(device=True)
    def store_out(G, v, m, n):
        G[m, n] = v
        return 0.0

    @cuda.jit
    def output_grad(dY, A, code, slope, dZ):
        """dZ = dY * act'(A), elementwise over [N, d] (the last layer's dz)."""
        i = cuda.grid(1)
        if i < dZ.size:
            m = i // dZ.shape[1]
            n = i % dZ.shape[1]
            dZ[m, n] = dY[m, n] * act_grad(A[m, n], code, slope)

    rows_plain, cols_plain = row_stager(dtype_name, g, tl.load), col_stager(dtype_name, g, tl.load)
    return {"forward": gemm(dtype_name, g, row_stager(dtype_name, g, load_input), cols_plain, forward_out),
            "backward_data": gemm(dtype_name, g, rows_plain, rows_plain, backward_out),
            "weight_grad": gemm(dtype_name, g, col_stager(dtype_name, g, load_input_ones), cols_plain, store_out),
            "output_grad": output_grad, "threads": NTH, "geometry": g}


def forward_product(kern, A1, A2, k1, K, W, b, code, slope, Out):
    """Out[m, n] = act([A1 | A2][m, :] W[:, n] + b[n]) (K = total input columns)."""
    M, Nc = Out.shape
    kern["forward"][grid(M, Nc, kern["geometry"]), kern["threads"]](M, Nc, K, (A1, A2, k1, K), W, (b, code, slope, Out))


def backward_product(kern, dZ, W, Aprev, has_act, code, slope, Out):
    """Out[m, i] = sum_j dZ[m, j] W[i, j], times act'(Aprev[m, i]) when has_act; i < Out's width."""
    M, Nc = Out.shape
    kern["backward_data"][grid(M, Nc, kern["geometry"]), kern["threads"]](M, Nc, dZ.shape[1], dZ, W,
                                                                  (Aprev, has_act, code, slope, Out))


def weight_product(kern, A1, A2, k1, C, dZ, G):
    """G[i, j] = sum_n [A1 | A2 | 1][n, i] dZ[n, j] for i < G's height (<= C + 1), n in order."""
    M, Nc = G.shape
    kern["weight_grad"][grid(M, Nc, kern["geometry"]), kern["threads"]](M, Nc, dZ.shape[0], (A1, A2, k1, C), dZ, G)


# ---------------------------------------------------------------------------------------------
# Network walks on device arrays (validated arguments; see net.Net)


def _dummy(dtype):
    return cuda.device_array((1, 1), dtype=dtype)


def forward(net, X1, X2, out=None, keep=True):
    """Runs the network on the input [X1 | X2] (X2 may be None) of N rows.

    keep: every layer's activations go into ``out`` (flat, the contract's A layout; allocated when
    None) and the list of the [N, d_l] views is returned; otherwise only the last layer's output
    is formed (two ping-pong buffers) and returned as the only list element."""
    g = geometry
    kern = kernels(net.dtype.name, g)
    N = X1.shape[0]
    k1 = X1.shape[1]
    K = net.sizes[0]
    A2 = X2 if X2 is not None else X1
    if keep and out is None:
        out = cuda.device_array(N * net.n_act, dtype=net.dtype)
    views = []
    ping = None
    if not keep:
        width = max(net.sizes[1:-1], default=1)
        ping = [cuda.device_array(N * width, dtype=net.dtype) for _ in range(2 if net.L > 2 else 1)]
    src1, src2, kk1 = X1, A2, k1
    for l in range(1, net.L + 1):
        d = net.sizes[l]
        if keep:
            o = net.act_offsets[l - 1] * N
            Y = out[o:o + N * d].reshape(N, d)
        elif l == net.L:
            Y = cuda.device_array((N, d), dtype=net.dtype)
        else:
            Y = ping[(l - 1) % 2][:N * d].reshape(N, d)
        if N > 0:
            forward_product(kern, src1, src2, kk1, K, net.W(l), net.b(l), int(net.acts[l - 1]), net.slope_t, Y)
        views.append(Y)
        src1, src2, kk1, K = Y, Y, d, d
    return views if keep else views[-1:]


def backward(net, X1, X2, acts, dY, grad=None, dX=None):
    """Backpropagates dY = dLoss/da_L through the network whose activations are ``acts`` (the views
    from ``forward``) on the input [X1 | X2].

    grad: flat T[P] receiving dLoss/dtheta (None: parameter gradients are skipped, e.g. the
    generator's pass through the discriminator); dX: [N, c] receiving the first c columns of
    dLoss/dinput (None: not formed)."""
    g = geometry
    kern = kernels(net.dtype.name, g)
    N = dY.shape[0]
    if N == 0:
        if grad is not None and grad.size:
            zero(grad)
        return
    T = net.dtype
    A2 = X2 if X2 is not None else X1
    L = net.L
    d = net.sizes[L]
    code = int(net.acts[L - 1])
    if code == IDENTITY:
        dz = dY
    else:
        dz = cuda.device_array((N, d), dtype=T)
        kern["output_grad"][launch1(N * d)](dY, acts[L - 1], code, net.slope_t, dz)
    width = max(net.sizes[1:L], default=1)
    bufs = [cuda.device_array(N * width, dtype=T) for _ in range(2 if L > 2 else 1)]
    for l in range(L, 0, -1):
        din = net.sizes[l - 1]
        if grad is not None:
            if l > 1:
                a, a2, k1 = acts[l - 2], acts[l - 2], din
            else:
                a, a2, k1 = X1, A2, X1.shape[1]
            G = net.grad_block(grad, l)
            weight_product(kern, a, a2, k1, din, dz, G)
        if l > 1:
            nxt = bufs[l % 2][:N * din].reshape(N, din)
            backward_product(kern, dz, net.W(l), acts[l - 2], True, int(net.acts[l - 2]), net.slope_t, nxt)
            dz = nxt
        elif dX is not None and dX.shape[1] > 0:
            backward_product(kern, dz, net.W(1), dz, False, 0, net.slope_t, dX)


def zero(a):
    """a[:] = 0 on the device (flat)."""
    zero_kernel[launch1(a.size)](a)
