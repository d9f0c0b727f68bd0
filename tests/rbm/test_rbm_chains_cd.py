"""The RBM kernels' Gibbs chains and CD / PCD update on both backends against the NumPy oracle,
their streams, and CUDA against the CPU. Backends, inputs and tolerances: rbm_cases.py.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _core
from reference import rbm as ref
from devices import host, kernels
from rbm_cases import (_assert_draws, ATOL, binary, cases, cd_inputs, cuda_only, DTYPES, _f64, fixed_model,
                       _model, model, MODELS, ref_sigma, RTOL, _sg, SUM_RTOL, _tie, _to_device, _tol,
                       _visibles, visibles)


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


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
