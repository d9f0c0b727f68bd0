"""The RBM kernels' arithmetic as the CPU rounds it (``csrc/rbm/rbm.hpp``, ``common/philox_vec.hpp``):
float64 exp/log1p (libdevice), the float64 softplus, multiply/add that are never fused
(``MUL``/``ADD``/``make_madd``), and the CPU's own clamped exp and sigmoid (``make_sigmoid``), fused
(the product epilogues) or not (baseline code). See the package docstring, "Bit-identical to the CPU".
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ..common.fma import _fma  # the hardware FMA on a GPU; an exactly rounded one under the simulator

if not numba.config.ENABLE_CUDASIM:  # the simulator has no libdevice (nor needs it)
    from numba.cuda import libdevice as _libdevice

# ---------------------------------------------------------------------------------------------
# float64 exp and log1p. math.exp of a float32 value is a float32 expf on the GPU (Numba keeps
# float(x) of a float32 x float32): the float64 sums of the contract would silently lose half
# their digits. libdevice's double functions take float64 arguments.

if numba.config.ENABLE_CUDASIM:
    exp_d = math.exp
    log1p_d = math.log1p
else:
    @cuda.jit(device=True, forceinline=True)
    def exp_d(x):
        return _libdevice.exp(x)

    @cuda.jit(device=True, forceinline=True)
    def log1p_d(x):
        return _libdevice.log1p(x)


# ---------------------------------------------------------------------------------------------
# dtype-independent device functions (float64)


@cuda.jit(device=True)
def softplus(a):
    """log(1 + e^a) = max(a, 0) + log1p(e^-|a|), float64."""
    if a > 0.0:
        return a + log1p_d(exp_d(-a))
    return log1p_d(exp_d(a))


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

    MUL = {True: _mul, False: _mul}
    ADD = {True: _add, False: _add}
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

    MUL = {True: _fmul, False: _dmul}  # keyed by "is float32"
    ADD = {True: _fadd, False: _dadd}


def make_madd(single: bool, fused: bool):
    """Device function a * b + c in float32 (single) or float64: one rounding (fused) or two."""
    if fused:
        return _fma
    mul, add = MUL[single], ADD[single]

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
def make_sigmoid(single: bool, fused: bool):
    """The CPU's sigmoid 1 / (1 + exp_clamped(-x)) in float32 (single) or float64, its
    multiply-adds fused (FMA builds of the product epilogues) or not (baseline code)."""
    F = np.float32 if single else np.float64
    lo, hi = _F32_CLAMP if single else _F64_CLAMP
    log2e, shifter, ln2_hi, ln2_lo = _F32_REDUCE if single else _F64_REDUCE
    poly = _F32_POLY if single else _F64_POLY
    c_top, coeffs = poly[0], poly[1:]
    one = F(1.0)
    madd_f = make_madd(single, fused)
    e_lo, e_hi = _exp_at_clamp(single)

    @cuda.jit(device=True)
    def exp_clamped(x):
        if x < lo:  # beyond the clamp: the CPU's folded constants (see _exp_at_clamp)
            return e_lo
        if x > hi:
            return e_hi
        t = madd_f(x, log2e, shifter)  # x / ln2 rounded to an integer in the low mantissa bits
        n = t - shifter
        r = madd_f(-n, ln2_lo, madd_f(-n, ln2_hi, x))
        p = c_top
        for c in coeffs:
            p = madd_f(p, r, c)
        return F(math.ldexp(p, int(n)))  # p * 2^n, exact (n in the normal exponent range)

    @cuda.jit(device=True)
    def sigmoid(x):
        return one / (one + exp_clamped(-x))

    return sigmoid


# Epilogue modes of the hidden product.
