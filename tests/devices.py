"""The backend split of the kernel tests, written once: parametrise a test over ``DEVICES`` (or take
a ``device`` argument, which conftest parametrises) and fetch the family's kernels with
``kernels(device, family)``.

"cpu" runs ``fastgen._core.<family>``; "cuda" runs ``fastgen._cuda.<family>``, is marked ``cuda``
(``.ci/run`` selects it under Numba's simulator; a lent GPU runs it for real) and is skipped where
Numba cannot launch kernels. CUDA cases should use tiny sizes (``small``): the simulator runs every
thread in Python.
"""
from __future__ import annotations

import importlib

import pytest

from fastgen import _backend

CUDA_MARKS = [pytest.mark.cuda,
              pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")]
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=CUDA_MARKS)]


def kernels(device: str, family: str):
    """``fastgen._core.<family>`` or ``fastgen._cuda.<family>``."""
    root = importlib.import_module("fastgen._core" if device == "cpu" else "fastgen._cuda")
    return getattr(root, family)


def host(a):
    """A kernel result as a NumPy array (device arrays copied back); None stays None."""
    return None if a is None else _backend.to_host(a)


def small(device: str, cpu_value, cuda_value):
    """A size for the device: the simulator runs every thread in Python."""
    return cpu_value if device == "cpu" else cuda_value
