"""Optimisers of the CUDA MLP engine (shared by the nn and MADE training steps): the Adam and SGD
launches on checked device arrays (``adam_device``, ``sgd_device``), their hyper-parameter checks,
and ``Optimiser``: one network's optimiser with its checked state arrays. Contract:
``csrc/KERNELS.md``, "Neural networks"; CPU twin ``csrc/common/mlp/``.
"""
from __future__ import annotations

import math

import numpy as np

from . import elementwise as _ew
from .net import Net
from ..args import DevArg, host_values, inplace, integer, launch1, matrix, vector


def adam_device(theta, grad, m, v, t, lr, beta1, beta2, eps, wd):
    T = np.dtype(theta.dtype).type
    bc1 = 1.0 - beta1 ** t
    bc2 = 1.0 - beta2 ** t
    step_size = lr / bc1
    n = theta.shape[0]
    if n:
        _ew.kernels(np.dtype(T).name)["adam"][launch1(n)](theta, grad, m, v, T(beta1), T(beta2), T(eps), T(wd),
                                                         T(step_size), T(math.sqrt(bc2)))


def sgd_device(theta, grad, vel, lr, momentum, wd, nesterov):
    T = np.dtype(theta.dtype).type
    n = theta.shape[0]
    if n:
        _ew.kernels(np.dtype(T).name)["sgd"][launch1(n)](theta, grad, vel, T(lr), T(momentum), T(wd), bool(nesterov))


def check_adam(lr, beta1, beta2, eps, wd):
    if lr < 0:
        raise ValueError(f"lr: must be >= 0, got {lr}")
    if not 0.0 <= beta1 < 1.0:
        raise ValueError(f"beta1: must lie in [0, 1), got {beta1}")
    if not 0.0 <= beta2 < 1.0:
        raise ValueError(f"beta2: must lie in [0, 1), got {beta2}")
    if eps < 0:
        raise ValueError(f"eps: must be >= 0, got {eps}")
    if wd < 0:
        raise ValueError(f"weight_decay: must be >= 0, got {wd}")
    return lr, beta1, beta2, eps, wd


def check_sgd(lr, momentum, wd):
    if lr < 0:
        raise ValueError(f"lr: must be >= 0, got {lr}")
    if momentum < 0:
        raise ValueError(f"momentum: must be >= 0, got {momentum}")
    if wd < 0:
        raise ValueError(f"weight_decay: must be >= 0, got {wd}")


def hyper(hp, name="hp"):
    """hp float64[6] = (lr, beta1, beta2, eps, weight_decay, momentum) as Python floats."""
    a = vector(hp, name, np.float64, 6)
    v = [float(x) for x in host_values(a)]
    if not all(math.isfinite(x) for x in v):
        raise ValueError(f"{name}: must be finite, got {v}")
    return v


class Optimiser:
    """One network's optimiser: kind (0 Adam, 1 SGD-momentum, 2 SGD-Nesterov), hyper-parameters and
    its checked state arrays (m, v: device arrays of P values; SGD's v unused, may be empty)."""

    def __init__(self, net: Net, m, v, optimizer: int, hp, names):
        m_name, v_name, hp_name = names
        self.kind = optimizer
        self.lr, self.b1, self.b2, self.eps, self.wd, self.mom = hyper(hp, hp_name)
        if optimizer == 0:
            check_adam(self.lr, self.b1, self.b2, self.eps, self.wd)
        else:
            check_sgd(self.lr, self.mom, self.wd)
        self.m = inplace(m, m_name, net.dtype, net.P).dev
        va = DevArg(v, v_name, 1)
        va.expect_dtype(net.dtype)
        if optimizer == 0:
            self.v = inplace(v, v_name, net.dtype, net.P).dev
        else:
            if va.shape[0] not in (0, net.P):
                raise ValueError(f"{v_name}: expected shape (0,) or ({net.P},) (unused by SGD), got shape {va.shape}")
            self.v = None

    def step(self, net: Net, grad, t: int):
        if self.kind == 0:
            adam_device(net.theta, grad, self.m, self.v, t, self.lr, self.b1, self.b2, self.eps, self.wd)
        else:
            sgd_device(net.theta, grad, self.m, self.lr, self.mom, self.wd, self.kind == 2)


def optimizer_code(optimizer):
    return integer(optimizer, "optimizer", 0, 2)


def rows(X, name, dtype, cols):
    arg = matrix(X, name, dtype, -1, cols)
    if arg.shape[0] == 0:
        raise ValueError(f"{name}: need at least one row (N = 0)")
    return arg
