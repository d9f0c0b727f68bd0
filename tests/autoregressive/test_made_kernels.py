"""The MADE training and scoring kernels (categorical_nll, gaussian_mixture_nll, made_step,
made_logprob) on both backends -- fastgen._core.autoregressive and its Numba CUDA twin
fastgen._cuda.autoregressive -- against the NumPy oracle tests/reference/made.py, central finite
differences and PyTorch, CUDA against the CPU, plus the model's defining properties: probabilities sum (integrate) to 1,
the autoregressive property of the masked network, the masked gradient, one-hot first layers
(dense or sparse) equal to the dense product bit for bit, thread-count independence, and named
errors for bad input.

Tolerances: float64 rtol=1e-10, float32 rtol=1e-5 against the float64 oracle on the kernel's own
inputs, relative to the magnitude of the terms of each sum (conftest.assert_sum_close: a loss or a
gradient entry is a sum whose terms may cancel); parameters after an optimiser step as in
tests/nn/nn_checks.assert_params_close (rtol of |theta| and |step| plus Adam's sensitivity to the
gradient's error). Finite differences: float64, step 1e-6 relative, agreement to 1e-6 of the
gradient's scale (the central difference's truncation and rounding errors are ~1e-9 here).

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`), with tiny shapes there (the
simulator runs one Python thread per CUDA thread). The one-hot first layer runs from indices on
both devices (CUDA always; the CPU for V >= 10, and as a dense product below), so CUDA's V = 3 and
V = 11 compare both CPU paths with the GPU's. CUDA's tolerances are the CPU's, against the oracle
and against the CPU; parameters after a step as above. Tests of one backend alone are not
parametrised; the CUDA ones (device-resident data, the estimator on CUDA) are marked `cuda`.
"""
from __future__ import annotations

import itertools
import re
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from conftest import assert_same_on_any_thread_count, assert_sum_close
from devices import CUDA_MARKS, host, kernels, small
from fastgen import _core
from fastgen.autoregressive import _made_masks as mm
from reference import made as ref
from reference import nn as ref_nn
from nn.nn_checks import _assert_state, _grad_tol, _hp, _opt_state, assert_params_close

DTYPES = [np.float64, np.float32]
OUTPUTS = {"bernoulli": ref.BERNOULLI, "categorical": ref.CATEGORICAL, "gaussian_mixture": ref.GAUSSIAN_MIXTURE}
SLOPE = 0.1


def _rtol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-5


def _f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def named(name):
    return rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z])"


def cuda_only(test):
    """Marks a test that exercises CUDA alone (device arrays, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return ([pytest.param("cpu", *v) for v in cpu]
            + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda])


def dev(a):
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(a))


# -- a random MADE -------------------------------------------------------------------------------------

class Made:
    """A random masked network: sizes, acts, theta (unmasked), mask, order, hidden degrees."""

    def __init__(self, rng, D, hidden, output, n_out=1, dtype=np.float64, ordering="random", acts=None, scale=1.0):
        self.D, self.output, self.n_out = D, output, n_out
        self.code = OUTPUTS[output]
        self.order = mm.make_order(D, ordering, rng)
        self.hidden_degrees = mm.make_hidden_degrees(D, hidden, rng)
        self.sizes = [D * mm.input_width(output, n_out)] + list(hidden) + [D * mm.output_width(output, n_out)]
        L = len(self.sizes) - 1
        self.acts = list(acts) if acts is not None else [int(rng.choice([1, 2, 3, 4, 5])) for _ in range(L - 1)] + [0]
        layers = [(scale * rng.standard_normal((i, o)) / np.sqrt(i), 0.3 * rng.standard_normal(o))
                  for i, o in zip(self.sizes[:-1], self.sizes[1:])]
        self.theta = ref_nn.pack(layers).astype(dtype)
        self.mask = mm.flat_mask(self.sizes, self.order, self.hidden_degrees, output, n_out, dtype)
        self.sz = np.asarray(self.sizes, np.int64)
        self.ac = np.asarray(self.acts, np.int32)

    @property
    def masked(self):
        return self.theta * self.mask

    def data(self, rng, N, dtype=None):
        dtype = dtype or self.theta.dtype
        if self.output == "bernoulli":
            return (rng.random((N, self.D)) < 0.5).astype(dtype)
        if self.output == "categorical":
            return rng.integers(0, self.n_out, (N, self.D)).astype(dtype)
        return (1.5 * rng.standard_normal((N, self.D))).astype(dtype)


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


# =================================================================================================
# Exact log-likelihood
# =================================================================================================

MODELS = [  # (output, n_out, D, hidden): no hidden layer, one, two; one-hot inputs dense (V < 10) and sparse
    ("bernoulli", 1, 1, ()), ("bernoulli", 1, 7, (13,)), ("bernoulli", 1, 9, (17, 11)),
    ("categorical", 3, 4, ()), ("categorical", 3, 5, (9, 7)), ("categorical", 12, 3, (10,)),
    ("gaussian_mixture", 1, 3, (8,)), ("gaussian_mixture", 3, 4, (11, 6)), ("gaussian_mixture", 2, 2, ()),
]


# CUDA's: every output type, no hidden layer, one-hot inputs with V < 10 and V >= 10
CUDA_MODELS = [("bernoulli", 1, 4, (6,)), ("categorical", 3, 3, (5,)), ("categorical", 11, 2, ()),
               ("gaussian_mixture", 2, 2, (5, 4))]


@pytest.mark.parametrize("device, dtype, output, n_out, D, hidden", cases(
    [(dtype, *model) for dtype in DTYPES for model in MODELS], [(dtype, *model) for dtype in DTYPES for model in CUDA_MODELS]))
def test_made_logprob_matches_oracle(rng, device, dtype, output, n_out, D, hidden):
    """37 rows on the CPU, 5 on CUDA (also against the CPU)."""
    md = Made(rng, D, hidden, output, n_out, dtype)
    N = small(device, 37, 5)
    X = md.data(rng, N)
    got = host(kernels(device, "autoregressive").made_logprob(md.masked, md.sz, md.ac, SLOPE, X, md.code, n_out))
    assert got.dtype == np.float64 and got.shape == (N,)
    want = ref.made_logprob(*_f64(md.masked), md.sizes, md.acts, SLOPE, *_f64(X), md.code, n_out)
    tol = 40 * _rtol(dtype)
    assert_allclose(got, want, rtol=tol, atol=tol * D)
    if device == "cuda":
        cpu = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, md.code, n_out)
        assert_allclose(got, cpu, rtol=tol, atol=tol * D)


def test_made_logprob_is_chunk_and_row_independent(rng):
    """Rows are scored in chunks of 1024: a row's value does not depend on where it falls."""
    md = Made(rng, 6, (9,), "categorical", 11, np.float32)
    X = md.data(rng, 2500)
    full = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 1, 11)
    part = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X[1020:1030].copy(), 1, 11)
    assert_array_equal(part, full[1020:1030])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [(), (23,), (19, 17)])
def test_bernoulli_probabilities_sum_to_one(rng, dtype, hidden):
    """The MADE's p(x) over all 2^10 binary vectors sums to 1 (random ordering and degrees)."""
    D = 10
    md = Made(rng, D, hidden, "bernoulli", 1, dtype, scale=2.0)
    X = np.array(list(itertools.product([0, 1], repeat=D)), dtype)
    lp = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 0, 1)
    assert_allclose(logsumexp(lp), 0.0, atol=100 * _rtol(dtype))


@pytest.mark.parametrize("V, D, hidden", [(3, 5, (13,)), (11, 2, (7, 5)), (2, 6, ())])
def test_categorical_probabilities_sum_to_one(rng, V, D, hidden):
    md = Made(rng, D, hidden, "categorical", V, np.float64, scale=2.0)
    X = np.array(list(itertools.product(range(V), repeat=D)), np.float64)
    lp = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 1, V)
    assert_allclose(logsumexp(lp), 0.0, atol=1e-12)


def test_mixture_density_integrates_to_one(rng):
    """D = 2: the joint density integrates to 1 over a grid (Simpson in both directions)."""
    from scipy.integrate import simpson
    K = 3
    md = Made(rng, 2, (9,), "gaussian_mixture", K, np.float64, acts=[3, 0])
    # tanh hidden units bound the means (|mu| <~ 3); small log-std weights keep sigma in [0.7, 1.4],
    # so [-14, 14] holds every component to > 8 sigma and the grid step is sigma / 35
    W, b = ref_nn.unpack(md.theta, md.sizes)[-1]
    log_std = (np.arange(2 * 3 * K) % (3 * K)) >= 2 * K
    W[:, log_std] *= 0.3 / np.abs(W[:, log_std]).sum(axis=0)
    b[log_std] = 0
    md.theta = np.concatenate([md.theta[:-(W.size + b.size)], W.ravel(), b])
    g = np.linspace(-14, 14, 1401)
    X = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    p = np.exp(_core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 2, 3)).reshape(g.size, g.size)
    assert_allclose(simpson(simpson(p, x=g, axis=1), x=g), 1.0, rtol=1e-6)


# =================================================================================================
# The autoregressive property of the masked network
# =================================================================================================

@pytest.mark.parametrize("output, n_out, D, hidden", MODELS)
def test_outputs_depend_only_on_earlier_variables(rng, output, n_out, D, hidden):
    """Output block of variable d is bit for bit unchanged when every variable of degree >=
    order[d] is changed: the masks cut every path from later variables (through mlp_predict on
    theta * mask, and through made_logprob for the sparse one-hot layer)."""
    md = Made(rng, D, hidden, output, n_out)
    X = md.data(rng, 5)
    wi, wo = mm.input_width(output, n_out), mm.output_width(output, n_out)

    def outputs(x):
        return _core.nn.mlp_predict(md.masked, md.sz, md.ac, SLOPE, ref.network_input(x, md.code, n_out))

    base = outputs(X)
    for d in range(D):
        later = md.order >= md.order[d]
        X2 = X.copy()
        X2[:, later] = md.data(rng, 5)[:, later]
        if output == "bernoulli":
            X2[:, later] = 1 - X[:, later]
        out2 = outputs(X2)
        assert_array_equal(out2[:, d * wo:(d + 1) * wo], base[:, d * wo:(d + 1) * wo])
        # and the first variable in the order sees no input at all
    first = int(np.argmin(md.order))
    assert_array_equal(outputs(md.data(rng, 5))[:, first * wo:(first + 1) * wo], base[:, first * wo:(first + 1) * wo])
    assert wi >= 1


def test_made_logprob_of_last_variable_changes_only_its_term(rng):
    """Changing the last variable in the order changes only its own conditional: the difference
    of log p equals the difference of that variable's loss on the same outputs."""
    md = Made(rng, 5, (12,), "categorical", 12)  # sparse first layer
    X = md.data(rng, 8)
    last = int(np.argmax(md.order))
    X2 = X.copy()
    X2[:, last] = (X[:, last] + 1) % 12
    lp, lp2 = (_core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, x, 1, 12) for x in (X, X2))
    Y = _core.nn.mlp_predict(md.masked, md.sz, md.ac, SLOPE, ref.one_hot(X, 12))
    z = Y[:, last * 12:(last + 1) * 12]
    want = (np.take_along_axis(z, X2[:, [last]].astype(int), 1) - np.take_along_axis(z, X[:, [last]].astype(int), 1))
    assert_allclose(lp2 - lp, want[:, 0], rtol=1e-9, atol=1e-11)


# =================================================================================================
# Training step
# =================================================================================================

STEP_MODELS = [
    ("bernoulli", 1, 1, ()), ("bernoulli", 1, 8, (17,)), ("bernoulli", 1, 6, (13, 9)),
    ("categorical", 3, 4, (9,)), ("categorical", 12, 3, (11, 7)), ("categorical", 11, 2, ()),
    ("gaussian_mixture", 2, 3, (10,)), ("gaussian_mixture", 1, 2, ()),
]


@pytest.mark.parametrize("device, dtype, optimizer, output, n_out, D, hidden", cases(
    [(dtype, optimizer, *model) for dtype in DTYPES
     for optimizer in (ref_nn.ADAM, ref_nn.SGD_MOMENTUM, ref_nn.SGD_NESTEROV) for model in STEP_MODELS],
    [(dtype, ref_nn.ADAM, *model) for dtype in DTYPES for model in CUDA_MODELS]))
def test_made_step_matches_oracle(rng, device, dtype, optimizer, output, n_out, D, hidden):
    """CPU: a random batch size, step number, optimiser state and hyper-parameters, against the oracle.
    CUDA: Adam's first step on 5 rows (parameters and state on the device) against the CPU, with the
    gradient's error of both backends (twice the oracle's tolerance)."""
    md = Made(rng, D, hidden, output, n_out, dtype)
    if device == "cuda":
        X = md.data(rng, 5)
        hp = np.array([1e-2, 0.9, 0.99, 1e-8, 1e-3, 0.0])
        th, m, v = (dev(a) for a in (md.theta, np.zeros_like(md.theta), np.zeros_like(md.theta)))
        out = host(kernels(device, "autoregressive").made_step(th, m, v, md.sz, md.ac, SLOPE, md.mask, X, md.code,
                                                               n_out, 1, optimizer, hp))
        thc, mc, vc = md.theta.copy(), np.zeros_like(md.theta), np.zeros_like(md.theta)
        outc = _core.autoregressive.made_step(thc, mc, vc, md.sz, md.ac, SLOPE, md.mask, X, md.code, n_out, 1,
                                              optimizer, hp)
        assert out.dtype == np.float64 and out.shape == (1,)
        tol = 40 * _rtol(dtype)
        assert_allclose(out, outc, rtol=tol, atol=tol * D)
        _, g = ref.made_gradient(*_f64(md.theta), md.sizes, md.acts, SLOPE, *_f64(md.mask, X), md.code, n_out)
        gtol = 2 * _grad_tol(g, _rtol(dtype), len(hidden) + 3)
        assert_params_close(host(th), thc, md.theta, gtol, optimizer, hp, 1, mc, vc, _rtol(dtype), "theta")
        _assert_state(host(m), host(v), mc, vc, gtol, optimizer, hp, _rtol(dtype), "Adam state")
        return
    N = int(rng.choice([1, 7, 40]))
    X = md.data(rng, N)
    t = int(rng.integers(1, 5))
    hp = _hp(rng, optimizer)
    m, v = _opt_state(rng, md.theta.size, dtype, optimizer, t)
    want = ref.made_step(*_f64(md.theta, m, v), md.sizes, md.acts, SLOPE, *_f64(md.mask, X), md.code, n_out, t,
                         optimizer, hp)
    th, mm_, vv = md.theta.copy(), m.copy(), v.copy()
    out = _core.autoregressive.made_step(th, mm_, vv, md.sz, md.ac, SLOPE, md.mask, X, md.code, n_out, t, optimizer, hp)
    assert out.dtype == np.float64 and out.shape == (1,)
    rtol = _rtol(dtype)
    L = len(md.sizes) - 1
    assert_allclose(out, want[0], rtol=20 * L * rtol, atol=20 * L * rtol * D)
    _, g_ref = ref.made_gradient(*_f64(md.theta), md.sizes, md.acts, SLOPE, *_f64(md.mask, X), md.code, n_out)
    gtol = _grad_tol(g_ref, rtol, L + 2)
    assert_params_close(th, want[1], md.theta, gtol, optimizer, hp, t, want[2], want[3], rtol, "theta")
    _assert_state(mm_, vv, want[2], want[3], gtol, optimizer, hp, rtol, "state")


@pytest.mark.parametrize("output, n_out", [("bernoulli", 1), ("categorical", 12), ("gaussian_mixture", 2)])
def test_made_step_leaves_masked_weights_alone(rng, output, n_out):
    """The gradient is masked: with Adam and no weight decay, every masked weight and its optimiser
    state stay exactly as they were, whatever the batch."""
    md = Made(rng, 6, (15, 8), output, n_out)
    th, m, v = md.theta.copy(), np.zeros_like(md.theta), np.zeros_like(md.theta)
    hp = np.array([1e-2, 0.9, 0.999, 1e-8, 0.0, 0.0])
    for t in (1, 2, 3):
        _core.autoregressive.made_step(th, m, v, md.sz, md.ac, SLOPE, md.mask, md.data(rng, 20), md.code, n_out, t, 0, hp)
    off = md.mask == 0
    assert off.sum() > 0
    assert_array_equal(th[off], md.theta[off])
    assert not m[off].any() and not v[off].any()
    # The step did update: the output biases always get a gradient (the loss's), so Adam moves every
    # one of them; hidden weights may not all move (dead ReLU units get none).
    n_bias_out = md.sizes[-1]
    assert (th[-n_bias_out:] != md.theta[-n_bias_out:]).all()
    assert (th[~off][:-n_bias_out] != md.theta[~off][:-n_bias_out]).any()


def test_made_step_loss_equals_mean_logprob(rng):
    """The step's loss (before its update) is minus the mean of made_logprob on the same batch."""
    for output, n_out in (("bernoulli", 1), ("categorical", 4), ("categorical", 12), ("gaussian_mixture", 3)):
        md = Made(rng, 5, (14,), output, n_out)
        X = md.data(rng, 33)
        lp = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, md.code, n_out)
        th = md.theta.copy()
        out = _core.autoregressive.made_step(th, np.zeros_like(th), np.zeros_like(th), md.sz, md.ac, SLOPE, md.mask, X, md.code,
                              n_out, 1, 0, np.array([1e-3, 0.9, 0.999, 1e-8, 0, 0]))
        assert_allclose(out[0], -lp.mean(), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V", [3, 12])
def test_one_hot_first_layer_is_the_dense_product_bit_for_bit(rng, dtype, V):
    """Categorical inputs (dense one-hot for V < 10, sparse rows for V >= 10) give exactly the
    engine's result on the explicit one-hot matrix: log-likelihoods and, through plain SGD with
    lr 1 (theta' = theta - grad in one rounding), the gradient."""
    md = Made(rng, 7, (33, 9), "categorical", V, dtype)
    X = md.data(rng, 21)
    oh = ref.one_hot(X, V).astype(dtype)
    Y = _core.nn.mlp_predict(md.masked, md.sz, md.ac, SLOPE, oh)
    want_lp = -_core.autoregressive.categorical_nll(Y, X, 0.0)[0]
    assert_array_equal(_core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 1, V), want_lp)
    A = _core.nn.mlp_forward(md.masked, md.sz, md.ac, SLOPE, oh)
    _, dY = _core.autoregressive.categorical_nll(Y, X, 1.0 / X.shape[0])
    grad, _ = _core.nn.mlp_backward(md.masked, md.sz, md.ac, SLOPE, oh, A, dY, False)
    th = md.theta.copy()
    sgd = np.array([1.0, 0.9, 0.999, 1e-8, 0.0, 0.0])
    _core.autoregressive.made_step(th, np.zeros_like(th), np.zeros(0, dtype), md.sz, md.ac, SLOPE, md.mask, X, 1, V, 1, 1, sgd)
    assert_array_equal(th, md.theta - grad * md.mask)


# -- against PyTorch -------------------------------------------------------------------------------

def _torch_made_loss(torch, params, masks, acts, slope, x_in, X, output, n_out):
    F = torch.nn.functional
    a = x_in
    for l, code in enumerate(acts):
        z = a @ (params[2 * l] * masks[l]) + params[2 * l + 1]
        a = [lambda z: z, torch.relu, lambda z: F.leaky_relu(z, slope), torch.tanh, torch.sigmoid,
             F.softplus][int(code)](z)
    N, D = X.shape
    if output == ref.BERNOULLI:
        rows = F.binary_cross_entropy_with_logits(a, X, reduction="none").sum(1)
    elif output == ref.CATEGORICAL:
        rows = F.cross_entropy(a.reshape(N * D, n_out), X.reshape(-1).long(), reduction="none").reshape(N, D).sum(1)
    else:
        z = a.reshape(N, D, 3, n_out)
        logits, mu, ls = z[:, :, 0], z[:, :, 1], z[:, :, 2]
        comp = torch.distributions.Normal(mu, torch.exp(ls)).log_prob(X[:, :, None])
        rows = -torch.logsumexp(torch.log_softmax(logits, dim=2) + comp, dim=2).sum(1)
    return rows.mean()


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, n_out, D, hidden", [("bernoulli", 1, 9, (21, 13)), ("categorical", 4, 5, (17,)),
                                                      ("categorical", 12, 3, (15,)), ("gaussian_mixture", 3, 4, (19,))])
def test_made_step_matches_torch(rng, dtype, output, n_out, D, hidden):
    """Masked linear layers in PyTorch (z = a (W * M) + b) with torch.optim.Adam, from the same
    weights: the same loss and, after three steps, the same weights and Adam state."""
    torch = pytest.importorskip("torch")
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    md = Made(rng, D, hidden, output, n_out, dtype, acts=[2] * len(hidden) + [0])
    X = md.data(rng, 25)
    hp = np.array([3e-3, 0.9, 0.99, 1e-8, 1e-3, 0.0])
    layers = ref_nn.unpack(md.theta, md.sizes)
    masks = [torch.tensor(M, dtype=tdt) for M in mm.layer_masks(md.order, md.hidden_degrees, output, n_out)]
    params = [torch.tensor(a.astype(dtype), requires_grad=True) for W, b in layers for a in (W, b)]
    opt = torch.optim.Adam(params, lr=hp[0], betas=(hp[1], hp[2]), eps=hp[3], weight_decay=hp[4])
    x_in = torch.tensor(ref.network_input(X, md.code, n_out).astype(dtype))
    Xt = torch.tensor(X)
    th, m, v = md.theta.copy(), np.zeros_like(md.theta), np.zeros_like(md.theta)
    rtol = _rtol(dtype)
    for t in (1, 2, 3):
        theta0 = th.copy()
        out = _core.autoregressive.made_step(th, m, v, md.sz, md.ac, SLOPE, md.mask, X, md.code, n_out, t, 0, hp)
        lt = _torch_made_loss(torch, params, masks, md.acts, SLOPE, x_in, Xt, md.code, n_out)
        opt.zero_grad()
        lt.backward()
        opt.step()
        assert_allclose(out[0], lt.item(), rtol=10 * rtol)
        want = np.concatenate([p.detach().numpy().ravel() for p in params]).astype(np.float64)
        tm = np.concatenate([opt.state[p]["exp_avg"].numpy().ravel() for p in params]).astype(np.float64)
        tv = np.concatenate([opt.state[p]["exp_avg_sq"].numpy().ravel() for p in params]).astype(np.float64)
        _, g = ref.made_gradient(*_f64(theta0), md.sizes, md.acts, SLOPE, *_f64(md.mask, X), md.code, n_out)
        gtol = 2 * _grad_tol(g, rtol, len(hidden) + 3)  # two float implementations' errors
        assert_params_close(th, want, theta0, gtol, 0, hp, t, tm, tv, rtol, f"theta after step {t}")
        _assert_state(m, v, tm, tv, gtol, 0, hp, rtol, f"Adam state after step {t}")
        th = want.astype(dtype)  # continue both from torch's weights (errors do not compound)
        m, v = tm.astype(dtype), tv.astype(dtype)


# =================================================================================================
# Same results on 1 and 2 threads
# =================================================================================================

def test_results_independent_of_thread_count(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        from fastgen.autoregressive import _made_masks as mm
        rng = np.random.default_rng(5)
        out = []
        hp = np.array([1e-3, 0.9, 0.99, 1e-8, 1e-4, 0.9])
        for dt in (np.float32, np.float64):
            for output, code, n_out, D, hidden in (("bernoulli", 0, 1, 67, (129, 65)),
                                                   ("categorical", 1, 12, 40, (129,)),
                                                   ("categorical", 1, 3, 30, (65,)),
                                                   ("gaussian_mixture", 2, 5, 20, (97,))):
                order = mm.make_order(D, "random", rng)
                deg = mm.make_hidden_degrees(D, hidden, rng)
                sizes = np.array([D * mm.input_width(output, n_out), *hidden, D * mm.output_width(output, n_out)])
                acts = np.array([1] * len(hidden) + [0], np.int32)
                P = int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))
                th = (0.1 * rng.standard_normal(P)).astype(dt)
                mask = mm.flat_mask(sizes, order, deg, output, n_out, dt)
                N = 301
                if output == "bernoulli":
                    X = (rng.random((N, D)) < 0.4).astype(dt)
                elif output == "categorical":
                    X = rng.integers(0, n_out, (N, D)).astype(dt)
                else:
                    X = rng.standard_normal((N, D)).astype(dt)
                out.append(_core.autoregressive.made_logprob(th * mask, sizes, acts, 0.1, X, code, n_out))
                m, v = np.zeros_like(th), np.zeros_like(th)
                for t in (1, 2):
                    out.append(_core.autoregressive.made_step(th, m, v, sizes, acts, 0.1, mask, X, code, n_out, t, 0, hp))
                out += [th, m, v]
                Z = rng.standard_normal((N, sizes[-1])).astype(dt)
                if code == 1:
                    out += list(_core.autoregressive.categorical_nll(Z, X, 0.5))
                if code == 2:
                    out += list(_core.autoregressive.gaussian_mixture_nll(Z, X, 0.5))
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


# =================================================================================================
# Bad input
# =================================================================================================

def _step_args(rng, output="categorical", n_out=3, D=4):
    md = Made(rng, D, (6,), output, n_out)
    return dict(theta=md.theta.copy(), m=np.zeros_like(md.theta), v=np.zeros_like(md.theta), sizes=md.sz,
                acts=md.ac, slope=SLOPE, mask=md.mask, X=md.data(rng, 5), output=md.code, n_out=n_out, t=1,
                optimizer=0, hp=np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0]))


def test_step_and_logprob_bad_input_is_named(rng, device):
    """CPU: every argument of made_step and made_logprob. CUDA: a bad category index checked on the
    host and on the device (flag read back), sizes, X's shape, output, mask and a non-finite X of
    gaussian_mixture_nll."""
    if device == "cuda":
        _cuda_bad_input_is_named(rng)
        return
    ok = _step_args(rng)
    _core.autoregressive.made_step(**ok)
    bad_X = ok["X"].copy()
    for value, fragment in [(3.0, "category index"), (-1.0, "category index"), (1.5, "category index"),
                            (np.nan, "category index")]:
        bad_X[2, 1] = value
        with pytest.raises(ValueError, match=named("X") + ".*" + fragment):
            _core.autoregressive.made_step(**dict(ok, X=bad_X.copy()))
        with pytest.raises(ValueError, match=named("X") + r".*\(2, 1\)"):
            _core.autoregressive.made_logprob(ok["theta"], ok["sizes"], ok["acts"], SLOPE, bad_X.copy(), 1, 3)
    cases = [(dict(output=3), "output"), (dict(output=-1), "output"), (dict(n_out=4), "sizes"),
             (dict(n_out=0), "n_out"), (dict(X=ok["X"][:, :3].copy()), "X"), (dict(X=ok["X"][:0].copy()), "X"),
             (dict(mask=ok["mask"][:-1].copy()), "mask"), (dict(t=0), "t"), (dict(optimizer=5), "optimizer"),
             (dict(acts=np.array([1, 3], np.int32)), "acts"), (dict(m=np.zeros(3)), "m")]
    for kw, name in cases:
        with pytest.raises(ValueError, match=named(name)):
            _core.autoregressive.made_step(**dict(ok, **kw))
    with pytest.raises(TypeError, match=named("mask")):
        _core.autoregressive.made_step(**dict(ok, mask=ok["mask"].astype(np.float32)))
    b = _step_args(rng, "bernoulli", 1)
    with pytest.raises(ValueError, match=named("n_out")):
        _core.autoregressive.made_step(**dict(b, n_out=2))
    bx = b["X"].copy()
    bx[0, 0] = np.inf
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        _core.autoregressive.made_step(**dict(b, X=bx))
    g = _step_args(rng, "gaussian_mixture", 2)
    with pytest.raises(ValueError, match=named("sizes")):  # 3K outputs per variable expected for K = 3
        _core.autoregressive.made_step(**dict(g, n_out=3))


def _cuda_bad_input_is_named(rng):
    cu = kernels("cuda", "autoregressive")
    md = Made(rng, 3, (4,), "categorical", 3, np.float64)
    X = md.data(rng, 4)
    X[2, 1] = 3.0
    hp = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0])
    for data in (X, dev(X)):  # checked on the host, and on the device (flag read back)
        with pytest.raises(ValueError, match=named("X") + r".*category index.*\(2, 1\)"):
            cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, data, 1, 3)
        with pytest.raises(ValueError, match=named("X") + r".*\(2, 1\)"):
            cu.made_step(dev(md.theta), dev(np.zeros_like(md.theta)), dev(np.zeros_like(md.theta)), md.sz, md.ac,
                         SLOPE, md.mask, data, 1, 3, 1, 0, hp)
    good = md.data(rng, 4)
    with pytest.raises(ValueError, match=named("sizes")):
        cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, good, 1, 4)
    with pytest.raises(ValueError, match=named("X")):
        cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, good[:, :2].copy(), 1, 3)
    with pytest.raises(ValueError, match=named("output")):
        cu.made_logprob(md.masked, md.sz, md.ac, SLOPE, good, 5, 3)
    with pytest.raises(ValueError, match=named("mask")):
        cu.made_step(dev(md.theta), dev(np.zeros_like(md.theta)), dev(np.zeros_like(md.theta)), md.sz, md.ac, SLOPE,
                     md.mask[:-1].copy(), good, 1, 3, 1, 0, hp)
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        cu.gaussian_mixture_nll(np.zeros((1, 6)), np.array([[np.inf, 0.0]]), 1.0)


def test_unpickled_arrays_are_accepted_byte_swapped_refused(rng):
    """dtype checks go by numpy's type equivalence: an unpickled float32 array (its own, equivalent
    descriptor) is float32; a big-endian one is not."""
    import pickle
    md = Made(rng, 3, (4,), "bernoulli", 1, np.float32)
    X = md.data(rng, 4)
    want = _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X, 0, 1)
    th2, X2 = pickle.loads(pickle.dumps((md.masked, X)))
    assert_array_equal(_core.autoregressive.made_logprob(th2, md.sz, md.ac, SLOPE, X2, 0, 1), want)
    with pytest.raises(TypeError, match=named("X")):
        _core.autoregressive.made_logprob(md.masked, md.sz, md.ac, SLOPE, X.astype(">f4"), 0, 1)


def test_losses_bad_input_is_named():
    with pytest.raises(ValueError, match=named("Z")):
        _core.autoregressive.categorical_nll(np.zeros((2, 7)), np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=named("X")):
        _core.autoregressive.categorical_nll(np.zeros((2, 6)), np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match=named("X") + ".*category index"):
        _core.autoregressive.categorical_nll(np.zeros((2, 6)), np.full((2, 2), 3.0), 1.0)
    with pytest.raises(ValueError, match=named("Z")):
        _core.autoregressive.gaussian_mixture_nll(np.zeros((2, 8)), np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match=named("X") + ".*finite"):
        _core.autoregressive.gaussian_mixture_nll(np.zeros((1, 6)), np.array([[np.nan, 0.0]]), 1.0)
    with pytest.raises(ValueError, match=named("scale")):
        _core.autoregressive.gaussian_mixture_nll(np.zeros((1, 6)), np.zeros((1, 2)), np.inf)
    with pytest.raises(TypeError, match=named("X")):
        _core.autoregressive.categorical_nll(np.zeros((2, 6)), np.zeros((2, 2), np.float32), 1.0)


# =================================================================================================
# CUDA alone: device-resident data, the estimator on CUDA
# =================================================================================================

@cuda_only
def test_step_with_sgd_and_device_data(rng):
    """SGD-momentum, data already on the device, masked weights untouched."""
    md = Made(rng, 3, (4,), "categorical", 11, np.float64)
    X = md.data(rng, 4)
    hp = np.array([0.1, 0.9, 0.99, 1e-8, 0.0, 0.5])
    th, m = dev(md.theta), dev(np.zeros_like(md.theta))
    kernels("cuda", "autoregressive").made_step(th, m, dev(np.zeros(0)), md.sz, md.ac, SLOPE, dev(md.mask), dev(X), 1,
                                                11, 1, 1, hp)
    thc, mc = md.theta.copy(), np.zeros_like(md.theta)
    _core.autoregressive.made_step(thc, mc, np.zeros(0), md.sz, md.ac, SLOPE, md.mask, X, 1, 11, 1, 1, hp)
    assert_sum_close(host(th), thc, np.abs(md.theta) + 1, 1e-10)
    off = md.mask == 0
    assert (host(th)[off] == md.theta[off]).all()


@cuda_only
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
