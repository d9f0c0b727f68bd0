"""Data of the peak-memory suites (issue 14): large inputs drawn without data-sized temporaries.

asv's ``peakmem_`` reports the largest resident size of the whole benchmark process, setup
included, so these generators draw in blocks of rows into the final array: the process peak is then
the input plus what the measured call adds, not the generator's scratch. Drawn with NumPy from a
fixed seed (common.SEED), so every implementation sees the same arrays; cached per process.
"""
from __future__ import annotations

import functools

import numpy as np

from . import common

BLOCK_ROWS = 1 << 16


@functools.lru_cache(maxsize=None)
def long_gaussian_sequence(K: int, D: int, n_steps: int, seed: int = common.SEED):
    """One sequence of n_steps frames of `common.gaussian_model(K, D)`: states in runs of geometric
    length (mean 5, the model's sticky diagonal), each frame its state's mean plus its noise.
    Returns (X float64 (n_steps, D), lengths [n_steps]), read-only."""
    model = common.gaussian_model(K, D, seed)
    rng = np.random.default_rng([seed, K, D, n_steps, 5])
    X = np.empty((n_steps, D))
    for b0 in range(0, n_steps, BLOCK_ROWS):
        n = min(BLOCK_ROWS, n_steps - b0)
        states = np.repeat(rng.integers(0, K, size=n), rng.geometric(0.2, size=n))[:n]
        X[b0:b0 + n] = model["means"][states] + np.sqrt(model["covars"][states]) * rng.standard_normal((n, D))
    lengths = np.array([n_steps], dtype=np.int64)
    X.setflags(write=False)
    return X, lengths


@functools.lru_cache(maxsize=None)
def mixture_rows(K: int, D: int, N: int, dtype: str, seed: int = common.SEED) -> np.ndarray:
    """N rows (read-only, of `dtype`) of a diagonal Gaussian mixture with `common.gaussian_model(K,
    D)`'s means and unit variances, equal weights."""
    means = common.gaussian_model(K, D, seed)["means"]
    rng = np.random.default_rng([seed, K, D, N, 6])
    X = np.empty((N, D), dtype=dtype)
    for b0 in range(0, N, BLOCK_ROWS):
        n = min(BLOCK_ROWS, N - b0)
        X[b0:b0 + n] = means[rng.integers(0, K, size=n)] + rng.standard_normal((n, D))
    X.setflags(write=False)
    return X
