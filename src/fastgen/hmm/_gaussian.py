"""``GaussianHMM`` (spherical, diag, full, tied covariances), a drop-in for hmmlearn's, and the
covariance helpers it shares with ``GMMHMM`` (hmm/_gmm.py)."""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from .._gaussian import (COVARIANCE_TYPES, floored_variances, full_covariances, regularised_cholesky,
                         regularised_precision_cholesky, sampling_cholesky, validate_covars)
from ._base import _EMPTY, STREAM_EMISSIONS, BaseHMM, rows_by_label
from ..mixture._kmeans import kmeans
from .. import _reductions as rd


def _symmetric(c):
    """Exactly symmetric: the M-step forms [i, j] and [j, i] in different orders of subtraction."""
    return 0.5 * (c + np.swapaxes(c, -1, -2))


def _initial_covariance(X, min_covar, backend, covariance_type):
    """The data covariance plus min_covar on the diagonal, computed where X lives. Full and tied
    fits start from it as a matrix, which must factor: one that does not is X's doing (features
    equal to rounding at a scale where min_covar is lost), not a user-set covars_'s."""
    cv = np.atleast_2d(rd.covariance(X, backend, ddof=1 if X.shape[0] > 1 else 0) + min_covar * np.eye(X.shape[1]))
    if covariance_type in ("full", "tied"):
        try:
            np.linalg.cholesky(cv)
        except np.linalg.LinAlgError:
            raise ValueError(f"X: its covariance plus min_covar={min_covar:g} on the diagonal, where a "
                             f"{covariance_type} fit starts, is not positive-definite (features equal or collinear "
                             f"to rounding at this scale); rescale X, raise min_covar or use "
                             f"covariance_type='diag'") from None
    return cv


def _distribute(cv, covariance_type, n):
    return {"spherical": np.full(n, cv.mean()), "diag": np.tile(np.diag(cv), (n, 1)),
            "tied": cv.copy(), "full": np.tile(cv, (n, 1, 1))}[covariance_type]


def _gaussian_frame_logprob(kern, put, Xk, means, covars, covariance_type, groups=1, fitting=False):
    """Component log-densities through the shared Gaussian kernels. `groups` > 1 for tied
    covariances shared by `groups` consecutive components (GMMHMM). Covariances are regularised
    as hmmlearn's densities regularise them (fastgen._gaussian), so EM goes on where a matrix
    lost its positive-definiteness; in a fit (`fitting`), one that the regularisation does not
    save is blamed on what made it: X."""
    means = means.reshape(-1, means.shape[-1])
    kind, prec = _kernel_precisions(means, covars, covariance_type, Xk.dtype, groups, fitting)
    return getattr(kern.emissions, f"gaussian_logprob_{kind}")(Xk, put(means), put(prec))


def _kernel_precisions(means, covars, covariance_type, dtype, groups=1, fitting=False):
    """(kind, array) the kernels take for the components' covariances: ("diag", precisions (C, D))
    or ("full", upper-triangular precision factors (C or 1, D, D)); `groups` as above."""
    D = means.shape[-1]
    if covariance_type in ("diag", "spherical"):
        return "diag", _diag_precisions(means.reshape(-1, D), covars, dtype)
    P = _precision_factors(covars, fitting).reshape(-1, D, D)
    if covariance_type == "tied" and groups > 1:
        P = np.repeat(P, groups, axis=0)
    return "full", P


def _diag_precisions(means, covars, dtype):
    """(K, D) precisions of diagonal or spherical covariances (floored as hmmlearn's densities)."""
    var = floored_variances(np.asarray(covars).reshape(len(means), -1), dtype)
    return np.ascontiguousarray(np.broadcast_to(1.0 / var, means.shape))


def _precision_factors(covars, fitting):
    """regularised_precision_cholesky; in a fit, a matrix it cannot factor is blamed on X."""
    try:
        return regularised_precision_cholesky(covars)
    except ValueError as e:
        if not fitting:
            raise
        raise _singular_fit(e) from e


def _singular_fit(why):
    return ValueError(f"X: EM estimated covariances that are singular beyond hmmlearn's regularisation ({why}): "
                      f"too few distinct frames per state for full covariances, or data at a scale where "
                      f"rounding outgrows the 1e-7 jitter; rescale X, or use fewer states or "
                      f"covariance_type='diag'")


# A fitted covariance whose Cholesky pivot keeps less than this share of its variance (per
# dimension) is singular to rounding: the pivot is then mostly rounding error (up to 1e-3 of it),
# and whether LAPACK factors it at all depends on the machine's kernels.
ROUNDING_PIVOT = 1e3 * np.finfo(np.float64).eps


def _check_factorable(covars):
    """The final fit's covariances: factorable (with the jitter) and not singular to rounding."""
    c = np.asarray(covars, dtype=np.float64).reshape(-1, covars.shape[-1], covars.shape[-1])
    try:
        L = regularised_cholesky(c)
    except ValueError as e:
        raise _singular_fit(e) from e
    var = np.diagonal(c, axis1=1, axis2=2)
    kept = np.diagonal(L, axis1=1, axis2=2) ** 2 / np.maximum(var, np.finfo(np.float64).tiny)
    floor = c.shape[-1] * ROUNDING_PIVOT
    if kept.min() < floor:
        k, d = np.unravel_index(np.argmin(kept), kept.shape)
        raise _singular_fit(f"matrix {k}'s factor keeps {kept[k, d]:.1e} of variance {d}, below the {floor:.1e} "
                            f"that rounding leaves")


class CentredFit:
    """What the Gaussian emissions share: they fit the data about their column mean
    (BaseHMM._origin; parameters stay in the user's units and are shifted into that frame where
    they meet the data), their fit ends with covariances the densities can use, and their
    log-likelihood is -inf only by overflow (never a probability of zero: ``score`` returns that
    rounding of a log-likelihood below float64's range, as scikit-learn's mixtures do; the methods
    that need posteriors or paths raise)."""

    def _check_fit(self):
        if self.covariance_type in ("full", "tied"):
            _check_factorable(self.covars_)

    def _impossible(self, i):
        return (f"X: sequence {i}'s log-likelihood overflows float64 (frames too far from every state's mean for "
                f"its covariance)")

    def _origin(self, X):
        # (x - mean)^2 summed over the frames must stay finite: the covariances (in the user's
        # units, which must hold them) are formed from those sums.
        top, limit = rd.abs_max(X, self._backend), np.sqrt(np.finfo(np.float64).max / (4.0 * max(X.shape[0], 1)))
        if top > limit:
            raise ValueError(f"X: values up to {top:.3g} overflow float64 in the covariances the fit forms (up to "
                             f"{limit:.3g} for {X.shape[0]} frames); rescale X")
        return rd.column_mean(X, self._backend)

    def _emission_bytes(self, n_features):
        # means and full covariances with their factors and statistics, per state (or mixture component)
        return 8 * 6 * self.n_components * getattr(self, "n_mix", 1) * n_features * (n_features + 1)


def _relative(means, origin):
    return means if origin is None else means - origin


def draw(means, chol, labels, z):
    """means[labels] + chol[labels] @ z row by row, one label's rows at a time (no (n, D, D) gather)."""
    out = np.empty_like(z)
    for k, rows in rows_by_label(labels, len(means)):
        out[rows] = means[k] + z[rows] @ chol[k].T
    return out


def _compact_covars(c, covariance_type, n_components, n_features):
    """A covariance assignment in the compact shape of its type. Besides that shape, the shapes
    hmmlearn's densities broadcast: diag (n_components, 1), (1, n_features), (1, 1); full
    (1, n_features, n_features). Anything else is left for validate_covars to name."""
    shape = {"diag": (n_components, n_features), "full": (n_components, n_features, n_features),
             "tied": (n_features, n_features)}.get(covariance_type)
    if shape is None or c.shape == shape or c.ndim != len(shape):
        return c
    try:
        return np.broadcast_to(c, shape).copy()
    except ValueError:
        return c


class GaussianHMM(CentredFit, BaseHMM):
    """HMM with Gaussian emissions (covariance_type "spherical", "diag", "full", "tied").

    A drop-in for ``hmmlearn.hmm.GaussianHMM``: its arguments, attributes and MAP updates (Normal
    prior on the means, inverse gamma or inverse Wishart prior on the covariances), plus
    ``device`` and ``dtype``. The means start from fastgen's k-means (so from other clusters than
    hmmlearn's scikit-learn k-means); a state that receives no posterior mass keeps its means and
    covariances (RuntimeWarning); ``sample`` draws Philox numbers. A covariance that EM leaves
    singular (a constant feature, a state on one point) is used, as hmmlearn uses it, with 1e-7
    added to its diagonal (a variance at or below 0: floored at the smallest float).

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    covariance_type : {"spherical", "diag", "full", "tied"}, default="diag"
        One variance per state, a diagonal covariance per state, a full covariance per state, or
        one full covariance shared by all states.
    min_covar : float, default=1e-3
        Added to the diagonal of the data covariance that initialises the covariances (>= 0).
    startprob_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentration of the prior on ``startprob_`` (>= 0; 1: no prior).
    transmat_prior : float or array-like of shape (n_components, n_components), default=1.0
        Dirichlet concentration of the prior on each row of ``transmat_`` (>= 0; 1: no prior).
    means_prior, means_weight : float or array-like, default=0
        Mean and weight (precision, >= 0) of the Normal prior on ``means_``, broadcast against
        (n_components, n_features); weight 0: no prior.
    covars_prior, covars_weight : float or array-like, default=1e-2 and 1
        Parameters of the prior on the covariances: inverse gamma ("spherical", "diag") or
        inverse Wishart ("full", "tied"), as in hmmlearn.
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
    params : str, default="stmc"
        Parameters updated by ``fit``: 's' startprob_, 't' transmat_, 'm' means_, 'c' covars_.
    init_params : str, default="stmc"
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
    means_ : ndarray of shape (n_components, n_features)
        Mean of each state.
    covars_ : ndarray of shape (n_components, n_features, n_features)
        Covariance of each state as a full matrix, whatever ``covariance_type`` (as in hmmlearn);
        set it in the compact form of the type: (n_components,), (n_components, n_features),
        (n_components, n_features, n_features) or (n_features, n_features).
    monitor_ : ConvergenceMonitor
        The log-likelihood history of the last ``fit`` (``monitor_.history``, ``converged``).
    n_iter_ : int
        EM iterations of the last ``fit``.

    See Also
    --------
    GMMHMM : states that emit from Gaussian mixtures.
    fastgen.mixture.GaussianMixture : the same emissions without the Markov chain.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.hmm import GaussianHMM
    >>> rng = np.random.default_rng(0)
    >>> states = np.repeat([0, 1, 0, 1], 50)
    >>> X = rng.normal(np.array([0.0, 5.0])[states], 1.0)[:, None]
    >>> model = GaussianHMM(n_components=2, n_iter=50, random_state=0, device="cpu").fit(X)
    >>> np.sort(model.means_.ravel()).round().astype(int).tolist(), model.covars_.shape
    ([0, 5], (2, 1, 1))
    >>> bool(model.monitor_.converged)
    True
    >>> labels = model.predict(X)  # the true states, up to relabelling
    >>> int(max((labels == states).sum(), (labels != states).sum()))
    200
    >>> X_new, states_new = model.sample(5, random_state=0)
    >>> X_new.shape, states_new.shape
    ((5, 1), (5,))
    """

    _emission_letters = "mc"
    _parameter_constraints = {
        **BaseHMM._parameter_constraints,
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "min_covar": [Interval(numbers.Real, 0, None)],
        "means_prior": [Interval(numbers.Real, None, None), "array-like"],
        "means_weight": [Interval(numbers.Real, 0, None), "array-like"],
        "covars_prior": [Interval(numbers.Real, None, None), "array-like"],
        "covars_weight": [Interval(numbers.Real, None, None), "array-like"],
    }

    def __init__(self, n_components=1, covariance_type="diag", min_covar=1e-3, startprob_prior=1.0,
                 transmat_prior=1.0, means_prior=0, means_weight=0, covars_prior=1e-2, covars_weight=1,
                 algorithm="viterbi", random_state=None, n_iter=10, tol=1e-2, verbose=False, params="stmc",
                 init_params="stmc", implementation="scaling", device="auto", dtype=np.float64):
        self._base_init(n_components, startprob_prior, transmat_prior, algorithm, random_state, n_iter, tol,
                        verbose, params, init_params, implementation, device, dtype)
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight

    @property
    def covars_(self):
        """Covariances as full matrices (n_components, n_features, n_features), as in hmmlearn.

        Assign the compact form of ``covariance_type``, or a shape hmmlearn accepts: spherical,
        any array of n_components rows (hmmlearn's own (n_components, n_features) storage,
        (n_components, 1, 1, 1), ...), each row's entries averaged into the state's variance;
        diag, full and tied, any shape broadcasting to theirs with as many axes.
        """
        return full_covariances(self._covars_, self.covariance_type, self.n_components, self.n_features)

    @covars_.setter
    def covars_(self, covars):
        c = np.array(covars, dtype=np.float64, copy=True)
        if self.covariance_type == "spherical" and c.ndim >= 2:  # hmmlearn's setter: any n_components rows
            c = c.reshape(len(c), -1).mean(axis=1)
        self._covars_ = c

    def _is_set(self, name):
        # covars_ is a view of _covars_ that needs n_features and a valid shape to build.
        return hasattr(self, "_covars_") if name == "covars_" else hasattr(self, name)

    def _validate_X(self, X, fitting):
        nf = getattr(self, "n_features", None) if (not fitting or "m" not in self.init_params) else None
        if hasattr(self, "means_") and (not fitting or "m" not in self.init_params):
            nf = np.asarray(self.means_).shape[1]
        return self._backend.check_array(X, n_features=nf, dtype=self._backend.data_dtype(X))

    def _init_emission(self, X, rs, origin):
        self.n_features = X.shape[1]
        if self._needs_init("m", "means_"):
            self.means_ = kmeans(X, self.n_components, rs, backend=self._backend.with_dtype(np.float64)) + origin
        if self._needs_init("c", "covars_"):
            self._covars_ = _distribute(_initial_covariance(X, self.min_covar, self._backend, self.covariance_type),
                                        self.covariance_type, self.n_components)

    def _check_emission(self):
        K = self.n_components
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        if self.means_.ndim != 2 or self.means_.shape[0] != K:
            raise ValueError(f"means_: expected shape ({K}, n_features), got {self.means_.shape}")
        if not np.isfinite(self.means_).all():
            raise ValueError("means_: contains NaN or infinity")
        self.n_features = self.means_.shape[1]
        # Covariances of the last M-step are used as EM left them (regularised in the density, as
        # hmmlearn does); user-set ones must be positive-definite, as hmmlearn's setter requires.
        from_em = self._covars_ is getattr(self, "_em_covars", None)
        c = _compact_covars(np.asarray(self._covars_, dtype=np.float64), self.covariance_type, K, self.n_features)
        self._covars_ = validate_covars(c, self.covariance_type, K, self.n_features, strict=not from_em)
        if from_em:
            self._em_covars = self._covars_

    def _frame_logprob(self, Xk, origin=None):
        return _gaussian_frame_logprob(self._kern, self._backend.put, Xk, _relative(self.means_, origin), self._covars_,
                                       self.covariance_type, fitting=origin is not None)

    def _fused_emission(self, origin):
        # The densities are computed inside the lattice pass (the C++ kernels, with many sequences:
        # no N x K array of them).
        kind, prec = _kernel_precisions(self.means_, self._covars_, self.covariance_type, self._backend.dtype,
                                        fitting=origin is not None)
        return kind, (self._backend.put(_relative(self.means_, origin)), self._backend.put(prec))

    def _emission_stats(self, Xk, post, origin):
        order = 1 if self.covariance_type in ("diag", "spherical") else 2
        return self._moment_stats(*self._kern.emissions.weighted_moments(Xk, post, order), origin)

    def _moment_stats(self, ws, wx, wxx, origin):
        host = self._host64
        return {"post": host(ws), "obs": host(wx), "obs2": host(wxx), "origin": origin}

    def _mstep_emission(self, stats):
        # hmmlearn's MAP updates (Normal prior on means, inverse gamma / Wishart on covariances), in
        # the frame of the statistics (about stats["origin"]).
        post, origin = stats["post"], stats["origin"]
        empty = post < _EMPTY
        denom = np.where(empty, 1.0, post)[:, None]
        mp, mw = self.means_prior - origin, self.means_weight
        old_covars = self._covars_
        mu = self.means_ - origin
        if "m" in self.params:
            mu = np.where(empty[:, None], mu, (mw * mp + stats["obs"]) / (mw + denom))
            self.means_ = mu + origin
        if "c" in self.params:
            cp, cw = self.covars_prior, self.covars_weight
            meandiff = mu - mp
            if self.covariance_type in ("spherical", "diag"):
                c_n = mw * meandiff ** 2 + stats["obs2"] - 2 * mu * stats["obs"] + mu ** 2 * denom
                c_d = max(cw - 1, 0) + denom
                cov = (cp + c_n) / np.maximum(c_d, 1e-5)
                if self.covariance_type == "spherical":
                    self._covars_ = np.where(empty, old_covars, cov.mean(axis=1))
                else:
                    self._covars_ = np.where(empty[:, None], old_covars, cov)
            else:
                D = self.n_features
                obsmean = np.einsum("ki,kj->kij", stats["obs"], mu)
                c_n = (mw * np.einsum("ki,kj->kij", meandiff, meandiff) + stats["obs2"] - obsmean
                       - obsmean.transpose(0, 2, 1) + np.einsum("ki,kj->kij", mu, mu) * post[:, None, None])
                cvweight = max(cw - D, 0)
                if self.covariance_type == "tied":
                    self._covars_ = _symmetric((cp + c_n.sum(axis=0)) / (cvweight + post.sum()))
                else:
                    cov = _symmetric((cp + c_n) / (cvweight + np.where(empty, 1.0, post)[:, None, None]))
                    self._covars_ = np.where(empty[:, None, None], old_covars, cov)
            self._em_covars = self._covars_  # (see _check_emission)
        self._warn_empty(empty, "means and covariances")

    def _get_n_fit_scalars_per_param(self):
        K, D = self.n_components, self.n_features
        return {"s": K - 1, "t": K * (K - 1), "m": K * D,
                "c": {"spherical": K, "diag": K * D, "full": K * D * (D + 1) // 2,
                      "tied": D * (D + 1) // 2}[self.covariance_type]}

    def _sample_emissions(self, states, seed):
        n, D = len(states), self.n_features
        z = self._backend.host(self._kern.rng.normal(seed, STREAM_EMISSIONS, n * D)).reshape(n, D)
        L = sampling_cholesky(self._covars_, self.covariance_type, self.n_components, D)
        return draw(self.means_, L, states, z)
