"""The RBM kernels of fastgen._core against the NumPy oracles in tests/reference/rbm.py, on fresh
random inputs, plus their contract properties (Philox indices, thread-count independence) and
their input checks.

Tolerances: float64 rtol 1e-10 (probabilities and means also atol 1e-13: an entry of 1e-30 is not
meaningful to 10 digits); float32 rtol 1e-5 / atol 1e-6 against the float64 oracle run on the
float32 inputs (the kernel's own rounding: dot products of a few hundred terms). Sums of many
terms (free energies, AIS weights, log partition functions) get an absolute floor proportional
to their number of terms. Draws: a Bernoulli draw is compared exactly wherever its uniform is not
within rounding of its probability (|u - p| > 1e-5 in float32, 1e-12 in float64); a Gaussian draw
like a mean.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _core
from reference import rbm as ref
from reference import rng as rng_ref
from conftest import assert_same_on_any_thread_count, assert_sum_close
from devices import kernels
from test_rbm_cuda import _bad_calls

DTYPES = [np.float64, np.float32]
MODELS = ["bernoulli", "gaussian"]
# (N rows, H hidden, V visible): size-1 cases, odd sizes, shapes spanning several register tiles,
# column panels with narrow tails and several row tiles.
SHAPES = [(1, 1, 1), (3, 1, 5), (2, 7, 1), (7, 13, 29), (37, 67, 131), (130, 50, 97)]


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


def _visibles(rng, N, V, dtype, kind):
    if kind == "gaussian":
        return rng.normal(size=(N, V)).astype(dtype)
    return (rng.random((N, V)) < 0.4).astype(dtype)


def _assert_draws(got, want, u, p, dtype):
    """Bernoulli draws equal wherever the uniform is not within rounding of its probability."""
    clear = np.abs(u - p) > _tie(dtype)
    assert_array_equal(got[clear], want[clear])
    assert set(np.unique(got)) <= {0.0, 1.0}


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


# =================================================================================================
# Half-steps
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_hidden_probs_and_visible_means(rng, dtype, kind, shape):
    N, H, V = shape
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
    X = _visibles(rng, N, V, dtype, kind)
    Hs = (rng.random((N, H)) < 0.5).astype(dtype)
    P = _core.rbm.hidden_probs(X, W, b_h, _sg(sigma, dtype))
    assert P.dtype == dtype and P.shape == (N, H)
    _assert_hidden_probs(P, X, W, b_h, sigma, dtype)
    M = _core.rbm.visible_means(Hs, W, b_v, _sg(sigma, dtype))
    assert M.dtype == dtype and M.shape == (N, V)
    _assert_visible_means(M, Hs, W, b_v, sigma, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_sample_half_steps_use_contract_uniforms(rng, dtype, kind, shape):
    N, H, V = shape
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
    X = _visibles(rng, N, V, dtype, kind)
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    P, S = _core.rbm.sample_hiddens(X, W, b_h, _sg(sigma, dtype), seed, stream)
    Pr, Sr, u = ref.sample_hiddens(*_f64(X, W, b_h, sigma), seed, stream)
    _assert_hidden_probs(P, X, W, b_h, sigma, dtype)
    _assert_draws(S, Sr, u, Pr, dtype)

    Hs = (rng.random((N, H)) < 0.5).astype(dtype)
    Vs = _core.rbm.sample_visibles(Hs, W, b_v, _sg(sigma, dtype), seed, stream)
    Vr, u, M = ref.sample_visibles(*_f64(Hs, W, b_v, sigma), seed, stream)
    if kind == "bernoulli":
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


def test_extreme_affine_terms_give_exact_zeros_and_ones_never_nan(rng):
    for dtype in DTYPES:
        W = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], dtype=dtype)
        X = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
        b = np.zeros(3, dtype)
        P = _core.rbm.hidden_probs(X, W, b, np.zeros(0, dtype))
        assert np.isfinite(P).all()
        assert_allclose(P, [[1, 0, 0.5], [0, 1, 0.5]], atol=1e-30 if dtype == np.float64 else 1e-37)
        F = _core.rbm.free_energy(X, W, b, np.zeros(2, dtype), np.zeros(0, dtype))
        assert_allclose(F, ref.free_energy(*_f64(X, W, b, np.zeros(2)), None), rtol=1e-6)
        _, S = _core.rbm.sample_hiddens(X, W, b, np.zeros(0, dtype), 1, 2)
        assert_array_equal(S[:, :2], [[1, 0], [0, 1]])


def test_empty_batch():
    W = np.ones((3, 4))
    P = _core.rbm.hidden_probs(np.zeros((0, 4)), W, np.zeros(3), np.zeros(0))
    assert P.shape == (0, 3)
    V, S = _core.rbm.gibbs_vhv(np.zeros((0, 4)), W, np.zeros(3), np.zeros(4), np.zeros(0), 2, 1, 2)
    assert V.shape == (0, 4) and S.shape == (0, 3)


# =================================================================================================
# Chains
# =================================================================================================

@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 8), (37, 67, 131)])
def test_gibbs_chains_match_oracle_float64(rng, kind, shape):
    """Whole chains, bit for bit (float64: no draw falls within rounding of its probability)."""
    C, H, V = shape
    dtype = np.float64
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
    V0 = _visibles(rng, C, V, dtype, kind)
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    n_steps = int(rng.integers(1, 6))
    v, h = _core.rbm.gibbs_vhv(V0, W, b_h, b_v, _sg(sigma, dtype), n_steps, seed, stream)
    vr, hr = ref.gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream)
    assert_array_equal(h, hr)
    assert_allclose(v, vr, rtol=1e-10, atol=1e-12)
    H0 = (rng.random((C, H)) < 0.5).astype(dtype)
    v, p, h = _core.rbm.gibbs_hvh(H0, W, b_h, b_v, _sg(sigma, dtype), n_steps, seed, stream)
    vr, pr, hr = ref.gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream)
    assert_array_equal(h, hr)
    assert_allclose(v, vr, rtol=1e-10, atol=1e-12)
    assert_allclose(p, pr, rtol=1e-10, atol=1e-13)


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


# =================================================================================================
# CD / PCD update
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["bernoulli", "gaussian_fixed", "gaussian_learned"])
@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (7, 5, 13, 29), (40, 33, 67, 131)])
def test_cd_update_matches_oracle(rng, dtype, mode, sizes):
    B, C, H, V = sizes
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
    Vp, Hp = rng.random((B, V)).astype(dtype), rng.random((B, H)).astype(dtype)
    Vn, Hn = rng.random((C, V)).astype(dtype), rng.random((C, H)).astype(dtype)
    lr, mom, wd = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0, 0.9)), float(rng.uniform(0, 1e-2))
    want, want_vel = ref.cd_update(*_f64(W, b_h, b_v, log_var, sigma), {k: v.astype(np.float64) for k, v in vel.items()},
                                   *_f64(Vp, Hp, Vn, Hn), lr, mom, wd)
    got = {"W": W.copy(), "b_h": b_h.copy(), "b_v": b_v.copy(),
           "log_var": log_var.copy() if log_var is not None else np.zeros(0, dtype),
           "sigma": sigma.copy() if sigma is not None else np.zeros(0, dtype)}
    gv = {k: v.copy() for k, v in vel.items()}
    if log_var is None:
        gv["log_var"] = np.zeros(0, dtype)
    _core.rbm.cd_update(got["W"], got["b_h"], got["b_v"], got["log_var"], got["sigma"], gv["W"], gv["b_h"],
                        gv["b_v"], gv["log_var"], Vp, Hp, Vn, Hn, lr, mom, wd)
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for k in want:
        assert_allclose(got[k], want[k], err_msg=k, **tol)
        if k in want_vel:
            assert_allclose(gv[k], want_vel[k], err_msg="velocity " + k, **tol)
    if log_var is None:
        assert got["log_var"].size == 0


# =================================================================================================
# Free energy, pseudo-likelihood, log partition function, AIS
# =================================================================================================

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_free_energy(rng, dtype, kind, shape):
    N, H, V = shape
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
    X = _visibles(rng, N, V, dtype, kind)
    F = _core.rbm.free_energy(X, W, b_h, b_v, _sg(sigma, dtype))
    want = ref.free_energy(*_f64(X, W, b_h, b_v, sigma))
    scale = np.abs(W).sum() + np.abs(b_h).sum() + np.abs(b_v).sum() + np.abs(X).sum(1) * 4
    assert_allclose(F, want, rtol=_tol(dtype)["rtol"], atol=(1e-14 if dtype == np.float64 else 1e-6) * scale.max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_pseudo_likelihood(rng, dtype, shape):
    N, H, V = shape
    W, b_h, b_v, _ = _model(rng, H, V, dtype, "bernoulli")
    X = rng.random((N, V)).astype(dtype)  # scikit-learn allows probabilities
    flip = rng.integers(0, V, N).astype(np.int64)
    got = _core.rbm.pseudo_likelihood(X, W, b_h, b_v, flip)
    want = ref.pseudo_likelihood(*_f64(X, W, b_h, b_v), flip)
    assert_allclose(got, want, rtol=_tol(dtype)["rtol"] * 10, atol=(1e-12 if dtype == np.float64 else 1e-4) * V)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("HV", [(1, 1), (1, 9), (5, 1), (10, 12), (13, 40), (16, 3)])
def test_log_partition_exact(rng, dtype, kind, HV):
    H, V = HV
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind, scale=1.0)
    want = ref.log_partition(*_f64(W, b_h, b_v, sigma), over_hidden=True)
    got = _core.rbm.log_partition(W, b_h, b_v, _sg(sigma, dtype), True)
    assert isinstance(got, float)
    assert_allclose(got, want, rtol=1e-12, atol=1e-12 * (H + V))
    if kind == "bernoulli" and V <= 16:
        got_v = _core.rbm.log_partition(W, b_h, b_v, _sg(sigma, dtype), False)
        assert_allclose(got_v, want, rtol=1e-12, atol=1e-12 * (H + V))


def test_log_partition_large_weights_no_overflow(rng):
    W = (30 * rng.standard_normal((8, 10)))
    got = _core.rbm.log_partition(W, np.zeros(8), np.zeros(10), np.zeros(0), True)
    assert np.isfinite(got)
    assert_allclose(got, ref.log_partition(W, np.zeros(8), np.zeros(10)), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (6, 7, 11), (33, 50, 70)])
def test_ais_log_weights_match_oracle(rng, dtype, kind, shape):
    C, H, V = shape
    W, b_h, b_v, sigma = _model(rng, H, V, dtype, kind)
    a = rng.normal(size=V).astype(dtype)
    betas = np.unique(np.r_[0.0, np.sort(rng.random(int(rng.integers(1, 15)))), 1.0])
    betas = np.r_[betas[:2], betas[1:]]  # a repeated temperature (zero increment) is allowed
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    got = _core.rbm.ais(W, b_h, b_v, _sg(sigma, dtype), a, betas, C, seed, stream)
    assert got.dtype == np.float64 and got.shape == (C,)
    want = ref.ais(*_f64(W, b_h, b_v, sigma, a), betas, C, seed, stream)
    if dtype == np.float64:
        assert_allclose(got, want, rtol=1e-10, atol=1e-10 * (H + V))
    else:
        # A float32 transition probability within rounding of its uniform may flip a draw and
        # change that chain's path; compare the chains whose draws were all clear.
        close = np.isclose(got, want, rtol=1e-4, atol=1e-4 * (H + V))
        assert close.mean() >= 0.9, (got, want)


def test_ais_single_temperature_step_is_exact_importance_sampling(rng):
    """betas = [0, 1]: log_w = log p*_1(v) - log p*_0(v) for v drawn from the base model."""
    H, V, C = 4, 6, 50
    W, b_h, b_v, _ = _model(rng, H, V, np.float64, "bernoulli")
    a = rng.normal(size=V)
    lw = _core.rbm.ais(W, b_h, b_v, np.zeros(0), a, np.array([0.0, 1.0]), C, 7, 0)
    v = (ref.uniforms(7, 0, np.arange(C * V).reshape(C, V)) < 1 / (1 + np.exp(-a))).astype(float)
    want = -ref.free_energy(v, W, b_h, b_v) - (v @ a + H * np.log(2))
    assert_allclose(lw, want, rtol=1e-12, atol=1e-12)


# =================================================================================================
# Same results on any thread count
# =================================================================================================

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


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_input_on_both_backends(device, case):
    """The same exception type on both backends, its message starting with the argument's name."""
    name, fn, args, exc = _bad_calls()[case]
    with pytest.raises(exc, match="^" + name):
        getattr(kernels(device, "rbm"), fn)(*args)
