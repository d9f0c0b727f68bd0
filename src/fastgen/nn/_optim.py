"""Optimiser settings as the nn kernels take them: a code and ``hp float64[6]``.

The update rules are torch.optim's (csrc/KERNELS.md, "Optimisers"); these objects only hold and
check the hyper-parameters and make the per-network state the training-step kernels update in place.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

ADAM, SGD_MOMENTUM, SGD_NESTEROV = 0, 1, 2


def _number(value, name, *, low=None, high=None, low_open=False, high_open=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name}: must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name}: must be {'<' if high_open else '<='} {high}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Adam:
    """torch.optim.Adam (L2 ``weight_decay`` added to the gradient, as torch's Adam, not AdamW)."""

    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self):
        _number(self.learning_rate, "learning_rate", low=0, low_open=True)
        _number(self.beta1, "beta1", low=0, high=1)
        _number(self.beta2, "beta2", low=0, high=1)
        _number(self.eps, "eps", low=0, low_open=True)
        _number(self.weight_decay, "weight_decay", low=0)

    code = ADAM

    def hp(self) -> np.ndarray:
        """(lr, beta1, beta2, eps, weight_decay, momentum) as float64[6]."""
        return np.array([self.learning_rate, self.beta1, self.beta2, self.eps, self.weight_decay, 0.0])

    def state_shapes(self, n_params: int):
        """Lengths of (m, v): Adam's first and second moments."""
        return n_params, n_params


@dataclass(frozen=True)
class SGD:
    """torch.optim.SGD with momentum (``nesterov=True``: Nesterov momentum); dampening 0."""

    learning_rate: float = 1e-2
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        _number(self.learning_rate, "learning_rate", low=0, low_open=True)
        _number(self.momentum, "momentum", low=0, high=1)
        _number(self.weight_decay, "weight_decay", low=0)
        if not isinstance(self.nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov: expected True or False, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0")

    @property
    def code(self) -> int:
        return SGD_NESTEROV if self.nesterov else SGD_MOMENTUM

    def hp(self) -> np.ndarray:
        return np.array([self.learning_rate, 0.0, 0.0, 0.0, self.weight_decay, self.momentum])

    def state_shapes(self, n_params: int):
        """Lengths of (m, v): the velocity; v is unused (length 0)."""
        return n_params, 0


OPTIMIZERS = ("adam", "sgd", "nesterov")


def make_optimizer(name, *, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, momentum=0.0):
    """An Adam or SGD object from an estimator's flat hyper-parameters ("adam", "sgd", "nesterov")."""
    if name == "adam":
        return Adam(learning_rate, beta1, beta2, eps, weight_decay)
    if name in ("sgd", "nesterov"):
        return SGD(learning_rate, momentum, weight_decay, nesterov=name == "nesterov")
    raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")
