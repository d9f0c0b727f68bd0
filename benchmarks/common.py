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
def gaussian_hmm(impl: str, model: dict, n_iter: int = 1, covariance_type: str = "diag"):
    """A GaussianHMM of `impl` holding `model`'s parameters (covariance_type "full": its diagonal
    covariances as full matrices, estimated in full by EM); fit() = `n_iter` EM iterations."""
    K = len(model["startprob"])
    hmm = _module(impl).GaussianHMM(n_components=K, covariance_type=covariance_type, n_iter=n_iter, tol=0.0,
                                    params="stmc", init_params="", **_options(impl))
    hmm.startprob_ = model["startprob"].copy()
    hmm.transmat_ = model["transmat"].copy()
    hmm.means_ = model["means"].copy()
    hmm.covars_ = np.array([np.diag(c) for c in model["covars"]]) if covariance_type == "full" else model["covars"].copy()
    return hmm


def gmm_hmm(impl: str, model: dict, n_mix: int, n_iter: int = 1):
    """A diagonal GMMHMM of `impl` whose K M components are those of `model` (gaussian_model(K M, D),
    state k's components k M .. k M + M - 1, equal weights); fit() = `n_iter` EM iterations."""
    KM, D = model["means"].shape
    K = KM // n_mix
    hmm = _module(impl).GMMHMM(n_components=K, n_mix=n_mix, covariance_type="diag", n_iter=n_iter, tol=0.0,
                               params="stmcw", init_params="", **_options(impl))
    hmm.startprob_ = np.full(K, 1.0 / K)
    hmm.transmat_ = _sticky_transmat(np.random.default_rng([SEED, K, 3]), K)
    hmm.means_ = model["means"].reshape(K, n_mix, D).copy()
    hmm.covars_ = model["covars"].reshape(K, n_mix, D).copy()
    hmm.weights_ = np.full((K, n_mix), 1.0 / n_mix)
    return hmm


@functools.lru_cache(maxsize=None)
def poisson_model(K: int, D: int, seed: int = SEED) -> dict:
    """A random PoissonHMM: rates log-uniform in [0.5, 20], each state's own draw.

    Returns dict(startprob (K,), transmat (K, K), lambdas (K, D)).
    """
    rng = np.random.default_rng([seed, K, D, 2])
    return dict(startprob=rng.dirichlet(np.ones(K)), transmat=_sticky_transmat(rng, K),
                lambdas=np.exp(rng.uniform(np.log(0.5), np.log(20.0), size=(K, D))))


@functools.lru_cache(maxsize=None)
def poisson_data(K: int, D: int, n_seq: int, n_steps: int, seed: int = SEED):
    """Samples of `poisson_model(K, D)`: (X float64 counts (n_seq * n_steps, D), lengths int64 (n_seq,)).
    Cached per process; read-only."""
    model = poisson_model(K, D, seed)
    rng = np.random.default_rng([seed, K, D, n_seq, n_steps, 2])
    states = _sample_states_many(model, n_seq, n_steps, rng).reshape(-1)
    X = rng.poisson(model["lambdas"][states]).astype(np.float64)
    lengths = np.full(n_seq, n_steps, dtype=np.int64)
    X.setflags(write=False)
    lengths.setflags(write=False)
    return X, lengths


def poisson_hmm(impl: str, model: dict, n_iter: int = 1):
    """A PoissonHMM of `impl` holding `model`'s parameters; fit() = `n_iter` EM iterations."""
    K = len(model["startprob"])
    hmm = _module(impl).PoissonHMM(n_components=K, n_iter=n_iter, tol=0.0, params="stl", init_params="",
                                   **_options(impl))
    hmm.startprob_ = model["startprob"].copy()
    hmm.transmat_ = model["transmat"].copy()
    hmm.lambdas_ = model["lambdas"].copy()
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


# ==== Gaussian mixtures (bench_mixture.py) =========================================================
# Implementations of the mixture suites (the first parameter of each):
#   fastgen-cpu    fastgen.mixture.GaussianMixture, device="cpu" (C++ kernels, OpenMP threads)
#   fastgen-cuda   the same with device="cuda"; skipped as for the HMM suites
#   sklearn        sklearn.mixture.GaussianMixture
# Every model gets weights_init, means_init and precisions_init, n_init=1, tol=0 and max_iter=n_iter:
# with all three initial parameters given, scikit-learn skips its k-means initialisation, so fit() is
# exactly n_iter EM iterations (plus the final E-step that both libraries run) from the same start.
MIXTURE_IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "sklearn"]


def require_mixture(impl: str) -> None:
    """Raise NotImplementedError (asv: skip) when mixture implementation `impl` cannot run here."""
    if impl not in MIXTURE_IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {MIXTURE_IMPLEMENTATIONS}")
    if impl.startswith("fastgen"):
        require(impl)
        try:
            from fastgen import mixture  # noqa: F401
        except ImportError as exc:
            raise NotImplementedError(f"fastgen.mixture is not importable: {exc}") from None
    else:
        try:
            import sklearn.mixture  # noqa: F401
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed") from None


@functools.lru_cache(maxsize=None)
def mixture_model(K: int, D: int, covariance_type: str, seed: int = SEED) -> dict:
    """A random Gaussian mixture with well-separated means, and the fixed starting point of EM.

    Returns dict(weights (K,), means (K, D), covariances, weights_init, means_init, precisions_init)
    with covariances / precisions of shape (K, D) for "diag" and (K, D, D) for "full". Weights are
    Dirichlet(5) (no component is nearly empty); means are 4 apart as in `gaussian_model`; variances
    lie in [0.5, 1.5] ("full": a random rotation of such a diagonal). The start: equal weights, the
    true means moved by a standard normal step, unit precisions -- far enough from the truth that EM
    has work to do, the same for every implementation.
    """
    if covariance_type not in ("diag", "full"):
        raise ValueError(f"covariance_type must be 'diag' or 'full', got {covariance_type!r}")
    rng = np.random.default_rng([seed, K, D, 2])
    means = gaussian_model(K, D, seed)["means"]
    variances = rng.uniform(0.5, 1.5, size=(K, D))
    if covariance_type == "diag":
        covariances = variances
        precisions_init = np.ones((K, D))
    else:
        rotations = np.linalg.qr(rng.standard_normal((K, D, D)))[0]      # (K, D, D) orthogonal
        covariances = np.einsum("kij,kj,klj->kil", rotations, variances, rotations)
        precisions_init = np.broadcast_to(np.eye(D), (K, D, D)).copy()
    return dict(weights=rng.dirichlet(np.full(K, 5.0)), means=means, covariances=covariances,
                weights_init=np.full(K, 1.0 / K),
                means_init=means + rng.standard_normal((K, D)),
                precisions_init=precisions_init)


@functools.lru_cache(maxsize=None)
def mixture_data(K: int, D: int, N: int, covariance_type: str, seed: int = SEED) -> np.ndarray:
    """N samples (float64 (N, D), read-only) of `mixture_model(K, D, covariance_type)`, cached per process.

    Components are drawn by inverse CDF, then each component's rows are filled in one vectorised
    step (a K-long loop).
    """
    model = mixture_model(K, D, covariance_type, seed)
    rng = np.random.default_rng([seed, K, D, N, 3])
    # Smallest k with u < cdf[k] (clipped: the rounded total may fall just below 1).
    labels = np.minimum(np.searchsorted(np.cumsum(model["weights"]), rng.random(N), side="right"), K - 1)
    X = rng.standard_normal((N, D))
    for k in range(K):
        rows = np.flatnonzero(labels == k)
        if covariance_type == "diag":
            X[rows] *= np.sqrt(model["covariances"][k])
        else:
            X[rows] = X[rows] @ np.linalg.cholesky(model["covariances"][k]).T
        X[rows] += model["means"][k]
    X.setflags(write=False)
    return X


def gaussian_mixture(impl: str, model: dict, covariance_type: str, n_iter: int):
    """A GaussianMixture of `impl` starting from `model`'s fixed initial parameters; fit() = `n_iter`
    EM iterations (tol=0: never stops early)."""
    K = len(model["weights_init"])
    kwargs = dict(n_components=K, covariance_type=covariance_type, tol=0.0, max_iter=n_iter, n_init=1,
                  weights_init=model["weights_init"].copy(), means_init=model["means_init"].copy(),
                  precisions_init=model["precisions_init"].copy(), random_state=0)
    if impl == "sklearn":
        from sklearn.mixture import GaussianMixture
        return GaussianMixture(**kwargs)
    from fastgen.mixture import GaussianMixture
    return GaussianMixture(**kwargs, device="cuda" if impl == "fastgen-cuda" else "cpu")


def default_gaussian_mixture(impl: str, K: int, covariance_type: str, n_iter: int, dtype: str = "float64"):
    """A GaussianMixture of `impl` with the libraries' own k-means start (random_state=0, n_init=1)
    and exactly n_iter EM iterations (tol=0); fastgen computes in `dtype`."""
    kwargs = dict(n_components=K, covariance_type=covariance_type, tol=0.0, max_iter=n_iter, n_init=1, random_state=0)
    if impl == "sklearn":
        from sklearn.mixture import GaussianMixture
        return GaussianMixture(**kwargs)
    from fastgen.mixture import GaussianMixture
    return GaussianMixture(**kwargs, device="cuda" if impl == "fastgen-cuda" else "cpu", dtype=np.dtype(dtype))


def fit_quietly(model, X):
    """model.fit(X) without the ConvergenceWarning that tol=0 always triggers; returns the model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def warm_up_mixture(impl: str, build, X) -> None:
    """One small fit and score_samples on the first 2,000 rows (CUDA JIT, GPU context, imports)."""
    if not impl.startswith("fastgen"):
        return
    m = fit_quietly(build(), X[:2000])
    m.score_samples(X[:2000])


def require_torch():
    """torch, or NotImplementedError (asv: skip) when it is not installed (it is an optional peer)."""
    try:
        import torch
    except ImportError:
        raise NotImplementedError("torch is not installed (optional: pip install torch)") from None
    return torch


# ==== Restricted Boltzmann machines (bench_rbm.py) =================================================
# Implementations of the RBM suites (the first parameter of each):
#   fastgen-cpu    fastgen.rbm.BernoulliRBM, device="cpu" (C++ kernels, OpenMP threads)
#   fastgen-cuda   the same with device="cuda"; skipped as for the HMM suites
#   sklearn        sklearn.neural_network.BernoulliRBM (PCD-1 with NumPy's BLAS), on float32 data
#   torch          a plain PyTorch CD-1 / Gibbs loop on the CPU (torch.sigmoid, torch.bernoulli, @)
# All get the same float32 data and, for sampling, the same weights. Training: batch 100, PCD-1
# (fastgen, scikit-learn) or CD-1 (torch: the plain loop the issue names), learning rate 0.1, one
# epoch in data order (fastgen shuffle=False, like scikit-learn).
RBM_IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "sklearn", "torch"]


def require_rbm(impl: str) -> None:
    """Raise NotImplementedError (asv: skip) when RBM implementation `impl` cannot run here."""
    if impl not in RBM_IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {RBM_IMPLEMENTATIONS}")
    if impl.startswith("fastgen"):
        require(impl)
    elif impl == "sklearn":
        try:
            import sklearn.neural_network  # noqa: F401
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed") from None
    else:
        require_torch()


@functools.lru_cache(maxsize=None)
def rbm_data(n: int, V: int, n_prototypes: int = 20, seed: int = SEED) -> np.ndarray:
    """Structured binary data, float32 (n, V): noisy copies (5% of bits flipped) of random sparse
    prototypes (20% of bits on), the kind of redundancy an RBM learns."""
    rng = np.random.default_rng([seed, n, V, 3])
    protos = rng.random((n_prototypes, V)) < 0.2
    X = protos[rng.integers(0, n_prototypes, n)] ^ (rng.random((n, V)) < 0.05)
    return X.astype(np.float32)


@functools.lru_cache(maxsize=None)
def rbm_params(H: int, V: int, seed: int = SEED) -> dict:
    """Fixed float32 weights for the sampling suites: N(0, 0.05^2) weights, N(0, 0.5^2) biases
    (units neither saturated nor uniform, as in a partly trained model)."""
    rng = np.random.default_rng([seed, H, V, 4])
    return {"W": (0.05 * rng.standard_normal((H, V))).astype(np.float32),
            "b_h": (0.5 * rng.standard_normal(H)).astype(np.float32),
            "b_v": (0.5 * rng.standard_normal(V)).astype(np.float32)}


def rbm_epoch(impl: str, X: np.ndarray, H: int, batch_size: int, learning_rate: float = 0.1):
    """A callable running one training epoch of `impl` over X from a fresh model."""
    if impl.startswith("fastgen"):
        from fastgen.rbm import BernoulliRBM
        device = impl.split("-", 1)[1]
        return lambda: BernoulliRBM(n_components=H, batch_size=batch_size, n_iter=1, learning_rate=learning_rate,
                                    random_state=0, shuffle=False, device=device).fit(X)
    if impl == "sklearn":
        from sklearn.neural_network import BernoulliRBM
        return lambda: BernoulliRBM(n_components=H, batch_size=batch_size, n_iter=1, learning_rate=learning_rate,
                                    random_state=0).fit(X)
    import torch
    Xt = torch.from_numpy(X)

    def epoch():
        gen = torch.Generator().manual_seed(0)
        W = 0.01 * torch.randn(H, X.shape[1], generator=gen)
        b_h, b_v = torch.zeros(H), torch.zeros(X.shape[1])
        with torch.no_grad():
            for i in range(0, len(Xt), batch_size):
                v = Xt[i:i + batch_size]
                ph = torch.sigmoid(v @ W.T + b_h)
                h = torch.bernoulli(ph, generator=gen)
                vn = torch.bernoulli(torch.sigmoid(h @ W + b_v), generator=gen)
                phn = torch.sigmoid(vn @ W.T + b_h)
                W += (learning_rate / len(v)) * (ph.T @ v - phn.T @ vn)
                b_h += learning_rate * (ph - phn).mean(0)
                b_v += learning_rate * (v - vn).mean(0)
        return W
    return epoch


def rbm_gibbs(impl: str, params: dict, v0: np.ndarray, n_steps: int):
    """A callable running n_steps Gibbs sweeps (v -> h -> v) of len(v0) chains with `impl`."""
    W, b_h, b_v = params["W"], params["b_h"], params["b_v"]
    if impl.startswith("fastgen"):
        from fastgen._backend import Backend
        be = Backend(impl.split("-", 1)[1], np.float32)
        args = [be.put(a) for a in (v0, W, b_h, b_v, np.zeros(0, np.float32))]
        return lambda: be.host(be.kernels.rbm.gibbs_vhv(*args, n_steps, 12345, 0)[0])
    if impl == "sklearn":
        from sklearn.neural_network import BernoulliRBM
        m = BernoulliRBM(n_components=W.shape[0], random_state=0)
        m.components_, m.intercept_hidden_, m.intercept_visible_ = W, b_h, b_v
        m.random_state_ = np.random.RandomState(0)

        def chains():
            v = v0
            for _ in range(n_steps):
                v = m.gibbs(v).astype(np.float32)  # scikit-learn returns bool; keep float32 chains
            return v
        return chains
    import torch
    Wt, bh, bv, v0t = (torch.from_numpy(a) for a in (W, b_h, b_v, v0))

    def chains():
        gen = torch.Generator().manual_seed(0)
        v = v0t
        with torch.no_grad():
            for _ in range(n_steps):
                h = torch.bernoulli(torch.sigmoid(v @ Wt.T + bh), generator=gen)
                v = torch.bernoulli(torch.sigmoid(h @ Wt + bv), generator=gen)
        return v
    return chains


# ==== Linear autoregressive models (bench_autoregressive.py)===================================================
# Implementations of the AR suites (the first parameter of each):
#   fastgen-cpu     fastgen.autoregressive.AR, device="cpu" (C++ kernels, OpenMP threads)
#   fastgen-cuda    the same with device="cuda"; skipped as for the HMM suites
#   statsmodels     statsmodels.tsa.ar_model.AutoReg (fits, forecasts), ArmaProcess.generate_sample
#                   (simulation), a Python loop of AutoReg fits (many series)
#   scipy-lfilter   scipy.signal.lfilter running the AR recursion on given normals (simulation only)
AR_IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "statsmodels", "scipy-lfilter"]


def require_ar(impl: str, *, lfilter: bool = False) -> None:
    """Raise NotImplementedError (asv: skip) when AR implementation `impl` cannot run here, or is
    scipy-lfilter and the benchmark is not a simulation (lfilter=False)."""
    if impl not in AR_IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {AR_IMPLEMENTATIONS}")
    if impl.startswith("fastgen"):
        require(impl)
    elif impl == "scipy-lfilter" and not lfilter:
        raise NotImplementedError("scipy-lfilter: simulation only")
    else:
        try:
            import statsmodels  # noqa: F401
            import scipy.signal  # noqa: F401
        except ImportError:
            raise NotImplementedError(f"{impl}: statsmodels / scipy not installed") from None


@functools.lru_cache(maxsize=None)
def ar_coefficients(order: int, seed: int = SEED) -> np.ndarray:
    """phi_1..phi_order of a stationary AR: the lag polynomial's roots drawn with moduli in
    [1.2, 3] (complex-conjugate pairs, one real root for odd orders)."""
    rng = np.random.default_rng([seed, order, 7])
    roots = []
    for _ in range(order // 2):
        r = rng.uniform(1.2, 3.0) * np.exp(1j * rng.uniform(0.1, np.pi - 0.1))
        roots += [r, np.conj(r)]
    if order % 2:
        roots.append(rng.uniform(1.2, 3.0) * rng.choice([-1.0, 1.0]))
    poly = np.real(np.poly(1.0 / np.array(roots))) if roots else np.ones(1)  # 1 - phi_1 z - ...
    return -poly[1:]


@functools.lru_cache(maxsize=None)
def ar_data(n_series: int, n_steps: int, order: int, seed: int = SEED):
    """n_series AR(order) paths of n_steps each (same coefficients, unit innovations, mean 1), drawn
    with NumPy and run through the recursion by scipy.signal.lfilter after a 200-step burn-in.
    Returns (X float64 (n_series * n_steps,), lengths int64 (n_series,)); read-only, cached."""
    from scipy.signal import lfilter
    phi = ar_coefficients(order, seed)
    rng = np.random.default_rng([seed, n_series, n_steps, order])
    e = rng.standard_normal((n_series, n_steps + 200))
    X = lfilter([1.0], np.r_[1.0, -phi], e, axis=1)[:, 200:] + 1.0
    X = np.ascontiguousarray(X.reshape(-1))
    lengths = np.full(n_series, n_steps, dtype=np.int64)
    X.setflags(write=False)
    lengths.setflags(write=False)
    return X, lengths
