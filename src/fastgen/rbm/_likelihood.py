"""The RBM family's partition function and likelihood: exact log Z by enumerating the smaller
layer, annealed importance sampling (``ais_betas``, ``ais_log_partition``) and the test
log-likelihood that uses them, as a mixin of ``BaseRBM``."""
from __future__ import annotations

import hashlib
import numbers

import numpy as np

from .._validation import check_allocation, check_int

MAX_EXACT_UNITS = 20  # log_partition enumerates 2^m states of the smaller layer: m <= 20


def ais_betas(n_betas=14500):
    """Salakhutdinov & Murray's (2008) annealing schedule: 500 temperatures spaced uniformly on
    [0, 0.5), 4,000 on [0.5, 0.9) and 10,000 on [0.9, 1] (scaled in proportion to ``n_betas``),
    starting at exactly 0 and ending at exactly 1: ``n_betas`` + 1 values.

    Parameters
    ----------
    n_betas : int, default=14500
        Number of annealing steps (>= 3).

    Returns
    -------
    betas : ndarray of shape (n_betas + 1,)
        Non-decreasing inverse temperatures, for ``ais_log_partition(betas=...)``.

    Examples
    --------
    >>> from fastgen.rbm import ais_betas
    >>> ais_betas(10).round(2).tolist()
    [0.0, 0.5, 0.63, 0.77, 0.9, 0.92, 0.93, 0.95, 0.97, 0.98, 1.0]
    >>> len(ais_betas())
    14501
    """
    if not isinstance(n_betas, numbers.Integral) or isinstance(n_betas, bool) or n_betas < 3:
        raise ValueError(f"n_betas: expected an integer >= 3, got {n_betas!r}")
    n1 = max(1, round(n_betas * 500 / 14500))
    n2 = max(1, round(n_betas * 4000 / 14500))
    n3 = max(1, n_betas - n1 - n2)
    return np.concatenate([np.linspace(0.0, 0.5, n1, endpoint=False), np.linspace(0.5, 0.9, n2, endpoint=False),
                           np.linspace(0.9, 1.0, n3 + 1)])


class PartitionMixin:
    """log Z (exact or AIS) and the log-likelihood of an RBM (``BaseRBM`` supplies the model)."""

    def log_partition(self):
        """Exact log Z, by enumerating the smaller layer (at most 20 units; Gaussian visibles:
        the hidden layer, the visibles are integrated out).

        Returns
        -------
        log_z : float
            log Z, computed in float64.

        Raises
        ------
        ValueError
            When the layer to enumerate has more than 20 units (use ``ais_log_partition``).
        """
        self._ready()
        H, V = self.components_.shape
        over_hidden = self._gaussian or H <= V
        m = H if over_hidden else V
        if m > MAX_EXACT_UNITS:
            layer = "hidden layer" if self._gaussian else "smaller layer"
            raise ValueError(f"log_partition: exact enumeration needs the {layer} to have at most "
                             f"{MAX_EXACT_UNITS} units, got {m}; use ais_log_partition() for an estimate")
        W, b_h, b_v, sigma = self._params()
        return float(self._kern.rbm.log_partition(W, b_h, b_v, sigma, over_hidden))

    def _base_visible(self):
        base = getattr(self, "_base_b_v", None)
        if base is None or base.shape != self.intercept_visible_.shape:
            base = self.intercept_visible_
        return np.ascontiguousarray(base, dtype=self._backend.dtype)

    def ais_log_partition(self, n_chains=100, betas=None, random_state=None):
        """Annealed importance sampling estimate of log Z (Salakhutdinov & Murray 2008):
        (log_z, standard_error). betas: increasing temperatures from 0 to 1 (default ais_betas(),
        14,500 steps); the base model has the data's visible marginals (from fit) and no weights.

        Parameters
        ----------
        n_chains : int, default=100
            Number of independent AIS runs (>= 1).
        betas : array-like of shape (n_steps + 1,), default=None
            Inverse temperatures: finite, non-decreasing, from exactly 0 to exactly 1; None:
            ``ais_betas()``.
        random_state : None, int or numpy RandomState, default=None
            None: the model's own Philox key and fresh streams; else a key from it.

        Returns
        -------
        log_z : float
            The estimate of log Z.
        stderr : float
            Standard error of the mean importance weight relative to that mean (about the
            standard error of log_z).
        """
        self._ready()
        n_chains = check_int(n_chains, "n_chains", 1)
        H, V = self.components_.shape
        check_allocation("n_chains", self._backend.dtype.itemsize * 4 * n_chains * (H + V),
                         f"{n_chains} AIS chains x {H + V} units")
        betas = ais_betas() if betas is None else np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError(f"betas: expected a 1-D array of at least 2 temperatures, got shape {betas.shape}")
        if not np.isfinite(betas).all() or betas[0] != 0.0 or betas[-1] != 1.0 or (np.diff(betas) < 0).any():
            raise ValueError("betas: must be finite, non-decreasing, start at 0 and end at 1")
        seed, first, owner = self._seed_for(random_state)
        K = len(betas) - 1
        stream = owner._streams.take(2 * K) if owner is not None else first
        W, b_h, b_v, sigma = self._params()
        a = self._base_visible()
        log_w = self._backend.host(self._kern.rbm.ais(W, b_h, b_v, sigma, self._backend.put(a), np.ascontiguousarray(betas),
                                                    n_chains, seed, stream)).astype(np.float64)
        return self._ais_estimate(log_w, a.astype(np.float64))

    def _ais_estimate(self, log_w, a):
        H = self.components_.shape[0]
        log_z0 = H * np.log(2.0) + self._log_z_base(a)
        m = log_w.max()
        w = np.exp(log_w - m)
        log_z = log_z0 + m + np.log(w.mean())
        stderr = float(w.std() / (np.sqrt(len(w)) * w.mean()))
        return float(log_z), stderr

    def _log_z_base(self, a):
        raise NotImplementedError

    def _fingerprint(self):
        h = hashlib.blake2b(digest_size=16)
        for a in (self.components_, self.intercept_hidden_, self.intercept_visible_, self._sigma_arg()):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def _log_z(self, n_chains=100, betas=None):
        """log Z for score(): exact when the smaller layer is small enough, else AIS (cached)."""
        H, V = self.components_.shape
        key = self._fingerprint()
        # One dict per fit, updated in place: scoring fills a cache but leaves the model's attributes
        # as they were (scikit-learn's check_dict_unchanged).
        cache = self.__dict__.setdefault("_z_cache", {})
        if cache.get("key") == key:
            return cache["log_z"]
        m = H if (self._gaussian or H <= V) else V
        log_z = self.log_partition() if m <= MAX_EXACT_UNITS else self.ais_log_partition(n_chains, betas)[0]
        cache.update(key=key, log_z=log_z)
        return log_z

    def log_likelihood(self, X):
        """log p(v) = -F(v) - log Z per sample (log Z exact or AIS; see score).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(v) of each sample, in float64.
        """
        F = self.free_energy(X).astype(np.float64)
        return -F - self._log_z()

    def score(self, X, y=None):
        """Mean log-likelihood of X: -F(v) - log Z, with log Z exact (smaller layer <= 20 units) or
        estimated by AIS (ais_log_partition with its defaults; cached until the parameters change).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        score : float
            The mean of ``log_likelihood(X)``.
        """
        return float(self.log_likelihood(X).mean())
