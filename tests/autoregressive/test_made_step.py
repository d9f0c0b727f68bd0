"""The MADE kernels' training step on both backends against the NumPy oracle and PyTorch, masked
weights and the one-hot first layer. Backends, inputs and tolerances: made_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from devices import host, kernels
from fastgen import _core
from fastgen.autoregressive import _made_masks as mm
from reference import made as ref
from reference import nn as ref_nn
from nn.nn_checks import _assert_state, _grad_tol, _hp, _opt_state, assert_params_close
from made_cases import cases, CUDA_MODELS, dev, DTYPES, _f64, Made, _rtol, SLOPE


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
