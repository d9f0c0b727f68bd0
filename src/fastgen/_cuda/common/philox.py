"""Philox4x32-10 on the device (Numba), bit-compatible with ``csrc/common/rng.hpp`` (its twin);
contract in ``csrc/KERNELS.md``. Used by every sampling kernel of ``fastgen._cuda``; the family
module ``fastgen._cuda.rng`` exposes it as ``philox4x32`` / ``uniform`` / ``normal``.

Device functions:

- ``philox_block(c0, c1, c2, c3, k0, k1) -> (x0, x1, x2, x3)``: one Philox4x32-10 block;
- ``to_unit(a, b) -> float64``: the 53-bit uniform of two words, in (0, 1] (1.0 only
  when all bits are set, probability 2^-53);
- ``stream_block(k0, k1, s0, s1, blk)``: the words of block ``blk`` of a stream;
- ``stream_uniform(k0, k1, s0, s1, idx) -> float64``: uniform u[idx] of a stream (idx uint64);
- ``normal_pair(k0, k1, s0, s1, blk)``: the two normals of block ``blk``;
- ``uniform_at`` / ``normal_at(k0, k1, s0, s1, e)``: u[e] / z[e] of a stream for an int64
  element index (z: Box-Muller on the uniforms of block e >> 1, cos for even e, sin for odd e).

Kernels: ``uniform_kernel`` (u[start : start + n] into an array), ``normal_kernel`` (z[0 : n]).

Host functions: ``uniform(seed, stream, n, start=0)`` and ``normal(seed, stream, n)`` (the
contract's ``rng.uniform`` / ``rng.normal``, device arrays); ``u64`` (a checked seed, stream or
offset), ``key_words(seed, stream)`` (the kernel arguments k0, k1, s0, s1) and
``stream_keys(seed, stream, offset)`` (those of stream + offset).

The 32-bit words travel as uint64 values below 2^32: Numba widens integer arithmetic to 64 bits
anyway, and a 64-bit product of two 32-bit words gives mulhi (``p >> 32``) and mullo
(``p & 0xffffffff``) at once. Every constant is a NumPy uint64 scalar, so no expression mixes
signed and unsigned integers (which Numba would type as float64).

Uniforms are bit-identical to the CPU. Normals agree to about an ulp: CUDA's ``log``, ``cos`` and
``sin`` (libdevice) are not glibc's.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .args import launch

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SH32 = np.uint64(32)
_SH5 = np.uint64(5)
_SH6 = np.uint64(6)
_SH1 = np.uint64(1)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_TWO_POW_26 = 67108864.0
_TWO_POW_M53 = 1.0 / 9007199254740992.0
_TWO_PI = 6.283185307179586476925286766559
_MASK64 = (1 << 64) - 1


@cuda.jit(device=True)
def philox_block(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) under key (k0, k1); all uint64 holding 32-bit words."""
    for r in range(10):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0 = p0 >> _SH32
        lo0 = p0 & _MASK32
        hi1 = p1 >> _SH32
        lo1 = p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@cuda.jit(device=True)
def to_unit(a, b):
    """((a >> 5) * 2^26 + (b >> 6) + 0.5) * 2^-53 in float64, in that order (as rng.hpp)."""
    return (float(a >> _SH5) * _TWO_POW_26 + float(b >> _SH6) + 0.5) * _TWO_POW_M53


@cuda.jit(device=True)
def stream_block(k0, k1, s0, s1, blk):
    """Words of Philox block ``blk`` (uint64) of the stream with words (s0, s1) under key (k0, k1)."""
    return philox_block(blk & _MASK32, blk >> _SH32, s0, s1, k0, k1)


@cuda.jit(device=True)
def stream_uniform(k0, k1, s0, s1, idx):
    """Uniform u[idx] (idx uint64) of a stream."""
    x0, x1, x2, x3 = stream_block(k0, k1, s0, s1, idx >> _SH1)
    if (idx & _ONE) != _ZERO:
        return to_unit(x2, x3)
    return to_unit(x0, x1)


@cuda.jit(device=True)
def uniform_at(k0, k1, s0, s1, e):
    """u[e] of the stream (e: a non-negative int64 element index)."""
    return stream_uniform(k0, k1, s0, s1, np.uint64(e))


@cuda.jit(device=True)
def normal_at(k0, k1, s0, s1, e):
    """z[e] of the stream: Box-Muller on the uniforms of Philox block e >> 1 (cos for even e, sin
    for odd e), the arithmetic of rng.hpp's normal_pair."""
    idx = np.uint64(e)
    x0, x1, x2, x3 = stream_block(k0, k1, s0, s1, idx >> _SH1)
    u0 = to_unit(x0, x1)
    u1 = to_unit(x2, x3)
    r = math.sqrt(-2.0 * math.log(u0))
    if (idx & _ONE) != _ZERO:
        return r * math.sin(_TWO_PI * u1)
    return r * math.cos(_TWO_PI * u1)


@cuda.jit(device=True)
def normal_pair(k0, k1, s0, s1, blk):
    """The normals (z[2 blk], z[2 blk + 1]) of a stream: Box-Muller on the uniforms of Philox block
    ``blk`` (uint64), as rng.hpp's normal_pair."""
    x0, x1, x2, x3 = stream_block(k0, k1, s0, s1, blk)
    u0 = to_unit(x0, x1)
    u1 = to_unit(x2, x3)
    r = math.sqrt(-2.0 * math.log(u0))
    return r * math.cos(_TWO_PI * u1), r * math.sin(_TWO_PI * u1)


@cuda.jit
def uniform_kernel(k0, k1, s0, s1, first_block, parity, out):
    """Thread i computes Philox block first_block + i: uniforms 2 * block + {0, 1}, which are
    out[2 i - parity] and out[2 i + 1 - parity] (parity = start & 1) where in range."""
    i = cuda.grid(1)
    n = out.shape[0]
    j0 = 2 * i - parity
    if j0 + 1 < 0 or j0 >= n:
        return
    x0, x1, x2, x3 = stream_block(k0, k1, s0, s1, first_block + np.uint64(i))
    if j0 >= 0:
        out[j0] = to_unit(x0, x1)
    if j0 + 1 < n:
        out[j0 + 1] = to_unit(x2, x3)


@cuda.jit
def normal_kernel(k0, k1, s0, s1, out):
    """Thread i: the normal pair z[2i], z[2i + 1] from Philox block i."""
    i = cuda.grid(1)
    n = out.shape[0]
    if 2 * i >= n:
        return
    z0, z1 = normal_pair(k0, k1, s0, s1, np.uint64(i))
    out[2 * i] = z0
    if 2 * i + 1 < n:
        out[2 * i + 1] = z1


# ---------------------------------------------------------------------------------------------
# Host side: seeds and streams as kernel arguments


def u64(value, name: str) -> int:
    """A Python int in [0, 2^64) (seeds, streams, offsets into a stream)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    v = int(value)
    if not 0 <= v < 1 << 64:
        raise ValueError(f"{name}: expected an integer in [0, 2^64), got {v}")
    return v


def key_words(seed: int, stream: int):
    """(k0, k1, s0, s1) as np.uint64 kernel arguments."""
    seed = u64(seed, "seed")
    stream = u64(stream, "stream")
    m = 0xFFFFFFFF
    return (np.uint64(seed & m), np.uint64(seed >> 32), np.uint64(stream & m), np.uint64(stream >> 32))


def stream_keys(seed, stream, offset=0):
    """Philox words of stream (stream + offset) mod 2^64 (seed and stream checked)."""
    return key_words(seed, (u64(stream, "stream") + offset) & _MASK64)


def uniform(seed, stream, n, start=0):
    """float64[n]: uniforms u[start : start + n] of the stream, in (0, 1]."""
    k0, k1, s0, s1 = key_words(seed, stream)
    n = int(n)
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    start = u64(start, "start")
    if start + n > 1 << 64:
        raise ValueError("start + n: the stream has 2^64 uniforms")
    out = cuda.device_array(n, dtype=np.float64)
    if n:
        parity = start & 1
        n_blocks = (n + parity + 1) // 2
        uniform_kernel[launch(n_blocks)](k0, k1, s0, s1, np.uint64(start >> 1), parity, out)
    return out


def normal(seed, stream, n):
    """float64[n]: standard normals z[0 : n] of the stream."""
    k0, k1, s0, s1 = key_words(seed, stream)
    n = int(n)
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    out = cuda.device_array(n, dtype=np.float64)
    if n:
        normal_kernel[launch((n + 1) // 2)](k0, k1, s0, s1, out)
    return out
