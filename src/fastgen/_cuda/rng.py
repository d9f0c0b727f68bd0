"""Philox4x32-10 on CUDA (Numba), bit-compatible with ``csrc/common/rng.hpp``; contract in
``csrc/KERNELS.md``.

Device functions (used by the sampling kernels of ``hmm.py``):

- ``philox_block(c0, c1, c2, c3, k0, k1) -> (x0, x1, x2, x3)``: one Philox4x32-10 block;
- ``to_unit(a, b) -> float64``: the 53-bit uniform of two words, in (0, 1] (1.0 only
  when all bits are set, probability 2^-53);
- ``stream_uniform(k0, k1, s0, s1, idx) -> float64``: uniform u[idx] of a stream.

The 32-bit words travel as uint64 values below 2^32: Numba widens integer arithmetic to 64 bits
anyway, and a 64-bit product of two 32-bit words gives mulhi (``p >> 32``) and mullo
(``p & 0xffffffff``) at once. Every constant is a NumPy uint64 scalar, so no expression mixes
signed and unsigned integers (which Numba would type as float64).

Host functions (same names and results as ``fastgen._core``; results are Numba device arrays):

- ``philox4x32(counter, key) -> uint32[4]``   raw block, for known-answer tests;
- ``uniform(seed, stream, n, start=0) -> float64[n]``   u[start : start + n];
- ``normal(seed, stream, n) -> float64[n]``   z[0 : n] (Box-Muller on (u[2i], u[2i + 1])).

Uniforms are bit-identical to the CPU. Normals agree to about an ulp: CUDA's ``log``, ``cos`` and
``sin`` (libdevice) are not glibc's.

This module also holds the small host-side helpers (argument conversion, launch geometry) that the
other ``fastgen._cuda`` modules written alongside it share.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

__all__ = ["philox4x32", "uniform", "normal"]

# ---------------------------------------------------------------------------------------------
# Device side

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


@cuda.jit
def _philox_kernel(words, out):
    """words: uint64[6] = counter[4], key[2]; out: uint32[4]."""
    if cuda.grid(1) == 0:
        x0, x1, x2, x3 = philox_block(words[0], words[1], words[2], words[3], words[4], words[5])
        out[0] = x0
        out[1] = x1
        out[2] = x2
        out[3] = x3


@cuda.jit
def _uniform_kernel(k0, k1, s0, s1, first_block, parity, out):
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
def _normal_kernel(k0, k1, s0, s1, out):
    """Thread i: the normal pair z[2i], z[2i + 1] from Philox block i."""
    i = cuda.grid(1)
    n = out.shape[0]
    if 2 * i >= n:
        return
    x0, x1, x2, x3 = stream_block(k0, k1, s0, s1, np.uint64(i))
    u0 = to_unit(x0, x1)
    u1 = to_unit(x2, x3)
    r = math.sqrt(-2.0 * math.log(u0))
    out[2 * i] = r * math.cos(_TWO_PI * u1)
    if 2 * i + 1 < n:
        out[2 * i + 1] = r * math.sin(_TWO_PI * u1)


# ---------------------------------------------------------------------------------------------
# Host-side helpers shared by the fastgen._cuda modules

MAX_BLOCK = 128  # threads per block of the elementwise kernels


def launch(n_threads: int, max_block: int = MAX_BLOCK):
    """(blocks, threads per block) covering n_threads >= 1; small launches get small blocks."""
    tpb = min(max_block, max(32, -(-n_threads // 32) * 32))
    return -(-n_threads // tpb), tpb


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


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class DevArg:
    """One argument on the device: ``dev`` (Numba device array), ``host`` (the NumPy array it came
    from, or None for device-resident input), ``shape`` and ``dtype``.

    Device-resident input (``__cuda_array_interface__``: Numba, CuPy, PyTorch...) is used in place and
    must be C-contiguous; host input is converted with ``np.asarray`` (no dtype cast) and copied to the
    device once, lazily, after the caller's checks have passed.
    """

    __slots__ = ("name", "dev", "host", "shape", "dtype")

    def __init__(self, a, name: str, ndim: int):
        self.name = name
        dev = None
        if not isinstance(a, np.ndarray):
            if hasattr(a, "__cuda_array_interface__"):
                dev = cuda.as_cuda_array(a)
            elif hasattr(a, "copy_to_host") and hasattr(a, "is_c_contiguous"):  # simulator arrays
                dev = a
        if dev is None:
            host = np.asarray(a)
            self.host, self.dev = host, None
            self.shape, self.dtype = tuple(host.shape), host.dtype
        else:
            if not dev.is_c_contiguous():
                raise ValueError(f"{name}: expected a C-contiguous array")
            self.host, self.dev = None, dev
            self.shape, self.dtype = tuple(dev.shape), np.dtype(dev.dtype)
        if len(self.shape) != ndim:
            want = _shape_text(("*",) * ndim)
            raise ValueError(f"{name}: expected shape {want}, got shape {_shape_text(self.shape)}")

    def device(self):
        if self.dev is None:
            self.dev = cuda.to_device(np.ascontiguousarray(self.host))
        return self.dev

    def expect_shape(self, *expected) -> None:
        """expected extents, -1 = any."""
        if any(e >= 0 and s != e for s, e in zip(self.shape, expected)):
            want = _shape_text(tuple("*" if e < 0 else e for e in expected))
            raise ValueError(f"{self.name}: expected shape {want}, got shape {_shape_text(self.shape)}")

    def expect_dtype(self, dtype) -> None:
        if self.dtype != np.dtype(dtype):
            raise TypeError(f"{self.name}: expected dtype {np.dtype(dtype)}, got {self.dtype}")

    def float_dtype(self) -> np.dtype:
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{self.name}: expected dtype float32 or float64, got {self.dtype}")
        return self.dtype


def scratch(shape, dtype):
    """An uninitialised device array; zero-size shapes get one element (never read)."""
    shape = tuple(int(s) for s in shape)
    if any(s == 0 for s in shape):
        shape = (1,) * len(shape)
    return cuda.device_array(shape, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Host functions of the contract


def philox4x32(counter, key):
    """Raw Philox4x32-10 block: counter uint32[4], key uint32[2] -> uint32[4] (device array)."""
    c = np.asarray(counter)
    k = np.asarray(key)
    if c.shape != (4,):
        raise ValueError(f"counter: expected shape (4,), got shape {_shape_text(c.shape)}")
    if k.shape != (2,):
        raise ValueError(f"key: expected shape (2,), got shape {_shape_text(k.shape)}")
    words = [int(v) for v in np.concatenate([c.astype(object), k.astype(object)])]
    if any(not 0 <= v <= 0xFFFFFFFF for v in words):
        raise ValueError("counter, key: words must lie in [0, 2^32)")
    out = cuda.device_array(4, dtype=np.uint32)
    _philox_kernel[1, 32](cuda.to_device(np.array(words, dtype=np.uint64)), out)
    return out


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
        _uniform_kernel[launch(n_blocks)](k0, k1, s0, s1, np.uint64(start >> 1), parity, out)
    return out


def normal(seed, stream, n):
    """float64[n]: standard normals z[0 : n] of the stream."""
    k0, k1, s0, s1 = key_words(seed, stream)
    n = int(n)
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    out = cuda.device_array(n, dtype=np.float64)
    if n:
        _normal_kernel[launch((n + 1) // 2)](k0, k1, s0, s1, out)
    return out
