"""Gaussian mixtures: a drop-in for ``sklearn.mixture`` on C++ and CUDA kernels.

``GaussianMixture`` (EM) and ``BayesianGaussianMixture`` (variational inference with a Dirichlet
process or Dirichlet distribution prior on the weights) take scikit-learn's arguments and set its
attributes, plus ``device`` ("cpu", "cuda", "auto") and ``dtype`` (float64 default, float32: the
precision of the data-sized kernel work; parameters are float64 NumPy arrays either way).

Differences from scikit-learn, all deliberate:
- A component whose covariance is not positive-definite (collapsed on a point or a subspace) is
  reset to ``reg_covar * I`` (1e-6 of the data variance when reg_covar is 0) with a RuntimeWarning,
  where scikit-learn raises; a GaussianMixture component left with no responsibility mass keeps
  its previous mean and covariance (warning), where scikit-learn moves it to the origin. A
  component that collapses but stays positive-definite through reg_covar keeps scikit-learn's
  parameters and gets a RuntimeWarning (once per fit), where scikit-learn says nothing.
- With dtype=float32, data outside float32's range raise a ValueError (use float64), and a
  log-density that overflows the dtype is a ValueError naming the row, never a NaN result.
- Second moments are formed about the data's column mean, so covariances of data far from the
  origin keep their digits (scikit-learn's diag/spherical/tied updates subtract raw moments).
- ``sample`` draws Philox numbers (seeded from ``random_state``, or its own ``random_state``
  argument), so the draws differ from scikit-learn's NumPy draws but are the same on CPU and GPU
  and on any thread count. Samples are grouped by component, as in scikit-learn.
- 'kmeans' and 'k-means++' initialisations run fastgen's k-means (kernels, Philox seeding), so they
  start from different clusters than scikit-learn's; 'random' and 'random_from_data' draw the same
  numbers from ``random_state`` as scikit-learn and start from identical responsibilities.
- The non-convergence warning is ``fastgen.exceptions.ConvergenceWarning`` (a UserWarning).
"""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from .._validation import check_dtype_kind, sum_tolerance
from .._warnings import warn as _warn
from ._base import BaseMixture
from ._gaussian import (LOG_2PI, betaln, collapsed_components, covariances_from_precisions, digamma,
                                estimate_gaussian_parameters, gammaln, log_det_cholesky, n_covariance_parameters,
                                precision_cholesky_from_precisions, precision_cholesky_guarded,
                                precisions_from_cholesky, quadratic_terms, scatter)

__all__ = ["GaussianMixture", "BayesianGaussianMixture"]


def _as_float_array(value, name, shape):
    a = np.asarray(value)
    check_dtype_kind(a.dtype, name)
    a = np.array(a, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    return a


def _check_spd(mats, name, what):
    """Symmetric (scikit-learn's isclose tolerances) and positive-definite, each matrix of (..., D, D)."""
    stack = mats.reshape(-1, *mats.shape[-2:])
    # All matrices at once (a Python loop of allclose/eigvalsh cost ~0.1 ms per component); the
    # first failing component is named, symmetry before definiteness as one by one.
    symmetric = np.isclose(stack, np.swapaxes(stack, 1, 2), rtol=1e-5, atol=1e-8).all(axis=(1, 2))
    definite = (np.linalg.eigvalsh(stack) > 0).all(axis=1)
    bad = np.flatnonzero(~(symmetric & definite))
    if bad.size:
        k = int(bad[0])
        where = f" (component {k})" if mats.ndim == 3 else ""
        kind = "symmetric" if not symmetric[k] else "positive-definite"
        raise ValueError(f"{name}: {what} must be {kind}{where}")


def _check_precisions(precisions, covariance_type, K, D):
    shape = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[covariance_type]
    p = _as_float_array(precisions, "precisions_init", shape)
    if covariance_type in ("full", "tied"):
        _check_spd(p, "precisions_init", f"'{covariance_type}' precision matrices")
    elif (p <= 0).any():
        raise ValueError(f"precisions_init: '{covariance_type}' precisions must be positive, got min {p.min()}")
    return p


class _GaussianParameters:
    """The covariance bookkeeping both estimators share: precisions_ from precisions_cholesky_, and
    the guarded Cholesky of freshly estimated covariances."""

    def _set_covariances(self, covariances):
        """Returns the indices of the components reset to the collapse floor (warned about here)."""
        P, cov, bad = precision_cholesky_guarded(covariances, self.covariance_type, self._collapse_floor,
                                                 self._kernel_dtype)
        if bad.size:
            _warn(f"{type(self).__name__}: components {bad.tolist()} have an ill-defined covariance (collapsed on "
                  f"a point or a subspace: not positive-definite, or precisions beyond "
                  f"{np.dtype(self._kernel_dtype).name}); reset to {self._collapse_floor:g} * I. Consider "
                  f"fewer components, a larger reg_covar, or scaling the data.", RuntimeWarning)
        self.covariances_ = cov
        self.precisions_cholesky_ = P
        return bad

    def _set_precisions(self):
        self.precisions_ = precisions_from_cholesky(self.precisions_cholesky_, self.covariance_type)


class GaussianMixture(_GaussianParameters, BaseMixture):
    """Gaussian mixture fitted by EM (scikit-learn's ``sklearn.mixture.GaussianMixture``).

    Its differences from scikit-learn are listed in the module's documentation
    (``fastgen.mixture._models``).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Each component's own full covariance, one shared full covariance, diagonal covariances,
        or one variance per component.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (>= 0).
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of the covariances.
    max_iter : int, default=100
        Number of EM iterations per initialisation (>= 0).
    n_init : int, default=1
        Number of initialisations; the best is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are drawn.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights (in [0, 1], summing to 1); None: from the initialisation.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means; None: from the initialisation.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped by covariance_type as in scikit-learn.
    random_state : None, int or numpy RandomState, default=None
        Seeds the initialisations and, through Philox keys, ``sample``.
    warm_start : bool, default=False
        Start ``fit`` from the last fit's parameters (one initialisation).
    verbose : bool or int, default=0
        Print progress (1: iterations, 2: also timings and lower-bound changes).
    verbose_interval : int, default=10
        Iterations between two progress messages.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the data-sized work runs ("auto": a usable GPU, else the CPU).
    dtype : float64 or float32, default=np.float64
        Precision of the data-sized kernel work (parameters are float64 either way).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights.
    means_ : ndarray of shape (n_components, n_features)
        Component means.
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Covariances, their inverses and the Cholesky factors of the inverses, shaped by
        covariance_type as in scikit-learn.
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood at the last E-step of the best initialisation.
    lower_bounds_ : list of float
        The lower bound at each iteration of the best initialisation.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame X (only then).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.mixture import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (100, 2))])
    >>> gm = GaussianMixture(n_components=2, random_state=0, device="cpu").fit(X)
    >>> np.sort(gm.means_[:, 0]).round().astype(int).tolist()
    [0, 8]
    >>> bool(gm.predict([[0.0, 0.0]])[0] != gm.predict([[8.0, 8.0]])[0])
    True
    """

    _parameter_constraints = {
        **BaseMixture._parameter_constraints,
        "weights_init": [None, "array-like"],
        "means_init": [None, "array-like"],
        "precisions_init": [None, "array-like"],
    }

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, means_init=None, precisions_init=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, device="auto", dtype=np.float64):
        self._base_init(n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, random_state,
                        warm_start, verbose, verbose_interval, device, dtype)
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    # -- checks and initialisation -----------------------------------------------------------------
    def _check_parameters(self, X):
        K, D = self.n_components, X.shape[1]
        # Validated copies; the constructor arguments stay what the user passed (get_params, clone).
        self._weights_init = self._means_init = self._precisions_init = None
        if self.weights_init is not None:
            w = _as_float_array(self.weights_init, "weights_init", (K,))
            if (w < 0).any() or (w > 1).any():
                raise ValueError(f"weights_init: weights must lie in [0, 1], got min {w.min()}, max {w.max()}")
            # scikit-learn's _check_weights: 1e-8 for float64 weights, 1e-6 for float32 ones.
            if abs(1.0 - w.sum()) > sum_tolerance(np.asarray(self.weights_init).dtype, K, 1e-8):
                raise ValueError(f"weights_init: weights must sum to 1, got sum {float(w.sum())!r}")
            self._weights_init = w
        if self.means_init is not None:
            self._means_init = _as_float_array(self.means_init, "means_init", (K, D))
        if self.precisions_init is not None:
            self._precisions_init = _check_precisions(self.precisions_init, self.covariance_type, K, D)

    def _check_data_parameters(self, data, N):
        pass

    def _initialize_parameters(self, cp, X, Xk, shift, random_state):
        if self._weights_init is None or self._means_init is None or self._precisions_init is None:
            super()._initialize_parameters(cp, X, Xk, shift, random_state)
        else:
            self._initialize(None, X.shape[0])

    def _initialize(self, moments, n_samples):
        if moments is not None:
            nk, means_s, cov = estimate_gaussian_parameters(moments, self.reg_covar, self.covariance_type)
            weights = nk / n_samples
        self.weights_ = self._weights_init.copy() if self._weights_init is not None else weights
        self.means_ = self._means_init.copy() if self._means_init is not None else means_s + moments.shift
        if self._precisions_init is None:
            self._set_covariances(cov)
        else:
            self.precisions_cholesky_ = precision_cholesky_from_precisions(self._precisions_init, self.covariance_type)
            self.covariances_ = covariances_from_precisions(self._precisions_init, self.covariance_type)

    # -- EM ------------------------------------------------------------------------------------------
    def _log_weights(self):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(self.weights_, dtype=np.float64))

    def _m_step(self, moments):
        nk, means_s, cov = estimate_gaussian_parameters(moments, self.reg_covar, self.covariance_type)
        means = means_s + moments.shift
        empty = moments.nk < 10 * moments.eps
        if empty.any():
            # No responsibility mass: the mean and covariance have nothing to be estimated from.
            _warn(f"GaussianMixture: components {np.flatnonzero(empty).tolist()} received no responsibility mass; "
                  f"their means and covariances are kept", RuntimeWarning)
            means = np.where(empty[:, None], self.means_, means)
            if self.covariance_type != "tied":
                old = np.asarray(self.covariances_, dtype=np.float64)
                cov = np.where(empty.reshape((-1,) + (1,) * (cov.ndim - 1)), old, cov)
        self.weights_ = nk / nk.sum()
        self.means_ = means
        reset = self._set_covariances(cov)
        # Collapsed but still positive-definite thanks to reg_covar (or to rounding when it is 0):
        # reported once per fit, for the model returned (BaseMixture._fit).
        collapsed = collapsed_components(moments, means_s, self.covariance_type)
        self._collapsed = np.setdiff1d(collapsed, reset)

    def _compute_lower_bound(self, estep, n_samples):
        return estep["log_norm_sum"] / n_samples

    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self._set_precisions()

    # -- model selection -----------------------------------------------------------------------------
    def _n_parameters(self):
        """Number of free parameters of the model."""
        K, D = self.means_.shape
        return int(n_covariance_parameters(self.covariance_type, K, D) + D * K + K - 1)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()


def _log_dirichlet_norm(concentration):
    """log of the Dirichlet normaliser Gamma(sum a) / prod Gamma(a)."""
    return float(gammaln(np.sum(concentration)) - np.sum(gammaln(concentration)))


def _log_wishart_norm(dof, log_det_precisions_chol, n_features):
    """log of the Wishart normaliser per component (scikit-learn's, with its constant terms dropped)."""
    dof = np.asarray(dof, dtype=np.float64)
    return -(dof * log_det_precisions_chol + dof * n_features * 0.5 * np.log(2.0)
             + gammaln(0.5 * (dof - np.arange(n_features)[:, None])).sum(axis=0))


class BayesianGaussianMixture(_GaussianParameters, BaseMixture):
    """Variational Bayesian Gaussian mixture (scikit-learn's ``sklearn.mixture.BayesianGaussianMixture``).

    weight_concentration_prior_type "dirichlet_process" (stick-breaking, truncated at n_components)
    or "dirichlet_distribution"; Gaussian-Wishart priors on the means and precisions. Its
    differences from scikit-learn are listed in the module's documentation.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Each component's own full covariance, one shared full covariance, diagonal covariances,
        or one variance per component.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (>= 0).
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of the covariances.
    max_iter : int, default=100
        Number of EM iterations per initialisation (>= 0).
    n_init : int, default=1
        Number of initialisations; the best is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the initial responsibilities are drawn.
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
        The prior on the weights.
    weight_concentration_prior : float > 0, default=None
        Dirichlet (process) concentration; None: 1 / n_components.
    mean_precision_prior : float > 0, default=None
        Precision prior on the means; None: 1.
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean; None: the mean of X.
    degrees_of_freedom_prior : float > n_features - 1, default=None
        Wishart degrees of freedom; None: n_features.
    covariance_prior : float or array-like, default=None
        Wishart covariance prior (a number for "spherical", (n_features,) for "diag",
        (n_features, n_features) otherwise); None: the covariance of X.
    random_state : None, int or numpy RandomState, default=None
        Seeds the initialisations and, through Philox keys, ``sample``.
    warm_start : bool, default=False
        Start ``fit`` from the last fit's parameters (one initialisation).
    verbose : bool or int, default=0
        Print progress (1: iterations, 2: also timings and lower-bound changes).
    verbose_interval : int, default=10
        Iterations between two progress messages.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the data-sized work runs ("auto": a usable GPU, else the CPU).
    dtype : float64 or float32, default=np.float64
        Precision of the data-sized kernel work (parameters are float64 either way).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        As GaussianMixture's (expected values under the variational posterior).
    weight_concentration_ : ndarray or tuple of two ndarrays
        Dirichlet parameters of the weights (a pair of Beta parameters for the Dirichlet process).
    mean_precision_ : ndarray of shape (n_components,)
        Precisions of the means' posterior.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        Wishart degrees of freedom of each component.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, degrees_of_freedom_prior_, \
covariance_prior_
        The priors used (defaults resolved).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Variational lower bound of the best initialisation.
    lower_bounds_ : list of float
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.mixture import BayesianGaussianMixture
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42, device="cpu").fit(X)
    >>> bgm.weights_.shape, bool(np.isclose(bgm.weights_.sum(), 1.0))
    ((2,), True)
    """

    WEIGHT_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
    _parameter_constraints = {
        **BaseMixture._parameter_constraints,
        "weight_concentration_prior_type": [Options(*WEIGHT_PRIOR_TYPES)],
        "weight_concentration_prior": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        # > n_features - 1 as well, checked with the data (_check_parameters)
        "degrees_of_freedom_prior": [None, Interval(numbers.Real, 0, None, closed="neither")],
        # a number for 'spherical', an array otherwise (shape and values checked with the data)
        "covariance_prior": [None, Interval(numbers.Real, 0, None, closed="neither"), "array-like"],
    }

    def __init__(self, *, n_components=1, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100, n_init=1,
                 init_params="kmeans", weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None, mean_prior=None,
                 degrees_of_freedom_prior=None, covariance_prior=None, random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, device="auto", dtype=np.float64):
        self._base_init(n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, random_state,
                        warm_start, verbose, verbose_interval, device, dtype)
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior

    # -- priors ----------------------------------------------------------------------------------------
    def _check_parameters(self, X):
        D = X.shape[1]
        wcp, mpp, dof = self.weight_concentration_prior, self.mean_precision_prior, self.degrees_of_freedom_prior
        self.weight_concentration_prior_ = 1.0 / self.n_components if wcp is None else float(wcp)
        self.mean_precision_prior_ = 1.0 if mpp is None else float(mpp)
        self._mean_prior = None if self.mean_prior is None else _as_float_array(self.mean_prior, "mean_prior", (D,))
        if dof is not None and not dof > D - 1.0:
            raise ValueError(f"degrees_of_freedom_prior: expected a number > {D - 1.0}, got {dof!r}")
        self.degrees_of_freedom_prior_ = float(D) if dof is None else float(dof)
        self._covariance_prior = None
        cp = self.covariance_prior
        if cp is None:
            return
        ct = self.covariance_type
        if ct in ("full", "tied"):
            c = _as_float_array(cp, "covariance_prior", (D, D))
            _check_spd(c, "covariance_prior", f"'{ct}' covariance_prior")
        elif ct == "diag":
            c = _as_float_array(cp, "covariance_prior", (D,))
            if (c <= 0).any():
                raise ValueError(f"covariance_prior: 'diag' covariance_prior must be positive, got min {c.min()}")
        else:  # a number (checked by the constraints) or an array of shape ()
            c = _as_float_array(cp, "covariance_prior", ())
            if not c > 0:
                raise ValueError(f"covariance_prior: 'spherical' covariance_prior must be positive, got {float(c)!r}")
            c = float(c)
        self._covariance_prior = c

    def _check_data_parameters(self, data, N):
        """Priors that default to statistics of X (its mean; its covariance with ddof=1)."""
        self.mean_prior_ = data.shift.copy() if self._mean_prior is None else self._mean_prior
        if self._covariance_prior is not None:
            self.covariance_prior_ = self._covariance_prior
            return
        mean_s = data.s1[0] / N
        if data.s2.ndim == 3:
            cov = (data.s2[0] - N * np.outer(mean_s, mean_s)) / (N - 1)
            self.covariance_prior_ = 0.5 * (cov + cov.T)
        else:
            var = (data.s2[0] - N * mean_s * mean_s) / (N - 1)
            self.covariance_prior_ = var if self.covariance_type == "diag" else float(var.mean())

    # -- variational M-step (Bishop 10.58-10.63 in scikit-learn's normalisation) ------------------------
    def _initialize(self, moments, n_samples):
        self._m_step(moments)

    def _m_step(self, moments):
        nk, xk_s, sk = estimate_gaussian_parameters(moments, self.reg_covar, self.covariance_type)
        self._estimate_weights(nk)
        self._estimate_means(nk, xk_s, moments.shift)
        self._estimate_precisions(nk, xk_s, sk, moments.shift)

    def _estimate_weights(self, nk):
        if self.weight_concentration_prior_type == "dirichlet_process":
            # Beta(1 + N_k, gamma + sum_{j > k} N_j) per stick.
            tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0))
            self.weight_concentration_ = (1.0 + nk, self.weight_concentration_prior_ + tail)
        else:
            self.weight_concentration_ = self.weight_concentration_prior_ + nk

    def _estimate_means(self, nk, xk_s, shift):
        self.mean_precision_ = self.mean_precision_prior_ + nk
        prior_s = self.mean_prior_ - shift
        weighted = self.mean_precision_prior_ * prior_s + nk[:, None] * xk_s
        self.means_ = shift + weighted / self.mean_precision_[:, None]

    def _estimate_precisions(self, nk, xk_s, sk, shift):
        K, D = xk_s.shape
        ct, mpp = self.covariance_type, self.mean_precision_prior_
        diff = xk_s - (self.mean_prior_ - shift)
        if ct == "full":
            self.degrees_of_freedom_ = self.degrees_of_freedom_prior_ + nk
            cov = (self.covariance_prior_ + nk[:, None, None] * sk
                   + (nk * mpp / self.mean_precision_)[:, None, None] * diff[:, :, None] * diff[:, None, :])
            cov = cov / self.degrees_of_freedom_[:, None, None]
        elif ct == "tied":
            self.degrees_of_freedom_ = self.degrees_of_freedom_prior_ + nk.sum() / K
            cov = (self.covariance_prior_ + sk * nk.sum() / K
                   + mpp / K * np.dot((nk / self.mean_precision_) * diff.T, diff))
            cov = cov / self.degrees_of_freedom_
        elif ct == "diag":
            self.degrees_of_freedom_ = self.degrees_of_freedom_prior_ + nk
            cov = self.covariance_prior_ + nk[:, None] * (sk + (mpp / self.mean_precision_)[:, None] * diff ** 2)
            cov = cov / self.degrees_of_freedom_[:, None]
        else:
            self.degrees_of_freedom_ = self.degrees_of_freedom_prior_ + nk
            cov = self.covariance_prior_ + nk * (sk + mpp / self.mean_precision_ * np.mean(diff ** 2, axis=1))
            cov = cov / self.degrees_of_freedom_
        if ct in ("full", "tied"):
            cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
        self._set_covariances(cov)

    # -- E-step weights and the lower bound -----------------------------------------------------------
    def _expected_log_weights(self):
        """E[log pi_k] under the variational Dirichlet (process) posterior."""
        if self.weight_concentration_prior_type == "dirichlet_process":
            a, b = self.weight_concentration_
            digamma_sum = digamma(a + b)
            digamma_b = digamma(b)
            return digamma(a) - digamma_sum + np.hstack((0, np.cumsum(digamma_b - digamma_sum)[:-1]))
        wc = self.weight_concentration_
        return digamma(wc) - digamma(np.sum(wc))

    def _log_weights(self):
        """Per-component terms of the variational E-step added to log N(x | means_, covariances_):
        E[log pi_k] + 1/2 (E[log |Lambda_k|] - D log dof_k - D / mean_precision_k). They do not depend
        on x, so they ride in mixture_responsibilities' log-weights."""
        D = self.means_.shape[1]
        dof = np.atleast_1d(np.asarray(self.degrees_of_freedom_, dtype=np.float64))
        log_lambda = D * np.log(2.0) + digamma(0.5 * (dof - np.arange(D)[:, None])).sum(axis=0)
        return (self._expected_log_weights() - 0.5 * D * np.log(dof)
                + 0.5 * (log_lambda - D / self.mean_precision_))

    def _compute_lower_bound(self, estep, n_samples):
        """scikit-learn's lower bound (constant terms dropped). Its entropy term -sum r log r comes
        from K-sized quantities: log r_nk = log N(x_n | k) + lw_k - log_norm_n, so
        sum r log r = sum_k [N_k (lw_k + log|P_k| - D/2 log 2 pi) - 1/2 tr(P_k^T S_k P_k)] - sum_n log_norm_n,
        S_k the responsibility-weighted scatter about the E-step's means."""
        m = estep["moments"]
        D = self.means_.shape[1]
        ct = self.covariance_type
        quad = quadratic_terms(scatter(m, estep["means_s"]), estep["kernel_precisions"], ct)
        old_logdet = log_det_cholesky(estep["precisions_cholesky"], ct, D)
        r_log_r = float(np.sum(m.nk * (estep["log_weights"] + old_logdet - 0.5 * D * LOG_2PI) - 0.5 * quad)) \
            - estep["log_norm_sum"]
        log_det = log_det_cholesky(self.precisions_cholesky_, ct, D) - 0.5 * D * np.log(self.degrees_of_freedom_)
        if ct == "tied":
            log_wishart = self.n_components * float(_log_wishart_norm(self.degrees_of_freedom_, log_det, D)[0])
        else:
            log_wishart = float(np.sum(_log_wishart_norm(self.degrees_of_freedom_, log_det, D)))
        if self.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -float(np.sum(betaln(*self.weight_concentration_)))
        else:
            log_norm_weight = _log_dirichlet_norm(self.weight_concentration_)
        return -r_log_r - log_wishart - log_norm_weight - 0.5 * D * float(np.sum(np.log(self.mean_precision_)))

    # -- parameters of the best restart ----------------------------------------------------------------
    def _get_parameters(self):
        return (self.weight_concentration_, self.mean_precision_, self.means_, self.degrees_of_freedom_,
                self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        (self.weight_concentration_, self.mean_precision_, self.means_, self.degrees_of_freedom_,
         self.covariances_, self.precisions_cholesky_) = params
        if self.weight_concentration_prior_type == "dirichlet_process":
            a, b = self.weight_concentration_
            total = a + b
            w = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
            self.weights_ = w / np.sum(w)
        else:
            self.weights_ = self.weight_concentration_ / np.sum(self.weight_concentration_)
        self._set_precisions()
