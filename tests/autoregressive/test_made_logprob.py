"""The MADE kernels' exact log-likelihood on both backends against the NumPy oracle, normalisation,
and the autoregressive property of the masked network. Backends, inputs and tolerances:
made_cases.py.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from devices import host, kernels, small
from fastgen import _core
from fastgen.autoregressive import _made_masks as mm
from reference import made as ref
from reference import nn as ref_nn
from made_cases import cases, CUDA_MODELS, DTYPES, _f64, Made, _rtol, SLOPE


# =================================================================================================
# Exact log-likelihood
# =================================================================================================

MODELS = [  # (output, n_out, D, hidden): no hidden layer, one, two; one-hot inputs dense (V < 10) and sparse
    ("bernoulli", 1, 1, ()), ("bernoulli", 1, 7, (13,)), ("bernoulli", 1, 9, (17, 11)),
    ("categorical", 3, 4, ()), ("categorical", 3, 5, (9, 7)), ("categorical", 12, 3, (10,)),
    ("gaussian_mixture", 1, 3, (8,)), ("gaussian_mixture", 3, 4, (11, 6)), ("gaussian_mixture", 2, 2, ()),
]




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
