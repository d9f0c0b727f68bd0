"""Dense layers of the MLP engine on CUDA (Numba): the tiled matrix products and the network
walks (forward, backward) that the nn kernels build on. Contract: ``csrc/KERNELS.md``, "Neural
networks"; CPU twin ``csrc/nn/nn.hpp``.

Every product is one launch of a shared-memory tiled kernel (``Geometry``: BM x BN output tile per
block, BK-deep slices of both operands staged in shared memory, RM x RN accumulators per thread;
each output element is the k-ordered chain ``acc = fma(a_k, b_k, acc)`` from 0, whatever tile
computes it, so results do not depend on the launch shape). Three products serve a layer l with
W_l [d_{l-1}, d_l], b_l [d_l] (contiguous in theta, so [W_l; b_l] is one [d_{l-1} + 1, d_l] matrix):

- ``forward``:       a_l = act(a_{l-1} W_l + b_l), bias and activation in the epilogue; the input
                     may be the column concatenation [A1 | A2] (data | condition), read in place.
- ``backward_data``: dz_{l-1} = (dz_l W_l^T) * act'(a_{l-1}), act' fused in the epilogue (layer 1:
                     the input gradient, only its first ``ncols`` columns).
- ``weight_grad``:   [dW_l; db_l] = [a_{l-1} | 1]^T dz_l: the bias gradient is the product's last
                     row (a virtual column of ones), so db sums the rows in row order.

Products run in T (float32 or float64); the kernels of each dtype are built with T-typed
constants by ``kernels(dtype_name, geometry)``.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from ..common.fma import _fma  # the hardware FMA on a GPU; an exactly rounded one under the simulator

IDENTITY, RELU, LEAKY, TANH, SIGMOID, SOFTPLUS = range(6)
N_ACTS = 6


class Geometry(NamedTuple):
    """bm x bn output tile per block, bk-deep shared slices, rm x rn accumulators per thread."""

    bm: int
    bn: int
    bk: int
    rm: int
    rn: int


GPU_GEOMETRY = Geometry(bm=64, bn=64, bk=16, rm=4, rn=4)  # 256 threads, 2 x 16 x 65 shared words
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
    """The product kernels of one float dtype and geometry (compiled at their first launch)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    NT = numba.float32 if F is np.float32 else numba.float64
    act, act_grad = activations(dtype_name)
    ZERO, ONE = F(0.0), F(1.0)
    BM, BN, BK, RM, RN = g.bm, g.bn, g.bk, g.rm, g.rn
    TX, TY = BN // RN, BM // RM
    NTH = TX * TY
    BMP, BNP = BM + 1, BN + 1  # padded rows: conflict-free transposing stores

    @cuda.jit(device=True)
    def mma(acc, As, Bs, ty, tx):
        """acc[r, c] = fma(A[k, row r], B[k, col c], acc[r, c]) for the BK staged k, in order."""
        a = cuda.local.array(RM, NT)
        b = cuda.local.array(RN, NT)
        for kk in range(BK):
            for r in range(RM):
                a[r] = As[kk, ty + TY * r]
            for c in range(RN):
                b[c] = Bs[kk, tx + TX * c]
            for r in range(RM):
                for c in range(RN):
                    acc[r, c] = _fma(a[r], b[c], acc[r, c])

    @cuda.jit(device=True)
    def zero_acc(acc):
        for r in range(RM):
            for c in range(RN):
                acc[r, c] = ZERO

    @cuda.jit(device=True)
    def stage_rows(S, A1, A2, k1, K, r0, k0, t, width):
        """S[kk, rr] = [A1 | A2][r0 + rr, k0 + kk] (K = total columns), 0 outside; k is contiguous
        in memory, so consecutive threads take consecutive kk."""
        R = A1.shape[0]
        for l in range(t, BK * width, NTH):
            kk = l % BK
            rr = l // BK
            r = r0 + rr
            k = k0 + kk
            v = ZERO
            if r < R and k < K:
                v = A1[r, k] if k < k1 else A2[r, k - k1]
            S[kk, rr] = v

    @cuda.jit(device=True)
    def stage_cols(S, A1, A2, k1, C, ones, c0, k0, t, width):
        """S[kk, cc] = [A1 | A2 | 1][k0 + kk, c0 + cc] (C data columns, then a column of ones when
        `ones`), 0 outside; columns contiguous (coalesced)."""
        R = A1.shape[0]
        for l in range(t, BK * width, NTH):
            cc = l % width
            kk = l // width
            k = k0 + kk
            c = c0 + cc
            v = ZERO
            if k < R:
                if c < k1:
                    v = A1[k, c]
                elif c < C:
                    v = A2[k, c - k1]
                elif ones and c == C:
                    v = ONE
            S[kk, cc] = v

    @cuda.jit
    def forward(A1, A2, k1, K, W, b, code, slope, Out):
        """Out[m, n] = act([A1 | A2][m, :] W[:, n] + b[n])."""
        As = cuda.shared.array((BK, BMP), NT)
        Bs = cuda.shared.array((BK, BNP), NT)
        acc = cuda.local.array((RM, RN), NT)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.x * BM
        n0 = cuda.blockIdx.y * BN
        M = Out.shape[0]
        Nc = Out.shape[1]
        zero_acc(acc)
        for kb in range(0, K, BK):
            stage_rows(As, A1, A2, k1, K, m0, kb, t, BM)
            stage_cols(Bs, W, W, Nc, Nc, False, n0, kb, t, BN)
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < Nc:
                    Out[m, n] = act(acc[r, c] + b[n], code, slope)

    @cuda.jit
    def backward_data(dZ, W, Aprev, has_act, code, slope, Out):
        """Out[m, i] = sum_j dZ[m, j] W[i, j], times act'(Aprev[m, i]) when has_act; i < Out's width."""
        As = cuda.shared.array((BK, BMP), NT)
        Bs = cuda.shared.array((BK, BNP), NT)
        acc = cuda.local.array((RM, RN), NT)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.x * BM
        n0 = cuda.blockIdx.y * BN
        M = Out.shape[0]
        Nc = Out.shape[1]
        K = dZ.shape[1]
        zero_acc(acc)
        for kb in range(0, K, BK):
            stage_rows(As, dZ, dZ, K, K, m0, kb, t, BM)
            stage_rows(Bs, W, W, K, K, n0, kb, t, BN)
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < Nc:
                    v = acc[r, c]
                    if has_act:
                        v = v * act_grad(Aprev[m, n], code, slope)
                    Out[m, n] = v

    @cuda.jit
    def weight_grad(A1, A2, k1, C, dZ, G):
        """G[i, j] = sum_n [A1 | A2 | 1][n, i] dZ[n, j] for i <= C (G: [C + 1, d_out]), n in order."""
        As = cuda.shared.array((BK, BMP), NT)
        Bs = cuda.shared.array((BK, BNP), NT)
        acc = cuda.local.array((RM, RN), NT)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.x * BM
        n0 = cuda.blockIdx.y * BN
        M = G.shape[0]
        Nc = G.shape[1]
        K = dZ.shape[0]
        zero_acc(acc)
        for kb in range(0, K, BK):
            stage_cols(As, A1, A2, k1, C, True, m0, kb, t, BM)
            stage_cols(Bs, dZ, dZ, Nc, Nc, False, n0, kb, t, BN)
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < Nc:
                    G[m, n] = acc[r, c]

    @cuda.jit
    def output_grad(dY, A, code, slope, dZ):
        """dZ = dY * act'(A), elementwise over [N, d] (the last layer's dz)."""
        i = cuda.grid(1)
        if i < dZ.size:
            m = i // dZ.shape[1]
            n = i % dZ.shape[1]
            dZ[m, n] = dY[m, n] * act_grad(A[m, n], code, slope)

    return {"forward": forward, "backward_data": backward_data, "weight_grad": weight_grad,
            "output_grad": output_grad, "threads": NTH}


def _grid(M: int, N: int, g: Geometry):
    return (-(-M // g.bm), -(-N // g.bn))


# ---------------------------------------------------------------------------------------------
# Network walks on device arrays (validated arguments; see nn_net.Net)


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
            kern["forward"][_grid(N, d, g), kern["threads"]](src1, src2, kk1, K, net.W(l), net.b(l),
                                                            int(net.acts[l - 1]), net.slope_t, Y)
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
    th = kern["threads"]
    A2 = X2 if X2 is not None else X1
    L = net.L
    d = net.sizes[L]
    code = int(net.acts[L - 1])
    if code == IDENTITY:
        dz = dY
    else:
        dz = cuda.device_array((N, d), dtype=T)
        kern["output_grad"][_launch1(N * d)](dY, acts[L - 1], code, net.slope_t, dz)
    width = max(net.sizes[1:L], default=1)
    bufs = [cuda.device_array(N * width, dtype=T) for _ in range(2 if L > 2 else 1)]
    for l in range(L, 0, -1):
        din, dout = net.sizes[l - 1], net.sizes[l]
        if grad is not None:
            if l > 1:
                a, a2, k1 = acts[l - 2], acts[l - 2], din
            else:
                a, a2, k1 = X1, A2, X1.shape[1]
            G = net.grad_block(grad, l)
            kern["weight_grad"][_grid(din + 1, dout, g), th](a, a2, k1, din, dz, G)
        if l > 1:
            nxt = bufs[l % 2][:N * din].reshape(N, din)
            kern["backward_data"][_grid(N, din, g), th](dz, net.W(l), acts[l - 2], True,
                                                        int(net.acts[l - 2]), net.slope_t, nxt)
            dz = nxt
        elif dX is not None and dX.shape[1] > 0:
            kern["backward_data"][_grid(N, dX.shape[1], g), th](dz, net.W(1), dz, False, 0, net.slope_t, dX)


def _launch1(n):
    from ..rng import launch
    return launch(max(n, 1))


@cuda.jit
def _zero_kernel(a):
    i = cuda.grid(1)
    if i < a.size:
        a[i] = 0


def zero(a):
    """a[:] = 0 on the device (flat)."""
    _zero_kernel[_launch1(a.size)](a)
