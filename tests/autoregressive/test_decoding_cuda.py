"""CUDA decoding kernel (fastgen._cuda.autoregressive.decoding) against the C++ kernel and the NumPy oracle.

Runs under Numba's CUDA simulator in CI (NUMBA_ENABLE_CUDASIM=1; 8 threads per row there) and on a
GPU when one is lent. The simulator is slow, so rows are few and short. Tokens must equal the CPU's
(same Philox uniforms, same rules); as between the CPU and the oracle, the sums run in another
order, so a row may differ only where the oracle's margin is below 1e-12 (tests/test_decoding.py).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgen import _backend
from fastgen.autoregressive import sample_logits
from reference import decoding as ref
from reference.rbm import uniforms

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]

MARGIN = 1e-12


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


def compare(cu, core, x, temperature, top_k, top_p, greedy=False, seed=7, stream=3):
    got = cu.autoregressive.sample_logits(x, temperature, top_k, top_p, greedy, seed, stream).copy_to_host()
    cpu = core.autoregressive.sample_logits(x, temperature, top_k, top_p, greedy, seed, stream)
    _, margin = ref.sample_logits(x, uniforms(seed, stream, np.arange(x.shape[0])), temperature, top_k, top_p, greedy)
    bad = (got != cpu) & (margin >= MARGIN)
    assert not bad.any(), f"rows {np.flatnonzero(bad)}: cuda {got[bad]} cpu {cpu[bad]}"
    return got


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_tokens_as_the_cpu(rng, cu, core, dtype):
    """V = 1, a short row, a row longer than the block; each filter alone and combined."""
    for shape, (temperature, top_k, top_p) in [((2, 1), (1.0, 0, 1.0)), ((2, 19), (1.0, 0, 1.0)),
                                               ((2, 19), (0.7, 4, 1.0)), ((2, 19), (1.3, 0, 0.8)),
                                               ((1, 5), (0.5, 2, 0.7))]:
        x = (rng.standard_normal(shape) * 2).astype(dtype)
        compare(cu, core, x, temperature, top_k, top_p, seed=int(rng.integers(2**63)))


def test_ties_masks_and_greedy(rng, cu, core):
    x = rng.integers(-1, 2, size=(2, 11)).astype(np.float64)
    x[:, [2, 7]] = -np.inf
    compare(cu, core, x, 1.0, 3, 1.0, seed=int(rng.integers(2**63)))
    compare(cu, core, x, 1.0, 0, 0.6, seed=int(rng.integers(2**63)))
    got = compare(cu, core, x, 1.0, 0, 1.0, greedy=True)
    assert_array_equal(got, np.argmax(x, axis=1))


def test_public_function_on_cuda(rng, cu):
    from numba import cuda
    x = rng.standard_normal((2, 9))
    want = sample_logits(x, top_k=3, random_state=11, device="cpu")
    assert_array_equal(sample_logits(x, top_k=3, random_state=11, device="cuda"), want)
    assert_array_equal(sample_logits(cuda.to_device(x), top_k=3, random_state=11, device="cuda"), want)


@pytest.mark.parametrize("logits, kwargs, exc, match", [
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), {}, ValueError, "logits: row 1 holds NaN or \\+inf"),
    (np.array([[-np.inf, -np.inf]]), {}, ValueError, "logits: row 0 is all -inf"),
    (np.zeros((1, 2)), dict(temperature=0.0), ValueError, "temperature"),
    (np.zeros((1, 2)), dict(top_p=1.5), ValueError, "top_p"),
    (np.zeros((1, 2), dtype=np.int32), {}, TypeError, "logits: expected dtype float32 or float64"),
])
def test_bad_input(logits, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sample_logits(logits, device="cuda", **kwargs)


def test_kernel_checks(cu):
    with pytest.raises(ValueError, match="top_k: must be >= 0"):
        cu.autoregressive.sample_logits(np.zeros((1, 2)), 1.0, -1, 1.0, False, 0, 0)
    with pytest.raises(ValueError, match="logits: need at least one token"):
        cu.autoregressive.sample_logits(np.zeros((1, 0)), 1.0, 0, 1.0, False, 0, 0)
