"""How many threads fastgen's CPU kernels use.

The kernels run on fastgen's own thread pool (``csrc/common/threads.hpp``), built for shared
machines: small work stays on the calling thread, waiting threads sleep within ~150 us instead of
spinning (at once when other processes want the CPUs), work is cut into more pieces than threads so
a descheduled thread's share is taken over, and when the machine is busy each kind of call times
one thread against the team and keeps the faster. Results are bit-identical whatever the thread
count.

The thread count is the smallest of:

- ``OMP_NUM_THREADS`` (default: the CPUs this process may run on), and a limit set with
  threadpoolctl (``threadpool_limits(n)`` or ``threadpool_limits(n, user_api="openmp")``: fastgen
  reads the OpenMP runtime's thread setting, which threadpoolctl changes);
- the container's CPU quota (cgroup ``cpu.max``), when ``OMP_NUM_THREADS`` is not set;
- the limit set with :func:`set_num_threads`.
"""
from __future__ import annotations

import numbers

__all__ = ["set_num_threads", "get_num_threads"]


def set_num_threads(n: int | None) -> None:
    """Limit the threads of fastgen's CPU kernels to `n` (``None`` removes the limit).

    Process-wide; it lowers, never raises, the count that ``OMP_NUM_THREADS`` and threadpoolctl
    allow. Other libraries' thread pools are not touched.
    """
    from . import _core
    if n is None:
        _core.threads.set_limit(0)
        return
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n: expected a positive integer or None, got {n!r}")
    _core.threads.set_limit(min(int(n), 2**31 - 1))  # a limit beyond any machine is no limit


def get_num_threads() -> int:
    """The number of threads a fastgen CPU kernel called now from this thread may use."""
    from . import _core
    return int(_core.threads.max_threads())
