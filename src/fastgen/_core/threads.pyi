# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
fastgen's thread pool and its policy
"""
from __future__ import annotations
__all__: list[str] = ['limit', 'max_threads', 'policy', 'set_limit', 'set_policy', 'simd_isa', 'team_overhead']
def limit() -> int:
    ...
def max_threads() -> int:
    """
    Threads a kernel called now may use.
    """
def policy() -> str:
    ...
def set_limit(n: int) -> None:
    ...
def set_policy(policy: str) -> None:
    ...
def simd_isa() -> str:
    """
    The instruction set of the hand-dispatched kernels: 'v4' (AVX-512), 'v3' (AVX2) or 'base'; the environment variable FASTGEN_ISA caps it.
    """
def team_overhead() -> float:
    """
    Seconds to wake a sleeping team and join it (measured once per process).
    """
