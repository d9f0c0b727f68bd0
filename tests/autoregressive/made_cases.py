"""Shared inputs, tolerances and the random MADE of the MADE kernel tests: test_made_losses.py,
test_made_logprob.py, test_made_step.py, test_made_kernel_inputs.py.

The MADE training and scoring kernels (categorical_nll, gaussian_mixture_nll, made_step,
made_logprob) on both backends -- fastgen._core.autoregressive and its Numba CUDA twin
fastgen._cuda.autoregressive -- against the NumPy oracle tests/reference/made.py, central finite
differences and PyTorch, CUDA against the CPU, plus the model's defining properties: probabilities sum (integrate) to 1,
the autoregressive property of the masked network, the masked gradient, one-hot first layers
(dense or sparse) equal to the dense product bit for bit, thread-count independence, and named
errors for bad input.

Tolerances: float64 rtol=1e-10, float32 rtol=1e-5 against the float64 oracle on the kernel's own
inputs, relative to the magnitude of the terms of each sum (conftest.assert_sum_close: a loss or a
gradient entry is a sum whose terms may cancel); parameters after an optimiser step as in
tests/nn/nn_checks.assert_params_close (rtol of |theta| and |step| plus Adam's sensitivity to the
gradient's error). Finite differences: float64, step 1e-6 relative, agreement to 1e-6 of the
gradient's scale (the central difference's truncation and rounding errors are ~1e-9 here).

A test taking `device` runs on the CPU and, when Numba can launch kernels (the simulator under
NUMBA_ENABLE_CUDASIM=1, or a lent GPU), on CUDA (marked `cuda`), with tiny shapes there (the
simulator runs one Python thread per CUDA thread). The one-hot first layer runs from indices on
both devices (CUDA always; the CPU for V >= 10, and as a dense product below), so CUDA's V = 3 and
V = 11 compare both CPU paths with the GPU's. CUDA's tolerances are the CPU's, against the oracle
and against the CPU; parameters after a step as above. Tests of one backend alone are not
parametrised; the CUDA ones (device-resident data, the estimator on CUDA) are marked `cuda`.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from devices import CUDA_MARKS
from fastgen.autoregressive import _made_masks as mm
from reference import made as ref
from reference import nn as ref_nn


DTYPES = [np.float64, np.float32]
OUTPUTS = {"bernoulli": ref.BERNOULLI, "categorical": ref.CATEGORICAL, "gaussian_mixture": ref.GAUSSIAN_MIXTURE}
SLOPE = 0.1


def _rtol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-5


def _f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def named(name):
    return rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z])"


def cuda_only(test):
    """Marks a test that exercises CUDA alone (device arrays, or CUDA against the CPU)."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


def cases(cpu, cuda):
    """Parameter sets: each tuple of `cpu` on the CPU, each of `cuda` on CUDA."""
    return ([pytest.param("cpu", *v) for v in cpu]
            + [pytest.param("cuda", *v, marks=CUDA_MARKS) for v in cuda])


def dev(a):
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(a))


# -- a random MADE -------------------------------------------------------------------------------------

class Made:
    """A random masked network: sizes, acts, theta (unmasked), mask, order, hidden degrees."""

    def __init__(self, rng, D, hidden, output, n_out=1, dtype=np.float64, ordering="random", acts=None, scale=1.0):
        self.D, self.output, self.n_out = D, output, n_out
        self.code = OUTPUTS[output]
        self.order = mm.make_order(D, ordering, rng)
        self.hidden_degrees = mm.make_hidden_degrees(D, hidden, rng)
        self.sizes = [D * mm.input_width(output, n_out)] + list(hidden) + [D * mm.output_width(output, n_out)]
        L = len(self.sizes) - 1
        self.acts = list(acts) if acts is not None else [int(rng.choice([1, 2, 3, 4, 5])) for _ in range(L - 1)] + [0]
        layers = [(scale * rng.standard_normal((i, o)) / np.sqrt(i), 0.3 * rng.standard_normal(o))
                  for i, o in zip(self.sizes[:-1], self.sizes[1:])]
        self.theta = ref_nn.pack(layers).astype(dtype)
        self.mask = mm.flat_mask(self.sizes, self.order, self.hidden_degrees, output, n_out, dtype)
        self.sz = np.asarray(self.sizes, np.int64)
        self.ac = np.asarray(self.acts, np.int32)

    @property
    def masked(self):
        return self.theta * self.mask

    def data(self, rng, N, dtype=None):
        dtype = dtype or self.theta.dtype
        if self.output == "bernoulli":
            return (rng.random((N, self.D)) < 0.5).astype(dtype)
        if self.output == "categorical":
            return rng.integers(0, self.n_out, (N, self.D)).astype(dtype)
        return (1.5 * rng.standard_normal((N, self.D))).astype(dtype)


# CUDA's: every output type, no hidden layer, one-hot inputs with V < 10 and V >= 10
CUDA_MODELS = [("bernoulli", 1, 4, (6,)), ("categorical", 3, 3, (5,)), ("categorical", 11, 2, ()),
               ("gaussian_mixture", 2, 2, (5, 4))]
