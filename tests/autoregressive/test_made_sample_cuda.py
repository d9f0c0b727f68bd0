"""CUDA MADE sampler (fastgen._cuda.autoregressive.made_sample) against the C++ kernel and the naive NumPy oracle.

Runs under Numba's CUDA simulator in CI (8 threads per sample there) and on a GPU when one is lent;
the simulator is slow, so the networks are tiny. float64 samples equal the CPU's (Bernoulli,
categorical exactly; mixture values to rtol 1e-9); the CUDA kernel sums its dot products in float64
and in another order, so a sample may differ only where the oracle's margin is below 1e-9. float32:
decisions checked by teacher forcing against the oracle (margin rule of tests/autoregressive/test_made_sample.py).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _backend
from reference import made_sample as ref
from test_made_sample import kernel, oracle_args, random_made

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


def cuda_kernel(cu, m, n_samples, temperature=1.0, top_k=0, top_p=1.0, seed=0, stream=0):
    return cu.autoregressive.made_sample(m["theta"], m["sizes"], m["acts"], m["slope"], m["order"], m["hidden_degrees"],
                          m["output"], m["n_out"], n_samples, temperature, top_k, top_p, seed, stream).copy_to_host()


@pytest.mark.parametrize("output, n_out, D, hidden, n, filt", [
    (0, 1, 5, (6,), 3, (1.0, 0, 1.0)),
    (0, 1, 4, (5, 3), 2, (0.8, 0, 0.7)),
    (0, 1, 1, (2,), 2, (1.0, 0, 1.0)),
    (1, 3, 3, (4, 3), 2, (0.9, 2, 0.9)),
    (2, 2, 3, (), 2, (1.0, 0, 1.0)),
])
def test_same_samples_as_the_cpu(rng, cu, output, n_out, D, hidden, n, filt):
    m = random_made(rng, output, n_out, D, hidden, "random")
    seed = int(rng.integers(2**63))
    got = cuda_kernel(cu, m, n, *filt, seed=seed, stream=9)
    cpu = kernel(m, n, *filt, seed=seed, stream=9)
    same = np.isclose(got, cpu, rtol=1e-9, atol=1e-12).all(axis=1) if output == 2 else (got == cpu).all(axis=1)
    if not same.all():
        _, margins = ref.naive_sample(*oracle_args(m), n, *filt, seed, 9)
        assert (margins[~same].min(axis=1) < 1e-9).all(), f"cuda\n{got}\ncpu\n{cpu}"


def test_float32_decisions_match_the_oracle(rng, cu):
    m = random_made(rng, 1, 2, 4, (5,), "random", dtype=np.float32)
    seed = int(rng.integers(2**63))
    X = cuda_kernel(cu, m, 3, seed=seed, stream=1)
    assert X.dtype == np.float32
    values, margins = ref.teacher_forced(X, *oracle_args(m), 1.0, 0, 1.0, seed, 1)
    clear = margins > 1e-4
    assert_array_equal(X[clear], values[clear])


def test_bad_input(rng, cu):
    m = random_made(rng, 1, 2, 3, (4,), "natural")
    with pytest.raises(ValueError, match="order: expected a permutation of 1..3"):
        cu.autoregressive.made_sample(m["theta"], m["sizes"], m["acts"], m["slope"], np.array([1, 1, 2]), m["hidden_degrees"],
                       1, 2, 1, 1.0, 0, 1.0, 0, 0)
    with pytest.raises(ValueError, match="hidden_degrees: every degree must lie in \\[0, 2\\]"):
        cu.autoregressive.made_sample(m["theta"], m["sizes"], m["acts"], m["slope"], m["order"], np.full(4, 3), 1, 2, 1, 1.0, 0,
                       1.0, 0, 0)
    with pytest.raises(ValueError, match="sizes: the input width must be D \\* 3 = 9"):
        cu.autoregressive.made_sample(m["theta"], m["sizes"], m["acts"], m["slope"], m["order"], m["hidden_degrees"], 1, 3, 1,
                       1.0, 0, 1.0, 0, 0)
    with pytest.raises(ValueError, match="temperature"):
        cu.autoregressive.made_sample(m["theta"], m["sizes"], m["acts"], m["slope"], m["order"], m["hidden_degrees"], 1, 2, 1,
                       -1.0, 0, 1.0, 0, 0)
    th = m["theta"].copy()
    th[0] = np.inf
    with pytest.raises(ValueError, match="theta: contains NaN or infinity \\(first at index 0\\)"):
        cu.autoregressive.made_sample(th, m["sizes"], m["acts"], m["slope"], m["order"], m["hidden_degrees"], 1, 2, 1, 1.0, 0,
                       1.0, 0, 0)


def test_overflow_is_reported(rng, cu):
    g = random_made(rng, 2, 1, 2, (3,), "natural", scale=0.1)
    th = g["theta"].copy()
    th[-1] = 800.0  # variable 1's log standard deviation
    with pytest.raises(ValueError, match="made_sample: sample 0, variable 1 \\(generation step 1\\): the drawn value overflowed"):
        cuda_kernel(cu, dict(g, theta=th), 1)
