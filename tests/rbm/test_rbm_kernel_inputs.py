"""The RBM kernels' results do not depend on CUDA's launch geometry or the CPU's thread count, the
bindings name their bad input, and the estimators on CUDA match the CPU. Backends, inputs and
tolerances: rbm_cases.py.
"""
from __future__ import annotations

import importlib
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _core
from conftest import assert_same_on_any_thread_count
from devices import host, kernels
from rbm_cases import binary, cd_inputs, cuda_only, model, SUM_RTOL, visibles


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def cuda_rbm():
    return importlib.import_module("fastgen._cuda.rbm")


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
