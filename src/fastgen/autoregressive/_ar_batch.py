"""``ARBatch``: the result of ``AR.fit_many``, thousands of independent AR fits held as arrays, with
batched forecasts and simulations (one kernel call each, whatever the number of series).

Series s has its own order orders_[s] <= P (P = the largest); per-series parameter arrays are
zero-padded to P lags, which the kernels read as absent lags.
"""
from __future__ import annotations

import copy

import numpy as np

from ._ar_stats import ar_roots, lag_matrices, spectral_radius


class ARBatch:
    """Independent AR fits of S series (the result of ``AR.fit_many``).

    Made by ``AR.fit_many``, not by users. Series s has its own order orders_[s] <= P (P = the
    largest); per-series parameter arrays are zero-padded to P lags. ``batch[s]`` is series s's fit
    as a fitted ``AR``; ``len(batch)`` is S. ``forecast`` and ``simulate`` run one kernel call for
    all the series.

    Parameters
    ----------
    model : AR
        The estimator whose settings (trend, method, device, dtype) made the fits (copied).
    Y : ndarray of shape (N, 1)
        The series concatenated.
    offsets : ndarray of int64, shape (S + 1,)
        Where each series starts in Y (and N last).
    orders : ndarray of int, shape (S,)
        The fitted order of each series.
    params : ndarray of shape (S, kt + P)
        statsmodels' params per series, zero-padded.
    stats : dict
        Per-series "sigma2", "nobs", "llf", "aic", "bic", "hqic" and "stationary" arrays.
    table : dict of ndarray or None
        The order-selection criteria, (S, max_order + 1) each.

    Attributes
    ----------
    orders_ : ndarray of int64, shape (S,)
        The order of each series.
    params_ : ndarray of shape (S, kt + P)
        statsmodels' params per series, zero-padded.
    coef_ : ndarray of shape (S, P)
        phi_1..phi_P (zero past the series' order).
    trend_coef_ : ndarray of shape (S, kt)
        The trend coefficients.
    intercept_ : ndarray of shape (S,)
        The constants (zeros without "c").
    sigma2_, llf_, aic_, bic_, hqic_ : ndarray of shape (S,)
        As ``AR``'s, per series.
    nobs_ : ndarray of int64, shape (S,)
        As ``AR``'s, per series.
    is_stationary_ : ndarray of bool, shape (S,)
        Schur-Cohn test of each lag polynomial.
    spectral_radius_ : ndarray of shape (S,)
        Largest companion eigenvalue modulus (computed on first access).
    order_criteria_ : dict of str to ndarray of shape (S, max_order + 1), or None
        Every order's criteria when the orders were selected.
    y_tail_ : ndarray of shape (S, P)
        The last P observations of each series (oldest first; zeros before a series' start).
    series_length_ : ndarray of int64, shape (S,)
        The length of each series.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.autoregressive import AR
    >>> e = np.random.default_rng(0).normal(size=450)
    >>> y = np.zeros(450)
    >>> for t in range(1, 450):
    ...     y[t] = 0.5 * y[t - 1] + e[t]
    >>> batch = AR(order=1, device="cpu").fit_many(y, [300, 150])
    >>> len(batch), batch.coef_.shape, batch.is_stationary_.tolist()
    (2, (2, 1), [True, True])
    >>> mean, se = batch.forecast(4)
    >>> mean.shape, batch.simulate(5, n_paths=3, random_state=0).shape
    ((2, 4), (2, 3, 5))
    >>> batch[1].order_
    1
    """

    def __init__(self, model, Y, offsets, orders, params, stats, table):
        self._model = copy.copy(model)  # settings (trend, method, device, dtype) and the kernels
        kt = model._kt
        S = orders.size
        P = params.shape[1] - kt
        self.orders_ = orders.astype(np.int64)
        self.params_ = params.copy()
        self.coef_ = params[:, kt:].copy()
        self.trend_coef_ = params[:, :kt].copy()
        self.intercept_ = params[:, 0].copy() if "c" in model._trend else np.zeros(S)
        self.sigma2_ = np.asarray(stats["sigma2"], np.float64)
        self.nobs_ = np.asarray(stats["nobs"]).astype(np.int64)
        for name in ("llf", "aic", "bic", "hqic"):
            setattr(self, name + "_", np.asarray(stats[name], np.float64))
        self.is_stationary_ = np.asarray(stats["stationary"], bool)
        self._spectral_radius = None
        self.order_criteria_ = table
        lengths = np.diff(offsets)
        self.series_length_ = lengths.astype(np.int64)
        # Last P rows of each series, zero-padded in front: rows offsets[s + 1] - P + i, i < P.
        idx = offsets[1:, None] - P + np.arange(P)[None, :]
        valid = idx >= offsets[:-1, None]
        tail = model._host_rows(Y, np.clip(idx, 0, None).ravel())[:, 0].reshape(S, P) if P else 0.0
        self.y_tail_ = np.where(valid, tail, 0.0).reshape(S, P)

    @property
    def spectral_radius_(self):
        """Largest companion eigenvalue modulus of each series (< 1 iff stationary), (S,)."""
        if self._spectral_radius is None:
            kt = self._model._kt
            P = self.params_.shape[1] - kt
            self._spectral_radius = spectral_radius(lag_matrices(self.params_[:, :, None], kt, 1, P))
        return self._spectral_radius

    def __len__(self):
        """The number of series S."""
        return int(self.orders_.size)

    def __getitem__(self, s):
        """Series s's fit as a fitted ``AR``.

        Parameters
        ----------
        s : int
            Series index (negative indices count from the end).

        Returns
        -------
        model : AR
            A fitted AR holding series s's parameters and statistics.
        """
        S = len(self)
        if not isinstance(s, (int, np.integer)) or isinstance(s, (bool, np.bool_)):
            raise TypeError(f"index: expected an integer series index, got {s!r}")
        if not -S <= s < S:
            raise IndexError(f"index: series {s} out of range for {S} series")
        s = int(s) % S
        m = self._model
        from ._ar import AR
        ar = AR(**m.get_params())
        p, kt = int(self.orders_[s]), m._kt
        ar.order_ = p
        ar.params_ = self.params_[s, :kt + p].copy()
        ar.coef_ = ar.params_[kt:].copy()
        ar.trend_coef_ = ar.params_[:kt].copy()
        ar.intercept_ = float(self.intercept_[s])
        for name in ("sigma2", "llf", "aic", "bic", "hqic"):
            setattr(ar, name + "_", float(getattr(self, name + "_")[s]))
        ar.spectral_radius_ = float(spectral_radius(ar.coef_.reshape(p, 1, 1)))
        ar.nobs_ = int(self.nobs_[s])
        ar.roots_ = ar_roots(ar.coef_)
        ar.order_criteria_ = None if self.order_criteria_ is None else {
            k: v[s].copy() for k, v in self.order_criteria_.items()}
        P = self.y_tail_.shape[1]
        ar.y_tail_ = self.y_tail_[s, P - p:].copy()
        ar.series_length_ = int(self.series_length_[s])
        ar.n_features_in_ = 1
        return ar

    def forecast(self, steps):
        """Forecasts of every series and their standard errors, in one kernel call.

        Parameters
        ----------
        steps : int
            Forecast horizon (>= 0).

        Returns
        -------
        mean, se : ndarray of shape (S, steps)
            Point forecasts and standard errors, as ``AR.forecast``'s per series.
        """
        m = self._model
        m._setup()
        steps = m._validate_steps(steps)
        S, P = self.y_tail_.shape
        mean, mse = m._forecast_kernel(self.params_[:, :, None], self.y_tail_[:, :, None], self.series_length_ + 1,
                                       self.sigma2_.reshape(S, 1, 1), steps)
        return mean[:, :, 0], np.sqrt(mse[:, :, 0, 0])

    def simulate(self, n_steps, n_paths=1, random_state=None):
        """Monte-Carlo continuations of every series, in one kernel call.

        Path j of series s uses Philox stream s * n_paths + j.

        Parameters
        ----------
        n_steps : int
            Length of each path (>= 0).
        n_paths : int, default=1
            Paths per series (>= 0).
        random_state : None, int or numpy RandomState, default=None
            Seeds the Philox key.

        Returns
        -------
        paths : ndarray of shape (S, n_paths, n_steps)
            The simulated values.
        """
        m = self._model
        m._setup()
        n_steps = m._validate_steps(n_steps, "n_steps")
        n_paths = m._validate_steps(n_paths, "n_paths")
        S, P = self.y_tail_.shape
        out = m._simulate_kernel(self.params_[:, :, None], np.sqrt(self.sigma2_).reshape(S, 1, 1),
                                 self.y_tail_[:, :, None], self.series_length_ + 1, n_steps, n_paths, random_state)
        return out[..., 0]
