"""Shared inputs, tolerances and checks of the RBM kernel tests: test_rbm_half_steps.py,
test_rbm_chains_cd.py, test_rbm_free_energy.py, test_rbm_kernel_inputs.py.

The RBM kernels on both backends -- fastgen._core.rbm and its Numba CUDA twin fastgen._cuda.rbm --
against the NumPy oracles in tests/reference/rbm.py, plus their contract properties (Philox indices,
thread-count independence), CUDA against the CPU on the same inputs, and their input checks.

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`). CPU cases take fresh random inputs
(the `rng` fixture) over the full grid of sizes; CUDA cases keep tiny fixed inputs (V = 7, H = 5, a
few rows): the simulator runs one Python thread per CUDA thread. Its tiles are 4 x 4
(rbm.SIM_GEOMETRY), so these shapes still cross tile boundaries in every direction, and one test
reruns the kernels with the GPU's tiling. Tests that make sense on one backend only (the CPU's
sparse path and thread pool; CUDA's device arrays, geometry and comparisons with the CPU) are not
parametrised; the CUDA ones are marked `cuda` (cuda_only).

CPU tolerances: float64 rtol 1e-10 (probabilities and means also atol 1e-13: an entry of 1e-30 is
not meaningful to 10 digits); float32 rtol 1e-5 / atol 1e-6 against the float64 oracle run on the
float32 inputs (the kernel's own rounding: dot products of a few hundred terms). Sums of many
terms (free energies, AIS weights, log partition functions) get an absolute floor proportional
to their number of terms. Draws: a Bernoulli draw is compared exactly wherever its uniform is not
within rounding of its probability (|u - p| > 1e-5 in float32, 1e-12 in float64); a Gaussian draw
like a mean.

CUDA (csrc/KERNELS.md, rbm.py's docstring):
- against the CPU: probabilities, visible means, products and every draw are bit-identical (both
  backends compute each element as the same k-ordered fused multiply-add chain and the same
  sigmoid; the module's exactly rounded FMA makes the simulator compute what the GPU would);
  float64 row sums (free energies, AIS weights, log Z) add in a different order: 1e-12 relative;
- against the float64 NumPy oracle: float64 to 1e-10 (atol 1e-12), float32 to 1e-5 (atol 1e-6)
  relative, and draws equal wherever the uniform is not within 10 atol of its probability.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from reference import rbm as ref
from conftest import assert_sum_close
from devices import CUDA_MARKS


DTYPES = [np.float64, np.float32]
MODELS = ["bernoulli", "gaussian"]
# (N rows, H hidden, V visible): size-1 cases, odd sizes, shapes spanning several register tiles,
# column panels with narrow tails and several row tiles.
SHAPES = [(1, 1, 1), (3, 1, 5), (2, 7, 1), (7, 13, 29), (37, 67, 131), (130, 50, 97)]
# CUDA's (N, H, V): odd sizes, size 1, more rows than one tile.
CUDA_SHAPES = [(3, 5, 7), (1, 1, 1), (6, 4, 3)]
# CUDA tolerances against the oracle, and between the two backends' float64 row sums.
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
ATOL = {np.float64: 1e-12, np.float32: 1e-6}
SUM_RTOL = 1e-12


def cuda_only(test):
    """Marks a test that exercises CUDA alone (its internals, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cuda_case(*values, id=None):
    return pytest.param("cuda", *values, id=id, marks=CUDA_MARKS)


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return [pytest.param("cpu", *v) for v in cpu] + [cuda_case(*v) for v in cuda]


def _tol(dtype):
    return dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)


def _assert_hidden_probs(P, X, W, b_h, sigma, dtype):
    """P against the oracle, tolerance scaled by the affine terms' magnitudes (see assert_sum_close)."""
    args = _f64(X, W, b_h, sigma)
    want = ref.hidden_probs(*args)
    assert_sum_close(P, want, ref.hidden_affine_scale(*args), _tol(dtype)["rtol"], slope=want * (1 - want))


def _assert_visible_means(M, Hs, W, b_v, sigma, dtype):
    args = _f64(Hs, W, b_v, sigma)
    want = ref.visible_means(*args)
    slope = 1.0 if sigma is not None else want * (1 - want)
    assert_sum_close(M, want, ref.visible_affine_scale(*args[:3]), _tol(dtype)["rtol"], slope=slope)


def _tie(dtype):
    return 1e-12 if dtype == np.float64 else 1e-5


def _model(rng, H, V, dtype, kind, scale=0.5):
    """(W, b_h, b_v, sigma): sigma None (Bernoulli) or in [0.5, 2] (Gaussian)."""
    W = (scale * rng.standard_normal((H, V))).astype(dtype)
    b_h = rng.normal(size=H).astype(dtype)
    b_v = rng.normal(size=V).astype(dtype)
    sigma = rng.uniform(0.5, 2.0, V).astype(dtype) if kind == "gaussian" else None
    return W, b_h, b_v, sigma


def _sg(sigma, dtype):
    """The kernel's sigma argument: (0,) for Bernoulli visibles."""
    return np.zeros(0, dtype) if sigma is None else sigma


def _f64(*arrays):
    return [None if a is None else np.asarray(a, dtype=np.float64) for a in arrays]


def _visibles(rng, N, V, dtype, kind, p=0.4):
    if kind == "gaussian":
        return rng.normal(size=(N, V)).astype(dtype)
    return (rng.random((N, V)) < p).astype(dtype)


def _assert_draws(got, want, u, p, dtype):
    """Bernoulli draws equal wherever the uniform is not within rounding of its probability."""
    clear = np.abs(u - p) > _tie(dtype)
    assert_array_equal(got[clear], want[clear])
    assert set(np.unique(got)) <= {0.0, 1.0}


# -- CUDA's fixed inputs ----------------------------------------------------------------------------

def _fixed(seed):
    return np.random.default_rng(seed)


def fixed_model(seed, H, V, dtype, kind, *, scale=1.0):
    """_model on a generator seeded with `seed`, sigma None for Bernoulli visibles."""
    return _model(_fixed(seed), H, V, dtype, kind, scale=scale)


def model(seed, H, V, dtype, kind, *, scale=1.0):
    """(W, b_h, b_v, sigma) as the kernels take them: sigma empty (Bernoulli) or in [0.5, 2]."""
    W, b_h, b_v, sigma = fixed_model(seed, H, V, dtype, kind, scale=scale)
    return W, b_h, b_v, _sg(sigma, dtype)


def visibles(seed, N, V, dtype, kind):
    """Binary rows (Bernoulli, p = 0.5) or real rows (Gaussian)."""
    return _visibles(_fixed(seed), N, V, dtype, kind, p=0.5)


def binary(seed, N, H, dtype):
    return (_fixed(seed).random((N, H)) < 0.5).astype(dtype)


def ref_sigma(sigma):
    return None if sigma is None or sigma.size == 0 else sigma.astype(np.float64)


def assert_draws_match(S, P_ref, u, tol):
    """Bernoulli draws equal `u < p_ref` except where u lies within tol of p_ref (rounding)."""
    clear = np.abs(u - P_ref) > tol
    assert_array_equal(S[clear], (u < P_ref).astype(S.dtype)[clear])


def _to_device(device):
    if device == "cpu":
        return lambda a: a
    from numba import cuda
    return cuda.to_device


HALF_STEP_CASES = cases([(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in SHAPES],
                        [(dtype, kind, shape) for dtype in DTYPES for kind in MODELS for shape in CUDA_SHAPES])


def cd_inputs(seed, H, V, B, C, dtype, variant):
    """CUDA's fixed parameters, velocities and statistics of one update. variant: bernoulli,
    gaussian (fixed sigma), learned (Gaussian with learned log-variances)."""
    rng = np.random.default_rng(seed)
    kind = "bernoulli" if variant == "bernoulli" else "gaussian"
    W, b_h, b_v, sigma = model(seed, H, V, dtype, kind)
    log_var = (2 * np.log(sigma)).astype(dtype) if variant == "learned" else np.zeros(0, dtype)
    vel = {
        "W": (0.1 * rng.normal(size=(H, V))).astype(dtype),
        "b_h": (0.1 * rng.normal(size=H)).astype(dtype),
        "b_v": (0.1 * rng.normal(size=V)).astype(dtype),
        "log_var": (0.1 * rng.normal(size=log_var.shape)).astype(dtype),
    }
    V_pos = visibles(seed + 1, B, V, dtype, kind)
    H_pos = rng.random((B, H)).astype(dtype)
    V_neg = visibles(seed + 2, C, V, dtype, kind)
    H_neg = binary(seed + 3, C, H, dtype)
    params = {"W": W, "b_h": b_h, "b_v": b_v, "log_var": log_var, "sigma": sigma}
    return params, vel, (V_pos, H_pos, V_neg, H_neg)
