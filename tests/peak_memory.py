"""Extra peak memory of one call, measured in a fresh interpreter (the memory tests of issue 14).

tracemalloc does not see the C++ kernels' buffers, so the measure is the process's resident size:
the call runs in a new Python whose high-water mark (VmHWM) is reset just before it (Linux's
/proc/self/clear_refs), after the data are made and a small warm-up call has loaded everything;
the extra peak is then VmHWM minus the resident size before the call.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_RUNNER = r'''
import gc, json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

setup, call = sys.argv[1], sys.argv[2]
env = {"np": np}
exec(setup, env)
gc.collect()
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
exec(call, env)
print(json.dumps({"extra": status("VmHWM") - base}))
'''


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


needs_peak_reset = pytest.mark.skipif(not sys.platform.startswith("linux") or not _can_reset_peak(),
                                      reason="needs Linux's /proc/self/clear_refs to reset the peak resident size")


def extra_peak(setup: str, call: str) -> int:
    """Bytes the process's peak resident size grows by while `call` runs, after `setup` (both Python
    source run in one namespace with np; fastgen on the CPU, one OpenMP thread).

    glibc's malloc runs with a fixed mmap threshold there: its default threshold rises after a
    large free, and freed N-sized vectors then stay resident in the heap for a while, which would
    measure the allocator's caching (up to a quarter of the data in the mixture fit) rather than
    the arrays the code holds at once."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path), MALLOC_MMAP_THRESHOLD_="131072")
    out = subprocess.run([sys.executable, "-c", _RUNNER, setup, call], capture_output=True, text=True, env=env,
                         timeout=120)
    if out.returncode:
        raise AssertionError(f"the measured process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["extra"]


# What the interpreter itself may add around a call (allocator pools, small arrays, stacks).
ALLOWANCE = 6 << 20
