"""The MADE kernels' losses (categorical and Gaussian-mixture negative log-likelihoods) on both
backends against the NumPy oracle in tests/reference/made.py, their gradients and extreme values.
Backends, inputs and tolerances: made_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import assert_sum_close
from devices import host, kernels
from fastgen import _core
from reference import made as ref
from made_cases import cases, dev, DTYPES, _f64, _rtol


# =================================================================================================
# Losses
# =================================================================================================

LOSS_SHAPES = [(1, 1, 1), (1, 1, 2), (3, 4, 3), (17, 5, 13), (40, 9, 2)]


def _mixture_Z(rng, N, D, K, dtype):
    z = np.concatenate([2 * rng.standard_normal((N, D, 1, K)), 2 * rng.standard_normal((N, D, 1, K)),
                        rng.uniform(-1.5, 1.0, (N, D, 1, K))], axis=2)
    return z.reshape(N, D * 3 * K).astype(dtype)


@pytest.mark.parametrize("device, dtype, N, D, V", cases(
    [(dtype, *shape) for dtype in DTYPES for shape in LOSS_SHAPES], [(dtype, 3, 2, 3) for dtype in DTYPES]))
def test_categorical_nll(rng, device, dtype, N, D, V):
    """CPU: against the oracle. CUDA: against the oracle and the CPU."""
    if device == "cuda":
        Z = (2 * rng.standard_normal((N, D * V))).astype(dtype)
        X = rng.integers(0, V, (N, D)).astype(dtype)
        loss, dZ = map(host, kernels(device, "autoregressive").categorical_nll(Z, X, 0.5))
        assert loss.dtype == np.float64 and dZ.dtype == dtype
        want, dwant = ref.categorical_nll(*_f64(Z, X), 0.5)
        assert_sum_close(loss, want, np.abs(want) + 10, _rtol(dtype))
        assert_sum_close(dZ, dwant, np.full(dZ.shape, 0.5), 4 * _rtol(dtype))
        lc, dc = _core.autoregressive.categorical_nll(Z, X, 0.5)
        assert_sum_close(loss, lc, np.abs(lc) + 10, _rtol(dtype))
        assert_sum_close(dZ, dc, np.full(dZ.shape, 0.5), 4 * _rtol(dtype))
        return
    Z = (3 * rng.standard_normal((N, D * V))).astype(dtype)
    X = rng.integers(0, V, (N, D)).astype(dtype)
    scale = float(rng.uniform(0.01, 2))
    loss, dZ = _core.autoregressive.categorical_nll(Z, X, scale)
    assert loss.dtype == np.float64 and loss.shape == (N,) and dZ.dtype == dtype and dZ.shape == Z.shape
    want, dwant = ref.categorical_nll(*_f64(Z, X), scale)
    z = _f64(Z)[0].reshape(N, D, V)
    terms = (np.abs(z).max(axis=2) + np.log(V) + np.abs(z).max(axis=2)).sum(axis=1)
    assert_sum_close(loss, want, terms, _rtol(dtype))
    assert_sum_close(dZ, dwant, np.full(dZ.shape, scale), 4 * _rtol(dtype))


@pytest.mark.parametrize("device, dtype, N, D, K", cases(
    [(dtype, *shape) for dtype in DTYPES for shape in LOSS_SHAPES], [(dtype, 3, 2, 3) for dtype in DTYPES]))
def test_gaussian_mixture_nll(rng, device, dtype, N, D, K):
    """CPU: against the oracle. CUDA: device-resident inputs, against the oracle and the CPU."""
    if device == "cuda":
        Z = np.concatenate([rng.standard_normal((N, D, 2, K)), rng.uniform(-1, 0.5, (N, D, 1, K))], axis=2)
        Z = Z.reshape(N, -1).astype(dtype)
        X = rng.standard_normal((N, D)).astype(dtype)
        loss, dZ = map(host, kernels(device, "autoregressive").gaussian_mixture_nll(dev(Z), dev(X), 0.5))
        want, dwant = ref.gaussian_mixture_nll(*_f64(Z, X), 0.5)
        lc, dc = _core.autoregressive.gaussian_mixture_nll(Z, X, 0.5)
        for a, b in ((loss, want), (loss, lc)):
            assert_sum_close(a, b, np.abs(b) + 10, 4 * _rtol(dtype))
        for a, b in ((dZ, dwant), (dZ, dc)):
            assert_sum_close(a, b, np.full(dZ.shape, 0.5 * np.abs(dwant).max() + 1), 4 * _rtol(dtype))
        return
    Z = _mixture_Z(rng, N, D, K, dtype)
    X = (2 * rng.standard_normal((N, D))).astype(dtype)
    scale = float(rng.uniform(0.01, 2))
    loss, dZ = _core.autoregressive.gaussian_mixture_nll(Z, X, scale)
    assert loss.dtype == np.float64 and loss.shape == (N,) and dZ.dtype == dtype and dZ.shape == Z.shape
    want, dwant = ref.gaussian_mixture_nll(*_f64(Z, X), scale)
    _, _, s, u, l = ref.mixture_terms(*_f64(Z, X))
    terms = (np.abs(l).max(axis=2) + np.log(K) + 1).sum(axis=1)
    assert_sum_close(loss, want, terms, 4 * _rtol(dtype))
    # gradient entries: r (|u| + 1)^2 e^|s| bounds the terms of each (responsibilities r <= 1)
    mag = ((np.abs(u) + 1) ** 2 * np.exp(np.abs(s))).max(axis=2)
    assert_sum_close(dZ, dwant, 8 * scale * np.repeat(mag, 3 * K, axis=1), 4 * _rtol(dtype))


def central_difference(f, x, h=1e-6):
    g = np.empty(x.size)
    flat = x.ravel()
    for i in range(x.size):
        step = h * max(1.0, abs(flat[i]))
        xp, xm = flat.copy(), flat.copy()
        xp[i] += step
        xm[i] -= step
        g[i] = (f(xp.reshape(x.shape)) - f(xm.reshape(x.shape))) / (2 * step)
    return g.reshape(x.shape)


@pytest.mark.parametrize("which", ["categorical", "gaussian_mixture"])
def test_loss_gradients_match_finite_differences(rng, which):
    N, D, n = 3, 4, 3
    if which == "categorical":
        Z, X, f = 2 * rng.standard_normal((N, D * n)), rng.integers(0, n, (N, D)).astype(float), _core.autoregressive.categorical_nll
    else:
        Z, X, f = _mixture_Z(rng, N, D, n, np.float64), rng.standard_normal((N, D)), _core.autoregressive.gaussian_mixture_nll
    scale = 0.7
    _, dZ = f(Z, X, scale)
    fd = central_difference(lambda z: scale * f(np.ascontiguousarray(z), X, scale)[0].sum(), Z)
    assert_allclose(dZ, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_extreme_values_stay_finite(dtype):
    # logits of +-500 (exp overflows float32 at 89): finite loss, softmax gradients exact
    Z = np.array([[500, -500, 0, 80, -80, 3]], dtype)
    X = np.array([[1, 0]], dtype)
    loss, dZ = _core.autoregressive.categorical_nll(Z, X, 1.0)
    want, dwant = ref.categorical_nll(*_f64(Z, X), 1.0)
    assert np.isfinite(loss).all() and np.isfinite(dZ).all()
    assert_allclose(loss, want, rtol=_rtol(dtype))
    assert_allclose(dZ, dwant, rtol=_rtol(dtype), atol=1e-30)
    # mixture: a far outlier (every component's density underflows relative to the others), a very
    # narrow and a very wide component, extreme weight logits
    K = 2
    Z = np.array([[300, -300, 0, 1, -20, 20,
                   0, 0, 0, 0, 5, -3]], dtype)
    X = np.array([[1e3, 0.5]], dtype)
    loss, dZ = _core.autoregressive.gaussian_mixture_nll(Z, X, 1.0)
    want, dwant = ref.gaussian_mixture_nll(*_f64(Z, X), 1.0)
    assert np.isfinite(loss).all() and np.isfinite(dZ).all()
    assert_allclose(loss, want, rtol=_rtol(dtype))
    assert_allclose(dZ, dwant, rtol=_rtol(dtype), atol=1e-12)
    assert Z.shape[1] == 2 * 3 * K


def test_mixture_conditional_integrates_to_one(rng):
    """exp(-loss) of one variable as a function of x is a density: it integrates to 1 (Simpson's
    rule on a grid covering every component by 12 standard deviations)."""
    from scipy.integrate import simpson
    K = 4
    for _ in range(3):
        z = _mixture_Z(rng, 1, 1, K, np.float64)
        mu, s = z[0, K:2 * K], z[0, 2 * K:]
        lo, hi = (mu - 12 * np.exp(s)).min(), (mu + 12 * np.exp(s)).max()
        x = np.linspace(lo, hi, 200001)
        loss, _ = _core.autoregressive.gaussian_mixture_nll(np.repeat(z, x.size, axis=0), x[:, None], 1.0)
        assert_allclose(simpson(np.exp(-loss), x=x), 1.0, rtol=1e-9)
