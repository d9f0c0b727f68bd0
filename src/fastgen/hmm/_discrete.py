"""Discrete-emission HMMs: ``CategoricalHMM`` (symbols) and ``PoissonHMM`` (counts), drop-ins for
hmmlearn's."""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval
from .. import _reductions as rd
from ._base import _EMPTY, STREAM_EMISSIONS, BaseHMM, rows_by_label
from .._validation import check_allocation, check_positive, check_stochastic

class CategoricalHMM(BaseHMM):
    """HMM with categorical emissions; X holds symbols in [0, n_features), shape (n_samples, 1).

    A drop-in for ``hmmlearn.hmm.CategoricalHMM`` (its arguments, attributes and MAP updates with
    a Dirichlet prior on the emission probabilities), plus ``device`` and ``dtype``. A state that
    receives no posterior mass keeps its emission probabilities (RuntimeWarning); ``sample``
    draws Philox numbers.

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    startprob_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentration of the prior on ``startprob_`` (>= 0; 1: no prior).
    transmat_prior : float or array-like of shape (n_components, n_components), default=1.0
        Dirichlet concentration of the prior on each row of ``transmat_`` (>= 0; 1: no prior).
    emissionprob_prior : float or array-like of shape (n_components, n_features), default=1.0
        Dirichlet concentration of the prior on each row of ``emissionprob_`` (>= 0; 1: no
        prior).
    n_features : int, default=None
        Number of symbols (>= 1); None: the largest symbol of the first ``fit``'s X plus one (or
        the width of a set ``emissionprob_``). ``fit`` stores it here, as hmmlearn does.
    algorithm : {"viterbi", "map"}, default="viterbi"
        Decoder of ``decode`` and ``predict``.
    random_state : None, int or numpy RandomState, default=None
        Seeds the initialisation and, through a Philox key, ``sample``.
    n_iter : int, default=10
        Maximum number of EM iterations (>= 0).
    tol : float, default=1e-2
        EM stops when the log-likelihood gains less than ``tol`` (-inf: never on the gain).
    verbose : bool or int, default=False
        Print each iteration's log-likelihood and gain to stderr (``monitor_``).
    params : str, default="ste"
        Parameters updated by ``fit``: 's' startprob_, 't' transmat_, 'e' emissionprob_.
    init_params : str, default="ste"
        Parameters ``fit`` initialises from the data (same letters); the others must be set
        before ``fit``.
    implementation : {"scaling", "log"}, default="scaling"
        Forward-backward with scaled probabilities, or in log space.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the per-frame work runs ("auto": a usable GPU, else the CPU).
    dtype : float64 or float32, default=np.float64
        Precision of the per-frame kernel work (parameters are float64 either way).

    Attributes
    ----------
    n_features : int
        Number of symbols.
    startprob_ : ndarray of shape (n_components,)
        Initial state probabilities.
    transmat_ : ndarray of shape (n_components, n_components)
        Transition probabilities; row i is p(next state | state i).
    emissionprob_ : ndarray of shape (n_components, n_features)
        p(symbol | state); rows sum to 1 (initialised at random, as in hmmlearn).
    monitor_ : ConvergenceMonitor
        The log-likelihood history of the last ``fit`` (``monitor_.history``, ``converged``).
    n_iter_ : int
        EM iterations of the last ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.hmm import CategoricalHMM
    >>> rng = np.random.default_rng(0)
    >>> states = np.repeat([0, 1, 0, 1], 50)
    >>> emissions = np.array([[0.9, 0.05, 0.05], [0.05, 0.05, 0.9]])
    >>> X = np.array([rng.choice(3, p=emissions[s]) for s in states])[:, None]
    >>> model = CategoricalHMM(n_components=2, n_iter=100, random_state=1, device="cpu").fit(X)
    >>> model.n_features, model.emissionprob_.shape
    (3, (2, 3))
    >>> np.sort(model.emissionprob_[:, 0]).round(1).tolist()
    [0.0, 0.9]
    >>> labels = model.predict(X)  # the true states (up to relabelling) but one
    >>> int(max((labels == states).sum(), (labels != states).sum()))
    199
    """

    _emission_letters = "e"
    _parameter_constraints = {
        **BaseHMM._parameter_constraints,
        "emissionprob_prior": [Interval(numbers.Real, 0, None), "array-like"],
        "n_features": [None, Interval(numbers.Integral, 1, None)],
    }

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, *, emissionprob_prior=1.0,
                 n_features=None, algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="ste", init_params="ste", implementation="scaling", device="auto", dtype=np.float64):
        self._base_init(n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                        verbose, params, init_params, implementation, device, dtype)
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features

    def _validate_X(self, X, fitting):
        X = self._backend.check_array(X, allow_int=True)
        if X.shape[1] != 1:
            raise ValueError(f"X: CategoricalHMM expects shape (n_samples, 1) of integer symbols, got {tuple(X.shape)}")
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"X: symbols must be integers, got dtype {X.dtype}")
        # The smallest and largest symbols, where X lives (one element each from a device array).
        low = rd.minimum(X, self._backend)
        if low < 0:
            raise ValueError(f"X: symbols must be non-negative, got {low}")
        nf = self.n_features
        if nf is None and hasattr(self, "emissionprob_") and not (fitting and "e" in self.init_params):
            nf = np.asarray(self.emissionprob_).shape[1]
        if nf is not None:
            high = rd.maximum(X, self._backend)
            if high >= nf:
                raise ValueError(f"X: largest symbol is {high} but the model only emits symbols up to {nf - 1}")
        return rd.first_column(X)

    def _init_emission(self, X, rs, origin):
        if self.n_features is None:
            high = int(rd.maximum(X, self._backend))
            check_allocation("X", 8 * 4 * self.n_components * (high + 1),
                             f"symbols up to {high} (a {self.n_components} x {high + 1} emission table: relabel them "
                             f"0, 1, ..., e.g. by np.unique(X, return_inverse=True))")
            self.n_features = high + 1
        if self._needs_init("e", "emissionprob_"):
            e = rs.rand(self.n_components, self.n_features)
            self.emissionprob_ = e / e.sum(axis=1, keepdims=True)

    def _check_emission(self):
        if not hasattr(self, "emissionprob_"):
            raise ValueError("emissionprob_ must be set when 'e' is not in init_params")
        e = np.atleast_2d(np.asarray(self.emissionprob_))  # its dtype sets the tolerance of the check
        if self.n_features is None:
            self.n_features = e.shape[1]
        self.emissionprob_ = check_stochastic(e, "emissionprob_", (self.n_components, self.n_features))

    def _log_emission(self):
        with np.errstate(divide="ignore"):
            return self._backend.put(np.log(self.emissionprob_))

    def _frame_logprob(self, Xk, origin=None):
        return self._kern.emissions.categorical_logprob(Xk, self._log_emission())

    def _fused_emission(self, origin):
        # Each frame's row is read by its symbol inside the lattice pass: no N x K array in score and
        # predict (nor in fit with many sequences).
        return "categorical", (self._log_emission(),)

    def _emission_stats(self, Xk, post, origin):
        return {"obs": self._backend.host(self._kern.emissions.categorical_counts(Xk, post, self.n_features)).astype(np.float64)}

    def _mstep_emission(self, stats):
        if "e" in self.params:
            e = np.maximum(self.emissionprob_prior - 1 + stats["obs"], 0)
            rows = e.sum(axis=1)
            empty = rows <= 0
            e[~empty] /= rows[~empty, None]
            e[empty] = self.emissionprob_[empty]
            self.emissionprob_ = e
            self._warn_empty(empty, "emission probabilities")

    def _get_n_fit_scalars_per_param(self):
        K, M = self.n_components, self.n_features
        return {"s": K - 1, "t": K * (K - 1), "e": K * (M - 1)}

    def _sample_width(self):
        return 1  # one symbol per frame, whatever the vocabulary

    def _sample_emissions(self, states, seed):
        u = self._backend.host(self._kern.rng.uniform(seed, STREAM_EMISSIONS, len(states)))
        cdf = np.cumsum(self.emissionprob_, axis=1)
        sym = np.empty(len(states), dtype=np.int64)
        for k, rows in rows_by_label(states, self.n_components):  # the first symbol whose cdf exceeds u
            sym[rows] = np.searchsorted(cdf[k], u[rows], side="right")
        return np.minimum(sym, self.n_features - 1)[:, None]


class PoissonHMM(BaseHMM):
    """HMM with independent Poisson counts per feature.

    A drop-in for ``hmmlearn.hmm.PoissonHMM`` (its arguments, attributes and MAP update with a
    gamma prior on the rates), plus ``device`` and ``dtype``. X holds non-negative integer counts
    (of any numeric dtype). The rates start from gamma draws matching the mean and variance of
    the data; a state that receives no posterior mass keeps its rates (RuntimeWarning);
    ``sample`` draws Philox numbers.

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    startprob_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentration of the prior on ``startprob_`` (>= 0; 1: no prior).
    transmat_prior : float or array-like of shape (n_components, n_components), default=1.0
        Dirichlet concentration of the prior on each row of ``transmat_`` (>= 0; 1: no prior).
    lambdas_prior, lambdas_weight : float or array-like, default=0.0
        Shape (alpha) and rate (beta) of the gamma prior on ``lambdas_`` (>= 0; 0: no prior),
        broadcast against (n_components, n_features).
    algorithm : {"viterbi", "map"}, default="viterbi"
        Decoder of ``decode`` and ``predict``.
    random_state : None, int or numpy RandomState, default=None
        Seeds the initialisation and, through a Philox key, ``sample``.
    n_iter : int, default=10
        Maximum number of EM iterations (>= 0).
    tol : float, default=1e-2
        EM stops when the log-likelihood gains less than ``tol`` (-inf: never on the gain).
    verbose : bool or int, default=False
        Print each iteration's log-likelihood and gain to stderr (``monitor_``).
    params : str, default="stl"
        Parameters updated by ``fit``: 's' startprob_, 't' transmat_, 'l' lambdas_.
    init_params : str, default="stl"
        Parameters ``fit`` initialises from the data (same letters); the others must be set
        before ``fit``.
    implementation : {"scaling", "log"}, default="scaling"
        Forward-backward with scaled probabilities, or in log space.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the per-frame work runs ("auto": a usable GPU, else the CPU).
    dtype : float64 or float32, default=np.float64
        Precision of the per-frame kernel work (parameters are float64 either way).

    Attributes
    ----------
    n_features : int
        Number of count features.
    startprob_ : ndarray of shape (n_components,)
        Initial state probabilities.
    transmat_ : ndarray of shape (n_components, n_components)
        Transition probabilities; row i is p(next state | state i).
    lambdas_ : ndarray of shape (n_components, n_features)
        Poisson rate of each feature in each state.
    monitor_ : ConvergenceMonitor
        The log-likelihood history of the last ``fit`` (``monitor_.history``, ``converged``).
    n_iter_ : int
        EM iterations of the last ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.hmm import PoissonHMM
    >>> rng = np.random.default_rng(0)
    >>> states = np.repeat([0, 1, 0, 1], 50)
    >>> X = rng.poisson(np.array([1.0, 10.0])[states][:, None], size=(200, 1))
    >>> model = PoissonHMM(n_components=2, n_iter=50, random_state=0, device="cpu").fit(X)
    >>> np.sort(model.lambdas_.ravel()).round().astype(int).tolist()
    [1, 10]
    >>> bool(model.monitor_.converged)
    True
    >>> X_new, states_new = model.sample(4, random_state=0)
    >>> X_new.shape, states_new.shape
    ((4, 1), (4,))
    """

    _emission_letters = "l"
    _parameter_constraints = {
        **BaseHMM._parameter_constraints,
        "lambdas_prior": [Interval(numbers.Real, 0, None), "array-like"],
        "lambdas_weight": [Interval(numbers.Real, 0, None), "array-like"],
    }

    def __init__(self, n_components=1, startprob_prior=1.0, transmat_prior=1.0, lambdas_prior=0.0,
                 lambdas_weight=0.0, algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False,
                 params="stl", init_params="stl", implementation="scaling", device="auto", dtype=np.float64):
        self._base_init(n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                        verbose, params, init_params, implementation, device, dtype)
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight

    def _validate_X(self, X, fitting):
        nf = None
        if hasattr(self, "lambdas_") and not (fitting and "l" in self.init_params):
            nf = np.atleast_2d(self.lambdas_).shape[1]
        X = self._backend.check_array(X, n_features=nf, dtype=np.float64)
        # X is finite: a negative count shows in its minimum, a fraction in the whole-number check
        # (both where X lives: one reduction and one element back from a device array).
        low = rd.minimum(X, self._backend)
        if low < 0:
            raise ValueError(f"X: Poisson counts must be non-negative, got min {low}")
        if self._backend.first_outside(X, integral=True) is not None:
            raise ValueError("X: Poisson counts must be integers")
        return X

    def _init_emission(self, X, rs, origin):
        self.n_features = X.shape[1]
        if self._needs_init("l", "lambdas_"):
            # hmmlearn's gamma draws of the data's mean and variance: shape mean^2 / var, scale
            # var / mean, formed from the counts scaled by 2^-e when their squares would overflow
            # (both are ratios: e = 0, the plain formula, for counts below ~1e144).
            e = max(0, int(np.frexp(rd.maximum(X, self._backend))[1]) - 480)
            if e:  # (counts beyond 1e144: scaled on the host, where a device array is copied once)
                X = np.ldexp(self._backend.host(X) if rd.on_device(X) else X, -e)
            mean, var = rd.mean_var(X, self._backend)
            mean, var = max(mean, np.ldexp(1e-3, -e)), max(var, np.ldexp(1e-3, -2 * e))
            self.lambdas_ = rs.gamma(shape=mean ** 2 / var, scale=np.ldexp(var / mean, e),
                                     size=(self.n_components, self.n_features))

    def _check_emission(self):
        if not hasattr(self, "lambdas_"):
            raise ValueError("lambdas_ must be set when 'l' is not in init_params")
        lam = np.atleast_2d(np.asarray(self.lambdas_, dtype=np.float64))
        if lam.shape[0] != self.n_components:
            raise ValueError(f"lambdas_: expected shape ({self.n_components}, n_features), got {lam.shape}")
        self.lambdas_ = check_positive(lam, "lambdas_", strict=False)
        self.n_features = lam.shape[1]

    def _frame_logprob(self, Xk, origin=None):
        return self._kern.emissions.poisson_logprob(Xk, self._backend.put(self.lambdas_))

    def _fused_emission(self, origin):
        # The log-likelihoods are computed inside the lattice pass (the C++ kernels, with many
        # sequences: no N x K array of them).
        return "poisson", (self._backend.put(self.lambdas_),)

    def _emission_stats(self, Xk, post, origin):
        return self._moment_stats(*self._kern.emissions.weighted_moments(Xk, post, 0), origin)

    def _moment_stats(self, ws, wx, wxx, origin):
        return {"post": self._host64(ws), "obs": self._host64(wx)}

    def _mstep_emission(self, stats):
        if "l" in self.params:
            post = stats["post"]
            empty = post < _EMPTY
            n = post.sum()
            y_bar = stats["obs"] / np.where(empty, 1.0, post)[:, None]
            lam = (self.lambdas_prior + n * y_bar) / (self.lambdas_weight + n)
            self.lambdas_ = np.where(empty[:, None], self.lambdas_, lam)
            self._warn_empty(empty, "rates")

    def _get_n_fit_scalars_per_param(self):
        K = self.n_components
        return {"s": K - 1, "t": K * (K - 1), "l": K * self.n_features}

    def _sample_emissions(self, states, seed):
        lam = np.ascontiguousarray(self.lambdas_[states])
        return self._backend.host(self._kern.hmm.sample_poisson(self._backend.put(lam), seed, STREAM_EMISSIONS))
