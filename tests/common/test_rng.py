"""Philox4x32-10 streams (csrc/KERNELS.md): known answers and stream properties on every backend.

The `backend` fixture yields a module with `philox4x32`, `uniform` and `normal`: the pure-Python
oracle (tests/reference/rng.py), the CUDA kernels (fastgen._cuda: the simulator in CI, a GPU when
one is lent; these cases carry the `cuda` mark) and the C++ extension (fastgen._core, skipped when
it is not built). Uniforms must agree bit for bit everywhere; normals to an ulp or so (libm and
CUDA's libdevice round log/cos/sin differently).
"""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _backend
from reference import rng as ref_rng

# Random123's known-answer vectors for philox4x32_10: (counter, key, output).
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]

# (seed, stream): zero, small, the largest uint64 values, and words that differ only in the high half.
SEEDS_STREAMS = [(0, 0), (12345, 7), (2**64 - 1, 2**64 - 1), (2**40 + 3, 2**33 + 1), (1 << 32, 1)]


@pytest.fixture(params=["reference", pytest.param("cuda", marks=pytest.mark.cuda), "cpu"])
def backend(request):
    if request.param == "reference":
        return ref_rng
    if request.param == "cuda":
        if not _backend.cuda_usable():
            pytest.skip("no usable CUDA device or simulator")
        return importlib.import_module("fastgen._cuda").rng
    return pytest.importorskip("fastgen._core").rng


def host(a) -> np.ndarray:
    """A NumPy array from any backend's result (NumPy, Numba device array, or a tuple of ints)."""
    return np.asarray(_backend.to_host(a) if not isinstance(a, tuple) else a)


def expected_uniforms(seed, stream, n, start=0):
    """u[start:start+n] from the (KAT-checked) reference block function and the KERNELS.md formula."""
    out = []
    for idx in range(start, start + n):
        x = [int(v) for v in ref_rng.philox4x32(
            ((idx >> 1) & 0xFFFFFFFF, idx >> 33, stream & 0xFFFFFFFF, stream >> 32),
            (seed & 0xFFFFFFFF, seed >> 32))]
        a, b = (x[2], x[3]) if idx & 1 else (x[0], x[1])
        out.append(((a >> 5) * 2.0**26 + (b >> 6) + 0.5) * 2.0**-53)
    return np.array(out)


@pytest.mark.parametrize("counter, key, want", KAT)
def test_philox_known_answers(backend, counter, key, want):
    got = host(backend.philox4x32(np.array(counter, dtype=np.uint32), np.array(key, dtype=np.uint32)))
    assert [int(v) for v in got] == list(want)


@pytest.mark.parametrize("seed, stream", SEEDS_STREAMS)
def test_uniform_follows_the_contract_formula(backend, seed, stream):
    got = host(backend.uniform(seed, stream, 9))
    assert got.dtype == np.float64 and got.shape == (9,)
    assert_array_equal(got, expected_uniforms(seed, stream, 9))


@pytest.mark.parametrize("start", [0, 1, 6, 2**33 + 1])
def test_uniform_start_gives_the_same_stream(backend, start):
    """uniform(seed, stream, n, start) is u[start:start+n], whatever the parity of start."""
    seed, stream = 987654321, 3
    got = host(backend.uniform(seed, stream, 7, start))
    assert_array_equal(got, expected_uniforms(seed, stream, 7, start))
    if start < 100:
        whole = host(backend.uniform(seed, stream, start + 7))
        assert_array_equal(got, whole[start:])


def test_uniform_in_open_unit_interval(backend):
    u = host(backend.uniform(2024, 5, 2000))
    assert ((u > 0) & (u < 1)).all()
    assert abs(u.mean() - 0.5) < 0.04  # standard error ~0.0065
    assert len(np.unique(u)) == u.size


def test_streams_and_seeds_differ(backend):
    a = host(backend.uniform(11, 0, 64))
    assert_array_equal(a, host(backend.uniform(11, 0, 64)))           # deterministic
    for other in (host(backend.uniform(11, 1, 64)), host(backend.uniform(12, 0, 64)),
                  host(backend.uniform(11, 1 << 32, 64)), host(backend.uniform(11 + (1 << 32), 0, 64))):
        assert not np.any(a == other)


def test_zero_length(backend):
    assert host(backend.uniform(1, 2, 0)).shape == (0,)
    assert host(backend.normal(1, 2, 0)).shape == (0,)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_normal_is_box_muller_on_uniform_pairs(backend, n):
    seed, stream = 31337, 9
    z = host(backend.normal(seed, stream, n))
    assert z.dtype == np.float64 and z.shape == (n,)
    u = expected_uniforms(seed, stream, 2 * ((n + 1) // 2))
    r = np.sqrt(-2.0 * np.log(u[0::2]))
    want = np.empty(u.size)
    want[0::2] = r * np.cos(2 * math.pi * u[1::2])
    want[1::2] = r * np.sin(2 * math.pi * u[1::2])
    assert_allclose(z, want[:n], rtol=1e-13, atol=1e-14)


def test_normal_moments(backend):
    n = 4000
    z = host(backend.normal(5, 1, n))
    # standard errors: mean 0.016, variance 0.022, skewness 0.04, excess kurtosis 0.08
    assert abs(z.mean()) < 0.08
    assert abs(z.var() - 1) < 0.11
    assert abs(np.mean(z**3)) < 0.2
    assert abs(np.mean(z**4) - 3) < 0.4


def test_negative_length_rejected(backend):
    with pytest.raises(ValueError):
        backend.uniform(1, 2, -1)
    with pytest.raises(ValueError):
        backend.normal(1, 2, -1)


@pytest.mark.cuda
def test_cuda_matches_reference_bit_for_bit():
    """Uniforms identical to the oracle on long stretches; normals to an ulp."""
    if not _backend.cuda_usable():
        pytest.skip("no usable CUDA device or simulator")
    cu = importlib.import_module("fastgen._cuda")
    for seed, stream in SEEDS_STREAMS[:3]:
        assert_array_equal(host(cu.rng.uniform(seed, stream, 301, 5)), ref_rng.uniform(seed, stream, 301, 5))
        assert_allclose(host(cu.rng.normal(seed, stream, 301)), ref_rng.normal(seed, stream, 301), rtol=1e-14, atol=1e-15)
