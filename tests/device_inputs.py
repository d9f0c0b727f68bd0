"""Device arrays as estimator inputs, for the tests that data given on a device stay there.

- ``device_input(device, X)``: what a user of that backend passes instead of the NumPy array X: on
  "cuda" a Numba device array holding X; on "cpu" the same values in another layout (Fortran
  order), so that the CPU case still checks that the input is converted once and the results do
  not change.
- ``with no_host_copy(*inputs, limit=0):`` fails the test (``HostCopyError``) when code inside the
  block reads more than `limit` elements of an input's memory on the host in one go. A read is
  counted on every array that shares memory with an input (its views, slices, reshapes and
  re-wrappings are guarded too); `limit` lets a test allow a known small copy (an AR's last p
  values, which forecasts start from). NumPy inputs (the "cpu" case) are not guarded: the same
  block then runs unguarded.

  On a real GPU the ways to the host are ``copy_to_host`` (which ``np.asarray`` of a Numba device
  array also calls; patched on the array class), ``fastgen._backend.to_host`` and iteration
  (element by element or row by row). Under Numba's
  simulator a device array wraps a NumPy array and lends it NumPy's methods, operators and fancy
  indexing (``X.min()``, ``np.asarray(X)``, ``X == 0``, ``X[mask]``...), so a host computation
  would pass there unnoticed: inside the block, on arrays sharing an input's memory, the simulator
  array also refuses every NumPy attribute a real device array lacks (a real one has only its
  metadata, ``T``, ``transpose``, ``reshape``, ``ravel``, ``view`` and ``squeeze``), its
  operators, non-basic indexing and iteration. Single elements (``X[i, j]``) are not counted.
- ``same_error(call_host, call_device, exc=ValueError)``: both calls raise `exc`, of the same type
  and with the same message (returned).
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy < 2
    from numpy import byte_bounds


def device_input(device, X):
    """X as a user of `device` holds it: a Numba device array on "cuda", a Fortran-ordered copy on "cpu"."""
    X = np.asarray(X)
    if device == "cpu":
        return np.asfortranarray(X)
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(X))


class HostCopyError(AssertionError):
    """A guarded input (or more than the allowed part of it) was read on the host."""


def _span(a):
    """(first byte, end byte, element count) of the memory of a device array (real or simulated)."""
    if hasattr(a, "_ary"):   # the simulator's FakeCUDAArray wraps a NumPy array
        lo, hi = byte_bounds(a._ary)
        return lo, hi, a._ary.size
    cai = a.__cuda_array_interface__
    start = cai["data"][0]
    return start, start + a.nbytes, a.size


# What a real Numba device array (numba.cuda.cudadrv.devicearray.DeviceNDArray) has of NumPy's
# interface: metadata and views, no computation. Its __array__ copies to the host (copy_to_host).
_DEVICE_ATTRIBUTES = frozenset({"shape", "dtype", "size", "ndim", "strides", "nbytes", "flags", "T",
                                "reshape", "ravel", "view", "transpose", "squeeze"})
_OPERATORS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__radd__", "__sub__",
              "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__mod__", "__pow__",
              "__neg__", "__abs__", "__invert__", "__and__", "__or__", "__matmul__")


def _guard_simulated_numpy(mp, cls, guard):
    """The simulator's device arrays compute with NumPy on the host where a real one cannot: its
    NumPy attributes, operators and non-basic indexing are guarded, and squeeze gives a device view
    (NumPy's would be a host array)."""
    host_only = set(dir(np.ndarray)) - _DEVICE_ATTRIBUTES
    original_getattr = cls.__getattr__

    def getattr_(self, name):
        if name in host_only:
            guard(self, f"NumPy's {name!r}")
        elif name == "squeeze":
            return lambda axis=None, stream=0: cls(self._ary.squeeze(axis))
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
def no_host_copy(*inputs, limit=0):
    """Inside the block, a host read of more than `limit` elements of the memory of a device array
    in `inputs` raises HostCopyError (see the module docstring). NumPy arrays in `inputs` are skipped."""
    inputs = [a for a in inputs if not isinstance(a, np.ndarray)]
    if not inputs:
        yield
        return
    from fastgen import _backend
    spans = [_span(a)[:2] for a in inputs]

    def guard(a, what):
        try:
            a_lo, a_hi, size = _span(a)
        except (AttributeError, TypeError):
            return
        if size > limit and any(a_lo < hi and lo < a_hi for lo, hi in spans):
            raise HostCopyError(f"{what}: {size} elements of a guarded device input read on the host "
                                f"(at most {limit} allowed)")

    original_to_host = _backend.to_host

    def to_host(a):
        guard(a, "fastgen._backend.to_host")
        return original_to_host(a)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_backend, "to_host", to_host)
        for cls in {type(a) for a in inputs}:
            def copy_to_host(self, *args, _f=cls.copy_to_host, **kwargs):
                guard(self, "copy_to_host")
                return _f(self, *args, **kwargs)

            def iter_(self, _f=getattr(cls, "__iter__", None)):
                guard(self, "iteration")   # reads every element (or row) in turn on the host
                return _f(self) if _f is not None else (self[i] for i in range(len(self)))

            mp.setattr(cls, "copy_to_host", copy_to_host)
            mp.setattr(cls, "__iter__", iter_, raising=False)
            if any(type(a) is cls and hasattr(a, "_ary") for a in inputs):   # a simulator array
                _guard_simulated_numpy(mp, cls, guard)
        yield


def same_error(call_host, call_device, exc=ValueError):
    """call_host() and call_device() both raise `exc` (a type or a tuple of types), of the same
    type and with the same message; returns the message."""
    with pytest.raises(exc) as on_host:
        call_host()
    with pytest.raises(exc) as on_device:
        call_device()
    assert (type(on_device.value), str(on_device.value)) == (type(on_host.value), str(on_host.value))
    return str(on_host.value)
