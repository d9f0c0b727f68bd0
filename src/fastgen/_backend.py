"""Device selection: the one place that imports the kernel modules.

``device="cpu"`` uses the C++ extension ``fastgen._core``; ``device="cuda"`` uses the Numba
kernels in ``fastgen._cuda``; ``device="auto"`` picks CUDA when a GPU is usable, else the CPU.
Both modules expose the same functions (see ``csrc/KERNELS.md``). CUDA without a usable GPU is
an error, never a silent CPU run.
"""
from __future__ import annotations

import functools
import os

import numpy as np

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
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return "cuda" if cuda_usable() and not cuda_simulated() else "cpu"
    if device == "cuda" and not cuda_usable():
        raise RuntimeError(
            "device='cuda' was requested but no usable CUDA GPU was found "
            "(install the 'cuda' extra, numba-cuda, and check the NVIDIA driver); "
            "use device='cpu' or device='auto' to run on the CPU")
    return device


def kernels(device: str):
    """The kernel module for a resolved device: ``fastgen._core`` or ``fastgen._cuda``."""
    if device == "cpu":
        from . import _core
        return _core
    if device == "cuda":
        from . import _cuda
        return _cuda
    raise ValueError(f"unresolved device {device!r}")


def to_device(device: str, a: np.ndarray):
    """`a` on the compute device: NumPy itself on the CPU, one host-to-device copy for CUDA."""
    if device == "cuda":
        from numba import cuda
        return cuda.to_device(a)
    return a


def to_host(a):
    """A NumPy array from a kernel result (NumPy or a Numba device array); None stays None."""
    if a is None or isinstance(a, np.ndarray):
        return a
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    return np.asarray(a)
