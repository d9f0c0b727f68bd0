"""``fastgen._cuda.rng``: the twin of ``_core.rng`` (Philox4x32-10, bit-compatible with
``csrc/common/rng.hpp``; contract in ``csrc/KERNELS.md``). Same names and results as
``fastgen._core``; results are Numba device arrays:

- ``philox4x32(counter, key) -> uint32[4]``   raw block, for known-answer tests;
- ``uniform(seed, stream, n, start=0) -> float64[n]``   u[start : start + n];
- ``normal(seed, stream, n) -> float64[n]``   z[0 : n] (Box-Muller on (u[2i], u[2i + 1])).

Uniforms are bit-identical to the CPU. Normals agree to about an ulp: CUDA's ``log``, ``cos`` and
``sin`` (libdevice) are not glibc's. The device functions that every sampling kernel uses live in
``common/philox.py``.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from .common.args import shape_text
from .common.philox import normal, philox_block, uniform

__all__ = ["philox4x32", "uniform", "normal"]


@cuda.jit
def _philox_kernel(words, out):
    """words: uint64[6] = counter[4], key[2]; out: uint32[4]."""
    if cuda.grid(1) == 0:
        x0, x1, x2, x3 = philox_block(words[0], words[1], words[2], words[3], words[4], words[5])
        out[0] = x0
        out[1] = x1
        out[2] = x2
        out[3] = x3


# ---------------------------------------------------------------------------------------------
# Host functions of the contract (uniform and normal: common/philox.py)


def philox4x32(counter, key):
    """Raw Philox4x32-10 block: counter uint32[4], key uint32[2] -> uint32[4] (device array)."""
    c = np.asarray(counter)
    k = np.asarray(key)
    if c.shape != (4,):
        raise ValueError(f"counter: expected shape (4,), got shape {shape_text(c.shape)}")
    if k.shape != (2,):
        raise ValueError(f"key: expected shape (2,), got shape {shape_text(k.shape)}")
    words = [int(v) for v in np.concatenate([c.astype(object), k.astype(object)])]
    if any(not 0 <= v <= 0xFFFFFFFF for v in words):
        raise ValueError("counter, key: words must lie in [0, 2^32)")
    out = cuda.device_array(4, dtype=np.uint32)
    _philox_kernel[1, 32](cuda.to_device(np.array(words, dtype=np.uint64)), out)
    return out
