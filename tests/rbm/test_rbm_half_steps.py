"""The RBM kernels' Philox draws and half-steps (hidden probabilities, visible means, sampling) on
both backends against the NumPy oracle in tests/reference/rbm.py. Backends, inputs and tolerances:
rbm_cases.py.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _core
from reference import rbm as ref
from reference import rng as rng_ref
from conftest import assert_sum_close
from devices import host, kernels
from rbm_cases import (_assert_draws, assert_draws_match, _assert_hidden_probs, _assert_visible_means, ATOL,
                       binary, cases, cuda_only, CUDA_SHAPES, DTYPES, _f64, _fixed, fixed_model,
                       HALF_STEP_CASES, _model, model, MODELS, RTOL, _sg, SHAPES, _tol, _visibles, visibles)


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


# =================================================================================================
# The oracle's Philox matches the reference generator and the kernel's
# =================================================================================================

def test_reference_philox_matches_rng_oracle_and_kernel(rng):
    for _ in range(3):
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**63))
        start = int(rng.integers(0, 2**40))
        idx = start + np.arange(37)
        assert_array_equal(ref.uniforms(seed, stream, idx), rng_ref.uniform(seed, stream, 37, start))
        assert_array_equal(ref.uniforms(seed, stream, idx), _core.rng.uniform(seed, stream, 37, start))
        assert_allclose(ref.normals(seed, stream, np.arange(21)), _core.rng.normal(seed, stream, 21), rtol=1e-14,
                        atol=1e-15)


@cuda_only
def test_draws_follow_the_element_index(cu):
    """Element (n, j) of a hidden draw uses u[n H + j] of the stream: compare with rng.uniform."""
    H, V, N = 5, 3, 4
    W, b_h, _, sigma = model(9, H, V, np.float64, "bernoulli")
    X = visibles(10, N, V, np.float64, "bernoulli")
    P, S = map(host, cu.rbm.sample_hiddens(X, W, b_h, sigma, 77, 5))
    u = host(cu.rng.uniform(77, 5, N * H)).reshape(N, H)
    assert_array_equal(S, (u < P).astype(np.float64))


# =================================================================================================
# Half-steps
# =================================================================================================



@pytest.mark.parametrize("device, dtype, kind, shape", HALF_STEP_CASES)
def test_hidden_probs(rng, device, dtype, kind, shape):
    """CPU: fresh inputs, tolerance scaled by the affine terms. CUDA: real inputs (every product
    rounds), bit for bit the CPU's, and the oracle's to RTOL / ATOL."""
    N, H, V = shape
    if device == "cpu":
        W, b_h, _, sigma = _model(rng, H, V, dtype, kind)
        X = _visibles(rng, N, V, dtype, kind)
    else:
        W, b_h, _, sigma = fixed_model(1 + H, H, V, dtype, kind)
        X = _fixed(N).normal(size=(N, V)).astype(dtype)
    P = host(kernels(device, "rbm").hidden_probs(X, W, b_h, _sg(sigma, dtype)))
    assert P.dtype == dtype and P.shape == (N, H)
    if device == "cpu":
        _assert_hidden_probs(P, X, W, b_h, sigma, dtype)
    else:
        assert_array_equal(P, _core.rbm.hidden_probs(X, W, b_h, _sg(sigma, dtype)))
        assert_allclose(P, ref.hidden_probs(*_f64(X, W, b_h, sigma)), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("device, dtype, kind, shape", HALF_STEP_CASES)
def test_visible_means(rng, device, dtype, kind, shape):
    """CPU: binary hiddens; CUDA: probabilities as input, bit for bit the CPU's."""
    N, H, V = shape
    if device == "cpu":
        W, _, b_v, sigma = _model(rng, H, V, dtype, kind)
        Hs = (rng.random((N, H)) < 0.5).astype(dtype)
    else:
        W, _, b_v, sigma = fixed_model(2 + V, H, V, dtype, kind)
        Hs = _fixed(N).random((N, H)).astype(dtype)
    M = host(kernels(device, "rbm").visible_means(Hs, W, b_v, _sg(sigma, dtype)))
    assert M.dtype == dtype and M.shape == (N, V)
    if device == "cpu":
        _assert_visible_means(M, Hs, W, b_v, sigma, dtype)
    else:
        assert_array_equal(M, _core.rbm.visible_means(Hs, W, b_v, _sg(sigma, dtype)))
        assert_allclose(M, ref.visible_means(*_f64(Hs, W, b_v, sigma)), rtol=RTOL[dtype], atol=ATOL[dtype])


SAMPLE_CASES = cases([(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in SHAPES],
                     [(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in CUDA_SHAPES[:2]])


@pytest.mark.parametrize("device, dtype, kind, shape", SAMPLE_CASES)
def test_sample_hiddens_use_contract_uniforms(rng, device, dtype, kind, shape):
    N, H, V = shape
    if device == "cpu":
        W, b_h, _, sigma = _model(rng, H, V, dtype, kind)
        X = _visibles(rng, N, V, dtype, kind)
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    else:
        W, b_h, _, sigma = fixed_model(3, H, V, dtype, kind)
        X = visibles(4, N, V, dtype, kind)
        seed, stream = 12345, 6
    P, S = map(host, kernels(device, "rbm").sample_hiddens(X, W, b_h, _sg(sigma, dtype), seed, stream))
    Pr, Sr, u = ref.sample_hiddens(*_f64(X, W, b_h, sigma), seed, stream)
    if device == "cpu":
        _assert_hidden_probs(P, X, W, b_h, sigma, dtype)
        _assert_draws(S, Sr, u, Pr, dtype)
    else:
        Pc, Sc = _core.rbm.sample_hiddens(X, W, b_h, _sg(sigma, dtype), seed, stream)
        assert_array_equal(P, Pc)
        assert_array_equal(S, Sc)
        assert set(np.unique(S)) <= {0.0, 1.0}
        assert_allclose(P, Pr, rtol=RTOL[dtype], atol=ATOL[dtype])
        assert_draws_match(S, Pr, u, 10 * ATOL[dtype])


@pytest.mark.parametrize("device, dtype, kind, shape", SAMPLE_CASES)
def test_sample_visibles_use_contract_uniforms(rng, device, dtype, kind, shape):
    N, H, V = shape
    if device == "cpu":
        W, _, b_v, sigma = _model(rng, H, V, dtype, kind)
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
        Hs = (rng.random((N, H)) < 0.5).astype(dtype)
    else:
        W, _, b_v, sigma = fixed_model(5, H, V, dtype, kind)
        Hs = binary(6, N, H, dtype)
        seed, stream = 2**40 + 3, 2**33 + 1  # both key words and both stream words nonzero
    Vs = host(kernels(device, "rbm").sample_visibles(Hs, W, b_v, _sg(sigma, dtype), seed, stream))
    assert Vs.dtype == dtype and Vs.shape == (N, V)
    Vr, u, M = ref.sample_visibles(*_f64(Hs, W, b_v, sigma), seed, stream)
    if device == "cuda":
        assert_array_equal(Vs, _core.rbm.sample_visibles(Hs, W, b_v, _sg(sigma, dtype), seed, stream))
        if kind == "gaussian":
            assert_allclose(Vs, Vr, rtol=RTOL[dtype], atol=ATOL[dtype] * 10)
        else:
            assert_draws_match(Vs, M, u, 10 * ATOL[dtype])
    elif kind == "bernoulli":
        _assert_draws(Vs, Vr, u, M, dtype)
    else:
        # a draw is mean + sigma z: the mean's error (scaled by its terms) plus z's rounding
        scale = ref.visible_affine_scale(*_f64(Hs, W, b_v)) + np.abs(Vr - M)
        assert_sum_close(Vs, Vr, scale, 10 * _tol(dtype)["rtol"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_inputs_take_the_sparse_product_bit_for_bit(rng, dtype):
    """Inputs with <= 10% nonzeros go through the row-by-row sparse product: the same bits as the
    dense kernel (rows shared with a dense batch), and the oracle's values."""
    N, H, V = 23, 67, 131
    W, b_h, b_v, _ = _model(rng, H, V, dtype, "bernoulli")
    sparse = (rng.random((N, V)) < 0.04).astype(dtype)
    sparse[0] = 0.0  # an all-zero row
    dense = (rng.random((3 * N, V)) < 0.5).astype(dtype)
    e = np.zeros(0, dtype)
    P_sparse = _core.rbm.hidden_probs(sparse, W, b_h, e)
    P_mixed = _core.rbm.hidden_probs(np.vstack([sparse, dense]), W, b_h, e)
    assert_array_equal(P_sparse, P_mixed[:N])
    _assert_hidden_probs(P_sparse, sparse, W, b_h, None, dtype)
    Hs = (rng.random((N, H)) < 0.05).astype(dtype)
    M_sparse = _core.rbm.visible_means(Hs, W, b_v, e)
    M_mixed = _core.rbm.visible_means(np.vstack([Hs, np.ones((2 * N, H), dtype)]), W, b_v, e)
    assert_array_equal(M_sparse, M_mixed[:N])
    scaled = sparse * 0.37  # non-binary nonzeros use their values
    _assert_hidden_probs(_core.rbm.hidden_probs(scaled, W, b_h, e), scaled, W, b_h, None, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_affine_terms_saturate_the_sigmoid_never_nan(device, dtype):
    """Affine terms far past the sigmoid's clamp (87 in float32, 708/709 in float64) give 0 and 1
    to within the clamp's value, never NaN, and saturated draws.

    CUDA, against the CPU: p is the clamped value (tiny but positive, or 1), bit for bit the CPU's,
    and so are the draws. (Beyond the clamp the CPU returns a constant GCC folded without fusing --
    in float32 an ulp from the fused value at exactly -87 -- and the CUDA kernels return the same
    constant.)"""
    kern = kernels(device, "rbm")
    W = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], dtype=dtype)
    X = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    b = np.zeros(3, dtype)
    P = host(kern.hidden_probs(X, W, b, np.zeros(0, dtype)))
    assert np.isfinite(P).all()
    assert_allclose(P, [[1, 0, 0.5], [0, 1, 0.5]], atol=1e-30 if dtype == np.float64 else 1e-37)
    F = host(kern.free_energy(X, W, b, np.zeros(2, dtype), np.zeros(0, dtype)))
    assert_allclose(F, ref.free_energy(*_f64(X, W, b, np.zeros(2)), None), rtol=1e-6)
    _, S = map(host, kern.sample_hiddens(X, W, b, np.zeros(0, dtype), 1, 2))
    assert_array_equal(S[:, :2], [[1, 0], [0, 1]])
    if device == "cpu":
        return
    cu, core = kern, _core.rbm
    W, b_h, b_v, sigma = model(7, 5, 7, dtype, "bernoulli", scale=400.0)
    X = visibles(8, 4, 7, dtype, "bernoulli")
    P, S = map(host, cu.sample_hiddens(X, W, b_h, sigma, 3, 1))
    Pc, Sc = core.sample_hiddens(X, W, b_h, sigma, 3, 1)
    assert_array_equal(P, Pc)
    assert_array_equal(S, Sc)
    assert np.isfinite(P).all() and (P > 0).all() and (P <= 1).all()
    M = host(cu.visible_means(S, W, b_v, sigma))
    assert_array_equal(M, core.visible_means(S, W, b_v, sigma))
    far = 88.0 if dtype == np.float32 else 750.0  # past the clamp (87; -708 / 709)
    Xd = np.array([[-1e4], [-2 * far], [-far], [far], [1e4]], dtype)
    edge = np.array([[-87.0 if dtype == np.float32 else -709.0]], dtype)
    one, zero = np.ones((1, 1), dtype), np.zeros(1, dtype)
    P1 = host(cu.hidden_probs(Xd, one, zero, sigma))[:, 0]
    assert P1[0] == P1[1] == P1[2] > 0 and P1[3] == P1[4] == 1  # saturated: the clamp's value
    assert_array_equal(P1, core.hidden_probs(Xd, one, zero, sigma)[:, 0])
    assert_array_equal(host(cu.hidden_probs(edge, one, zero, sigma)), core.hidden_probs(edge, one, zero, sigma))


NO_ROW_FNS = ["hidden_probs", "sample_hiddens", "visible_means", "sample_visibles", "free_energy",
              "pseudo_likelihood", "gibbs_vhv", "gibbs_hvh"]


@pytest.mark.parametrize("fn", NO_ROW_FNS)
def test_no_rows(device, fn):
    """N = 0 rows: empty results of the right shape and dtype (CPU: float64, H = 3, V = 4; CUDA:
    float32, H = 5, V = 7, and the CPU's shapes and dtypes on the same call)."""
    if device == "cpu":
        dtype, H, V = np.float64, 3, 4
        W, b_h, b_v, sigma = np.ones((H, V)), np.zeros(H), np.zeros(V), np.zeros(0)
    else:
        dtype, H, V = np.float32, 5, 7
        W, b_h, b_v, sigma = model(47, H, V, dtype, "bernoulli")
    X0, H0 = np.zeros((0, V), dtype), np.zeros((0, H), dtype)
    args, shapes = {
        "hidden_probs": ((X0, W, b_h, sigma), [(0, H)]),
        "sample_hiddens": ((X0, W, b_h, sigma, 1, 2), [(0, H), (0, H)]),
        "visible_means": ((H0, W, b_v, sigma), [(0, V)]),
        "sample_visibles": ((H0, W, b_v, sigma, 1, 2), [(0, V)]),
        "free_energy": ((X0, W, b_h, b_v, sigma), [(0,)]),
        "pseudo_likelihood": ((X0, W, b_h, b_v, np.zeros(0, np.int64)), [(0,)]),
        "gibbs_vhv": ((X0, W, b_h, b_v, sigma, 2, 1, 2), [(0, V), (0, H)]),
        "gibbs_hvh": ((H0, W, b_h, b_v, sigma, 2, 1, 2), [(0, V), (0, H), (0, H)]),
    }[fn]
    got = getattr(kernels(device, "rbm"), fn)(*args)
    got = [host(g) for g in (got if isinstance(got, tuple) else (got,))]
    assert [g.shape for g in got] == shapes
    assert all(g.dtype == dtype for g in got)
    if device == "cuda":
        want = getattr(_core.rbm, fn)(*args)
        for g, w in zip(got, want if isinstance(want, tuple) else (want,)):
            assert g.shape == w.shape and g.dtype == w.dtype
