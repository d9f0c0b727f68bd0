"""Shared machinery of the linear AR and VAR estimators: hyper-parameter checks, the kernel calls
(fit, order selection, residual sums of squares, forecasts, simulation) and the fitted state.

Kernels (``csrc/ar*.hpp`` on the CPU, ``_cuda/ar.py`` on GPUs) take a k-variate series Y (N, k)
with offsets; an AR is k = 1. Fitted parameters are float64 host arrays whatever ``dtype`` is
(``dtype`` sets how the data are stored and passed: float32 halves the traffic of the data pass,
whose sums are kept in float64 anyway). A series given as a device array stays there: it is
checked on the device (``Backend.check_array``), the kernels read it in place, and only the last
p rows (where forecasts start) and the kernels' small results (parameters, sums of squares per
series) come to the host, where the O(S P k^3) statistics are computed.
"""
from __future__ import annotations

import numbers
from statistics import NormalDist

import numpy as np

from .._backend import Backend, is_device_array
from .._reductions import abs_max
from .._params import Interval, Options
from ._ar_validation import (METHODS, TREND_CODE, TRENDS, YW_METHODS, check_order, check_series_lengths,
                             check_trend, n_trend, raise_on_status)
from .._base import BaseEstimator
from .._validation import check_allocation, philox_seed
from .._warnings import warn as _warn
from ..exceptions import StationarityWarning


class LinearARBase(BaseEstimator):
    """Common parts of AR and VAR. Subclasses define _criteria_names and _select_table (the
    order-selection criteria)."""

    _fitted_attr = "params_"

    _criteria_names: tuple = ()
    # "order" (an int >= 0 or one of the class's criteria): AR's and VAR's own dicts.
    _parameter_constraints = {
        "trend": [Options(*TRENDS)],
        "method": [Options(*METHODS)],
        "max_order": [None, Interval(numbers.Integral, 0, None)],  # required by a criterion order: check_order
        "yw_method": [Options(*YW_METHODS)],
    }

    # -- set-up ------------------------------------------------------------------------------------
    # AR and VAR take the same hyper-parameters (documented on each class).
    def __init__(self, order=1, trend="c", method="ols", max_order=None, yw_method="mle", device="auto",
                 dtype=np.float64):
        self.order = order
        self.trend = trend
        self.method = method
        self.max_order = max_order
        self.yw_method = yw_method
        self.device = device
        self.dtype = dtype

    def _setup(self):
        """Check the hyper-parameters and resolve device and dtype (in fit and every method)."""
        self._validate_params()
        self._method = self.method
        self._trend = check_trend(self.trend, self.method)
        self._order, self._criterion, self._max_order = check_order(self.order, self.max_order)
        self._backend = Backend(self.device, self.dtype)

    def _put(self, a):
        """`a` on the device in its own dtype (parameters and noise scales are float64 whatever the
        data's dtype); the validated series may already be there."""
        if not is_device_array(a):
            a = np.asarray(a)
        return self._backend.put(a, a.dtype)

    def _host_rows(self, Y, rows):
        """Y[rows] as a host array: NumPy indexing for a host Y; a device Y gathers the rows there
        (the nn family's ``take_rows``) and only they come back (the tails forecasts start from)."""
        if not is_device_array(Y):
            return Y[rows]
        return self._backend.host(self._kern.nn.take_rows(Y, self._backend.put(np.asarray(rows, np.int64))))

    def forecast_interval(self, steps, alpha=0.05):
        """Gaussian (1 - alpha) forecast intervals (statsmodels' ``forecast_interval``).

        mean -/+ z_{1 - alpha/2} se, with ``mean, se = self.forecast(steps)``.

        Parameters
        ----------
        steps : int
            Forecast horizon (>= 0).
        alpha : float, default=0.05
            Significance level, in (0, 1): 0.05 gives 95% intervals.

        Returns
        -------
        mean, lower, upper : ndarray
            Point forecasts and interval bounds, shaped like ``forecast``'s: (steps,) for an AR,
            (steps, k) for a VAR.
        """
        if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
            raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        mean, se = self.forecast(steps)
        return mean, mean - z * se, mean + z * se

    @property
    def _kt(self):
        return n_trend(self._trend)

    # -- kernel calls (arrays of many series) ------------------------------------------------------
    def _fit_kernel(self, Y, offsets, orders, all_orders=False):
        """(params (S, kt + P k, k), noise, status): noise = SSE (OLS) or the innovation covariance
        (Yule-Walker), (S, k, k), or (S, P + 1, k, k) for every order when all_orders."""
        Yd, od, pd = self._put(Y), self._put(offsets), self._put(np.ascontiguousarray(orders, dtype=np.int64))
        if self._method == "ols":
            res = self._kern.autoregressive.ar_ols(Yd, od, pd, TREND_CODE[self._trend], all_orders)
        else:
            res = self._kern.autoregressive.ar_yule_walker(Yd, od, pd, self._trend == "c", self.yw_method == "adjusted", all_orders)
        return tuple(self._backend.host(r) for r in res)

    def _sse_kernel(self, Y, offsets, params, orders):
        """SSE (S, k, k) of every sequence under params (1 or S, kt + P k, k) with orders (S,)."""
        res = self._kern.autoregressive.ar_sse(self._put(Y), self._put(offsets), self._put(np.ascontiguousarray(params)),
                                TREND_CODE[self._trend], self._put(np.ascontiguousarray(orders, dtype=np.int64)))
        return self._backend.host(res)

    def _forecast_kernel(self, params, y_last, t_next, sigma, steps):
        S, k = y_last.shape[0], y_last.shape[2]
        series = f" x {S} series" if S > 1 else ""
        # mean [S, steps, k] and mse [S, steps, k, k] in float64, plus the concatenated copy the
        # overflow check makes: refused before the kernel allocates them
        check_allocation("steps", 2 * 8 * S * int(steps) * (k + k * k),
                         f"{int(steps)} steps x {k} variable(s){series} (forecasts and their covariances)")
        res = self._kern.autoregressive.ar_forecast(self._put(np.ascontiguousarray(params)), TREND_CODE[self._trend],
                                     self._put(np.ascontiguousarray(y_last, dtype=np.float64)),
                                     self._put(np.ascontiguousarray(t_next, dtype=np.int64)),
                                     self._put(np.ascontiguousarray(sigma, dtype=np.float64)), int(steps))
        res = tuple(self._backend.host(r) for r in res)
        # explicit widths: steps=0 gives empty arrays, whose -1 reshape numpy cannot infer
        self._warn_overflow(np.concatenate([res[0].reshape(S, int(steps), k),
                                            res[1].reshape(S, int(steps), k * k)], axis=2), 1, "forecast")
        return res

    def _simulate_kernel(self, params, chol, y_last, t_next, n_steps, n_paths, random_state):
        S, k = y_last.shape[0], y_last.shape[2]
        series = f" x {S} series" if S > 1 else ""
        # (an empty result too: numpy cannot make a (0, 10**18) array)
        check_allocation("n_steps, n_paths", 2 * self._backend.dtype.itemsize * S * max(int(n_paths), 1)
                         * max(int(n_steps), 1) * k,
                         f"{int(n_paths)} paths x {int(n_steps)} steps x {k} variable(s){series}")
        if int(n_steps) == 0 or int(n_paths) == 0:   # nothing to draw (the kernel would still loop over 10**10 empty paths)
            return np.zeros((S, int(n_paths), int(n_steps), k), dtype=self._backend.dtype)
        seed = philox_seed(random_state)
        res = self._kern.autoregressive.ar_simulate(self._put(np.ascontiguousarray(params)), TREND_CODE[self._trend],
                                     self._put(np.ascontiguousarray(chol, dtype=np.float64)),
                                     self._put(np.ascontiguousarray(y_last, dtype=self._backend.dtype)),
                                     self._put(np.ascontiguousarray(t_next, dtype=np.int64)),
                                     int(n_steps), int(n_paths), seed, 0)
        res = self._backend.host(res)
        self._warn_overflow(res, 2, "simulate")
        return res

    def _warn_overflow(self, values, step_axis, what):
        """Say where an explosive model's forecasts or paths leave the floating-point range (they
        grow like spectral_radius_ ** step): the values from that step on are inf or NaN."""
        bad = ~np.isfinite(values)
        if not bad.any():
            return
        step = int(np.argmax(np.moveaxis(bad, step_axis, 0).reshape(values.shape[step_axis], -1).any(axis=1)))
        _warn(f"{what}: the fitted model is explosive (spectral radius {self.spectral_radius_:.6g} >= 1): its "
              f"values overflow {np.dtype(values.dtype).name} at step {step + 1} and are inf or NaN from there; "
              f"forecast fewer steps, or fit a stationary model (difference the series)", StationarityWarning)

    # -- the fit of one or many series ---------------------------------------------------------------
    def _fit_arrays(self, Y, offsets, what):
        """Order selection (when asked) and the fit of every series in Y (offsets).
        Returns (orders (S,), params, noise (S, k, k), criteria dict of (S, max_order + 1) or None)."""
        k = Y.shape[1]
        lengths = np.diff(offsets)
        S = lengths.size
        table = None
        if self._criterion is not None:
            P = self._max_order
            check_series_lengths(lengths, P, self._trend, k, self._method, what)
            _, noise_all, status = self._fit_kernel(Y, offsets, np.full(S, P, dtype=np.int64), all_orders=True)
            self._raise_on_status(status, Y, what, S)
            table = self._select_table(noise_all, lengths, P)
            crit = table[self._criterion]
            crit = np.where(np.isnan(crit), np.inf, crit)
            orders = np.argmin(crit, axis=1).astype(np.int64)  # first minimum: the lowest order on ties
        else:
            check_series_lengths(lengths, self._order, self._trend, k, self._method, what)
            orders = np.full(S, self._order, dtype=np.int64)
        params, noise, status = self._fit_kernel(Y, offsets, orders)
        self._raise_on_status(status, Y, what, S)
        return orders, params, noise, table

    def _finite_score(self, value, Y):
        """A log-likelihood, or the error saying why it is not finite: data so large that the sums of
        squared residuals overflow float64 (never a silent -inf or NaN score)."""
        if np.isfinite(value):
            return value
        big = abs_max(Y, self._backend)
        raise ValueError(f"X: values up to {big:.3g} make the sums of squared residuals overflow float64; "
                         f"score data on the scale the model was fitted on")

    def _raise_on_status(self, status, Y, what, n_series):
        """The kernels' failures as errors; a 'singular' regression of data so large that its sums of
        squares overflow float64 is reported as that overflow (the data's scale, not collinearity)."""
        try:
            raise_on_status(status, what, n_series)
        except ValueError as e:
            if "singular" not in str(e):
                raise
            big = abs_max(Y, self._backend)
            if not np.isfinite(big * big * Y.shape[0]):
                raise ValueError(f"{what}: values up to {big:.3g} overflow float64 in the sums of squares the fit "
                                 f"needs (|x|^2 n > {np.finfo(np.float64).max:.3g}); rescale the series, e.g. "
                                 f"divide it by its standard deviation (the AR coefficients do not change)") from None
            raise

    def _validate_steps(self, steps, name="steps"):
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, (bool, np.bool_)):
            raise TypeError(f"{name}: expected a non-negative integer, got {steps!r}")
        if steps < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {steps}")
        return int(steps)
