# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
fastgen's thread pool and its policy
"""
from __future__ import annotations
__all__: list[str] = ['limit', 'max_threads', 'policy', 'set_limit', 'set_policy', 'team_overhead']
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
def team_overhead() -> float:
    """
    Seconds to wake a sleeping team and join it (measured once per process).
    """
