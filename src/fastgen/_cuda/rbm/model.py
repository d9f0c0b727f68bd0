"""Host side of the RBM kernels: the checked model (``Model``: W, biases, sigma), placeholders for
unused launch arguments, and the launches of the two half-steps on device arrays (``hidden``,
``visible``). The launch geometry is the package's ``geometry`` (read at each call).
"""
from __future__ import annotations

import sys

import numpy as np
from numba import cuda

from ..common.args import DevArg, host_values, launch
from ..common.gemm import grid as _tile_grid
from . import products, rows as _rows
from .products import H_PROBS


def geometry():
    """The package's launch geometry (``fastgen._cuda.rbm.geometry``; tests switch it)."""
    return sys.modules[__package__].geometry


def kernels(dtype) -> dict:
    """Every kernel of one float dtype at the current geometry."""
    name = np.dtype(dtype).name
    g = geometry()
    return {**products.kernels(name, g.tiles), **_rows.kernels(name)}


def grid(n_rows, n_cols):
    return _tile_grid(n_rows, n_cols, geometry().tiles)


class Model:
    """W, biases and sigma checked (shapes, one float dtype, sigma > 0 and finite)."""

    def __init__(self, W, b_h=None, b_v=None, sigma=None, *, need_sigma=True):
        self.W = DevArg(W, "W", 2)
        self.dtype = self.W.float_dtype()
        self.H, self.V = self.W.shape
        if self.H < 1 or self.V < 1:
            raise ValueError(f"W: need at least one hidden and one visible unit, got shape {self.W.shape}")
        self.b_h = self.vector(b_h, "b_h", self.H) if b_h is not None else None
        self.b_v = self.vector(b_v, "b_v", self.V) if b_v is not None else None
        self.sigma = None
        self.gaussian = False
        if need_sigma:
            sg = DevArg(sigma, "sigma", 1)
            sg.expect_dtype(self.dtype)
            if sg.shape[0] not in (0, self.V):
                raise ValueError(f"sigma: expected shape (0,) (Bernoulli visibles) or ({self.V},) (Gaussian "
                                 f"visibles), got shape {sg.shape}")
            if sg.shape[0] == self.V:
                check_sigma(host_values(sg))
                self.sigma = sg
                self.gaussian = True

    def vector(self, a, name, n):
        arg = DevArg(a, name, 1)
        arg.expect_dtype(self.dtype)
        arg.expect_shape(n)
        return arg

    def rows(self, a, name, n_cols):
        arg = DevArg(a, name, 2)
        arg.expect_dtype(self.dtype)
        arg.expect_shape(-1, n_cols)
        return arg

    def sigma_dev(self):
        """sigma on the device, or a one-element dummy (Bernoulli: never read)."""
        return self.sigma.device() if self.gaussian else dummy(1, self.dtype)

    def kernels(self):
        return kernels(self.dtype)


def check_sigma(s: np.ndarray) -> None:
    bad = np.flatnonzero(~(s > 0) | ~np.isfinite(s))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"sigma: standard deviations must be positive and finite, got {float(s[i])} at index {i}")


_PLACEHOLDER_CACHE = {}


def placeholder(shape, dtype):
    """A one-element device array standing in for an argument a launch does not use (never read
    or written). Allocated once per CUDA context: AIS makes two launches per temperature."""
    ctx = cuda.current_context()
    key = (id(ctx), len(shape), np.dtype(dtype).str)
    entry = _PLACEHOLDER_CACHE.get(key)
    if entry is None or entry[0] is not ctx:
        entry = (ctx, cuda.device_array((1,) * len(shape), dtype=dtype))
        _PLACEHOLDER_CACHE[key] = entry
    return entry[1]


def dummy(n, dtype):
    return placeholder((n,), dtype)


def steps(n_steps) -> int:
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, (int, np.integer)):
        raise TypeError(f"n_steps: expected an integer, got {type(n_steps).__name__}")
    n = int(n_steps)
    if n < 1:
        raise ValueError(f"n_steps: must be >= 1, got {n}")
    return n



NO_KEYS = (np.uint64(0),) * 4


# ---------------------------------------------------------------------------------------------
# Half-step launches (arrays already on the device)


def hidden(mdl, kern, Vin, out_p, out_s, keys=NO_KEYS, *, mode=H_PROBS, beta=1.0, b1=1.0, b0=0.0, flip=None,
            part=None, accumulate=False, iv=None):
    N = Vin.shape[0]
    if N == 0:
        return
    dt = mdl.dtype
    dummy2 = placeholder((1, 1), dt)
    scaled = iv is not None
    iv = iv if scaled else dummy(1, dt)
    W = mdl.W.device()
    kern["hidden"][grid(N, mdl.H), kern["threads"]](
        N, mdl.H, Vin.shape[1], (Vin, iv, scaled), (W, iv, False),
        (Vin, W, mdl.b_h.device(), mode, dt.type(beta), float(b1), float(b0), out_p is not None,
         out_p if out_p is not None else dummy2, out_s is not None, out_s if out_s is not None else dummy2, *keys,
         flip if flip is not None else placeholder((1,), np.int64),
         part if part is not None else placeholder((1, 1), np.float64), accumulate))


def visible(mdl, kern, Hin, out_m, out_s, keys=NO_KEYS, *, ais=False, beta=1.0, base_w=0.0, a=None, lin_w=0.0,
             part=None):
    N = Hin.shape[0]
    if N == 0:
        return
    dt = mdl.dtype
    dummy2 = placeholder((1, 1), dt)
    W, b_v = mdl.W.device(), mdl.b_v.device()
    kern["visible"][grid(N, mdl.V), kern["threads"]](
        N, mdl.V, Hin.shape[1], (Hin, b_v, False), W,
        (W, b_v, mdl.gaussian, mdl.sigma_dev(), ais, dt.type(beta), dt.type(base_w),
         a if a is not None else dummy(1, dt), out_m is not None, out_m if out_m is not None else dummy2,
         out_s is not None, out_s if out_s is not None else dummy2, *keys, float(lin_w),
         part if part is not None else placeholder((1, 1), np.float64)))


def inv_var(mdl):
    """1 / sigma^2 in T on the device (Gaussian), else None: the hidden product's input scale."""
    if not mdl.gaussian:
        return None
    iv = cuda.device_array(mdl.V, dtype=mdl.dtype)
    mdl.kernels()["inv_var"][launch(mdl.V)](mdl.sigma.device(), iv)
    return iv
