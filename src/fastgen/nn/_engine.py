"""The nn family's backend: ``Engine`` is the ``fastgen._backend.Backend`` of an nn estimator (one
device, one dtype, inputs put there once) plus the calls every nn model makes (``predict``, label
joins and row gathers where the data live, Philox draws). ``Trainable`` holds one network's
parameters and optimiser state on the device for a whole fit: the training-step kernels update them
in place; ``publish`` copies theta back to the host spec.
"""
from __future__ import annotations

import numpy as np

from .._backend import Backend
from ._mlp import MLP


class Engine(Backend):
    def __init__(self, device="auto", dtype=np.float32):
        super().__init__(device, dtype)

    def put(self, a, dtype=None):
        """Every nn input is a float array of the engine dtype (labels come one-hot encoded)."""
        return super().put(a, self.dtype if dtype is None else dtype)

    def join(self, X, C):
        """[X | C] on the device (the conditional models' network input; C: one-hot label columns,
        possibly none), by ``repeat_join`` where X lives: a device X never visits the host."""
        X = self.put(X)
        return X if C.shape[1] == 0 else self.kernels.nn.repeat_join(X, self.put(C), 1, 1)

    def take_rows(self, A, rows):
        """A[rows] on the device (A already there; rows a host index array, put as int64)."""
        return self.kernels.nn.take_rows(A, self.put(rows, np.int64))

    def predict(self, net: MLP, theta, X):
        """a_L of `net` with parameters `theta` (device) for X (host or device), on the device."""
        return self.kernels.nn.mlp_predict(theta, net.sizes_array, net.acts_array, float(net.slope),
                                        X if not isinstance(X, np.ndarray) else self.put(X))

    def normal(self, seed, stream, n):
        return self.host(self.kernels.rng.normal(int(seed), int(stream), int(n)))

    def uniform(self, seed, stream, n):
        return self.host(self.kernels.rng.uniform(int(seed), int(stream), int(n)))


class Trainable:
    """One network's theta and optimiser state (m, v) on the device, and its step counter t."""

    def __init__(self, engine: Engine, net: MLP, optimizer):
        self.engine, self.net, self.optimizer = engine, net, optimizer
        self.theta = engine.put_private(net.theta)
        nm, nv = optimizer.state_shapes(net.n_params)
        self.m = engine.put_private(np.zeros(nm))
        self.v = engine.put_private(np.zeros(nv))
        self.sizes, self.acts = net.sizes_array, net.acts_array
        self.hp = optimizer.hp()
        self.t = 0

    def args(self):
        """(theta, m, v, sizes, acts): the kernel arguments of this network in a training step."""
        return self.theta, self.m, self.v, self.sizes, self.acts

    def next_t(self) -> int:
        self.t += 1
        return self.t



def publish(*trainables: Trainable, name: str, learning_rate: float) -> None:
    """Copy every network's theta back into its host spec (fresh arrays: views the user holds stay
    unchanged), all or none: the losses are measured before each update, so a last step that
    overflowed shows only here, and a model must never be left holding non-finite weights."""
    thetas = [np.array(t.engine.host(t.theta), dtype=t.engine.dtype, copy=True) for t in trainables]
    if not all(np.isfinite(th).all() for th in thetas):
        from ._training import divergence_error
        raise divergence_error(name, "in the last step", "non-finite parameters", learning_rate)
    for t, th in zip(trainables, thetas):
        t.net.theta = th
