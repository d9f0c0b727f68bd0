"""``GMMHMM``: an HMM whose states emit from Gaussian mixtures, a drop-in for hmmlearn's."""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from .._gaussian import COVARIANCE_TYPES, regularised_cholesky, validate_covars
from .. import _reductions as rd
from .._validation import check_stochastic
from ..mixture._kmeans import kmeans
from ._base import _EMPTY, STREAM_EMISSIONS, STREAM_EMISSIONS_2, BaseHMM
from ._gaussian import (CentredFit, _gaussian_frame_logprob, _initial_covariance, _kernel_precisions, _relative,
                        _symmetric, draw)

__all__ = ["GMMHMM"]


class GMMHMM(CentredFit, BaseHMM):
    """HMM whose states emit from Gaussian mixtures of `n_mix` components.

    A drop-in for ``hmmlearn.hmm.GMMHMM``: its arguments, attributes, default priors and MAP
    updates, plus ``device`` and ``dtype``. The means start from fastgen's k-means over the data
    (one cluster per state), then within each state's cluster (one per mixture component); an
    empty mixture component keeps its parameters (RuntimeWarning); ``sample`` draws Philox
    numbers. Singular covariances from EM are regularised as GaussianHMM's are (as hmmlearn's).

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    n_mix : int, default=1
        Number of Gaussian components of each state's mixture.
    min_covar : float, default=1e-3
        Added to the diagonal of the data covariance that initialises the covariances (>= 0).
    startprob_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentration of the prior on ``startprob_`` (>= 0; 1: no prior).
    transmat_prior : float or array-like of shape (n_components, n_components), default=1.0
        Dirichlet concentration of the prior on each row of ``transmat_`` (>= 0; 1: no prior).
    weights_prior : float or array-like of shape (n_components, n_mix), default=1.0
        Dirichlet concentration of the prior on ``weights_`` (>= 0; 1: no prior).
    means_prior : float or array-like of shape (n_components, n_mix, n_features), default=0.0
        Mean of the Normal prior on ``means_``.
    means_weight : float or array-like of shape (n_components, n_mix), default=0.0
        Weight (precision) of that prior (>= 0; 0: no prior).
    covars_prior, covars_weight : None, float or array-like, default=None
        Parameters of the inverse Wishart ("full", "tied") or inverse gamma ("diag",
        "spherical") prior on the covariances; None: hmmlearn's defaults for the type.
    algorithm : {"viterbi", "map"}, default="viterbi"
        Decoder of ``decode`` and ``predict``.
    covariance_type : {"spherical", "diag", "full", "tied"}, default="diag"
        Covariance of each mixture component; "tied": one full covariance per state, shared by
        its components.
    random_state : None, int or numpy RandomState, default=None
        Seeds the initialisation and, through a Philox key, ``sample``.
    n_iter : int, default=10
        Maximum number of EM iterations (>= 0).
    tol : float, default=1e-2
        EM stops when the log-likelihood gains less than ``tol`` (-inf: never on the gain).
    verbose : bool or int, default=False
        Print each iteration's log-likelihood and gain to stderr (``monitor_``).
    params : str, default="stmcw"
        Parameters updated by ``fit``: 's' startprob_, 't' transmat_, 'm' means_, 'c' covars_,
        'w' weights_.
    init_params : str, default="stmcw"
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
        Number of features (dimensions of each frame).
    startprob_ : ndarray of shape (n_components,)
        Initial state probabilities.
    transmat_ : ndarray of shape (n_components, n_components)
        Transition probabilities; row i is p(next state | state i).
    weights_ : ndarray of shape (n_components, n_mix)
        Mixture weights of each state; rows sum to 1.
    means_ : ndarray of shape (n_components, n_mix, n_features)
        Mean of each mixture component.
    covars_ : ndarray
        Covariances, shaped by covariance_type: (n_components, n_mix) "spherical",
        (n_components, n_mix, n_features) "diag", (n_components, n_mix, n_features, n_features)
        "full", (n_components, n_features, n_features) "tied".
    monitor_ : ConvergenceMonitor
        The log-likelihood history of the last ``fit`` (``monitor_.history``, ``converged``).
    n_iter_ : int
        EM iterations of the last ``fit``.

    See Also
    --------
    GaussianHMM : one Gaussian per state.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.hmm import GMMHMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))])
    >>> model = GMMHMM(n_components=2, n_mix=2, n_iter=50, random_state=0, device="cpu").fit(X)
    >>> model.weights_.shape, model.means_.shape, model.covars_.shape
    ((2, 2), (2, 2, 2), (2, 2, 2))
    >>> state_means = np.einsum("km,kmd->kd", model.weights_, model.means_)
    >>> np.sort(state_means[:, 0]).round().astype(int).tolist()
    [0, 6]
    >>> bool(model.monitor_.converged)
    True
    """

    _emission_letters = "mcw"
    _parameter_constraints = {
        **BaseHMM._parameter_constraints,
        "n_mix": [Interval(numbers.Integral, 1, None)],
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "min_covar": [Interval(numbers.Real, 0, None)],
        "weights_prior": [Interval(numbers.Real, 0, None), "array-like"],
        "means_prior": [Interval(numbers.Real, None, None), "array-like"],
        "means_weight": [Interval(numbers.Real, 0, None), "array-like"],
        "covars_prior": [None, Interval(numbers.Real, None, None), "array-like"],
        "covars_weight": [None, Interval(numbers.Real, None, None), "array-like"],
    }

    def __init__(self, n_components=1, n_mix=1, min_covar=1e-3, startprob_prior=1.0, transmat_prior=1.0,
                 weights_prior=1.0, means_prior=0.0, means_weight=0.0, covars_prior=None, covars_weight=None,
                 algorithm="viterbi", covariance_type="diag", random_state=None, n_iter=10, tol=1e-2,
                 verbose=False, params="stmcw", init_params="stmcw", implementation="scaling", device="auto",
                 dtype=np.float64):
        self._base_init(n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                        verbose, params, init_params, implementation, device, dtype)
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.covariance_type = covariance_type

    def _priors(self):
        """hmmlearn's default priors per covariance type, broadcast to parameter shapes (not stored
        on the constructor arguments, so get_params stays what the user passed)."""
        K, M, D, ct = self.n_components, self.n_mix, self.n_features, self.covariance_type
        default_prior = {"full": 0.0, "tied": 0.0, "diag": -1.5, "spherical": -(M + 2.0) / 2.0}[ct]
        default_weight = {"full": -(1.0 + D + 1.0), "tied": -(M + D + 1.0), "diag": 0.0, "spherical": 0.0}[ct]
        cp = default_prior if self.covars_prior is None else self.covars_prior
        cw = default_weight if self.covars_weight is None else self.covars_weight
        cp_shape = {"full": (K, M, D, D), "tied": (K, D, D), "diag": (K, M, D), "spherical": (K, M)}[ct]
        cw_shape = {"full": (K, M), "tied": (K,), "diag": (K, M, D), "spherical": (K, M)}[ct]
        return (np.broadcast_to(self.weights_prior, (K, M)), np.broadcast_to(self.means_prior, (K, M, D)),
                np.broadcast_to(self.means_weight, (K, M)), np.broadcast_to(cp, cp_shape),
                np.broadcast_to(cw, cw_shape))

    def _validate_X(self, X, fitting):
        nf = None
        if hasattr(self, "means_") and not (fitting and "m" in self.init_params):
            nf = np.asarray(self.means_).shape[-1]
        return self._backend.check_array(X, n_features=nf, dtype=np.float64)

    def _init_emission(self, X, rs, origin):
        K, M = self.n_components, self.n_mix
        self.n_features = D = X.shape[1]
        need_m, need_c = self._needs_init("m", "means_"), self._needs_init("c", "covars_")
        # (only when something starts from it: np.cov of host data holds a centred copy of X)
        cv = _initial_covariance(X, self.min_covar, self._backend, self.covariance_type) if need_m or need_c else None
        if need_m:
            be = self._backend.with_dtype(np.float64)
            labels = kmeans(X, K, rs, backend=be, return_labels=True)[1]
            means = np.empty((K, M, D))
            # K small k-means runs over the states' clusters (where X lives: rows grouped on the device)
            for k, Xk in enumerate(rd.group_rows(X, labels, K, be)):
                if Xk.shape[0] >= M:
                    means[k] = kmeans(Xk, M, rs, backend=be)
                else:
                    means[k] = rs.multivariate_normal(rd.column_mean(X, be), cv, size=M)
            self.means_ = means + origin
        if self._needs_init("w", "weights_"):
            self.weights_ = np.full((K, M), 1.0 / M)
        if need_c:
            self.covars_ = {"tied": np.tile(cv, (K, 1, 1)), "full": np.tile(cv, (K, M, 1, 1)),
                            "diag": np.tile(np.diag(cv), (K, M, 1)),
                            "spherical": np.full((K, M), cv.mean())}[self.covariance_type]

    def _check_emission(self):
        K, M = self.n_components, self.n_mix
        for name in ("weights_", "means_", "covars_"):
            if not hasattr(self, name):
                raise ValueError(f"{name} must be set when its letter is not in init_params")
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 3 or self.means_.shape[:2] != (K, M):
            raise ValueError(f"means_: expected shape ({K}, {M}, n_features), got {self.means_.shape}")
        if not np.isfinite(self.means_).all():
            raise ValueError("means_: contains NaN or infinity")
        D = self.n_features = self.means_.shape[2]
        self.weights_ = check_stochastic(self.weights_, "weights_", (K, M))
        # As GaussianHMM: the last M-step's covariances are regularised in the density (hmmlearn's
        # densities), user-set ones must be positive-definite.
        strict = self.covars_ is not getattr(self, "_em_covars", None)
        c = np.asarray(self.covars_, dtype=np.float64)
        if self.covariance_type == "tied":
            if c.shape != (K, D, D):
                raise ValueError(f"covars_: 'tied' mixture covariances need shape {(K, D, D)}, got {c.shape}")
            validate_covars(c, "full", K, D, strict=strict)
        else:
            shape = {"full": (K, M, D, D), "diag": (K, M, D), "spherical": (K, M)}[self.covariance_type]
            if c.shape != shape:
                raise ValueError(f"covars_: {self.covariance_type!r} mixture covariances need shape {shape}, "
                                 f"got {c.shape}")
            validate_covars(c.reshape((K * M,) + shape[2:]), self.covariance_type, K * M, D, strict=strict)
        self.covars_ = c
        if not strict:
            self._em_covars = c

    def _component_logprob(self, Xk, origin=None):
        return _gaussian_frame_logprob(self._kern, self._backend.put, Xk, _relative(self.means_, origin), self.covars_,
                                       self.covariance_type, groups=self.n_mix, fitting=origin is not None)

    def _log_weights(self):
        with np.errstate(divide="ignore"):
            return self._backend.put(np.log(self.weights_))

    def _frame_logprob(self, Xk, origin=None):
        return self._kern.emissions.mixture_logprob(self._component_logprob(Xk, origin), self._log_weights())

    def _fused_emission(self, origin):
        # The mixtures' densities are computed inside the lattice pass (the C++ kernels, with many
        # sequences: no N x K M array of component densities, nor N x K of their mixtures).
        means = _relative(self.means_, origin).reshape(-1, self.n_features)
        kind, prec = _kernel_precisions(means, self.covars_, self.covariance_type, self._backend.dtype,
                                        groups=self.n_mix, fitting=origin is not None)
        return f"gmm_{kind}", (self._backend.put(means), self._backend.put(prec), self._log_weights())

    def _emission_stats(self, Xk, post, origin):
        comp_post = self._kern.emissions.mixture_posteriors(self._component_logprob(Xk, origin), self._log_weights(), post)
        order = 1 if self.covariance_type in ("diag", "spherical") else 2
        return self._moment_stats(*self._kern.emissions.weighted_moments(Xk, comp_post, order), origin)

    def _moment_stats(self, ws, wx, wxx, origin):
        """The M-step's statistics from the components' posterior-weighted moments (K M rows)."""
        K, M, D = self.n_components, self.n_mix, self.n_features
        order = 1 if self.covariance_type in ("diag", "spherical") else 2
        ws, wx, wxx = self._host64(ws).reshape(K, M), self._host64(wx).reshape(K, M, D), self._host64(wxx)
        # hmmlearn centres the covariance statistic on the current (pre-M-step) means:
        # sum r (x - mu)(x - mu)^T = S2 - mu S1^T - S1 mu^T + R mu mu^T (all about the origin).
        mu = self.means_ - origin
        if order == 1:
            c_n = wxx.reshape(K, M, D) - 2 * mu * wx + ws[..., None] * mu ** 2
            if self.covariance_type == "spherical":
                c_n = c_n.sum(axis=-1)
        else:
            s1mu = np.einsum("kmi,kmj->kmij", wx, mu)
            c_n = (wxx.reshape(K, M, D, D) - s1mu - s1mu.transpose(0, 1, 3, 2)
                   + ws[..., None, None] * np.einsum("kmi,kmj->kmij", mu, mu))
            if self.covariance_type == "tied":
                c_n = c_n.sum(axis=1)
        return {"post_mix_sum": ws, "post_sum": ws.sum(axis=1), "obs": wx, "c_n": c_n, "origin": origin}

    def _mstep_emission(self, stats):
        # Empty components divide 0 by 0 below; np.where then keeps their previous parameters.
        with np.errstate(divide="ignore", invalid="ignore"):
            self._mstep_mixture(stats)

    def _mstep_mixture(self, stats):
        # In the frame of the statistics (about stats["origin"]).
        M, D = self.n_mix, self.n_features
        wp, mp, mw, cp, cw = self._priors()
        mp = mp - stats["origin"]
        pms = stats["post_mix_sum"]
        empty = pms < _EMPTY
        old_w, old_c = self.weights_, self.covars_
        mu = self.means_ - stats["origin"]
        if "w" in self.params:
            a1 = wp - 1
            w_n = pms + a1
            w_d = (stats["post_sum"] + a1.sum(axis=1))[:, None]
            ok = (w_d > 0).ravel()
            self.weights_ = np.where(ok[:, None], w_n / np.where(w_d > 0, w_d, 1.0), old_w)
        if "m" in self.params:
            m_n = mw[..., None] * mp + stats["obs"]
            m_d = pms + mw
            mu = np.where(empty[..., None], mu, m_n / np.where(empty, 1.0, m_d)[..., None])
            self.means_ = mu + stats["origin"]
        if "c" in self.params:
            cm = mu - mp
            ct = self.covariance_type
            if ct == "full":
                c_n = np.swapaxes(cp, -1, -2) + mw[..., None, None] * np.einsum("kmi,kmj->kmij", cm, cm)
                c_n = c_n + stats["c_n"]
                c_d = (pms + 1 + cw + D + 1)[..., None, None]
                new = np.where(empty[..., None, None], old_c, _symmetric(c_n / c_d))
            elif ct == "diag":
                c_n = mw[..., None] * cm ** 2 + 2 * cw + stats["c_n"]
                c_d = pms[..., None] + 1 + 2 * (cp + 1)
                new = np.where(empty[..., None], old_c, c_n / c_d)
            elif ct == "spherical":
                c_n = mw * np.einsum("kmi,kmi->km", cm, cm) + 2 * cw + stats["c_n"]
                c_d = D * (pms + 1) + 2 * (cp + 1)
                new = np.where(empty, old_c, c_n / c_d)
            else:
                c_n = np.einsum("km,kmij->kij", mw, np.einsum("kmi,kmj->kmij", cm, cm)) + np.swapaxes(cp, -1, -2)
                c_n = c_n + stats["c_n"]
                c_d = (stats["post_sum"] + M + cw + D + 1)[:, None, None]
                new = np.where((stats["post_sum"] < _EMPTY)[:, None, None], old_c, _symmetric(c_n / c_d))
            self.covars_ = self._em_covars = new  # (see _check_emission)
        self._warn_empty(empty.any(axis=1), "empty mixture components' parameters")

    def _get_n_fit_scalars_per_param(self):
        K, M, D = self.n_components, self.n_mix, self.n_features
        return {"s": K - 1, "t": K * (K - 1), "m": K * M * D,
                "c": {"spherical": K * M, "diag": K * M * D, "full": K * M * D * (D + 1) // 2,
                      "tied": K * D * (D + 1) // 2}[self.covariance_type],
                "w": M - 1}

    def _sample_emissions(self, states, seed):
        n, D = len(states), self.n_features
        u = self._backend.host(self._kern.rng.uniform(seed, STREAM_EMISSIONS, n))
        cdf = np.cumsum(self.weights_, axis=1)[states]
        comp = np.minimum((u[:, None] >= cdf).sum(axis=1), self.n_mix - 1)
        z = self._backend.host(self._kern.rng.normal(seed, STREAM_EMISSIONS_2, n * D)).reshape(n, D)
        c, K, M = self.covars_, self.n_components, self.n_mix
        # Regularised as in the density; a variance at or below zero draws no spread (hmmlearn's
        # numpy multivariate_normal). One factor per (state, component).
        if self.covariance_type == "tied":
            L = np.repeat(regularised_cholesky(c), M, axis=0)
        elif self.covariance_type == "full":
            L = regularised_cholesky(c).reshape(K * M, D, D)
        else:
            sd = np.sqrt(np.maximum(c, 0.0))
            sd = sd[..., None] * np.eye(D) if self.covariance_type == "diag" else sd[..., None, None] * np.eye(D)
            L = sd.reshape(K * M, D, D)
        return draw(self.means_.reshape(K * M, D), L, states * M + comp, z)
