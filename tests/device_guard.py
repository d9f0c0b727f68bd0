"""Device arrays as estimator inputs, for the tests that a device array is used where it lives.

- ``device_input(device, X)``: what a user of that backend passes instead of the NumPy array X: on
  "cuda" a Numba device array holding X; on "cpu" the same values in another layout (Fortran order),
  so that the CPU case still checks that the input is converted once and the results do not change.
- ``guarded(device, X, monkeypatch, limit=0)`` (CUDA only): a device array holding X that fails the
  test when more than `limit` of its elements are copied to the host. On a real GPU its
  ``copy_to_host`` (which NumPy's conversion of a Numba device array also calls) and
  ``fastgen._backend.to_host`` refuse it. Under Numba's simulator a device array wraps a NumPy array
  and lends it every NumPy method (``X.min()``, ``np.asarray(X)``, ...), so a host computation would
  pass there unnoticed: the guard is a simulator array that offers only what a real device array
  has (shape, dtype, size, slices, reshapes, single elements), whose views are guarded too, and
  whose copies to the host count. `limit` lets a test allow a known small copy (an AR's last p
  rows, which forecasts start from).
- ``same_error(call_host, call_device)``: both raise ValueError with the same message.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastgen import _backend


def device_input(device, X):
    X = np.asarray(X)
    if device == "cpu":
        return np.asfortranarray(X)
    from numba import cuda
    return cuda.to_device(np.ascontiguousarray(X))


class HostCopy(AssertionError):
    """A test input came back to the host."""


_ALLOWED = frozenset({"dtype", "size", "ndim", "strides", "itemsize", "nbytes", "flags", "stream"})


def _guard_class():
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    class Guarded(FakeCUDAArray):
        """A simulator device array without NumPy's ways to the host (see the module docstring)."""

        def __init__(self, ary, limit):
            super().__init__(ary)
            self._limit = limit

        def __getattr__(self, name):
            if name in _ALLOWED:
                return getattr(self._ary, name)
            raise AttributeError(f"a device array has no {name!r} (the guarded test input)")

        def _wrap(self, a):
            return Guarded(a, self._limit) if isinstance(a, np.ndarray) and a.ndim else a

        def __getitem__(self, idx):
            return self._wrap(self._ary[idx])

        def reshape(self, *args, **kwargs):
            return self._wrap(self._ary.reshape(*args, **kwargs))

        def ravel(self, *args, **kwargs):
            return self._wrap(self._ary.ravel(*args, **kwargs))

        def view(self, *args, **kwargs):
            return self._wrap(self._ary.view(*args, **kwargs))

        def transpose(self, axes=None):
            return self._wrap(np.transpose(self._ary, axes=axes))

        def __array__(self, *args, **kwargs):
            raise HostCopy("np.asarray of the guarded test input")

        @property
        def __array_interface__(self):
            raise HostCopy("__array_interface__ of the guarded test input")

        @property
        def __array_struct__(self):
            raise HostCopy("__array_struct__ of the guarded test input")

        def __iter__(self):
            raise HostCopy("iteration over the guarded test input")

        def copy_to_host(self, ary=None, stream=0):
            if self._ary.size > self._limit:
                raise HostCopy(f"copy_to_host of {self._ary.size} elements of the guarded test input "
                               f"(at most {self._limit} allowed)")
            return super().copy_to_host(ary, stream)

    return Guarded


def guarded(device, X, monkeypatch, limit=0):
    assert device == "cuda", "the guard is a CUDA test"
    X = np.ascontiguousarray(X)
    if _backend.cuda_simulated():
        return _guard_class()(X.copy(), limit)
    from numba import cuda
    d = cuda.to_device(X)

    def refuse(*args, **kwargs):
        raise HostCopy("copy_to_host of the guarded test input")

    d.copy_to_host = refuse
    real = _backend.to_host

    def to_host(a):
        if a is d:
            raise HostCopy("_backend.to_host of the guarded test input")
        return real(a)

    monkeypatch.setattr(_backend, "to_host", to_host)
    return d


def same_error(call_host, call_device, exc=ValueError):
    with pytest.raises(exc) as on_host:
        call_host()
    with pytest.raises(exc) as on_device:
        call_device()
    assert str(on_device.value) == str(on_host.value)
    return str(on_host.value)
