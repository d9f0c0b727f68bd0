"""float64 widening on the device, shared by the CUDA kernel modules.

Numba types ``float(x)`` of a float32 ``x`` as float32 (no widening), so a kernel that means to
compute in float64 whatever T is would silently run in float32 on a real GPU; the simulator, where
``float()`` returns a Python double, cannot show it. Kernels read T values through ``f64``.
"""
from __future__ import annotations

import numpy as np
from numba import cuda


@cuda.jit(device=True)
def f64(x):
    """x widened to float64."""
    return float(np.float64(x))
