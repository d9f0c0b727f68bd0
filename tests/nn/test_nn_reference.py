"""The NumPy oracle of the nn kernels (tests/reference/nn.py) proved on its own, so the kernel tests
can lean on it:

(a) every backward against central finite differences in float64: step h = 1e-6, so the truncation
    error is ~h^2 |f'''| ~ 1e-12 and the rounding error ~ 1e-16 |f| / h ~ 1e-10 |f|; asserted with
    rtol=1e-6 plus atol=1e-7 times the function's magnitude. ReLU / leaky ReLU inputs are drawn
    until every pre-activation lies >= 1e-3 from the kink (no difference quotient crosses it);
(b) the training steps' gradients against finite differences of the losses they return (no torch
    needed), via SGD with lr 1 and no momentum (theta - theta' = grad);
(c) one or more whole steps against PyTorch in float64 (same weights, same Philox noise): losses,
    updated parameters and optimiser state to rtol=1e-10 (atol=1e-14 for entries near 0).
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from reference import nn as ref
from reference import rng as rng_ref

H = 1e-6
ACT_NAMES = {0: "identity", 1: "relu", 2: "leaky", 3: "tanh", 4: "sigmoid", 5: "softplus"}


# -- helpers --------------------------------------------------------------------------------------

def central_difference(f, x, h=H):
    """d f / d x (f scalar) by central differences, x any shape (float64)."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        gf[i] = (fp - fm) / (2 * h)
    return g


def assert_fd_close(analytic, numeric, magnitude):
    assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7 * max(1.0, magnitude))


def random_theta(rng, sizes, scale=1.0):
    layers = [(scale * rng.standard_normal((i, o)) / np.sqrt(i), 0.3 * rng.standard_normal(o))
              for i, o in zip(sizes[:-1], sizes[1:])]
    return ref.pack(layers)


def pre_activations(theta, sizes, acts, slope, X):
    A = ref.mlp_forward(theta, sizes, acts, slope, X)
    a = [np.asarray(X, float)] + ref.split_activations(A, len(X), sizes)
    return [a[l] @ W + b for l, (W, b) in enumerate(ref.unpack(theta, sizes))]


def away_from_kinks(rng, sizes, acts, slope, N, margin=1e-3, scale=1.0):
    """(theta, X) whose pre-activations all lie at least `margin` from 0."""
    for _ in range(200):
        theta = random_theta(rng, sizes, scale)
        X = rng.standard_normal((N, sizes[0]))
        if min(np.abs(z).min() for z in pre_activations(theta, sizes, acts, slope, X)) >= margin:
            return theta, X
    raise AssertionError("could not draw inputs away from the ReLU kinks")


def kinked(acts):
    return any(int(a) in (ref.RELU, ref.LEAKY_RELU) for a in acts)


# =================================================================================================
# Random numbers
# =================================================================================================

def test_noise_uses_contract_philox_indices(rng):
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    N, K = 5, 3
    eps = ref.reparam_normals(seed, stream, N, K)
    assert_allclose(eps.ravel(), rng_ref.normal(seed, stream, N * K), rtol=1e-14, atol=1e-15)
    assert_array_equal(ref.gan_mix(seed, stream, 7), rng_ref.uniform(seed, stream + 2, 7))
    H_ = rng.standard_normal((N, 2 * K))
    Zs, eps2, _ = ref.gaussian_kl_reparam(H_, seed, stream, 0.5)
    assert_array_equal(eps2, eps)
    assert_allclose(Zs, H_[:, :K] + np.exp(H_[:, K:] / 2) * eps, rtol=1e-15)


# =================================================================================================
# (a) backward passes against finite differences
# =================================================================================================

@pytest.mark.parametrize("act", list(ACT_NAMES))
def test_mlp_backward_finite_differences(rng, act):
    sizes = [3, 5, 4, 2]
    acts = np.array([act, act, act], np.int32)
    slope = float(rng.uniform(0.01, 0.5))
    theta, X = away_from_kinks(rng, sizes, acts, slope, N=4) if kinked(acts) else \
        (random_theta(rng, sizes), rng.standard_normal((4, 3)))
    R = rng.standard_normal((4, 2))

    def loss_theta(th):
        return float((R * ref.mlp_predict(th, sizes, acts, slope, X)).sum())

    def loss_x(x):
        return float((R * ref.mlp_predict(theta, sizes, acts, slope, x)).sum())

    A = ref.mlp_forward(theta, sizes, acts, slope, X)
    assert A.shape == (4 * (5 + 4 + 2),)
    assert_allclose(A[-8:].reshape(4, 2), ref.mlp_predict(theta, sizes, acts, slope, X), rtol=0)
    grad, dX = ref.mlp_backward(theta, sizes, acts, slope, X, A, R, True)
    mag = abs(loss_theta(theta))
    assert_fd_close(grad, central_difference(loss_theta, theta), mag)
    assert_fd_close(dX, central_difference(loss_x, X), mag)
    assert ref.mlp_backward(theta, sizes, acts, slope, X, A, R, False)[1].shape == (0,)


def test_mlp_backward_mixed_network_finite_differences(rng):
    sizes = [4, 6, 7, 5, 3, 3, 2]
    acts = np.array([1, 2, 3, 4, 5, 0], np.int32)
    slope = 0.2
    theta, X = away_from_kinks(rng, sizes, acts, slope, N=3)
    R = rng.standard_normal((3, 2))
    f = lambda th: float((R * ref.mlp_predict(th, sizes, acts, slope, X)).sum())  # noqa: E731
    grad, _ = ref.mlp_backward(theta, sizes, acts, slope, X, ref.mlp_forward(theta, sizes, acts, slope, X), R, False)
    assert_fd_close(grad, central_difference(f, theta), abs(f(theta)))


def test_activation_derivatives_in_a_match_z(rng):
    """The a-written derivatives (contract) equal the z-derivatives of the activations."""
    z = rng.uniform(-4, 4, 50)
    z = z[np.abs(z) > 1e-3]
    for code in ref.ACTIVATIONS:
        a = ref.activate(code, z, 0.1)
        d1 = (ref.activate(code, z + H, 0.1) - ref.activate(code, z - H, 0.1)) / (2 * H)
        assert_allclose(ref.derivative(code, a, 0.1), d1, rtol=1e-7, atol=1e-9, err_msg=ACT_NAMES[code])
        d2 = (ref.derivative(code, ref.activate(code, z + H, 0.1), 0.1)
              - ref.derivative(code, ref.activate(code, z - H, 0.1), 0.1)) / (2 * H)
        assert_allclose(ref.second_derivative(code, a, 0.1), d2, rtol=1e-6, atol=1e-8, err_msg=ACT_NAMES[code])


def test_bce_logits_finite_differences_and_stable_form(rng):
    Z = 3 * rng.standard_normal((4, 5))
    X = rng.random((4, 5))
    scale = float(rng.uniform(0.1, 2))
    loss, dZ = ref.bce_logits(Z, X, scale)
    naive = (np.log1p(np.exp(Z)) - X * Z).sum(1)
    assert_allclose(loss, naive, rtol=1e-13)
    f = lambda z: scale * float(ref.bce_logits(z, X, 1.0)[0].sum())  # noqa: E731
    assert_fd_close(dZ, central_difference(f, Z), abs(f(Z)))
    big = np.array([[80.0, -80.0, 500.0, -500.0]])
    loss, dZ = ref.bce_logits(big, np.array([[1.0, 0.0, 0.0, 1.0]]), 1.0)
    assert np.isfinite(loss).all() and np.isfinite(dZ).all()
    assert_allclose(loss, [500.0 + 500.0 + 2 * np.exp(-80.0)], rtol=1e-15)


@pytest.mark.parametrize("learned", [True, False])
def test_gaussian_nll_finite_differences(rng, learned):
    N, D = 3, 4
    M, X = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    S = 0.5 * rng.standard_normal((N, D) if learned else D)
    scale = float(rng.uniform(0.1, 2))
    loss, dM, dS = ref.gaussian_nll(M, S, X, scale)
    var = np.exp(S)
    want = (0.5 * np.log(2 * np.pi * var) + 0.5 * (X - M) ** 2 / var).sum(1)
    assert_allclose(loss, want, rtol=1e-13)
    fM = lambda m: scale * float(ref.gaussian_nll(m, S, X, 1.0)[0].sum())  # noqa: E731
    assert_fd_close(dM, central_difference(fM, M), abs(fM(M)))
    if learned:
        fS = lambda s: scale * float(ref.gaussian_nll(M, s, X, 1.0)[0].sum())  # noqa: E731
        assert_fd_close(dS, central_difference(fS, S), abs(fS(S)))
    else:
        assert dS.shape == (0,)


def test_kl_reparam_backward_finite_differences(rng):
    N, K = 4, 3
    H_ = 0.7 * rng.standard_normal((N, 2 * K))
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    R = rng.standard_normal((N, K))
    kw, scale = float(rng.uniform(0.2, 2)), float(rng.uniform(0.1, 1))
    _, eps, kl = ref.gaussian_kl_reparam(H_, seed, stream, scale)
    mu, lv = H_[:, :K], H_[:, K:]
    # KL(N(mu, e^lv) || N(0, 1)) in its textbook form
    assert_allclose(kl, (0.5 * (np.exp(lv) + mu ** 2 - 1 - lv)).sum(1), rtol=1e-13)

    def f(h):  # sum(R * Zs(h)) + scale kw sum(kl(h)) with eps held fixed
        Zs, _, kl_ = ref.gaussian_kl_reparam(h, seed, stream, scale)
        return float((R * Zs).sum() + scale * kw * kl_.sum())

    dH = ref.gaussian_kl_reparam_backward(H_, eps, R, kw, scale)
    assert_fd_close(dH, central_difference(f, H_), abs(f(H_)))


@pytest.mark.parametrize("act", list(ACT_NAMES))
def test_penalty_backward_finite_differences(rng, act):
    sizes = [3, 6, 5, 1]
    acts = np.array([act, act, 0], np.int32)
    slope = float(rng.uniform(0.01, 0.5))
    N = 4
    theta, X = away_from_kinks(rng, sizes, acts, slope, N, scale=2.0) if kinked(acts) else \
        (random_theta(rng, sizes, 2.0), rng.standard_normal((N, 3)))
    weight = float(rng.uniform(0.5, 10))

    def loss(th):
        return ref.gradient_penalty(th, sizes, acts, slope, X, ref.mlp_forward(th, sizes, acts, slope, X), weight)[1]

    A = ref.mlp_forward(theta, sizes, acts, slope, X)
    gp, grad = ref.mlp_penalty_backward(theta, sizes, acts, slope, X, A, weight)
    assert_allclose(gp, ref.gradient_penalty(theta, sizes, acts, slope, X, A, weight)[0], rtol=1e-14)
    assert_fd_close(grad, central_difference(loss, theta), abs(loss(theta)))


def test_penalty_backward_curved_last_layer_finite_differences(rng):
    sizes = [2, 7, 1]
    for acts in ([3, 4], [5, 3], [4, 5]):
        acts = np.array(acts, np.int32)
        theta, X = random_theta(rng, sizes, 2.0), rng.standard_normal((5, 2))

        def loss(th):
            return ref.gradient_penalty(th, sizes, acts, 0.1, X, ref.mlp_forward(th, sizes, acts, 0.1, X), 3.0)[1]

        _, grad = ref.mlp_penalty_backward(theta, sizes, acts, 0.1, X, ref.mlp_forward(theta, sizes, acts, 0.1, X), 3.0)
        assert_fd_close(grad, central_difference(loss, theta), abs(loss(theta)))


def test_penalty_zero_input_gradient_gives_zero_derivative(rng):
    sizes = [3, 4, 1]
    acts = np.array([3, 0], np.int32)
    layers = ref.unpack(random_theta(rng, sizes), sizes)
    layers[0] = (np.zeros((3, 4)), layers[0][1])  # no path from the input: g = 0
    theta = ref.pack(layers)
    X = rng.standard_normal((2, 3))
    gp, grad = ref.mlp_penalty_backward(theta, sizes, acts, 0.1, X, ref.mlp_forward(theta, sizes, acts, 0.1, X), 2.0)
    assert_array_equal(gp, [1.0, 1.0])
    assert_array_equal(grad, np.zeros_like(theta))


# =================================================================================================
# (b) the training steps' gradients against finite differences of their own losses
# =================================================================================================

SGD_PLAIN = np.array([1.0, 0.9, 0.999, 1e-8, 0.0, 0.0])  # lr 1, no momentum: theta - theta' = grad


def test_mlp_step_gradient_finite_differences(rng):
    sizes, acts = [3, 5, 4], np.array([3, 0], np.int32)
    X = rng.standard_normal((6, 3))
    for loss, Y in ((ref.MSE, rng.standard_normal((6, 4))), (ref.BCE, rng.random((6, 4)))):
        theta = random_theta(rng, sizes)
        z = np.zeros_like(theta)
        step = lambda th: ref.mlp_step(th, z, z, sizes, acts, 0.1, X, Y, loss, 1, 1, SGD_PLAIN)  # noqa: E731
        out, new, _, _ = step(theta)
        f = lambda th: float(step(th)[0][0])  # noqa: E731
        assert_fd_close(theta - new, central_difference(f, theta), abs(out[0]))


@pytest.mark.parametrize("likelihood", [0, 1, 2])
def test_vae_step_gradient_finite_differences(rng, likelihood):
    N, D, K, c = 5, 3, 2, 2
    C = np.eye(c)[rng.integers(0, c, N)]
    X = rng.random((N, D)) if likelihood == 0 else rng.standard_normal((N, D))
    se, ae = [D + c, 6, 2 * K], np.array([3, 0], np.int32)
    out_d = 2 * D if likelihood == 2 else D
    sd, ad = [K + c, 5, out_d], np.array([5, 0], np.int32)
    te, td = random_theta(rng, se), random_theta(rng, sd)
    olv = 0.3 * rng.standard_normal(D)
    kw, seed, stream = 0.7, int(rng.integers(0, 2**63)), 11

    def step(te_, td_):
        ze, zd = np.zeros_like(te_), np.zeros_like(td_)
        return ref.vae_step(te_, ze, ze, se, ae, td_, zd, zd, sd, ad, 0.1, X, C, likelihood, olv, kw, seed, stream,
                            1, 1, SGD_PLAIN)

    res = step(te, td)
    losses = res[0]
    assert_allclose(losses[0], losses[1] + kw * losses[2], rtol=1e-14)
    assert_fd_close(te - res[1], central_difference(lambda th: float(step(th, td)[0][0]), te), abs(losses[0]))
    assert_fd_close(td - res[4], central_difference(lambda th: float(step(te, th)[0][0]), td), abs(losses[0]))


@pytest.mark.parametrize("loss", [0, 1])
def test_gan_step_gradients_finite_differences(rng, loss):
    N, D, q, c = 5, 3, 2, 1
    C = np.eye(2)[rng.integers(0, 2, N)][:, :c]
    X = rng.standard_normal((N, D))
    sg, ag = [q + c, 6, D], np.array([3, 0], np.int32)
    sd, ad = [D + c, 5, 1], np.array([5 if loss else 4, 0], np.int32)
    tg, td = random_theta(rng, sg), random_theta(rng, sd)
    gpw, seed, stream = 2.0, int(rng.integers(0, 2**63)), 21

    def step(tg_, td_, update_gen=1):
        zg, zd = np.zeros_like(tg_), np.zeros_like(td_)
        return ref.gan_step(tg_, zg, zg, sg, ag, td_, zd, zd, sd, ad, 0.1, X, C, loss, gpw, update_gen, seed,
                            stream, 1, 1, 1, SGD_PLAIN, SGD_PLAIN)

    res = step(tg, td)
    assert_fd_close(td - res[4], central_difference(lambda th: float(step(tg, th, 0)[0][0]), td), abs(res[0][0]))
    # the generator's loss is taken at the updated discriminator: differentiate it there
    td_new = res[4]

    def g_loss(th):
        # d step with lr 0 leaves D at td_new; the generator loss then depends on th only
        zg, zd = np.zeros_like(th), np.zeros_like(td_new)
        hp0 = SGD_PLAIN.copy()
        hp0[0] = 0.0
        return float(ref.gan_step(th, zg, zg, sg, ag, td_new, zd, zd, sd, ad, 0.1, X, C, loss, gpw, 1, seed, stream,
                                  1, 1, 1, hp0, SGD_PLAIN)[0][1])

    assert_fd_close(tg - res[1], central_difference(g_loss, tg), abs(res[0][1]))
    assert step(tg, td, 0)[0][1] == 0.0
    assert_array_equal(step(tg, td, 0)[1], tg)


# =================================================================================================
# (c) whole steps against PyTorch (float64)
# =================================================================================================

TORCH_TOL = dict(rtol=1e-10, atol=1e-14)


def _torch():
    return pytest.importorskip("torch")


def torch_params(theta, sizes):
    torch = _torch()
    return [torch.tensor(a, dtype=torch.float64, requires_grad=True)
            for W, b in ref.unpack(theta, sizes) for a in (W, b)]


def torch_mlp(params, acts, slope, x):
    torch = _torch()
    F = torch.nn.functional
    a = x
    for l, code in enumerate(acts):
        z = a @ params[2 * l] + params[2 * l + 1]
        a = [lambda z: z, torch.relu, lambda z: F.leaky_relu(z, slope), torch.tanh, torch.sigmoid,
             F.softplus][int(code)](z)
    return a


def torch_flat(params):
    return np.concatenate([p.detach().numpy().ravel() for p in params])


def torch_optimizer(params, optimizer, hp):
    torch = _torch()
    lr, b1, b2, eps, wd, mom = hp
    if optimizer == ref.ADAM:
        return torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd, nesterov=optimizer == ref.SGD_NESTEROV)


def torch_state(opt, params, optimizer):
    """(m, v) in theta's layout from torch's optimiser state."""
    if optimizer == ref.ADAM:
        return (np.concatenate([opt.state[p]["exp_avg"].numpy().ravel() for p in params]),
                np.concatenate([opt.state[p]["exp_avg_sq"].numpy().ravel() for p in params]))
    return np.concatenate([opt.state[p]["momentum_buffer"].numpy().ravel() for p in params]), None


def random_hp(rng, optimizer):
    return np.array([float(rng.uniform(1e-3, 5e-2)), 0.9, 0.99, 1e-8, float(rng.uniform(1e-4, 1e-2)),
                     float(rng.uniform(0.5, 0.95))])


OPTIMIZERS = [ref.ADAM, ref.SGD_MOMENTUM, ref.SGD_NESTEROV]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", [ref.MSE, ref.BCE])
def test_mlp_step_matches_torch(rng, optimizer, loss):
    torch = _torch()
    sizes, acts, slope = [5, 7, 6, 4], np.array([2, 5, 0], np.int32), 0.15
    N = 9
    X = rng.standard_normal((N, 5))
    Y = rng.standard_normal((N, 4)) if loss == ref.MSE else rng.random((N, 4))
    theta = random_theta(rng, sizes)
    hp = random_hp(rng, optimizer)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    params = torch_params(theta, sizes)
    opt = torch_optimizer(params, optimizer, hp)
    xt, yt = torch.tensor(X), torch.tensor(Y)
    for t in (1, 2, 3):
        out, theta, m, v = ref.mlp_step(theta, m, v, sizes, acts, slope, X, Y, loss, t, optimizer, hp)
        a = torch_mlp(params, acts, slope, xt)
        if loss == ref.MSE:
            lt = 0.5 * ((yt - a) ** 2).sum(1).mean()
        else:
            lt = torch.nn.functional.binary_cross_entropy_with_logits(a, yt, reduction="none").sum(1).mean()
        opt.zero_grad()
        lt.backward()
        opt.step()
        assert_allclose(out[0], lt.item(), **TORCH_TOL)
        assert_allclose(theta, torch_flat(params), **TORCH_TOL)
    tm, tv = torch_state(opt, params, optimizer)
    assert_allclose(m, tm, **TORCH_TOL)
    if optimizer == ref.ADAM:
        assert_allclose(v, tv, **TORCH_TOL)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimisers_match_torch_on_raw_gradients(rng, optimizer):
    torch = _torch()
    P = 17
    theta, hp = rng.standard_normal(P), random_hp(rng, optimizer)
    grads = [rng.standard_normal(P) for _ in range(4)]
    p = torch.tensor(theta, requires_grad=True)
    opt = torch_optimizer([p], optimizer, hp)
    m, v = np.zeros(P), np.zeros(P)
    for t, g in enumerate(grads, start=1):
        if optimizer == ref.ADAM:
            theta, m, v = ref.adam_update(theta, g, m, v, t, *hp[:5])
        else:
            theta, m = ref.sgd_update(theta, g, m, hp[0], hp[5], hp[4], optimizer == ref.SGD_NESTEROV)
        p.grad = torch.tensor(g)
        opt.step()
        assert_allclose(theta, p.detach().numpy(), **TORCH_TOL)


@pytest.mark.slow
@pytest.mark.parametrize("likelihood", [ref.BERNOULLI, ref.GAUSSIAN_FIXED, ref.GAUSSIAN_LEARNED])
@pytest.mark.parametrize("optimizer", [ref.ADAM, ref.SGD_NESTEROV])
def test_vae_step_matches_torch(rng, likelihood, optimizer):
    torch = _torch()
    N, D, K, c = 7, 5, 3, 2
    C = np.eye(c)[rng.integers(0, c, N)]
    X = rng.random((N, D)) if likelihood == ref.BERNOULLI else rng.standard_normal((N, D))
    se, ae = [D + c, 8, 2 * K], np.array([1, 0], np.int32)
    sd, ad = [K + c, 6, 2 * D if likelihood == ref.GAUSSIAN_LEARNED else D], np.array([3, 0], np.int32)
    te, td = random_theta(rng, se, 0.5), random_theta(rng, sd, 0.5)
    olv = 0.3 * rng.standard_normal(D)
    kw, seed, stream = 0.8, int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    hp = random_hp(rng, optimizer)
    me, ve, md, vd = (np.zeros_like(x) for x in (te, te, td, td))
    pe, pd = torch_params(te, se), torch_params(td, sd)
    opt = torch_optimizer(pe + pd, optimizer, hp)
    xt, ct = torch.tensor(X), torch.tensor(C)
    for t in (1, 2):
        s = stream + t
        out, te, me, ve, td, md, vd = ref.vae_step(te, me, ve, se, ae, td, md, vd, sd, ad, 0.1, X, C, likelihood,
                                                   olv, kw, seed, s, t, optimizer, hp)
        h = torch_mlp(pe, ae, 0.1, torch.cat([xt, ct], 1))
        mu, lv = h[:, :K], h[:, K:]
        eps = torch.tensor(ref.reparam_normals(seed, s, N, K))
        o = torch_mlp(pd, ad, 0.1, torch.cat([mu + torch.exp(lv / 2) * eps, ct], 1))
        if likelihood == ref.BERNOULLI:
            recon = torch.nn.functional.binary_cross_entropy_with_logits(o, xt, reduction="none").sum(1)
        else:
            mean, slv = (o, torch.tensor(olv)) if likelihood == ref.GAUSSIAN_FIXED else (o[:, :D], o[:, D:])
            recon = 0.5 * (np.log(2 * np.pi) + slv + (xt - mean) ** 2 * torch.exp(-slv)).sum(1)
        kl = -0.5 * (1 + lv - mu ** 2 - torch.exp(lv)).sum(1)
        lt = recon.mean() + kw * kl.mean()
        opt.zero_grad()
        lt.backward()
        opt.step()
        assert_allclose(out, [lt.item(), recon.mean().item(), kl.mean().item()], **TORCH_TOL)
        assert_allclose(te, torch_flat(pe), **TORCH_TOL)
        assert_allclose(td, torch_flat(pd), **TORCH_TOL)


@pytest.mark.slow
@pytest.mark.parametrize("loss", [ref.NON_SATURATING, ref.WGAN_GP])
@pytest.mark.parametrize("optimizer", [ref.ADAM, ref.SGD_MOMENTUM])
def test_gan_step_matches_torch(rng, loss, optimizer):
    torch = _torch()
    F = torch.nn.functional
    N, D, q, c = 6, 4, 3, 2
    C = np.eye(c)[rng.integers(0, c, N)]
    X = rng.standard_normal((N, D))
    sg, ag = [q + c, 7, D], np.array([2, 0], np.int32)
    sd, ad = [D + c, 6, 5, 1], np.array([3, 5, 0], np.int32)
    tg, td = random_theta(rng, sg), random_theta(rng, sd, 1.5)
    gpw, seed, stream = 5.0, int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    hp_d, hp_g = random_hp(rng, optimizer), random_hp(rng, optimizer)
    mg, vg, md, vd = (np.zeros_like(x) for x in (tg, tg, td, td))
    pg, pdisc = torch_params(tg, sg), torch_params(td, sd)
    opt_g, opt_d = torch_optimizer(pg, optimizer, hp_g), torch_optimizer(pdisc, optimizer, hp_d)
    xt, ct = torch.tensor(X), torch.tensor(C)
    G = lambda z: torch_mlp(pg, ag, 0.15, torch.cat([z, ct], 1))  # noqa: E731
    Dn = lambda x: torch_mlp(pdisc, ad, 0.15, torch.cat([x, ct], 1))  # noqa: E731
    t_g = 0
    for step in range(3):  # the generator sits out the middle step
        s, t_d, update_gen = stream + 3 * step, step + 1, int(step != 1)
        t_g += update_gen
        out, tg, mg, vg, td, md, vd = ref.gan_step(tg, mg, vg, sg, ag, td, md, vd, sd, ad, 0.15, X, C, loss, gpw,
                                                   update_gen, seed, s, t_d, max(t_g, 1), optimizer, hp_d, hp_g)
        fake = G(torch.tensor(ref.gan_noise(seed, s, N, q))).detach()
        if loss == ref.NON_SATURATING:
            d_loss = F.softplus(-Dn(xt)).mean() + F.softplus(Dn(fake)).mean()
        else:
            e = torch.tensor(ref.gan_mix(seed, s, N))[:, None]
            inp = torch.cat([e * xt + (1 - e) * fake, ct], 1).requires_grad_(True)
            g = torch.autograd.grad(torch_mlp(pdisc, ad, 0.15, inp).sum(), inp, create_graph=True)[0]
            d_loss = Dn(fake).mean() - Dn(xt).mean() + gpw * ((g.norm(dim=1) - 1) ** 2).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = 0.0
        if update_gen:
            d2 = Dn(G(torch.tensor(ref.gan_noise(seed, s + 1, N, q))))
            gl = F.softplus(-d2).mean() if loss == ref.NON_SATURATING else -d2.mean()
            opt_g.zero_grad()
            gl.backward()
            opt_g.step()
            g_loss = gl.item()
        assert_allclose(out, [d_loss.item(), g_loss], **TORCH_TOL)
        assert_allclose(td, torch_flat(pdisc), **TORCH_TOL)
        assert_allclose(tg, torch_flat(pg), **TORCH_TOL)
