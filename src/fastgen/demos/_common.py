"""Small helpers shared by the demos: peer versions, quiet loggers, tables, figures, the digits split."""
from __future__ import annotations

import contextlib
import logging

import numpy as np

PLOT_HINT = "pip install 'fastgen[plot]'  (or just: pip install matplotlib)"

DIGITS_SEED = 0
DIGITS_GRID = 10  # samples drawn as a DIGITS_GRID x DIGITS_GRID image grid


def _version(dist: str) -> str:
    """The package's __version__, else its installed metadata, else ""."""
    try:
        import importlib
        return str(importlib.import_module(dist).__version__)
    except Exception:
        pass
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return ""


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """Silence 'not converging' chatter from restarts that end in a poor local optimum."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _figure():
    """A matplotlib Figure drawn off-screen, or None (with a hint) when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"  plot skipped: matplotlib is not installed; to get it: {PLOT_HINT}")
        return None
    return Figure(figsize=(8, 3.2), layout="constrained")


def _save_figure(ctx, fig, filename: str) -> None:
    """Write `fig` to ctx.out/filename (creating the folder) and say where."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / filename
    fig.savefig(path, dpi=120)
    print(f"  plot: {path}")


def _table(rows: list[list[str]], header: list[str], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def fmt(r):
        return "  " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([fmt(header)] + [fmt(r) for r in rows])


def _digits_split(binary: bool):
    """The rbm-digits split (seed 0: a fifth of the images for testing): (train, test, y_train, y_test)."""
    from fastgen.datasets import load_digits

    digits = load_digits()
    X = (digits.data >= 8) if binary else digits.data / 16.0
    X = X.astype(np.float32)
    order = np.random.RandomState(DIGITS_SEED).permutation(len(X))
    n_test = len(X) // 5
    te, tr = order[:n_test], order[n_test:]
    return X[tr], X[te], digits.target[tr], digits.target[te]
