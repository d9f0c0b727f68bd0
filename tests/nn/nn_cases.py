"""Shared inputs, scales and checks of the nn kernel tests: test_nn_dense_kernels.py,
test_nn_steps.py, test_nn_kernel_inputs.py, test_nn_cuda_only.py (and random_theta for
test_nn_penalty.py).

The nn kernels on both backends -- fastgen._core.nn and its Numba CUDA twin fastgen._cuda.nn
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

import numpy as np
import pytest

from fastgen import _core
from reference import nn as ref
from conftest import assert_sum_close
from devices import CUDA_MARKS, host, kernels


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
