"""CUDA nn kernels (fastgen._cuda.nn, nn_steps) against the NumPy oracle (tests/reference/nn.py) and
the C++ kernels (fastgen._core, compared wherever a function is already bound).

Runs under Numba's CUDA simulator in CI (NUMBA_ENABLE_CUDASIM=1) and on a GPU when one is lent.
The simulator runs one Python thread per CUDA thread, so shapes are tiny; its product tiles are
8 x 8 (nn_dense.SIM_GEOMETRY), which the shapes here still cross, and one test reruns the products
with 4 x 4 tiles (results must be bit-identical: every element is the same k-ordered FMA chain).

Tolerances: an entry is compared against its array's largest magnitude as well as its own
(tests/conftest.py assert_sum_close: a gradient entry is a sum whose terms can cancel, so its
error is bounded by the terms' size, not by the entry): float64 1e-10 against the oracle and 1e-12
against the CPU, float32 1e-5. Random draws (reparameterisation, GAN noise, WGAN-GP mixing weights)
follow the contract's Philox indices: the same eps as the CPU and the oracle.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import assert_sum_close
from fastgen import _backend
from reference import nn as ref

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator"),
]

DTYPES = (np.float64, np.float32)
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
CPU_RTOL = {np.float64: 1e-12, np.float32: 1e-5}
SLOPE = 0.1
# (sizes, acts): every activation, a single layer, size-1 layers
NETS = [
    ([5, 9, 3, 4], [1, 3, 5]),
    ([5, 6, 2], [2, 4]),
    ([3, 2], [0]),
    ([1, 1, 1], [3, 4]),
]


@pytest.fixture(scope="module")
def cu():
    return importlib.import_module("fastgen._cuda")


@pytest.fixture(scope="module")
def core():
    return pytest.importorskip("fastgen._core")


def cpu(core, name):
    """The C++ kernel, or None while it is not bound yet."""
    return getattr(core.nn, name, None)


def host(a):
    return None if a is None else _backend.to_host(a)


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
    sizes = np.array(sizes, np.int64)
    acts = np.array(acts, np.int32)
    layers = [(scale * rng.standard_normal((i, o)) / np.sqrt(i), 0.3 * rng.standard_normal(o))
              for i, o in zip(sizes[:-1], sizes[1:])]
    return ref.pack(layers).astype(dtype), sizes, acts


# -------------------------------------------------------------------------------------------------
# Dense network primitives


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("net", range(len(NETS)))
@pytest.mark.parametrize("N", [7, 1])
def test_forward_predict_backward(cu, core, rng, dtype, net, N):
    theta, sizes, acts = network(rng, *NETS[net], dtype)
    X = rng.standard_normal((N, sizes[0])).astype(dtype)
    A = host(cu.nn.mlp_forward(theta, sizes, acts, SLOPE, X))
    assert A.dtype == dtype and A.shape == (N * sizes[1:].sum(),)
    close(A, ref.mlp_forward(theta, sizes, acts, SLOPE, X), dtype)
    Y = host(cu.nn.mlp_predict(theta, sizes, acts, SLOPE, X))
    assert Y.shape == (N, sizes[-1])
    assert_array_equal(Y, A[-N * sizes[-1]:].reshape(N, -1))  # the same products
    dY = rng.standard_normal((N, sizes[-1])).astype(dtype)
    for want_dx in (True, False):
        g, dX = map(host, cu.nn.mlp_backward(theta, sizes, acts, SLOPE, X, A, dY, want_dx))
        g_ref, dX_ref = ref.mlp_backward(theta, sizes, acts, SLOPE, X, A, dY, want_dx)
        assert g.dtype == dtype and g.shape == (ref.n_params(sizes),)
        close(g, g_ref, dtype)
        assert dX.shape == ((N, sizes[0]) if want_dx else (0,))
        if want_dx:
            close(dX, dX_ref, dtype)
    f = cpu(core, "mlp_forward")
    if f is not None:
        close(A, f(theta, sizes, acts, SLOPE, X), dtype, CPU_RTOL[dtype])
        gc, dXc = cpu(core, "mlp_backward")(theta, sizes, acts, SLOPE, X, A, dY, True)
        g, dX = map(host, cu.nn.mlp_backward(theta, sizes, acts, SLOPE, X, A, dY, True))
        close(g, gc, dtype, CPU_RTOL[dtype])
        close(dX, dXc, dtype, CPU_RTOL[dtype])


def test_products_do_not_depend_on_the_tiling(cu, rng):
    """4 x 4 tiles (more blocks, different staging) give bit-identical activations and gradients."""
    from fastgen._cuda.nn import nn_dense
    theta, sizes, acts = network(rng, [5, 9, 3, 4], [2, 3, 5], np.float32)
    X = rng.standard_normal((6, 5)).astype(np.float32)
    dY = rng.standard_normal((6, 4)).astype(np.float32)

    def run():
        A = cu.nn.mlp_forward(theta, sizes, acts, SLOPE, X)
        return [host(A)] + [host(r) for r in cu.nn.mlp_backward(theta, sizes, acts, SLOPE, X, A, dY, True)]

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
def test_saturated_activations_stay_finite(cu, rng, dtype):
    """Pre-activations of +-1e3 (past every exp's range): outputs and gradients finite, as the oracle."""
    sizes = np.array([2, 5, 1], np.int64)
    for acts in ([4, 5], [3, 4], [5, 3]):
        acts = np.array(acts, np.int32)
        theta = (1e3 * rng.choice([-1.0, 1.0], size=ref.n_params(sizes))).astype(dtype)
        X = rng.choice([-1.0, 1.0], size=(3, 2)).astype(dtype)
        A = host(cu.nn.mlp_forward(theta, sizes, acts, SLOPE, X))
        assert np.isfinite(A).all()
        close(A, ref.mlp_forward(theta, sizes, acts, SLOPE, X), dtype)
        g, dX = map(host, cu.nn.mlp_backward(theta, sizes, acts, SLOPE, X, A, np.ones((3, 1), dtype), True))
        assert np.isfinite(g).all() and np.isfinite(dX).all()


# -------------------------------------------------------------------------------------------------
# Losses and the reparameterisation


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_logits(cu, core, rng, dtype):
    Z = np.concatenate([rng.standard_normal((4, 5)) * 3, [[-800.0, -40.0, 0.0, 40.0, 800.0]]]).astype(dtype)
    X = (rng.random(Z.shape) < 0.5).astype(dtype)
    X[0, :2] = [0.25, 0.75]  # soft targets too
    loss, dZ = map(host, cu.nn.bce_logits(Z, X, 0.2))
    l_ref, dZ_ref = ref.bce_logits(Z, X, 0.2)
    assert loss.dtype == dtype and np.isfinite(loss).all()
    terms = np.abs(ref.softplus(Z.astype(np.float64))).sum(1) + np.abs(X * Z.astype(np.float64)).sum(1)
    assert_sum_close(loss, l_ref, terms, RTOL[dtype])
    close(dZ, dZ_ref, dtype)
    f = cpu(core, "bce_logits")
    if f is not None:
        lc, dZc = f(Z, X, 0.2)
        assert_sum_close(loss, lc, terms, CPU_RTOL[dtype])
        close(dZ, dZc, dtype, CPU_RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("learned", [True, False])
def test_gaussian_nll(cu, core, rng, dtype, learned):
    N, D = 5, 3
    M = rng.standard_normal((N, D)).astype(dtype)
    X = rng.standard_normal((N, D)).astype(dtype)
    S = rng.uniform(-2, 2, size=(N, D) if learned else D).astype(dtype)
    loss, dM, dS = map(host, cu.nn.gaussian_nll(M, S, X, 0.5))
    l_ref, dM_ref, dS_ref = ref.gaussian_nll(M, S, X, 0.5)
    Sd = np.broadcast_to(S.astype(np.float64), (N, D))
    terms = 0.5 * (np.log(2 * np.pi) + np.abs(Sd) + (X - M.astype(np.float64)) ** 2 * np.exp(-Sd)).sum(1)
    assert_sum_close(loss, l_ref, terms, RTOL[dtype])
    close(dM, dM_ref, dtype)
    assert dS.shape == ((N, D) if learned else (0,))
    if learned:
        close(dS, dS_ref, dtype)
    f = cpu(core, "gaussian_nll")
    if f is not None:
        lc, dMc, dSc = f(M, S, X, 0.5)
        assert_sum_close(loss, lc, terms, CPU_RTOL[dtype])
        close(dM, dMc, dtype, CPU_RTOL[dtype])
        assert dSc.shape == dS.shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_reparam_and_backward(cu, core, rng, dtype):
    N, K = 6, 3
    Hm = np.hstack([rng.standard_normal((N, K)), rng.uniform(-3, 2, (N, K))]).astype(dtype)
    seed, stream = 2**40 + 7, 2**33 + 5  # both key words and both stream words nonzero
    Zs, eps, kl = map(host, cu.nn.gaussian_kl_reparam(Hm, seed, stream, 0.25))
    Z_ref, e_ref, kl_ref = ref.gaussian_kl_reparam(Hm, seed, stream, 0.25)
    # eps[n, k] is normal index n K + k of the stream: the CUDA generator's own normals
    assert_array_equal(eps, host(cu.rng.normal(seed, stream, N * K)).astype(dtype).reshape(N, K))
    close(eps, e_ref, dtype)
    close(Zs, Z_ref, dtype)
    H64 = Hm.astype(np.float64)
    terms = 0.5 * (1 + np.abs(H64[:, K:]) + H64[:, :K] ** 2 + np.exp(H64[:, K:])).sum(1)
    assert_sum_close(kl, kl_ref, terms, RTOL[dtype])
    dZs = rng.standard_normal((N, K)).astype(dtype)
    dH = host(cu.nn.gaussian_kl_reparam_backward(Hm, eps, dZs, 0.7, 0.25))
    assert dH.shape == (N, 2 * K)
    close(dH, ref.gaussian_kl_reparam_backward(Hm, eps, dZs, 0.7, 0.25), dtype)
    f = cpu(core, "gaussian_kl_reparam")
    if f is not None:
        Zc, ec, klc = f(Hm, seed, stream, 0.25)
        assert_allclose(eps, ec, rtol=RTOL[dtype], atol=RTOL[dtype])  # libdevice vs glibc: an ulp
        close(Zs, Zc, dtype)
        assert_sum_close(kl, klc, terms, CPU_RTOL[dtype])
        close(dH, cpu(core, "gaussian_kl_reparam_backward")(Hm, eps, dZs, 0.7, 0.25), dtype, CPU_RTOL[dtype])


# -------------------------------------------------------------------------------------------------
# Optimisers (in place on device arrays)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_update(cu, core, rng, dtype, wd):
    P = 37
    theta, grad, m = (rng.standard_normal(P).astype(dtype) for _ in range(3))
    v = rng.random(P).astype(dtype)
    for t in (1, 4):
        d = [dev(a) for a in (theta, m, v)]
        cu.nn.adam_update(d[0], grad, d[1], d[2], t, 1e-2, 0.9, 0.999, 1e-8, wd)
        want = ref.adam_update(theta, grad, m, v, t, 1e-2, 0.9, 0.999, 1e-8, wd)
        for g, w in zip(d, want):
            close(g, w, dtype)
        f = cpu(core, "adam_update")
        if f is not None:
            c = [a.copy() for a in (theta, m, v)]
            f(c[0], grad, c[1], c[2], t, 1e-2, 0.9, 0.999, 1e-8, wd)
            for g, w in zip(d, c):
                close(g, w, dtype, CPU_RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_update(cu, core, rng, dtype, nesterov):
    P = 37
    theta, grad, vel = (rng.standard_normal(P).astype(dtype) for _ in range(3))
    d = [dev(a) for a in (theta, vel)]
    cu.nn.sgd_update(d[0], grad, d[1], 0.05, 0.9, 0.01, nesterov)
    want = ref.sgd_update(theta, grad, vel, 0.05, 0.9, 0.01, nesterov)
    for g, w in zip(d, want):
        close(g, w, dtype)
    f = cpu(core, "sgd_update")
    if f is not None:
        c = [a.copy() for a in (theta, vel)]
        f(c[0], grad, c[1], 0.05, 0.9, 0.01, nesterov)
        for g, w in zip(d, c):
            close(g, w, dtype, CPU_RTOL[dtype])


# -------------------------------------------------------------------------------------------------
# Training steps


HP = np.array([1e-2, 0.9, 0.999, 1e-8, 1e-3, 0.8])


def opt_state(rng, P, dtype, optimizer):
    m = (0.01 * rng.standard_normal(P)).astype(dtype)
    v = (1e-4 * rng.random(P)).astype(dtype) if optimizer == 0 else np.zeros(0, dtype)
    return m, v


def check_state(got, want, dtype, cmp=None):
    for g, w in zip(got, want):
        if np.asarray(w).size == 0:
            continue
        close(g, w, dtype, cmp)


@pytest.mark.parametrize("dtype,loss,optimizer", [
    (np.float64, 0, 0), (np.float64, 1, 1), (np.float32, 0, 2), (np.float32, 1, 0)])
def test_mlp_step(cu, core, rng, dtype, loss, optimizer):
    theta, sizes, acts = network(rng, [4, 6, 3], [3, 0], dtype)
    N = 5
    X = rng.standard_normal((N, 4)).astype(dtype)
    Y = ((rng.random((N, 3)) < 0.5) if loss else rng.standard_normal((N, 3))).astype(dtype)
    m, v = opt_state(rng, theta.size, dtype, optimizer)
    d = [dev(a) for a in (theta, m, v)]
    out = host(cu.nn.mlp_step(d[0], d[1], d[2], sizes, acts, SLOPE, X, Y, loss, 3, optimizer, HP))
    want = ref.mlp_step(theta, m, v, sizes, acts, SLOPE, X, Y, loss, 3, optimizer, HP)
    assert out.dtype == np.float64 and out.shape == (1,)
    close(out, want[0], dtype)
    check_state(d, want[1:], dtype)
    f = cpu(core, "mlp_step")
    if f is not None:
        c = [a.copy() for a in (theta, m, v)]
        oc = f(c[0], c[1], c[2], sizes, acts, SLOPE, X, Y, loss, 3, optimizer, HP)
        close(out, oc, dtype, CPU_RTOL[dtype])
        check_state(d, c, dtype, CPU_RTOL[dtype])


def vae_case(rng, dtype, likelihood, c, optimizer):
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


@pytest.mark.parametrize("dtype,likelihood,c,optimizer", [
    (np.float64, 0, 3, 0), (np.float64, 1, 0, 1), (np.float64, 2, 2, 2), (np.float32, 2, 0, 0)])
def test_vae_step(cu, core, rng, dtype, likelihood, c, optimizer):
    args = vae_case(rng, dtype, likelihood, c, optimizer)
    d = [dev(args[i]) for i in (0, 1, 2, 5, 6, 7)]
    cargs = list(args)
    for i, j in zip((0, 1, 2, 5, 6, 7), range(6)):
        cargs[i] = d[j]
    out = host(cu.nn.vae_step(*cargs))
    want = ref.vae_step(*args)
    assert out.dtype == np.float64 and out.shape == (3,)
    close(out, want[0], dtype)
    check_state(d, want[1:], dtype)
    f = cpu(core, "vae_step")
    if f is not None:
        c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        oc = f(*c_args)
        close(out, oc, dtype, CPU_RTOL[dtype])
        check_state(d, [c_args[i] for i in (0, 1, 2, 5, 6, 7)], dtype, CPU_RTOL[dtype])


def gan_case(rng, dtype, c, loss, update_gen, optimizer):
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


@pytest.mark.parametrize("dtype,c,loss,update_gen,optimizer", [
    (np.float64, 2, 0, True, 0), (np.float32, 0, 0, False, 1), (np.float64, 0, 1, True, 2),
    (np.float32, 2, 1, True, 0)])
def test_gan_step(cu, core, rng, dtype, c, loss, update_gen, optimizer):
    args = gan_case(rng, dtype, c, loss, update_gen, optimizer)
    idx = (0, 1, 2, 5, 6, 7)
    d = [dev(args[i]) for i in idx]
    cargs = list(args)
    for i, j in zip(idx, range(6)):
        cargs[i] = d[j]
    if loss == 1 and not has_cuda_penalty():
        with pytest.raises(ValueError, match="^loss"):
            cu.nn.gan_step(*cargs)
        pytest.skip("fastgen._cuda.nn.nn_penalty not written yet")
    out = host(cu.nn.gan_step(*cargs))
    want = ref.gan_step(*args)
    assert out.dtype == np.float64 and out.shape == (2,)
    close(out, want[0], dtype)
    if not update_gen:
        assert out[1] == 0.0
    check_state(d, want[1:], dtype)
    f = cpu(core, "gan_step")
    if f is not None:
        c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        oc = f(*c_args)
        close(out, oc, dtype, CPU_RTOL[dtype])
        check_state(d, [c_args[i] for i in idx], dtype, CPU_RTOL[dtype])


def test_gan_streams_wrap_like_the_cpu(cu, core, rng):
    """stream = 2^64 - 1: the generator step's noise (stream + 1) and the WGAN-GP mixing weights
    (stream + 2) wrap modulo 2^64, as the CPU's uint64 arithmetic does; C may be None."""
    f = cpu(core, "gan_step")
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
    out = host(cu.nn.gan_step(*cargs))
    c_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    close(out, f(*c_args), dtype, CPU_RTOL[dtype])
    check_state([cargs[i] for i in idx], [c_args[i] for i in idx], dtype, CPU_RTOL[dtype])


def test_device_resident_inputs(cu, rng):
    """Device data gives the same results as host data; results are device arrays."""
    theta, sizes, acts = network(rng, [4, 5, 2], [5, 4], np.float32)
    X = rng.standard_normal((3, 4)).astype(np.float32)
    a = cu.nn.mlp_forward(dev(theta), dev(sizes), dev(acts), SLOPE, dev(X))
    assert hasattr(a, "copy_to_host")
    assert_array_equal(host(a), host(cu.nn.mlp_forward(theta, sizes, acts, SLOPE, X)))


# -------------------------------------------------------------------------------------------------
# Bad input: a clear ValueError / TypeError naming the argument


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
def test_bad_input(cu, case):
    name, fn, args, exc = _bad_calls()[case]
    with pytest.raises(exc, match="^" + name):
        getattr(cu.nn, fn)(*args)


def test_bad_step_input(cu, rng):
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
            cu.nn.vae_step(*bad)
    th, sizes, acts = network(rng, [3, 2], [0], np.float32)
    m = dev(np.zeros(th.size, np.float32))
    with pytest.raises(ValueError, match="^loss"):
        cu.nn.mlp_step(dev(th), m, m, sizes, acts, SLOPE, np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32),
                    2, 1, 0, HP)
    with pytest.raises(TypeError, match="^theta"):
        cu.nn.adam_update(th, th, m, m, 1, 0.1, 0.9, 0.99, 1e-8, 0.0)
    gargs = gan_case(rng, np.float32, 0, 0, True, 0)
    for i in (0, 1, 2, 5, 6, 7):
        gargs[i] = dev(gargs[i])
    bad = list(gargs)
    th2, s2, a2 = network(rng, [3, 4, 2], [2, 0], np.float32)  # discriminator output must be 1
    bad[5], bad[6], bad[7], bad[8], bad[9] = dev(th2), dev(np.zeros_like(th2)), dev(np.zeros_like(th2)), s2, a2
    with pytest.raises(ValueError, match="^sizes_d"):
        cu.nn.gan_step(*bad)


def test_empty_batches(cu):
    """N = 0: the primitives return empty results (a zero gradient); the steps refuse it."""
    theta, sizes, acts = network(np.random.default_rng(3), [3, 4, 2], [1, 0], np.float64)
    X = np.zeros((0, 3))
    A = host(cu.nn.mlp_forward(theta, sizes, acts, SLOPE, X))
    assert A.shape == (0,) and host(cu.nn.mlp_predict(theta, sizes, acts, SLOPE, X)).shape == (0, 2)
    g, dX = map(host, cu.nn.mlp_backward(theta, sizes, acts, SLOPE, X, A, np.zeros((0, 2)), True))
    assert_array_equal(g, np.zeros(theta.size))
    assert dX.shape == (0, 3)
    assert host(cu.nn.bce_logits(np.zeros((0, 2)), np.zeros((0, 2)), 1.0)[0]).shape == (0,)
    m = dev(np.zeros(theta.size))
    with pytest.raises(ValueError, match="^X"):
        cu.nn.mlp_step(dev(theta), m, m, sizes, acts, SLOPE, X, np.zeros((0, 2)), 0, 1, 0, HP)
