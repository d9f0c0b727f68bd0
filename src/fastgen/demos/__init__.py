"""The demos of ``python -m fastgen demo``: a registry and one module per model family.

Each demo is a function registered with ``@demo(name, summary)``; it receives a ``DemoContext``
(output folder, device, quick mode) and prints one short section. A family adds its demo by writing one
function in its module (``hmm``, ``mixture``, ``rbm``, ``nn``, ``autoregressive``); importing this
package imports them all, and ``DEMOS`` lists the demos in registration order (the order in which
``demo`` with no names runs them). ``import fastgen`` does not import this package.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class DemoContext:
    out: Path        # folder for figures (created on first use)
    device: str      # the user's --device, passed to estimators unchanged
    resolved: str    # what it means here: "cpu" or "cuda"
    quick: bool = False  # --quick: a smoke run (fewer epochs, restarts, chains); numbers not the demo's

    def pick(self, full, quick):
        """`full` normally, `quick` under --quick (a demo's small settings, for smoke runs and tests)."""
        return quick if self.quick else full


@dataclass
class Demo:
    name: str
    summary: str
    run: Callable[[DemoContext], None]


DEMOS: dict[str, Demo] = {}


def demo(name: str, summary: str):
    """Register a demo section under `name` (a one-line `summary` is shown in the usage)."""
    def register(fn: Callable[[DemoContext], None]):
        DEMOS[name] = Demo(name, summary, fn)
        return fn
    return register


# The family modules register their demos on import; this order is the order of `DEMOS`.
from fastgen.demos import hmm, mixture, rbm, nn, autoregressive  # noqa: E402,F401  (after `demo` exists)

__all__ = ["DEMOS", "Demo", "DemoContext", "demo"]
