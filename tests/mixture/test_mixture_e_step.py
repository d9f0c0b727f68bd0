"""The fused E-step kernels (mixture.e_step_full / e_step_diag): against the NumPy oracles of
tests/reference/mixture.py, against the two-step path they replace (log-densities ->
responsibilities in place -> weighted moments), thread-count independence and input checks.

The fused CPU kernel runs the two-step path's own code on the same chunks of rows, so on the CPU
both give the same bits (float64 and float32); CUDA composes the two-step kernels and is held to
the oracle. Tolerances: float64 rtol 1e-10 (sums of 1e3 products of O(1) numbers); float32 rtol
1e-5 against the oracle in float64 on the float32 inputs (absolute floors scale with the sums).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from reference import mixture as ref
from conftest import assert_same_on_any_thread_count
from devices import DEVICES, host, kernels, small

DTYPES = (np.float64, np.float32)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
COVARIANCES = ("full", "tied", "diag", "spherical")


def problem(seed, N, K, D, covariance, dtype, spread=3.0):
    """Data about their mean, means, the kernel's precision argument and log-weights, in dtype."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * 2.0
    means = rng.normal(size=(K, D)) * spread
    lw = np.log(rng.dirichlet(np.ones(K)))
    if covariance in ("full", "tied"):
        C = K if covariance == "full" else 1
        P = np.triu(rng.normal(size=(C, D, D)) * 0.3)
        idx = np.arange(D)
        P[:, idx, idx] = rng.uniform(0.5, 2.0, size=(C, D))
        P += np.tril(rng.normal(size=(C, D, D)), -1)  # below the diagonal: never read
    elif covariance == "diag":
        P = rng.uniform(0.2, 3.0, size=(K, D))
    else:
        P = np.repeat(rng.uniform(0.2, 3.0, size=(K, 1)), D, axis=1)
    return [np.ascontiguousarray(a, dtype=dtype) for a in (X, means, P, lw)]


def fused(device, covariance):
    mix = kernels(device, "mixture")
    return mix.e_step_full if covariance in ("full", "tied") else mix.e_step_diag


def two_step(device, covariance, X, means, P, lw):
    em, mix = kernels(device, "emissions"), kernels(device, "mixture")
    full = covariance in ("full", "tied")
    lp = (em.gaussian_logprob_full if full else em.gaussian_logprob_diag)(X, means, P)
    log_norm, resp = mix.responsibilities(lp, lw, True, False)
    col = np.ascontiguousarray(host(log_norm).reshape(-1, 1))
    total = float(host(em.weighted_moments(col, col, 0)[0])[0])
    return (total,) + tuple(host(a) for a in em.weighted_moments(X, resp, 2 if full else 1))


def oracle(covariance, X, means, P, lw):
    X, means, P, lw = (np.asarray(a, dtype=np.float64) for a in (X, means, P, lw))
    full = covariance in ("full", "tied")
    if full:
        lp = ref.gaussian_logprob_full(X, means, np.triu(P))
    else:
        lp = ref.gaussian_logprob_diag(X, means, P)
    log_norm, resp = ref.mixture_responsibilities(lp, lw)
    nk, s1, s2 = ref.weighted_moments(X, resp, 2 if full else 1)
    return (float(np.sum(log_norm)), nk, s1, s2)


def assert_close_sums(got, want, dtype):
    """Each sum to rtol of its own scale (entries near zero next to large ones get that scale)."""
    assert_allclose(got[0], want[0], rtol=RTOL[dtype], atol=RTOL[dtype] * abs(want[0]))
    for g, w in zip(got[1:], want[1:]):
        g = host(g)
        assert g.shape == w.shape and g.dtype == dtype
        assert_allclose(g, w, rtol=RTOL[dtype], atol=RTOL[dtype] * max(np.abs(w).max(), 1.0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed, N, K, D", [(0, 1, 1, 1), (1, 33, 5, 3), (2, 257, 7, 13), (3, 70, 64, 2)])
def test_e_step_matches_oracle(device, covariance, dtype, seed, N, K, D):
    N = small(device, N, min(N, 40))
    X, means, P, lw = problem(seed, N, K, D, covariance, dtype)
    assert_close_sums(fused(device, covariance)(X, means, P, lw), oracle(covariance, X, means, P, lw), dtype)


@pytest.mark.parametrize("covariance", COVARIANCES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed, N, K, D", [(4, 1, 3, 2), (5, 4097, 16, 8), (6, 9000, 3, 17), (7, 100, 1, 1),
                                           (8, 2000, 6, 0)])
def test_e_step_is_the_two_step_path_bit_for_bit(covariance, dtype, seed, N, K, D):
    """Same bits as the kernels it fuses, with rows past chunk and block edges, K = 1, D = 0, and
    well-separated components (responsibilities that underflow to exact zeros)."""
    X, means, P, lw = problem(seed, N, K, D, covariance, dtype, spread=30.0)
    got = fused("cpu", covariance)(X, means, P, lw)
    want = two_step("cpu", covariance, X, means, P, lw)
    assert got[0] == want[0]
    for g, w in zip(got[1:], want[1:]):
        assert_array_equal(g, w)


def test_e_step_extreme_values():
    """Log-weights of -inf (an impossible component) and data far from every component: the
    shifted log-sum-exp keeps the sums finite and equal to the oracle."""
    X, means, P, lw = problem(9, 300, 4, 3, "full", np.float64)
    lw[1] = -np.inf
    X[::7] *= 1e3
    got = fused("cpu", "full")(X, means, P, lw)
    assert_close_sums(got, oracle("full", X, means, P, lw), np.float64)
    assert got[1][1] == 0 and not np.any(got[2][1]) and not np.any(got[3][1])


def test_e_step_same_on_any_thread_count(tmp_path):
    script = """
import sys, numpy as np
import fastgen._core as core
rng = np.random.default_rng(3)
X = rng.normal(size=(50_000, 6))
means = rng.normal(size=(9, 6)) * 2
P = np.triu(rng.normal(size=(9, 6, 6)) * 0.2) + np.eye(6)
prec = rng.uniform(0.5, 2, size=(9, 6))
lw = np.log(np.full(9, 1 / 9))
a = core.mixture.e_step_full(X, means, P, lw)
b = core.mixture.e_step_diag(X.astype(np.float32), means.astype(np.float32), prec.astype(np.float32),
                             lw.astype(np.float32))
np.savez(sys.argv[1], *([np.float64(a[0])] + list(a[1:]) + [np.float64(b[0])] + list(b[1:])))
"""
    assert_same_on_any_thread_count(script, tmp_path)


@pytest.mark.parametrize("device", DEVICES)
def test_e_step_rejects_bad_input(device):
    X, means, P, lw = problem(10, 20, 3, 4, "full", np.float64)
    e_full, e_diag = fused(device, "full"), fused(device, "diag")
    with pytest.raises(ValueError, match="log_weights: entry 1 is NaN or \\+inf"):
        e_full(X, means, P, np.array([0.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="prec_chol: expected 3 or 1 factors, got 2"):
        e_full(X, means, P[:2], lw)
    with pytest.raises(ValueError, match="precisions"):
        e_diag(X, means, np.ones((3, 5)), lw)
    with pytest.raises(TypeError, match="means"):
        e_full(X, means.astype(np.float32), P, lw)
    bad = X.copy()
    bad[13, 2] = np.nan  # (validated away by the estimators; the kernel names the row)
    with pytest.raises(ValueError, match="comp_logprob: row 13 contains NaN or \\+inf"):
        e_full(bad, means, P, lw)
