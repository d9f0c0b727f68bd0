"""The nn kernels' whole training steps (MLP, VAE, GAN) on both backends against the NumPy oracle,
and their Philox streams. Backends, inputs and tolerances: nn_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from reference import nn as ref
from devices import host
from nn_checks import _assert_state, _grad_tol, _hp, _opt_state, assert_params_close
from nn_cases import (_act_list, cases, check_state, close, cpu_kernel, CPU_RTOL, dev, DTYPES, _f64, gan_case,
                      _gan_setup, has_cuda_penalty, HP, kernel, _net, nn_kernel, opt_state, random_theta,
                      _rtol, SLOPE, vae_case, _vae_ref_grads, _vae_setup)


# =================================================================================================
# Training steps
# =================================================================================================

def run_step(device, name, args, inplace):
    """Calls the step with copies of the in-place arguments `inplace` (device arrays on CUDA):
    (out, those arguments after the step, on the host)."""
    args = list(args)
    for i in inplace:
        args[i] = args[i].copy() if device == "cpu" else dev(args[i])
    out = host(nn_kernel(device, name)(*args))
    return out, [host(args[i]) for i in inplace], args


# CPU: (N, sizes) with fresh activations, step counts and hyper-parameters -- 150 rows of a narrow
# net take the row-parallel step with blocks of rows (nn_steps_narrow.hpp). CUDA: 5 rows of
# [4, 6, 3] (acts [3, 0]), t = 3, HP; also against the CPU where it is bound.
@pytest.mark.parametrize("device, dtype, optimizer, loss, N, sizes", cases(
    [(dtype, optimizer, loss, N, sizes) for dtype in DTYPES for optimizer in [ref.ADAM, ref.SGD_MOMENTUM, ref.SGD_NESTEROV]
     for loss in [ref.MSE, ref.BCE] for N, sizes in [(1, [1, 1]), (7, [5, 17, 3]), (40, [33, 129, 7, 33]), (150, [9, 64, 5])]],
    [(np.float64, 0, 0, 5, [4, 6, 3]), (np.float64, 1, 1, 5, [4, 6, 3]), (np.float32, 2, 0, 5, [4, 6, 3]),
     (np.float32, 0, 1, 5, [4, 6, 3])]))
def test_mlp_step(rng, device, dtype, optimizer, loss, N, sizes):
    L = len(sizes) - 1
    if device == "cpu":
        acts = _act_list(L, int(rng.integers(6)), rng)
        slope = 0.2
        theta = random_theta(rng, sizes, dtype)
        X = rng.standard_normal((N, sizes[0])).astype(dtype)
        Y = (rng.standard_normal((N, sizes[-1])) if loss == ref.MSE else rng.random((N, sizes[-1]))).astype(dtype)
        t = int(rng.integers(1, 5))
        hp = _hp(rng, optimizer)
        m, v = _opt_state(rng, theta.size, dtype, optimizer, t)
    else:
        acts, slope, t, hp = [3, 0], SLOPE, 3, HP
        theta = random_theta(rng, sizes, dtype)
        X = rng.standard_normal((N, sizes[0])).astype(dtype)
        Y = ((rng.random((N, sizes[-1])) < 0.5) if loss else rng.standard_normal((N, sizes[-1]))).astype(dtype)
        m, v = opt_state(rng, theta.size, dtype, optimizer)
    sz, ac = _net(sizes, acts)
    args = [theta, m, v, sz, ac, slope, X, Y, loss, t, optimizer, hp]
    out, (th, mm, vv), _ = run_step(device, "mlp_step", args, (0, 1, 2))
    want = ref.mlp_step(*_f64(theta, m, v), sizes, acts, slope, *_f64(X, Y), loss, t, optimizer, hp)
    assert out.dtype == np.float64 and out.shape == (1,)
    rtol = _rtol(dtype)
    if device == "cuda":
        close(out, want[0], dtype)
        check_state((th, mm, vv), want[1:], dtype)
        f = cpu_kernel("mlp_step")
        if f is not None:
            c = [a.copy() for a in (theta, m, v)]
            oc = f(c[0], c[1], c[2], sz, ac, slope, X, Y, loss, t, optimizer, hp)
            close(out, oc, dtype, CPU_RTOL[dtype])
            check_state((th, mm, vv), c, dtype, CPU_RTOL[dtype])
        return
    assert_allclose(out, want[0], rtol=10 * L * rtol)
    A = ref.mlp_forward(*_f64(theta), sizes, acts, slope, _f64(X)[0])
    out_ref = ref.split_activations(A, N, sizes)[-1]
    dY = (out_ref - _f64(Y)[0]) / N if loss == ref.MSE else ref.bce_logits(out_ref, _f64(Y)[0], 1 / N)[1]
    g_ref, _ = ref.mlp_backward(*_f64(theta), sizes, acts, slope, _f64(X)[0], A, dY, False)
    gtol = _grad_tol(g_ref, rtol, L)
    assert_params_close(th, want[1], theta, gtol, optimizer, hp, t, want[2], want[3], rtol, "theta")
    _assert_state(mm, vv, want[2], want[3], gtol, optimizer, hp, rtol, "state")


STEP_INPLACE = (0, 1, 2, 5, 6, 7)  # theta, m, v of the two networks


# CPU: (N, D, K, c, hidden) with fresh everything; CUDA: vae_case's 5 x 4 data, K = 2, the
# given number of labels c (hidden None: its fixed widths).
@pytest.mark.parametrize("device, dtype, optimizer, likelihood, shape", cases(
    [(dtype, optimizer, likelihood, shape) for dtype in DTYPES for optimizer in [ref.ADAM, ref.SGD_NESTEROV]
     for likelihood in [ref.BERNOULLI, ref.GAUSSIAN_FIXED, ref.GAUSSIAN_LEARNED]
     for shape in [(1, 1, 1, 0, 1), (9, 5, 2, 3, 17), (40, 33, 7, 0, 129), (150, 6, 3, 2, 64)]],
    [(np.float64, 0, 0, (5, 4, 2, 3, None)), (np.float64, 1, 1, (5, 4, 2, 0, None)),
     (np.float64, 2, 2, (5, 4, 2, 2, None)), (np.float32, 0, 2, (5, 4, 2, 0, None))]))
def test_vae_step(rng, device, dtype, optimizer, likelihood, shape):
    N, D, K, c, hidden = shape
    if device == "cuda":
        args = vae_case(rng, dtype, likelihood, c, optimizer)
        out, got, _ = run_step(device, "vae_step", args, STEP_INPLACE)
        want = ref.vae_step(*args)
        assert out.dtype == np.float64 and out.shape == (3,)
        close(out, want[0], dtype)
        check_state(got, want[1:], dtype)
        f = cpu_kernel("vae_step")
        if f is not None:
            c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            oc = f(*c_args)
            close(out, oc, dtype, CPU_RTOL[dtype])
            check_state(got, [c_args[i] for i in STEP_INPLACE], dtype, CPU_RTOL[dtype])
        return
    C, X, se, sd, ae, ad, te, td, olv = _vae_setup(rng, dtype, likelihood, N, D, K, c, hidden)
    slope, kw = 0.1, float(rng.uniform(0.1, 1.5))
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    t = int(rng.integers(1, 4))
    hp = _hp(rng, optimizer)
    me, ve = _opt_state(rng, te.size, dtype, optimizer, t)
    md, vd = _opt_state(rng, td.size, dtype, optimizer, t)
    want = ref.vae_step(*_f64(te, me, ve), se, ae, *_f64(td, md, vd), sd, ad, slope, *_f64(X, C), likelihood,
                        _f64(olv)[0], kw, seed, stream, t, optimizer, hp)
    args = [te, me, ve, *_net(se, ae), td, md, vd, *_net(sd, ad), slope, X, C, likelihood, olv, kw, seed, stream, t,
            optimizer, hp]
    out, got, _ = run_step(device, "vae_step", args, STEP_INPLACE)
    assert out.dtype == np.float64 and out.shape == (3,)
    rtol = _rtol(dtype)
    assert_allclose(out, want[0], rtol=40 * rtol, atol=40 * rtol * (np.abs(want[0]).max() + D))
    ge, gd = _vae_ref_grads(*_f64(te), se, ae, *_f64(td), sd, ad, slope, *_f64(X, C), likelihood, _f64(olv)[0], kw,
                            seed, stream)
    for g, theta0, grad, w, name in ((got[0:3], te, ge, want[1:4], "encoder"),
                                     (got[3:6], td, gd, want[4:7], "decoder")):
        gtol = _grad_tol(grad, rtol, 6)
        assert_params_close(g[0], w[0], theta0, gtol, optimizer, hp, t, w[1], w[2], rtol, name)
        _assert_state(g[1], g[2], w[1], w[2], gtol, optimizer, hp, rtol, name)



@pytest.mark.parametrize("device, dtype, optimizer, loss, update_gen, shape", cases(
    [(dtype, optimizer, loss, update_gen, shape) for dtype in DTYPES for optimizer in [ref.ADAM, ref.SGD_MOMENTUM]
     for loss in [ref.NON_SATURATING, ref.WGAN_GP] for update_gen in [1, 0]
     for shape in [(1, 1, 1, 0, 1), (9, 5, 3, 2, 17), (40, 33, 8, 0, 129), (150, 4, 3, 2, 64)]],
    [(np.float64, 0, 0, True, (4, 3, 2, 2, None)), (np.float32, 1, 0, False, (4, 3, 2, 0, None)),
     (np.float64, 2, 1, True, (4, 3, 2, 0, None)), (np.float32, 0, 1, True, (4, 3, 2, 2, None))]))
def test_gan_step(rng, device, dtype, optimizer, loss, update_gen, shape):
    """CPU: (N, D, q, c, hidden) with fresh everything; CUDA: gan_case's 4 x 3 data, q = 2, c labels."""
    N, D, q, c, hidden = shape
    if device == "cuda":
        args = gan_case(rng, dtype, c, loss, update_gen, optimizer)
        if loss == 1 and not has_cuda_penalty():
            cargs = list(args)
            for i in STEP_INPLACE:
                cargs[i] = dev(args[i])
            with pytest.raises(ValueError, match="^loss"):
                nn_kernel(device, "gan_step")(*cargs)
            pytest.skip("fastgen._cuda.nn.nn_penalty not written yet")
        out, got, _ = run_step(device, "gan_step", args, STEP_INPLACE)
        want = ref.gan_step(*args)
        assert out.dtype == np.float64 and out.shape == (2,)
        close(out, want[0], dtype)
        if not update_gen:
            assert out[1] == 0.0
        check_state(got, want[1:], dtype)
        f = cpu_kernel("gan_step")
        if f is not None:
            c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            oc = f(*c_args)
            close(out, oc, dtype, CPU_RTOL[dtype])
            check_state(got, [c_args[i] for i in STEP_INPLACE], dtype, CPU_RTOL[dtype])
        return
    C, X, sg, sd, ag, ad, tg, td = _gan_setup(rng, dtype, N, D, q, c, hidden, loss)
    slope, gpw = 0.2, float(rng.uniform(0.5, 10))
    seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
    t_d, t_g = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    hp_d, hp_g = _hp(rng, optimizer), _hp(rng, optimizer)
    mg, vg = _opt_state(rng, tg.size, dtype, optimizer, t_g)
    md, vd = _opt_state(rng, td.size, dtype, optimizer, t_d)
    want = ref.gan_step(*_f64(tg, mg, vg), sg, ag, *_f64(td, md, vd), sd, ad, slope, *_f64(X, C), loss, gpw,
                        update_gen, seed, stream, t_d, t_g, optimizer, hp_d, hp_g)
    args = [tg, mg, vg, *_net(sg, ag), td, md, vd, *_net(sd, ad), slope, X, C, loss, gpw, update_gen, seed, stream,
            t_d, t_g, optimizer, hp_d, hp_g]
    out, got, _ = run_step(device, "gan_step", args, STEP_INPLACE)
    assert out.dtype == np.float64 and out.shape == (2,)
    assert np.isfinite(out).all()
    if not update_gen:
        assert out[1] == 0.0
        assert_array_equal(got[0], tg)
    rtol = _rtol(dtype)
    # the oracle's gradients: SGD with lr 1 and no momentum
    plain = np.array([1.0, 0.9, 0.999, 1e-8, 0.0, 0.0])
    zg, zd = np.zeros(tg.size), np.zeros(td.size)
    r = ref.gan_step(*_f64(tg), zg, zg, sg, ag, *_f64(td), zd, zd, sd, ad, slope, *_f64(X, C), loss, gpw, 0, seed,
                     stream, 1, 1, 1, plain, plain)
    g_d = _f64(td)[0] - r[4]
    mag = np.abs(want[0]).max() + 1 + (gpw if loss == ref.WGAN_GP else 0)
    assert_allclose(out, want[0], rtol=100 * rtol, atol=100 * rtol * mag)
    gtol_d = _grad_tol(g_d, rtol, 20 if loss == ref.WGAN_GP else 6)
    assert_params_close(got[3], want[4], td, gtol_d, optimizer, hp_d, t_d, want[5], want[6], rtol, "disc")
    _assert_state(got[4], got[5], want[5], want[6], gtol_d, optimizer, hp_d, rtol, "disc")
    if update_gen:
        # the generator's gradient at the oracle's updated discriminator (lr 0 for D, lr 1 for G)
        hp0 = plain.copy()
        hp0[0] = 0.0
        r = ref.gan_step(*_f64(tg), zg, zg, sg, ag, want[4], zd, zd, sd, ad, slope, *_f64(X, C), loss, gpw, 1, seed,
                         stream, 1, 1, 1, hp0, plain)
        g_g = _f64(tg)[0] - r[1]
        # the discriminator's own update error moves the generator's gradient too: widen by D's
        gtol_g = _grad_tol(g_g, rtol, 20) + (hp_d[0] * 10 * rtol if dtype == np.float32 else 0) * np.abs(g_g).max()
        assert_params_close(got[0], want[1], tg, gtol_g, optimizer, hp_g, t_g, want[2], want[3], rtol, "gen")
        _assert_state(got[1], got[2], want[2], want[3], gtol_g, optimizer, hp_g, rtol, "gen")


def test_gan_step_noise_streams(rng):
    """gan_step's fakes come from the contract's streams: with a linear generator whose weights are
    the identity and zero bias, the generator step with lr 0 leaves everything and the d_loss of
    the non-saturating loss equals the oracle's evaluated on the Philox normals."""
    step = kernel("gan_step")
    N, q = 6, 3
    sg, sd = [q, q], [q, 1]
    tg = np.r_[np.eye(q).ravel(), np.zeros(q)]
    td = rng.standard_normal(q + 1)
    X = rng.standard_normal((N, q))
    seed, stream = int(rng.integers(0, 2**63)), 1000
    hp = np.array([0.0, 0.9, 0.99, 1e-8, 0.0, 0.0])
    out = step(tg.copy(), np.zeros(4 * q), np.zeros(0), *_net(sg, [0]), td.copy(), np.zeros(q + 1), np.zeros(0),
               *_net(sd, [0]), 0.1, X, np.zeros((N, 0)), 0, 1.0, 1, seed, stream, 1, 1, 1, hp, hp)
    Z1, Z2 = ref.gan_noise(seed, stream, N, q), ref.gan_noise(seed, stream + 1, N, q)
    W, b = td[:q], td[q]
    d_loss = np.logaddexp(0, -(X @ W + b)).mean() + np.logaddexp(0, Z1 @ W + b).mean()
    g_loss = np.logaddexp(0, -(Z2 @ W + b)).mean()
    assert_allclose(out, [d_loss, g_loss], rtol=1e-12)


def test_vae_step_uses_reparam_stream(rng):
    """vae_step's reconstruction: identity encoder/decoder with log-variance 0 and a fixed Gaussian
    likelihood, evaluated at mu + eps (eps = Philox normals of `stream`)."""
    step = kernel("vae_step")
    N, K = 5, 2
    se, sd = [K, 2 * K], [K, K]
    te = np.r_[np.hstack([np.eye(K), np.zeros((K, K))]).ravel(), np.zeros(2 * K)]
    td = np.r_[np.eye(K).ravel(), np.zeros(K)]
    X = rng.standard_normal((N, K))
    seed, stream = int(rng.integers(0, 2**63)), 77
    hp = np.array([0.0, 0.9, 0.99, 1e-8, 0.0, 0.0])
    out = step(te.copy(), np.zeros(te.size), np.zeros(te.size), *_net(se, [0]), td.copy(), np.zeros(td.size),
               np.zeros(td.size), *_net(sd, [0]), 0.1, X, np.zeros((N, 0)), 1, np.zeros(K), 1.0, seed, stream, 1,
               0, hp)
    eps = ref.reparam_normals(seed, stream, N, K)
    recon = (0.5 * (np.log(2 * np.pi) + (X - (X + eps)) ** 2)).sum(1).mean()
    kl = (0.5 * X ** 2).sum(1).mean()
    assert_allclose(out, [recon + kl, recon, kl], rtol=1e-12)
