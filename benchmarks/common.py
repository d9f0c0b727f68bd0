"""Shared pieces of the benchmark suites: data generators (cached) and model builders.

Data are drawn with NumPy's own generator from a fixed seed, never with fastgen, so every
implementation sees exactly the same arrays. Models are built with FIXED parameters and
``init_params=""``: ``fit`` with ``n_iter=1`` is then exactly one EM iteration (E-step + M-step)
from those parameters, for fastgen and hmmlearn alike.

Implementation names (the first benchmark parameter of every suite):
  fastgen-cpu       fastgen.hmm, device="cpu" (C++ kernels, OpenMP threads), implementation="scaling"
  fastgen-cuda      fastgen.hmm, device="cuda" (Numba CUDA kernels); skipped without a usable GPU
                    and under NUMBA_ENABLE_CUDASIM (the simulator is for correctness, not speed)
  hmmlearn-log      hmmlearn.hmm, implementation="log"     (hmmlearn's default)
  hmmlearn-scaling  hmmlearn.hmm, implementation="scaling"
A benchmark whose implementation cannot run here raises NotImplementedError in setup, which asv
reports as skipped (n/a).
"""
from __future__ import annotations

import bisect
import functools
import logging
import os
import warnings

import numpy as np

IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "hmmlearn-log", "hmmlearn-scaling"]
SEED = 20240607


# ---- availability ------------------------------------------------------------------------------
def require(impl: str) -> None:
    """Raise NotImplementedError (asv: skip) when `impl` cannot run on this machine."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}")
    if impl == "fastgen-cuda":
        if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1":
            raise NotImplementedError("fastgen-cuda: not timed under NUMBA_ENABLE_CUDASIM")
        from fastgen import _backend
        if not _backend.cuda_usable():
            raise NotImplementedError("fastgen-cuda: no usable CUDA GPU")
    elif impl.startswith("hmmlearn"):
        try:
            import hmmlearn  # noqa: F401
        except ImportError:
            raise NotImplementedError("hmmlearn is not installed") from None


def _module(impl: str):
    if impl.startswith("fastgen"):
        from fastgen import hmm
    else:
        from hmmlearn import hmm
    return hmm


def _options(impl: str) -> dict:
    if impl == "fastgen-cpu":
        return dict(implementation="scaling", device="cpu")
    if impl == "fastgen-cuda":
        return dict(implementation="scaling", device="cuda")
    return dict(implementation=impl.split("-", 1)[1])


# ---- random models -------------------------------------------------------------------------------
def _sticky_transmat(rng: np.random.Generator, K: int, stay: float = 0.8) -> np.ndarray:
    """Rows: `stay` on the diagonal plus a Dirichlet(1) share of the rest (all entries > 0)."""
    return stay * np.eye(K) + (1.0 - stay) * rng.dirichlet(np.ones(K), size=K)


@functools.lru_cache(maxsize=None)
def gaussian_model(K: int, D: int, seed: int = SEED) -> dict:
    """A random diagonal GaussianHMM whose state means are at least 4 standard deviations apart.

    Returns dict(startprob (K,), transmat (K, K), means (K, D), covars (K, D)); variances in [0.5, 1.5].
    """
    rng = np.random.default_rng([seed, K, D])
    half_width = 2.0 * K ** (1.0 / D) + 2.0     # box big enough to place K points 4 apart
    means = []
    while len(means) < K:                        # rejection: keep a candidate far from the others
        c = rng.uniform(-half_width, half_width, size=D)
        if all(np.linalg.norm(c - m) >= 4.0 for m in means):
            means.append(c)
    return dict(startprob=rng.dirichlet(np.ones(K)),
                transmat=_sticky_transmat(rng, K),
                means=np.array(means),
                covars=rng.uniform(0.5, 1.5, size=(K, D)))


@functools.lru_cache(maxsize=None)
def categorical_model(K: int, M: int, seed: int = SEED) -> dict:
    """A random CategoricalHMM; each state favours its own few symbols (Dirichlet(0.3) rows).

    Returns dict(startprob (K,), transmat (K, K), emissionprob (K, M)).
    """
    rng = np.random.default_rng([seed, K, M, 1])
    return dict(startprob=rng.dirichlet(np.ones(K)),
                transmat=_sticky_transmat(rng, K),
                emissionprob=rng.dirichlet(np.full(M, 0.3), size=K))


# ---- samples (NumPy only) ------------------------------------------------------------------------
def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise inverse CDF: for each i, the smallest k with u[i] < cdf[i, k] (clipped)."""
    return np.minimum((cdf <= u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def _sample_states_many(model: dict, n_seq: int, n_steps: int, rng) -> np.ndarray:
    """(n_seq, n_steps) state paths, vectorised over sequences."""
    K = len(model["startprob"])
    start_cdf = np.cumsum(model["startprob"])
    trans_cdf = np.cumsum(model["transmat"], axis=1)
    states = np.empty((n_seq, n_steps), dtype=np.int64)
    states[:, 0] = _inverse_cdf(np.broadcast_to(start_cdf, (n_seq, K)), rng.random(n_seq))
    for t in range(1, n_steps):
        states[:, t] = _inverse_cdf(trans_cdf[states[:, t - 1]], rng.random(n_seq))
    return states


@functools.lru_cache(maxsize=None)
def gaussian_data(K: int, D: int, n_seq: int, n_steps: int, seed: int = SEED):
    """Samples of `gaussian_model(K, D)`: (X float64 (n_seq * n_steps, D), lengths int64 (n_seq,)).

    Cached per process; treat the arrays as read-only.
    """
    model = gaussian_model(K, D, seed)
    rng = np.random.default_rng([seed, K, D, n_seq, n_steps])
    states = _sample_states_many(model, n_seq, n_steps, rng).reshape(-1)
    noise = rng.standard_normal((states.size, D))
    X = model["means"][states] + np.sqrt(model["covars"][states]) * noise
    lengths = np.full(n_seq, n_steps, dtype=np.int64)
    X.setflags(write=False)
    lengths.setflags(write=False)
    return X, lengths


@functools.lru_cache(maxsize=None)
def categorical_data(K: int, M: int, n_steps: int, seed: int = SEED):
    """One sequence of `categorical_model(K, M)`: (X int64 (n_steps, 1), lengths int64 [n_steps]).

    The chain is sequential, so it is walked in Python with bisect on cumulative lists (~0.3 s for
    200,000 steps); cached per process; read-only.
    """
    model = categorical_model(K, M, seed)
    rng = np.random.default_rng([seed, K, M, n_steps, 1])
    trans_cdf = np.cumsum(model["transmat"], axis=1).tolist()
    u = rng.random(n_steps).tolist()
    states = np.empty(n_steps, dtype=np.int64)
    s = min(bisect.bisect_right(np.cumsum(model["startprob"]).tolist(), u[0]), K - 1)
    states[0] = s
    for t in range(1, n_steps):
        s = min(bisect.bisect_right(trans_cdf[s], u[t]), K - 1)
        states[t] = s
    emit_cdf = np.cumsum(model["emissionprob"], axis=1)
    X = _inverse_cdf(emit_cdf[states], rng.random(n_steps)).reshape(-1, 1)
    lengths = np.array([n_steps], dtype=np.int64)
    X.setflags(write=False)
    lengths.setflags(write=False)
    return X, lengths


# ---- models with fixed parameters ---------------------------------------------------------------
def gaussian_hmm(impl: str, model: dict, n_iter: int = 1):
    """A diagonal GaussianHMM of `impl` holding `model`'s parameters; fit() = `n_iter` EM iterations."""
    K = len(model["startprob"])
    hmm = _module(impl).GaussianHMM(n_components=K, covariance_type="diag", n_iter=n_iter, tol=0.0,
                                    params="stmc", init_params="", **_options(impl))
    hmm.startprob_ = model["startprob"].copy()
    hmm.transmat_ = model["transmat"].copy()
    hmm.means_ = model["means"].copy()
    hmm.covars_ = model["covars"].copy()
    return hmm


def categorical_hmm(impl: str, model: dict, n_iter: int = 1):
    """A CategoricalHMM of `impl` holding `model`'s parameters; fit() = `n_iter` EM iterations."""
    K, M = model["emissionprob"].shape
    hmm = _module(impl).CategoricalHMM(n_components=K, n_features=M, n_iter=n_iter, tol=0.0,
                                       params="ste", init_params="", **_options(impl))
    hmm.startprob_ = model["startprob"].copy()
    hmm.transmat_ = model["transmat"].copy()
    hmm.emissionprob_ = model["emissionprob"].copy()
    return hmm


def warm_up(impl: str, build, X, lengths) -> None:
    """One small score/predict/fit so one-off costs (CUDA JIT, GPU context, imports) stay out of timings.

    Uses whole sequences totalling about 2,000 frames (or the start of a single long sequence);
    warnings and log messages of the tiny fit (states without data) are silenced.
    """
    if not impl.startswith("fastgen"):
        return
    n_seq = max(1, int(np.searchsorted(np.cumsum(lengths), 2000, side="right")))
    ls = np.array(lengths[:n_seq], dtype=np.int64)
    if n_seq == 1:
        ls[0] = min(int(ls[0]), 2000)
    Xs = X[:int(ls.sum())]
    log = logging.getLogger("fastgen")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = build()
            m.score(Xs, ls)
            m.predict(Xs, ls)
            build().fit(Xs, ls)
    finally:
        log.setLevel(level)
