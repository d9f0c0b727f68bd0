"""Fused multiply-add on the device, shared by the CUDA kernel modules (rbm, nn; MADE through nn)."""
from __future__ import annotations

import math
from fractions import Fraction

import numba
import numpy as np
from numba import cuda

# Fused multiply-add. On the GPU it is the hardware's (one rounding, as the CPU's FMA builds).
# Numba's simulator implements cuda.fma as a * b + c (two roundings), which would make simulated
# results differ from the GPU's in the last bit; under the simulator _fma is an exactly rounded
# emulation instead, so simulated kernels produce the bits the GPU would.


def _fma_exact(a, b, c):
    """round(a * b + c) in float32 when all three are float32, else in float64 (simulator only)."""
    single = isinstance(a, np.float32) and isinstance(b, np.float32) and isinstance(c, np.float32)
    fa, fb, fc = float(a), float(b), float(c)
    if not (math.isfinite(fa) and math.isfinite(fb) and math.isfinite(fc)):
        r = fa * fb + fc  # inf/NaN: the rounding question does not arise
        return np.float32(r) if single else np.float64(r)
    x = Fraction(fa) * Fraction(fb) + Fraction(fc)
    if x == 0:  # IEEE: an exact zero sum is +0 unless both terms are zeros of negative sign
        prod_neg_zero = (fa == 0.0 or fb == 0.0) and math.copysign(1.0, fa) * math.copysign(1.0, fb) < 0
        z = -0.0 if (prod_neg_zero and fc == 0.0 and math.copysign(1.0, fc) < 0) else 0.0
        return np.float32(z) if single else np.float64(z)
    try:
        d = float(x)  # correctly rounded to double (exact integer division)
    except OverflowError:
        d = math.copysign(math.inf, x)
    if not single:
        return np.float64(d)
    with np.errstate(over="ignore"):
        g = np.float32(d)
    if not (math.isfinite(d) and np.isfinite(g)) or float(g) == d:
        return g
    # Rounding to double and then to float32 is wrong only when the double lands exactly on the
    # midpoint of two float32 neighbours: then decide by the exact value.
    other = np.nextafter(g, np.float32(math.inf) if d > float(g) else np.float32(-math.inf))
    mid = (float(g) + float(other)) / 2.0
    if d != mid or x == Fraction(mid):
        return g
    return max(g, other) if x > Fraction(mid) else min(g, other)


if numba.config.ENABLE_CUDASIM:
    _fma = _fma_exact
else:
    @cuda.jit(device=True, forceinline=True)
    def _fma(a, b, c):
        return cuda.fma(a, b, c)
