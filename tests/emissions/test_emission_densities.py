"""The emission-density kernels (``emissions``: categorical, Gaussian diag/full and Poisson
log-densities, and the mixture log-sum-exp and responsibilities of the HMM mixture emissions) on
both backends against the plain NumPy oracles in tests/reference, plus their contract properties
and input checks. The sufficient-statistics kernels of the same module are in
test_emission_stats.py.

A test taking `device` runs on the CPU (fastgen._core.emissions) and, when Numba can launch kernels
(the simulator under NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (fastgen._cuda.emissions;
marked `cuda`). CPU tests take fresh random inputs (the `rng` fixture) over the full grid of
sizes; the CUDA tests keep tiny inputs from fixed seeds.

Tolerances:
- float64: rtol 1e-10. Probabilities (mixture responsibilities) additionally get an absolute floor
  of 1e-13: an entry of 1e-30 is not meaningful to 10 digits after the normalisation that produced it.
- float32: the oracle runs in float64 on the float32 inputs, so the difference is the kernel's own
  float32 rounding: ~1e-7 per operation; emission sums of D terms stay within rtol 1e-5 (with an
  absolute part for cancellation near the mean).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from conftest import precision_cholesky_upper, random_spd, random_stochastic
from devices import CUDA_MARKS, host, kernels
from fastgen import _core
from reference import hmm as ref

KS = [1, 2, 5, 17, 64]
DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return ([pytest.param("cpu", *v) for v in cpu]
            + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda])


def _rtol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-5


def _prob_atol(dtype):
    return 1e-13 if dtype == np.float64 else 1e-5


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


f64 = _f64


def cast(dtype, *arrays):
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


# =================================================================================================
# Categorical
# =================================================================================================

@pytest.mark.parametrize("device, K, dtype", cases([(K, dtype) for dtype in DTYPES for K in KS],
                                                   [(3 + seed, dtype) for dtype in DTYPES for seed in (0, 1)]))
def test_categorical_logprob_matches_oracle(rng, device, K, dtype):
    """CPU: fresh sizes, zero probabilities (-inf) included. CUDA: 13 symbols from fixed seeds."""
    if device == "cuda":
        cu = importlib.import_module("fastgen._cuda")
        seed = K - 3
        rng = np.random.default_rng(seed)
        N, K, M = 13, 3 + seed, 5
        X = rng.integers(0, M, N).astype(np.int64)
        le = np.log(rng.dirichlet(np.ones(M), size=K)).astype(dtype)
        got = host(cu.emissions.categorical_logprob(X, le))
        assert got.dtype == dtype and got.shape == (N, K)
        assert_array_equal(got, ref.categorical_logprob(X, le).astype(dtype))
        return
    M = int(rng.integers(1, 12))
    N = int(rng.integers(1, 500))
    emis = random_stochastic(rng, K, M, zero_frac=0.3)
    with np.errstate(divide="ignore"):
        le = np.log(emis).astype(dtype)
    X = rng.integers(0, M, size=N).astype(np.int64)
    got = _core.emissions.categorical_logprob(X, le)
    assert got.dtype == dtype and got.shape == (N, K)
    # A gather: bit-identical, -inf (zero emission probability) included.
    assert_array_equal(got, ref.categorical_logprob(X, le.astype(np.float64)).astype(dtype))


# =================================================================================================
# Gaussian
# =================================================================================================

@pytest.mark.parametrize("device, K, dtype, D", cases(
    [(K, dtype, D) for D in (1, 3, 8) for dtype in DTYPES for K in KS],
    [(2 + seed, dtype, 3) for dtype in DTYPES for seed in (0, 1)]))
def test_gaussian_logprob_diag_matches_oracle(rng, device, K, dtype, D):
    """CPU: fresh sizes. CUDA: 11 rows from fixed seeds (tolerance RTOL, also absolute)."""
    if device == "cuda":
        cu = importlib.import_module("fastgen._cuda")
        seed = K - 2
        rng = np.random.default_rng(seed)
        N, K, D = 11, 2 + seed, 3
        X = rng.normal(size=(N, D)) * 3
        means = rng.normal(size=(K, D))
        var = rng.uniform(0.3, 3.0, (K, D))
        X, means, prec = cast(dtype, X, means, 1.0 / var)
        got = host(cu.emissions.gaussian_logprob_diag(X, means, prec))
        assert got.dtype == dtype and got.shape == (N, K)
        want = ref.gaussian_logprob(*f64(X, means, 1.0 / prec.astype(np.float64)), "diag")
        assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
        return
    N = int(rng.integers(1, 700))
    means = rng.normal(scale=3, size=(K, D))
    var = rng.uniform(0.2, 4.0, size=(K, D))
    X = rng.normal(scale=4, size=(N, D))
    X, means, prec = (np.ascontiguousarray(a, dtype=dtype) for a in (X, means, 1.0 / var))
    got = _core.emissions.gaussian_logprob_diag(X, means, prec)
    assert got.dtype == dtype and got.shape == (N, K)
    want = ref.gaussian_logprob(*_f64(X, means, 1.0 / prec.astype(np.float64)), "diag")
    # float32: a sum of D rounded terms; the absolute part covers cancellation between the
    # normaliser and the quadratic form near the mean (scale: the largest term, ~|want|max).
    atol = 0 if dtype == np.float64 else 1e-6 * D * np.abs(want).max()
    assert_allclose(got, want, rtol=_rtol(dtype), atol=atol)


def test_gaussian_logprob_diag_far_from_origin_no_cancellation(rng, device):
    """Data and means near 1e6: the direct (x - mu)^2 form keeps all digits; the expanded GEMM form
    x^2 - 2 x mu + mu^2 would lose ~12 of them. CUDA: two fixed rows, to 1e-13."""
    if device == "cuda":
        cu = importlib.import_module("fastgen._cuda")
        X = np.array([[1e6 + 0.5], [1e6 - 2.0]])
        means = np.array([[1e6], [1e6 + 1.0]])
        prec = np.array([[4.0], [0.25]])
        got = host(cu.emissions.gaussian_logprob_diag(X, means, prec))
        assert_allclose(got, ref.gaussian_logprob(X, means, 1.0 / prec, "diag"), rtol=1e-13, atol=0)
        return
    K, D, N = 5, 4, 300
    means = 1e6 + rng.normal(size=(K, D))
    X = 1e6 + rng.normal(size=(N, D))
    var = rng.uniform(0.5, 2, size=(K, D))
    got = _core.emissions.gaussian_logprob_diag(X, means, 1.0 / var)
    want = -0.5 * (D * np.log(2 * np.pi) + np.log(var).sum(1)
                   + (((X[:, None, :] - means[None]) ** 2) / var).sum(-1))
    assert_allclose(got, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("device, K, dtype, tied", cases(
    [(K, dtype, tied) for tied in (False, True) for dtype in DTYPES for K in KS],
    [(3, dtype, tied) for tied in (False, True) for dtype in DTYPES]))
def test_gaussian_logprob_full_matches_oracle(rng, device, K, dtype, tied):
    """The upper triangle alone is read. CPU: fresh sizes, NaN below the diagonal. CUDA: 9 fixed
    rows, random garbage below the diagonal ("tied": C == 1)."""
    if device == "cuda":
        cu = importlib.import_module("fastgen._cuda")
        covariance_type = "tied" if tied else "full"
        rng = np.random.default_rng(7)
        N, K, D = 9, 3, 3
        X = rng.normal(size=(N, D)) * 2
        means = rng.normal(size=(K, D))
        cov = random_spd(rng, D, size=K) if covariance_type == "full" else random_spd(rng, D)
        P = precision_cholesky_upper(cov if covariance_type == "full" else cov[None])
        P = P + np.tril(rng.normal(size=(D, D)), -1)  # garbage below the diagonal: must not be read
        X, means, P = cast(dtype, X, means, P)
        got = host(cu.emissions.gaussian_logprob_full(X, means, P))
        assert got.dtype == dtype and got.shape == (N, K)
        Pu = np.triu(P.astype(np.float64))
        cov_used = np.linalg.inv(Pu @ np.swapaxes(Pu, -1, -2))
        want = ref.gaussian_logprob(*f64(X, means), cov_used if covariance_type == "full" else cov_used[0],
                                    covariance_type)
        assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
        return
    D = int(rng.integers(1, 6))
    N = int(rng.integers(1, 400))
    means = rng.normal(scale=3, size=(K, D))
    cov = random_spd(rng, D) if tied else random_spd(rng, D, size=K)
    P = precision_cholesky_upper(cov[None] if tied else cov)
    X = rng.normal(scale=3, size=(N, D))
    X, means, P = (np.ascontiguousarray(a, dtype=dtype) for a in (X, means, P))
    got = _core.emissions.gaussian_logprob_full(X, means, P)
    assert got.dtype == dtype and got.shape == (N, K)
    # The oracle gets the covariance that the (possibly float32-rounded) factor P represents.
    P64 = P.astype(np.float64)
    cov_used = np.linalg.inv(P64 @ np.swapaxes(P64, -1, -2))
    want = ref.gaussian_logprob(*_f64(X, means), cov_used[0] if tied else cov_used, "tied" if tied else "full")
    atol = 0 if dtype == np.float64 else 2e-6 * D * np.abs(want).max()
    assert_allclose(got, want, rtol=_rtol(dtype) * (10 if dtype == np.float64 else 1), atol=atol)
    # Contract: only the upper triangle is read -> NaN below the diagonal changes nothing.
    Pn = P.copy()
    il = np.tril_indices(D, -1)
    Pn[:, il[0], il[1]] = np.nan
    assert_array_equal(_core.emissions.gaussian_logprob_full(X, means, Pn), got)


# =================================================================================================
# Poisson
# =================================================================================================

@pytest.mark.parametrize("device, K, dtype", cases([(K, dtype) for dtype in DTYPES for K in KS],
                                                   [(3, dtype) for dtype in DTYPES]))
def test_poisson_logprob_matches_oracle(rng, device, K, dtype):
    """CPU: fresh sizes, 20% zero counts. CUDA: 10 fixed rows, one all zero."""
    if device == "cuda":
        cu = importlib.import_module("fastgen._cuda")
        rng = np.random.default_rng(3)
        N, K, D = 10, 3, 2
        X = rng.poisson(4.0, (N, D)).astype(dtype)
        X[0] = 0
        lam = rng.uniform(0.2, 9.0, (K, D)).astype(dtype)
        got = host(cu.emissions.poisson_logprob(X, lam))
        assert got.dtype == dtype and got.shape == (N, K)
        assert_allclose(got, ref.poisson_logprob(*f64(X, lam)), rtol=RTOL[dtype], atol=RTOL[dtype])
        return
    D = int(rng.integers(1, 5))
    N = int(rng.integers(1, 500))
    lam = rng.gamma(2.0, 3.0, size=(K, D)) + 1e-3
    X = rng.poisson(rng.uniform(0, 10, size=D), size=(N, D))
    X[rng.random((N, D)) < 0.2] = 0  # zero counts: 0 * log(lam) must be 0
    X, lam = np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(lam, dtype=dtype)
    got = _core.emissions.poisson_logprob(X, lam)
    assert got.dtype == dtype and got.shape == (N, K)
    want = ref.poisson_logprob(*_f64(X, lam))
    atol = 0 if dtype == np.float64 else 1e-6 * D * np.abs(want).max()
    assert_allclose(got, want, rtol=_rtol(dtype), atol=atol)


def test_poisson_logprob_counts_past_the_log_factorial_table():
    """The CPU kernels read log(x!) of whole counts below 1024 from a table of lgamma's own values
    and call lgamma for the others (larger or fractional counts): the oracle's values on either
    side of the edge, float64 to 1e-12 relative."""
    X = np.array([[0.0, 1.0, 2.0], [1023.0, 1024.0, 1025.0], [5000.0, 2.5, 1e6]])
    lam = np.array([[1.0, 2.0, 3.0], [900.0, 1100.0, 4e5]])
    got = _core.emissions.poisson_logprob(X, lam)
    assert_allclose(got, ref.poisson_logprob(X, lam), rtol=1e-12, atol=0)


def test_poisson_logprob_zero_rate(device):
    """0 log 0 = 0: under a rate of 0 a zero count is certain (log-probability 0) and any positive
    count impossible (-inf), never NaN; the other entries are the ordinary log-densities."""
    emissions = kernels(device, "emissions")
    lam = np.array([[0.0], [2.0]])
    X = np.array([[0.0], [3.0]])
    got = host(emissions.poisson_logprob(X, lam))
    assert got[0, 0] == 0.0
    assert got[1, 0] == -np.inf
    assert_allclose(got[:, 1], [-2.0, 3 * np.log(2) - 2 - np.log(6)], rtol=1e-12, atol=0)
    assert not np.isnan(got).any()
    X = np.array([[0.0, 2.0], [1.0, 0.0]])
    lam = np.array([[1.5, 0.0], [0.0, 2.0]])
    got = host(emissions.poisson_logprob(X, lam))
    if device == "cuda":
        assert_array_equal(got, ref.poisson_logprob(X, lam))
    else:
        assert_allclose(got, ref.poisson_logprob(X, lam), rtol=1e-12, atol=0)
    assert got[0, 0] == -np.inf and got[1, 1] == -np.inf and np.isfinite(got[[0, 1], [1, 0]]).all()


# =================================================================================================
# Mixtures (the HMM mixture emissions: one log-sum-exp over each state's components)
# =================================================================================================

def _mixture_inputs(rng, K, M, N, dtype):
    comp = rng.normal(scale=5, size=(N, K * M)) - 3
    w = random_stochastic(rng, K, M, zero_frac=0.3)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return np.ascontiguousarray(comp, dtype=dtype), np.ascontiguousarray(lw, dtype=dtype)


@pytest.mark.parametrize("M", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_mixture_logprob_matches_numpy(rng, K, dtype, M):
    N = int(rng.integers(1, 300))
    comp, lw = _mixture_inputs(rng, K, M, N, dtype)
    comp[0, :M] = -np.inf  # a group where every component is impossible -> -inf, not NaN
    got = _core.emissions.mixture_logprob(comp, lw)
    c64, lw64 = _f64(comp, lw)
    want = logsumexp(c64.reshape(N, K, M) + lw64[None], axis=2)
    assert got.dtype == dtype and got.shape == (N, K)
    assert got[0, 0] == -np.inf
    # atol: a logsumexp that lands near 0 (max + log(sum) cancelling) has absolute, not relative,
    # accuracy ~eps * |max| (|max| <~ 30 here).
    assert_allclose(got, want, rtol=_rtol(dtype), atol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("M", [1, 2, 5])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", KS)
def test_mixture_posteriors_match_numpy(rng, K, dtype, M):
    N = int(rng.integers(1, 300))
    comp, lw = _mixture_inputs(rng, K, M, N, dtype)
    comp[0, :M] = -np.inf
    sp = np.ascontiguousarray(random_stochastic(rng, N, K), dtype=dtype)
    got = _core.emissions.mixture_posteriors(comp, lw, sp)
    c64, lw64, sp64 = _f64(comp, lw, sp)
    j = c64.reshape(N, K, M) + lw64[None]
    with np.errstate(invalid="ignore"):
        soft = np.exp(j - logsumexp(j, axis=2, keepdims=True))
    soft = np.nan_to_num(soft, nan=0.0)
    want = (sp64[:, :, None] * soft).reshape(N, K * M)
    assert got.dtype == dtype and got.shape == (N, K * M)
    assert_array_equal(got[0, :M], 0)
    assert not np.isnan(got).any()
    assert_allclose(got, want, rtol=_rtol(dtype), atol=_prob_atol(dtype))
    # Responsibilities of a state's components add up to the state's posterior (where possible).
    sums = got.reshape(N, K, M).sum(axis=2, dtype=np.float64)
    assert_allclose(sums[1:], sp64[1:], rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-7)


# =================================================================================================
# Bad input: the bindings check everything and never copy or convert silently
# =================================================================================================

def _emission_bad_calls():
    """(devices, exception, message pattern, function, args). The CPU's cases with its exact
    messages run on CUDA too where CUDA words them the same; CUDA words its shape messages "got
    shape (...)" and copies non-contiguous input instead of refusing it, so those stay on the CPU.
    CUDA's own cases (a 4-row X) run on both."""
    both, cpu = ("cpu", "cuda"), ("cpu",)
    X = np.zeros((6, 2))
    mu, prec = np.zeros((3, 2)), np.ones((3, 2))
    P = np.tile(np.eye(2), (3, 1, 1))
    X4 = np.zeros((4, 2))
    return [
        (cpu, TypeError, "X: expected float32 or float64", "gaussian_logprob_diag", (X.astype(np.int64), mu, prec)),
        (both, TypeError, "means: expected dtype float64, got float32", "gaussian_logprob_diag",
         (X, mu.astype(np.float32), prec)),
        (cpu, ValueError, r"means: expected shape \(\*, 2\), got \(3, 3\)", "gaussian_logprob_diag",
         (X, np.zeros((3, 3)), prec)),
        (cpu, ValueError, r"precisions: expected shape \(3, 2\), got \(2, 2\)", "gaussian_logprob_diag",
         (X, mu, np.ones((2, 2)))),
        (cpu, ValueError, "X: expected a C-contiguous array", "gaussian_logprob_diag", (np.zeros((2, 6)).T, mu, prec)),
        (both, ValueError, "prec_chol: expected 3 or 1 factors, got 2", "gaussian_logprob_full", (X, mu, P[:2].copy())),
        (cpu, ValueError, r"prec_chol: expected shape \(\*, 2, 2\)", "gaussian_logprob_full", (X, mu, np.ones((3, 2)))),
        (cpu, ValueError, "prec_chol: expected a C-contiguous array", "gaussian_logprob_full",
         (X, mu, np.tile(np.eye(2), (3, 1, 2))[:, :, ::2])),
        (both, ValueError, r"lambdas: expected shape \(\*, 2\)", "poisson_logprob", (X, np.ones((3, 3)))),
        (both, TypeError, "lambdas: expected dtype float64", "poisson_logprob", (X, np.ones((3, 2), dtype=np.float32))),
        # CUDA's cases
        (both, TypeError, None, "gaussian_logprob_diag", (X4, np.zeros((3, 2), np.float32), np.ones((3, 2)))),
        (both, ValueError, "means", "gaussian_logprob_diag", (X4, np.zeros((3, 5)), np.ones((3, 5)))),
        (both, ValueError, "precisions", "gaussian_logprob_diag", (X4, np.zeros((3, 2)), np.ones((2, 2)))),
        (both, ValueError, "prec_chol", "gaussian_logprob_full", (X4, np.zeros((3, 2)), np.ones((2, 2, 2)))),
        (both, TypeError, None, "categorical_logprob", (np.zeros(4, dtype=np.int32), np.zeros((2, 3)))),
        (both, ValueError, None, "poisson_logprob", (X4, np.ones((3, 3)))),
    ]


def test_emission_kernels_reject_bad_input(device):
    em = kernels(device, "emissions")
    for devices, exc, pattern, fn, args in _emission_bad_calls():
        if device in devices:
            with pytest.raises(exc, match=pattern):
                getattr(em, fn)(*args)


def test_categorical_kernels_reject_bad_symbols(device):
    """Symbols outside [0, M) are named with their row, on CUDA also when the symbols are on the
    device (checked there); dtype, shape, contiguity (CPU: CUDA copies) and weights checks."""
    em = kernels(device, "emissions")
    le = np.log(np.full((2, 3), 1 / 3))
    W = np.full((4, 2), 0.5)
    for bad in ([0, 1, 3, 0], [0, -1, 2, 0]):
        X = np.array(bad, dtype=np.int64)
        with pytest.raises(ValueError, match=r"X: symbol -?\d+ at row \d outside \[0, 3\)"):
            em.categorical_logprob(X, le)
        with pytest.raises(ValueError, match=r"X: symbol -?\d+ at row \d outside \[0, 3\)"):
            em.categorical_counts(X, W, 3)
    X = np.array([0, 1, 2, 0], dtype=np.int64)
    with pytest.raises(TypeError, match="X: expected dtype int64"):
        em.categorical_logprob(X.astype(np.int32), le)
    with pytest.raises(TypeError, match="X: expected dtype int64"):
        em.categorical_logprob(X.astype(np.float64), le)
    with pytest.raises(ValueError, match="X: expected shape"):
        em.categorical_logprob(X[:, None].copy(), le)
    if device == "cpu":
        with pytest.raises(ValueError, match="X: expected a C-contiguous array"):
            em.categorical_logprob(np.repeat(X, 2)[::2], le)
        with pytest.raises(ValueError, match=r"weights: expected shape \(4, \*\), got \(3, 2\)"):
            em.categorical_counts(X, W[:3].copy(), 3)
    with pytest.raises(ValueError, match="n_symbols: must be >= 1"):
        em.categorical_counts(X, W, 0)
    le = np.zeros((2, 3))
    for X in (np.array([0, 3, 1]), np.array([0, -1, 1])):
        with pytest.raises(ValueError, match="row 1"):
            em.categorical_logprob(X.astype(np.int64), le)
        if device == "cuda":
            from numba import cuda
            with pytest.raises(ValueError, match="row 1"):  # device-resident symbols: checked on the device
                em.categorical_logprob(cuda.to_device(X.astype(np.int64)), le)


def test_mixture_kernels_reject_bad_input():
    comp, lw, sp = np.zeros((4, 6)), np.log(np.full((3, 2), 0.5)), np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"comp_logprob: expected 6 columns \(K\*M\), got 5"):
        _core.emissions.mixture_logprob(np.zeros((4, 5)), lw)
    with pytest.raises(ValueError, match=r"state_post: expected shape \(4, 3\), got \(4, 2\)"):
        _core.emissions.mixture_posteriors(comp, lw, sp[:, :2].copy())
    with pytest.raises(TypeError, match="log_weights: expected dtype float64, got float32"):
        _core.emissions.mixture_logprob(comp, lw.astype(np.float32))
    with pytest.raises(ValueError, match="comp_logprob: expected a C-contiguous array"):
        _core.emissions.mixture_logprob(np.asfortranarray(comp), lw)
