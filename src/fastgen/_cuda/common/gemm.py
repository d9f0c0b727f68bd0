"""The tiled matrix product on CUDA (Numba), shared by the dense layers of the MLP engine
(``common/mlp/dense.py``) and the RBM half-steps (``rbm/``): one implementation of the tiling, the
staging and the multiply-add order; each use plugs in how its operands are staged and what its
epilogue does with each output element. The twin of ``csrc/common/``'s GEMM micro-kernels.

A product is one launch of ``gemm(dtype_name, g, stage_a, stage_b, epilogue, rows=None)``:
``kernel[grid(M, N, g), g.threads](M, N, K, a, b, e)``. Each block computes a BM x BN output tile,
BK-deep slices of both operands staged in shared memory (``Geometry``), RM x RN accumulators per
thread; each output element is the k-ordered chain ``acc = fma(a_k, b_k, acc)`` from 0 (zero
padding past K adds exact zeros), whatever tile, block or thread computes it, so results do not
depend on the launch shape. The plug-ins are device functions built per dtype and geometry (the
factory closes over them; kernels are cached by the callers' factories):

- ``stage_a(S, a, m0, k0, t, width)``: S[kk, mm] = A[m0 + mm, k0 + kk] for kk < BK, mm < width, 0
  outside A; ``stage_b(S, b, n0, k0, t, width)``: S[kk, nn] = B[k0 + kk, n0 + nn]. Thread t of
  ``threads`` takes elements t, t + threads, ... ``a`` and ``b`` are the operands as the stagers
  want them (an array or a tuple).
- ``epilogue(e, v, m, n) -> float64``: output element (m, n) (inside M x N) with its product v;
  ``e`` is the epilogue's arguments (a tuple). The value returned is the element's term of its
  row's partial sum, used with ``rows``.
- ``rows(e, red, m0, M, t)`` (optional): after the epilogues, red[mm, q] (shared, float64) holds
  thread column q's partial sum of tile row mm (its terms added in column order); ``rows`` is
  called by every thread of the block and typically calls ``tile_partials``.

Stagers are usually ``row_stager`` / ``col_stager`` around an element loader ``load(x, i, j)``
(0 outside the operand; ``tiles(...).load`` reads a plain matrix). ``tiles(dtype_name, g)`` gives
the T-typed constants and the shared device functions (``mma``, ``zero_acc``, ``tile_partials``,
``load``) to the loaders and epilogues of the callers.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from .fma import _fma  # the hardware FMA on a GPU; an exactly rounded one under the simulator


class Geometry(NamedTuple):
    """bm x bn output tile per block, bk-deep shared slices, rm x rn accumulators per thread
    (so (bm / rm) * (bn / rn) threads per block)."""

    bm: int
    bn: int
    bk: int
    rm: int
    rn: int

    @property
    def threads(self) -> int:
        return (self.bn // self.rn) * (self.bm // self.rm)


# A data-centre GPU: 256 threads per block, 4 x 4 accumulators each, 2 x 16 x 65 words of shared
# operands (the +1 column keeps the transposing stores free of bank conflicts).
GPU_TILES = Geometry(bm=64, bn=64, bk=16, rm=4, rn=4)


def grid(n_rows: int, n_cols: int, g: Geometry):
    """The blocks of an n_rows x n_cols product."""
    return (-(-n_rows // g.bm), -(-n_cols // g.bn))


@functools.lru_cache(maxsize=None)
def tiles(dtype_name: str, g: Geometry):
    """T-typed constants and the device functions of the tiling for one dtype and geometry."""
    F = np.float32 if dtype_name == "float32" else np.float64
    NT = numba.float32 if F is np.float32 else numba.float64
    ZERO = F(0.0)
    BM, BN, BK, RM, RN = g.bm, g.bn, g.bk, g.rm, g.rn
    TX, TY = BN // RN, BM // RM
    NTH = TX * TY

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
    def tile_partials(red, part, t, m0, M, tile, weight, accumulate):
        """part[m, tile] (+)= weight * (sum over the tile's columns of the threads' partials
        red[row, tx], tx in order). Called by every thread of the block."""
        cuda.syncthreads()
        for mm in range(t, BM, NTH):
            m = m0 + mm
            if m < M:
                s = 0.0
                for q in range(TX):
                    s += red[mm, q]
                if accumulate:
                    part[m, tile] += weight * s
                else:
                    part[m, tile] = weight * s

    @cuda.jit(device=True)
    def load(A, i, j):
        """A[i, j], 0 outside A (the plain operand loader)."""
        v = ZERO
        if i < A.shape[0] and j < A.shape[1]:
            v = A[i, j]
        return v

    return SimpleNamespace(F=F, NT=NT, BM=BM, BN=BN, BK=BK, RM=RM, RN=RN, TX=TX, TY=TY, NTH=NTH, mma=mma,
                           zero_acc=zero_acc, tile_partials=tile_partials, load=load)


def row_stager(dtype_name: str, g: Geometry, load):
    """The stager S[kk, rr] = load(x, r0 + rr, k0 + kk) of an operand whose rows are the product's
    rows (k contiguous in memory, so consecutive threads take consecutive kk); load returns 0
    outside the operand."""
    tl = tiles(dtype_name, g)
    BK, NTH = tl.BK, tl.NTH

    @cuda.jit(device=True)
    def stage(S, x, r0, k0, t, width):
        for l in range(t, BK * width, NTH):
            kk = l % BK
            rr = l // BK
            S[kk, rr] = load(x, r0 + rr, k0 + kk)

    return stage


def col_stager(dtype_name: str, g: Geometry, load):
    """The stager S[kk, cc] = load(x, k0 + kk, c0 + cc) of an operand whose columns are the
    product's columns (columns contiguous: coalesced)."""
    tl = tiles(dtype_name, g)
    BK, NTH = tl.BK, tl.NTH

    @cuda.jit(device=True)
    def stage(S, x, c0, k0, t, width):
        for l in range(t, BK * width, NTH):
            cc = l % width
            kk = l // width
            S[kk, cc] = load(x, k0 + kk, c0 + cc)

    return stage


@cuda.jit(device=True)
def no_stage(S, x, r0, k0, t, width):
    """The stager of a launch with K = 0 (never called)."""
    return


@cuda.jit(device=True)
def _no_rows(e, red, m0, M, t):
    return


def gemm(dtype_name: str, g: Geometry, stage_a, stage_b, epilogue, rows=None):
    """The kernel ``(M, N, K, a, b, e)`` of one product (see the module docstring)."""
    tl = tiles(dtype_name, g)
    NT, BM, BN, BK, RM, RN, TX, TY = tl.NT, tl.BM, tl.BN, tl.BK, tl.RM, tl.RN, tl.TX, tl.TY
    BMP, BNP = BM + 1, BN + 1  # padded rows: conflict-free transposing stores
    mma, zero_acc = tl.mma, tl.zero_acc
    ROWS = rows is not None
    finish = rows if ROWS else _no_rows

    @cuda.jit
    def kernel(M, N, K, a, b, e):
        As = cuda.shared.array((BK, BMP), NT)
        Bs = cuda.shared.array((BK, BNP), NT)
        red = cuda.shared.array((BM, TX), numba.float64)
        acc = cuda.local.array((RM, RN), NT)
        rp = cuda.local.array(RM, numba.float64)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.x * BM
        n0 = cuda.blockIdx.y * BN
        zero_acc(acc)
        for kb in range(0, K, BK):
            stage_a(As, a, m0, kb, t, BM)
            stage_b(Bs, b, n0, kb, t, BN)
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            rp[r] = 0.0
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < N:
                    s = epilogue(e, acc[r, c], m, n)
                    if ROWS:
                        rp[r] += s
        if ROWS:
            for r in range(RM):
                red[ty + TY * r, tx] = rp[r]
            finish(e, red, m0, M, t)

    return kernel
