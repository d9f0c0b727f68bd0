"""The RBM kernels' free energy, pseudo-likelihood, log partition function and AIS weights on both
backends against the NumPy oracle. Backends, inputs and tolerances: rbm_cases.py.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastgen import _core
from reference import rbm as ref
from devices import host, kernels
from rbm_cases import (ATOL, cases, cuda_only, CUDA_SHAPES, DTYPES, _f64, _fixed, fixed_model,
                       HALF_STEP_CASES, _model, model, MODELS, RTOL, _sg, SHAPES, SUM_RTOL, _tol, _visibles,
                       visibles)


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_rbm():
    return importlib.import_module("fastgen._cuda.rbm")


# =================================================================================================
# Free energy, pseudo-likelihood, log partition function, AIS
# =================================================================================================

@pytest.mark.parametrize("device, dtype, kind, shape", HALF_STEP_CASES)
def test_free_energy(rng, device, dtype, kind, shape):
    """CPU: an absolute floor proportional to the terms' magnitudes. CUDA: the CPU's to SUM_RTOL
    (float32: 1e-6) and the oracle's to RTOL / ATOL."""
    N, H, V = shape
    if device == "cpu":
        W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
        X = _visibles(rng, N, V, dtype, kind)
    else:
        W, b_h, b_v, sigma = fixed_model(41, H, V, dtype, kind)
        X = visibles(42, N, V, dtype, kind)
    F = host(kernels(device, "rbm").free_energy(X, W, b_h, b_v, _sg(sigma, dtype)))
    assert F.dtype == dtype and F.shape == (N,)
    want = ref.free_energy(*_f64(X, W, b_h, b_v, sigma))
    if device == "cpu":
        scale = np.abs(W).sum() + np.abs(b_h).sum() + np.abs(b_v).sum() + np.abs(X).sum(1) * 4
        assert_allclose(F, want, rtol=_tol(dtype)["rtol"], atol=(1e-14 if dtype == np.float64 else 1e-6) * scale.max())
    else:
        assert_allclose(F, _core.rbm.free_energy(X, W, b_h, b_v, _sg(sigma, dtype)),
                        rtol=SUM_RTOL if dtype == np.float64 else 1e-6)
        assert_allclose(F, want, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("device, dtype, shape", cases([(dtype, shape) for dtype in DTYPES for shape in SHAPES],
                                                       [(dtype, shape) for dtype in DTYPES for shape in CUDA_SHAPES]))
def test_pseudo_likelihood(rng, device, dtype, shape):
    """CPU: fresh probabilities as inputs (scikit-learn allows them); CUDA: binary rows, weights of
    scale 3, the last visible flipped in row 0."""
    N, H, V = shape
    if device == "cpu":
        W, b_h, b_v, _ = _model(rng, H, V, dtype, "bernoulli")
        X = rng.random((N, V)).astype(dtype)
        flip = rng.integers(0, V, N).astype(np.int64)
    else:
        W, b_h, b_v, _ = fixed_model(43, H, V, dtype, "bernoulli", scale=3.0)
        X = visibles(44, N, V, dtype, "bernoulli")
        flip = _fixed(45).integers(0, V, size=N).astype(np.int64)
        flip[0] = V - 1
    L = host(kernels(device, "rbm").pseudo_likelihood(X, W, b_h, b_v, flip))
    assert L.dtype == dtype and L.shape == (N,)
    want = ref.pseudo_likelihood(*_f64(X, W, b_h, b_v), flip)
    if device == "cpu":
        assert_allclose(L, want, rtol=_tol(dtype)["rtol"] * 10, atol=(1e-12 if dtype == np.float64 else 1e-4) * V)
    else:
        assert_allclose(L, _core.rbm.pseudo_likelihood(X, W, b_h, b_v, flip),
                        rtol=SUM_RTOL if dtype == np.float64 else 1e-6)
        assert_allclose(L, want, rtol=RTOL[dtype], atol=ATOL[dtype])
    assert (L <= 0).all()


# CPU: (kind, over_hidden=None: both layers where the visible one is enumerable, (H, V)); CUDA:
# (kind, over_hidden, (H, V)).
@pytest.mark.parametrize("device, dtype, kind, over_hidden, HV", cases(
    [(dtype, kind, None, HV) for dtype in DTYPES for kind in MODELS
     for HV in [(1, 1), (1, 9), (5, 1), (10, 12), (13, 40), (16, 3)]],
    [(dtype, kind, over_hidden, HV) for dtype in DTYPES
     for kind, over_hidden in [("bernoulli", True), ("bernoulli", False), ("gaussian", True)]
     for HV in [(5, 7), (1, 1), (7, 3)]]))
def test_log_partition_exact(rng, device, dtype, kind, over_hidden, HV):
    """CPU: fresh models to rtol 1e-12 (atol 1e-12 (H + V)); CUDA: the CPU's to SUM_RTOL, the oracle's
    to 1e-10."""
    H, V = HV
    if device == "cpu":
        W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind, scale=1.0)
        layers = (True, False) if kind == "bernoulli" and V <= 16 else (True,)
    else:
        W, b_h, b_v, sigma = fixed_model(51, H, V, dtype, kind)
        layers = (over_hidden,)
    want = ref.log_partition(*_f64(W, b_h, b_v, sigma), over_hidden=True)
    for over in layers:
        got = kernels(device, "rbm").log_partition(W, b_h, b_v, _sg(sigma, dtype), over)
        assert isinstance(got, float)
        if device == "cpu":
            assert_allclose(got, want, rtol=1e-12, atol=1e-12 * (H + V))
        else:
            assert got == pytest.approx(_core.rbm.log_partition(W, b_h, b_v, _sg(sigma, dtype), over), rel=SUM_RTOL)
            assert got == pytest.approx(ref.log_partition(*_f64(W, b_h, b_v, sigma), over), rel=1e-10)


def test_log_partition_large_weights_no_overflow(rng):
    W = (30 * rng.standard_normal((8, 10)))
    got = _core.rbm.log_partition(W, np.zeros(8), np.zeros(10), np.zeros(0), True)
    assert np.isfinite(got)
    assert_allclose(got, ref.log_partition(W, np.zeros(8), np.zeros(10)), rtol=1e-12)


@cuda_only
def test_log_partition_both_layers_agree(cu):
    W, b_h, b_v, sigma = model(52, 6, 5, np.float64, "bernoulli", scale=2.0)
    assert cu.rbm.log_partition(W, b_h, b_v, sigma, True) == pytest.approx(
        cu.rbm.log_partition(W, b_h, b_v, sigma, False), rel=1e-12)


@cuda_only
def test_log_partition_grid_stride_and_two_level_merge(cu, cuda_rbm, monkeypatch):
    """Fewer threads than Gray blocks (each thread walks several) and more blocks than one merge
    group: the same value."""
    W, b_h, b_v, sigma = model(53, 7, 4, np.float64, "gaussian")
    want = cu.rbm.log_partition(W, b_h, b_v, sigma, True)
    monkeypatch.setattr(cuda_rbm, "geometry", cuda_rbm.geometry._replace(logz_bits=1, logz_threads=5))
    monkeypatch.setattr(cuda_rbm, "_LOGZ_MERGE_GROUP", 3)
    assert cu.rbm.log_partition(W, b_h, b_v, sigma, True) == pytest.approx(want, rel=1e-13)


# (C chains, H, V)
@pytest.mark.parametrize("device, dtype, kind, shape", cases(
    [(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in [(1, 1, 1), (6, 7, 11), (33, 50, 70)]],
    [(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in [(3, 5, 7), (1, 1, 1)]]))
def test_ais_log_weights_match_oracle(rng, device, dtype, kind, shape):
    """CPU: fresh models and temperatures (a repeated one among them). CUDA: fixed ones, the CPU's
    weights to SUM_RTOL, the oracle's to RTOL (float32: x_j is rounded to float32 before the float64
    softplus sums, atol 1e-4)."""
    C, H, V = shape
    if device == "cpu":
        W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
        a = rng.normal(size=V).astype(dtype)
        betas = np.unique(np.r_[0.0, np.sort(rng.random(int(rng.integers(1, 15)))), 1.0])
        betas = np.r_[betas[:2], betas[1:]]  # a repeated temperature (zero increment) is allowed
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    else:
        W, b_h, b_v, sigma = fixed_model(61, H, V, dtype, kind)
        a = (0.5 * b_v).astype(dtype)
        betas = np.array([0.0, 0.1, 0.35, 0.35, 0.8, 1.0])  # a repeated temperature among them
        seed, stream = 17, 3
    got = host(kernels(device, "rbm").ais(W, b_h, b_v, _sg(sigma, dtype), a, betas, C, seed, stream))
    assert got.dtype == np.float64 and got.shape == (C,)
    want = ref.ais(*_f64(W, b_h, b_v, sigma, a), betas, C, seed, stream)
    if device == "cuda":
        assert_allclose(got, _core.rbm.ais(W, b_h, b_v, _sg(sigma, dtype), a, betas, C, seed, stream),
                        rtol=SUM_RTOL, atol=1e-12)
        assert_allclose(got, want, rtol=RTOL[dtype], atol=1e-10 if dtype == np.float64 else 1e-4)
    elif dtype == np.float64:
        assert_allclose(got, want, rtol=1e-10, atol=1e-10 * (H + V))
    else:
        # A float32 transition probability within rounding of its uniform may flip a draw and
        # change that chain's path; compare the chains whose draws were all clear.
        close = np.isclose(got, want, rtol=1e-4, atol=1e-4 * (H + V))
        assert close.mean() >= 0.9, (got, want)


def test_ais_single_temperature_step_is_exact_importance_sampling(rng, device):
    """betas = [0, 1]: log_w = log p*_1(v) - log p*_0(v) for v drawn from the base model (stream + 0),
    i.e. -F(v) - (a.v + H log 2) for Bernoulli visibles. CPU: fresh, H, V, C = 4, 6, 50 (atol
    1e-12); CUDA: fixed, 5, 7, 4."""
    if device == "cpu":
        H, V, C, seed, stream = 4, 6, 50, 7, 0
        W, b_h, b_v, _ = _model(rng, H, V, np.float64, "bernoulli")
        a = rng.normal(size=V)
        atol = 1e-12
    else:
        H, V, C, seed, stream = 5, 7, 4, 5, 9
        W, b_h, b_v, _ = fixed_model(62, H, V, np.float64, "bernoulli")
        a = _fixed(63).normal(size=V)
        atol = 0
    lw = host(kernels(device, "rbm").ais(W, b_h, b_v, np.zeros(0), a, np.array([0.0, 1.0]), C, seed, stream))
    v = (ref.uniforms(seed, stream, np.arange(C * V).reshape(C, V)) < 1 / (1 + np.exp(-a))).astype(float)
    want = -ref.free_energy(v, W, b_h, b_v) - (v @ a + H * np.log(2))
    assert_allclose(lw, want, rtol=1e-12, atol=atol)
