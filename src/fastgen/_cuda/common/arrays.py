"""Device-side array conversion for ``fastgen._backend.Backend``: inputs that are already on the GPU
are validated, cast and made contiguous there, never copied through the host."""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

_THREADS = 256


def _as_device(a):
    return a if hasattr(a, "copy_to_host") else cuda.as_cuda_array(a)


@cuda.jit
def _flat_copy(src, dst):
    """dst.flat[i] = src[unravel(i)] (C order) for any strides and a dtype cast; src 1-D to 3-D."""
    i = cuda.grid(1)
    if i >= dst.size:
        return
    if src.ndim == 1:
        dst[i] = src[i]
    elif src.ndim == 2:
        dst[i // src.shape[1], i % src.shape[1]] = src[i // src.shape[1], i % src.shape[1]]
    else:
        n12 = src.shape[1] * src.shape[2]
        r = i % n12
        dst[i // n12, r // src.shape[2], r % src.shape[2]] = src[i // n12, r // src.shape[2], r % src.shape[2]]


def as_contiguous(a, dtype):
    """`a` (a device array) as a C-contiguous device array of `dtype`: `a` itself when it already is
    one, else one conversion on the device."""
    d = _as_device(a)
    dtype = np.dtype(dtype)
    if d.dtype == dtype and d.is_c_contiguous():
        return d
    if d.ndim > 3:
        raise ValueError(f"device arrays of up to 3 dimensions are accepted, got shape {d.shape}")
    out = cuda.device_array(d.shape, dtype=dtype)
    if d.size:
        _flat_copy[math.ceil(d.size / _THREADS), _THREADS](d, out)
    return out


def copy(a):
    """A fresh device copy of the device array `a`."""
    d = _as_device(a)
    out = cuda.device_array(d.shape, dtype=d.dtype)
    out.copy_to_device(d)
    return out


@cuda.jit
def _first_outside(x, low, high, integral, out):
    i = cuda.grid(1)
    if i < x.size:
        v = x[i]
        if math.isnan(v) or math.isinf(v) or v < low or v > high or (integral and v != math.floor(v)):
            cuda.atomic.min(out, 0, i)


def first_outside(a, low=-math.inf, high=math.inf, integral=False) -> int:
    """The flat index of the first element of the C-contiguous device array `a` that is NaN or
    infinite, outside [low, high], or (`integral`) not a whole number; -1 when there is none. One
    pass on the device and one integer back to the host."""
    d = _as_device(a)
    if d.size == 0:
        return -1
    flat = d.reshape(d.size)
    if d.dtype.kind != "f":
        flat = as_contiguous(flat, np.float64)   # integers: the same test on their float values
    out = cuda.to_device(np.array([np.iinfo(np.int64).max], dtype=np.int64))
    _first_outside[math.ceil(d.size / _THREADS), _THREADS](flat, float(low), float(high), bool(integral), out)
    bad = int(out.copy_to_host()[0])
    return -1 if bad == np.iinfo(np.int64).max else bad
