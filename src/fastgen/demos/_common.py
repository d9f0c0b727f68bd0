"""Small helpers shared by the demos: peer versions, quiet loggers, tables, figures, the digits split,
digit-sample figures."""
from __future__ import annotations

import contextlib
import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from fastgen.demos._png import _digit_grid, _plain_digit_png

PLOT_HINT = "pip install 'fastgen[demo]'  (or just: pip install matplotlib)"
GUTTER_COLOUR = "#aebdd3"  # between digit tiles: neither white (paper) nor grey/black (ink)

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


@contextlib.contextmanager
def _one_blas_thread():
    """Peers' BLAS/OpenMP pools held to one thread (threadpoolctl, where installed). On these small
    data sets a pool only costs: on a loaded 2-core machine scikit-learn's GaussianMixture took 16 s
    with its default pool and 0.8 s on one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield


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


@dataclass
class DigitPanel:
    """One grid of 8x8 images in a digit figure: `images` (n_rows * n_cols rows of 64 ink values in
    [0, 1]) drawn row major under `label`; `row_labels` (one per row, e.g. the digit each row was
    generated for) are written beside the rows, under the axis title `row_title`."""
    images: np.ndarray
    label: str
    row_labels: Sequence[str] | None = None
    row_title: str = ""
    n_rows: int = DIGITS_GRID
    n_cols: int = DIGITS_GRID


def _save_digit_figure(ctx, filename: str, title: str, caption: str, panels: Sequence[DigitPanel]) -> Path:
    """The panels side by side under `title`, `caption` beneath, grey-blue gutters between the tiles;
    written to ctx.out/filename with the title and caption also in the PNG's tEXt "Title" and
    "Description". Without matplotlib: the same grids as a plain grayscale PNG (gutters, no lettering;
    title and caption in the tEXt chunks only) and a hint."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / filename
    text = {"Title": title, "Description": caption}
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError:
        _plain_digit_png(path, [_digit_grid(p.images, p.n_rows, n_cols=p.n_cols) for p in panels], text)
        print(f"  (plain PNG, panels left to right: {'; '.join(p.label for p in panels)}; no lettering: "
              f"matplotlib is not installed; to get it: {PLOT_HINT})")
        return path
    width_in = 2.75 * len(panels) + 0.35
    fig = Figure(figsize=(width_in, 3.75), layout="constrained")
    cmap = colormaps["gray"].with_extremes(bad=GUTTER_COLOUR)
    scale = 2
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        grid = _digit_grid(panel.images, panel.n_rows, scale=scale, n_cols=panel.n_cols, gutter=np.nan)
        ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(panel.label, fontsize=8.5)
        ax.set_xticks([])
        if panel.row_labels is not None:
            tile = 8 * scale + 2
            ax.set_yticks(tile * np.arange(panel.n_rows) + (tile - 1) / 2, labels=list(panel.row_labels), fontsize=7)
            ax.tick_params(axis="y", length=0, pad=2)
            ax.set_ylabel(panel.row_title, fontsize=8)
        else:
            ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.supxlabel(textwrap.fill(caption, width=int(15 * width_in)), fontsize=7.5, color="0.25")
    fig.savefig(path, dpi=120, metadata=text)
    return path


def _real_digits(X, y, conditional: bool, n: int = DIGITS_GRID) -> np.ndarray:
    """n x n real images to set beside a model's samples: the first n of each digit in row k = digit k
    (conditional), else the first n * n (the split is already shuffled)."""
    if conditional:
        return np.concatenate([X[y == k][:n] for k in range(n)])
    return X[: n * n]
