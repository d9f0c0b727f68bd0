"""Host-side argument handling and launch shapes shared by the ``fastgen._cuda`` families.

- ``DevArg(a, name, ndim)``: one argument on the device (NumPy input copied once, lazily; device
  input -- ``__cuda_array_interface__`` or simulator arrays -- used in place), with the checks
  ``expect_shape`` / ``expect_dtype`` / ``float_dtype``; ``checked``, ``matrix``, ``vector`` and ``inplace``
  build and check one in a call; ``host_values`` reads a (small) one back.
- ``real`` / ``integer``: checked scalars.
- ``launch(n)``: (blocks, threads per block) of an elementwise launch; ``launch1`` the same for a
  count that may be 0; ``scratch``: an uninitialised device array that tolerates empty shapes.

Errors are ValueError (values, shapes) or TypeError (dtypes, kinds), each message starting with
the argument's name, as the C++ binding's.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

MAX_BLOCK = 128  # threads per block of the elementwise kernels


def launch(n_threads: int, max_block: int = MAX_BLOCK):
    """(blocks, threads per block) covering n_threads >= 1; small launches get small blocks."""
    tpb = min(max_block, max(32, -(-n_threads // 32) * 32))
    return -(-n_threads // tpb), tpb


def launch1(n: int):
    """launch() of max(n, 1) threads (an empty launch still gets one block)."""
    return launch(max(int(n), 1))


def shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def device_view(a):
    """A Numba device array viewing `a` when `a` lives on the device (no copy), else None."""
    if isinstance(a, np.ndarray):
        return None
    if hasattr(a, "__cuda_array_interface__"):  # Numba device arrays, CuPy, PyTorch, ...
        return cuda.as_cuda_array(a)
    if hasattr(a, "copy_to_host") and hasattr(a, "is_c_contiguous"):  # the simulator's device arrays
        return a
    return None


class DevArg:
    """One argument on the device: ``dev`` (Numba device array), ``host`` (the NumPy array it came
    from, or None for device-resident input), ``shape`` and ``dtype``.

    Device-resident input (``__cuda_array_interface__``: Numba, CuPy, PyTorch...) is used in place and
    must be C-contiguous; host input is converted with ``np.asarray`` (no dtype cast) and copied to the
    device once, lazily, after the caller's checks have passed.
    """

    __slots__ = ("name", "dev", "host", "shape", "dtype")

    def __init__(self, a, name: str, ndim: int):
        self.name = name
        dev = device_view(a)
        if dev is None:
            host = np.asarray(a)
            self.host, self.dev = host, None
            self.shape, self.dtype = tuple(host.shape), host.dtype
        else:
            if not dev.is_c_contiguous():
                raise ValueError(f"{name}: expected a C-contiguous array")
            self.host, self.dev = None, dev
            self.shape, self.dtype = tuple(dev.shape), np.dtype(dev.dtype)
        if len(self.shape) != ndim:
            want = shape_text(("*",) * ndim)
            raise ValueError(f"{name}: expected shape {want}, got shape {shape_text(self.shape)}")

    def device(self):
        if self.dev is None:
            self.dev = cuda.to_device(np.ascontiguousarray(self.host))
        return self.dev

    def expect_shape(self, *expected) -> None:
        """expected extents, -1 = any."""
        if any(e >= 0 and s != e for s, e in zip(self.shape, expected)):
            want = shape_text(tuple("*" if e < 0 else e for e in expected))
            raise ValueError(f"{self.name}: expected shape {want}, got shape {shape_text(self.shape)}")

    def expect_dtype(self, dtype) -> None:
        if self.dtype != np.dtype(dtype):
            raise TypeError(f"{self.name}: expected dtype {np.dtype(dtype)}, got {self.dtype}")

    def float_dtype(self) -> np.dtype:
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{self.name}: expected dtype float32 or float64, got {self.dtype}")
        return self.dtype


def host_values(arg: DevArg) -> np.ndarray:
    """The values of a (small) argument on the host."""
    return arg.host if arg.dev is None else arg.dev.copy_to_host()


def checked(a, name: str, dtype, *shape) -> DevArg:
    """DevArg(a, name, len(shape)) of `dtype` and extents `shape` (-1 = any), checked in that order."""
    arg = DevArg(a, name, len(shape))
    arg.expect_dtype(dtype)
    arg.expect_shape(*shape)
    return arg


def matrix(a, name: str, dtype, rows: int = -1, cols: int = -1) -> DevArg:
    return checked(a, name, dtype, rows, cols)


def vector(a, name: str, dtype, n: int = -1) -> DevArg:
    return checked(a, name, dtype, n)


def inplace(a, name: str, dtype, shape) -> DevArg:
    """A device-resident argument updated in place (parameters, optimiser state); shape: an
    extent or a tuple of extents."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    arg = DevArg(a, name, len(shape))
    if arg.dev is None:
        raise TypeError(f"{name}: must be a device array on CUDA (it is updated in place), got a host array")
    arg.expect_dtype(dtype)
    arg.expect_shape(*shape)
    return arg


def real(x, name: str) -> float:
    """A finite real scalar."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(x).__name__}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    return v


def integer(x, name: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(x).__name__}")
    v = int(x)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name}: must lie in [{lo}, {hi}], got {v}")
    return v


def scratch(shape, dtype):
    """An uninitialised device array; zero-size shapes get one element (never read)."""
    shape = tuple(int(s) for s in shape)
    if any(s == 0 for s in shape):
        shape = (1,) * len(shape)
    return cuda.device_array(shape, dtype=dtype)
