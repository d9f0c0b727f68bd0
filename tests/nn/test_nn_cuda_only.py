"""CUDA only: the nn kernels' launch geometry, saturation, stream wrap-around, device arrays and
CUDA's own input checks. Backends, inputs and tolerances: nn_cases.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from reference import nn as ref
from devices import host
from nn_cases import (check_state, close, cpu_kernel, CPU_RTOL, cuda_nn, cuda_only, dev, DTYPES,
                      gan_case, has_cuda_penalty, HP, network, SLOPE, vae_case)


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
