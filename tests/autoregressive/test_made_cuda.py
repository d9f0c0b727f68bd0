"""CUDA MADE kernels (fastgen._cuda.autoregressive.made) against the C++ kernels and the NumPy oracle
(tests/reference/made.py): the same contract, tiny shapes (the simulator runs one Python thread per
CUDA thread). The one-hot first layer runs from indices on both devices (CUDA always; the CPU for
V >= 10, and as a dense product below), so V = 3 and V = 11 compare both CPU paths with the GPU's.

Tolerances: float64 1e-10 against the oracle and the CPU (a sum's error against its terms'
magnitude, conftest.assert_sum_close), float32 1e-5; parameters after a step as in
tests/nn/nn_checks.assert_params_close.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import assert_sum_close
from fastgen import _backend
from reference import made as ref
from test_made_kernels import Made, SLOPE, _f64, _rtol, named
from nn.nn_checks import _assert_state, _grad_tol, assert_params_close

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]

DTYPES = (np.float64, np.float32)
# (output, n_out, D, hidden): every output type, no hidden layer, one-hot inputs with V < 10 and V >= 10
MODELS = [("bernoulli", 1, 4, (6,)), ("categorical", 3, 3, (5,)), ("categorical", 11, 2, ()),
          ("gaussian_mixture", 2, 2, (5, 4))]


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


def host(a):
    return _backend.to_host(a)


def dev(a):
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(a))


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_match_cpu_and_oracle(cu, core, rng, dtype):
    N, D, n = 3, 2, 3
    Z = (2 * rng.standard_normal((N, D * n))).astype(dtype)
    X = rng.integers(0, n, (N, D)).astype(dtype)
    loss, dZ = map(host, cu.autoregressive.categorical_nll(Z, X, 0.5))
    assert loss.dtype == np.float64 and dZ.dtype == dtype
    want, dwant = ref.categorical_nll(*_f64(Z, X), 0.5)
    assert_sum_close(loss, want, np.abs(want) + 10, _rtol(dtype))
    assert_sum_close(dZ, dwant, np.full(dZ.shape, 0.5), 4 * _rtol(dtype))
    lc, dc = core.autoregressive.categorical_nll(Z, X, 0.5)
    assert_sum_close(loss, lc, np.abs(lc) + 10, _rtol(dtype))
    assert_sum_close(dZ, dc, np.full(dZ.shape, 0.5), 4 * _rtol(dtype))

    Z = np.concatenate([rng.standard_normal((N, D, 2, n)), rng.uniform(-1, 0.5, (N, D, 1, n))], axis=2)
    Z = Z.reshape(N, -1).astype(dtype)
    X = rng.standard_normal((N, D)).astype(dtype)
    loss, dZ = map(host, cu.autoregressive.gaussian_mixture_nll(dev(Z), dev(X), 0.5))  # device-resident input
    want, dwant = ref.gaussian_mixture_nll(*_f64(Z, X), 0.5)
    lc, dc = core.autoregressive.gaussian_mixture_nll(Z, X, 0.5)
    for a, b in ((loss, want), (loss, lc)):
        assert_sum_close(a, b, np.abs(b) + 10, 4 * _rtol(dtype))
    for a, b in ((dZ, dwant), (dZ, dc)):
        assert_sum_close(a, b, np.full(dZ.shape, 0.5 * np.abs(dwant).max() + 1), 4 * _rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, n_out, D, hidden", MODELS)
def test_logprob_and_step_match_cpu(cu, core, rng, dtype, output, n_out, D, hidden):
    md = Made(rng, D, hidden, output, n_out, dtype)
    X = md.data(rng, 5)
    lp = host(cu.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, md.code, n_out))
    assert lp.dtype == np.float64 and lp.shape == (5,)
    want = ref.made_logprob(*_f64(md.masked), md.sizes, md.acts, SLOPE, *_f64(X), md.code, n_out)
    tol = 40 * _rtol(dtype)
    assert_allclose(lp, want, rtol=tol, atol=tol * D)
    assert_allclose(lp, core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, md.code, n_out), rtol=tol, atol=tol * D)

    hp = np.array([1e-2, 0.9, 0.99, 1e-8, 1e-3, 0.0])
    th, m, v = (dev(a) for a in (md.theta, np.zeros_like(md.theta), np.zeros_like(md.theta)))
    out = host(cu.autoregressive.made_step(th, m, v, md.sz, md.ac, SLOPE, md.mask, X, md.code, n_out, 1, 0, hp))
    thc, mc, vc = md.theta.copy(), np.zeros_like(md.theta), np.zeros_like(md.theta)
    outc = core.autoregressive.made_step(thc, mc, vc, md.sz, md.ac, SLOPE, md.mask, X, md.code, n_out, 1, 0, hp)
    assert out.dtype == np.float64 and out.shape == (1,)
    assert_allclose(out, outc, rtol=tol, atol=tol * D)
    _, g = ref.made_gradient(*_f64(md.theta), md.sizes, md.acts, SLOPE, *_f64(md.mask, X), md.code, n_out)
    gtol = 2 * _grad_tol(g, _rtol(dtype), len(hidden) + 3)
    assert_params_close(host(th), thc, md.theta, gtol, 0, hp, 1, mc, vc, _rtol(dtype), "theta")
    _assert_state(host(m), host(v), mc, vc, gtol, 0, hp, _rtol(dtype), "Adam state")


def test_step_with_sgd_and_device_data(cu, core, rng):
    """SGD-momentum, data already on the device, masked weights untouched."""
    md = Made(rng, 3, (4,), "categorical", 11, np.float64)
    X = md.data(rng, 4)
    hp = np.array([0.1, 0.9, 0.99, 1e-8, 0.0, 0.5])
    th, m = dev(md.theta), dev(np.zeros_like(md.theta))
    cu.autoregressive.made_step(th, m, dev(np.zeros(0)), md.sz, md.ac, SLOPE, dev(md.mask), dev(X), 1, 11, 1, 1, hp)
    thc, mc = md.theta.copy(), np.zeros_like(md.theta)
    core.autoregressive.made_step(thc, mc, np.zeros(0), md.sz, md.ac, SLOPE, md.mask, X, 1, 11, 1, 1, hp)
    assert_sum_close(host(th), thc, np.abs(md.theta) + 1, 1e-10)
    off = md.mask == 0
    assert (host(th)[off] == md.theta[off]).all()


def test_bad_input_is_named(cu, rng):
    md = Made(rng, 3, (4,), "categorical", 3, np.float64)
    X = md.data(rng, 4)
    X[2, 1] = 3.0
    hp = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0])
    for data in (X, dev(X)):  # checked on the host, and on the device (flag read back)
        with pytest.raises(ValueError, match=named("X") + r".*category index.*\(2, 1\)"):
            cu.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, data, 1, 3)
        with pytest.raises(ValueError, match=named("X") + r".*\(2, 1\)"):
            cu.autoregressive.made_step(dev(md.theta), dev(np.zeros_like(md.theta)), dev(np.zeros_like(md.theta)), md.sz, md.ac,
                         SLOPE, md.mask, data, 1, 3, 1, 0, hp)
    good = md.data(rng, 4)
    with pytest.raises(ValueError, match=named("sizes")):
        cu.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, good, 1, 4)
    with pytest.raises(ValueError, match=named("X")):
        cu.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, good[:, :2].copy(), 1, 3)
    with pytest.raises(ValueError, match=named("output")):
        cu.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, good, 5, 3)
    with pytest.raises(ValueError, match=named("mask")):
        cu.autoregressive.made_step(dev(md.theta), dev(np.zeros_like(md.theta)), dev(np.zeros_like(md.theta)), md.sz, md.ac, SLOPE,
                     md.mask[:-1].copy(), good, 1, 3, 1, 0, hp)
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        cu.autoregressive.gaussian_mixture_nll(np.zeros((1, 6)), np.array([[np.inf, 0.0]]), 1.0)


def test_estimator_on_cuda_matches_cpu(rng):
    """MADE(device="cuda"): the same fit (weights, loss curve) and scores as on the CPU, float64."""
    from fastgen.autoregressive import MADE
    X = rng.integers(0, 3, (12, 3))
    kw = dict(hidden_layer_sizes=(4,), output="categorical", n_categories=3, n_masks=2, ordering="random",
              max_epochs=1, batch_size=6, random_state=0, dtype=np.float64)
    gpu = MADE(device="cuda", **kw).fit(X)
    cpu = MADE(device="cpu", **kw).fit(X)
    assert_sum_close(gpu.network_.theta, cpu.network_.theta, np.abs(cpu.network_.theta) + 1, 1e-10)
    assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-10)
    assert_allclose(gpu.score_samples(X[:4]), cpu.score_samples(X[:4]), rtol=1e-10)
