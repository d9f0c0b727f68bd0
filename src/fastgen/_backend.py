"""The one object between estimators and kernels: ``Backend(device, dtype)``.

``device="cpu"`` uses the C++ extension ``fastgen._core``; ``device="cuda"`` the Numba kernels of
``fastgen._cuda``; ``device="auto"`` (every estimator's default) picks CUDA when a real GPU is
usable, else the CPU. CUDA without a usable GPU is an error, never a silent CPU run. Both kernel
modules expose one submodule per family with the same functions (``csrc/KERNELS.md``), so an
estimator calls ``backend.kernels.hmm.forward_backward(...)`` whatever the device.

A backend converts each input once: ``put`` gives a C-contiguous array of the compute dtype (int64
for integer arrays) on the device. A device array (``__cuda_array_interface__``: Numba, CuPy,
PyTorch) given to a CUDA backend stays on the device: ``check_array`` validates it from its
metadata and a finiteness reduction on the device, and a dtype or layout change is made there. A
backend pickles as its arguments and resolves the device again when loaded.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from ._validation import check_array, check_dtype, check_dtype_kind, check_shape, first_outside

DEVICES = ("cpu", "cuda", "auto")


@functools.lru_cache(maxsize=None)
def cuda_usable() -> bool:
    """True when Numba can launch CUDA kernels here (a real GPU or the simulator)."""
    try:
        from numba import cuda
    except ImportError:  # numba-cuda missing: the 'cuda' extra is not installed
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # driver present but broken
        return False


def cuda_simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def resolve_device(device: str) -> str:
    """Map the user's ``device`` argument to "cpu" or "cuda", or raise."""
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return "cuda" if cuda_usable() and not cuda_simulated() else "cpu"
    if device == "cuda" and not cuda_usable():
        raise RuntimeError(
            "device='cuda' was requested but no usable CUDA GPU was found "
            "(install the 'cuda' extra, numba-cuda, and check the NVIDIA driver); "
            "use device='cpu' or device='auto' to run on the CPU")
    return device


def is_device_array(a) -> bool:
    """A GPU array: ``__cuda_array_interface__`` (Numba, CuPy, PyTorch) or a Numba device array
    (the simulator's do not carry the interface)."""
    return not isinstance(a, np.ndarray) and (hasattr(a, "__cuda_array_interface__") or hasattr(a, "copy_to_host"))


def _device_meta(a):
    """(shape, dtype) of a device array from its metadata, without touching its data."""
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        try:
            return tuple(a.shape), np.dtype(a.dtype)
        except TypeError:  # a dtype NumPy does not know (torch.float32): the interface names it
            pass
    cai = a.__cuda_array_interface__
    return tuple(cai["shape"]), np.dtype(cai["typestr"])


def to_host(a):
    """A NumPy array from a kernel result (NumPy or a device array); None stays None."""
    if a is None or isinstance(a, np.ndarray):
        return a
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    if is_device_array(a):
        from numba import cuda
        return cuda.as_cuda_array(a).copy_to_host()
    return np.asarray(a)


class Backend:
    """A resolved device, a compute dtype and the kernel module that serves them.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, default "auto"
    dtype : float32 or float64, default float64
        The precision of the data-sized work; ``put`` converts floating inputs to it.

    Attributes
    ----------
    device : "cpu" or "cuda"
    dtype : numpy.dtype
    kernels : module
        ``fastgen._core`` or ``fastgen._cuda``: one submodule per family.
    """

    def __init__(self, device="auto", dtype=np.float64):
        self._args = (device, dtype)
        self.device = resolve_device(device)
        self.dtype = check_dtype(dtype)
        if self.device == "cuda":
            from . import _cuda as kernels
        else:
            from . import _core as kernels
        self.kernels = kernels

    def __repr__(self):
        return f"Backend(device={self.device!r}, dtype={self.dtype.name})"

    def __getstate__(self):
        return {"args": self._args}

    def __setstate__(self, state):
        self.__init__(*state["args"])

    def made_for(self, device, dtype) -> bool:
        """Whether this backend serves an estimator whose arguments are now `device` and `dtype`."""
        return self._args[0] == device and check_dtype(dtype) == self.dtype

    def with_dtype(self, dtype) -> "Backend":
        """A backend on the same device (same ``device`` argument) computing in `dtype`."""
        return self if check_dtype(dtype) == self.dtype else Backend(self._args[0], dtype)

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    # -- arrays ------------------------------------------------------------------------------------
    def put(self, a, dtype=None):
        """`a` as a C-contiguous array on the device: of `dtype` when given, else int64 for integer
        arrays and the compute dtype for the others. One conversion; none when `a` already is one
        (a NumPy array on the CPU, a device array on CUDA)."""
        if is_device_array(a):
            if self.is_cuda:
                return self.kernels.common.as_contiguous(a, self._target_dtype(_device_meta(a)[1], dtype))
            a = to_host(a)
        a = np.asarray(a)
        a = np.ascontiguousarray(a, dtype=self._target_dtype(a.dtype, dtype))
        if self.is_cuda:
            from numba import cuda
            return cuda.to_device(a)
        return a

    def _target_dtype(self, have, dtype):
        if dtype is not None:
            return np.dtype(dtype)
        return np.dtype(np.int64) if np.issubdtype(np.dtype(have), np.integer) else self.dtype

    def put_private(self, a, dtype=None):
        """Like put, but never the caller's array: for buffers the kernels update in place."""
        if is_device_array(a) and self.is_cuda:
            return self.kernels.common.copy(self.put(a, dtype))
        return self.put(np.array(to_host(a), dtype=dtype or self.dtype, order="C", copy=True), dtype)

    def zeros(self, shape, dtype=None):
        return self.put(np.zeros(shape, dtype=dtype or self.dtype), dtype)

    @staticmethod
    def host(a, dtype=None):
        """A kernel result as a NumPy array (of `dtype` when given); None stays None."""
        a = to_host(a)
        return a if a is None or dtype is None else np.asarray(a, dtype=dtype)

    def data_dtype(self, X) -> np.dtype:
        """The dtype to validate float data X in when the estimator's own statistics want float64:
        float64, except float32 when both X and the compute dtype are (a float32 path then holds
        no float64 copy of the data; float32 values are exact in either)."""
        both32 = self.dtype == np.float32 and np.dtype(getattr(X, "dtype", object)) == np.float32
        return np.dtype(np.float32 if both32 else np.float64)

    def check_array(self, X, name="X", *, n_features=None, ndim=2, dtype=None, allow_int=False, finite=True,
                    owner="estimator"):
        """Validated data where it lives: a C-contiguous array of `dtype` (default: the compute
        dtype), finite, non-empty, of the expected shape. With `allow_int` only the element kind and
        the shape are checked and the element type is kept (device integers as int64): the caller
        checks the values. finite=False leaves the finiteness check to a caller whose value check
        (``first_outside`` with bounds) scans the values anyway: one pass instead of two. `owner`,
        the estimator's class name, words the feature-count error as scikit-learn's.

        Host input (and any input to a CPU backend): ``_validation.check_array``, a NumPy array. A
        device array given to a CUDA backend stays on the device: shape checks from its metadata, a
        cast there if needed and one finiteness pass there (``first_outside``), never a host round
        trip. Kernels then take the result through ``put``, which converts it once more only when
        the compute dtype differs.
        """
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if not (is_device_array(X) and self.is_cuda):
            return check_array(X, name, ndim=ndim, dtype=dtype, n_features=n_features, allow_int=allow_int,
                               finite=finite, owner=owner)
        shape, dt = _device_meta(X)
        # The host path's checks in the host path's order, so that both raise the same first error.
        check_dtype_kind(dt, name)
        check_shape(shape, name, ndim=ndim, n_features=n_features, owner=owner)
        if allow_int:  # as on the host: integers kept (as int64), other kinds left to the caller's checks
            return self.put(X, np.int64 if dt.kind in "iu" else dt)
        Xd = self.put(X, dtype)
        bad = self.first_outside(Xd) if finite else None
        if bad is not None:
            raise ValueError(f"{name}: contains NaN or infinity (first at index {bad[0]})")
        return Xd

    def first_outside(self, X, low=-np.inf, high=np.inf, integral=False):
        """The first element of X (host or device array) that is NaN or infinite, outside
        [low, high], or (`integral`) not a whole number, as (index tuple, value); None when every
        element passes. On the device: one reduction and that one element back to the host. The
        per-family value checks (counts, symbols, data in [0, 1]) are this with their bounds."""
        on_device = is_device_array(X)
        flat = self.kernels.common.first_outside(X, low, high, integral) if on_device and self.is_cuda \
            else first_outside(to_host(X), low, high, integral)
        if flat < 0:
            return None
        shape = _device_meta(X)[0] if on_device else np.shape(X)
        index = tuple(int(i) for i in np.unravel_index(flat, shape))
        value = X[index] if on_device and self.is_cuda else np.asarray(to_host(X))[index]
        return index, value.item() if hasattr(value, "item") else value
