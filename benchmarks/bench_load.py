"""Fast on a shared machine: each workload idle and under load, fastgen beside its peer in the same run
(workloads and the load: load.py).

The load is two processes fitting fastgen models in a loop and four CPU-bound Python loops, started
in setup and killed in teardown (each also stops by itself after ten minutes). Implementations:
fastgen (default threads), fastgen-1 (one thread: the issue's yardstick, fastgen loaded <= 4x its
idle one-thread time) and the peer library (hmmlearn, scikit-learn, PyTorch, statsmodels).
"""
from __future__ import annotations

from . import load


class Load:
    param_names = ["workload", "implementation", "condition"]
    params = [list(load.WORKLOADS), load.IMPLS, ["idle", "loaded"]]
    number = 1
    repeat = (1, 5, 120.0)
    warmup_time = 0.0
    timeout = 900.0

    def setup(self, workload, impl, condition):
        self.load = None
        if impl == "fastgen-1" and condition == "loaded":
            raise NotImplementedError("fastgen-1 is the idle yardstick only")
        self.call = load.build(workload, impl)
        if condition == "loaded":
            self.load = load.Load().start()

    def teardown(self, workload, impl, condition):
        if self.load is not None:
            self.load.stop()

    def time_workload(self, workload, impl, condition):
        self.call()
