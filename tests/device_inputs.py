"""Device-array inputs for the estimator tests: ``as_input(X, device)`` gives the data as the
device's users hold them (a Numba device array on "cuda", the NumPy array on "cpu"), and
``no_host_copy(Xd)`` fails a test whose code copies the input back to the host.

A host copy is any read of at least one column's worth (N elements) of the input's memory on the
host: ``copy_to_host`` (directly, through ``fastgen._backend.to_host`` or ``np.asarray``), and, under
Numba's simulator, whose device arrays are NumPy arrays underneath and answer NumPy's methods
(``X.mean()``, ``np.cov(X)``, ``X[mask]``...) without any copy call, every NumPy attribute a real
device array lacks. Single rows and elements (k-means seeds, the value named in an error) are
allowed: they are K- or D-sized.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy < 2
    from numpy import byte_bounds


class HostCopyError(AssertionError):
    """The input array (or a large part of it) was read on the host."""


def as_input(X, device):
    """X as the device's users hold their data: a Numba device array on "cuda", else X itself."""
    if device != "cuda":
        return X
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(X))


def _span(a):
    """(first byte, end byte, element count) of the memory of a device array (real or simulated)."""
    if hasattr(a, "_ary"):   # the simulator's FakeCUDAArray wraps a NumPy array
        lo, hi = byte_bounds(a._ary)
        return lo, hi, a._ary.size
    cai = a.__cuda_array_interface__
    start = cai["data"][0]
    return start, start + a.nbytes, a.size


# What a real Numba device array has of NumPy's interface: metadata and views, no computation.
_DEVICE_ATTRIBUTES = {"shape", "dtype", "size", "ndim", "strides", "nbytes", "itemsize", "flags", "T",
                      "reshape", "ravel", "view", "transpose"}
_OPERATORS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__radd__", "__sub__",
              "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__mod__", "__pow__",
              "__neg__", "__abs__", "__invert__", "__and__", "__or__", "__matmul__")


def _guard_simulated_numpy(mp, cls, guard):
    """The simulator's device arrays compute with NumPy on the host where a real one cannot: its
    NumPy attributes, operators and fancy (array) indexing are guarded."""
    host_only = set(dir(np.ndarray)) - _DEVICE_ATTRIBUTES
    original_getattr = cls.__getattr__

    def getattr_(self, name):
        if name in host_only:
            guard(self, f"NumPy's {name!r}")
        return original_getattr(self, name)

    mp.setattr(cls, "__getattr__", getattr_)
    for name in _OPERATORS:
        if name in vars(cls):
            def operator(self, *args, _name=name, _f=vars(cls)[name]):
                guard(self, f"operator {_name}")
                return _f(self, *args)
            mp.setattr(cls, name, operator)
    original_getitem = cls.__getitem__

    def getitem(self, idx):
        parts = idx if isinstance(idx, tuple) else (idx,)
        if not all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts):
            guard(self, "array indexing")
        return original_getitem(self, idx)

    mp.setattr(cls, "__getitem__", getitem)


@contextlib.contextmanager
def no_host_copy(Xd):
    """Inside the block, a host copy of N or more elements of the device array Xd raises HostCopyError."""
    from fastgen import _backend
    lo, hi, _ = _span(Xd)
    n_rows = Xd.shape[0]

    def guard(a, what):
        try:
            a_lo, a_hi, size = _span(a)
        except (AttributeError, TypeError):
            return
        if a_lo < hi and lo < a_hi and size >= n_rows:
            raise HostCopyError(f"{what}: {size} elements of the device input read on the host")

    cls = type(Xd)
    original_copy = cls.copy_to_host

    def copy_to_host(self, *args, **kwargs):
        guard(self, "copy_to_host")
        return original_copy(self, *args, **kwargs)

    original_to_host = _backend.to_host

    def to_host(a):
        guard(a, "fastgen._backend.to_host")
        return original_to_host(a)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cls, "copy_to_host", copy_to_host)
        mp.setattr(_backend, "to_host", to_host)
        if hasattr(Xd, "_ary"):
            _guard_simulated_numpy(mp, cls, guard)
        yield
