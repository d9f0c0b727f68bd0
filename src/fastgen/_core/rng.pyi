# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Philox4x32-10 streams (csrc/common/rng.hpp)
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['normal', 'philox4x32', 'uniform']
def normal(seed: int, stream: int, n: int) -> numpy.typing.NDArray[numpy.float64]:
    """
    Standard normals z[0:n] of a Philox stream (Box-Muller on consecutive uniform pairs).
    """
def philox4x32(counter: numpy.ndarray, key: numpy.ndarray) -> tuple:
    """
    Raw Philox4x32-10 block: counter uint32[4], key uint32[2] -> 4 words.
    """
def uniform(seed: int, stream: int, n: int, start: int = 0) -> numpy.typing.NDArray[numpy.float64]:
    """
    Uniforms u[start:start+n] of a Philox stream, in (0, 1] (1.0 only when all 53 bits are set).
    """
