"""The minibatch training loop shared by the nn estimators.

Randomness, all derived from the estimator's ``random_state`` so that a fit is reproducible on any
thread count: the epoch permutations come from a NumPy Generator; every kernel that draws (the
VAE's reparameterisation noise, the GAN's latent codes) takes fresh Philox streams of the model's
key from a ``Streams`` counter, ``streams_per_step`` of them per step, so no two steps (and no later
``sample`` call) ever reuse a stream.

Divergence: a non-finite loss stops the fit with FloatingPointError naming the epoch and step; the
estimator publishes its parameters only after the loop, so it is never left holding NaN weights.
"""
from __future__ import annotations

import sys
import time

import numpy as np


class Progress:
    """Training progress on stderr, written for where stderr goes (the convention of every fastgen
    fit that reports by epoch).

    On a terminal, a live bar redrawn in place: tqdm's when tqdm is installed (an optional
    dependency), else a one-line bar of fastgen's own. Anywhere else (a log file, a pipe, CI, a
    notebook capturing stderr) one plain line per epoch, so a log holds one readable line per
    reporting interval instead of every redraw joined by carriage returns.
    """

    WIDTH = 24

    def __init__(self, name: str, max_epochs: int, n_steps: int, loss_names, stream=None):
        self.name, self.max_epochs, self.n_steps = name, max_epochs, n_steps
        self.loss_names = tuple(loss_names)
        self.out = sys.stderr if stream is None else stream
        self.live = _is_terminal(self.out)
        self.every = max(1, n_steps // self.WIDTH)
        self._width = 0  # longest live line so far: shorter ones are padded to overwrite it
        self._tqdm = _tqdm_bar(self, max_epochs * n_steps) if self.live else None

    def _values(self, losses):
        return ", ".join(f"{n} {v:.4g}" for n, v in zip(self.loss_names, losses) if np.isfinite(v))

    def _line(self, epoch, done, losses, seconds):
        fill = int(self.WIDTH * done / self.n_steps)
        bar = "#" * fill + "." * (self.WIDTH - fill)
        return f"[{self.name}] epoch {epoch}/{self.max_epochs} [{bar}] {self._values(losses)}  {seconds:.1f}s"

    def step(self, epoch, done, losses, seconds):
        if self._tqdm is not None:
            self._tqdm.set_description(f"[{self.name}] epoch {epoch}/{self.max_epochs}", refresh=False)
            self._tqdm.set_postfix_str(self._values(losses), refresh=False)
            self._tqdm.update(1)
        elif self.live and done % self.every == 0 and done < self.n_steps:
            line = self._line(epoch, done, losses, seconds)
            self._width = max(self._width, len(line))
            self.out.write("\r" + line.ljust(self._width))
            self.out.flush()

    def end_epoch(self, epoch, losses, seconds):
        if self._tqdm is not None:
            if epoch == self.max_epochs:
                self._tqdm.close()
            return
        line = self._line(epoch, self.n_steps, losses, seconds)
        self.out.write(("\r" + line.ljust(self._width) if self.live else line) + "\n")
        self.out.flush()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _tqdm_bar(progress, total):
    """tqdm's bar over every step of the fit, or None where tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, file=progress.out, unit="step", leave=True, dynamic_ncols=True)


def divergence_error(name, where, detail, learning_rate):
    """The FloatingPointError of a training run that went non-finite, in the user's terms (every
    fastgen training loop raises this one: nn, MADE, the RBMs and DBN)."""
    lr = f" (got {learning_rate:g})" if np.isfinite(learning_rate) else ""
    return FloatingPointError(
        f"{name}: training diverged {where} ({detail}): the learning rate is too large for data of this "
        f"scale; standardise X or lower learning_rate{lr}. The estimator keeps its previous state (no "
        f"non-finite weights are stored)")


def diverged(name, epoch, step, losses, loss_names, learning_rate):
    bad = ", ".join(f"{n} = {v}" for n, v in zip(loss_names, losses) if not np.isfinite(v))
    return divergence_error(name, f"at epoch {epoch}, step {step}", bad, learning_rate)


def run_epochs(*, name, engine, arrays, batch_size, max_epochs, rng, step, streams, streams_per_step,
               loss_names, verbose=0, learning_rate=float("nan")):
    """Train for `max_epochs` epochs over minibatches of `arrays` (same number of rows; host arrays,
    or device arrays on a CUDA engine).

    The arrays are put on the device once. Each epoch permutes the rows with `rng` (a numpy
    Generator: only the permutation is made on the host) and gathers the permuted arrays where they
    live (``take_rows``), then calls ``step(batches, stream, step_number)`` on consecutive row slices, where
    `stream` is the first of `streams_per_step` fresh Philox streams and `step_number` counts from 1
    over the whole fit. `step` returns ``(losses, present)``: float64 losses (before the update) and
    which of them this step measured (None: all). Returns ``(curve, n_steps)``: the per-epoch means
    of each loss over the steps that measured it (rows weighted by batch size), float64
    ``[epochs, n_losses]``.
    """
    n = arrays[0].shape[0]
    starts = list(range(0, n, batch_size))
    progress = Progress(name, max_epochs, len(starts), loss_names) if verbose else None
    curve = np.zeros((max_epochs, len(loss_names)))
    step_number = 0
    begin = time.perf_counter()
    resident = [engine.put(a) for a in arrays]
    for epoch in range(1, max_epochs + 1):
        order = rng.permutation(n)
        dev = [engine.take_rows(a, order) for a in resident]
        total = np.zeros(len(loss_names))
        weight = np.zeros(len(loss_names))
        for i, b0 in enumerate(starts, start=1):
            b1 = min(b0 + batch_size, n)
            step_number += 1
            losses, present = step([a[b0:b1] for a in dev], streams.take(streams_per_step), step_number)
            losses = np.asarray(engine.host(losses), dtype=np.float64)
            present = np.ones(len(losses), bool) if present is None else np.asarray(present, bool)
            if not np.isfinite(losses[present]).all():
                raise diverged(name, epoch, i, np.where(present, losses, 0.0), loss_names, learning_rate)
            total += np.where(present, losses, 0.0) * (b1 - b0)
            weight += present * (b1 - b0)
            if progress is not None:
                progress.step(epoch, i, total / np.maximum(weight, 1), time.perf_counter() - begin)
        curve[epoch - 1] = np.where(weight > 0, total / np.maximum(weight, 1), np.nan)
        if progress is not None:
            progress.end_epoch(epoch, curve[epoch - 1], time.perf_counter() - begin)
    return curve, step_number
