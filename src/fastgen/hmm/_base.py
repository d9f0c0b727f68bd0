"""The HMM family's shared machinery: the EM loop, inference and sampling (the convergence
monitor: _monitor.py).

Each emission type (fastgen.hmm) supplies only: input conversion, initialisation, parameter
checks, frame log-likelihoods, sufficient statistics and the M-step. All per-frame work runs in
kernels (fastgen._core on the CPU, fastgen._cuda on GPUs); this module only moves arrays and
updates K-sized parameters.
"""
from __future__ import annotations

import logging
import numbers

import numpy as np

from .._backend import Backend
from .._base import BaseEstimator
from .._params import Interval, Options
from .._warnings import warn
from .. import _reductions as rd
from .._validation import (check_allocation, check_lengths, check_random_state,
                          check_stochastic, philox_seed)
from ._monitor import ConvergenceMonitor

_log = logging.getLogger(__name__)

_EMPTY = 1e-12  # posterior mass below which a state counts as having received none

# Philox streams of HMM.sample: states, then emission draws.
STREAM_STATES, STREAM_EMISSIONS, STREAM_EMISSIONS_2 = 0, 1, 2


def rows_by_label(labels, n_labels):
    """(label, indices of its rows) for each label present, from one stable sort: sampling draws a
    label's rows together instead of gathering its parameters once per row."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_labels + 1))
    for k in range(n_labels):
        if bounds[k] < bounds[k + 1]:
            yield k, order[bounds[k]:bounds[k + 1]]


class BaseHMM(BaseEstimator):
    """EM for HMMs with pluggable emissions (hmmlearn's API, plus `device` and `dtype`).

    The public methods of every HMM are documented here. ``X`` is an array-like of shape
    (n_samples, n_features) holding one or more concatenated sequences (``CategoricalHMM``:
    integer symbols of shape (n_samples, 1); ``PoissonHMM``: non-negative integer counts), and
    ``lengths`` the lengths of those sequences (hmmlearn's convention).
    """

    _fitted_attr = "startprob_"
    _fitted_hint = "set startprob_, transmat_ and the emission parameters"
    _parameter_constraints = {
        "n_components": [Interval(numbers.Integral, 1, None)],
        "startprob_prior": [Interval(numbers.Real, 0, None), "array-like"],
        "transmat_prior": [Interval(numbers.Real, 0, None), "array-like"],
        "algorithm": [Options("viterbi", "map")],
        "random_state": ["random_state"],
        "n_iter": [Interval(numbers.Integral, 0, None)],
        "tol": [Interval(numbers.Real, None, None, allow_inf=True)],  # -inf: never stop on the gain (hmmlearn allows it)
        "verbose": ["boolean", Interval(numbers.Integral, 0, None)],
        "params": [str],
        "init_params": [str],
        "implementation": [Options("scaling", "log")],
    }
    _emission_letters = ""  # params letters owned by the emission, e.g. "mc"

    def _base_init(self, n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                   verbose, params, init_params, implementation, device, dtype):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.device = device
        self.dtype = dtype
        # monitor_ is created by fit (scikit-learn's convention: __init__ sets parameters only).

    # -- plumbing --------------------------------------------------------------------------------
    def _setup(self):
        """Check the hyper-parameters and resolve device and dtype (in fit and every method, not __init__)."""
        self._validate_params()
        self._backend = Backend(self.device, self.dtype)

    def _forward_backward(self, Xk, offsets_k, want_posteriors, want_xi, origin=None):
        """(logprob per sequence, posteriors or None, expected transitions or None) of the frames Xk:
        one fused pass where the kernels compute the emission inside it, else the frames'
        log-likelihoods first."""
        sp, tm = self._backend.put(self.startprob_), self._backend.put(self.transmat_)
        fused = self._fused_emission(origin) if self.implementation == "scaling" else None
        if fused is not None:
            kind, args = fused
            f = getattr(self._kern.hmm, f"forward_backward_{kind}")
            return f(sp, tm, Xk, *args, offsets_k, want_posteriors, want_xi)
        f = self._kern.hmm.forward_backward if self.implementation == "scaling" else self._kern.hmm.forward_backward_log
        return f(sp, tm, self._frame_logprob(Xk, origin), offsets_k, want_posteriors, want_xi)

    def _fused_emission(self, origin):
        """(kind, arguments after X) of the kernels that compute the emission inside the lattice pass
        (``_core.hmm.forward_backward_<kind>``, ``viterbi_<kind>``), or None where there are none."""
        return None

    def _prepare(self, X, lengths):
        """Validate data against the fitted model; returns (X, offsets, X on device, offsets on device)."""
        self._check_fitted()
        self._setup()
        self._check()
        X = self._validate_X(X, fitting=False)
        offsets = check_lengths(lengths, X.shape[0])
        self._check_size(X)
        return X, offsets, self._backend.put(X), self._backend.put(offsets)

    def _check_size(self, X):
        """Refuse, before allocating, a model or data whose arrays would not fit in memory: the K x K
        transition statistics, a few n_frames x K per-frame arrays and the emission parameters."""
        K, n_frames, n_features = self.n_components, X.shape[0], X.shape[1] if X.ndim > 1 else 1
        check_allocation("n_components", 8 * 4 * K * K + self._backend.dtype.itemsize * 3 * n_frames * K
                         + self._emission_bytes(n_features), f"{K} states over {n_frames} frames")

    def _emission_bytes(self, n_features):
        """Bytes of the emission parameters and their statistics (for _check_size)."""
        return 0

    def _sample_width(self):
        """Values sample draws per frame (for its memory check)."""
        return self.n_features

    def _origin(self, X):
        """Where fit centres the data (float64[n_features]), or None to fit them as they are.

        Gaussian emissions fit the data about their column mean, as scikit-learn's mixtures do:
        the M-step's second moments then lose no digits to the data's distance from the origin
        (about X + 1e8, hmmlearn's formulas leave zero or negative variances). Parameters stay in
        the user's units; the emissions shift them into this frame where they meet the data."""
        return None

    # -- inference -------------------------------------------------------------------------------
    def _score(self, X, lengths, compute_posteriors):
        X, offsets, Xk, ok = self._prepare(X, lengths)
        logprob, post, _ = self._forward_backward(Xk, ok, compute_posteriors, False)
        logprob = self._backend.host(logprob).astype(np.float64)
        return float(logprob.sum()), self._backend.host(post), logprob

    def score(self, X, lengths=None):
        """Log-likelihood of X under the model (summed over sequences).

        Computed by the forward algorithm (scaled or in log space, per ``implementation``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        log_prob : float
            log p(X), the sum of the sequences' log-likelihoods (-inf when a sequence is
            impossible under the model).
        """
        return self._score(X, lengths, False)[0]

    def score_samples(self, X, lengths=None):
        """Log-likelihood of X and the posterior state probabilities of each frame.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        log_prob : float
            log p(X), summed over sequences.
        posteriors : ndarray of shape (n_samples, n_components)
            p(state at frame t | its sequence), forward-backward; each row sums to 1.

        Raises
        ------
        ValueError
            When a sequence has zero probability under the model (posteriors undefined).
        """
        logprob, post, per_seq = self._score(X, lengths, True)
        self._check_possible(per_seq)
        return logprob, post

    def predict_proba(self, X, lengths=None):
        """Posterior state probabilities of each frame (``score_samples(X, lengths)[1]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        posteriors : ndarray of shape (n_samples, n_components)
            p(state at frame t | its sequence); each row sums to 1.
        """
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """Most likely states: (log-probability, state sequence). Viterbi or MAP (posterior argmax).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.
        algorithm : {"viterbi", "map"}, default=None
            "viterbi": the jointly most probable state path; "map": each frame's most probable
            state (argmax of the posteriors). None: the model's ``algorithm``.

        Returns
        -------
        log_prob : float
            Viterbi: log p(X, best path), summed over sequences; "map": the sum over frames of
            the log of the largest posterior.
        state_sequence : ndarray of int of shape (n_samples,)
            The state of each frame.

        Raises
        ------
        ValueError
            When a sequence has zero probability under the model (no path, no posteriors).
        """
        algorithm = algorithm or self.algorithm
        if algorithm not in ("viterbi", "map"):
            raise ValueError(f"algorithm: expected one of ('viterbi', 'map'), got {algorithm!r}")
        if algorithm == "map":
            _, post = self.score_samples(X, lengths)
            return float(np.log(post.max(axis=1)).sum()), post.argmax(axis=1)
        X, offsets, Xk, ok = self._prepare(X, lengths)
        sp, tm = self._backend.put(self.startprob_), self._backend.put(self.transmat_)
        fused = self._fused_emission(None)
        if fused is not None:
            kind, args = fused
            logprob, states = getattr(self._kern.hmm, f"viterbi_{kind}")(sp, tm, Xk, *args, ok)
        else:
            logprob, states = self._kern.hmm.viterbi(sp, tm, self._frame_logprob(Xk), ok)
        per_seq = self._backend.host(logprob).astype(np.float64)
        self._check_possible(per_seq, "no state path can emit it")
        return float(per_seq.sum()), self._backend.host(states)

    def predict(self, X, lengths=None):
        """Most likely state of each frame, by the model's ``algorithm`` (``decode(X, lengths)[1]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        state_sequence : ndarray of int of shape (n_samples,)
            The state of each frame.
        """
        return self.decode(X, lengths)[1]

    def _check_possible(self, per_seq_logprob, consequence="posteriors are undefined"):
        bad = np.flatnonzero(~np.isfinite(per_seq_logprob))
        if bad.size:
            raise ValueError(f"{self._impossible(int(bad[0]))}; {consequence}")

    def _impossible(self, i):
        """Why sequence i's log-likelihood is -inf."""
        return f"X: sequence {i} has zero probability under the model (log-likelihood -inf)"

    def _check_fit(self):
        """After EM: the fitted parameters can be used (Gaussian emissions check their covariances)."""

    # -- learning ----------------------------------------------------------------------------------
    def fit(self, X, lengths=None):
        """Baum-Welch (EM) from the initial parameters; returns self.

        Parameters named in ``init_params`` are initialised from X and ``random_state`` (the
        others must have been set); those named in ``params`` are re-estimated (MAP updates with
        the priors) for at most ``n_iter`` iterations, until the gain in log-likelihood falls
        below ``tol``. A state that receives no posterior mass keeps its previous parameters
        (RuntimeWarning).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        self : object
            The fitted model (``monitor_`` holds the log-likelihood history, ``n_iter_`` the
            number of iterations).

        Raises
        ------
        ValueError
            When a sequence has zero probability under the current parameters.
        KeyboardInterrupt
            On Ctrl-C (the kernels stop within a fraction of a second). The model keeps the
            parameters of its last complete iteration (``n_iter_`` of them), or its state before
            ``fit`` when no iteration completed (a first fit: unfitted).
        """
        entry = self._snapshot()
        done = [0]  # complete iterations
        try:
            return self._fit_iterations(X, lengths, done)
        except KeyboardInterrupt:
            if done[0] == 0:
                self._restore(entry)
            else:
                self.n_iter_ = done[0]
            raise

    def _fit_iterations(self, X, lengths, done):
        self._setup()
        X = self._validate_X(X, fitting=True)
        offsets = check_lengths(lengths, X.shape[0])
        origin = self._origin(X)
        if origin is not None:  # (in the kernels' dtype: a float32 fit holds no float64 copy)
            X = rd.shifted(X, origin, self._backend, self._backend.dtype)
        self._check_size(X)
        self._init(X, offsets, origin)
        self._check()
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        Xk, ok = self._backend.put(X), self._backend.put(offsets)
        del X  # (a copy when the kernels take another dtype)
        starts_k = self._backend.put(offsets[:-1])
        for _ in range(self.n_iter):
            per_seq, stats = self._e_step(Xk, ok, starts_k, origin)
            curr = float(per_seq.sum())
            with self._all_or_nothing():  # every parameter of this iteration, or none
                self._do_mstep(stats)
            done[0] += 1
            self.monitor_.report(curr)
            if self.monitor_.converged:
                break
        self._check_fit()
        self.n_iter_ = self.monitor_.iter
        return self

    def _e_step(self, Xk, ok, starts_k, origin):
        """(log-likelihood per sequence, float64 on the host; the M-step's statistics) of one EM iteration."""
        fused = self._fused_emission(origin) if self.implementation == "scaling" else None
        e_step = fused and getattr(self._kern.hmm, f"e_step_{fused[0]}", None)
        if e_step:  # one pass, no N x K array: the posteriors' sums come out of the lattice kernel
            sp, tm = self._backend.put(self.startprob_), self._backend.put(self.transmat_)
            logprob, start, xi, ws, wx, wxx = e_step(sp, tm, Xk, *fused[1], ok, "t" in self.params)
            per_seq = self._checked_logprob(logprob)
            host = self._host64
            return per_seq, {"start": host(start), "trans": host(xi), **self._moment_stats(ws, wx, wxx, origin)}
        logprob, post, xi = self._forward_backward(Xk, ok, True, "t" in self.params, origin)
        per_seq = self._checked_logprob(logprob)
        stats = {"start": self._backend.host(self._kern.emissions.sum_rows(post, starts_k)).astype(np.float64),
                 "trans": None if xi is None else self._backend.host(xi).astype(np.float64)}
        stats.update(self._emission_stats(Xk, post, origin))
        return per_seq, stats

    def _host64(self, a):
        return None if a is None else self._backend.host(a).astype(np.float64)

    def _moment_stats(self, ws, wx, wxx, origin):
        """The M-step's statistics of emissions estimated from posterior-weighted moments of X (the
        fused E-step kernels' and weighted_moments' ws, wx, wxx)."""
        raise NotImplementedError

    def _checked_logprob(self, logprob):
        per_seq = self._backend.host(logprob).astype(np.float64)
        self._check_possible(per_seq, "EM cannot continue (check for impossible transitions or emissions, "
                                      "or the data's scale)")
        return per_seq

    def _init(self, X, offsets, origin):
        rs = check_random_state(self.random_state)
        K = self.n_components
        init = 1.0 / K
        if self._needs_init("s", "startprob_"):
            self.startprob_ = rs.dirichlet(np.full(K, init))
        if self._needs_init("t", "transmat_"):
            self.transmat_ = rs.dirichlet(np.full(K, init), size=K)
        self._init_emission(X, rs, origin)
        n_fit = sum(v for k, v in self._get_n_fit_scalars_per_param().items() if k in self.params)
        if X.size < n_fit:
            _log.warning("Fitting a model with %d free scalar parameters with only %d data points "
                         "will result in a degenerate solution.", n_fit, X.size)

    def _needs_init(self, code, name):
        """Whether fit initialises parameter `name` (letter `code`): when init_params names it (a
        value set before fit is then overwritten, logged as hmmlearn logs it), or when unset."""
        if code in self.init_params:
            if self._is_set(name):
                _log.warning("Even though the %r attribute is set, it will be overwritten during initialization "
                             "because 'init_params' contains %r", name, code)
            return True
        return not self._is_set(name)

    def _is_set(self, name):
        return hasattr(self, name)

    def _check(self):
        K = self.n_components
        if not hasattr(self, "startprob_") or not hasattr(self, "transmat_"):
            raise ValueError("startprob_ and transmat_ must be set when 's'/'t' are not in init_params")
        self.startprob_ = check_stochastic(self.startprob_, "startprob_", (K,))
        self.transmat_ = check_stochastic(self.transmat_, "transmat_", (K, K))
        self._check_emission()

    def _do_mstep(self, stats):
        # hmmlearn's MAP update with Dirichlet priors; entries fixed at zero stay zero. A state
        # that received no mass keeps its previous row (never a 0/0 NaN).
        if "s" in self.params:
            sp = np.maximum(self.startprob_prior - 1 + stats["start"], 0)
            sp = np.where(self.startprob_ == 0, 0, sp)
            if sp.sum() > 0:
                self.startprob_ = sp / sp.sum()
        if "t" in self.params and stats["trans"] is not None:
            tm = np.maximum(self.transmat_prior - 1 + stats["trans"], 0)
            tm = np.where(self.transmat_ == 0, 0, tm)
            rows = tm.sum(axis=1)
            empty = rows <= 0
            if empty.any():
                warn(f"states {np.flatnonzero(empty).tolist()} had no outgoing transitions in the "
                          f"posterior; their transmat_ rows are kept")
            tm[~empty] /= rows[~empty, None]
            tm[empty] = self.transmat_[empty]
            self.transmat_ = tm
        self._mstep_emission(stats)

    @staticmethod
    def _warn_empty(empty, what):
        if np.any(empty):
            warn(f"states {np.flatnonzero(empty).tolist()} received no posterior mass; their {what} are kept")

    # -- model selection ----------------------------------------------------------------------------
    def _n_free_params(self):
        return sum(self._get_n_fit_scalars_per_param().values())

    def aic(self, X, lengths=None):
        """Akaike information criterion, -2 log p(X) + 2 p (p: free scalar parameters, all letters).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        aic : float
            Lower is better.
        """
        return -2 * self.score(X, lengths) + 2 * self._n_free_params()

    def bic(self, X, lengths=None):
        """Bayesian information criterion, -2 log p(X) + p log(n_samples) (p: free scalar parameters).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observations, one frame per row (``CategoricalHMM``: integer symbols, one column).
        lengths : array-like of int of shape (n_sequences,), default=None
            Lengths of the sequences concatenated in X (sum n_samples); None: one sequence.

        Returns
        -------
        bic : float
            Lower is better.
        """
        self._setup()  # the backend validates X (an unpickled model has none yet)
        n_samples = self._validate_X(X, fitting=False).shape[0]
        return -2 * self.score(X, lengths) + self._n_free_params() * np.log(n_samples)

    def get_stationary_distribution(self):
        """Stationary distribution of the chain: the left eigenvector of ``transmat_`` for eigenvalue 1.

        Returns
        -------
        pi : ndarray of shape (n_components,)
            Normalised to sum to 1.
        """
        self._check_fitted()
        w, v = np.linalg.eig(np.asarray(self.transmat_).T)
        vec = np.real_if_close(v[:, np.argmax(w.real)])
        return np.real(vec / vec.sum())

    # -- sampling -----------------------------------------------------------------------------------
    def sample(self, n_samples=1, random_state=None, currstate=None):
        """(X, states): n_samples steps of one chain, drawn with the Philox generator.

        The draws differ from hmmlearn's NumPy draws but are the same on CPU and GPU.

        Parameters
        ----------
        n_samples : int, default=1
            Number of frames (>= 1).
        random_state : None, int or numpy RandomState, default=None
            Seeds the Philox key; None: the model's ``random_state`` (an int there gives the
            same draws on every call).
        currstate : int, default=None
            State of the first frame; None: drawn from ``startprob_``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The emissions (``CategoricalHMM``: integer symbols of shape (n_samples, 1)).
        state_sequence : ndarray of int of shape (n_samples,)
            The states that emitted them.
        """
        self._check_fitted()
        self._setup()
        self._check()
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples: expected a positive integer, got {n_samples!r}")
        # the states, the draws and the emissions, a few words per frame and feature
        check_allocation("n_samples", 8 * int(n_samples) * (2 + 3 * self._sample_width()), f"{n_samples} samples")
        seed = philox_seed(self.random_state if random_state is None else random_state)
        start = self.startprob_
        if currstate is not None:
            if not 0 <= int(currstate) < self.n_components:
                raise ValueError(f"currstate: expected a state in [0, {self.n_components}), got {currstate}")
            start = np.eye(self.n_components)[int(currstate)]
        states = self._backend.host(self._kern.hmm.sample_states(self._backend.put(start), self._backend.put(self.transmat_),
                                                           int(n_samples), seed, STREAM_STATES))
        return self._sample_emissions(states, seed), states
