"""Gaussian mixture kernels (mixture_responsibilities, kmeans_assign, kmeans_plusplus,
sample_gaussian_mixture) on both backends against the NumPy oracles of tests/reference/mixture.py,
CUDA against the CPU on the same inputs, contract properties, thread-count independence and
input checks.

Every test taking `device` runs on the CPU (fastgen._core) and, when Numba can launch kernels (the
simulator under NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (fastgen._cuda.mixture; marked `cuda`).
CUDA cases use tiny sizes: the simulator runs every thread in Python.

Tolerances: float64 rtol 1e-10 (probabilities add an absolute floor of 1e-13); float32 rtol 1e-5
with the oracle run in float64 on the float32 inputs. Labels and indices are compared exactly: the
random numbers are bit-identical on both backends and in the oracle (reference/rng.py).
"""
from __future__ import annotations

import importlib
import math
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from reference import mixture as ref
from reference import rng as ref_rng
from conftest import assert_same_on_any_thread_count
from devices import DEVICES, host, small

DTYPES = (np.float64, np.float32)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
PROB_ATOL = {np.float64: 1e-13, np.float32: 1e-6}


def kernels(device):
    """The kernel root for the device (its ``mixture`` and ``emissions`` families are used here)."""
    return importlib.import_module("fastgen._core" if device == "cpu" else "fastgen._cuda")


def cast(dtype, *arrays):
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def spd_lower(rng, D, size):
    """Lower Cholesky factors of random well-conditioned covariances, shape (size, D, D)."""
    A = rng.standard_normal((size, D, D))
    cov = A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D)
    return np.linalg.cholesky(cov)


# =================================================================================================
# mixture_responsibilities
# =================================================================================================

def responsibility_inputs(rng, N, K, dtype, *, dead_rows=0, zero_weights=0, shift=0.0, scale=5.0):
    lp = shift + scale * rng.standard_normal((N, K))
    lp[rng.random((N, K)) < 0.1] = -np.inf  # impossible components here and there
    for n in rng.choice(N, size=min(dead_rows, N), replace=False):
        lp[n] = -np.inf
    w = rng.dirichlet(np.ones(K))
    if zero_weights and K > 1:
        w[rng.choice(K, size=min(zero_weights, K - 1), replace=False)] = 0.0
        w /= w.sum()
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return cast(dtype, lp, lw)


def check_responsibilities(log_norm, resp, lp, lw, dtype):
    want_ln, want_resp = ref.mixture_responsibilities(lp, lw)
    rtol = RTOL[dtype]
    finite = np.isfinite(want_ln)
    assert log_norm.dtype == dtype and log_norm.shape == want_ln.shape
    assert_array_equal(np.isfinite(log_norm), finite)
    assert np.all(log_norm[~finite] == -np.inf)
    # Formed in float64 and rounded once: relative accuracy holds even for log_norm near 0.
    assert_allclose(log_norm[finite], want_ln[finite], rtol=rtol, atol=0)
    if resp is not None:
        assert resp.dtype == dtype and resp.shape == lp.shape
        assert not np.isnan(resp).any()
        assert_allclose(resp, want_resp, rtol=rtol, atol=PROB_ATOL[dtype])
        assert_allclose(resp[finite].sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=50 * np.finfo(dtype).eps)
        assert np.all(resp[~finite] == 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K", [(1, 1), (7, 1), (9, 2), (33, 5), (300, 17), (1000, 64)])
def test_responsibilities_vs_oracle(device, dtype, N, K, rng):
    if device == "cuda" and N * K > 600:
        pytest.skip("simulator: tiny sizes only")
    kern = kernels(device)
    for _ in range(2):
        lp, lw = responsibility_inputs(rng, N, K, dtype, dead_rows=N // 5, zero_weights=K // 3)
        log_norm, resp = (host(a) for a in kern.mixture.responsibilities(lp, lw, True))
        check_responsibilities(log_norm, resp, lp, lw, dtype)
        ln_only, none = kern.mixture.responsibilities(lp, lw, False)
        assert none is None
        assert_array_equal(host(ln_only), log_norm)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_responsibilities_extreme_values(device, dtype, rng):
    """Log-densities far from 0 (max shift keeps them exact), one dominant component, all -inf weights
    but one, and every weight -inf (all rows dead: -inf and zeros, never NaN)."""
    kern = kernels(device)
    big = 1e5 if dtype == np.float64 else 1e3
    for shift, scale in ((-big, 1.0), (big, 1.0), (0.0, 300.0)):
        lp, lw = responsibility_inputs(rng, 11, 4, dtype, shift=shift, scale=scale)
        ln, resp = (host(a) for a in kern.mixture.responsibilities(lp, lw, True))
        check_responsibilities(ln, resp, lp, lw, dtype)
    lp, lw = responsibility_inputs(rng, 6, 3, dtype)
    lw = np.full(3, -np.inf, dtype=dtype)
    ln, resp = (host(a) for a in kern.mixture.responsibilities(lp, lw, True))
    assert np.all(ln == -np.inf) and np.all(resp == 0)
    lw[1] = 0.0
    ln, resp = (host(a) for a in kern.mixture.responsibilities(lp, lw, True))
    finite = np.isfinite(lp[:, 1])
    assert_array_equal(ln[finite], lp[finite, 1])
    assert np.all(resp[finite, 1] == 1) and np.all(resp[:, [0, 2]] == 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_responsibilities_are_the_hmm_mixture_emission_kernel(device, dtype, rng):
    """One log-sum-exp for the mixtures and the HMM mixture emissions (csrc/emissions/logsumexp.hpp,
    _cuda/emissions/stats.shifted_sum): responsibilities equals mixture_logprob / mixture_posteriors
    with one state of K components (state posterior 1), bit for bit, dead rows and zero weights too."""
    kern = kernels(device)
    emissions = kern.emissions
    N, K = small(device, 300, 9), 5
    lp, lw = responsibility_inputs(rng, N, K, dtype, dead_rows=2, zero_weights=1)
    log_norm, resp = (host(a) for a in kern.mixture.responsibilities(lp, lw, True))
    lw1 = np.ascontiguousarray(lw[None])
    assert_array_equal(host(emissions.mixture_logprob(lp, lw1))[:, 0], log_norm)
    assert_array_equal(host(emissions.mixture_posteriors(lp, lw1, np.ones((N, 1), dtype=dtype))), resp)


def test_responsibilities_large_cpu(rng):
    """The G1 shape: one call over many row blocks."""
    from fastgen import _core
    lp, lw = responsibility_inputs(rng, 20_000, 16, np.float64, dead_rows=3)
    ln, resp = _core.mixture.responsibilities(lp, lw, True)
    check_responsibilities(ln, resp, lp, lw, np.float64)


@pytest.mark.parametrize("device", DEVICES)
def test_responsibilities_reject_bad_input(device):
    kern = kernels(device)
    lp = np.zeros((5, 3))
    lw = np.log(np.full(3, 1 / 3))
    f = kern.mixture.responsibilities
    with pytest.raises(TypeError, match="comp_logprob"):
        f(lp.astype(np.int64), lw, True)
    with pytest.raises(TypeError, match="log_weights"):
        f(lp, lw.astype(np.float32), True)
    with pytest.raises(ValueError, match="log_weights"):
        f(lp, np.zeros(4), True)
    with pytest.raises(ValueError, match="comp_logprob"):
        f(np.zeros(5), lw, True)
    with pytest.raises(ValueError, match="comp_logprob"):
        f(np.zeros((5, 0)), np.zeros(0), True)
    for v in (np.nan, np.inf):
        bad = lw.copy()
        bad[2] = v
        with pytest.raises(ValueError, match="log_weights: entry 2"):
            f(lp, bad, True)
        bad = lp.copy()
        bad[3, 1] = v
        with pytest.raises(ValueError, match="comp_logprob: row 3"):
            f(bad, lw, True)
    dead = np.full((4, 3), -np.inf)
    dead[2, 0] = np.nan  # a NaN in an otherwise impossible row
    with pytest.raises(ValueError, match="comp_logprob: row 2"):
        f(dead, lw, False)


# =================================================================================================
# kmeans_assign
# =================================================================================================

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K,D", [(1, 1, 1), (5, 1, 3), (13, 4, 1), (40, 6, 3), (1000, 16, 8), (777, 50, 5)])
def test_kmeans_assign_vs_oracle(device, dtype, N, K, D, rng):
    if device == "cuda" and N * K > 300:
        pytest.skip("simulator: tiny sizes only")
    kern = kernels(device)
    for _ in range(2):
        X, C = cast(dtype, rng.normal(3.0, 2.0, (N, D)), rng.normal(3.0, 2.0, (K, D)))
        labels, d2 = (host(a) for a in kern.mixture.kmeans_assign(X, C))
        want_labels, want_d2 = ref.kmeans_assign(X, C)
        assert labels.dtype == np.int64 and d2.dtype == dtype
        assert_array_equal(labels, want_labels)
        assert_allclose(d2, want_d2, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_kmeans_assign_ties_and_exact_zeros(device, dtype, rng):
    """Duplicate centres: the lower index wins. Points equal to a centre far from the origin: exactly 0
    (the |x|^2 - 2 x.c + |c|^2 expansion would leave ~1e-3 here)."""
    kern = kernels(device)
    N, D = small(device, 300, 12), 4
    C = rng.normal(1e6 if dtype == np.float64 else 1e3, 1.0, (5, D))
    C[3] = C[1]  # duplicate centre
    X = C[rng.integers(0, 5, N)] + (rng.random((N, 1)) < 0.5) * rng.normal(0, 0.1, (N, D))
    X, C = cast(dtype, X, C)
    labels, d2 = (host(a) for a in kern.mixture.kmeans_assign(X, C))
    want_labels, want_d2 = ref.kmeans_assign(X, C)
    assert_array_equal(labels, want_labels)
    assert not np.any(labels == 3)
    on_centre = (X[:, None, :] == C[None]).all(axis=2).any(axis=1)
    assert on_centre.any() and np.all(d2[on_centre] == 0)
    assert_allclose(d2, want_d2, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_kmeans_assign_reject_bad_input(device):
    kern = kernels(device)
    X, C = np.zeros((6, 2)), np.ones((3, 2))
    f = kern.mixture.kmeans_assign
    with pytest.raises(TypeError, match="X"):
        f(X.astype(np.int32), C)
    with pytest.raises(TypeError, match="centers"):
        f(X, C.astype(np.float32))
    with pytest.raises(ValueError, match="centers"):
        f(X, np.ones((3, 3)))
    with pytest.raises(ValueError, match="centers"):
        f(X, np.ones((0, 2)))
    with pytest.raises(ValueError, match="X"):
        f(np.zeros(6), C)
    bad = C.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="centers: contains NaN"):
        f(X, bad)
    for v in (np.nan, np.inf):
        bad = X.copy()
        bad[4, 1] = v
        with pytest.raises(ValueError, match="X: row 4"):
            f(bad, C)


# =================================================================================================
# kmeans_plusplus
# =================================================================================================

def n_trials(K):
    return 2 + int(math.log(K))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K,D,L", [(1, 1, 1, 1), (7, 7, 2, 2), (30, 4, 3, 1), (50, 5, 1, 3),
                                     (2500, 16, 8, None), (4097, 3, 2, None), (600, 40, 5, None)])
def test_kmeans_plusplus_vs_oracle(device, dtype, N, K, D, L, rng):
    if device == "cuda" and N * K > 400:
        pytest.skip("simulator: tiny sizes only (test_kmeans_plusplus_cuda_several_chunks covers chunks)")
    kern = kernels(device)
    L = n_trials(K) if L is None else L
    for _ in range(2):
        X = cast(dtype, rng.normal(0.0, 1.0, (N, D)) + 4 * rng.integers(0, 4, (N, 1)))[0]
        seed, stream = int(rng.integers(2**63)), int(rng.integers(2**63))
        centers, idx = (host(a) for a in kern.mixture.kmeans_plusplus(X, K, L, seed, stream))
        want_centers, want_idx = ref.kmeans_plusplus(X, K, L, seed, stream, follow=idx,
                                                     tie_rtol=1e-12 if dtype == np.float64 else 1e-5)
        assert idx.dtype == np.int64 and centers.dtype == dtype and centers.shape == (K, D)
        assert_array_equal(idx, want_idx)
        assert_array_equal(centers, X[idx])
        assert len(set(idx.tolist())) == K  # distinct points: a zero-d2 point is never drawn


@pytest.mark.parametrize("device", DEVICES)
def test_kmeans_plusplus_duplicates_and_zero_total(device, rng):
    """Three distinct points repeated: K = 3 picks each once; K = 5 exhausts d2 (total 0) and falls
    back to uniform indices, as the oracle does."""
    kern = kernels(device)
    base = np.array([[0.0, 0.0], [1e8, 1.0], [1e8, 2.0]])
    X = np.ascontiguousarray(base[rng.integers(0, 3, small(device, 200, 15))])
    X[:3] = base
    for K in (3, 5):
        seed = int(rng.integers(2**63))
        centers, idx = (host(a) for a in kern.mixture.kmeans_plusplus(X, K, 2, seed, 7))
        assert_array_equal(idx, ref.kmeans_plusplus(X, K, 2, seed, 7)[1])
        if K == 3:
            assert len({tuple(c) for c in centers}) == 3


@pytest.mark.parametrize("device", DEVICES)
def test_kmeans_plusplus_uses_the_stream(device, rng):
    """Same (seed, stream): same result; the first centre is u[0] of the stream."""
    kern = kernels(device)
    X = rng.normal(size=(small(device, 500, 20), 2))
    seed = int(rng.integers(2**63))
    a = host(kern.mixture.kmeans_plusplus(X, 4, 3, seed, 11)[1])
    assert_array_equal(a, host(kern.mixture.kmeans_plusplus(X, 4, 3, seed, 11)[1]))
    assert a[0] == min(int(ref_rng.uniform(seed, 11, 1)[0] * len(X)), len(X) - 1)
    others = [host(kern.mixture.kmeans_plusplus(X, 4, 3, seed, s)[1]) for s in range(4)]
    assert any(not np.array_equal(a, o) for o in others)


@pytest.mark.parametrize("device", DEVICES)
def test_kmeans_plusplus_reject_bad_input(device):
    kern = kernels(device)
    X = np.arange(12.0).reshape(6, 2)
    f = kern.mixture.kmeans_plusplus
    with pytest.raises(ValueError, match="n_clusters"):
        f(X, 7, 2, 0, 0)
    with pytest.raises(ValueError, match="n_clusters"):
        f(X, 0, 2, 0, 0)
    with pytest.raises(ValueError, match="n_local_trials"):
        f(X, 2, 0, 0, 0)
    with pytest.raises(TypeError, match="X"):
        f(X.astype(np.int64), 2, 2, 0, 0)
    with pytest.raises(ValueError, match="X"):
        f(X.ravel(), 2, 2, 0, 0)
    with pytest.raises(ValueError, match="n_clusters"):
        f(np.zeros((0, 2)), 1, 2, 0, 0)
    for v in (np.nan, -np.inf):
        bad = X.copy()
        bad[2, 1] = v
        with pytest.raises(ValueError, match="X: contains NaN or infinity"):
            f(bad, 2, 2, 0, 0)
    with pytest.raises((TypeError, ValueError)):
        f(X, 2, 2, -1, 0)  # seeds are uint64


# =================================================================================================
# sample_gaussian_mixture
# =================================================================================================

def mixture_params(rng, K, D, dtype, *, tied=False, zero_weights=0):
    w = rng.dirichlet(np.ones(K))
    if zero_weights and K > 1:
        w[rng.choice(K, size=min(zero_weights, K - 1), replace=False)] = 0.0
        w /= w.sum()
    means = rng.normal(0.0, 5.0, (K, D))
    L = spd_lower(rng, D, 1 if tied else K)
    w, means, L = cast(dtype, w, means, L)
    w = np.ascontiguousarray(w / w.sum(dtype=np.float64), dtype=dtype)
    return w, means, L


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("K,D,n", [(1, 1, 1), (1, 3, 9), (3, 1, 8), (4, 3, 25), (5, 2, 0), (6, 5, 13)])
def test_sample_vs_oracle(device, dtype, tied, K, D, n, rng):
    kern = kernels(device)
    w, means, L = mixture_params(rng, K, D, dtype, tied=tied, zero_weights=K // 3)
    seed, stream = int(rng.integers(2**64, dtype=np.uint64)), int(rng.integers(2**64, dtype=np.uint64))
    X, labels = (host(a) for a in kern.mixture.sample_gaussian_mixture(w, means, L, n, seed, stream))
    want_X, want_labels = ref.sample_gaussian_mixture(w, means, L, n, seed, stream)
    assert X.dtype == dtype and X.shape == (n, D) and labels.dtype == np.int64
    assert_array_equal(labels, want_labels)
    assert np.all(w[labels] > 0)
    scale = np.abs(means).max() + 10 * np.abs(L).max() * D
    assert_allclose(X, want_X, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


@pytest.mark.parametrize("device", DEVICES)
def test_sample_reads_only_the_lower_triangle(device, rng):
    kern = kernels(device)
    w, means, L = mixture_params(rng, 3, 4, np.float64)
    junk = L.copy()
    iu = np.triu_indices(4, 1)
    junk[:, iu[0], iu[1]] = np.nan
    a = host(kern.mixture.sample_gaussian_mixture(w, means, L, 9, 5, 2)[0])
    b = host(kern.mixture.sample_gaussian_mixture(w, means, junk, 9, 5, 2)[0])
    assert_array_equal(a, b)


def test_sample_stream_wraps_and_odd_D_shares_pairs(rng):
    """stream 2^64 - 1 takes its normals from stream 0; with D odd, consecutive samples split a
    Box-Muller pair (sample i uses z[i D : (i + 1) D] of one normal sequence)."""
    from fastgen import _core
    w, means, L = mixture_params(rng, 2, 3, np.float64)
    L[:] = np.eye(3)
    means[:] = 0.0
    X, _ = _core.mixture.sample_gaussian_mixture(w, means, L, 5, 42, 2**64 - 1)
    assert_array_equal(X.ravel(), _core.rng.normal(42, 0, 15))


def test_sample_moments_cpu():
    """200k draws: per-component frequencies, means and covariances within ~5 standard errors."""
    rng = np.random.default_rng(20240619)  # fixed: the assertions below are statistical
    from fastgen import _core
    K, D, n = 3, 2, 200_000
    w, means, L = mixture_params(rng, K, D, np.float64)
    X, labels = _core.mixture.sample_gaussian_mixture(w, means, L, n, 3, 1)
    freq = np.bincount(labels, minlength=K) / n
    assert np.all(np.abs(freq - w) <= 5 * np.sqrt(w * (1 - w) / n))
    for k in range(K):
        Xk = X[labels == k]
        cov = L[k] @ L[k].T
        se = np.sqrt(np.diag(cov) / len(Xk))
        assert np.all(np.abs(Xk.mean(axis=0) - means[k]) < 5 * se)
        assert_allclose(np.cov(Xk.T), cov, rtol=0, atol=5 * np.sqrt(2.0 / len(Xk)) * np.abs(cov).max())


@pytest.mark.parametrize("device", DEVICES)
def test_sample_reject_bad_input(device):
    kern = kernels(device)
    w, means, L = np.full(3, 1 / 3), np.zeros((3, 2)), np.tile(np.eye(2), (3, 1, 1))
    f = kern.mixture.sample_gaussian_mixture
    with pytest.raises(ValueError, match="weights: must sum to 1"):
        f(np.array([0.5, 0.2, 0.2]), means, L, 4, 0, 0)
    with pytest.raises(ValueError, match="weights: entry 1"):
        f(np.array([1.2, -0.2, 0.0]), means, L, 4, 0, 0)
    with pytest.raises(ValueError, match="weights: entry 0"):
        f(np.array([np.nan, 0.5, 0.5]), means, L, 4, 0, 0)
    with pytest.raises(TypeError, match="weights"):
        f(np.ones(3, dtype=np.int64), means, L, 4, 0, 0)
    with pytest.raises(TypeError, match="means"):
        f(w, means.astype(np.float32), L, 4, 0, 0)
    with pytest.raises(ValueError, match="means"):
        f(w, np.zeros((2, 2)), L, 4, 0, 0)
    with pytest.raises(ValueError, match="cov_chol"):
        f(w, means, L[:2], 4, 0, 0)
    with pytest.raises(ValueError, match="cov_chol"):
        f(w, means, np.zeros((3, 2, 3)), 4, 0, 0)
    with pytest.raises(ValueError, match="n_samples"):
        f(w, means, L, -1, 0, 0)
    bad = means.copy()
    bad[0, 1] = np.inf
    with pytest.raises(ValueError, match="means: contains NaN"):
        f(w, bad, L, 4, 0, 0)
    bad = L.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="cov_chol: contains NaN"):
        f(w, means, bad, 4, 0, 0)


# =================================================================================================
# The shared emission and statistics kernels at the mixture's shapes (CPU). They vectorise over rows
# in blocks (32 doubles / 64 floats) and, for the moments, over 8-feature tiles: D around and past
# 8, 16 and row counts around the block sizes exercise every edge.
# =================================================================================================

EDGE_SHAPES = [(1, 1, 8), (31, 3, 8), (33, 16, 9), (64, 2, 16), (65, 5, 17), (257, 4, 7), (1000, 16, 8)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K,D", EDGE_SHAPES)
def test_gaussian_logprob_at_block_edges(dtype, N, K, D, rng):
    from fastgen import _core
    X, means = cast(dtype, rng.normal(1.0, 3.0, (N, D)), rng.normal(1.0, 3.0, (K, D)))
    for tied in (False, True):
        L = spd_lower(rng, D, 1 if tied else K)
        P = np.ascontiguousarray(np.swapaxes(np.linalg.inv(L), 1, 2), dtype=dtype)  # upper: P P^T = cov^-1
        got = _core.emissions.gaussian_logprob_full(X, means, P)
        want = ref.gaussian_logprob_full(X, means, P)
        assert got.dtype == dtype
        # Sums of D^2 / 2 products of magnitude up to |y|^2: relative to the largest term.
        assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * D * np.abs(want).max())
    prec = rng.uniform(0.2, 3.0, (K, D)).astype(dtype)
    want = ref.gaussian_logprob_diag(X, means, prec)
    assert_allclose(_core.emissions.gaussian_logprob_diag(X, means, prec), want, rtol=RTOL[dtype],
                    atol=RTOL[dtype] * D * np.abs(want).max())


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K,D", EDGE_SHAPES + [(5000, 3, 24)])
def test_weighted_moments_at_tile_edges(order, dtype, N, K, D, rng):
    from fastgen import _core
    X = rng.normal(2.0, 3.0, (N, D))
    W = rng.random((N, K))
    W[rng.random((N, K)) < 0.3] = 0.0
    X[rng.integers(N), :] = np.inf  # a row whose weights are all 0 contributes nothing (not NaN)
    W[np.isinf(X).any(axis=1)] = 0.0
    X, W = cast(dtype, X, W)
    ws, wx, wxx = _core.emissions.weighted_moments(X, W, order)
    fin = np.isfinite(X).all(axis=1)
    rws, rwx, rwxx = ref.weighted_moments(X[fin], W[fin], order)
    rtol = 1e-12 if dtype == np.float64 else 1e-6  # float64 sums of float32 products, rounded once
    absX = np.abs(X[fin].astype(np.float64))
    assert_allclose(ws, rws, rtol=rtol, atol=0)
    assert_allclose(wx, rwx, rtol=rtol, atol=rtol * np.max(W[fin].T @ absX, initial=0))
    if order == 0:
        assert wxx is None
    else:
        assert_allclose(wxx, rwxx, rtol=rtol, atol=rtol * np.max(np.abs(rwxx), initial=0))
    if order == 2:
        assert_array_equal(wxx, np.swapaxes(wxx, 1, 2))  # mirrored from one triangle: exactly symmetric


# =================================================================================================
# CUDA against the CPU on the same inputs (same uniforms, same choices)
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("device", [p for p in DEVICES if p.values[0] == "cuda"])
def test_cuda_matches_cpu(device, dtype, rng):
    core, cu = kernels("cpu"), kernels("cuda")
    lp, lw = responsibility_inputs(rng, 17, 4, dtype, dead_rows=2)
    for a, b in zip(core.mixture.responsibilities(lp, lw, True), cu.mixture.responsibilities(lp, lw, True)):
        assert_allclose(host(b), a, rtol=RTOL[dtype], atol=PROB_ATOL[dtype])
    X, C = cast(dtype, rng.normal(size=(23, 3)), rng.normal(size=(4, 3)))
    la, da = core.mixture.kmeans_assign(X, C)
    lb, db = cu.mixture.kmeans_assign(X, C)
    assert_array_equal(host(lb), la)
    assert_allclose(host(db), da, rtol=RTOL[dtype])
    ca, ia = core.mixture.kmeans_plusplus(X, 5, 3, 123, 9)
    cb, ib = cu.mixture.kmeans_plusplus(X, 5, 3, 123, 9)
    assert_array_equal(host(ib), ia)
    assert_array_equal(host(cb), ca)
    w, means, L = mixture_params(rng, 3, 3, dtype)
    xa, la = core.mixture.sample_gaussian_mixture(w, means, L, 21, 77, 3)
    xb, lb = cu.mixture.sample_gaussian_mixture(w, means, L, 21, 77, 3)
    assert_array_equal(host(lb), la)
    assert_allclose(host(xb), xa, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(xa).max())


@pytest.mark.parametrize("device", [p for p in DEVICES if p.values[0] == "cuda"])
def test_kmeans_plusplus_cuda_several_chunks(device, rng):
    """N > 1024: the chunked cumulative sums span two chunks on both backends."""
    core, cu = kernels("cpu"), kernels("cuda")
    X = rng.normal(size=(1100, 2))
    X[1030:] += 6.0  # mass in the second chunk
    ia = core.mixture.kmeans_plusplus(X, 3, 2, 5, 6)[1]
    assert_array_equal(host(cu.mixture.kmeans_plusplus(X, 3, 2, 5, 6)[1]), ia)
    assert_array_equal(ia, ref.kmeans_plusplus(X, 3, 2, 5, 6)[1])


@pytest.mark.parametrize("device", [p for p in DEVICES if p.values[0] == "cuda"])
def test_cuda_accepts_device_arrays(device, rng):
    from numba import cuda
    cu = kernels("cuda")
    X = rng.normal(size=(12, 2))
    C = X[:3].copy()
    la, _ = cu.mixture.kmeans_assign(X, C)
    lb, _ = cu.mixture.kmeans_assign(cuda.to_device(X), cuda.to_device(C))
    assert_array_equal(host(lb), host(la))
    bad = X.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="X: contains NaN"):
        cu.mixture.kmeans_plusplus(cuda.to_device(bad), 2, 2, 0, 0)
    lp = np.zeros((4, 2))
    lp[1, 1] = np.nan
    with pytest.raises(ValueError, match="comp_logprob: row 1"):
        cu.mixture.responsibilities(cuda.to_device(lp), cuda.to_device(np.log([0.5, 0.5])), True)


# =================================================================================================
# Thread-count independence (CPU)
# =================================================================================================

def test_results_independent_of_thread_count_subprocess(tmp_path):
    """OMP_NUM_THREADS=1 vs 2 in fresh interpreters: bit-identical outputs of every kernel."""
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(20240602)
        N, K, D = 9_000, 16, 8
        X = rng.normal(size=(N, D)) + 3 * rng.integers(0, 5, (N, 1))
        lp = rng.normal(size=(N, K)) * 20
        lw = np.log(rng.dirichlet(np.ones(K)))
        out = list(_core.mixture.responsibilities(lp, lw, True))
        out += list(_core.mixture.kmeans_plusplus(X, K, 4, 99, 3))
        out += list(_core.mixture.kmeans_assign(X, X[:K].copy()))
        L = np.tile(np.linalg.cholesky(np.eye(D) + 0.5), (K, 1, 1))
        out += list(_core.mixture.sample_gaussian_mixture(np.exp(lw) / np.exp(lw).sum(), X[:K].copy(), L, 5001, 7, 1))
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=120)
