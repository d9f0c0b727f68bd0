"""The RBM kernels on both backends -- fastgen._core.rbm and its Numba CUDA twin fastgen._cuda.rbm --
against the NumPy oracles in tests/reference/rbm.py, plus their contract properties (Philox indices,
thread-count independence), CUDA against the CPU on the same inputs, and their input checks.

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`). CPU cases take fresh random inputs
(the `rng` fixture) over the full grid of sizes; CUDA cases keep tiny fixed inputs (V = 7, H = 5, a
few rows): the simulator runs one Python thread per CUDA thread. Its tiles are 4 x 4
(rbm.SIM_GEOMETRY), so these shapes still cross tile boundaries in every direction, and one test
reruns the kernels with the GPU's tiling. Tests that make sense on one backend only (the CPU's
sparse path and thread pool; CUDA's device arrays, geometry and comparisons with the CPU) are not
parametrised; the CUDA ones are marked `cuda` (cuda_only).

CPU tolerances: float64 rtol 1e-10 (probabilities and means also atol 1e-13: an entry of 1e-30 is
not meaningful to 10 digits); float32 rtol 1e-5 / atol 1e-6 against the float64 oracle run on the
float32 inputs (the kernel's own rounding: dot products of a few hundred terms). Sums of many
terms (free energies, AIS weights, log partition functions) get an absolute floor proportional
to their number of terms. Draws: a Bernoulli draw is compared exactly wherever its uniform is not
within rounding of its probability (|u - p| > 1e-5 in float32, 1e-12 in float64); a Gaussian draw
like a mean.

CUDA (csrc/KERNELS.md, rbm.py's docstring):
- against the CPU: probabilities, visible means, products and every draw are bit-identical (both
  backends compute each element as the same k-ordered fused multiply-add chain and the same
  sigmoid; the module's exactly rounded FMA makes the simulator compute what the GPU would);
  float64 row sums (free energies, AIS weights, log Z) add in a different order: 1e-12 relative;
- against the float64 NumPy oracle: float64 to 1e-10 (atol 1e-12), float32 to 1e-5 (atol 1e-6)
  relative, and draws equal wherever the uniform is not within 10 atol of its probability.
"""
from __future__ import annotations

import importlib
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _core
from reference import rbm as ref
from reference import rng as rng_ref
from conftest import assert_same_on_any_thread_count, assert_sum_close
from devices import CUDA_MARKS, host, kernels

DTYPES = [np.float64, np.float32]
MODELS = ["bernoulli", "gaussian"]
# (N rows, H hidden, V visible): size-1 cases, odd sizes, shapes spanning several register tiles,
# column panels with narrow tails and several row tiles.
SHAPES = [(1, 1, 1), (3, 1, 5), (2, 7, 1), (7, 13, 29), (37, 67, 131), (130, 50, 97)]
# CUDA's (N, H, V): odd sizes, size 1, more rows than one tile.
CUDA_SHAPES = [(3, 5, 7), (1, 1, 1), (6, 4, 3)]
# CUDA tolerances against the oracle, and between the two backends' float64 row sums.
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
ATOL = {np.float64: 1e-12, np.float32: 1e-6}
SUM_RTOL = 1e-12


def cuda_only(test):
    """Marks a test that exercises CUDA alone (its internals, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cuda_case(*values, id=None):
    return pytest.param("cuda", *values, id=id, marks=CUDA_MARKS)


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return [pytest.param("cpu", *v) for v in cpu] + [cuda_case(*v) for v in cuda]


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_rbm():
    return importlib.import_module("fastgen._cuda.rbm")


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)


def _assert_hidden_probs(P, X, W, b_h, sigma, dtype):
    """P against the oracle, tolerance scaled by the affine terms' magnitudes (see assert_sum_close)."""
    args = _f64(X, W, b_h, sigma)
    want = ref.hidden_probs(*args)
    assert_sum_close(P, want, ref.hidden_affine_scale(*args), _tol(dtype)["rtol"], slope=want * (1 - want))


def _assert_visible_means(M, Hs, W, b_v, sigma, dtype):
    args = _f64(Hs, W, b_v, sigma)
    want = ref.visible_means(*args)
    slope = 1.0 if sigma is not None else want * (1 - want)
    assert_sum_close(M, want, ref.visible_affine_scale(*args[:3]), _tol(dtype)["rtol"], slope=slope)


def _tie(dtype):
    return 1e-12 if dtype == np.float64 else 1e-5


def _model(rng, H, V, dtype, kind, scale=0.5):
    """(W, b_h, b_v, sigma): sigma None (Bernoulli) or in [0.5, 2] (Gaussian)."""
    W = (scale * rng.standard_normal((H, V))).astype(dtype)
    b_h = rng.normal(size=H).astype(dtype)
    b_v = rng.normal(size=V).astype(dtype)
    sigma = rng.uniform(0.5, 2.0, V).astype(dtype) if kind == "gaussian" else None
    return W, b_h, b_v, sigma


def _sg(sigma, dtype):
    """The kernel's sigma argument: (0,) for Bernoulli visibles."""
    return np.zeros(0, dtype) if sigma is None else sigma


def _f64(*arrays):
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def _visibles(rng, N, V, dtype, kind, p=0.4):
    if kind == "gaussian":
        return rng.normal(size=(N, V)).astype(dtype)
    return (rng.random((N, V)) < p).astype(dtype)


def _assert_draws(got, want, u, p, dtype):
    """Bernoulli draws equal wherever the uniform is not within rounding of its probability."""
    clear = np.abs(u - p) > _tie(dtype)
    assert_array_equal(got[clear], want[clear])
    assert set(np.unique(got)) <= {0.0, 1.0}


# -- CUDA's fixed inputs ----------------------------------------------------------------------------

def _fixed(seed):
    return np.random.default_rng(seed)


def fixed_model(seed, H, V, dtype, kind, *, scale=1.0):
    """_model on a generator seeded with `seed`, sigma None for Bernoulli visibles."""
    return _model(_fixed(seed), H, V, dtype, kind, scale=scale)


def model(seed, H, V, dtype, kind, *, scale=1.0):
    """(W, b_h, b_v, sigma) as the kernels take them: sigma empty (Bernoulli) or in [0.5, 2]."""
    W, b_h, b_v, sigma = fixed_model(seed, H, V, dtype, kind, scale=scale)
    return W, b_h, b_v, _sg(sigma, dtype)


def visibles(seed, N, V, dtype, kind):
    """Binary rows (Bernoulli, p = 0.5) or real rows (Gaussian)."""
    return _visibles(_fixed(seed), N, V, dtype, kind, p=0.5)


def binary(seed, N, H, dtype):
    return (_fixed(seed).random((N, H)) < 0.5).astype(dtype)


def ref_sigma(sigma):
    return None if sigma is None or sigma.size == 0 else sigma.astype(np.float64)


def assert_draws_match(S, P_ref, u, tol):
    """Bernoulli draws equal `u < p_ref` except where u lies within tol of p_ref (rounding)."""
    clear = np.abs(u - P_ref) > tol
    assert_array_equal(S[clear], (u < P_ref).astype(S.dtype)[clear])


def _to_device(device):
    if device == "cpu":
        return lambda a: a
    from numba import cuda
    return cuda.to_device


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

HALF_STEP_CASES = cases([(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in SHAPES],
                        [(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in CUDA_SHAPES])


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


# =================================================================================================
# Chains
# =================================================================================================

# CPU: float64 whole chains of 1 to 5 steps (fresh inputs: no draw falls within rounding of its
# probability); CUDA: both dtypes, C = 3 chains of H = 5, V = 7.
GIBBS_CPU_SHAPES = [(1, 1, 1), (5, 3, 8), (37, 67, 131)]  # (C, H, V)


@pytest.mark.parametrize("device, dtype, kind, shape, n_steps", cases(
    [(np.float64, kind, shape, None) for kind in MODELS for shape in GIBBS_CPU_SHAPES],
    [(dtype, kind, (3, 5, 7), n) for dtype in DTYPES for kind in MODELS for n in (1, 3)]))
def test_gibbs_vhv_chains(rng, device, dtype, kind, shape, n_steps):
    """Whole chains against the oracle, bit for bit (float64); CUDA also bit for bit the CPU's."""
    C, H, V = shape
    if device == "cpu":
        W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
        V0 = _visibles(rng, C, V, dtype, kind)
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
        n_steps = int(rng.integers(1, 6))
    else:
        W, b_h, b_v, sigma = fixed_model(11, H, V, dtype, kind)
        V0 = visibles(12, C, V, dtype, kind)
        seed, stream = 99, 4
    v, h = map(host, kernels(device, "rbm").gibbs_vhv(V0, W, b_h, b_v, _sg(sigma, dtype), n_steps, seed, stream))
    if device == "cuda":
        vc, hc = _core.rbm.gibbs_vhv(V0, W, b_h, b_v, _sg(sigma, dtype), n_steps, seed, stream)
        assert_array_equal(v, vc)
        assert_array_equal(h, hc)
    if dtype == np.float64:  # the oracle's chain (float64) takes the same path
        vr, hr = ref.gibbs_vhv(*_f64(V0, W, b_h, b_v, sigma), n_steps, seed, stream)
        assert_array_equal(h, hr)
        assert_allclose(v, vr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device, dtype, kind, shape, n_steps", cases(
    [(np.float64, kind, shape, None) for kind in MODELS for shape in GIBBS_CPU_SHAPES],
    [(dtype, kind, (3, 5, 7), n) for dtype in DTYPES for kind in MODELS for n in (1, 2)]))
def test_gibbs_hvh_chains(rng, device, dtype, kind, shape, n_steps):
    C, H, V = shape
    if device == "cpu":
        W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
        H0 = (rng.random((C, H)) < 0.5).astype(dtype)
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
        n_steps = int(rng.integers(1, 6))
        p_atol = 1e-13
    else:
        W, b_h, b_v, sigma = fixed_model(13, H, V, dtype, kind)
        H0 = binary(14, C, H, dtype)
        seed, stream = 2024, 10
        p_atol = ATOL[dtype]
    v, p, h = map(host, kernels(device, "rbm").gibbs_hvh(H0, W, b_h, b_v, _sg(sigma, dtype), n_steps, seed, stream))
    if device == "cuda":
        vc, pc, hc = _core.rbm.gibbs_hvh(H0, W, b_h, b_v, _sg(sigma, dtype), n_steps, seed, stream)
        assert_array_equal(v, vc)
        assert_array_equal(p, pc)
        assert_array_equal(h, hc)
    if dtype == np.float64:
        vr, pr, hr = ref.gibbs_hvh(*_f64(H0, W, b_h, b_v, sigma), n_steps, seed, stream)
        assert_array_equal(h, hr)
        assert_allclose(v, vr, rtol=1e-10, atol=1e-12)
        assert_allclose(p, pr, rtol=1e-10, atol=p_atol)


@pytest.mark.parametrize("kind", MODELS)
def test_gibbs_one_step_float32(rng, kind):
    """float32: one sweep against the oracle, draws compared away from near-ties."""
    C, H, V = 23, 41, 59
    dtype = np.float32
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
    V0 = _visibles(rng, C, V, dtype, kind)
    seed, stream = int(rng.integers(0, 2**63)), 5
    v, h = _core.rbm.gibbs_vhv(V0, W, b_h, b_v, _sg(sigma, dtype), 1, seed, stream)
    P, hr, u = ref.sample_hiddens(*_f64(V0, W, b_h, sigma), seed, stream)
    _assert_draws(h, hr, u, P, dtype)
    if not (np.abs(u - P) > _tie(dtype)).all():
        pytest.skip("a hidden uniform fell within float32 rounding of its probability")
    vr, uv, M = ref.sample_visibles(*_f64(h, W, b_v, sigma), seed, stream + 1)
    if kind == "bernoulli":
        _assert_draws(v, vr, uv, M, dtype)
    else:
        assert_allclose(v, vr, rtol=1e-5, atol=1e-5)


def test_chain_streams_compose(rng):
    """n steps from stream s equal n1 steps from s then n - n1 steps from s + 2 n1."""
    W, b_h, b_v, _ = _model(rng, 9, 14, np.float64, "bernoulli")
    V0 = (rng.random((6, 14)) < 0.5).astype(np.float64)
    e = np.zeros(0)
    v, h = _core.rbm.gibbs_vhv(V0, W, b_h, b_v, e, 5, 3, 100)
    v1, _ = _core.rbm.gibbs_vhv(V0, W, b_h, b_v, e, 2, 3, 100)
    v2, h2 = _core.rbm.gibbs_vhv(v1, W, b_h, b_v, e, 3, 3, 104)
    assert_array_equal(v, v2)
    assert_array_equal(h, h2)


@cuda_only
def test_gibbs_streams_are_the_half_steps(cu):
    """vhv with one step = sample_hiddens(stream) then sample_visibles(stream + 1); the streams
    wrap modulo 2^64 (stream = 2^64 - 1 goes on with stream 0)."""
    dtype = np.float32
    W, b_h, b_v, sigma = model(15, 5, 7, dtype, "gaussian")
    V0 = visibles(16, 3, 7, dtype, "gaussian")
    stream = 2**64 - 1
    Vs, Hs = map(host, cu.rbm.gibbs_vhv(V0, W, b_h, b_v, sigma, 1, 8, stream))
    _, S1 = map(host, cu.rbm.sample_hiddens(V0, W, b_h, sigma, 8, stream))
    V1 = host(cu.rbm.sample_visibles(S1, W, b_v, sigma, 8, 0))
    assert_array_equal(Hs, S1)
    assert_array_equal(Vs, V1)


@cuda_only
def test_gibbs_stream_wraparound_matches_cpu(cu):
    W, b_h, b_v, sigma = model(17, 5, 7, np.float64, "bernoulli")
    H0 = binary(18, 3, 5, np.float64)
    stream = 2**64 - 2
    got = [host(a) for a in cu.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 3, 2**64 - 1, stream)]
    want = _core.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 3, 2**64 - 1, stream)
    for g, w in zip(got, want):
        assert_array_equal(g, w)


@cuda_only
def test_device_resident_inputs(cu):
    """Device arrays are used in place and give the same results; results are device arrays."""
    from numba import cuda
    W, b_h, b_v, sigma = model(19, 5, 7, np.float32, "gaussian")
    V0 = visibles(20, 3, 7, np.float32, "gaussian")
    host_res = [host(a) for a in cu.rbm.gibbs_vhv(V0, W, b_h, b_v, sigma, 2, 1, 2)]
    dev = [cuda.to_device(a) for a in (V0, W, b_h, b_v, sigma)]
    res = cu.rbm.gibbs_vhv(*dev[:4], dev[4], 2, 1, 2)
    assert all(hasattr(r, "copy_to_host") for r in res)
    for g, w in zip(res, host_res):
        assert_array_equal(g.copy_to_host(), w)


@cuda_only
def test_fresh_random_models_match_cpu(cu, rng):
    """New shapes, weights, seeds and streams on every run (conftest's rng; the seed is printed on
    failure): chains, probabilities and free energies against the CPU."""
    for _ in range(2):
        dtype = DTYPES[int(rng.integers(2))]
        kind = MODELS[int(rng.integers(2))]
        H, V, C = (int(x) for x in rng.integers(1, 8, size=3))
        W, b_h, b_v, sigma = model(int(rng.integers(2**32)), H, V, dtype, kind, scale=float(rng.uniform(0.1, 5)))
        H0 = binary(int(rng.integers(2**32)), C, H, dtype)
        seed, stream = (int(x) for x in rng.integers(0, 2**63, size=2, dtype=np.uint64))
        got = [host(a) for a in cu.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 2, seed, stream)]
        want = _core.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 2, seed, stream)
        for g, w in zip(got, want):
            assert_array_equal(g, w)
        X = got[0]
        assert_allclose(host(cu.rbm.free_energy(X, W, b_h, b_v, sigma)), _core.rbm.free_energy(X, W, b_h, b_v, sigma),
                        rtol=SUM_RTOL if dtype == np.float64 else 1e-6, atol=1e-12)


# =================================================================================================
# CD / PCD update
# =================================================================================================

def _random_cd_inputs(rng, B, C, H, V, dtype, mode):
    """CPU: fresh parameters, velocities, statistics and (lr, momentum, weight_decay)."""
    W, b_h, b_v, _ = _model(rng, H, V, dtype, "bernoulli")
    log_var = (0.3 * rng.standard_normal(V)).astype(dtype) if mode == "gaussian_learned" else None
    sigma = None
    if mode == "gaussian_fixed":
        sigma = rng.uniform(0.5, 2, V).astype(dtype)
    elif mode == "gaussian_learned":
        sigma = np.exp(0.5 * log_var).astype(dtype)
    vel = {"W": 0.1 * rng.standard_normal((H, V)), "b_h": 0.1 * rng.standard_normal(H),
           "b_v": 0.1 * rng.standard_normal(V), "log_var": 0.1 * rng.standard_normal(V)}
    vel = {k: v.astype(dtype) for k, v in vel.items()}
    if log_var is None:
        vel["log_var"] = np.zeros(0, dtype)
    stats = (rng.random((B, V)).astype(dtype), rng.random((B, H)).astype(dtype),
             rng.random((C, V)).astype(dtype), rng.random((C, H)).astype(dtype))
    lr, mom, wd = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0, 0.9)), float(rng.uniform(0, 1e-2))
    params = {"W": W, "b_h": b_h, "b_v": b_v, "log_var": _sg(log_var, dtype), "sigma": _sg(sigma, dtype)}
    return params, vel, stats, (lr, mom, wd)


def cd_inputs(seed, H, V, B, C, dtype, variant):
    """CUDA's fixed parameters, velocities and statistics of one update. variant: bernoulli,
    gaussian (fixed sigma), learned (Gaussian with learned log-variances)."""
    rng = np.random.default_rng(seed)
    kind = "bernoulli" if variant == "bernoulli" else "gaussian"
    W, b_h, b_v, sigma = model(seed, H, V, dtype, kind)
    log_var = (2 * np.log(sigma)).astype(dtype) if variant == "learned" else np.zeros(0, dtype)
    vel = {
        "W": (0.1 * rng.normal(size=(H, V))).astype(dtype),
        "b_h": (0.1 * rng.normal(size=H)).astype(dtype),
        "b_v": (0.1 * rng.normal(size=V)).astype(dtype),
        "log_var": (0.1 * rng.normal(size=log_var.shape)).astype(dtype),
    }
    V_pos = visibles(seed + 1, B, V, dtype, kind)
    H_pos = rng.random((B, H)).astype(dtype)
    V_neg = visibles(seed + 2, C, V, dtype, kind)
    H_neg = binary(seed + 3, C, H, dtype)
    params = {"W": W, "b_h": b_h, "b_v": b_v, "log_var": log_var, "sigma": sigma}
    return params, vel, (V_pos, H_pos, V_neg, H_neg)


def run_cd(rbm, params, vel, stats, lr, momentum, decay, to_device):
    """One cd_update of the kernel module `rbm` on copies: the new (params, velocities) on the host."""
    p = {k: to_device(v.copy()) for k, v in params.items()}
    m = {k: to_device(v.copy()) for k, v in vel.items()}
    rbm.cd_update(p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"],
                  m["log_var"], *stats, lr, momentum, decay)
    return {k: host(v) for k, v in p.items()}, {k: host(v) for k, v in m.items()}


CD_MODES = ["bernoulli", "gaussian_fixed", "gaussian_learned"]
CD_VARIANT = {"bernoulli": "bernoulli", "gaussian_fixed": "gaussian", "gaussian_learned": "learned"}


# (B, C, H, V)
@pytest.mark.parametrize("device, dtype, mode, sizes", cases(
    [(dtype, mode, sizes) for dtype in DTYPES for mode in CD_MODES
     for sizes in [(1, 1, 1, 1), (7, 5, 13, 29), (40, 33, 67, 131)]],
    [(dtype, mode, sizes) for dtype in DTYPES for mode in CD_MODES
     for sizes in [(3, 2, 5, 7), (1, 1, 1, 1), (2, 7, 6, 5)]]))
def test_cd_update_matches_oracle(rng, device, dtype, mode, sizes):
    """CPU: fresh inputs and step sizes, to _tol. CUDA: fixed inputs, the CPU's bits (the same fused
    chains and roundings), the oracle's to RTOL / 10 ATOL."""
    B, C, H, V = sizes
    if device == "cpu":
        params, vel, stats, (lr, mom, wd) = _random_cd_inputs(rng, B, C, H, V, dtype, mode)
        tol = _tol(dtype)
    else:
        params, vel, stats = cd_inputs(21 + H, H, V, B, C, dtype, CD_VARIANT[mode])
        lr, mom, wd = 0.05, 0.5, 0.01
        tol = dict(rtol=RTOL[dtype], atol=ATOL[dtype] * 10)
    got, got_vel = run_cd(kernels(device, "rbm"), params, vel, stats, lr, mom, wd, _to_device(device))
    if device == "cuda":
        want_p, want_m = run_cd(_core.rbm, params, vel, stats, lr, mom, wd, lambda a: a)
        for k in got:
            assert_array_equal(got[k], want_p[k], err_msg=k)
        for k in got_vel:
            assert_array_equal(got_vel[k], want_m[k], err_msg="vel_" + k)
    learned = mode == "gaussian_learned"
    want, want_vel = ref.cd_update(*_f64(params["W"], params["b_h"], params["b_v"]),
                                   _f64(params["log_var"])[0] if learned else None, ref_sigma(params["sigma"]),
                                   {k: _f64(v)[0] for k, v in vel.items()}, *_f64(*stats), lr, mom, wd)
    for k in want:
        assert_allclose(got[k], want[k], err_msg=k, **tol)
        if k in want_vel:
            assert_allclose(got_vel[k], want_vel[k], err_msg="velocity " + k, **tol)
    if not learned:
        assert got["log_var"].size == 0
        assert_array_equal(got["sigma"], params["sigma"])  # sigma untouched


@cuda_only
def test_cd_update_is_scikit_learns_step(cu):
    """momentum = 0, weight_decay = 0: W += lr (h+^T v+ / B - h-^T v- / C), biases by the means."""
    from numba import cuda
    params, vel, stats = cd_inputs(31, 5, 7, 4, 3, np.float64, "bernoulli")
    vel = {k: np.zeros_like(v) for k, v in vel.items()}
    got, _ = run_cd(cu.rbm, params, vel, stats, 0.1, 0.0, 0.0, cuda.to_device)
    Vp, Hp, Vn, Hn = stats
    assert_allclose(got["W"], params["W"] + 0.1 * (Hp.T @ Vp / 4 - Hn.T @ Vn / 3), rtol=1e-12, atol=1e-14)
    assert_allclose(got["b_h"], params["b_h"] + 0.1 * (Hp.mean(0) - Hn.mean(0)), rtol=1e-12, atol=1e-14)
    assert_allclose(got["b_v"], params["b_v"] + 0.1 * (Vp.mean(0) - Vn.mean(0)), rtol=1e-12, atol=1e-14)


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


# =================================================================================================
# Independence of the launch geometry (CUDA) and of the thread count (CPU)
# =================================================================================================

@cuda_only
def test_gpu_geometry_gives_the_same_results(cu, cuda_rbm, monkeypatch):
    """The GPU's 64 x 64 tiles (one block, 256 simulated threads) against the simulator's 4 x 4
    tiles: every element and draw identical, row sums equal to rounding."""
    dtype = np.float32
    W, b_h, b_v, sigma = model(71, 5, 7, dtype, "gaussian")
    V0 = visibles(72, 3, 7, dtype, "gaussian")
    a = (0.3 * b_v).astype(dtype)
    betas = np.linspace(0.0, 1.0, 4)

    def run():
        return ([host(x) for x in cu.rbm.gibbs_hvh(binary(73, 3, 5, dtype), W, b_h, b_v, sigma, 2, 4, 5)],
                host(cu.rbm.free_energy(V0, W, b_h, b_v, sigma)),
                host(cu.rbm.ais(W, b_h, b_v, sigma, a, betas, 3, 6, 7)))

    small = run()
    monkeypatch.setattr(cuda_rbm, "geometry", cuda_rbm.GPU_GEOMETRY)
    big = run()
    for g, w in zip(big[0], small[0]):
        assert_array_equal(g, w)
    assert_allclose(big[1], small[1], rtol=1e-6)
    assert_allclose(big[2], small[2], rtol=1e-12)


def test_results_independent_of_thread_count_subprocess(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(7)
        out = []
        for dt in (np.float32, np.float64):
            H, V, C = 203, 517, 150
            W = (0.1 * rng.standard_normal((H, V))).astype(dt)
            bh, bv = rng.normal(size=H).astype(dt), rng.normal(size=V).astype(dt)
            e = np.zeros(0, dt); sig = rng.uniform(0.5, 2, V).astype(dt)
            V0 = (rng.random((C, V)) < 0.3).astype(dt); H0 = (rng.random((C, H)) < 0.5).astype(dt)
            out += list(_core.rbm.gibbs_vhv(V0, W, bh, bv, e, 7, 11, 3))
            out += list(_core.rbm.gibbs_hvh(H0, W, bh, bv, sig, 3, 11, 3))
            out += [_core.rbm.hidden_probs(V0, W, bh, e), _core.rbm.free_energy(V0, W, bh, bv, sig)]
            out += [_core.rbm.pseudo_likelihood(V0, W, bh, bv, rng.integers(0, V, C).astype(np.int64))]
            Wc, bhc, bvc, lv, sg = W.copy(), bh.copy(), bv.copy(), np.zeros(V, dt), np.ones(V, dt)
            vel = [np.zeros_like(W), np.zeros_like(bh), np.zeros_like(bv), np.zeros(V, dt)]
            _core.rbm.cd_update(Wc, bhc, bvc, lv, sg, *vel, V0, H0, V0[::-1].copy(), H0[:, ::-1].copy(),
                                0.1, 0.5, 1e-3)
            out += [Wc, bhc, bvc, lv, sg] + vel
            out += [_core.rbm.ais(W[:40, :60].copy(), bh[:40].copy(), bv[:60].copy(), e, bv[:60].copy(),
                                  np.linspace(0, 1, 30), 64, 5, 9)]
            out += [np.array(_core.rbm.log_partition(W[:15, :30].copy(), bh[:15].copy(), bv[:30].copy(), e, True))]
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


# =================================================================================================
# Bad input
# =================================================================================================

def _args(H=3, V=4, N=2, dtype=np.float64):
    return (np.zeros((N, V), dtype), np.zeros((H, V), dtype), np.zeros(H, dtype), np.zeros(V, dtype),
            np.zeros(0, dtype))


def test_bad_shapes_are_named():
    X, W, bh, bv, e = _args()
    with pytest.raises(ValueError, match=r"V: expected shape \(\*, 4\)"):
        _core.rbm.hidden_probs(np.zeros((2, 5)), W, bh, e)
    with pytest.raises(ValueError, match=r"b_h: expected shape \(3,\)"):
        _core.rbm.hidden_probs(X, W, np.zeros(4), e)
    with pytest.raises(ValueError, match=r"b_v: expected shape \(4,\)"):
        _core.rbm.visible_means(np.zeros((2, 3)), W, np.zeros(3), e)
    with pytest.raises(ValueError, match="sigma: expected shape"):
        _core.rbm.hidden_probs(X, W, bh, np.ones(3))
    with pytest.raises(ValueError, match="W: need at least one hidden"):
        _core.rbm.hidden_probs(np.zeros((2, 4)), np.zeros((0, 4)), np.zeros(0), e)
    with pytest.raises(TypeError, match="V: expected dtype float64"):
        _core.rbm.hidden_probs(X.astype(np.float32), W, bh, e)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.rbm.hidden_probs(np.zeros((4, 2)).T, W, bh, e)
    with pytest.raises(TypeError, match="W: expected float32 or float64"):
        _core.rbm.hidden_probs(X, W.astype(np.int64), bh, e)


def test_bad_arguments_are_named():
    X, W, bh, bv, e = _args()
    with pytest.raises(ValueError, match="sigma: standard deviations must be positive"):
        _core.rbm.hidden_probs(X, W, bh, np.array([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="sigma: standard deviations must be positive"):
        _core.rbm.hidden_probs(X, W, bh, np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match="n_steps: must be >= 1"):
        _core.rbm.gibbs_vhv(X, W, bh, bv, e, 0, 1, 2)
    with pytest.raises(ValueError, match="flip: index 4 at row 1"):
        _core.rbm.pseudo_likelihood(X, W, bh, bv, np.array([0, 4], dtype=np.int64))
    with pytest.raises(ValueError, match="over_hidden: Gaussian visibles"):
        _core.rbm.log_partition(W, bh, bv, np.ones(4), False)
    with pytest.raises(ValueError, match="too many"):
        _core.rbm.log_partition(np.zeros((31, 2)), np.zeros(31), np.zeros(2), e, True)
    for betas, msg in [([0.0], "at least 2"), ([0.1, 1.0], "start at 0"), ([0.0, 0.9], "end at 1"),
                       ([0.0, 0.6, 0.5, 1.0], "non-decreasing"), ([0.0, np.nan, 1.0], "non-decreasing")]:
        with pytest.raises(ValueError, match=f"betas: .*{msg}"):
            _core.rbm.ais(W, bh, bv, e, bv, np.array(betas), 3, 1, 2)
    with pytest.raises(ValueError, match="n_chains: must be >= 1"):
        _core.rbm.ais(W, bh, bv, e, bv, np.array([0.0, 1.0]), 0, 1, 2)


def test_cd_update_checks_in_place_arguments():
    X, W, bh, bv, e = _args()
    H = np.zeros((2, 3))
    vel = [np.zeros_like(W), np.zeros_like(bh), np.zeros_like(bv), e]
    ro = W.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="W: must be a writeable array"):
        _core.rbm.cd_update(ro, bh, bv, e, e, *vel, X, H, X, H, 0.1, 0.0, 0.0)
    with pytest.raises(ValueError, match="log_var: learned variances need sigma"):
        _core.rbm.cd_update(W, bh, bv, np.zeros(4), e, vel[0], vel[1], vel[2], np.zeros(4), X, H, X, H, 0.1, 0, 0)
    with pytest.raises(ValueError, match=r"H_pos: expected shape \(2, 3\)"):
        _core.rbm.cd_update(W, bh, bv, e, e, *vel, X, np.zeros((3, 3)), X, H, 0.1, 0.0, 0.0)
    with pytest.raises(ValueError, match="need at least one row"):
        _core.rbm.cd_update(W, bh, bv, e, e, *vel, X[:0], H[:0], X, H, 0.1, 0.0, 0.0)
    with pytest.raises(ValueError, match="must be finite"):
        _core.rbm.cd_update(W, bh, bv, e, e, *vel, X, H, X, H, np.nan, 0.0, 0.0)


def _bad_calls(dtype=np.float32):
    W, b_h, b_v, sigma = model(81, 5, 7, dtype, "gaussian")
    e = np.zeros(0, dtype)
    X = visibles(82, 3, 7, dtype, "bernoulli")
    Hs = binary(83, 3, 5, dtype)
    betas = np.linspace(0, 1, 5)
    other = np.float64 if dtype == np.float32 else np.float32
    return [
        ("sigma", "hidden_probs", (X, W, b_h, sigma[:3]), ValueError),
        ("sigma", "hidden_probs", (X, W, b_h, np.where(np.arange(7) == 2, 0, sigma).astype(dtype)), ValueError),
        ("sigma", "sample_visibles", (Hs, W, b_v, -sigma, 1, 2), ValueError),
        ("V", "hidden_probs", (X[:, :6], W, b_h, e), ValueError),
        ("b_h", "hidden_probs", (X, W, b_h[:4], e), ValueError),
        ("b_h", "hidden_probs", (X, W, b_h.astype(other), e), TypeError),
        ("V", "hidden_probs", (X.astype(other), W, b_h, e), TypeError),
        ("W", "hidden_probs", (X, W.astype(np.int64), b_h, e), TypeError),
        ("W", "hidden_probs", (X[:, :0], W[:, :0], b_h, e), ValueError),
        ("Hs", "visible_means", (Hs[:, :4], W, b_v, e), ValueError),
        ("b_v", "visible_means", (Hs, W, b_v[:6], e), ValueError),
        ("n_steps", "gibbs_vhv", (X, W, b_h, b_v, e, 0, 1, 2), ValueError),
        ("n_steps", "gibbs_hvh", (Hs, W, b_h, b_v, e, -1, 1, 2), ValueError),
        ("V0", "gibbs_vhv", (X[:, :5], W, b_h, b_v, e, 1, 1, 2), ValueError),
        ("H0", "gibbs_hvh", (X, W, b_h, b_v, e, 1, 1, 2), ValueError),
        ("flip", "pseudo_likelihood", (X, W, b_h, b_v, np.array([0, 7, 1])), ValueError),
        ("flip", "pseudo_likelihood", (X, W, b_h, b_v, np.array([0, -1, 1])), ValueError),
        ("flip", "pseudo_likelihood", (X, W, b_h, b_v, np.array([0, 1])), ValueError),
        ("flip", "pseudo_likelihood", (X, W, b_h, b_v, np.array([0, 1, 2], dtype=np.int32)), TypeError),
        ("over_hidden", "log_partition", (W, b_h, b_v, sigma, False), ValueError),
        ("over_hidden", "log_partition", (np.zeros((31, 2), dtype), np.zeros(31, dtype), np.zeros(2, dtype), e,
                                              True), ValueError),
        ("betas", "ais", (W, b_h, b_v, sigma, b_v, betas[1:], 3, 1, 2), ValueError),
        ("betas", "ais", (W, b_h, b_v, sigma, b_v, betas[:-1], 3, 1, 2), ValueError),
        ("betas", "ais", (W, b_h, b_v, sigma, b_v, betas[::-1].copy(), 3, 1, 2), ValueError),
        ("betas", "ais", (W, b_h, b_v, sigma, b_v, np.array([0.0, 0.6, 0.4, 1.0]), 3, 1, 2), ValueError),
        ("betas", "ais", (W, b_h, b_v, sigma, b_v, np.array([0.0]), 3, 1, 2), ValueError),
        ("betas", "ais", (W, b_h, b_v, sigma, b_v, betas.astype(np.float32), 3, 1, 2), TypeError),
        ("base_b_v", "ais", (W, b_h, b_v, sigma, b_v[:3], betas, 3, 1, 2), ValueError),
        ("base_b_v", "ais", (W, b_h, b_v, sigma, np.full(7, np.nan, dtype), betas, 3, 1, 2), ValueError),
        ("n_chains", "ais", (W, b_h, b_v, sigma, b_v, betas, 0, 1, 2), ValueError),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_input_on_both_backends(device, case):
    """The same exception type on both backends, its message starting with the argument's name."""
    name, fn, args, exc = _bad_calls()[case]
    with pytest.raises(exc, match="^" + name):
        getattr(kernels(device, "rbm"), fn)(*args)


@cuda_only
def test_bad_seed_and_stream(cu):
    W, b_h, _, sigma = model(84, 5, 7, np.float64, "bernoulli")
    X = visibles(85, 2, 7, np.float64, "bernoulli")
    with pytest.raises(ValueError, match="seed"):
        cu.rbm.sample_hiddens(X, W, b_h, sigma, -1, 0)
    with pytest.raises(ValueError, match="stream"):
        cu.rbm.sample_hiddens(X, W, b_h, sigma, 1, 2**64)


def _cd_args(dtype=np.float32, variant="learned", B=3, C=2):
    from numba import cuda
    params, vel, stats = cd_inputs(91, 5, 7, B, C, dtype, variant)
    p = {k: cuda.to_device(v) for k, v in params.items()}
    m = {k: cuda.to_device(v) for k, v in vel.items()}
    return [p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"], m["log_var"],
            *stats, 0.1, 0.5, 0.01], params, stats


@cuda_only
def test_cd_update_bad_input(cu):
    from numba import cuda
    args, params, stats = _cd_args()
    # In-place arguments must live on the device.
    for i, name in [(0, "W"), (1, "b_h"), (2, "b_v"), (3, "log_var"), (4, "sigma"), (5, "vel_W"), (8, "vel_log_var")]:
        bad = list(args)
        bad[i] = bad[i].copy_to_host()
        with pytest.raises(TypeError, match="^" + name):
            cu.rbm.cd_update(*bad)
    cases = [
        (9, stats[0][:0], ValueError, "V_pos"),  # B = 0 (H_pos then mismatches too: either names it)
        (10, stats[1][:, :4], ValueError, "H_pos"),
        (12, stats[3][:1], ValueError, "H_neg"),
        (3, cuda.to_device(np.zeros(3, np.float32)), ValueError, "log_var"),
        (4, cuda.to_device(np.zeros(0, np.float32)), ValueError, "log_var"),  # learned variances need sigma
        (8, cuda.to_device(np.zeros(0, np.float32)), ValueError, "vel_log_var"),
        (6, cuda.to_device(np.zeros(5, np.float64)), TypeError, "vel_b_h"),
        (13, float("nan"), ValueError, "learning_rate"),
    ]
    for i, value, exc, name in cases:
        bad = list(args)
        bad[i] = value
        if i == 9:
            bad[10] = stats[1][:0]
        with pytest.raises(exc, match="^" + name):
            cu.rbm.cd_update(*bad)
    bad = list(args)
    bad[4] = cuda.to_device(np.zeros(7, np.float32))
    with pytest.raises(ValueError, match="sigma"):
        cu.rbm.cd_update(*bad)


# -------------------------------------------------------------------------------------------------
# The estimators on CUDA (fastgen.rbm): same model, samples and scores as on the CPU


@cuda_only
@pytest.mark.parametrize("estimator,kw", [
    ("BernoulliRBM", dict(algorithm="pcd")),
    ("BernoulliRBM", dict(algorithm="cd", dtype=np.float64)),
    ("GaussianBernoulliRBM", dict(learn_sigma=True)),
])
def test_estimators_on_cuda_match_cpu(estimator, kw):
    rbm_mod = importlib.import_module("fastgen.rbm")
    rng = np.random.default_rng(101)
    gaussian = estimator == "GaussianBernoulliRBM"
    X = rng.normal(size=(8, 7)) if gaussian else (rng.random((8, 7)) < 0.4).astype(np.float64)
    fitted = {}
    for device in ("cpu", "cuda"):
        m = getattr(rbm_mod, estimator)(n_components=5, batch_size=4, n_iter=2, random_state=3, device=device,
                                        **kw).fit(X)
        fitted[device] = (m, {
            "components_": m.components_, "intercept_visible_": m.intercept_visible_, "transform": m.transform(X),
            "sample": m.sample(3, n_gibbs_steps=2, burn_in=2), "gibbs": m.gibbs(X[:2]),
        })
    cpu, gpu = fitted["cpu"], fitted["cuda"]
    for key, value in cpu[1].items():
        assert_array_equal(gpu[1][key], value, err_msg=key)
    assert gpu[0].log_partition() == pytest.approx(cpu[0].log_partition(), rel=SUM_RTOL)
    assert_allclose(gpu[0].score_samples(X), cpu[0].score_samples(X), rtol=1e-6)
    est_g = gpu[0].ais_log_partition(n_chains=3, betas=np.linspace(0, 1, 5), random_state=9)
    est_c = cpu[0].ais_log_partition(n_chains=3, betas=np.linspace(0, 1, 5), random_state=9)
    assert_allclose(est_g, est_c, rtol=1e-9)
