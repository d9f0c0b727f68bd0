"""``VAR``: a vector autoregression of k series jointly, statsmodels' VAR as a scikit-learn style
estimator on the fastgen kernels (OLS or Yule-Walker, forecasts and their covariances, Philox
Monte-Carlo paths, the conditional Gaussian log-likelihood, order selection by AIC/BIC/HQIC/FPE)."""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from ._ar_base import LinearARBase
from ._ar_stats import lag_matrices, spectral_radius, var_criteria, var_llf, var_roots
from ._ar_validation import VAR_CRITERIA, warn_stationarity
from .._backend import is_device_array
from .._validation import check_lengths

__all__ = ["VAR"]


class VAR(LinearARBase):
    """Vector autoregression of k series, y_t = deterministic(t) + sum_i A_i y_{t-i} + u_t.

    statsmodels' ``VAR`` as a scikit-learn style estimator on the fastgen kernels. Order selection
    criteria and their values are statsmodels' ``VAR.select_order(max_order, trend=trend)``, which
    uses the model's trend; note that statsmodels' ``VAR.fit(maxlags, ic=...)`` selects with trend
    "c" whatever its own trend. Fitted parameters are float64 host arrays whatever ``dtype`` is.

    Parameters
    ----------
    order : int or {"aic", "bic", "hqic", "fpe"}, default=1
        Number of lags p (>= 0; >= 1 with trend "n"), or the criterion that picks p in 0..max_order.
    trend : {"n", "c", "t", "ct"}, default="c"
        Deterministic terms: none, constant, time trend (t = 1, 2, ...), both.
    method : {"ols", "yule_walker"}, default="ols"
        Equation-by-equation OLS (statsmodels' VAR), or the multivariate Yule-Walker equations
        (trends "n" and "c" only, "c" demeans the series).
    max_order : int or None, default=None
        Largest order tried when ``order`` is a criterion (required then), >= 0.
    yw_method : {"mle", "adjusted"}, default="mle"
        Yule-Walker autocovariance denominator: n or n - h.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float64 or float32, default=np.float64
        How the series are stored and passed to the kernels (sums in float64).

    Attributes
    ----------
    order_ : int
        The fitted (or selected) order p.
    params_ : ndarray of shape (kt + p k, k)
        statsmodels' ``params``: trend rows, then the lag coefficients.
    coefs_ : ndarray of shape (p, k, k)
        A_1..A_p (statsmodels' ``coefs``).
    trend_coef_ : ndarray of shape (kt, k)
        The trend coefficients.
    intercept_ : ndarray of shape (k,)
        The constants (zeros without "c").
    sigma_u_ : ndarray of shape (k, k)
        Innovation covariance: SSE / (nobs - kt - p k) for OLS (statsmodels' ``sigma_u``); the
        Yule-Walker innovation covariance for Yule-Walker.
    sigma_u_mle_ : ndarray of shape (k, k)
        SSE / nobs (Yule-Walker: equal to sigma_u_).
    nobs_ : int
        n - p.
    llf_, aic_, bic_, hqic_, fpe_ : float
        statsmodels' VARResults values.
    roots_ : complex ndarray of shape (p k,)
        statsmodels' ``roots``: inverse companion eigenvalues by decreasing modulus.
    spectral_radius_ : float
        Largest companion eigenvalue modulus (< 1 iff stationary).
    order_criteria_ : dict of str to ndarray of shape (max_order + 1,), or None
        Every order's criteria when the order was selected (NaN for order 0 with trend "n").
    y_tail_ : ndarray of shape (p, k)
        The last p observations (where forecasts and simulations start).
    series_length_ : int
        n.
    n_features_in_ : int
        k.

    See Also
    --------
    AR : One series.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.autoregressive import VAR
    >>> E = np.random.default_rng(0).normal(size=(500, 2))
    >>> Y = np.zeros((500, 2))
    >>> for t in range(1, 500):
    ...     Y[t] = [[0.5, 0.1], [0.0, 0.3]] @ Y[t - 1] + E[t]
    >>> model = VAR(order=1, device="cpu").fit(Y)
    >>> model.coefs_.shape, bool(model.spectral_radius_ < 1)
    ((1, 2, 2), True)
    >>> mean, se = model.forecast(3)
    >>> mean.shape, model.forecast_cov(3).shape, model.simulate(4, n_paths=2, random_state=0).shape
    ((3, 2), (3, 2, 2), (2, 4, 2))
    """

    _criteria_names = VAR_CRITERIA
    _parameter_constraints = {
        "order": [Interval(numbers.Integral, 0, None), Options(*VAR_CRITERIA)],
        **LinearARBase._parameter_constraints,
    }

    def _as_series(self, X, name="X", n_features=None):
        if X is None:
            raise ValueError(f"{name}: expected a 2-D array (n_samples, n_series), got None")
        a = X if is_device_array(X) else np.asarray(X)
        if len(a.shape) == 1:
            raise ValueError(f"{name}: expected a 2-D array of shape (n_samples, n_series), got shape "
                             f"{tuple(a.shape)}; use AR for a single series (or X.reshape(-1, 1))")
        return self._backend.check_array(a, name, ndim=2, n_features=n_features)

    def fit(self, X, y=None):
        """Fit to the k series in the columns of X (selecting the order first when asked).

        Parameters
        ----------
        X : array-like of shape (n, k)
            The series (finite), long enough for the order and trend.
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : VAR
            The fitted estimator.
        """
        self._setup()
        if self._criterion is None and self._order == 0 and self._trend == "n":
            raise ValueError("order: a VAR(0) with trend 'n' has no parameters; use order >= 1 or a trend")
        Y = self._as_series(X)
        n, k = Y.shape
        offsets = np.array([0, n], dtype=np.int64)
        orders, params, noise, table = self._fit_arrays(Y, offsets, "X")
        p, kt = int(orders[0]), self._kt
        nobs = n - p
        self.order_ = p
        self.params_ = params[0, :kt + p * k, :].copy()
        self.coefs_ = lag_matrices(self.params_, kt, k, p).copy()
        self.trend_coef_ = self.params_[:kt].copy()
        self.intercept_ = self.params_[0].copy() if "c" in self._trend else np.zeros(k)
        if self._method == "ols":
            sse = noise[0]
            self.sigma_u_ = sse / (nobs - kt - p * k)
            self.sigma_u_mle_ = sse / nobs
            self.llf_ = float(var_llf(self.sigma_u_mle_, nobs, k))
        else:
            self.sigma_u_ = noise[0].copy()
            self.sigma_u_mle_ = noise[0].copy()
            sse = self._sse_kernel(Y, offsets, params, orders)[0]
            sign, ld = np.linalg.slogdet(self.sigma_u_)
            quad = np.trace(np.linalg.solve(self.sigma_u_, sse))
            self.llf_ = float(-0.5 * nobs * k * np.log(2 * np.pi) - 0.5 * nobs * ld - 0.5 * quad)
        _check_residual_covariance(self.sigma_u_mle_, nobs, k, kt + p * k)
        crit = var_criteria(self.sigma_u_mle_, nobs, k, p, kt)
        for name in ("aic", "bic", "hqic", "fpe"):
            setattr(self, name + "_", float(crit[name]))
        self.nobs_ = int(nobs)
        self.roots_ = var_roots(self.coefs_)
        self.spectral_radius_ = float(spectral_radius(self.coefs_))
        self.order_criteria_ = None if table is None else {name: v[0].copy() for name, v in table.items()}
        self.y_tail_ = self._backend.host(Y[n - p:]).astype(np.float64)
        self.series_length_ = int(n)
        self.n_features_in_ = int(k)
        if self.spectral_radius_ >= 1.0:
            warn_stationarity(
                f"VAR({p}) fit is not stationary: the largest inverse-root modulus (companion spectral radius) "
                f"is {self.spectral_radius_:.6g} >= 1 (a root of det(I - A_1 z - ... - A_p z^p) of modulus "
                f"{1.0 / self.spectral_radius_:.6g} inside the unit circle); forecast variances grow without bound")
        return self

    def _select_table(self, noise_all, lengths, P):
        """statsmodels' select_order criteria (S, P + 1); NaN for order 0 with trend "n"."""
        k = noise_all.shape[-1]
        q = np.arange(P + 1)
        if self._method == "ols":
            nobs = (lengths - P).astype(np.float64)[:, None]
            sigma = noise_all / nobs[..., None, None]
        else:
            nobs = lengths.astype(np.float64)[:, None]
            sigma = noise_all
        table = var_criteria(sigma, nobs, k, q[None, :], self._kt)
        if self._trend == "n":
            for v in table.values():
                v[:, 0] = np.nan
        return table

    def forecast_cov(self, steps):
        """Forecast MSE matrices sum_{j<h} Phi_j sigma_u_ Phi_j^T (statsmodels' ``forecast_cov``).

        Parameters
        ----------
        steps : int
            Forecast horizon (>= 0).

        Returns
        -------
        cov : ndarray of shape (steps, k, k)
            The MSE matrix of each horizon (statsmodels' method "mse").
        """
        return self._forecast(steps)[1]

    def _forecast(self, steps):
        self._check_fitted()
        self._setup()
        steps = self._validate_steps(steps)
        p, k = self.order_, self.n_features_in_
        mean, mse = self._forecast_kernel(self.params_[None], self.y_tail_.reshape(1, p, k), [self.series_length_ + 1],
                                          self.sigma_u_[None], steps)
        return mean[0], mse[0]

    def forecast(self, steps):
        """Point forecasts of the next `steps` values and their standard errors.

        Parameters
        ----------
        steps : int
            Forecast horizon (>= 0).

        Returns
        -------
        mean, se : ndarray of shape (steps, k)
            Point forecasts and standard errors (sqrt of the ``forecast_cov`` diagonals).
        """
        mean, mse = self._forecast(steps)
        return mean, np.sqrt(np.diagonal(mse, axis1=-2, axis2=-1))

    def simulate(self, n_steps, n_paths=1, random_state=None):
        """Monte-Carlo continuations of the fitted series.

        Innovations L z with L the Cholesky factor of sigma_u_ and z[h k + l] the Philox normals of
        stream j (path j): the same paths on any thread count and on CPU and CUDA.

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
        paths : ndarray of shape (n_paths, n_steps, k)
            The simulated values, in ``dtype``.
        """
        self._check_fitted()
        self._setup()
        n_steps = self._validate_steps(n_steps, "n_steps")
        n_paths = self._validate_steps(n_paths, "n_paths")
        p, k = self.order_, self.n_features_in_
        chol = np.linalg.cholesky(self.sigma_u_)
        out = self._simulate_kernel(self.params_[None], chol[None], self.y_tail_.reshape(1, p, k),
                                    [self.series_length_ + 1], n_steps, n_paths, random_state)
        return out[0]

    def score(self, X, lengths=None):
        """Conditional Gaussian log-likelihood under sigma_u_mle_, summed over sequences.

        Each sequence is scored given its first p rows; on the training data this equals
        statsmodels' ``llf``.

        Parameters
        ----------
        X : array-like of shape (N, k)
            The sequences concatenated (each longer than p).
        lengths : array-like of int, default=None
            Their lengths; None: X is one sequence.

        Returns
        -------
        log_likelihood : float
        """
        self._check_fitted()
        self._setup()
        Y = self._as_series(X, n_features=self.n_features_in_)
        offsets = check_lengths(lengths, Y.shape[0])
        lens = np.diff(offsets)
        p, k = self.order_, self.n_features_in_
        short = np.flatnonzero(lens <= p)
        if short.size:
            i = int(short[0])
            raise ValueError(f"X: sequence {i} has {int(lens[i])} observations; a VAR({p}) needs more than {p}")
        sse = self._sse_kernel(Y, offsets, self.params_[None], np.full(lens.size, p)).sum(axis=0)
        nobs = float(np.sum(lens - p))
        sign, ld = np.linalg.slogdet(self.sigma_u_mle_)
        quad = np.trace(np.linalg.solve(self.sigma_u_mle_, sse))
        return self._finite_score(float(-0.5 * nobs * k * np.log(2 * np.pi) - 0.5 * nobs * ld - 0.5 * quad), Y)


def _check_residual_covariance(sigma, nobs, k, n_regressors):
    """Refuse a fit whose residual covariance is singular: its log-likelihood would be +inf and its
    criteria -inf (statsmodels raises too). With nobs - n_regressors < k residual degrees of freedom
    it has rank below k whatever the data; collinear series make it singular numerically."""
    df = nobs - n_regressors
    eig = np.linalg.eigvalsh(0.5 * (sigma + sigma.T))
    if df >= k and eig[0] > k * np.finfo(np.float64).eps * max(eig[-1], 0.0):
        return
    rank = int(np.sum(eig > k * np.finfo(np.float64).eps * max(eig[-1], 0.0)))
    why = (f"{nobs} observations leave {max(df, 0)} residual degrees of freedom after {n_regressors} "
           f"regressors per equation, fewer than the {k} series" if df < k else
           "some series are (nearly) linear combinations of the others and the lags")
    raise ValueError(f"X: the residual covariance is singular (rank {rank} of {k}): {why}. Use fewer "
                     f"series or a lower order, or fit more observations")
