"""The nn kernels on both backends -- fastgen._core.nn and its Numba CUDA twin fastgen._cuda.nn
(nn_dense, nn_steps) -- against the NumPy oracle in tests/reference/nn.py (itself proved by finite
differences and PyTorch in tests/nn/test_nn_reference.py), plus their contract properties (in-place
optimisers, Philox indices, thread-count independence), CUDA against the CPU (wherever the C++
function is bound) and their input checks. A kernel not yet built into _core skips its CPU tests.

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`). CPU cases take fresh random inputs
over the full grid of sizes; CUDA cases keep tiny shapes (the simulator runs one Python thread per
CUDA thread; its product tiles are 8 x 8, nn_dense.SIM_GEOMETRY, which the shapes still cross, and
one test reruns the products with 4 x 4 tiles: bit-identical, every element is the same k-ordered
FMA chain). Tests that exercise one backend only are not parametrised; the CUDA ones are marked
`cuda` (cuda_only).

CPU tolerances: float64 rtol=1e-10, float32 rtol=1e-5, against the float64 oracle run on the kernel's
own inputs (cast to float64). Where a result is a sum that can cancel (matrix products, gradient
sums over rows, losses), the tolerance is rtol times the sum of the magnitudes of its terms
(conftest.assert_sum_close); the magnitudes are propagated through the layers with every activation
taken as 1-Lipschitz (|act'| <= 1), which also covers the rounding of an act' computed from a
rounded a. Adam's update amplifies a gradient's error by its sensitivity
lr [(1 - b1)/(1 - b1^t) / (sqrt(v^) + eps) + |m^| sqrt((1 - b2)/(1 - b2^t)) / (sqrt(v^) + eps)^2],
so the parameter tolerances of whole training steps include that factor times the gradient's
tolerance (ill-conditioned for gradients near eps; no tolerance hides a wrong gradient, which
moves a parameter by ~lr).

CUDA tolerances: an entry is compared against its array's largest magnitude as well as its own
(`close`: a gradient entry is a sum whose terms can cancel, so its error is bounded by the terms'
size, not by the entry): float64 1e-10 against the oracle and 1e-12 against the CPU, float32 1e-5.
Random draws (reparameterisation, GAN noise, WGAN-GP mixing weights) follow the contract's Philox
indices: the same eps as the CPU and the oracle.
"""
from __future__ import annotations

import importlib
import re
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastgen import _core
from reference import nn as ref
from conftest import assert_same_on_any_thread_count, assert_sum_close
from devices import CUDA_MARKS, host, kernels
from nn_checks import _assert_state, _grad_tol, _hp, _opt_state, assert_params_close

DTYPES = [np.float64, np.float32]
ACTS = list(ref.ACTIVATIONS)
# (N, sizes): size-1 cases, odd widths crossing the GEMM's register tiles, several row tiles.
SHAPES = [(1, [1, 1]), (1, [3, 1]), (5, [1, 7, 1]), (13, [17, 33, 5]), (40, [33, 129, 17, 7]),
          (130, [7, 17, 3])]


def kernel(name):
    f = getattr(_core.nn, name, None)
    if f is None:
        pytest.skip(f"_core.nn.{name} is not built yet")
    return f


def _rtol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-5


def _f64(*arrays):
    return [None if a is None else np.asarray(a, np.float64) for a in arrays]


def _net(sizes, acts):
    return np.asarray(sizes, np.int64), np.asarray(acts, np.int32)


def random_theta(rng, sizes, dtype, scale=1.0):
    layers = [(scale * rng.standard_normal((i, o)) / np.sqrt(i), 0.3 * rng.standard_normal(o))
              for i, o in zip(sizes[:-1], sizes[1:])]
    return ref.pack(layers).astype(dtype)


def forward_scales(theta, sizes, X):
    """[S_1 .. S_L]: magnitudes of the terms behind each a_l (S_0 = |X|, S_l = S_{l-1} |W_l| + |b_l|)."""
    S, out = np.abs(np.asarray(X, np.float64)), []
    for W, b in ref.unpack(theta, sizes):
        S = S @ np.abs(W) + np.abs(b)
        out.append(S)
    return out


def backward_scales(theta, sizes, X, A, dY):
    """(grad scale [P], dX scale [N, d_0]): mlp_backward on magnitudes with |act'| <= 1."""
    X = np.asarray(X, np.float64)
    N = X.shape[0]
    layers = ref.unpack(theta, sizes)
    a = [np.abs(X)] + [np.abs(x) for x in ref.split_activations(A, N, sizes)]
    dz = np.abs(np.asarray(dY, np.float64)).reshape(N, -1)
    grads = [None] * len(layers)
    for l in range(len(layers), 0, -1):
        grads[l - 1] = (a[l - 1].T @ dz, dz.sum(axis=0))
        dz = dz @ np.abs(layers[l - 1][0]).T
    return ref.pack(grads), dz


def _act_list(L, act, rng):
    """A layer-activation list using `act` everywhere except a random layer with a random code."""
    acts = [act] * L
    if L > 1:
        acts[int(rng.integers(L))] = int(rng.integers(6))
    return acts


# -- CUDA ------------------------------------------------------------------------------------------

RTOL = {np.float64: 1e-10, np.float32: 1e-5}
CPU_RTOL = {np.float64: 1e-12, np.float32: 1e-5}
SLOPE = 0.1
# (sizes, acts): every activation, a single layer, size-1 layers
CUDA_NETS = [
    ([5, 9, 3, 4], [1, 3, 5]),
    ([5, 6, 2], [2, 4]),
    ([3, 2], [0]),
    ([1, 1, 1], [3, 4]),
]
HP = np.array([1e-2, 0.9, 0.999, 1e-8, 1e-3, 0.8])


def cuda_only(test):
    """Marks a test that exercises CUDA alone (its internals, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA (marked `cuda`)."""
    return [pytest.param("cpu", *v) for v in cpu] + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda]


def nn_kernel(device, name):
    """The kernel `name` of the device (on the CPU: skips while it is not built)."""
    return kernel(name) if device == "cpu" else getattr(kernels("cuda", "nn"), name)


def cuda_nn():
    return kernels("cuda", "nn")


def cpu_kernel(name):
    """The C++ kernel, or None while it is not bound yet (CUDA's comparisons with the CPU)."""
    return getattr(_core.nn, name, None)


def dev(a):
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(a))


def close(got, want, dtype, rtol=None):
    """|got - want| <= rtol (|want| + max |want|): entries scaled by their array's magnitude."""
    got = np.asarray(host(got), np.float64)
    want = np.asarray(want, np.float64).reshape(got.shape)
    scale = np.abs(want).max() if want.size else 0.0
    assert_sum_close(got, want, np.full(want.shape, scale), RTOL[dtype] if rtol is None else rtol)


def network(rng, sizes, acts, dtype, scale=1.0):
    """(theta, sizes, acts) of a random net, as the kernels take them."""
    sizes = np.array(sizes, np.int64)
    return random_theta(rng, sizes, dtype, scale), sizes, np.array(acts, np.int32)


def opt_state(rng, P, dtype, optimizer):
    m = (0.01 * rng.standard_normal(P)).astype(dtype)
    v = (1e-4 * rng.random(P)).astype(dtype) if optimizer == 0 else np.zeros(0, dtype)
    return m, v


def check_state(got, want, dtype, cmp=None):
    for g, w in zip(got, want):
        if np.asarray(w).size == 0:
            continue
        close(g, w, dtype, cmp)


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
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("N, sizes", [(1, [1, 1]), (5, [3, 7, 1]), (17, [33, 17, 5, 1]), (40, [7, 129, 1])])
def test_penalty_backward(rng, dtype, act, N, sizes):
    forward, penalty = kernel("mlp_forward"), kernel("mlp_penalty_backward")
    L = len(sizes) - 1
    acts = [act] * (L - 1) + [int(rng.choice([0, act]))]
    sz, ac = _net(sizes, acts)
    slope = float(rng.uniform(0.01, 0.5))
    theta = random_theta(rng, sizes, dtype, scale=2.0)
    X = rng.standard_normal((N, sizes[0])).astype(dtype)
    weight = float(rng.uniform(0.5, 10))
    A = forward(theta, sz, ac, slope, X)
    gp, grad = penalty(theta, sz, ac, slope, X, A, weight)
    assert gp.shape == (N,) and grad.shape == theta.shape and grad.dtype == dtype
    gp_ref, grad_ref = ref.mlp_penalty_backward(*_f64(theta), sizes, acts, slope, *_f64(X, A), weight)
    rtol = _rtol(dtype)
    # the input gradient's error scales with its terms' magnitudes; gp = (||g|| - 1)^2 amplifies it
    g = ref.input_gradients(*_f64(theta), sizes, acts, slope, *_f64(X, A))
    g_mag = np.sqrt((backward_scales(theta, sizes, X, A, np.ones((N, 1)))[1] ** 2).sum(1))
    norm = np.sqrt((g * g).sum(1))
    assert_sum_close(gp, gp_ref, 2 * L * (np.abs(norm - 1) + 1) * g_mag, rtol)
    # the double backward: relative to the largest magnitude in the whole gradient
    scale = weight * (1 + np.abs(grad_ref).max() / max(weight, 1e-300)) * (1 + g_mag.max()) ** 2
    assert_allclose(grad, grad_ref, rtol=10 * rtol, atol=10 * L * rtol * scale)


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


def _vae_setup(rng, dtype, likelihood, N, D, K, c, hidden):
    C = np.eye(max(c, 1))[rng.integers(0, max(c, 1), N)][:, :c].astype(dtype)
    X = (rng.random((N, D)) if likelihood == ref.BERNOULLI else rng.standard_normal((N, D))).astype(dtype)
    se = [D + c, hidden, 2 * K]
    sd = [K + c, hidden, 2 * D if likelihood == ref.GAUSSIAN_LEARNED else D]
    ae, ad = [int(rng.integers(6)), 0], [int(rng.integers(6)), 0]
    te, td = random_theta(rng, se, dtype), random_theta(rng, sd, dtype)
    olv = (0.3 * rng.standard_normal(D)).astype(dtype)
    return C, X, se, sd, ae, ad, te, td, olv


def _vae_ref_grads(te, se, ae, td, sd, ad, slope, X, C, likelihood, olv, kw, seed, stream):
    """The oracle's gradients of one VAE step, via SGD with lr 1 (theta - theta' = grad)."""
    plain = np.array([1.0, 0.9, 0.999, 1e-8, 0.0, 0.0])
    ze, zd = np.zeros(te.size), np.zeros(td.size)
    r = ref.vae_step(te, ze, ze, se, ae, td, zd, zd, sd, ad, slope, X, C, likelihood, olv, kw, seed, stream, 1, 1,
                     plain)
    return te - r[1], td - r[4]


def vae_case(rng, dtype, likelihood, c, optimizer):
    """CUDA's VAE step arguments: 5 rows of 4 features, 2 latents, c one-hot labels."""
    N, D, K = 5, 4, 2
    X = (rng.random((N, D)) if likelihood == 0 else rng.standard_normal((N, D))).astype(dtype)
    C = np.eye(max(c, 1), dtype=dtype)[rng.integers(max(c, 1), size=N)][:, :c].copy()
    th_e, s_e, a_e = network(rng, [D + c, 5, 2 * K], [1, 0], dtype)
    th_d, s_d, a_d = network(rng, [K + c, 3, 2 * D if likelihood == 2 else D], [3, 0], dtype)
    olv = rng.uniform(-1, 1, D).astype(dtype) if likelihood == 1 else np.zeros(0, dtype)
    m_e, v_e = opt_state(rng, th_e.size, dtype, optimizer)
    m_d, v_d = opt_state(rng, th_d.size, dtype, optimizer)
    return [th_e, m_e, v_e, s_e, a_e, th_d, m_d, v_d, s_d, a_d, SLOPE, X, C, likelihood, olv, 0.7, 99, 3, 2,
            optimizer, HP]


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


def _gan_setup(rng, dtype, N, D, q, c, hidden, loss):
    C = np.eye(max(c, 1))[rng.integers(0, max(c, 1), N)][:, :c].astype(dtype)
    X = rng.standard_normal((N, D)).astype(dtype)
    sg, sd = [q + c, hidden, D], [D + c, hidden, 1]
    ag = [int(rng.integers(6)), 0]
    ad = [int(rng.choice([2, 3, 4, 5] if loss == ref.WGAN_GP else 6)), 0]
    return C, X, sg, sd, ag, ad, random_theta(rng, sg, dtype), random_theta(rng, sd, dtype, 1.5)


def gan_case(rng, dtype, c, loss, update_gen, optimizer):
    """CUDA's GAN step arguments: 4 rows of 3 features, 2 noise dimensions, c one-hot labels."""
    N, D, q = 4, 3, 2
    X = rng.standard_normal((N, D)).astype(dtype)
    C = np.eye(max(c, 1), dtype=dtype)[rng.integers(max(c, 1), size=N)][:, :c].copy()
    th_g, s_g, a_g = network(rng, [q + c, 5, D], [2, 0], dtype)
    th_d, s_d, a_d = network(rng, [D + c, 4, 1], [3 if loss else 2, 0], dtype)
    m_g, v_g = opt_state(rng, th_g.size, dtype, optimizer)
    m_d, v_d = opt_state(rng, th_d.size, dtype, optimizer)
    hp_g = HP * np.array([0.5, 1, 1, 1, 1, 1])
    return [th_g, m_g, v_g, s_g, a_g, th_d, m_d, v_d, s_d, a_d, SLOPE, X, C, loss, 10.0, update_gen, 2**35 + 1, 6,
            3, 2, optimizer, HP, hp_g]


def has_cuda_penalty():
    try:
        importlib.import_module("fastgen._cuda.nn.nn_penalty")
    except ImportError:
        return False
    return True


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


# =================================================================================================
# Same results on 1 and 2 threads
# =================================================================================================

def test_results_independent_of_thread_count(tmp_path):
    for name in ("mlp_forward", "mlp_backward", "mlp_step", "vae_step", "gan_step"):
        kernel(name)
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(3)
        out = []
        def net(sizes, acts):
            return np.array(sizes, np.int64), np.array(acts, np.int32)
        def theta(sizes, dt):
            P = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
            return (0.2 * rng.standard_normal(P)).astype(dt)
        hp = np.array([1e-3, 0.9, 0.99, 1e-8, 1e-4, 0.9])
        for dt in (np.float32, np.float64):
            N = 301
            s = [67, 129, 33, 17]; sz, ac = net(s, [1, 3, 0])
            th = theta(s, dt); X = rng.standard_normal((N, 67)).astype(dt)
            A = _core.nn.mlp_forward(th, sz, ac, 0.1, X)
            dY = rng.standard_normal((N, 17)).astype(dt)
            out += [A, *_core.nn.mlp_backward(th, sz, ac, 0.1, X, A, dY, True)]
            for opt in (0, 2):
                t1, m, v = th.copy(), np.zeros_like(th), np.zeros_like(th)
                Y = rng.random((N, 17)).astype(dt)
                out += [_core.nn.mlp_step(t1, m, v, sz, ac, 0.1, X, Y, 1, 1, opt, hp), t1, m, v]
            D, K, c = 67, 9, 3
            C = np.eye(c)[rng.integers(0, c, N)].astype(dt)
            se, ae = net([D + c, 129, 2 * K], [2, 0]); sd, ad = net([K + c, 129, 2 * D], [5, 0])
            te, td = theta(list(se), dt), theta(list(sd), dt)
            st = [te, np.zeros_like(te), np.zeros_like(te), td, np.zeros_like(td), np.zeros_like(td)]
            out += [_core.nn.vae_step(st[0], st[1], st[2], se, ae, st[3], st[4], st[5], sd, ad, 0.1, X, C, 2,
                                   np.zeros(D, dt), 0.5, 5, 7, 1, 0, hp)] + st
            for loss in (0, 1):
                sg, ag = net([16 + c, 129, D], [1, 0]); sdd, add = net([D + c, 129, 1], [3, 0])
                tg, tdd = theta(list(sg), dt), theta(list(sdd), dt)
                st = [tg, np.zeros_like(tg), np.zeros_like(tg), tdd, np.zeros_like(tdd), np.zeros_like(tdd)]
                out += [_core.nn.gan_step(st[0], st[1], st[2], sg, ag, st[3], st[4], st[5], sdd, add, 0.2, X, C,
                                       loss, 10.0, 1, 5, 9, 1, 1, 0, hp, hp)] + st
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


def test_narrow_steps_independent_of_thread_count(tmp_path):
    """Narrow networks (every width <= 128) take the row-parallel steps (csrc/nn_steps_narrow.hpp):
    on 2 threads each thread carries a block of rows and the weight gradients are shared out. The
    first call of a step kind runs the team, later ones whichever is faster (the team size is chosen
    by timing), so each step runs three times; every result must equal the 1-thread one bit for bit.
    Odd batch sizes (row blocks not multiples of 8), labels, every optimiser and likelihood."""
    for name in ("mlp_step", "vae_step", "gan_step"):
        kernel(name)
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen import _core
        rng = np.random.default_rng(5)
        out = []
        def net(sizes, acts):
            return np.array(sizes, np.int64), np.array(acts, np.int32)
        def theta(sizes, dt):
            P = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
            return (0.3 * rng.standard_normal(P)).astype(dt)
        hp = np.array([1e-2, 0.9, 0.99, 1e-8, 1e-4, 0.9])
        for dt in (np.float32, np.float64):
            for N in (301, 130):
                X = rng.random((N, 19)).astype(dt)
                sz, ac = net([19, 64, 7, 128, 19], [3, 0, 5, 0])
                for opt, loss in ((0, 0), (1, 1), (2, 0)):
                    st = [theta(list(sz), dt)]
                    st += [np.zeros_like(st[0]), np.zeros_like(st[0])]
                    for t in (1, 2, 3):
                        out += [_core.nn.mlp_step(st[0], st[1], st[2], sz, ac, 0.1, X, X, loss, t, opt, hp)]
                    out += st
                c = 3
                C = np.eye(c)[rng.integers(0, c, N)].astype(dt)
                for lik in (0, 1, 2):
                    se, ae = net([19 + c, 64, 64, 10], [1, 4, 0])
                    sd, ad = net([5 + c, 33, 64, 38 if lik == 2 else 19], [2, 3, 0])
                    st = [theta(list(se), dt), None, None, theta(list(sd), dt), None, None]
                    st[1], st[2], st[4], st[5] = (np.zeros_like(st[i]) for i in (0, 0, 3, 3))
                    for t in (1, 2, 3):
                        out += [_core.nn.vae_step(st[0], st[1], st[2], se, ae, st[3], st[4], st[5], sd, ad, 0.1, X, C,
                                               lik, np.full(19, -0.5, dt), 0.7, 11, 100 + t, t, 0, hp)]
                    out += st
                for opt, upd in ((0, 1), (1, 1), (0, 0)):
                    sg, ag = net([16 + c, 64, 48, 19], [1, 5, 4]); sdd, add = net([19 + c, 64, 64, 1], [2, 3, 0])
                    st = [theta(list(sg), dt), None, None, theta(list(sdd), dt), None, None]
                    st[1], st[2], st[4], st[5] = (np.zeros_like(st[i]) for i in (0, 0, 3, 3))
                    for t in (1, 2, 3):
                        out += [_core.nn.gan_step(st[0], st[1], st[2], sg, ag, st[3], st[4], st[5], sdd, add, 0.2, X, C,
                                               0, 10.0, upd, 5, 3 * t, t, t, opt, hp, hp)]
                    out += st
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


# =================================================================================================
# Bad input
# =================================================================================================

def named(name):
    """A regex for an error message naming `name` as a word (sizes_d names sizes; max does not name m)."""
    return rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z])"


def _small(dtype=np.float64):
    sizes, acts = [3, 4, 2], [1, 0]
    sz, ac = _net(sizes, acts)
    theta = np.zeros(ref.n_params(sizes), dtype)
    X = np.zeros((5, 3), dtype)
    return sz, ac, theta, X


def test_forward_backward_bad_input_is_named():
    forward, backward = kernel("mlp_forward"), kernel("mlp_backward")
    sz, ac, theta, X = _small()
    with pytest.raises(ValueError, match=named("X")):
        forward(theta, sz, ac, 0.1, np.zeros((5, 4)))
    with pytest.raises(ValueError, match=named("theta")):
        forward(theta[:-1].copy(), sz, ac, 0.1, X)
    with pytest.raises(ValueError, match=named("acts")):
        forward(theta, sz, np.array([1, 0, 0], np.int32), 0.1, X)
    with pytest.raises(ValueError, match=named("acts")):
        forward(theta, sz, np.array([6, 0], np.int32), 0.1, X)
    with pytest.raises(ValueError, match=named("acts")):
        forward(theta, sz, np.array([-1, 0], np.int32), 0.1, X)
    with pytest.raises(ValueError, match=named("sizes")):
        forward(theta, np.array([3, 0, 2], np.int64), ac, 0.1, X)
    with pytest.raises(ValueError, match=named("sizes")):
        forward(np.zeros(0), np.array([3], np.int64), np.zeros(0, np.int32), 0.1, X)
    for slope in (0.0, 1.0, -0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=named("slope")):
            forward(theta, sz, np.array([2, 0], np.int32), slope, X)
    with pytest.raises(TypeError, match=named("X")):
        forward(theta, sz, ac, 0.1, X.astype(np.float32))
    with pytest.raises(TypeError):
        forward(theta, sz.astype(np.int32), ac, 0.1, X)
    with pytest.raises(ValueError, match="C-contiguous"):
        forward(theta, sz, ac, 0.1, np.zeros((3, 5)).T)
    A = forward(theta, sz, ac, 0.1, X)
    with pytest.raises(ValueError, match=named("A")):
        backward(theta, sz, ac, 0.1, X, A[:-1].copy(), np.zeros((5, 2)), True)
    with pytest.raises(ValueError, match=named("dY")):
        backward(theta, sz, ac, 0.1, X, A, np.zeros((5, 3)), True)
    with pytest.raises(ValueError, match=named("dY")):
        backward(theta, sz, ac, 0.1, X, A, np.zeros((4, 2)), True)


def test_losses_bad_input_is_named():
    bce, nll = kernel("bce_logits"), kernel("gaussian_nll")
    with pytest.raises(ValueError, match=named("X")):
        bce(np.zeros((3, 4)), np.zeros((3, 5)), 1.0)
    with pytest.raises(ValueError, match=named("S")):
        nll(np.zeros((3, 4)), np.zeros(5), np.zeros((3, 4)), 1.0)
    with pytest.raises(ValueError, match=named("S")):
        nll(np.zeros((3, 4)), np.zeros((2, 4)), np.zeros((3, 4)), 1.0)
    with pytest.raises(ValueError, match=named("X")):
        nll(np.zeros((3, 4)), np.zeros(4), np.zeros((3, 3)), 1.0)
    kl, klb = kernel("gaussian_kl_reparam"), kernel("gaussian_kl_reparam_backward")
    with pytest.raises(ValueError, match=named("H")):
        kl(np.zeros((3, 5)), 1, 2, 1.0)
    with pytest.raises(ValueError, match=named("eps")):
        klb(np.zeros((3, 4)), np.zeros((3, 3)), np.zeros((3, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match=named("dZs")):
        klb(np.zeros((3, 4)), np.zeros((3, 2)), np.zeros((2, 2)), 1.0, 1.0)


def test_optimisers_bad_input_is_named():
    adam, sgd = kernel("adam_update"), kernel("sgd_update")
    th, g, m, v = (np.zeros(5) for _ in range(4))
    with pytest.raises(ValueError, match=named("grad")):
        adam(th, np.zeros(4), m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match=named("v")):
        adam(th, g, m, np.zeros(6), 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match=named("t")):
        adam(th, g, m, v, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    ro = th.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=named("theta")):
        adam(ro, g, m, v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(TypeError, match=named("m")):
        adam(th, g, m.astype(np.float32), v, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)
    with pytest.raises(ValueError, match=named("velocity")):
        sgd(th, g, np.zeros(3), 0.1, 0.9, 0.0, False)
    ro = m.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=named("velocity")):
        sgd(th, g, ro, 0.1, 0.9, 0.0, False)
    # hyper-parameters outside their domain (beta1 = 1 would divide by 1 - beta1^t = 0): refused, named
    good = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    for name, bad in [("lr", -1e-3), ("lr", np.nan), ("beta1", 1.0), ("beta1", -0.1), ("beta2", 1.0),
                      ("beta2", np.inf), ("eps", -1e-8), ("weight_decay", -1e-4)]:
        with pytest.raises(ValueError, match=named(name)):
            adam(th, g, m, v, 1, **dict(good, **{name: bad}))
    good = dict(lr=0.1, momentum=0.9, weight_decay=0.0)
    for name, bad in [("lr", -0.1), ("momentum", -0.5), ("momentum", np.nan), ("weight_decay", -1e-4)]:
        with pytest.raises(ValueError, match=named(name)):
            sgd(th, g, np.zeros(5), nesterov=False, **dict(good, **{name: bad}))


def test_steps_bad_input_is_named():
    step = kernel("mlp_step")
    sz, ac, theta, X = _small()
    P = theta.size
    Y = np.zeros((5, 2))
    hp = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.9])
    ok = lambda **kw: dict(dict(theta=theta.copy(), m=np.zeros(P), v=np.zeros(P), X=X, Y=Y, loss=0, t=1,  # noqa: E731
                                optimizer=0, hp=hp, acts=ac), **kw)

    def call(d):
        return step(d["theta"], d["m"], d["v"], sz, d["acts"], 0.1, d["X"], d["Y"], d["loss"], d["t"],
                    d["optimizer"], d["hp"])

    call(ok())
    call(ok(optimizer=1, v=np.zeros(0)))  # SGD: v unused
    for kw, name in [(dict(X=X[:0].copy(), Y=Y[:0].copy()), "X"), (dict(Y=np.zeros((5, 3))), "Y"),
                     (dict(Y=np.zeros((4, 2))), "Y"), (dict(m=np.zeros(P - 1)), "m"), (dict(v=np.zeros(P + 1)), "v"),
                     (dict(theta=np.zeros(P + 1)), "theta"), (dict(loss=2), "loss"), (dict(optimizer=3), "optimizer"),
                     (dict(t=0), "t"), (dict(hp=hp[:5].copy()), "hp"), (dict(acts=np.array([7, 0], np.int32)), "acts")]:
        with pytest.raises(ValueError, match=named(name)):
            call(ok(**kw))
    for i, field, bad in [(0, "lr", -1.0), (1, "beta1", 1.0), (2, "beta2", 1.5), (3, "eps", -1.0),
                          (4, "weight_decay", -1.0), (0, "lr", np.nan)]:
        h = hp.copy()
        h[i] = bad
        with pytest.raises(ValueError, match=named("hp") + "|" + named(field)):
            call(ok(hp=h))
    vae, gan = kernel("vae_step"), kernel("gan_step")
    se, ae, sd, ad = _net([3, 4, 4], [1, 0]) + _net([2, 4, 3], [1, 0])
    te, td = np.zeros(ref.n_params(se)), np.zeros(ref.n_params(sd))
    E = np.zeros((0, 3))
    with pytest.raises(ValueError, match=named("X")):
        vae(te, te.copy(), te.copy(), se, ae, td, td.copy(), td.copy(), sd, ad, 0.1, E, np.zeros((0, 0)), 0,
            np.zeros(3), 1.0, 1, 2, 1, 0, hp)
    with pytest.raises(ValueError, match=named("sizes")):  # encoder output 2K = 4 but decoder input 3 (K = 2)
        vae(te, te.copy(), te.copy(), se, ae, np.zeros(ref.n_params([3, 4, 3])), np.zeros(ref.n_params([3, 4, 3])),
            np.zeros(ref.n_params([3, 4, 3])), _net([3, 4, 3], [1, 0])[0], ad, 0.1, np.zeros((2, 3)),
            np.zeros((2, 0)), 0, np.zeros(3), 1.0, 1, 2, 1, 0, hp)
    sg, ag, sdd, add = _net([2, 4, 3], [1, 0]) + _net([3, 4, 1], [3, 0])
    tg, tdd = np.zeros(ref.n_params(sg)), np.zeros(ref.n_params(sdd))
    with pytest.raises(ValueError, match=named("X")):
        gan(tg, tg.copy(), tg.copy(), sg, ag, tdd, tdd.copy(), tdd.copy(), sdd, add, 0.1, E, np.zeros((0, 0)), 0,
            1.0, 1, 1, 2, 1, 1, 0, hp, hp)
    with pytest.raises(ValueError, match=named("sizes")):  # critic must have d_L = 1
        s2 = _net([3, 4, 2], [3, 0])[0]
        z2 = np.zeros(ref.n_params([3, 4, 2]))
        gan(tg, tg.copy(), tg.copy(), sg, ag, z2, z2.copy(), z2.copy(), s2, add, 0.1, np.zeros((2, 3)),
            np.zeros((2, 0)), 0, 1.0, 1, 1, 2, 1, 1, 0, hp, hp)


# =================================================================================================
# CUDA only: launch geometry, saturation, stream wrap-around, device arrays, its own input checks
# =================================================================================================

@cuda_only
def test_products_do_not_depend_on_the_tiling(rng):
    """4 x 4 tiles (more blocks, different staging) give bit-identical activations and gradients."""
    from fastgen._cuda.nn import nn_dense
    theta, sizes, acts = network(rng, [5, 9, 3, 4], [2, 3, 5], np.float32)
    X = rng.standard_normal((6, 5)).astype(np.float32)
    dY = rng.standard_normal((6, 4)).astype(np.float32)

    def run():
        A = cuda_nn().mlp_forward(theta, sizes, acts, SLOPE, X)
        return [host(A)] + [host(r) for r in cuda_nn().mlp_backward(theta, sizes, acts, SLOPE, X, A, dY, True)]

    first = run()
    saved = nn_dense.geometry
    nn_dense.geometry = nn_dense.Geometry(bm=4, bn=4, bk=2, rm=2, rn=2)
    try:
        second = run()
    finally:
        nn_dense.geometry = saved
    for a, b in zip(first, second):
        assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@cuda_only
def test_saturated_activations_stay_finite(rng, dtype):
    """Pre-activations of +-1e3 (past every exp's range): outputs and gradients finite, as the oracle."""
    sizes = np.array([2, 5, 1], np.int64)
    for acts in ([4, 5], [3, 4], [5, 3]):
        acts = np.array(acts, np.int32)
        theta = (1e3 * rng.choice([-1.0, 1.0], size=ref.n_params(sizes))).astype(dtype)
        X = rng.choice([-1.0, 1.0], size=(3, 2)).astype(dtype)
        A = host(cuda_nn().mlp_forward(theta, sizes, acts, SLOPE, X))
        assert np.isfinite(A).all()
        close(A, ref.mlp_forward(theta, sizes, acts, SLOPE, X), dtype)
        g, dX = map(host, cuda_nn().mlp_backward(theta, sizes, acts, SLOPE, X, A, np.ones((3, 1), dtype), True))
        assert np.isfinite(g).all() and np.isfinite(dX).all()


@cuda_only
def test_gan_streams_wrap_like_the_cpu(rng):
    """stream = 2^64 - 1: the generator step's noise (stream + 1) and the WGAN-GP mixing weights
    (stream + 2) wrap modulo 2^64, as the CPU's uint64 arithmetic does; C may be None."""
    f = cpu_kernel("gan_step")
    if f is None:
        pytest.skip("fastgen._core.nn.gan_step not bound yet")
    dtype = np.float64
    loss = 1 if has_cuda_penalty() else 0
    args = gan_case(rng, dtype, 0, loss, True, 0)
    args[12] = None
    args[17] = 2**64 - 1
    idx = (0, 1, 2, 5, 6, 7)
    cargs = list(args)
    for i in idx:
        cargs[i] = dev(args[i])
    out = host(cuda_nn().gan_step(*cargs))
    c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    close(out, f(*c_args), dtype, CPU_RTOL[dtype])
    check_state([cargs[i] for i in idx], [c_args[i] for i in idx], dtype, CPU_RTOL[dtype])


@cuda_only
def test_device_resident_inputs(rng):
    """Device data gives the same results as host data; results are device arrays."""
    theta, sizes, acts = network(rng, [4, 5, 2], [5, 4], np.float32)
    X = rng.standard_normal((3, 4)).astype(np.float32)
    a = cuda_nn().mlp_forward(dev(theta), dev(sizes), dev(acts), SLOPE, dev(X))
    assert hasattr(a, "copy_to_host")
    assert_array_equal(host(a), host(cuda_nn().mlp_forward(theta, sizes, acts, SLOPE, X)))


def _bad_calls():
    rng = np.random.default_rng(5)
    f = np.float32
    theta, sizes, acts = network(rng, [3, 4, 2], [1, 0], f)
    X = rng.standard_normal((5, 3)).astype(f)
    A = np.zeros(5 * 6, f)
    dY = np.zeros((5, 2), f)
    Z = np.zeros((4, 3), f)
    Hm = np.zeros((4, 4), f)
    return [
        ("theta", "mlp_forward", (theta[:-1], sizes, acts, SLOPE, X), ValueError),
        ("theta", "mlp_forward", (theta.astype(np.int64), sizes, acts, SLOPE, X), TypeError),
        ("sizes", "mlp_forward", (theta, sizes.astype(np.int32), acts, SLOPE, X), TypeError),
        ("sizes", "mlp_forward", (theta, np.array([3], np.int64), acts[:0], SLOPE, X), ValueError),
        ("sizes", "mlp_forward", (theta, np.array([3, 0, 2], np.int64), acts, SLOPE, X), ValueError),
        ("acts", "mlp_forward", (theta, sizes, acts[:1], SLOPE, X), ValueError),
        ("acts", "mlp_forward", (theta, sizes, np.array([1, 6], np.int32), SLOPE, X), ValueError),
        ("acts", "mlp_forward", (theta, sizes, acts.astype(np.int64), SLOPE, X), TypeError),
        ("slope", "mlp_forward", (theta, sizes, np.array([2, 0], np.int32), 1.5, X), ValueError),
        ("X", "mlp_forward", (theta, sizes, acts, SLOPE, X[:, :2]), ValueError),
        ("X", "mlp_predict", (theta, sizes, acts, SLOPE, X.astype(np.float64)), TypeError),
        ("A", "mlp_backward", (theta, sizes, acts, SLOPE, X, A[:-1], dY, True), ValueError),
        ("dY", "mlp_backward", (theta, sizes, acts, SLOPE, X, A, dY[:, :1], True), ValueError),
        ("X", "bce_logits", (Z, Z[:, :2], 1.0), ValueError),
        ("Z", "bce_logits", (Z.astype(np.int64), Z, 1.0), TypeError),
        ("scale", "bce_logits", (Z, Z, float("nan")), ValueError),
        ("S", "gaussian_nll", (Z, Z[:, :2], Z, 1.0), ValueError),
        ("S", "gaussian_nll", (Z, Z[0, :2], Z, 1.0), ValueError),
        ("H", "gaussian_kl_reparam", (Hm[:, :3], 1, 2, 1.0), ValueError),
        ("seed", "gaussian_kl_reparam", (Hm, -1, 2, 1.0), ValueError),
        ("stream", "gaussian_kl_reparam", (Hm, 1, 2**64, 1.0), ValueError),
        ("eps", "gaussian_kl_reparam_backward", (Hm, Z[:, :1], Z[:, :2], 1.0, 1.0), ValueError),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
@cuda_only
def test_bad_input(case):
    name, fn, args, exc = _bad_calls()[case]
    with pytest.raises(exc, match="^" + name):
        getattr(cuda_nn(), fn)(*args)


@cuda_only
def test_bad_step_input(rng):
    args = vae_case(rng, np.float32, 0, 2, 0)
    idx = (0, 1, 2, 5, 6, 7)
    good = list(args)
    for i in idx:
        good[i] = dev(args[i])
    cases = [
        (0, args[0], TypeError, "theta_e"),               # in place: must live on the device
        (6, args[6], TypeError, "m_d"),
        (11, args[11][:0], ValueError, "X"),              # N = 0 refused
        (12, args[12][:, :1], ValueError, "sizes_e"),     # encoder input != D + c
        (13, 3, ValueError, "likelihood"),
        (19, 3, ValueError, "optimizer"),
        (18, 0, ValueError, "t"),
        (20, HP[:5], ValueError, "hp"),
        (2, dev(args[2][:-1]), ValueError, "v_e"),
        (17, -1, ValueError, "stream"),
    ]
    for i, value, exc, name in cases:
        bad = list(good)
        bad[i] = value
        with pytest.raises(exc, match="^" + name):
            cuda_nn().vae_step(*bad)
    th, sizes, acts = network(rng, [3, 2], [0], np.float32)
    m = dev(np.zeros(th.size, np.float32))
    with pytest.raises(ValueError, match="^loss"):
        cuda_nn().mlp_step(dev(th), m, m, sizes, acts, SLOPE, np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32),
                    2, 1, 0, HP)
    with pytest.raises(TypeError, match="^theta"):
        cuda_nn().adam_update(th, th, m, m, 1, 0.1, 0.9, 0.99, 1e-8, 0.0)
    gargs = gan_case(rng, np.float32, 0, 0, True, 0)
    for i in (0, 1, 2, 5, 6, 7):
        gargs[i] = dev(gargs[i])
    bad = list(gargs)
    th2, s2, a2 = network(rng, [3, 4, 2], [2, 0], np.float32)  # discriminator output must be 1
    bad[5], bad[6], bad[7], bad[8], bad[9] = dev(th2), dev(np.zeros_like(th2)), dev(np.zeros_like(th2)), s2, a2
    with pytest.raises(ValueError, match="^sizes_d"):
        cuda_nn().gan_step(*bad)


@cuda_only
def test_empty_batches():
    """N = 0: the primitives return empty results (a zero gradient); the steps refuse it."""
    theta, sizes, acts = network(np.random.default_rng(3), [3, 4, 2], [1, 0], np.float64)
    X = np.zeros((0, 3))
    A = host(cuda_nn().mlp_forward(theta, sizes, acts, SLOPE, X))
    assert A.shape == (0,) and host(cuda_nn().mlp_predict(theta, sizes, acts, SLOPE, X)).shape == (0, 2)
    g, dX = map(host, cuda_nn().mlp_backward(theta, sizes, acts, SLOPE, X, A, np.zeros((0, 2)), True))
    assert_array_equal(g, np.zeros(theta.size))
    assert dX.shape == (0, 3)
    assert host(cuda_nn().bce_logits(np.zeros((0, 2)), np.zeros((0, 2)), 1.0)[0]).shape == (0,)
    m = dev(np.zeros(theta.size))
    with pytest.raises(ValueError, match="^X"):
        cuda_nn().mlp_step(dev(theta), m, m, sizes, acts, SLOPE, X, np.zeros((0, 2)), 0, 1, 0, HP)
