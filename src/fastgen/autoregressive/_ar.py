"""``AR``: an autoregressive model of one series, statsmodels' AutoReg as a scikit-learn style
estimator on the fastgen kernels: OLS (statsmodels' parameters, sigma2, llf and information criteria
to ~1e-12) or Yule-Walker, forecasts with standard errors, Philox Monte-Carlo paths, the
conditional Gaussian log-likelihood, order selection by AIC/BIC/HQIC, and ``AR.fit_many`` for
thousands of independent series in one kernel call (an ``ARBatch``)."""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from ._ar_base import LinearARBase
from ._ar_batch import ARBatch
from ._ar_stats import ar_criteria, ar_roots, ar_stationary, concentrated_llf, spectral_radius
from ._ar_validation import AR_CRITERIA, as_univariate, warn_stationarity
from .._validation import check_lengths

__all__ = ["AR"]


def _finite_series(backend, Y, offsets, name="X"):
    """Raise for NaN/inf in the validated series Y (host or device: one ``first_outside`` pass where
    it lives), naming the series it belongs to."""
    bad = backend.first_outside(Y)
    if bad is not None:
        i = bad[0][0]
        s = int(np.searchsorted(offsets, i, side="right") - 1)
        raise ValueError(f"{name}: contains NaN or infinity (first at row {i}: series {s}, position "
                         f"{i - int(offsets[s])})")


class AR(LinearARBase):
    """Autoregressive model of one series, y_t = deterministic(t) + sum_i phi_i y_{t-i} + e_t.

    statsmodels' ``AutoReg`` as a scikit-learn style estimator on the fastgen kernels: OLS matches
    its params, sigma2, llf and information criteria to ~1e-12. Fitted parameters are float64
    host arrays whatever ``dtype`` is. A fit whose lag polynomial has a root inside the unit circle
    warns (``StationarityWarning``).

    Parameters
    ----------
    order : int or {"aic", "bic", "hqic"}, default=1
        Number of lags p (>= 0), or the criterion that picks p in 0..max_order (statsmodels'
        ``ar_select_order``: every order is fitted on the same sample y[max_order:]).
    trend : {"n", "c", "t", "ct"}, default="c"
        Deterministic terms (statsmodels AutoReg): none, constant, time trend (t = 1, 2, ...), both.
    method : {"ols", "yule_walker"}, default="ols"
        OLS is statsmodels' AutoReg (conditional least squares on targets y[p:]); Yule-Walker solves
        the sample Yule-Walker equations (statsmodels' ``yule_walker``; trends "n" and "c" only,
        "c" demeans the series).
    max_order : int or None, default=None
        Largest order tried when ``order`` is a criterion (required then), >= 0.
    yw_method : {"mle", "adjusted"}, default="mle"
        Yule-Walker autocovariance denominator: n ("mle", always a stationary fit) or n - h
        ("adjusted", statsmodels' default).
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float64 or float32, default=np.float64
        How the series is stored and passed to the kernels (float32 halves the traffic of the data
        pass; sums are kept in float64 anyway).

    Attributes
    ----------
    order_ : int
        The fitted (or selected) order p.
    params_ : ndarray of shape (kt + p,)
        statsmodels' ``params``: the kt trend coefficients, then phi_1..phi_p.
    coef_ : ndarray of shape (p,)
        phi_1..phi_p.
    trend_coef_ : ndarray of shape (kt,)
        The trend coefficients (constant first, then time trend).
    intercept_ : float
        The constant (0 without "c").
    sigma2_ : float
        Innovation variance (OLS: SSE / nobs as AutoReg; Yule-Walker: its sigma^2).
    nobs_ : int
        n - p.
    llf_, aic_, bic_, hqic_ : float
        AutoReg's (conditional log-likelihood at the fit, information criteria).
    roots_ : complex ndarray of shape (p,)
        AutoReg's roots of 1 - phi_1 z - ... - phi_p z^p (stationary iff all |z| > 1).
    spectral_radius_ : float
        Largest companion eigenvalue modulus (= 1 / smallest |root|).
    order_criteria_ : dict of str to ndarray of shape (max_order + 1,), or None
        Every order's AIC/BIC/HQIC when the order was selected (OLS: ar_select_order's values;
        Yule-Walker: from the Yule-Walker sigma^2_q on all n points); None otherwise.
    y_tail_ : ndarray of shape (p,)
        The last p observations (where forecasts and simulations start).
    series_length_ : int
        n, the length of the training series.
    n_features_in_ : int
        1.

    See Also
    --------
    VAR : Several series jointly.
    ARBatch : Many independent series at once (``fit_many``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.autoregressive import AR
    >>> e = np.random.default_rng(0).normal(size=500)
    >>> y = np.zeros(500)
    >>> for t in range(1, 500):
    ...     y[t] = 0.6 * y[t - 1] + e[t]
    >>> model = AR(order=1, device="cpu").fit(y)
    >>> model.order_, model.coef_.round(1).tolist()
    (1, [0.6])
    >>> mean, se = model.forecast(5)
    >>> mean.shape, bool(np.all(np.diff(se) > 0))
    ((5,), True)

    The order chosen by AIC on the sunspot numbers:

    >>> from fastgen.datasets import load_sunspots
    >>> _, spots = load_sunspots()
    >>> AR(order="aic", max_order=12, device="cpu").fit(spots).order_
    9
    """

    _criteria_names = AR_CRITERIA
    _parameter_constraints = {
        "order": [Interval(numbers.Integral, 0, None), Options(*AR_CRITERIA)],
        **LinearARBase._parameter_constraints,
    }

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit to one series (selecting the order first when ``order`` is a criterion).

        Parameters
        ----------
        X : array-like of shape (n,) or (n, 1)
            The series (finite), long enough for the order and trend.
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : AR
            The fitted estimator.
        """
        self._setup()
        Y = as_univariate(X, self._backend)
        offsets = np.array([0, Y.shape[0]], dtype=np.int64)
        orders, params, noise, table = self._fit_arrays(Y, offsets, "X")
        st = self._statistics(Y, offsets, orders, params, noise)
        p, kt = int(orders[0]), self._kt
        self.order_ = p
        self.params_ = params[0, :kt + p, 0].copy()
        self.coef_ = self.params_[kt:].copy()
        self.trend_coef_ = self.params_[:kt].copy()
        self.intercept_ = float(self.params_[0]) if "c" in self._trend else 0.0
        for name in ("sigma2", "nobs", "llf", "aic", "bic", "hqic"):
            setattr(self, name + "_", st[name][0].item())
        self.nobs_ = int(self.nobs_)
        self.roots_ = ar_roots(self.coef_)
        self.spectral_radius_ = float(spectral_radius(self.coef_.reshape(p, 1, 1)))
        self.order_criteria_ = None if table is None else {k: v[0].copy() for k, v in table.items()}
        self.y_tail_ = self._backend.host(Y[Y.shape[0] - p:])[:, 0].astype(np.float64)
        self.series_length_ = int(Y.shape[0])
        self.n_features_in_ = 1
        if self.spectral_radius_ >= 1.0:
            warn_stationarity(
                f"AR({p}) fit is not stationary: the largest inverse-root modulus (companion spectral radius) "
                f"is {self.spectral_radius_:.6g} >= 1, i.e. the lag polynomial has a root of modulus "
                f"{1.0 / self.spectral_radius_:.6g} inside the unit circle; forecast variances grow without bound")
        return self

    def fit_many(self, X, lengths):
        """Fit an independent AR to each of many series in one kernel call.

        With ``order`` a criterion, each series gets its own order. The estimator itself is left
        unfitted; non-stationary fits give one ``StationarityWarning`` naming them.

        Parameters
        ----------
        X : array-like of shape (N,) or (N, 1)
            The series concatenated.
        lengths : array-like of int
            Their lengths (summing to N).

        Returns
        -------
        batch : ARBatch
            The S fits as arrays, with batched ``forecast`` and ``simulate``.
        """
        self._setup()
        if lengths is None:
            raise ValueError("lengths: fit_many needs the series lengths (use fit for a single series)")
        if X is None:
            raise ValueError("X: expected a 1-D array (the series concatenated), got None")
        Y = as_univariate(X, self._backend, finite=False)
        offsets = check_lengths(lengths, Y.shape[0])
        _finite_series(self._backend, Y, offsets)
        orders, params, noise, table = self._fit_arrays(Y, offsets, "X")
        st = self._statistics(Y, offsets, orders, params, noise)
        batch = ARBatch(self, Y, offsets, orders, params[:, :, 0], st, table)
        bad = np.flatnonzero(~batch.is_stationary_)
        if bad.size:
            radius = batch.spectral_radius_[bad]
            worst = int(bad[np.argmax(radius)])
            warn_stationarity(
                f"fit_many: {bad.size} of {len(batch)} fitted series are not stationary (companion spectral "
                f"radius >= 1); the largest is series {worst} with {radius.max():.6g} "
                f"(a lag-polynomial root of modulus {1.0 / radius.max():.6g}); series "
                f"{bad[:10].tolist()}{' ...' if bad.size > 10 else ''}")
        return batch

    def _statistics(self, Y, offsets, orders, params, noise):
        """Per-series sigma2, nobs, llf, criteria and spectral radius (arrays over series)."""
        lengths = np.diff(offsets)
        nobs = (lengths - orders).astype(np.float64)
        df = orders + self._kt
        if self._method == "ols":
            sigma2 = noise[:, 0, 0] / nobs
            llf = concentrated_llf(sigma2, nobs)
        else:
            sigma2 = noise[:, 0, 0]
            sse = self._sse_kernel(Y, offsets, params, orders)[:, 0, 0]
            with np.errstate(divide="ignore"):
                llf = -0.5 * nobs * (np.log(2 * np.pi) + np.log(sigma2)) - 0.5 * sse / sigma2
        crit = ar_criteria(llf, nobs, df)
        return dict(sigma2=sigma2, nobs=nobs, llf=llf, stationary=ar_stationary(params[:, self._kt:, 0]), **crit)

    def _select_table(self, noise_all, lengths, P):
        """Criteria (S, P + 1) of every order q = 0..P."""
        q = np.arange(P + 1)
        has_c = 1 if "c" in self._trend else 0
        df = q + self._kt - has_c  # ar_select_order counts the constant out (OLS df_model)
        if self._method == "ols":
            nobs = (lengths - P).astype(np.float64)[:, None]
            sigma2 = noise_all[:, :, 0, 0] / nobs
        else:
            nobs = lengths.astype(np.float64)[:, None]
            sigma2 = noise_all[:, :, 0, 0]
        llf = concentrated_llf(sigma2, nobs)
        return ar_criteria(llf, nobs, df[None, :])

    # -- using the fit ------------------------------------------------------------------------------
    def forecast(self, steps):
        """Point forecasts of the next `steps` values and their standard errors.

        Standard errors from the psi-weights: se_h^2 = sigma2 * sum_{j<h} psi_j^2 (AutoReg's
        ``get_prediction(...).se_mean``).

        Parameters
        ----------
        steps : int
            Forecast horizon (>= 0).

        Returns
        -------
        mean, se : ndarray of shape (steps,)
            Point forecasts and their standard errors (float64).
        """
        self._check_fitted()
        self._setup()
        steps = self._validate_steps(steps)
        p, kt = self.order_, self._kt
        mean, mse = self._forecast_kernel(self.params_.reshape(1, kt + p, 1), self.y_tail_.reshape(1, p, 1),
                                          [self.series_length_ + 1], np.full((1, 1, 1), self.sigma2_), steps)
        return mean[0, :, 0], np.sqrt(mse[0, :, 0, 0])

    def simulate(self, n_steps, n_paths=1, random_state=None):
        """Monte-Carlo continuations of the fitted series.

        Innovations sqrt(sigma2_) z with z Philox normals (path j: stream j), so the same
        random_state gives the same paths on any thread count and on CPU and CUDA.

        Parameters
        ----------
        n_steps : int
            Length of each path (>= 0).
        n_paths : int, default=1
            Number of paths (>= 0).
        random_state : None, int or numpy RandomState, default=None
            Seeds the Philox key.

        Returns
        -------
        paths : ndarray of shape (n_paths, n_steps)
            The simulated values, in ``dtype``.
        """
        self._check_fitted()
        self._setup()
        n_steps = self._validate_steps(n_steps, "n_steps")
        n_paths = self._validate_steps(n_paths, "n_paths")
        p, kt = self.order_, self._kt
        out = self._simulate_kernel(self.params_.reshape(1, kt + p, 1), np.full((1, 1, 1), np.sqrt(self.sigma2_)),
                                    self.y_tail_.reshape(1, p, 1), [self.series_length_ + 1], n_steps, n_paths,
                                    random_state)
        return out[0, :, :, 0]

    def score(self, X, lengths=None):
        """Conditional Gaussian log-likelihood of one or more series under the fit.

        Each sequence is scored given its first p values, its time index restarting at 1: the sum
        over sequences of -nobs / 2 log(2 pi sigma2_) - SSE / (2 sigma2_). On the training series it
        is ``llf_``.

        Parameters
        ----------
        X : array-like of shape (N,) or (N, 1)
            The sequences concatenated (each longer than p).
        lengths : array-like of int, default=None
            Their lengths (hmmlearn's ``lengths``); None: X is one sequence.

        Returns
        -------
        log_likelihood : float
            The log-likelihood summed over the sequences.
        """
        self._check_fitted()
        self._setup()
        Y = as_univariate(X, self._backend)
        offsets = check_lengths(lengths, Y.shape[0])
        lens = np.diff(offsets)
        p = self.order_
        short = np.flatnonzero(lens <= p)
        if short.size:
            i = int(short[0])
            raise ValueError(f"X: sequence {i} has {int(lens[i])} observations; an AR({p}) needs more than {p}")
        S = lens.size
        sse = self._sse_kernel(Y, offsets, self.params_.reshape(1, -1, 1), np.full(S, p))[:, 0, 0]
        nobs = lens - p
        return self._finite_score(float(np.sum(-0.5 * nobs * (np.log(2 * np.pi) + np.log(self.sigma2_))
                                               - 0.5 * sse / self.sigma2_)), Y)
