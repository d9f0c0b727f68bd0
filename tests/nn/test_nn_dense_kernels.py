"""The nn kernels' forward and backward passes, losses and in-place optimisers on both backends
against the NumPy oracle in tests/reference/nn.py. Backends, inputs and tolerances: nn_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from reference import nn as ref
from conftest import assert_sum_close
from devices import host, kernels
from nn_checks import assert_params_close
from nn_cases import (_act_list, ACTS, backward_scales, cases, close, cpu_kernel, CPU_RTOL, CUDA_NETS, dev,
                      DTYPES, _f64, forward_scales, kernel, _net, nn_kernel, random_theta, RTOL, _rtol,
                      SHAPES, SLOPE)


# =================================================================================================
# Forward and backward
# =================================================================================================

# CPU: every activation (one random layer with another), the shapes of SHAPES, fresh slopes and
# weights of scale 1.5. CUDA: the fixed nets of CUDA_NETS (every activation, a single layer,
# size-1 layers), N = 7 and 1, slope SLOPE; also against the CPU where it is bound.
FWD_CASES = cases([(dtype, N, sizes, act) for dtype in DTYPES for act in ACTS for N, sizes in SHAPES],
                  [(dtype, N, sizes, tuple(acts)) for dtype in DTYPES for sizes, acts in CUDA_NETS for N in (7, 1)])


@pytest.mark.parametrize("device, dtype, N, sizes, act", FWD_CASES)
def test_forward_predict_backward(rng, device, dtype, N, sizes, act):
    forward, predict, backward = (nn_kernel(device, name) for name in ("mlp_forward", "mlp_predict", "mlp_backward"))
    L = len(sizes) - 1
    if device == "cpu":
        acts = _act_list(L, act, rng)
        slope = float(rng.uniform(0.01, 0.5))
        theta = random_theta(rng, sizes, dtype, scale=1.5)
    else:
        acts, slope = list(act), SLOPE
        theta = random_theta(rng, sizes, dtype)
    sz, ac = _net(sizes, acts)
    X = rng.standard_normal((N, sizes[0])).astype(dtype)
    rtol = _rtol(dtype)

    A = host(forward(theta, sz, ac, slope, X))
    assert A.dtype == dtype and A.shape == (N * sum(sizes[1:]),)
    if device == "cpu":
        want = ref.split_activations(ref.mlp_forward(*_f64(theta), sizes, acts, slope, X.astype(np.float64)), N, sizes)
        for l, (got_l, want_l, S) in enumerate(zip(ref.split_activations(A, N, sizes), want,
                                                   forward_scales(theta, sizes, X)), start=1):
            assert_sum_close(got_l, want_l, L * S, rtol)
    else:
        close(A, ref.mlp_forward(theta, sz, ac, slope, X), dtype)
    Y = host(predict(theta, sz, ac, slope, X))
    assert Y.dtype == dtype and Y.shape == (N, sizes[-1])
    assert_array_equal(Y, A[-N * sizes[-1]:].reshape(N, sizes[-1]))  # the same products

    dY = rng.standard_normal((N, sizes[-1])).astype(dtype)
    grad, dX = map(host, backward(theta, sz, ac, slope, X, A, dY, True))
    assert grad.dtype == dtype and grad.shape == theta.shape
    assert dX.dtype == dtype and dX.shape == X.shape
    # the oracle on the kernel's own activations: backward checked on its own
    g_ref, dX_ref = ref.mlp_backward(*_f64(theta), sizes, acts, slope, *_f64(X, A, dY), True)
    grad2, dX2 = map(host, backward(theta, sz, ac, slope, X, A, dY, False))
    assert dX2.shape == (0,)
    if device == "cpu":
        g_scale, dX_scale = backward_scales(theta, sizes, X, A, dY)
        assert_sum_close(grad, g_ref, L * g_scale, rtol)
        assert_sum_close(dX, dX_ref, L * dX_scale, rtol)
        assert_array_equal(grad2, grad)
        return
    close(grad, g_ref, dtype)
    close(dX, dX_ref, dtype)
    assert grad2.dtype == dtype and grad2.shape == theta.shape
    close(grad2, ref.mlp_backward(*_f64(theta), sizes, acts, slope, *_f64(X, A, dY), False)[0], dtype)
    f = cpu_kernel("mlp_forward")
    if f is not None:
        close(A, f(theta, sz, ac, slope, X), dtype, CPU_RTOL[dtype])
        gc, dXc = cpu_kernel("mlp_backward")(theta, sz, ac, slope, X, A, dY, True)
        close(grad, gc, dtype, CPU_RTOL[dtype])
        close(dX, dXc, dtype, CPU_RTOL[dtype])


def test_forward_is_row_independent(rng):
    """A row's activations do not depend on the batch around it (N = 1 vs inside a batch)."""
    forward = kernel("mlp_predict")
    sizes, acts = [9, 33, 17, 3], [3, 1, 0]
    sz, ac = _net(sizes, acts)
    theta = random_theta(rng, sizes, np.float64)
    X = rng.standard_normal((67, 9))
    full = forward(theta, sz, ac, 0.1, X)
    assert_allclose(forward(theta, sz, ac, 0.1, X[5:6].copy()), full[5:6], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", [80.0, 500.0])
def test_mlp_step_bce_extreme_logits(rng, dtype, z):
    """Logits of +-80 and +-500 (exp overflows float32 at 89): finite loss and parameters, the oracle's values."""
    step = kernel("mlp_step")
    sizes, acts = [2, 3], [0]
    sz, ac = _net(sizes, acts)
    theta = np.r_[z * np.array([1, -1, 1, -1, 1, -1]), np.zeros(3)].astype(dtype)
    X = np.array([[1, 0], [0, 1], [1, 0]], dtype)
    Y = np.array([[0, 1, 0.5], [1, 0, 0.5], [1, 1, 0]], dtype)
    hp = np.array([1e-2, 0.9, 0.999, 1e-8, 0.0, 0.0])
    for optimizer in (ref.ADAM, ref.SGD_MOMENTUM):
        m, v = np.zeros(theta.size, dtype), np.zeros(theta.size, dtype)
        want = ref.mlp_step(*_f64(theta, m, v), sizes, acts, 0.1, *_f64(X, Y), ref.BCE, 1, optimizer, hp)
        th = theta.copy()
        out = step(th, m, v, sz, ac, 0.1, X, Y, ref.BCE, 1, optimizer, hp)
        assert np.isfinite(out).all() and np.isfinite(th).all()
        assert_allclose(out, want[0], rtol=_rtol(dtype))
        assert_allclose(th, want[1], rtol=_rtol(dtype), atol=1e-2 * _rtol(dtype))


# =================================================================================================
# Losses
# =================================================================================================

LOSS_SHAPES = [(1, 1), (3, 7), (33, 17), (130, 129)]


@pytest.mark.parametrize("device, dtype, N, D", cases([(dtype, N, D) for dtype in DTYPES for N, D in LOSS_SHAPES],
                                                      [(dtype, 5, 5) for dtype in DTYPES]))
def test_bce_logits(rng, device, dtype, N, D):
    """CPU: fresh logits, soft targets and scale. CUDA: 4 random rows and one of logits -800 .. 800,
    soft targets among binary ones, scale 0.2; also against the CPU where it is bound."""
    f = nn_kernel(device, "bce_logits")
    if device == "cpu":
        Z = (4 * rng.standard_normal((N, D))).astype(dtype)
        X = rng.random((N, D)).astype(dtype)
        X[rng.random((N, D)) < 0.3] = 1.0
        scale = float(rng.uniform(0.01, 2))
    else:
        Z = np.concatenate([rng.standard_normal((4, 5)) * 3, [[-800.0, -40.0, 0.0, 40.0, 800.0]]]).astype(dtype)
        X = (rng.random(Z.shape) < 0.5).astype(dtype)
        X[0, :2] = [0.25, 0.75]  # soft targets too
        scale = 0.2
    loss, dZ = map(host, f(Z, X, scale))
    assert loss.shape == (N,) and dZ.shape == (N, D) and dZ.dtype == dtype
    lr_, dr = ref.bce_logits(*_f64(Z, X), scale)
    z, x = _f64(Z, X)
    rtol = _rtol(dtype)
    if device == "cpu":
        assert_sum_close(loss, lr_, (np.logaddexp(0, z) + np.abs(x * z)).sum(1), rtol)
        assert_sum_close(dZ, dr, scale * (np.abs(x) + 1), rtol)
        return
    assert loss.dtype == dtype and np.isfinite(loss).all()
    terms = np.abs(ref.softplus(z)).sum(1) + np.abs(x * z).sum(1)
    assert_sum_close(loss, lr_, terms, rtol)
    close(dZ, dr, dtype)
    fc = cpu_kernel("bce_logits")
    if fc is not None:
        lc, dZc = fc(Z, X, scale)
        assert_sum_close(loss, lc, terms, CPU_RTOL[dtype])
        close(dZ, dZc, dtype, CPU_RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_logits_extreme(dtype):
    f = kernel("bce_logits")
    Z = np.array([[80, -80, 500, -500, 0], [-500, 500, -80, 80, 30]], dtype)
    X = np.array([[1, 0, 0, 1, 0.5], [0.5, 0.5, 1, 0, 0.25]], dtype)
    loss, dZ = f(Z, X, 1.0)
    assert np.isfinite(loss).all() and np.isfinite(dZ).all()
    lr_, dr = ref.bce_logits(*_f64(Z, X), 1.0)
    assert_allclose(loss, lr_, rtol=_rtol(dtype))
    assert_allclose(dZ, dr, rtol=_rtol(dtype), atol=1e-30)


@pytest.mark.parametrize("learned", [True, False])
@pytest.mark.parametrize("device, dtype, N, D", cases([(dtype, N, D) for dtype in DTYPES for N, D in LOSS_SHAPES],
                                                      [(dtype, 5, 3) for dtype in DTYPES]))
def test_gaussian_nll(rng, device, dtype, learned, N, D):
    """CPU: fresh inputs, log-variances in [-3, 3], a fresh scale; CUDA: [-2, 2], scale 0.5, and
    against the CPU where it is bound."""
    f = nn_kernel(device, "gaussian_nll")
    M, X = (rng.standard_normal((N, D)).astype(dtype) for _ in range(2))
    if device == "cpu":
        S = rng.uniform(-3, 3, (N, D) if learned else D).astype(dtype)
        scale = float(rng.uniform(0.01, 2))
    else:
        S = rng.uniform(-2, 2, size=(N, D) if learned else D).astype(dtype)
        scale = 0.5
    loss, dM, dS = map(host, f(M, S, X, scale))
    lr_, dMr, dSr = ref.gaussian_nll(*_f64(M, S, X), scale)
    m, s, x = _f64(M, S, X)
    r2 = (x - m) ** 2 * np.exp(-s)
    rtol = _rtol(dtype)
    assert loss.shape == (N,) and dM.shape == (N, D) and dM.dtype == dtype
    assert dS.shape == ((N, D) if learned else (0,))
    if device == "cpu":
        assert_sum_close(loss, lr_, 0.5 * (np.log(2 * np.pi) + np.abs(s) + 4 * r2).sum(1), rtol)
        assert_sum_close(dM, dMr, 4 * scale * (np.abs(m) + np.abs(x)) * np.exp(-s), rtol)
        if learned:
            assert dS.dtype == dtype
            assert_sum_close(dS, dSr, scale * 0.5 * (1 + 4 * r2), rtol)
        return
    Sd = np.broadcast_to(s, (N, D))
    terms = 0.5 * (np.log(2 * np.pi) + np.abs(Sd) + (x - m) ** 2 * np.exp(-Sd)).sum(1)
    assert_sum_close(loss, lr_, terms, rtol)
    close(dM, dMr, dtype)
    if learned:
        close(dS, dSr, dtype)
    fc = cpu_kernel("gaussian_nll")
    if fc is not None:
        lc, dMc, dSc = fc(M, S, X, scale)
        assert_sum_close(loss, lc, terms, CPU_RTOL[dtype])
        close(dM, dMc, dtype, CPU_RTOL[dtype])
        assert dSc.shape == dS.shape


@pytest.mark.parametrize("device, dtype, N, K", cases(
    [(dtype, N, K) for dtype in DTYPES for N, K in [(1, 1), (3, 2), (33, 17), (130, 64)]],
    [(dtype, 6, 3) for dtype in DTYPES]))
def test_kl_reparam_and_backward(rng, device, dtype, N, K):
    """CPU: fresh inputs, seeds, scales and KL weights. CUDA: log-variances in [-3, 2], a seed and
    stream with both words nonzero, scale 0.25, KL weight 0.7; eps are the CUDA generator's own
    normals (index n K + k of the stream), and the results the CPU's where it is bound."""
    f, fb = nn_kernel(device, "gaussian_kl_reparam"), nn_kernel(device, "gaussian_kl_reparam_backward")
    if device == "cpu":
        H = np.hstack([rng.standard_normal((N, K)), rng.uniform(-4, 3, (N, K))]).astype(dtype)
        seed, stream = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**40))
        scale = float(rng.uniform(0.01, 1))
    else:
        H = np.hstack([rng.standard_normal((N, K)), rng.uniform(-3, 2, (N, K))]).astype(dtype)
        seed, stream = 2**40 + 7, 2**33 + 5  # both key words and both stream words nonzero
        scale = 0.25
    Zs, eps, kl = map(host, f(H, seed, stream, scale))
    assert Zs.shape == (N, K) and eps.shape == (N, K) and kl.shape == (N,) and Zs.dtype == dtype
    Zr, er, klr = ref.gaussian_kl_reparam(*_f64(H), seed, stream, scale)
    rtol = _rtol(dtype)
    h = _f64(H)[0]
    mu, lv = h[:, :K], h[:, K:]
    kl_terms = 0.5 * (1 + np.abs(lv) + mu ** 2 + np.exp(lv)).sum(1)
    assert_sum_close(kl, klr, kl_terms, rtol)
    dZs = rng.standard_normal((N, K)).astype(dtype)
    kw = float(rng.uniform(0.1, 2)) if device == "cpu" else 0.7
    dH = host(fb(H, eps, dZs, kw, scale))
    assert dH.shape == (N, 2 * K) and dH.dtype == dtype
    dHr = ref.gaussian_kl_reparam_backward(*_f64(H, eps, dZs), kw, scale)
    if device == "cpu":
        assert_allclose(eps, er, rtol=max(rtol, 1e-13), atol=max(rtol, 1e-13) * 1e-3)
        assert_sum_close(Zs, Zr, np.abs(mu) + 2 * np.exp(lv / 2) * np.abs(er), rtol)
        d, e = _f64(dZs, eps)
        sc = np.hstack([np.abs(d) + scale * kw * np.abs(mu),
                        2 * np.abs(d * e) * np.exp(lv / 2) + scale * kw * 0.5 * (np.exp(lv) + 1)])
        assert_sum_close(dH, dHr, sc, rtol)
        return
    cu = kernels("cuda", "rng")
    assert_array_equal(eps, host(cu.normal(seed, stream, N * K)).astype(dtype).reshape(N, K))
    close(eps, er, dtype)
    close(Zs, Zr, dtype)
    close(dH, dHr, dtype)
    fc = cpu_kernel("gaussian_kl_reparam")
    if fc is not None:
        Zc, ec, klc = fc(H, seed, stream, scale)
        assert_allclose(eps, ec, rtol=RTOL[dtype], atol=RTOL[dtype])  # libdevice vs glibc: an ulp
        close(Zs, Zc, dtype)
        assert_sum_close(kl, klc, kl_terms, CPU_RTOL[dtype])
        close(dH, cpu_kernel("gaussian_kl_reparam_backward")(H, eps, dZs, kw, scale), dtype, CPU_RTOL[dtype])


# =================================================================================================
# Optimisers (in place; on CUDA on device arrays)
# =================================================================================================

@pytest.mark.parametrize("device, dtype, P, wd", cases([(dtype, P, None) for dtype in DTYPES for P in [1, 7, 129, 1000]],
                                                       [(dtype, 37, wd) for dtype in DTYPES for wd in (0.0, 0.01)]))
def test_adam_update_in_place(rng, device, dtype, P, wd):
    """CPU: a fresh step count, learning rate and weight decay, the gradient left alone, tolerances
    through Adam's sensitivity. CUDA: steps 1 and 4, lr 1e-2, and the CPU's results where bound."""
    f = nn_kernel(device, "adam_update")
    theta, grad, m = (rng.standard_normal(P).astype(dtype) for _ in range(3))
    v = rng.random(P).astype(dtype)
    if device == "cpu":
        t = int(rng.integers(1, 50))
        lr, b1, b2, eps, wd = float(rng.uniform(1e-4, 0.1)), 0.9, 0.999, 1e-8, float(rng.uniform(0, 0.1))
        want = ref.adam_update(*_f64(theta, grad, m, v), t, lr, b1, b2, eps, wd)
        th, mm, vv, g0 = theta.copy(), m.copy(), v.copy(), grad.copy()
        f(th, grad, mm, vv, t, lr, b1, b2, eps, wd)
        assert_array_equal(grad, g0)
        rtol = _rtol(dtype)
        g_mag = np.abs(_f64(grad)[0]) + wd * np.abs(_f64(theta)[0])
        assert_sum_close(mm, want[1], b1 * np.abs(_f64(m)[0]) + (1 - b1) * g_mag, rtol)
        assert_sum_close(vv, want[2], b2 * np.abs(_f64(v)[0]) + (1 - b2) * g_mag ** 2 * 2, rtol)
        assert_params_close(th, want[0], theta, 4 * rtol * g_mag, ref.ADAM, [lr, b1, b2, eps, wd, 0], t,
                            want[1], want[2], rtol, "adam theta")
        return
    for t in (1, 4):
        d = [dev(a) for a in (theta, m, v)]
        f(d[0], grad, d[1], d[2], t, 1e-2, 0.9, 0.999, 1e-8, wd)
        want = ref.adam_update(theta, grad, m, v, t, 1e-2, 0.9, 0.999, 1e-8, wd)
        for g, w in zip(d, want):
            close(g, w, dtype)
        fc = cpu_kernel("adam_update")
        if fc is not None:
            c = [a.copy() for a in (theta, m, v)]
            fc(c[0], grad, c[1], c[2], t, 1e-2, 0.9, 0.999, 1e-8, wd)
            for g, w in zip(d, c):
                close(g, w, dtype, CPU_RTOL[dtype])


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("device, dtype, P", cases([(dtype, P) for dtype in DTYPES for P in [1, 7, 129, 1000]],
                                                   [(dtype, 37) for dtype in DTYPES]))
def test_sgd_update_in_place(rng, device, dtype, nesterov, P):
    """CPU: fresh hyper-parameters, the gradient left alone; CUDA: lr 0.05, momentum 0.9, weight
    decay 0.01, and the CPU's results where bound."""
    f = nn_kernel(device, "sgd_update")
    theta, grad, vel = (rng.standard_normal(P).astype(dtype) for _ in range(3))
    if device == "cuda":
        d = [dev(a) for a in (theta, vel)]
        f(d[0], grad, d[1], 0.05, 0.9, 0.01, nesterov)
        want = ref.sgd_update(theta, grad, vel, 0.05, 0.9, 0.01, nesterov)
        for g, w in zip(d, want):
            close(g, w, dtype)
        fc = cpu_kernel("sgd_update")
        if fc is not None:
            c = [a.copy() for a in (theta, vel)]
            fc(c[0], grad, c[1], 0.05, 0.9, 0.01, nesterov)
            for g, w in zip(d, c):
                close(g, w, dtype, CPU_RTOL[dtype])
        return
    lr, mom, wd = float(rng.uniform(1e-4, 0.5)), float(rng.uniform(0, 0.99)), float(rng.uniform(0, 0.1))
    want = ref.sgd_update(*_f64(theta, grad, vel), lr, mom, wd, nesterov)
    th, vv, g0 = theta.copy(), vel.copy(), grad.copy()
    f(th, grad, vv, lr, mom, wd, nesterov)
    assert_array_equal(grad, g0)
    rtol = _rtol(dtype)
    t64, g64, v64 = _f64(theta, grad, vel)
    v_mag = mom * np.abs(v64) + np.abs(g64) + wd * np.abs(t64)
    assert_sum_close(vv, want[1], v_mag, rtol)
    assert_sum_close(th, want[0], np.abs(t64) + 2 * lr * (1 + mom) * v_mag, rtol)


def test_sgd_momentum_zero_is_plain_gradient_descent(rng):
    f = kernel("sgd_update")
    theta, grad = rng.standard_normal(9), rng.standard_normal(9)
    th, vel = theta.copy(), np.zeros(9)
    f(th, grad, vel, 0.1, 0.0, 0.0, False)
    assert_sum_close(th, theta - 0.1 * grad, np.abs(theta) + 0.1 * np.abs(grad), 1e-15)  # one rounding (or FMA)
