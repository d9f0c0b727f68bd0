"""Restricted Boltzmann machine kernels on CUDA (Numba); contract in ``csrc/KERNELS.md``
("Restricted Boltzmann machines"), CPU twin in ``csrc/rbm/rbm.hpp``.

Same names, arguments and results as ``fastgen._core``:

- ``hidden_probs(V, W, b_h, sigma) -> P``
- ``visible_means(Hs, W, b_v, sigma) -> means``
- ``sample_hiddens(V, W, b_h, sigma, seed, stream) -> (P, Hs)``
- ``sample_visibles(Hs, W, b_v, sigma, seed, stream) -> V``
- ``gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream) -> (V, Hs)``
- ``gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream) -> (V, P, Hs)``
- ``cd_update(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var,
  V_pos, H_pos, V_neg, H_neg, learning_rate, momentum, weight_decay) -> None`` (in place)
- ``free_energy(V, W, b_h, b_v, sigma) -> T[N]``
- ``pseudo_likelihood(V, W, b_h, b_v, flip) -> T[N]``
- ``log_partition(W, b_h, b_v, sigma, over_hidden) -> float``
- ``ais(W, b_h, b_v, sigma, base_b_v, betas, n_chains, seed, stream) -> float64[n_chains]``

Inputs are NumPy arrays (copied to the device once) or device arrays (used in place); results are
Numba device arrays. The in-place arguments of ``cd_update`` must be device arrays.

Design (written for a data-centre GPU; the simulator runs the same code with smaller tiles):

- Every half-step is ONE launch of a tiled shared-memory matrix product (``Geometry``: BM x BN
  output tile per block, BK-deep slices of both operands staged in shared memory, an RM x RN
  register tile per thread) whose epilogue adds the bias, applies the sigmoid and draws the unit
  from its own Philox uniform (``rng.stream_uniform``; Gaussian visibles: the Box-Muller normal of
  the element's block). No array of uniforms is ever formed. Each output element is the k-ordered
  chain ``acc = fma(a_k, b_k, acc)`` from 0 -- the CPU micro-kernel's order and rounding --
  whatever tile, block or thread computes it (zero padding past K adds exact zeros): the
  products are deterministic and equal the CPU's bit for bit.
- Bit-identical to the CPU: the sigmoid is the CPU's own (``common/philox_vec.hpp``: clamped argument,
  Cody-Waite reduction, Taylor polynomial, 2^n scaling), and every multiply-add is rounded as the
  CPU rounds it. The CPU's compiler fuses a * b + c only in the code built for FMA instruction
  sets (the products and their epilogues); its baseline code (CD statistics and parameter
  updates, the AIS base draw, the pseudo-likelihood's flipped affine term) rounds twice. Here
  the first kind is an explicit fused multiply-add and the second uses multiply/add intrinsics
  that the GPU compiler never contracts (``_mul``/``_add``). So probabilities, draws
  ``u < (double) p``, chains and CD updates match the CPU bit for bit (tested under the simulator,
  whose ``fma`` is replaced by an exactly rounded one). Known limits: the CPU's build for CPUs
  without FMA rounds the products twice (p then agrees to an ulp, and a draw differs only when
  its uniform lies within that ulp of p); Gaussian visible samples use libdevice's log/sin/cos
  (an ulp from glibc's); which product of AIS's interpolated visible mean a * w + beta * (x + b)
  the CPU fuses cannot be observed from outside (GCC's usual choice, the first, is used).
  Beyond the sigmoid's clamp the CPU returns exp at the clamp as GCC folded it (unfused); so do
  the kernels (``_exp_at_clamp``).
- float64 exp and log1p are libdevice's, and T values enter float64 sums through ``widen.f64``:
  Numba types float(x) of a float32 x as float32, so math.exp(float(x)) would be a float32 exp on
  the GPU (checked on the PTX; the simulator, where float() is a Python double, cannot show it).
- Row sums (free energies, pseudo-likelihood, AIS weight increments) are formed in float64 in
  the product's epilogue as one partial per (row, column tile), added in a fixed order inside the
  tile (shared memory, no atomics), then added tile by tile in order by a small per-row kernel.
- ``cd_update``: one product of inner size B + C (the B positive rows, then the C negative
  rows, pre-scaled by 1/B and -1/C as the CPU does) whose epilogue applies the momentum/decay
  update to W in place; one launch of V + H threads then forms the bias (and log-variance)
  statistics, each column's rows in order (float64), and updates those parameters. With learned
  variances the gradient G is kept, the column kernel reads sum_j W_ji G_ji from it (W before
  the update) and then updates its own column of W.
- AIS: per temperature one hidden launch (affine terms, weight increments accumulated per
  (chain, tile) in float64, hidden draw) and one visible launch (draw, the next visible linear
  term accumulated likewise); a last launch adds each chain's tile accumulators in order.
- ``log_partition``: one thread per block of 2^q consecutive states walked in Gray-code order
  (its running affine vector in a column of a global scratch matrix: coalesced, and every thread
  of a warp flips the same unit at the same step, so the weight row it adds is a broadcast);
  the (max, sum) pairs of the blocks are merged in block order by two small launches.

Floating point: probabilities, affine terms and products are in T (float32 or float64), free
energies, softplus sums, log-partition terms and AIS weights in float64, as on the CPU. The
kernels of each dtype are built by ``_kernels(dtype, geometry)`` with T-typed constants, so a
float32 kernel does float32 arithmetic (no silent promotion to float64).
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from . import rng as _rng
from .rng import DevArg, launch
from .common.fma import _fma  # the hardware FMA on a GPU; an exactly rounded one under the simulator
from .common.widen import f64 as _f64

if not numba.config.ENABLE_CUDASIM:  # the simulator has no libdevice (nor needs it)
    from numba.cuda import libdevice as _libdevice

__all__ = [
    "hidden_probs", "visible_means", "sample_hiddens", "sample_visibles", "gibbs_vhv",
    "gibbs_hvh", "cd_update", "free_energy", "pseudo_likelihood", "log_partition", "ais",
]

_MASK64 = (1 << 64) - 1
_U1 = np.uint64(1)
_TWO_PI = 6.283185307179586476925286766559
_NEG_INF = -math.inf
MAX_ENUM_UNITS = 30  # log_partition enumerates at most 2^30 states (as the CPU)


class Geometry(NamedTuple):
    """Launch shapes. bm x bn output tile per block, bk-deep shared slices, rm x rn per thread
    (so (bm / rm) * (bn / rn) threads per block); logz_bits: states per Gray block = 2^logz_bits;
    logz_threads: most threads of the enumeration (its scratch is n_other x logz_threads doubles)."""

    bm: int
    bn: int
    bk: int
    rm: int
    rn: int
    logz_bits: int
    logz_threads: int


# A data-centre GPU: 256 threads per block, 4 x 4 accumulators each, 2 x 16 x 65 words of shared
# operands (the +1 column keeps the transposing stores free of bank conflicts).
GPU_GEOMETRY = Geometry(bm=64, bn=64, bk=16, rm=4, rn=4, logz_bits=6, logz_threads=8192)
# The simulator runs one Python thread per CUDA thread: small blocks, and tiles small enough that
# the tiny test shapes still cross tile boundaries in every direction.
SIM_GEOMETRY = Geometry(bm=4, bn=4, bk=2, rm=2, rn=2, logz_bits=2, logz_threads=64)


def _default_geometry() -> Geometry:
    return SIM_GEOMETRY if numba.config.ENABLE_CUDASIM else GPU_GEOMETRY


geometry = _default_geometry()  # read at each call (tests switch it to check geometry independence)


# ---------------------------------------------------------------------------------------------
# float64 exp and log1p. math.exp of a float32 value is a float32 expf on the GPU (Numba keeps
# float(x) of a float32 x float32): the float64 sums of the contract would silently lose half
# their digits. libdevice's double functions take float64 arguments.

if numba.config.ENABLE_CUDASIM:
    _exp_d = math.exp
    _log1p_d = math.log1p
else:
    @cuda.jit(device=True, forceinline=True)
    def _exp_d(x):
        return _libdevice.exp(x)

    @cuda.jit(device=True, forceinline=True)
    def _log1p_d(x):
        return _libdevice.log1p(x)


# ---------------------------------------------------------------------------------------------
# dtype-independent device functions (float64)


@cuda.jit(device=True)
def _softplus(a):
    """log(1 + e^a) = max(a, 0) + log1p(e^-|a|), float64."""
    if a > 0.0:
        return a + _log1p_d(_exp_d(-a))
    return _log1p_d(_exp_d(a))


@cuda.jit(device=True)
def _uniform_at(k0, k1, s0, s1, e):
    """u[e] of the stream (e: a non-negative int64 element index)."""
    return _rng.stream_uniform(k0, k1, s0, s1, np.uint64(e))


@cuda.jit(device=True)
def _normal_at(k0, k1, s0, s1, e):
    """z[e]: Box-Muller on the uniforms of Philox block e >> 1 (cos for even e, sin for odd),
    the arithmetic of rng.hpp's normal_pair."""
    idx = np.uint64(e)
    x0, x1, x2, x3 = _rng.stream_block(k0, k1, s0, s1, idx >> _U1)
    u0 = _rng.to_unit(x0, x1)
    u1 = _rng.to_unit(x2, x3)
    r = math.sqrt(-2.0 * math.log(u0))
    if (idx & _U1) != np.uint64(0):
        return r * math.sin(_TWO_PI * u1)
    return r * math.cos(_TWO_PI * u1)


# Multiply and add that are never fused. The CPU's kernels fuse exactly the multiply-adds of the
# code compiled for an FMA instruction set: the products and their epilogues (rbm_gemm.hpp's
# tiles_v3/v4, rbm.hpp's ais_hidden_row_v3/v4). The rest -- the CD statistics and parameter
# updates, the AIS base draw, the pseudo-likelihood's flipped affine term -- is baseline x86-64
# code without FMA. Those parts use _mul/_add here (PTX mul.rn/add.rn, which ptxas never
# contracts), so both backends round the same operations.

if numba.config.ENABLE_CUDASIM:
    def _mul(a, b):
        return a * b

    def _add(a, b):
        return a + b

    _MUL = {True: _mul, False: _mul}
    _ADD = {True: _add, False: _add}
else:
    @cuda.jit(device=True, forceinline=True)
    def _fmul(a, b):
        return _libdevice.fmul_rn(a, b)

    @cuda.jit(device=True, forceinline=True)
    def _fadd(a, b):
        return _libdevice.fadd_rn(a, b)

    @cuda.jit(device=True, forceinline=True)
    def _dmul(a, b):
        return _libdevice.dmul_rn(a, b)

    @cuda.jit(device=True, forceinline=True)
    def _dadd(a, b):
        return _libdevice.dadd_rn(a, b)

    _MUL = {True: _fmul, False: _dmul}  # keyed by "is float32"
    _ADD = {True: _fadd, False: _dadd}


def _madd(single: bool, fused: bool):
    """Device function a * b + c in float32 (single) or float64: one rounding (fused) or two."""
    if fused:
        return _fma
    mul, add = _MUL[single], _ADD[single]

    @cuda.jit(device=True)
    def madd(a, b, c):
        return add(mul(a, b), c)

    return madd


# ---------------------------------------------------------------------------------------------
# The CPU's exp and sigmoid (common/philox_vec.hpp exp_clamped): argument clamped to the finite range,
# x = n ln2 + r by the 1.5 * 2^k shifter and a two-part ln2, Taylor polynomial of exp(r) (float:
# degree 7, double: degree 13), times 2^n.

_F32_CLAMP = (np.float32(-87.0), np.float32(87.0))
_F32_REDUCE = (np.float32(1.44269504088896341), np.float32(12582912.0), np.float32(0.693145751953125),
               np.float32(1.42860682030941723212e-6))
_F32_POLY = tuple(np.float32(1.0) / np.float32(d) for d in (5040.0, 720.0, 120.0, 24.0, 6.0)) + (
    np.float32(0.5), np.float32(1.0), np.float32(1.0))  # highest degree first, as 1.0f / 5040.0f
_F64_CLAMP = (-708.0, 709.0)
_F64_REDUCE = (1.4426950408889634074, 6755399441055744.0, 6.93147180369123816490e-01, 1.90821492927058770002e-10)
_F64_POLY = tuple(1.0 / d for d in (6227020800.0, 479001600.0, 39916800.0, 3628800.0, 362880.0, 40320.0, 5040.0,
                                    720.0, 120.0, 24.0, 6.0)) + (0.5, 1.0, 1.0)


def _exp_at_clamp(single: bool):
    """exp_clamped at the two ends of its clamp, evaluated without fusing (NumPy scalars of T).

    For an argument strictly beyond the clamp the CPU does not run its exp: GCC folds
    exp_clamped(+-clamp) at compile time, and constant folding never fuses. In float32 the upper
    end then differs from the run-time (fused) value by an ulp (1.6458116e-38 against
    1.6458115e-38 for sigmoid(-87 - d) and sigmoid(-87)); the kernels return these values beyond
    the clamp, as the CPU does (the saturated probabilities feed the CD gradient)."""
    F = np.float32 if single else np.float64
    lo, hi = (F(v) for v in (_F32_CLAMP if single else _F64_CLAMP))
    log2e, shifter, ln2_hi, ln2_lo = (F(v) for v in (_F32_REDUCE if single else _F64_REDUCE))
    poly = [F(v) for v in (_F32_POLY if single else _F64_POLY)]

    def ev(x):
        t = x * log2e + shifter
        n = t - shifter
        r = (x - n * ln2_hi) - n * ln2_lo
        p = poly[0]
        for c in poly[1:]:
            p = p * r + c
        return F(math.ldexp(float(p), int(n)))

    return ev(lo), ev(hi)


@functools.lru_cache(maxsize=None)
def _make_sigmoid(single: bool, fused: bool):
    """The CPU's sigmoid 1 / (1 + exp_clamped(-x)) in float32 (single) or float64, its
    multiply-adds fused (FMA builds of the product epilogues) or not (baseline code)."""
    F = np.float32 if single else np.float64
    lo, hi = _F32_CLAMP if single else _F64_CLAMP
    log2e, shifter, ln2_hi, ln2_lo = _F32_REDUCE if single else _F64_REDUCE
    poly = _F32_POLY if single else _F64_POLY
    c_top, coeffs = poly[0], poly[1:]
    one = F(1.0)
    madd = _madd(single, fused)
    e_lo, e_hi = _exp_at_clamp(single)

    @cuda.jit(device=True)
    def exp_clamped(x):
        if x < lo:  # beyond the clamp: the CPU's folded constants (see _exp_at_clamp)
            return e_lo
        if x > hi:
            return e_hi
        t = madd(x, log2e, shifter)  # x / ln2 rounded to an integer in the low mantissa bits
        n = t - shifter
        r = madd(-n, ln2_lo, madd(-n, ln2_hi, x))
        p = c_top
        for c in coeffs:
            p = madd(p, r, c)
        return F(math.ldexp(p, int(n)))  # p * 2^n, exact (n in the normal exponent range)

    @cuda.jit(device=True)
    def sigmoid(x):
        return one / (one + exp_clamped(-x))

    return sigmoid


# Epilogue modes of the hidden product.
_H_PROBS = 0   # p = sigmoid(beta (acc + b_h)): write P and/or draw S
_H_FREE = 1    # row partials of sum_j softplus(acc + b_h)
_H_PSEUDO = 2  # row partials of sum_j softplus(a'_j) - softplus(a_j), a' = a + d W[j, flip]
_H_AIS = 3     # accumulate sum_j softplus(b1 x_j) - softplus(b0 x_j); draw S if asked


@functools.lru_cache(maxsize=None)
def _kernels(dtype_name: str, g: Geometry):
    """The kernels of one float dtype and launch geometry (compiled at their first launch)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    NT = numba.float32 if F is np.float32 else numba.float64
    single = F is np.float32
    sigmoid = _make_sigmoid(single, True)            # the product epilogues (CPU: FMA code)
    sigmoid_unfused = _make_sigmoid(single, False)   # the AIS base draw (CPU: baseline code)
    mul_t, add_t = _MUL[single], _ADD[single]
    madd_t = _madd(single, False)                     # unfused T multiply-add (CPU baseline code)
    madd_d = _madd(False, False)                      # unfused float64 multiply-add
    ZERO, ONE, TWO = F(0.0), F(1.0), F(2.0)
    BM, BN, BK, RM, RN = g.bm, g.bn, g.bk, g.rm, g.rn
    TX, TY = BN // RN, BM // RM
    NTH = TX * TY
    BMP, BNP = BM + 1, BN + 1  # padded rows of the staged operands (conflict-free transposing stores)

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
    def stage_rows(S, src, scale, scaled, r0, k0, t, width):
        """S[kk, rr] = src[r0 + rr, k0 + kk] (times scale[k] if scaled), 0 outside: k contiguous
        in memory, so consecutive threads take consecutive kk."""
        R = src.shape[0]
        K = src.shape[1]
        for l in range(t, BK * width, NTH):
            kk = l % BK
            rr = l // BK
            r = r0 + rr
            k = k0 + kk
            v = ZERO
            if r < R and k < K:
                v = src[r, k]
                if scaled:
                    v = v * scale[k]
            S[kk, rr] = v

    @cuda.jit(device=True)
    def stage_cols(S, src, c0, k0, t, width):
        """S[kk, cc] = src[k0 + kk, c0 + cc], 0 outside: columns contiguous (coalesced)."""
        R = src.shape[0]
        Cn = src.shape[1]
        for l in range(t, BK * width, NTH):
            cc = l % width
            kk = l // width
            k = k0 + kk
            c = c0 + cc
            v = ZERO
            if k < R and c < Cn:
                v = src[k, c]
            S[kk, cc] = v

    @cuda.jit(device=True)
    def tile_partials(red, part, ty, tx, t, m0, M, tile, weight, accumulate):
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

    # -----------------------------------------------------------------------------------------
    # Hidden half-step: X[m, j] = sum_i Vin[m, i] (/ s_i) W[j, i], then the epilogue `mode`.

    @cuda.jit
    def hidden_kernel(Vin, iv, scaled, W, b_h, mode, beta, b1, b0, want_p, P, want_s, S, k0, k1, s0, s1,
                      flip, part, accumulate):
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
        M = Vin.shape[0]
        Kd = Vin.shape[1]
        Hn = W.shape[0]
        zero_acc(acc)
        for kb in range(0, Kd, BK):
            stage_rows(As, Vin, iv, scaled, m0, kb, t, BM)
            stage_rows(Bs, W, iv, False, n0, kb, t, BN)
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            rp[r] = 0.0
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < Hn:
                    x = acc[r, c] + b_h[n]
                    if mode == _H_PROBS or mode == _H_AIS:
                        if mode == _H_AIS:
                            xd = _f64(x)
                            rp[r] += _softplus(b1 * xd) - _softplus(b0 * xd)
                        if want_p or want_s:
                            p = sigmoid(beta * x)
                            if want_p:
                                P[m, n] = p
                            if want_s:
                                u = _uniform_at(k0, k1, s0, s1, m * Hn + n)
                                S[m, n] = ONE if u < _f64(p) else ZERO
                    elif mode == _H_FREE:
                        rp[r] += _softplus(_f64(x))
                    else:
                        i = flip[m]
                        d = ONE - TWO * Vin[m, i]
                        x2 = add_t(x, mul_t(d, W[n, i]))  # CPU: baseline code, not fused
                        rp[r] += _softplus(_f64(x2)) - _softplus(_f64(x))
        if mode != _H_PROBS:
            for r in range(RM):
                red[ty + TY * r, tx] = rp[r]
            tile_partials(red, part, ty, tx, t, m0, M, cuda.blockIdx.y, 1.0, accumulate)

    # -----------------------------------------------------------------------------------------
    # Visible half-step: X[m, i] = sum_j Hs[m, j] W[j, i], then the mean and the draw.

    @cuda.jit
    def visible_kernel(Hs, W, b_v, gaussian, sigma, ais, beta, base_w, a, want_m, Mout, want_s, S, k0, k1, s0, s1,
                       lin_w, part):
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
        M = Hs.shape[0]
        Kd = Hs.shape[1]
        Vn = W.shape[1]
        zero_acc(acc)
        for kb in range(0, Kd, BK):
            stage_rows(As, Hs, b_v, False, m0, kb, t, BM)
            stage_cols(Bs, W, n0, kb, t, BN)
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            rp[r] = 0.0
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < Vn:
                    if ais:
                        mu = _fma(base_w, a[n], beta * (acc[r, c] + b_v[n]))
                    else:
                        mu = acc[r, c] + b_v[n]
                    if not gaussian:
                        mu = sigmoid(mu)
                    if want_m:
                        Mout[m, n] = mu
                    if want_s:
                        e = m * Vn + n
                        if gaussian:
                            v = _fma(sigma[n], F(_normal_at(k0, k1, s0, s1, e)), mu)
                        else:
                            v = ONE if _uniform_at(k0, k1, s0, s1, e) < _f64(mu) else ZERO
                        S[m, n] = v
                        if ais:
                            vd = _f64(v)
                            if gaussian:
                                sd = _f64(sigma[n])
                                db = vd - _f64(b_v[n])
                                da = vd - _f64(a[n])
                                rp[r] -= 0.5 * (db * db - da * da) * (1.0 / (sd * sd))
                            else:
                                rp[r] += (_f64(b_v[n]) - _f64(a[n])) * vd
        if ais:
            for r in range(RM):
                red[ty + TY * r, tx] = rp[r]
            tile_partials(red, part, ty, tx, t, m0, M, cuda.blockIdx.y, lin_w, True)

    # -----------------------------------------------------------------------------------------
    # AIS: the base-model draw (same tiling as the visible launch, so its partials line up).

    @cuda.jit
    def ais_base_kernel(a, gaussian, sigma, b_v, k0, k1, s0, s1, lin_w, Vout, part):
        red = cuda.shared.array((BM, TX), numba.float64)
        rp = cuda.local.array(RM, numba.float64)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.x * BM
        n0 = cuda.blockIdx.y * BN
        M = Vout.shape[0]
        Vn = Vout.shape[1]
        for r in range(RM):
            rp[r] = 0.0
            m = m0 + ty + TY * r
            for c in range(RN):
                n = n0 + tx + TX * c
                if m < M and n < Vn:
                    e = m * Vn + n
                    # The CPU draws the base model in baseline code: nothing fused here.
                    if gaussian:
                        v = add_t(a[n], mul_t(sigma[n], F(_normal_at(k0, k1, s0, s1, e))))
                    else:
                        v = ONE if _uniform_at(k0, k1, s0, s1, e) < _f64(sigmoid_unfused(a[n])) else ZERO
                    Vout[m, n] = v
                    vd = _f64(v)
                    if gaussian:
                        sd = _f64(sigma[n])
                        db = vd - _f64(b_v[n])
                        da = vd - _f64(a[n])
                        rp[r] -= 0.5 * (db * db - da * da) * (1.0 / (sd * sd))
                    else:
                        rp[r] += (_f64(b_v[n]) - _f64(a[n])) * vd
        for r in range(RM):
            red[ty + TY * r, tx] = rp[r]
        tile_partials(red, part, ty, tx, t, m0, M, cuda.blockIdx.y, lin_w, False)

    # -----------------------------------------------------------------------------------------
    # CD update: G[j, i] = sum over the B + C rows r of A[r, j] Bm[r, i], A = [H_pos / B; -H_neg / C].

    @cuda.jit
    def cd_kernel(Hp, Hn, Vp, Vn, sp, sn, fuse, gaussian, sigma, W, vel_W, lr, momentum, decay, G):
        As = cuda.shared.array((BK, BMP), NT)
        Bs = cuda.shared.array((BK, BNP), NT)
        acc = cuda.local.array((RM, RN), NT)
        t = cuda.threadIdx.x
        tx = t % TX
        ty = t // TX
        m0 = cuda.blockIdx.x * BM
        n0 = cuda.blockIdx.y * BN
        H = W.shape[0]
        V = W.shape[1]
        B = Hp.shape[0]
        K = B + Hn.shape[0]
        zero_acc(acc)
        for kb in range(0, K, BK):
            for l in range(t, BK * BM, NTH):  # rows r of [H_pos sp; H_neg sn], columns j contiguous
                mm = l % BM
                kk = l // BM
                j = m0 + mm
                r = kb + kk
                v = ZERO
                if j < H and r < K:
                    v = Hp[r, j] * sp if r < B else Hn[r - B, j] * sn
                As[kk, mm] = v
            for l in range(t, BK * BN, NTH):  # rows r of [V_pos; V_neg], columns i contiguous
                nn = l % BN
                kk = l // BN
                i = n0 + nn
                r = kb + kk
                v = ZERO
                if i < V and r < K:
                    v = Vp[r, i] if r < B else Vn[r - B, i]
                Bs[kk, nn] = v
            cuda.syncthreads()
            mma(acc, As, Bs, ty, tx)
            cuda.syncthreads()
        for r in range(RM):
            j = m0 + ty + TY * r
            for c in range(RN):
                i = n0 + tx + TX * c
                if j < H and i < V:
                    if fuse:
                        w = W[j, i]
                        if gaussian:
                            s = sigma[i]
                            grad = _fma(acc[r, c], ONE / (s * s), -(decay * w))
                        else:
                            grad = _fma(-decay, w, acc[r, c])
                        m = _fma(momentum, vel_W[j, i], lr * grad)
                        vel_W[j, i] = m
                        W[j, i] = w + m
                    else:
                        G[j, i] = acc[r, c]

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
                glv = _exp_d(-_f64(log_var[i])) * (0.5 * (qp / B - qn / C) - wg)
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
                sigma[i] = F(_exp_d(0.5 * _f64(lv)))
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

    # -----------------------------------------------------------------------------------------
    # Per-row finishing kernels (one thread per row; tile partials added in tile order).

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
        out[n] = F(-_f64(X.shape[1]) * _softplus(diff))

    @cuda.jit
    def inv_var_kernel(sigma, iv):
        """iv[i] = 1 / (sigma_i sigma_i) in T (rbm.hpp's Prepared::inv_var)."""
        i = cuda.grid(1)
        if i < iv.shape[0]:
            s = sigma[i]
            iv[i] = ONE / (s * s)

    return dict(inv_var=inv_var_kernel, hidden=hidden_kernel, visible=visible_kernel, ais_base=ais_base_kernel,
                cd=cd_kernel, cd_columns=cd_columns_kernel, free_energy_rows=free_energy_rows,
                pseudo_rows=pseudo_rows, threads=NTH)


# ---------------------------------------------------------------------------------------------
# dtype-generic float64 kernels

@cuda.jit
def _ais_total_kernel(lin_part, inc_part, log_w):
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


@cuda.jit
def _transpose_kernel(A, At):
    tid = cuda.grid(1)
    R = A.shape[0]
    C = A.shape[1]
    if tid < R * C:
        r = tid // C
        c = tid - r * C
        At[c, r] = A[r, c]


@cuda.jit
def _logz_blocks_kernel(rows, lin, other, gaussian, ivd, m, q, scratch, pmx, psum):
    """Thread w handles Gray blocks w, w + n_threads, ... of 2^q consecutive states: the unit bits
    >= q come from the block number, the low q bits walk the Gray code from 0 (one row of `rows`
    added or subtracted per state). term(state) = lin.state + f(other + state rows); f summed over
    the other layer in order. Writes the block's (max, sum of exp(term - max))."""
    w = cuda.grid(1)
    n_threads = scratch.shape[1]
    if w >= n_threads:
        return
    n_blocks = pmx.shape[0]
    n = rows.shape[1]
    per_block = 1 << q
    for blk in range(w, n_blocks, n_threads):
        state = blk << q
        linsum = 0.0
        for i in range(n):
            scratch[i, w] = 0.0
        for u in range(q, m):
            if (blk >> (u - q)) & 1:
                linsum += _f64(lin[u])
                for i in range(n):
                    scratch[i, w] += _f64(rows[u, i])
        mx = _NEG_INF
        s = 0.0
        for gidx in range(per_block):
            if gidx > 0:
                u = 0
                while ((gidx >> u) & 1) == 0:  # Gray code: flip the lowest set bit's unit
                    u += 1
                sgn = -1.0 if (state >> u) & 1 else 1.0
                state ^= 1 << u
                linsum += sgn * _f64(lin[u])
                for i in range(n):
                    scratch[i, w] += sgn * float(rows[u, i])
            f = 0.0
            for i in range(n):
                c = scratch[i, w]
                if gaussian:
                    f += (float(other[i]) * c + 0.5 * c * c) * ivd[i]
                else:
                    f += _softplus(float(other[i]) + c)
            x = linsum + f
            if x <= mx:
                s += _exp_d(x - mx)
            else:
                s = s * _exp_d(mx - x) + 1.0
                mx = x
        pmx[blk] = mx
        psum[blk] = s


@cuda.jit(device=True)
def _logsum_merge(mx, s, omx, osum):
    """(max, sum) of two log-sum accumulators (rbm.hpp LogSum::merge)."""
    if osum == 0.0:
        return mx, s
    if omx <= mx:
        return mx, s + osum * _exp_d(omx - mx)
    return omx, s * _exp_d(mx - omx) + osum


@cuda.jit
def _logz_merge_kernel(pmx, psum, group, gmx, gsum):
    """Thread g merges blocks [g * group, (g + 1) * group) in block order."""
    gi = cuda.grid(1)
    if gi >= gmx.shape[0]:
        return
    mx = _NEG_INF
    s = 0.0
    for b in range(gi * group, min(pmx.shape[0], (gi + 1) * group)):
        mx, s = _logsum_merge(mx, s, pmx[b], psum[b])
    gmx[gi] = mx
    gsum[gi] = s


# ---------------------------------------------------------------------------------------------
# Host-side argument handling


def _host_values(arg: DevArg) -> np.ndarray:
    return arg.host if arg.host is not None else arg.dev.copy_to_host()


class _Model:
    """W, biases and sigma checked (shapes, one float dtype, sigma > 0 and finite)."""

    def __init__(self, W, b_h=None, b_v=None, sigma=None, *, need_sigma=True):
        self.W = DevArg(W, "W", 2)
        self.dtype = self.W.float_dtype()
        self.H, self.V = self.W.shape
        if self.H < 1 or self.V < 1:
            raise ValueError(f"W: need at least one hidden and one visible unit, got shape {self.W.shape}")
        self.b_h = self.vector(b_h, "b_h", self.H) if b_h is not None else None
        self.b_v = self.vector(b_v, "b_v", self.V) if b_v is not None else None
        self.sigma = None
        self.gaussian = False
        if need_sigma:
            sg = DevArg(sigma, "sigma", 1)
            sg.expect_dtype(self.dtype)
            if sg.shape[0] not in (0, self.V):
                raise ValueError(f"sigma: expected shape (0,) (Bernoulli visibles) or ({self.V},) (Gaussian "
                                 f"visibles), got shape {sg.shape}")
            if sg.shape[0] == self.V:
                _check_sigma(_host_values(sg))
                self.sigma = sg
                self.gaussian = True

    def vector(self, a, name, n):
        arg = DevArg(a, name, 1)
        arg.expect_dtype(self.dtype)
        arg.expect_shape(n)
        return arg

    def rows(self, a, name, n_cols):
        arg = DevArg(a, name, 2)
        arg.expect_dtype(self.dtype)
        arg.expect_shape(-1, n_cols)
        return arg

    def sigma_dev(self):
        """sigma on the device, or a one-element dummy (Bernoulli: never read)."""
        return self.sigma.device() if self.gaussian else _dummy(1, self.dtype)

    def kernels(self):
        return _kernels(np.dtype(self.dtype).name, geometry)


def _check_sigma(s: np.ndarray) -> None:
    bad = np.flatnonzero(~(s > 0) | ~np.isfinite(s))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"sigma: standard deviations must be positive and finite, got {float(s[i])} at index {i}")


_PLACEHOLDERS = {}


def _placeholder(shape, dtype):
    """A one-element device array standing in for an argument a launch does not use (never read
    or written). Allocated once per CUDA context: AIS makes two launches per temperature."""
    ctx = cuda.current_context()
    key = (id(ctx), len(shape), np.dtype(dtype).str)
    entry = _PLACEHOLDERS.get(key)
    if entry is None or entry[0] is not ctx:
        entry = (ctx, cuda.device_array((1,) * len(shape), dtype=dtype))
        _PLACEHOLDERS[key] = entry
    return entry[1]


def _dummy(n, dtype):
    return _placeholder((n,), dtype)


def _steps(n_steps) -> int:
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, (int, np.integer)):
        raise TypeError(f"n_steps: expected an integer, got {type(n_steps).__name__}")
    n = int(n_steps)
    if n < 1:
        raise ValueError(f"n_steps: must be >= 1, got {n}")
    return n


def _stream_keys(seed, stream, offset=0):
    """Philox words of stream (stream + offset) mod 2^64 (seed and stream checked)."""
    stream = _rng.u64(stream, "stream")
    return _rng.key_words(seed, (stream + offset) & _MASK64)


def _grid(n_rows, n_cols):
    g = geometry
    return (-(-n_rows // g.bm), -(-n_cols // g.bn))


_NO_KEYS = (np.uint64(0),) * 4


# ---------------------------------------------------------------------------------------------
# Half-step launches (arrays already on the device)


def _hidden(mdl, kern, Vin, out_p, out_s, keys=_NO_KEYS, *, mode=_H_PROBS, beta=1.0, b1=1.0, b0=0.0, flip=None,
            part=None, accumulate=False, iv=None):
    N = Vin.shape[0]
    if N == 0:
        return
    dt = mdl.dtype
    dummy2 = _placeholder((1, 1), dt)
    scaled = iv is not None
    kern["hidden"][_grid(N, mdl.H), kern["threads"]](
        Vin, iv if scaled else _dummy(1, dt), scaled, mdl.W.device(), mdl.b_h.device(), mode, dt.type(beta),
        float(b1), float(b0), out_p is not None, out_p if out_p is not None else dummy2,
        out_s is not None, out_s if out_s is not None else dummy2, *keys,
        flip if flip is not None else _placeholder((1,), np.int64),
        part if part is not None else _placeholder((1, 1), np.float64), accumulate)


def _visible(mdl, kern, Hin, out_m, out_s, keys=_NO_KEYS, *, ais=False, beta=1.0, base_w=0.0, a=None, lin_w=0.0,
             part=None):
    N = Hin.shape[0]
    if N == 0:
        return
    dt = mdl.dtype
    dummy2 = _placeholder((1, 1), dt)
    kern["visible"][_grid(N, mdl.V), kern["threads"]](
        Hin, mdl.W.device(), mdl.b_v.device(), mdl.gaussian, mdl.sigma_dev(), ais, dt.type(beta), dt.type(base_w),
        a if a is not None else _dummy(1, dt), out_m is not None, out_m if out_m is not None else dummy2,
        out_s is not None, out_s if out_s is not None else dummy2, *keys, float(lin_w),
        part if part is not None else _placeholder((1, 1), np.float64))


def _inv_var(mdl):
    """1 / sigma^2 in T on the device (Gaussian), else None: the hidden product's input scale."""
    if not mdl.gaussian:
        return None
    iv = cuda.device_array(mdl.V, dtype=mdl.dtype)
    mdl.kernels()["inv_var"][launch(mdl.V)](mdl.sigma.device(), iv)
    return iv


# ---------------------------------------------------------------------------------------------
# Contract functions


def hidden_probs(V, W, b_h, sigma):
    """p(h = 1 | v) -> T[N, H]."""
    mdl = _Model(W, b_h=b_h, sigma=sigma)
    X = mdl.rows(V, "V", mdl.V)
    N = X.shape[0]
    P = cuda.device_array((N, mdl.H), dtype=mdl.dtype)
    _hidden(mdl, mdl.kernels(), X.device(), P, None, iv=_inv_var(mdl))
    return P


def visible_means(Hs, W, b_v, sigma):
    """E[v | h] -> T[N, V]: sigmoid(b_v + h W) (Bernoulli) or b_v + h W (Gaussian)."""
    mdl = _Model(W, b_v=b_v, sigma=sigma)
    Hh = mdl.rows(Hs, "Hs", mdl.H)
    out = cuda.device_array((Hh.shape[0], mdl.V), dtype=mdl.dtype)
    _visible(mdl, mdl.kernels(), Hh.device(), out, None)
    return out


def sample_hiddens(V, W, b_h, sigma, seed, stream):
    """(p(h | v) T[N, H], draws T[N, H]); element (n, j) uses u[n H + j] of `stream`."""
    mdl = _Model(W, b_h=b_h, sigma=sigma)
    X = mdl.rows(V, "V", mdl.V)
    keys = _stream_keys(seed, stream)
    N = X.shape[0]
    P = cuda.device_array((N, mdl.H), dtype=mdl.dtype)
    S = cuda.device_array((N, mdl.H), dtype=mdl.dtype)
    _hidden(mdl, mdl.kernels(), X.device(), P, S, keys, iv=_inv_var(mdl))
    return P, S


def sample_visibles(Hs, W, b_v, sigma, seed, stream):
    """Visible draws T[N, V]; element (n, i) uses u[n V + i] (Bernoulli) or z[n V + i] (Gaussian)."""
    mdl = _Model(W, b_v=b_v, sigma=sigma)
    Hh = mdl.rows(Hs, "Hs", mdl.H)
    keys = _stream_keys(seed, stream)
    out = cuda.device_array((Hh.shape[0], mdl.V), dtype=mdl.dtype)
    _visible(mdl, mdl.kernels(), Hh.device(), None, out, keys)
    return out


def gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream):
    """n_steps sweeps v -> h -> v (step t: hidden draw stream + 2t, visible draw stream + 2t + 1)
    -> (V T[C, V], Hs T[C, H]), the last samples."""
    mdl = _Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    X = mdl.rows(V0, "V0", mdl.V)
    n_steps = _steps(n_steps)
    _stream_keys(seed, stream)
    C = X.shape[0]
    kern = mdl.kernels()
    Vout = cuda.device_array((C, mdl.V), dtype=mdl.dtype)
    S = cuda.device_array((C, mdl.H), dtype=mdl.dtype)
    if C == 0:
        return Vout, S
    iv = _inv_var(mdl)
    vin = X.device()
    for t in range(n_steps):
        _hidden(mdl, kern, vin, None, S, _stream_keys(seed, stream, 2 * t), iv=iv)
        _visible(mdl, kern, S, None, Vout, _stream_keys(seed, stream, 2 * t + 1))
        vin = Vout
    return Vout, S


def gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream):
    """n_steps sweeps h -> v -> h (step t: visible draw stream + 2t, hidden draw stream + 2t + 1)
    -> (V T[C, V], P T[C, H], Hs T[C, H]): the last visible sample, p(h | V) and its draw."""
    mdl = _Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    Hh = mdl.rows(H0, "H0", mdl.H)
    n_steps = _steps(n_steps)
    _stream_keys(seed, stream)
    C = Hh.shape[0]
    kern = mdl.kernels()
    Vout = cuda.device_array((C, mdl.V), dtype=mdl.dtype)
    P = cuda.device_array((C, mdl.H), dtype=mdl.dtype)
    S = cuda.device_array((C, mdl.H), dtype=mdl.dtype)
    if C == 0:
        return Vout, P, S
    iv = _inv_var(mdl)
    hin = Hh.device()
    for t in range(n_steps):
        _visible(mdl, kern, hin, None, Vout, _stream_keys(seed, stream, 2 * t))
        _hidden(mdl, kern, Vout, P, S, _stream_keys(seed, stream, 2 * t + 1), iv=iv)
        hin = S
    return Vout, P, S


def _inplace(a, name, dtype, shape):
    """A device-resident in-place argument of cd_update, checked."""
    arg = DevArg(a, name, len(shape))
    if arg.dev is None:
        raise TypeError(f"{name}: must be a device array on CUDA (it is updated in place), got a host array")
    arg.expect_dtype(dtype)
    arg.expect_shape(*shape)
    return arg


def _finite_scalar(x, name):
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError("learning_rate, momentum, weight_decay: must be finite")
    return v


def cd_update(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var, V_pos, H_pos, V_neg, H_neg,
                  learning_rate, momentum, weight_decay):
    """One CD/PCD step with momentum and weight decay; every parameter and velocity in place."""
    Wa = DevArg(W, "W", 2)
    dtype = Wa.float_dtype()
    H, V = Wa.shape
    if H < 1 or V < 1:
        raise ValueError(f"W: need at least one hidden and one visible unit, got shape {Wa.shape}")
    Wa = _inplace(W, "W", dtype, (H, V))
    bh = _inplace(b_h, "b_h", dtype, (H,))
    bv = _inplace(b_v, "b_v", dtype, (V,))
    sg = DevArg(sigma, "sigma", 1)
    sg.expect_dtype(dtype)
    lv = DevArg(log_var, "log_var", 1)
    lv.expect_dtype(dtype)
    ns, nl = sg.shape[0], lv.shape[0]
    if ns not in (0, V):
        raise ValueError(f"sigma: expected shape (0,) or ({V},), got shape {sg.shape}")
    if nl not in (0, V):
        raise ValueError(f"log_var: expected shape (0,) or ({V},), got shape {lv.shape}")
    if nl == V and ns != V:
        raise ValueError(f"log_var: learned variances need sigma of shape ({V},)")
    gaussian, learn_var = ns == V, nl == V
    if gaussian:
        sg = _inplace(sigma, "sigma", dtype, (V,))
        _check_sigma(sg.dev.copy_to_host())
    if learn_var:
        lv = _inplace(log_var, "log_var", dtype, (V,))
    vW = _inplace(vel_W, "vel_W", dtype, (H, V))
    vbh = _inplace(vel_b_h, "vel_b_h", dtype, (H,))
    vbv = _inplace(vel_b_v, "vel_b_v", dtype, (V,))
    vlv = DevArg(vel_log_var, "vel_log_var", 1)
    vlv.expect_dtype(dtype)
    vlv.expect_shape(nl)
    if learn_var:
        vlv = _inplace(vel_log_var, "vel_log_var", dtype, (V,))
    Vp = DevArg(V_pos, "V_pos", 2)
    Vp.expect_dtype(dtype)
    Vp.expect_shape(-1, V)
    Hp = DevArg(H_pos, "H_pos", 2)
    Hp.expect_dtype(dtype)
    Hp.expect_shape(Vp.shape[0], H)
    Vn = DevArg(V_neg, "V_neg", 2)
    Vn.expect_dtype(dtype)
    Vn.expect_shape(-1, V)
    Hn = DevArg(H_neg, "H_neg", 2)
    Hn.expect_dtype(dtype)
    Hn.expect_shape(Vn.shape[0], H)
    B, C = Vp.shape[0], Vn.shape[0]
    if B < 1 or C < 1:
        raise ValueError("V_pos, V_neg: need at least one row each")
    T = dtype.type
    lr = T(_finite_scalar(learning_rate, "learning_rate"))
    mom = T(_finite_scalar(momentum, "momentum"))
    decay = T(_finite_scalar(weight_decay, "weight_decay"))

    kern = _kernels(np.dtype(dtype).name, geometry)
    sp = T(1) / T(B)
    sn = -(T(1) / T(C))
    sig_d = sg.dev if gaussian else _dummy(1, dtype)
    G = cuda.device_array((H, V), dtype=dtype) if learn_var else _placeholder((1, 1), dtype)
    Hp_d, Hn_d, Vp_d, Vn_d = Hp.device(), Hn.device(), Vp.device(), Vn.device()
    kern["cd"][_grid(H, V), kern["threads"]](Hp_d, Hn_d, Vp_d, Vn_d, sp, sn, not learn_var, gaussian, sig_d,
                                            Wa.dev, vW.dev, lr, mom, decay, G)
    lv_d = lv.dev if learn_var else _dummy(1, dtype)
    vlv_d = vlv.dev if learn_var else _dummy(1, dtype)
    kern["cd_columns"][launch(V + H)](Vp_d, Vn_d, Hp_d, Hn_d, gaussian, learn_var, G, Wa.dev, bv.dev, bh.dev, lv_d,
                                      sig_d, vW.dev, vbv.dev, vbh.dev, vlv_d, lr, mom, decay)


def free_energy(V, W, b_h, b_v, sigma):
    """F(v) -> T[N]: -b_v.v (Bernoulli) or sum (v - b_v)^2 / (2 s) (Gaussian), minus
    sum_j softplus(b_h + W (v / s)); sums in float64."""
    mdl = _Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    X = mdl.rows(V, "V", mdl.V)
    N = X.shape[0]
    out = cuda.device_array(N, dtype=mdl.dtype)
    if N == 0:
        return out
    kern = mdl.kernels()
    n_tiles = _grid(N, mdl.H)[1]
    part = cuda.device_array((N, n_tiles), dtype=np.float64)
    Xd = X.device()
    _hidden(mdl, kern, Xd, None, None, mode=_H_FREE, part=part, iv=_inv_var(mdl))
    kern["free_energy_rows"][launch(N)](Xd, mdl.b_v.device(), mdl.gaussian, mdl.sigma_dev(), part, n_tiles, out)
    return out


def pseudo_likelihood(V, W, b_h, b_v, flip):
    """scikit-learn's score_samples with unit flip[n] of row n flipped -> T[N] (Bernoulli)."""
    mdl = _Model(W, b_h=b_h, b_v=b_v, need_sigma=False)
    X = mdl.rows(V, "V", mdl.V)
    N = X.shape[0]
    fl = DevArg(flip, "flip", 1)
    fl.expect_dtype(np.int64)
    fl.expect_shape(N)
    f = _host_values(fl)
    bad = np.flatnonzero((f < 0) | (f >= mdl.V))
    if bad.size:
        n = int(bad[0])
        raise ValueError(f"flip: index {int(f[n])} at row {n} outside [0, {mdl.V})")
    out = cuda.device_array(N, dtype=mdl.dtype)
    if N == 0:
        return out
    kern = mdl.kernels()
    n_tiles = _grid(N, mdl.H)[1]
    part = cuda.device_array((N, n_tiles), dtype=np.float64)
    Xd, fd = X.device(), fl.device()
    _hidden(mdl, kern, Xd, None, None, mode=_H_PSEUDO, flip=fd, part=part)
    kern["pseudo_rows"][launch(N)](Xd, mdl.b_v.device(), fd, part, n_tiles, out)
    return out


_LOGZ_MERGE_GROUP = 256  # Gray blocks merged per thread of the first merge launch
_LOGZ_SCRATCH = 1 << 23  # doubles (64 MB) of running affine vectors for the enumeration


def log_partition(W, b_h, b_v, sigma, over_hidden):
    """Exact log Z (a Python float) by enumerating the 2^m states of one layer (m <= 30)."""
    mdl = _Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    over_hidden = bool(over_hidden)
    if not over_hidden and mdl.gaussian:
        raise ValueError("over_hidden: Gaussian visibles can only be summed out analytically "
                         "(enumerate the hidden layer, over_hidden=True)")
    m = mdl.H if over_hidden else mdl.V
    if m > MAX_ENUM_UNITS:
        layer = "hidden" if over_hidden else "visible"
        raise ValueError(f"over_hidden: enumerating 2^{m} states of the {layer} layer is too many "
                         f"(at most {MAX_ENUM_UNITS} units)")
    Wd = mdl.W.device()
    const = 0.0
    if over_hidden:
        rows, lin, other, n = Wd, mdl.b_h.device(), mdl.b_v.device(), mdl.V
        if mdl.gaussian:
            s = _host_values(mdl.sigma).astype(np.float64)
            for si in s:  # in order, as the CPU adds them
                const += 0.5 * math.log(2.0 * math.pi * (si * si))
            ivd = cuda.to_device(1.0 / (s * s))
        else:
            ivd = _dummy(1, np.float64)
    else:
        n = mdl.H
        rows = cuda.device_array((mdl.V, mdl.H), dtype=mdl.dtype)
        _transpose_kernel[launch(mdl.H * mdl.V)](Wd, rows)
        lin, other, ivd = mdl.b_v.device(), mdl.b_h.device(), _dummy(1, np.float64)
    # Gray blocks of 2^q states; at most 2^20 blocks (their (max, sum) pairs: 16 MB), and at most
    # _LOGZ_SCRATCH doubles of running affine vectors (fewer threads for a very wide other layer).
    q = min(m, max(geometry.logz_bits, m - 20))
    n_blocks = 1 << (m - q)
    n_threads = max(1, min(n_blocks, geometry.logz_threads, _LOGZ_SCRATCH // n))
    scratch = cuda.device_array((n, n_threads), dtype=np.float64)
    pmx = cuda.device_array(n_blocks, dtype=np.float64)
    psum = cuda.device_array(n_blocks, dtype=np.float64)
    _logz_blocks_kernel[launch(n_threads)](rows, lin, other, mdl.gaussian, ivd, m, q, scratch, pmx, psum)
    n_groups = -(-n_blocks // _LOGZ_MERGE_GROUP)
    gmx = cuda.device_array(n_groups, dtype=np.float64)
    gsum = cuda.device_array(n_groups, dtype=np.float64)
    _logz_merge_kernel[launch(n_groups)](pmx, psum, _LOGZ_MERGE_GROUP, gmx, gsum)
    out_mx = cuda.device_array(1, dtype=np.float64)
    out_sum = cuda.device_array(1, dtype=np.float64)
    _logz_merge_kernel[1, 1](gmx, gsum, n_groups, out_mx, out_sum)
    mx, s = float(out_mx.copy_to_host()[0]), float(out_sum.copy_to_host()[0])
    return const + (mx if s == 0.0 else mx + math.log(s))


def ais(W, b_h, b_v, sigma, base_b_v, betas, n_chains, seed, stream):
    """Annealed importance sampling log-weights float64[n_chains] (Salakhutdinov & Murray 2008):
    base draw stream + 0; at temperature k < K the hidden draw stream + 2k - 1 and the visible
    draw stream + 2k."""
    mdl = _Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    A = mdl.vector(base_b_v, "base_b_v", mdl.V)
    if not np.isfinite(_host_values(A)).all():
        raise ValueError("base_b_v: must be finite")
    Bt = DevArg(betas, "betas", 1)
    Bt.expect_dtype(np.float64)
    bt = _host_values(Bt)
    K = bt.shape[0] - 1
    if K < 1:
        raise ValueError(f"betas: need at least 2 values (0 and 1), got shape {Bt.shape}")
    if bt[0] != 0.0 or bt[K] != 1.0:
        raise ValueError(f"betas: must start at 0 and end at 1, got {bt[0]} ... {bt[K]}")
    dec = np.flatnonzero(~(bt[1:] >= bt[:-1]))
    if dec.size:
        k = int(dec[0]) + 1
        raise ValueError(f"betas: must be non-decreasing, got betas[{k}] = {bt[k]} after {bt[k - 1]}")
    if isinstance(n_chains, (bool, np.bool_)) or not isinstance(n_chains, (int, np.integer)):
        raise TypeError(f"n_chains: expected an integer, got {type(n_chains).__name__}")
    C = int(n_chains)
    if C < 1:
        raise ValueError(f"n_chains: must be >= 1, got {C}")
    _stream_keys(seed, stream)
    kern = mdl.kernels()
    dt = mdl.dtype
    a = A.device()
    v = cuda.device_array((C, mdl.V), dtype=dt)
    S = cuda.device_array((C, mdl.H), dtype=dt)
    lin_part = cuda.device_array((C, _grid(C, mdl.V)[1]), dtype=np.float64)
    inc_part = cuda.device_array((C, _grid(C, mdl.H)[1]), dtype=np.float64)
    iv = _inv_var(mdl)
    # v ~ A; the visible linear term of log p*_beta enters increment 1 with weight beta_1 - beta_0.
    kern["ais_base"][_grid(C, mdl.V), kern["threads"]](
        a, mdl.gaussian, mdl.sigma_dev(), mdl.b_v.device(), *_stream_keys(seed, stream), float(bt[1] - bt[0]), v,
        lin_part)
    for k in range(1, K + 1):
        b1, b0 = float(bt[k]), float(bt[k - 1])
        last = k == K
        _hidden(mdl, kern, v, None, None if last else S, _stream_keys(seed, stream, 2 * k - 1), mode=_H_AIS,
                beta=b1, b1=b1, b0=b0, part=inc_part, accumulate=k > 1, iv=iv)
        if last:
            break
        # The new v's linear term enters increment k + 1 with weight beta_{k+1} - beta_k.
        _visible(mdl, kern, S, None, v, _stream_keys(seed, stream, 2 * k), ais=True, beta=b1, base_w=1.0 - b1,
                 a=a, lin_w=float(bt[k + 1]) - b1, part=lin_part)
    log_w = cuda.device_array(C, dtype=np.float64)
    _ais_total_kernel[launch(C)](lin_part, inc_part, log_w)
    return log_w
