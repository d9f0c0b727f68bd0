"""RBM suites: fastgen (CPU, CUDA) against scikit-learn and a plain PyTorch loop on identical data.

R1  784 visible x 500 hidden, batch 100: one PCD-1 epoch (torch: CD-1) over 10,000 structured
    binary samples, from a fresh model
R2  784 x 500: 1000 Gibbs sweeps of 100 chains from the same weights and start
R3  the two products of one Gibbs sweep (100 x 784 @ 784 x 500 and 100 x 500 @ 500 x 784, float32):
    fastgen's hand-written kernel against numpy's BLAS (np.dot). R2's time per sweep divided by
    fastgen's R3 time is the cost of sampling over its own matrix products (target <= 1.3).

Every suite's first parameter is the implementation (see common.py), so `asv run` prints the
implementations side by side. Data and parameters come from common.py; these classes only time.
"""
from __future__ import annotations

import numpy as np

from . import common

IMPLEMENTATIONS = common.RBM_IMPLEMENTATIONS
V, H, BATCH, N_SAMPLES = 784, 500, 100, 10_000
N_CHAINS, N_STEPS = 100, 1000


class R1PCDEpoch:
    """One training epoch, 784 x 500, batch 100, over 10,000 structured binary samples."""
    timeout = 300.0
    warmup_time = 0.0
    number = 1
    repeat = (1, 3, 60.0)
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]

    def setup(self, impl):
        common.require_rbm(impl)
        self.epoch = common.rbm_epoch(impl, common.rbm_data(N_SAMPLES, V), H, BATCH)
        if impl.startswith("fastgen"):  # first call loads the kernels (and compiles them on CUDA)
            common.rbm_epoch(impl, common.rbm_data(200, V), H, BATCH)()

    def time_epoch(self, impl):
        self.epoch()


class R2Gibbs:
    """1000 Gibbs sweeps of 100 chains, 784 x 500."""
    timeout = 600.0          # scikit-learn's gibbs() loop takes ~10 s
    warmup_time = 0.0
    number = 1
    repeat = (1, 3, 60.0)
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]

    def setup(self, impl):
        common.require_rbm(impl)
        params = common.rbm_params(H, V)
        v0 = common.rbm_data(N_CHAINS, V)
        self.run = common.rbm_gibbs(impl, params, v0, N_STEPS)
        if impl.startswith("fastgen"):
            common.rbm_gibbs(impl, params, v0, 2)()

    def time_gibbs_1000_sweeps(self, impl):
        self.run()


class R3GibbsMatmuls:
    """The two float32 products of one Gibbs sweep: the kernel behind fastgen-cpu vs np.dot."""
    number = 20
    repeat = (3, 10, 20.0)
    param_names = ["matmul"]
    params = [["fastgen-kernel", "numpy-blas"]]

    def setup(self, matmul):
        p = common.rbm_params(H, V)
        self.v = common.rbm_data(N_CHAINS, V)
        self.h = (np.random.default_rng(0).random((N_CHAINS, H)) < 0.5).astype(np.float32)
        self.W, self.Wt = p["W"], np.ascontiguousarray(p["W"].T)
        if matmul == "fastgen-kernel":
            from fastgen import _core
            self.mm = _core.rbm._matmul
        else:
            self.mm = np.dot

    def time_two_products(self, matmul):
        self.mm(self.v, self.Wt)
        self.mm(self.h, self.W)
