"""Pure-Python oracle of the Philox4x32-10 streams defined in ``csrc/KERNELS.md``.

Written for clarity, not speed: plain Python integers for the 32-bit words, Python floats (IEEE
float64, as in C++ and CUDA) for the uniforms and normals. The operations and their order follow
KERNELS.md exactly, so the uniforms are bit-identical to both backends; the normals agree to the
last ulp or so (``log``, ``cos`` and ``sin`` differ by an ulp between libm and CUDA's libdevice).

Layout (KERNELS.md):
- key = (seed & 0xffffffff, seed >> 32) from a uint64 ``seed``;
- for stream ``s`` and block ``b`` the counter is (b lo, b hi, s lo, s hi);
- block ``b`` gives words x0..x3 and the uniforms
      u[2b]   = ((x0 >> 5) * 2^26 + (x1 >> 6) + 0.5) * 2^-53
      u[2b+1] = ((x2 >> 5) * 2^26 + (x3 >> 6) + 0.5) * 2^-53;
- normals by Box-Muller on the pair (u[2i], u[2i+1]):
      z[2i] = sqrt(-2 ln u[2i]) cos(2 pi u[2i+1]),  z[2i+1] = sqrt(-2 ln u[2i]) sin(2 pi u[2i+1]).
"""
from __future__ import annotations

import math

import numpy as np

# Random123 constants: round multipliers and Weyl key increments.
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10
MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


def _mulhilo(a: int, b: int) -> tuple[int, int]:
    """(high, low) 32-bit halves of the 64-bit product a * b."""
    p = (a * b) & MASK64
    return p >> 32, p & MASK32


def philox4x32(counter, key) -> np.ndarray:
    """Philox4x32-10 block function: counter (4 words), key (2 words) -> uint32[4].

    Each round: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2, then
    c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0); the key is bumped by (W0, W1) before every round
    but the first.
    """
    c = [int(v) for v in counter]
    k = [int(v) for v in key]
    if len(c) != 4 or len(k) != 2:
        raise ValueError("philox4x32: counter needs 4 words and key 2 words")
    if any(not 0 <= v <= MASK32 for v in c + k):
        raise ValueError("philox4x32: words must lie in [0, 2^32)")
    k0, k1 = k
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + PHILOX_W0) & MASK32
            k1 = (k1 + PHILOX_W1) & MASK32
        hi0, lo0 = _mulhilo(PHILOX_M0, c[0])
        hi1, lo1 = _mulhilo(PHILOX_M1, c[2])
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return np.array(c, dtype=np.uint32)


def _check_u64(value, name: str) -> int:
    v = int(value)
    if not 0 <= v <= MASK64:
        raise ValueError(f"{name}: expected an integer in [0, 2^64), got {value}")
    return v


def key_of(seed) -> tuple[int, int]:
    """The Philox key words of a uint64 seed."""
    seed = _check_u64(seed, "seed")
    return seed & MASK32, seed >> 32


def block(seed, stream, b) -> np.ndarray:
    """Words x0..x3 of block ``b`` of stream ``stream`` under ``seed``."""
    stream = _check_u64(stream, "stream")
    b = _check_u64(b, "block")
    return philox4x32((b & MASK32, b >> 32, stream & MASK32, stream >> 32), key_of(seed))


def to_unit(a: int, b: int) -> float:
    """53-bit uniform strictly inside (0, 1) from two words (KERNELS.md formula, float64 order:
    ((a >> 5) * 2^26 + (b >> 6)) + 0.5, then times 2^-53)."""
    return ((int(a) >> 5) * 67108864.0 + float(int(b) >> 6) + 0.5) * (1.0 / 9007199254740992.0)


def uniform(seed, stream, n, start=0) -> np.ndarray:
    """Uniforms u[start : start + n] of a stream, float64."""
    n = int(n)
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    start = _check_u64(start, "start")
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        idx = start + i
        x = block(seed, stream, idx >> 1)
        out[i] = to_unit(x[2], x[3]) if idx & 1 else to_unit(x[0], x[1])
    return out


def normal(seed, stream, n) -> np.ndarray:
    """Standard normals z[0 : n] of a stream (Box-Muller on consecutive uniform pairs), float64."""
    n = int(n)
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    out = np.empty(n, dtype=np.float64)
    two_pi = 6.283185307179586476925286766559
    for i in range((n + 1) // 2):
        x = block(seed, stream, i)
        u0, u1 = to_unit(x[0], x[1]), to_unit(x[2], x[3])
        r = math.sqrt(-2.0 * math.log(u0))
        out[2 * i] = r * math.cos(two_pi * u1)
        if 2 * i + 1 < n:
            out[2 * i + 1] = r * math.sin(two_pi * u1)
    return out
