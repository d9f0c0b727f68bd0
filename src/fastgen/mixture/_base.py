"""The Gaussian mixture family's shared machinery: hyper-parameter checks, initial
responsibilities, the EM loop (n_init restarts, warm start, verbose output, convergence),
inference and sampling, following scikit-learn's sklearn/mixture/_base.py.

Each model (fastgen.mixture) supplies only its parameter bookkeeping: initialisation and M-step
from the kernel moments, its per-component log-weights, its lower bound and the parameter tuple
kept for the best restart. All data-sized work runs in kernels (fastgen._core on the CPU,
fastgen._cuda on GPUs): the component log-densities (gaussian_logprob_full / _diag), the
responsibilities (mixture_responsibilities), the moments (weighted_moments), k-means and
sampling. On CUDA the data stay on the device for the whole fit, and device input never leaves
it (the column mean, the shift and k-means run there through fastgen._reductions); only K-sized
moments come back.
"""
from __future__ import annotations

import numbers
from time import time

import numpy as np

from .._backend import Backend
from .._base import BaseEstimator
from .._gaussian import COVARIANCE_TYPES
from .._params import Interval, Options, validate_params
from .._warnings import warn as _warn
from ..exceptions import ConvergenceWarning
from .. import _reductions as rd
from ._kmeans import kmeans
from ._gaussian import Moments, covariance_cholesky_lower, kernel_precisions, moments_order
from .._validation import check_allocation, check_random_state, philox_seed

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
# Philox streams: k-means++ seeding (one seed per initialisation), sampling (labels; normals on +1).
STREAM_KMEANS_PP, STREAM_SAMPLE = 0, 2


class _Compute(Backend):
    """The estimator's backend for one call, with the dtype limits the mixture kernels need."""

    def __init__(self, device, dtype):
        super().__init__(device, dtype)
        self.eps = float(np.finfo(self.dtype).eps)
        self.data_s2 = None  # sum of (x - c)(x - c)^T over the fit data, for tied covariances

    def put_data(self, X, what, shift=None):
        """The (finite, float32 or float64; host or device) data X, less `shift` (in float64) when
        given, in the compute dtype on the device. float32 must hold them: values past its range
        would become inf, and when every |x| is below the square root of its smallest normal
        number their squares (variances, precisions) leave its range, or the values themselves
        flush to zero (a silent fit of zeros): an error naming X, not inf log-densities or a
        meaningless fit later.

        Host data are shifted and converted a block of rows at a time into the result, so that no
        data-sized float64 temporary exists beside it (a float32 fit holds no float64 copy)."""
        check = self.dtype == np.float32 and X.size > 0
        if rd.on_device(X):
            X = X if shift is None else rd.shifted(X, shift, self)
            if check:
                self._check_range(rd.abs_max(X, self), what)
            return self.put(X)
        if check:  # the whole range first: the error names the largest |x|, and nothing overflows a cast
            self._check_range(max(float(np.abs(X[rows] if shift is None else X[rows] - shift).max())
                                  for rows in rd.row_blocks(X.shape[0], 8 * X.shape[1])), what)
        if shift is None and X.dtype == self.dtype:
            return self.put(X)
        return self.put(rd.shifted(X, shift, self, self.dtype))

    @staticmethod
    def _check_range(top, what):
        info = np.finfo(np.float32)
        low = float(info.tiny) ** 0.5
        if top > float(info.max) or 0 < top < low:
            raise ValueError(f"X: {what} spans up to |x| = {top:.3g}, outside what dtype=float32 holds "
                             f"({low:.3g} to {float(info.max):.3g}); use dtype=np.float64 or rescale X")

    @staticmethod
    def host(a, dtype=np.float64):
        return Backend.host(a, dtype)


class BaseMixture(BaseEstimator):
    """EM / variational EM for Gaussian mixtures with scikit-learn's API plus `device` and `dtype`."""

    _fitted_attr = "means_"
    # scikit-learn's estimator type (BaseEstimator.__sklearn_tags__): its model-selection tools
    # (clone, GridSearchCV, cross_val_score) treat the mixtures as density estimators.
    _estimator_type = "density_estimator"
    # scikit-learn's constraints (sklearn.mixture._base.BaseMixture), checked in fit.
    _parameter_constraints = {
        "n_components": [Interval(numbers.Integral, 1, None)],
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "tol": [Interval(numbers.Real, 0, None)],
        "reg_covar": [Interval(numbers.Real, 0, None)],
        "max_iter": [Interval(numbers.Integral, 0, None)],
        "n_init": [Interval(numbers.Integral, 1, None)],
        "init_params": [Options(*INIT_PARAMS)],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["boolean", Interval(numbers.Integral, 0, None)],  # scikit-learn takes verbose=True as 1
        "verbose_interval": [Interval(numbers.Integral, 1, None)],
    }

    def _base_init(self, n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params,
                   random_state, warm_start, verbose, verbose_interval, device, dtype):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device
        self.dtype = dtype

    # -- checks ---------------------------------------------------------------------------------
    def _validate_X(self, cp, X, *, fitting):
        """Finite 2-D data where they live (a device array stays on cp's device), in float64, or
        float32 when both X and the compute dtype are (the float32 path never holds a float64 copy
        of the data); on predict, as many features as the fit saw."""
        names = getattr(X, "columns", None)
        n_features = None if fitting else getattr(self, "n_features_in_", np.shape(self.means_)[-1])
        X = cp.check_array(X, n_features=n_features, dtype=cp.data_dtype(X))
        if fitting:
            N = X.shape[0]
            if N < 2:
                # "n_samples=1": scikit-learn's estimator checks look for the count in the message.
                raise ValueError(f"X: expected at least 2 samples to fit a mixture, got n_samples={N}")
            if N < self.n_components:
                raise ValueError(f"X: expected n_samples >= n_components, got n_samples = {N}, "
                                 f"n_components = {self.n_components}")
            self.n_features_in_ = X.shape[1]
            if names is not None and all(isinstance(c, str) for c in names):
                self.feature_names_in_ = np.asarray(list(names), dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return X

    # -- the fit loop (scikit-learn's BaseMixture.fit_predict) ------------------------------------
    def fit(self, X, y=None):
        """Estimate the parameters with EM (variational EM for the Bayesian mixture).

        Fits n_init times from fresh initialisations (once, continuing from the last fit, when
        warm_start is set and the model is fitted) and keeps the one with the largest lower bound.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a CUDA device array with ``device="cuda"``).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C (the kernels stop within a fraction of a second); the estimator is left as
            it was before ``fit`` (an interrupted fit has not chosen among its ``n_init`` runs).
        """
        self._fit(X)
        return self

    def fit_predict(self, X, y=None):
        """fit(X), then the component labels of X (consistent with fit(X).predict(X)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The most probable component of each sample after a final E-step.
        """
        cp, Xk, shift = self._fit(X)
        # A final E-step, so that fit_predict(X) agrees with fit(X).predict(X) whatever max_iter and tol.
        return self._labels(cp, Xk, shift)

    def _fit(self, X):
        """scikit-learn's fit loop; returns the compute context and the shifted data on the device.
        All or nothing: an exception (Ctrl-C included) leaves the estimator as it was before."""
        with self._all_or_nothing():
            return self._fit_runs(X)

    def _fit_runs(self, X):
        self._validate_params()
        cp = _Compute(self.device, self.dtype)
        X = self._validate_X(cp, X, fitting=True)
        N, D = X.shape
        self._check_parameters(X)
        K, full = self.n_components, self.covariance_type in ("full", "tied")
        # the shifted data, a few N x K per-sample arrays, the (co)variances, precisions and moments
        check_allocation("n_components", 8 * N * D + cp.dtype.itemsize * 3 * N * K + 8 * 4 * K * D * (D if full else 1),
                         f"{K} components of {D} features ({self.covariance_type} covariances) over {N} samples")
        shift = rd.column_mean(X, cp)
        # The data, shifted once by their column mean, live on the device for the whole fit.
        Xk = cp.put_data(X, "the data about their column mean", shift)
        data = self._moments(cp, Xk, cp.put(np.ones((N, 1), dtype=cp.dtype)), shift)
        if self.covariance_type == "tied":
            cp.data_s2 = data.s2[0]
        self._check_data_parameters(data, N)
        self._kernel_dtype = cp.dtype
        self._collapse_floor = self._collapse_variance(data, N, cp.dtype)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound, best_lower_bounds = -np.inf, []
        best_params, best_n_iter, best_collapsed = None, 0, ()
        self.converged_ = False
        random_state = check_random_state(self.random_state)
        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            if do_init:
                self._initialize_parameters(cp, X, Xk, shift, random_state)
            self._collapsed = ()  # set by GaussianMixture's M-step
            lower_bound = -np.inf if do_init else self.lower_bound_
            current_lower_bounds = []
            if self.max_iter == 0:
                best_params, best_n_iter = self._get_parameters(), 0
                continue
            converged = False
            for n_iter in range(1, self.max_iter + 1):
                prev_lower_bound = lower_bound
                estep = self._e_step(cp, Xk, shift)
                self._m_step(estep["moments"])
                lower_bound = self._compute_lower_bound(estep, N)
                current_lower_bounds.append(lower_bound)
                change = lower_bound - prev_lower_bound
                self._print_verbose_msg_iter_end(n_iter, change)
                if abs(change) < self.tol:
                    converged = True
                    break
            self._print_verbose_msg_init_end(lower_bound, converged)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best_params, best_n_iter = self._get_parameters(), n_iter
                best_lower_bounds = current_lower_bounds
                best_collapsed = self._collapsed
                self.converged_ = converged
        if not self.converged_ and self.max_iter > 0:
            _warn("Best performing initialization did not converge. Try different init parameters, or increase "
                  "max_iter, tol, or check for degenerate data.", ConvergenceWarning)
        if len(best_collapsed):
            which = ("the tied covariance" if self.covariance_type == "tied"
                     else f"components {np.asarray(best_collapsed).tolist()}")
            _warn(f"{type(self).__name__}: {which} collapsed (singular before reg_covar: fewer distinct points than "
                  f"dimensions, or a feature constant within a component); along the collapsed directions the "
                  f"variance is reg_covar = {self.reg_covar:g}. Consider fewer components, a larger reg_covar, or "
                  f"removing duplicate points or constant features.", RuntimeWarning)
        self._set_parameters(best_params)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds
        return cp, Xk, shift

    def _moments(self, cp, Xk, weights_k, shift) -> Moments:
        sums = cp.kernels.emissions.weighted_moments(Xk, weights_k, moments_order(self.covariance_type))
        return self._host_moments(cp, sums, shift)

    def _host_moments(self, cp, sums, shift) -> Moments:
        """Moments from the kernels' (nk, s1, s2), checked for overflow."""
        nk, s1, s2 = sums
        m = Moments(cp.host(nk), cp.host(s1), cp.host(s2), shift, cp.eps, cp.data_s2)
        if not (np.isfinite(m.nk).all() and np.isfinite(m.s1).all() and np.isfinite(m.s2).all()):
            # The kernels sum in float64 but return the compute dtype: float32 holds sums of
            # squares only up to 3.4e38 (|x - mean| ~ 1e18 over a few hundred rows).
            name = np.dtype(cp.dtype).name
            raise ValueError(f"X: the weighted moments of the data overflow {name} (sums of squared deviations "
                             f"from the column mean past its range); "
                             + ("use dtype=np.float64 or rescale X" if name == "float32" else "rescale X"))
        return m

    def _collapse_variance(self, data: Moments, N, dtype):
        """Variance given to a component whose covariance is not positive-definite: reg_covar, or
        with reg_covar = 0, 1e-6 of the data's mean variance; never below the square root of the
        compute dtype's smallest normal number, so that its precision factor stays finite there
        (all rows identical have variance 0; a singular Gaussian has no density)."""
        least = float(np.finfo(dtype).tiny) ** 0.5
        if self.reg_covar > 0:
            return max(float(self.reg_covar), least)
        var = data.s2 if data.s2.ndim == 2 else np.diagonal(data.s2, axis1=1, axis2=2)
        scale = float(np.mean(var[0] / N - (data.s1[0] / N) ** 2))
        return max(1e-6 * scale, least)

    # -- initialisation (scikit-learn's BaseMixture._initialize_parameters) ----------------------
    def _initial_resp(self, cp, X, Xk, shift, random_state):
        """Initial responsibilities (N, K) on the device, drawn as scikit-learn draws them for
        'random' and 'random_from_data' (same random_state, same numbers); k-means and k-means++
        run on the shared kernels with Philox seeds drawn from random_state."""
        N, K = X.shape[0], self.n_components
        if self.init_params == "random":
            resp = random_state.uniform(size=(N, K))
            resp /= resp.sum(axis=1)[:, None]
            return cp.put(resp)
        if self.init_params == "kmeans":
            # Distances on the compute device, in the compute dtype (Xk): the same labels on both
            # backends. The centre updates and the labels stay where X lives (device X: the device).
            _, labels = kmeans(X, K, random_state, n_init=1, return_labels=True, backend=cp, Xd=Xk, shift=shift)
            return cp.put(rd.one_hot(labels, K, cp))
        if self.init_params == "random_from_data":
            indices = random_state.choice(N, size=K, replace=False)
        else:  # k-means++
            n_local_trials = 2 + int(np.log(K))
            _, indices = cp.kernels.mixture.kmeans_plusplus(Xk, K, n_local_trials, philox_seed(random_state), STREAM_KMEANS_PP)
            indices = cp.host(indices, np.int64)
        resp = np.zeros((N, K), dtype=cp.dtype)  # (0 and 1 exact in the compute dtype: put copies nothing)
        resp[indices, np.arange(K)] = 1
        return cp.put(resp)

    def _initialize_parameters(self, cp, X, Xk, shift, random_state):
        resp_k = self._initial_resp(cp, X, Xk, shift, random_state)
        self._initialize(self._moments(cp, Xk, resp_k, shift), X.shape[0])

    # -- E-step through the kernels ---------------------------------------------------------------
    def _kernel_parameters(self, shift):
        """(means in shifted coordinates, precisions as the Gaussian kernels take them)."""
        K, D = self.means_.shape
        return (np.asarray(self.means_, dtype=np.float64) - shift,
                kernel_precisions(self.precisions_cholesky_, self.covariance_type, K, D))

    def _component_logprob(self, cp, Xk, shift):
        """log N(x_n | mu_k, Sigma_k) (N, K) on the device, from the shared Gaussian kernels."""
        means, kp = self._kernel_parameters(shift)
        if self.covariance_type in ("full", "tied"):
            return cp.kernels.emissions.gaussian_logprob_full(Xk, cp.put(means), cp.put(kp))
        return cp.kernels.emissions.gaussian_logprob_diag(Xk, cp.put(means), cp.put(kp))

    def _e_step(self, cp, Xk, shift):
        """The fused E-step kernel (no N x K array): sum of log p(x_n) and the responsibility-weighted
        moments under the current parameters; returns what the M-step and the lower bound need (the
        parameters used, sum of log p(x_n), moments)."""
        lw = self._log_weights()
        means_s, kp = self._kernel_parameters(shift)
        fused = (cp.kernels.mixture.e_step_full if self.covariance_type in ("full", "tied")
                 else cp.kernels.mixture.e_step_diag)
        try:
            log_norm_sum, *sums = fused(Xk, cp.put(means_s), cp.put(kp), cp.put(lw))
        except ValueError as exc:
            raise self._row_error(exc, 0) from None
        return {"moments": self._host_moments(cp, sums, shift), "log_norm_sum": float(log_norm_sum),
                "log_weights": lw, "means_s": means_s, "precisions_cholesky": self.precisions_cholesky_,
                "kernel_precisions": kp}

    def _responsibilities(self, cp, comp, log_weights, want_resp, in_place=False, row0=0):
        """mixture_responsibilities, its row check reported in the estimator's terms (comp holds the
        rows from row0 on)."""
        try:
            return cp.kernels.mixture.responsibilities(comp, cp.put(log_weights), want_resp, in_place)
        except ValueError as exc:
            raise self._row_error(exc, row0) from None

    def _row_error(self, exc, row0):
        """A kernel's "comp_logprob: row n ..." in the estimator's terms (the rows from row0 on)."""
        if not str(exc).startswith("comp_logprob: row"):
            return exc
        return self._overflow_error(int(str(exc).split()[2]) + row0)

    def _overflow_error(self, row):
        return ValueError(f"X: the component log-densities of row {row} overflowed (+inf or NaN) in "
                          f"{np.dtype(self.dtype).name}: the data lie too far from a component for its covariance "
                          f"(or beyond the dtype's range); rescale X, raise reg_covar, or use dtype=np.float64")

    def _row_blocks(self, N):
        """Slices of rows for the inference methods' log-densities, block by block: rows are
        independent there, and an N x K array would be scratch. Multiples of the kernels' 256-row
        blocks, so every row is computed as in one call."""
        return rd.row_blocks(N, 8 * self.n_components, align=256)

    def _labels(self, cp, Xk, shift):
        """argmax_k of log N(x_n | k) + log-weight_k (scikit-learn's predict)."""
        lw = self._log_weights()
        labels = np.empty(Xk.shape[0], dtype=np.intp)
        for rows in self._row_blocks(Xk.shape[0]):
            comp = cp.host(self._component_logprob(cp, Xk[rows], shift)) + lw
            bad = np.isnan(comp) | (comp == np.inf)
            if bad.any():
                raise self._overflow_error(rows.start + int(np.argmax(bad.any(axis=1))))
            labels[rows] = np.argmax(comp, axis=1)
        return labels

    # -- inference (scikit-learn's BaseMixture) ------------------------------------------------------
    def _prepare(self, X):
        self._check_fitted()
        validate_params(self, {"covariance_type": self._parameter_constraints["covariance_type"]})
        cp = _Compute(self.device, self.dtype)
        X = self._validate_X(cp, X, fitting=False)
        return cp, cp.put_data(X, "the data"), np.zeros(X.shape[1])

    def score_samples(self, X):
        """Log-likelihood of each sample under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(x) of each sample (for the Bayesian mixture: under its variational parameters).
        """
        cp, Xk, shift = self._prepare(X)
        lw = self._log_weights()
        log_prob = np.empty(Xk.shape[0])
        for rows in self._row_blocks(Xk.shape[0]):
            comp = self._component_logprob(cp, Xk[rows], shift)
            log_prob[rows] = cp.host(self._responsibilities(cp, comp, lw, False, row0=rows.start)[0])
        return log_prob

    def score(self, X, y=None):
        """Mean log-likelihood of the samples of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        log_likelihood : float
            The mean of ``score_samples(X)``.
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """The most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices.
        """
        cp, Xk, shift = self._prepare(X)
        return self._labels(cp, Xk, shift)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            The responsibilities; each row sums to 1.
        """
        cp, Xk, shift = self._prepare(X)
        comp = self._component_logprob(cp, Xk, shift)
        _, resp = self._responsibilities(cp, comp, self._log_weights(), True, in_place=True)
        return cp.host(resp)

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted mixture, grouped by component as scikit-learn returns them.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (>= 1).
        random_state : None, int or numpy RandomState, default=None
            Keys the Philox numbers (None: the estimator's ``random_state``), so an int gives the
            same samples on any device and thread count.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples.
        labels : ndarray of shape (n_samples,)
            The component of each sample (sorted).
        """
        self._check_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples: expected a positive integer, got {n_samples!r}")
        cp = _Compute(self.device, self.dtype)
        K, D = self.means_.shape
        check_allocation("n_samples", int(n_samples) * (3 * 8 * D + 16), f"{n_samples} samples of {D} features")
        L = covariance_cholesky_lower(np.asarray(self.covariances_, dtype=np.float64), self.covariance_type, K, D)
        seed = philox_seed(self.random_state if random_state is None else random_state)
        Xs, labels = cp.kernels.mixture.sample_gaussian_mixture(cp.put(self.weights_), cp.put(self.means_), cp.put(L),
                                                     int(n_samples), seed, STREAM_SAMPLE)
        labels = cp.host(labels, np.int64)
        order = np.argsort(labels, kind="stable")
        return cp.host(Xs)[order], labels[order]

    # -- verbose output (scikit-learn's messages) -------------------------------------------------
    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose >= 1:
            print(f"Initialization {n_init}")
        if self.verbose >= 2:
            self._init_prev_time = self._iter_prev_time = time()

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            elif self.verbose >= 2:
                cur_time = time()
                print(f"  Iteration {n_iter}\t time lapse {cur_time - self._iter_prev_time:.5f}s\t "
                      f"ll change {diff_ll:.5f}")
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, converged):
        msg = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {msg}.")
        elif self.verbose >= 2:
            print(f"Initialization {msg}. time lapse {time() - self._init_prev_time:.5f}s\t lower bound {lb:.5f}.")

    # -- pickling: nothing device- or process-bound is kept on the estimator ----------------------
    def __getstate__(self):
        state = super().__getstate__()
        for k in ("_init_prev_time", "_iter_prev_time"):
            state.pop(k, None)
        return state
