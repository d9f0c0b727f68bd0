"""CUDA RBM kernels (fastgen._cuda.rbm) against the C++ kernels (fastgen._core) and the NumPy
oracles in tests/reference/rbm.py.

Runs under Numba's CUDA simulator in CI (NUMBA_ENABLE_CUDASIM=1) and on a GPU when one is lent.
The simulator runs one Python thread per CUDA thread, so shapes are tiny (V = 7, H = 5, a few
rows) -- but the simulator's tiles are 4 x 4 (rbm.SIM_GEOMETRY), so these shapes still cross tile
boundaries in every direction, and one test reruns the kernels with the GPU's tiling.

What "same" means here (csrc/KERNELS.md, rbm.py's docstring):
- against the CPU: probabilities, visible means, products and every draw are bit-identical (both
  backends compute each element as the same k-ordered fused multiply-add chain and the same
  sigmoid; the module's exactly rounded FMA makes the simulator compute what the GPU would);
  float64 row sums (free energies, AIS weights, log Z) add in a different order: 1e-12 relative;
- against the float64 NumPy oracle: float64 to 1e-10, float32 to 1e-5 relative, and draws equal
  wherever the uniform is not within rounding of its probability.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _backend
from reference import rbm as ref

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]

DTYPES = (np.float64, np.float32)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
ATOL = {np.float64: 1e-12, np.float32: 1e-6}
SUM_RTOL = 1e-12  # float64 row sums of the two backends (different addition order)
SHAPES = [(5, 7, 3), (1, 1, 1), (4, 3, 6)]  # (H, V, N): odd sizes, size 1, more rows than one tile
MODELS = ("bernoulli", "gaussian")


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_rbm():
    return importlib.import_module("fastgen._cuda.rbm")


@pytest.fixture(scope="module")
def core():
    mod = pytest.importorskip("fastgen._core")
    if not hasattr(mod, "rbm"):
        pytest.skip("fastgen._core has no RBM kernels")
    return mod


def host(a):
    return None if a is None else _backend.to_host(a)


def model(seed, H, V, dtype, kind, *, scale=1.0):
    """(W, b_h, b_v, sigma) in dtype; sigma empty (Bernoulli) or in [0.5, 2] (Gaussian)."""
    rng = np.random.default_rng(seed)
    W = (scale * rng.normal(size=(H, V))).astype(dtype)
    b_h = rng.normal(size=H).astype(dtype)
    b_v = rng.normal(size=V).astype(dtype)
    sigma = rng.uniform(0.5, 2.0, size=V).astype(dtype) if kind == "gaussian" else np.zeros(0, dtype)
    return W, b_h, b_v, sigma


def visibles(seed, N, V, dtype, kind):
    """Binary rows (Bernoulli) or real rows (Gaussian)."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return rng.normal(size=(N, V)).astype(dtype)
    return (rng.random((N, V)) < 0.5).astype(dtype)


def binary(seed, N, H, dtype):
    return (np.random.default_rng(seed).random((N, H)) < 0.5).astype(dtype)


def f64(*arrays):
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def ref_sigma(sigma):
    return None if sigma.size == 0 else sigma.astype(np.float64)


def assert_draws_match(S, P_ref, u, tol):
    """Bernoulli draws equal `u < p_ref` except where u lies within tol of p_ref (rounding)."""
    clear = np.abs(u - P_ref) > tol
    assert_array_equal(S[clear], (u < P_ref).astype(S.dtype)[clear])


# -------------------------------------------------------------------------------------------------
# Conditionals and single half-steps


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("H,V,N", SHAPES)
def test_hidden_probs_bitwise_cpu_and_oracle(cu, core, dtype, kind, H, V, N):
    W, b_h, _, sigma = model(1 + H, H, V, dtype, kind)
    X = np.random.default_rng(N).normal(size=(N, V)).astype(dtype)  # real inputs: every product rounds
    P = host(cu.rbm.hidden_probs(X, W, b_h, sigma))
    assert P.dtype == dtype and P.shape == (N, H)
    assert_array_equal(P, core.rbm.hidden_probs(X, W, b_h, sigma))
    Xr, Wr, br = f64(X, W, b_h)
    assert_allclose(P, ref.hidden_probs(Xr, Wr, br, ref_sigma(sigma)), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("H,V,N", SHAPES)
def test_visible_means_bitwise_cpu_and_oracle(cu, core, dtype, kind, H, V, N):
    W, _, b_v, sigma = model(2 + V, H, V, dtype, kind)
    Hr = np.random.default_rng(N).random((N, H)).astype(dtype)  # probabilities as input
    M = host(cu.rbm.visible_means(Hr, W, b_v, sigma))
    assert M.dtype == dtype and M.shape == (N, V)
    assert_array_equal(M, core.rbm.visible_means(Hr, W, b_v, sigma))
    Hh, Wr, br = f64(Hr, W, b_v)
    assert_allclose(M, ref.visible_means(Hh, Wr, br, ref_sigma(sigma)), rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_sigmoid_matches_cpu(cu, core, dtype):
    """|affine terms| far past the sigmoid's clamp (87 in float32, 708/709 in float64): p is the
    clamped value (tiny but positive, or 1), bit for bit the CPU's, and so are the draws.

    (Beyond the clamp the CPU returns a constant GCC folded without fusing -- in float32 an ulp
    from the fused value at exactly -87 -- and the CUDA kernels return the same constant.)"""
    W, b_h, b_v, sigma = model(7, 5, 7, dtype, "bernoulli", scale=400.0)
    X = visibles(8, 4, 7, dtype, "bernoulli")
    P, S = map(host, cu.rbm.sample_hiddens(X, W, b_h, sigma, 3, 1))
    Pc, Sc = core.rbm.sample_hiddens(X, W, b_h, sigma, 3, 1)
    assert_array_equal(P, Pc)
    assert_array_equal(S, Sc)
    assert np.isfinite(P).all() and (P > 0).all() and (P <= 1).all()
    M = host(cu.rbm.visible_means(S, W, b_v, sigma))
    assert_array_equal(M, core.rbm.visible_means(S, W, b_v, sigma))
    far = 88.0 if dtype == np.float32 else 750.0  # past the clamp (87; -708 / 709)
    Xd = np.array([[-1e4], [-2 * far], [-far], [far], [1e4]], dtype)
    edge = np.array([[-87.0 if dtype == np.float32 else -709.0]], dtype)
    one, zero = np.ones((1, 1), dtype), np.zeros(1, dtype)
    P1 = host(cu.rbm.hidden_probs(Xd, one, zero, sigma))[:, 0]
    assert P1[0] == P1[1] == P1[2] > 0 and P1[3] == P1[4] == 1  # saturated: the clamp's value
    assert_array_equal(P1, core.rbm.hidden_probs(Xd, one, zero, sigma)[:, 0])
    assert_array_equal(host(cu.rbm.hidden_probs(edge, one, zero, sigma)), core.rbm.hidden_probs(edge, one, zero, sigma))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("H,V,N", SHAPES[:2])
def test_sample_hiddens(cu, core, dtype, kind, H, V, N):
    W, b_h, _, sigma = model(3, H, V, dtype, kind)
    X = visibles(4, N, V, dtype, kind)
    seed, stream = 12345, 6
    P, S = map(host, cu.rbm.sample_hiddens(X, W, b_h, sigma, seed, stream))
    Pc, Sc = core.rbm.sample_hiddens(X, W, b_h, sigma, seed, stream)
    assert_array_equal(P, Pc)
    assert_array_equal(S, Sc)
    assert set(np.unique(S)) <= {0.0, 1.0}
    Xr, Wr, br = f64(X, W, b_h)
    P_ref, _, u = ref.sample_hiddens(Xr, Wr, br, ref_sigma(sigma), seed, stream)
    assert_allclose(P, P_ref, rtol=RTOL[dtype], atol=ATOL[dtype])
    assert_draws_match(S, P_ref, u, 10 * ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("H,V,N", SHAPES[:2])
def test_sample_visibles(cu, core, dtype, kind, H, V, N):
    W, _, b_v, sigma = model(5, H, V, dtype, kind)
    Hs = binary(6, N, H, dtype)
    seed, stream = 2**40 + 3, 2**33 + 1  # both key words and both stream words nonzero
    S = host(cu.rbm.sample_visibles(Hs, W, b_v, sigma, seed, stream))
    assert S.dtype == dtype and S.shape == (N, V)
    assert_array_equal(S, core.rbm.sample_visibles(Hs, W, b_v, sigma, seed, stream))
    Hh, Wr, br = f64(Hs, W, b_v)
    S_ref, u, M_ref = ref.sample_visibles(Hh, Wr, br, ref_sigma(sigma), seed, stream)
    if kind == "gaussian":
        assert_allclose(S, S_ref, rtol=RTOL[dtype], atol=ATOL[dtype] * 10)
    else:
        assert_draws_match(S, M_ref, u, 10 * ATOL[dtype])


def test_draws_follow_the_element_index(cu):
    """Element (n, j) of a hidden draw uses u[n H + j] of the stream: compare with rng.uniform."""
    H, V, N = 5, 3, 4
    W, b_h, _, sigma = model(9, H, V, np.float64, "bernoulli")
    X = visibles(10, N, V, np.float64, "bernoulli")
    P, S = map(host, cu.rbm.sample_hiddens(X, W, b_h, sigma, 77, 5))
    u = host(cu.rng.uniform(77, 5, N * H)).reshape(N, H)
    assert_array_equal(S, (u < P).astype(np.float64))


# -------------------------------------------------------------------------------------------------
# Gibbs chains


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("n_steps", [1, 3])
def test_gibbs_vhv(cu, core, dtype, kind, n_steps):
    H, V, C = 5, 7, 3
    W, b_h, b_v, sigma = model(11, H, V, dtype, kind)
    V0 = visibles(12, C, V, dtype, kind)
    seed, stream = 99, 4
    Vs, Hs = map(host, cu.rbm.gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream))
    Vc, Hc = core.rbm.gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream)
    assert_array_equal(Vs, Vc)
    assert_array_equal(Hs, Hc)
    if dtype == np.float64:  # the oracle's chain (float64) takes the same path
        V_ref, H_ref = ref.gibbs_vhv(*f64(V0, W, b_h, b_v), ref_sigma(sigma), n_steps, seed, stream)
        assert_array_equal(Hs, H_ref)
        assert_allclose(Vs, V_ref, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("n_steps", [1, 2])
def test_gibbs_hvh(cu, core, dtype, kind, n_steps):
    H, V, C = 5, 7, 3
    W, b_h, b_v, sigma = model(13, H, V, dtype, kind)
    H0 = binary(14, C, H, dtype)
    seed, stream = 2024, 10
    Vs, P, Hs = map(host, cu.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream))
    Vc, Pc, Hc = core.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream)
    assert_array_equal(Vs, Vc)
    assert_array_equal(P, Pc)
    assert_array_equal(Hs, Hc)
    if dtype == np.float64:
        V_ref, P_ref, H_ref = ref.gibbs_hvh(*f64(H0, W, b_h, b_v), ref_sigma(sigma), n_steps, seed, stream)
        assert_array_equal(Hs, H_ref)
        assert_allclose(P, P_ref, rtol=RTOL[dtype], atol=ATOL[dtype])
        assert_allclose(Vs, V_ref, rtol=RTOL[dtype], atol=ATOL[dtype])


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


def test_gibbs_stream_wraparound_matches_cpu(cu, core):
    W, b_h, b_v, sigma = model(17, 5, 7, np.float64, "bernoulli")
    H0 = binary(18, 3, 5, np.float64)
    stream = 2**64 - 2
    got = [host(a) for a in cu.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 3, 2**64 - 1, stream)]
    want = core.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 3, 2**64 - 1, stream)
    for g, w in zip(got, want):
        assert_array_equal(g, w)


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


def test_fresh_random_models_match_cpu(cu, core, rng):
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
        want = core.rbm.gibbs_hvh(H0, W, b_h, b_v, sigma, 2, seed, stream)
        for g, w in zip(got, want):
            assert_array_equal(g, w)
        X = got[0]
        assert_allclose(host(cu.rbm.free_energy(X, W, b_h, b_v, sigma)), core.rbm.free_energy(X, W, b_h, b_v, sigma),
                        rtol=SUM_RTOL if dtype == np.float64 else 1e-6, atol=1e-12)


# -------------------------------------------------------------------------------------------------
# CD / PCD update


def cd_inputs(seed, H, V, B, C, dtype, variant):
    """Parameters, velocities and statistics of one update. variant: bernoulli, gaussian (fixed
    sigma), learned (Gaussian with learned log-variances)."""
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


def run_cd(kernels, params, vel, stats, lr, momentum, decay, to_device):
    p = {k: to_device(v.copy()) for k, v in params.items()}
    m = {k: to_device(v.copy()) for k, v in vel.items()}
    kernels.rbm.cd_update(p["W"], p["b_h"], p["b_v"], p["log_var"], p["sigma"], m["W"], m["b_h"], m["b_v"],
                          m["log_var"], *stats, lr, momentum, decay)
    return {k: host(v) for k, v in p.items()}, {k: host(v) for k, v in m.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ["bernoulli", "gaussian", "learned"])
@pytest.mark.parametrize("H,V,B,C", [(5, 7, 3, 2), (1, 1, 1, 1), (6, 5, 2, 7)])
def test_cd_update(cu, core, dtype, variant, H, V, B, C):
    from numba import cuda
    params, vel, stats = cd_inputs(21 + H, H, V, B, C, dtype, variant)
    lr, momentum, decay = 0.05, 0.5, 0.01
    got_p, got_m = run_cd(cu, params, vel, stats, lr, momentum, decay, cuda.to_device)
    want_p, want_m = run_cd(core, params, vel, stats, lr, momentum, decay, lambda a: a)
    for k in got_p:  # the same fused chains and roundings as the CPU: identical bits
        assert_array_equal(got_p[k], want_p[k], err_msg=k)
    for k in got_m:
        assert_array_equal(got_m[k], want_m[k], err_msg="vel_" + k)
    # Against the oracle (float64 formulas).
    learned = variant == "learned"
    new, new_vel = ref.cd_update(*f64(params["W"], params["b_h"], params["b_v"]),
                                 f64(params["log_var"])[0] if learned else None,
                                 ref_sigma(params["sigma"]), {k: f64(v)[0] for k, v in vel.items()},
                                 *f64(*stats), lr, momentum, decay)
    for k, v in new.items():
        assert_allclose(got_p[k], v, rtol=RTOL[dtype], atol=ATOL[dtype] * 10, err_msg=k)
    for k, v in new_vel.items():
        assert_allclose(got_m[k], v, rtol=RTOL[dtype], atol=ATOL[dtype] * 10, err_msg="vel_" + k)
    if not learned:  # sigma untouched
        assert_array_equal(got_p["sigma"], params["sigma"])


def test_cd_update_is_scikit_learns_step(cu):
    """momentum = 0, weight_decay = 0: W += lr (h+^T v+ / B - h-^T v- / C), biases by the means."""
    from numba import cuda
    params, vel, stats = cd_inputs(31, 5, 7, 4, 3, np.float64, "bernoulli")
    vel = {k: np.zeros_like(v) for k, v in vel.items()}
    got, _ = run_cd(cu, params, vel, stats, 0.1, 0.0, 0.0, cuda.to_device)
    Vp, Hp, Vn, Hn = stats
    assert_allclose(got["W"], params["W"] + 0.1 * (Hp.T @ Vp / 4 - Hn.T @ Vn / 3), rtol=1e-12, atol=1e-14)
    assert_allclose(got["b_h"], params["b_h"] + 0.1 * (Hp.mean(0) - Hn.mean(0)), rtol=1e-12, atol=1e-14)
    assert_allclose(got["b_v"], params["b_v"] + 0.1 * (Vp.mean(0) - Vn.mean(0)), rtol=1e-12, atol=1e-14)


# -------------------------------------------------------------------------------------------------
# Free energy, pseudo-likelihood


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("H,V,N", SHAPES)
def test_free_energy(cu, core, dtype, kind, H, V, N):
    W, b_h, b_v, sigma = model(41, H, V, dtype, kind)
    X = visibles(42, N, V, dtype, kind)
    F = host(cu.rbm.free_energy(X, W, b_h, b_v, sigma))
    assert F.dtype == dtype and F.shape == (N,)
    assert_allclose(F, core.rbm.free_energy(X, W, b_h, b_v, sigma), rtol=SUM_RTOL if dtype == np.float64 else 1e-6)
    F_ref = ref.free_energy(*f64(X, W, b_h, b_v), ref_sigma(sigma))
    assert_allclose(F, F_ref, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("H,V,N", SHAPES)
def test_pseudo_likelihood(cu, core, dtype, H, V, N):
    W, b_h, b_v, _ = model(43, H, V, dtype, "bernoulli", scale=3.0)
    X = visibles(44, N, V, dtype, "bernoulli")
    flip = np.random.default_rng(45).integers(0, V, size=N).astype(np.int64)
    flip[0] = V - 1
    L = host(cu.rbm.pseudo_likelihood(X, W, b_h, b_v, flip))
    assert L.dtype == dtype and L.shape == (N,)
    assert_allclose(L, core.rbm.pseudo_likelihood(X, W, b_h, b_v, flip), rtol=SUM_RTOL if dtype == np.float64 else 1e-6)
    assert_allclose(L, ref.pseudo_likelihood(*f64(X, W, b_h, b_v), flip), rtol=RTOL[dtype], atol=ATOL[dtype])
    assert (L <= 0).all()


@pytest.mark.parametrize("fn", ["hidden_probs", "sample_hiddens", "visible_means", "sample_visibles", "free_energy",
                                "pseudo_likelihood", "gibbs_vhv", "gibbs_hvh"])
def test_no_rows(cu, core, fn):
    """N = 0 rows: empty results of the right shape and dtype, as on the CPU."""
    dtype = np.float32
    W, b_h, b_v, sigma = model(47, 5, 7, dtype, "bernoulli")
    X0, H0 = np.zeros((0, 7), dtype), np.zeros((0, 5), dtype)
    args = {
        "hidden_probs": (X0, W, b_h, sigma), "sample_hiddens": (X0, W, b_h, sigma, 1, 2),
        "visible_means": (H0, W, b_v, sigma), "sample_visibles": (H0, W, b_v, sigma, 1, 2),
        "free_energy": (X0, W, b_h, b_v, sigma), "pseudo_likelihood": (X0, W, b_h, b_v, np.zeros(0, np.int64)),
        "gibbs_vhv": (X0, W, b_h, b_v, sigma, 2, 1, 2), "gibbs_hvh": (H0, W, b_h, b_v, sigma, 2, 1, 2),
    }[fn]
    got = getattr(cu.rbm, fn)(*args)
    want = getattr(core.rbm, fn)(*args)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want):
        g = host(g)
        assert g.shape == w.shape and g.dtype == w.dtype


# -------------------------------------------------------------------------------------------------
# Log partition function


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,over_hidden", [("bernoulli", True), ("bernoulli", False), ("gaussian", True)])
@pytest.mark.parametrize("H,V", [(5, 7), (1, 1), (7, 3)])
def test_log_partition(cu, core, dtype, kind, over_hidden, H, V):
    W, b_h, b_v, sigma = model(51, H, V, dtype, kind)
    got = cu.rbm.log_partition(W, b_h, b_v, sigma, over_hidden)
    assert isinstance(got, float)
    assert got == pytest.approx(core.rbm.log_partition(W, b_h, b_v, sigma, over_hidden), rel=SUM_RTOL)
    want = ref.log_partition(*f64(W, b_h, b_v), ref_sigma(sigma), over_hidden)
    assert got == pytest.approx(want, rel=1e-10)


def test_log_partition_both_layers_agree(cu):
    W, b_h, b_v, sigma = model(52, 6, 5, np.float64, "bernoulli", scale=2.0)
    assert cu.rbm.log_partition(W, b_h, b_v, sigma, True) == pytest.approx(
        cu.rbm.log_partition(W, b_h, b_v, sigma, False), rel=1e-12)


def test_log_partition_grid_stride_and_two_level_merge(cu, cuda_rbm, monkeypatch):
    """Fewer threads than Gray blocks (each thread walks several) and more blocks than one merge
    group: the same value."""
    W, b_h, b_v, sigma = model(53, 7, 4, np.float64, "gaussian")
    want = cu.rbm.log_partition(W, b_h, b_v, sigma, True)
    monkeypatch.setattr(cuda_rbm, "geometry", cuda_rbm.geometry._replace(logz_bits=1, logz_threads=5))
    monkeypatch.setattr(cuda_rbm, "_LOGZ_MERGE_GROUP", 3)
    assert cu.rbm.log_partition(W, b_h, b_v, sigma, True) == pytest.approx(want, rel=1e-13)


# -------------------------------------------------------------------------------------------------
# Annealed importance sampling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("H,V,C", [(5, 7, 3), (1, 1, 1)])
def test_ais(cu, core, dtype, kind, H, V, C):
    W, b_h, b_v, sigma = model(61, H, V, dtype, kind)
    a = (0.5 * b_v).astype(dtype)
    betas = np.array([0.0, 0.1, 0.35, 0.35, 0.8, 1.0])  # a repeated temperature among them
    seed, stream = 17, 3
    lw = host(cu.rbm.ais(W, b_h, b_v, sigma, a, betas, C, seed, stream))
    assert lw.dtype == np.float64 and lw.shape == (C,)
    assert_allclose(lw, core.rbm.ais(W, b_h, b_v, sigma, a, betas, C, seed, stream), rtol=SUM_RTOL, atol=1e-12)
    lw_ref = ref.ais(*f64(W, b_h, b_v), ref_sigma(sigma), f64(a)[0], betas, C, seed, stream)
    # float32: x_j is rounded to float32 before the float64 softplus sums.
    assert_allclose(lw, lw_ref, rtol=RTOL[dtype], atol=1e-10 if dtype == np.float64 else 1e-4)


def test_ais_single_step_is_exact_ratio(cu):
    """betas = (0, 1): log_w = log p*_1(v) - log p*_0(v) for v ~ A, i.e. -F(v) + a.v - H log 2 for
    Bernoulli visibles, with v the base draw of stream + 0."""
    dtype = np.float64
    H, V, C = 5, 7, 4
    W, b_h, b_v, sigma = model(62, H, V, dtype, "bernoulli")
    a = np.random.default_rng(63).normal(size=V)
    lw = host(cu.rbm.ais(W, b_h, b_v, sigma, a, np.array([0.0, 1.0]), C, 5, 9))
    u = ref.uniforms(5, 9, np.arange(C * V).reshape(C, V))
    v = (u < 1.0 / (1.0 + np.exp(-a))).astype(float)
    want = -ref.free_energy(v, W, b_h, b_v) - v @ a - H * np.log(2.0)
    assert_allclose(lw, want, rtol=1e-12)


# -------------------------------------------------------------------------------------------------
# Independence of the launch geometry


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


# -------------------------------------------------------------------------------------------------
# Bad input: the same exception type as the CPU, naming the argument (the cases, _bad_calls, run
# on both backends in test_rbm_kernels.test_bad_input_on_both_backends)


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


@pytest.mark.parametrize("estimator,kw", [
    ("BernoulliRBM", dict(algorithm="pcd")),
    ("BernoulliRBM", dict(algorithm="cd", dtype=np.float64)),
    ("GaussianBernoulliRBM", dict(learn_sigma=True)),
])
def test_estimators_on_cuda_match_cpu(core, estimator, kw):
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
