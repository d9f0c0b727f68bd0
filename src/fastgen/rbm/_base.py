"""The RBM family's shared machinery: CD/PCD training, Gibbs sampling, free energy, exact and
annealed-importance-sampling log partition functions.

Every loop over samples, chains or units runs in a kernel (``fastgen._core`` on the CPU,
``fastgen._cuda`` on GPUs; the ``rbm_*`` functions of csrc/KERNELS.md); this module only moves
arrays, loops over minibatches and keeps the Philox bookkeeping.

Random numbers: one Philox key (``_streams.seed``) per fitted model, drawn from ``random_state`` at the
start of ``fit`` (or the first ``partial_fit``); every kernel call that draws takes the next
unused streams (``_streams``, a ``Streams`` counter), so successive calls never reuse a uniform and the same
``random_state`` gives the same model, samples and scores on any thread count and backend. The one
exception is ``score_samples``' random unit per row: a stream reserved for it (``EVAL_STREAM``), so that
repeated calls agree (as scikit-learn's, which re-seeds from ``random_state``) and scoring during a
verbose fit leaves the training draws as they were.
Within ``fit``: per epoch one stream for the minibatch permutation (a stable argsort of its
uniforms), then per minibatch 2k streams (PCD-k: ``rbm_gibbs_hvh``) or 1 + 2k (CD-k: the
positive hidden draw, then the chain).

Data live where they are given: X is put on the device once per call (a device array given to a
CUDA backend is used in place, checked there by ``Backend.check_array``), each epoch's permutation
is gathered there (the nn family's ``take_rows``) and the minibatches are row slices of it; only
the permutation's uniforms (for the argsort) and results come to the host.
"""
from __future__ import annotations

import numbers
import sys
import time

import numpy as np

from .._backend import Backend, is_device_array
from .._base import BaseEstimator
from .._params import Interval, Options
from .._streams import Streams
from .._transform import TransformerMixin, densified_input_tags
from .._validation import check_allocation, check_int, check_random_state, philox_seed
from ._likelihood import PartitionMixin

ALGORITHMS = ("pcd", "cd")


def column_means(X, block=4096):
    """Column means in float64: blocks of rows summed in X's own dtype, the block sums added in
    float64 (exact for binary float32 data: counts below 2^24). A float32 array's mean with
    dtype=float64 casts every element, 5x slower, a noticeable part of a one-epoch fit."""
    total = np.zeros(X.shape[1])
    for i in range(0, X.shape[0], block):
        total += X[i:i + block].sum(axis=0)
    return total / X.shape[0]


# The training arguments every RBM (and DBN, which passes them on) takes. Rates and decays are
# finite: an open upper end at inf.
TRAINING_CONSTRAINTS = {
    "learning_rate": [Interval(numbers.Real, 0, np.inf, closed="neither")],
    "batch_size": [Interval(numbers.Integral, 1, None)],
    "n_iter": [Interval(numbers.Integral, 0, None)],
    "verbose": ["boolean", Interval(numbers.Integral, 0, None)],
    "random_state": ["random_state"],
    "algorithm": [Options(*ALGORITHMS)],
    "n_gibbs_steps": [Interval(numbers.Integral, 1, None)],
    "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
    "weight_decay": [Interval(numbers.Real, 0, np.inf, closed="left")],
    "shuffle": ["boolean"],
}


def check_rbm_size(name, n_visible, n_hidden, batch_size, itemsize):
    """Refuse, before allocating, an RBM whose training state would not fit in memory: the weights
    with their velocity and the kernels' device copies (4 x H x V), the persistent chains
    (batch_size x H) and one minibatch's hidden and visible arrays."""
    H, V, B = int(n_hidden), int(n_visible), int(batch_size)
    n_bytes = itemsize * (4 * H * V + 4 * (H + V) + 6 * B * (H + V))
    what = f"{H} hidden units x {V} visibles" + (f" with batch_size={B}" if B > max(H, V) else "")
    check_allocation(name, n_bytes, what)


class BaseRBM(TransformerMixin, PartitionMixin, BaseEstimator):
    """Training and inference shared by BernoulliRBM and GaussianBernoulliRBM.

    The public methods of both are documented here; their classes document the constructor
    arguments and the fitted attributes.
    """

    _fitted_attr = "components_"
    _fitted_hint = "call partial_fit, or set components_, intercept_hidden_ and intercept_visible_"
    _parameter_constraints = {"n_components": [Interval(numbers.Integral, 1, None)], **TRAINING_CONSTRAINTS}
    _gaussian = False

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_dev", None)  # device copies of a fit in progress
        return state

    def __sklearn_tags__(self):
        return densified_input_tags(super().__sklearn_tags__(), self.dtype)

    @property
    def _n_features_out(self):
        """transform's columns (TransformerMixin's feature names): one per hidden unit."""
        return self.components_.shape[0]

    # -- set-up ------------------------------------------------------------------------------------
    def _setup(self):
        """Check the hyper-parameters, resolve device and dtype (in fit and every method, not __init__).
        The backend is kept while device and dtype stay the same: inference leaves the model as it
        found it (scikit-learn's check_dict_unchanged)."""
        self._validate_params()
        backend = getattr(self, "_backend", None)
        if backend is None or not backend.made_for(self.device, self.dtype):
            self._backend = Backend(self.device, self.dtype)

    def _validate(self, X, *, fitting=False, name="X"):
        """X as a finite C-contiguous array of the model dtype where it lives (a device array stays on
        the device: ``Backend.check_array``). Values are used as given, as scikit-learn's
        BernoulliRBM does: a MinMaxScaler fitted on other rows maps some a little outside [0, 1]."""
        if hasattr(X, "toarray") and not isinstance(X, np.ndarray):  # scipy.sparse (scikit-learn accepts CSR)
            X = X.toarray()
        n_features = None if fitting else self.components_.shape[1]
        return self._backend.check_array(X, name, n_features=n_features, owner=type(self).__name__)

    def _sigma_arg(self):
        return np.zeros(0, dtype=self._backend.dtype)

    def _params(self):
        """(W, b_h, b_v, sigma) on the compute device, from the host attributes."""
        return (self._backend.put(self.components_), self._backend.put(self.intercept_hidden_), self._backend.put(self.intercept_visible_),
                self._backend.put(self._sigma_arg()))

    def _seed_for(self, random_state):
        """(seed, first stream) for a sampling call: the model's own key and fresh streams, or a key
        from an explicit random_state (streams from 0: the same random_state, the same draws)."""
        if random_state is not None:
            return philox_seed(random_state), 0, None
        if not hasattr(self, "_streams"):
            self._streams = Streams(philox_seed(self.random_state))
        return self._streams.seed, None, self

    # -- initialisation ----------------------------------------------------------------------------
    def _init_params(self, X, rs):
        H, V = self.n_components, X.shape[1]
        B = int(self.batch_size)   # h_samples_ holds batch_size persistent chains
        check_rbm_size("batch_size" if B > max(H, V) else "n_components", V, H, self.batch_size,
                       self._backend.dtype.itemsize)
        # scikit-learn's initialisation: N(0, 0.01^2) weights (same draws from the same RandomState).
        self.components_ = np.ascontiguousarray(rs.normal(0, 0.01, (H, V)), dtype=self._backend.dtype)
        self.intercept_hidden_ = np.zeros(H, dtype=self._backend.dtype)
        self.intercept_visible_ = np.zeros(V, dtype=self._backend.dtype)
        self.h_samples_ = np.zeros((self.batch_size, H), dtype=self._backend.dtype)
        self._init_visible_model(X)
        self._streams = Streams(philox_seed(rs))
        self._velocity = None
        self.n_features_in_ = V
        self._base_from_data(X)

    def _init_visible_model(self, X):
        pass

    def _base_from_data(self, X):
        """The AIS base model's visible biases (Bernoulli) or means (Gaussian) from the data."""
        pass

    def _column_means(self, X):
        """Column means (float64) of the training data where it lives: ``column_means`` for host X; a
        device X stays there, its sums by the emissions family's ``weighted_moments`` against a
        column of ones (accumulated in float64, rounded to the model dtype once: the base model
        then agrees with a host fit's to that rounding)."""
        if not is_device_array(X):
            return column_means(X)
        ones = self._backend.put(np.ones((X.shape[0], 1)))
        sums = self._kern.emissions.weighted_moments(X, ones, 0)[1]
        return self._backend.host(sums)[0].astype(np.float64) / X.shape[0]

    # -- training ----------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """CD-k or PCD-k on minibatches of X for n_iter epochs; returns self.

        Initialises the model from ``random_state`` (scikit-learn's N(0, 0.01^2) weights, zero
        biases), then runs ``n_iter`` epochs over minibatches of ``batch_size`` rows, shuffled
        each epoch unless ``shuffle=False``. With ``verbose`` each epoch's progress score
        (pseudo-likelihood, or reconstruction error for Gaussian visibles) is printed and kept
        in ``score_curve_``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : object
            The fitted model.
        """
        self._setup()
        X = self._validate(X, fitting=True)
        # Restored if training diverges (never a non-finite model) or is interrupted (Ctrl-C: the
        # model as it was; training updates private copies of the parameters, _begin_training).
        previous = dict(self.__dict__)
        try:
            self._fit_epochs(X)
        except (FloatingPointError, KeyboardInterrupt):
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        return self

    def _fit_epochs(self, X):
        self.random_state_ = check_random_state(self.random_state)
        self._init_params(X, self.random_state_)
        self.score_curve_ = []   # per-epoch progress score, recorded when verbose (it costs a pass)
        n = X.shape[0]
        bs = self.batch_size
        starts = np.arange(0, n, bs)
        Xd = self._backend.put(X)   # once; each epoch's shuffle is gathered where it lives
        self._begin_training()
        begin = time.time()
        for epoch in range(1, self.n_iter + 1):
            if self.shuffle:
                s = self._streams.take(1)
                order = np.argsort(self._backend.host(self._kern.rng.uniform(self._streams.seed, s, n)), kind="stable")
                Xe = self._kern.nn.take_rows(Xd, self._backend.put(order))  # the nn family's row gather
            else:
                Xe = Xd
            for step, b0 in enumerate(starts, start=1):
                self._checked_batch(Xe[b0:b0 + bs], f"at epoch {epoch}, step {step}")
            self._check_diverged(f"at epoch {epoch}")
            if self.verbose:
                self._end_training()
                pl = float(self._progress_score(X))
                self.score_curve_.append(pl)
                end = time.time()
                print(f"[{type(self).__name__}] Iteration {epoch}, {self._progress_name} = {pl:.2f}, "
                      f"time = {end - begin:.2f}s", file=sys.stdout)
                begin = end
        self._end_training()
        self.n_iter_ = int(self.n_iter)

    # Where the parameters live during training (self._dev) and the attribute each becomes.
    _TRAINED = (("W", "components_"), ("b_h", "intercept_hidden_"), ("b_v", "intercept_visible_"),
                ("log_var", "log sigma^2"), ("sigma", "sigma_"))

    def _nonfinite_parameter(self):
        """The name of the first parameter under training that is NaN or infinite (a standard
        deviation also when it reached 0), else None. One reduction per array where it lives."""
        tiny = float(np.finfo(self._backend.dtype).tiny)
        for key, attr in self._TRAINED:
            a = self._dev[key]
            if a.shape[0] and self._backend.first_outside(a, tiny if key == "sigma" else -np.inf) is not None:
                return attr
        return None

    def _check_diverged(self, where):
        bad = self._nonfinite_parameter()
        if bad is not None:
            raise self._divergence(where, bad)

    def _divergence(self, where, bad):
        from ..nn._training import divergence_error
        what = f"{bad} reached 0" if bad == "sigma_" and self._sigma_reached_zero() else f"{bad} became non-finite"
        return divergence_error(type(self).__name__, where, what, float(self.learning_rate))

    def _sigma_reached_zero(self):
        s = self._backend.host(self._dev["sigma"])
        return bool(np.isfinite(s).all())

    def _checked_batch(self, Xb, where):
        """_train_batch; a kernel that refuses a parameter the last update made non-finite (a learned
        sigma that overflowed) reports the divergence, not its own argument check."""
        try:
            self._train_batch(Xb)
        except ValueError as e:
            bad = self._nonfinite_parameter()
            if bad is None:
                raise
            raise self._divergence(where, bad) from e

    def partial_fit(self, X, y=None):
        """One CD/PCD update on X as a single minibatch (initialising the model on the first call).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : object
            The updated model.
        """
        self._setup()
        first = not hasattr(self, "components_")
        X = self._validate(X, fitting=first)
        previous = dict(self.__dict__)   # restored if the update diverges: never a non-finite model
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        if first:
            self._init_params(X, self.random_state_)
        elif not hasattr(self, "_streams"):
            self._streams = Streams(philox_seed(self.random_state_))
        self._begin_training()
        try:
            self._checked_batch(X, "in partial_fit")
            self._check_diverged("in partial_fit")
        except FloatingPointError:
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        self._end_training()
        return self

    def _begin_training(self):
        """Parameters and velocities to the device for the minibatch loop (kept there until the end)."""
        dt = self._backend.dtype
        H, V = self.components_.shape
        if getattr(self, "_velocity", None) is None or self._velocity["W"].shape != (H, V):
            self._velocity = {"W": np.zeros((H, V), dt), "b_h": np.zeros(H, dt), "b_v": np.zeros(V, dt),
                              "log_var": np.zeros(self._log_var_arg().shape, dt)}
        d = {k: self._backend.put(getattr(self, a)) for k, a in
             (("W", "components_"), ("b_h", "intercept_hidden_"), ("b_v", "intercept_visible_"),
              ("h", "h_samples_"))}
        d["log_var"], d["sigma"] = self._backend.put(self._log_var_arg()), self._backend.put(self._sigma_arg())
        d["vel"] = {k: self._backend.put(v) for k, v in self._velocity.items()}
        # On the CPU put returns the host array itself when it is already contiguous and of the
        # right dtype: make sure the kernels update private copies, published in _end_training.
        if self._backend.device == "cpu":
            d = {k: (v.copy() if isinstance(v, np.ndarray) else {kk: vv.copy() for kk, vv in v.items()})
                 for k, v in d.items()}
        self._dev = d

    def _end_training(self):
        d, get = self._dev, self._backend.host
        self.components_ = get(d["W"]).copy()
        self.intercept_hidden_ = get(d["b_h"]).copy()
        self.intercept_visible_ = get(d["b_v"]).copy()
        self.h_samples_ = get(d["h"]).copy()
        self._velocity = {k: get(v).copy() for k, v in d["vel"].items()}
        self._set_visible_model(get(d["log_var"]).copy(), get(d["sigma"]).copy())
        self._z_cache = {}   # log Z of these parameters, filled by score (_log_z)

    def _set_visible_model(self, log_var, sigma):
        pass

    def _log_var_arg(self):
        return np.zeros(0, dtype=self._backend.dtype)

    def _train_batch(self, Xb):
        """One CD-k / PCD-k step on the minibatch Xb (a row slice of the data on the device)."""
        k, d, v = self.n_gibbs_steps, self._dev, self._dev["vel"]
        # One kernel call: the positive phase, k sweeps of the chains (PCD: the persistent ones, in
        # place; CD: from the batch's hidden draws, one stream more) and the update.
        pcd = self.algorithm == "pcd"
        s = self._streams.take(2 * k if pcd else 1 + 2 * k)
        self._kern.rbm.train_step(self._backend.put(Xb), d["W"], d["b_h"], d["b_v"], d["log_var"], d["sigma"], v["W"],
                                  v["b_h"], v["b_v"], v["log_var"], d["h"] if pcd else None, k, self._streams.seed, s,
                                  float(self.learning_rate), float(self.momentum), float(self.weight_decay))

    # -- inference -----------------------------------------------------------------------------------
    def _ready(self):
        self._check_fitted()
        self._setup()

    def transform(self, X):
        """Hidden-unit activation probabilities p(h = 1 | v), shape (n_samples, n_components).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
            p(h_j = 1 | v) of each sample, in the model dtype.
        """
        P = self._hidden_probs(X)   # (sets the backend up)
        return self._backend.host(P)

    def _hidden_probs(self, X):
        """transform's p(h = 1 | v) where the kernels put it (the DBN feeds the next layer with it)."""
        self._ready()
        X = self._validate(X)
        W, b_h, _, sigma = self._params()
        return self._kern.rbm.hidden_probs(self._backend.put(X), W, b_h, sigma)

    def fit_transform(self, X, y=None):
        """fit(X), then transform(X).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
            p(h = 1 | v) of each sample under the fitted model.
        """
        return self.fit(X).transform(X)

    def mean_visibles(self, H):
        """E[v | h] for hidden states H (n_samples, n_components): sigmoid or Gaussian means.

        Parameters
        ----------
        H : array-like of shape (n_samples, n_components)
            Hidden states (0/1) or probabilities.

        Returns
        -------
        v : ndarray of shape (n_samples, n_features)
            sigmoid(b_v + h W) (Bernoulli visibles) or b_v + h W (Gaussian visibles).
        """
        self._ready()
        Hs = self._backend.check_array(H, "H", n_features=self.components_.shape[0])
        W, _, b_v, sigma = self._params()
        return self._backend.host(self._kern.rbm.visible_means(self._backend.put(Hs), W, b_v, sigma))

    def reconstruction_error(self, X):
        """Mean squared error between X and E[v | p(h | v)] per sample (summed over features).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).

        Returns
        -------
        error : float
            The mean over samples of the squared reconstruction error.
        """
        X = self._validate_ready(X)
        if not is_device_array(X):
            R = self.mean_visibles(self.transform(X))
            return float(((X.astype(np.float64) - R) ** 2).sum(axis=1).mean())
        # Device data stay there: the reconstruction, then 0.5 sum_d (x - r)^2 as the float64
        # gaussian_nll at log-variance 0 less its constant (agrees with the host formula to ~1e-13).
        W, b_h, b_v, sigma = self._params()
        kern, put, D = self._kern, self._backend.put, X.shape[1]
        R = kern.rbm.visible_means(kern.rbm.hidden_probs(X, W, b_h, sigma), W, b_v, sigma)
        f64 = np.float64
        loss = kern.nn.gaussian_nll(put(R, f64), put(np.zeros(D), f64), put(X, f64), 1.0)[0]
        return float((2.0 * self._backend.host(loss) - D * np.log(2 * np.pi)).mean())

    def _validate_ready(self, X):
        self._ready()
        return self._validate(X)

    def free_energy(self, X):
        """Free energy F(v) = -log sum_h exp(-E(v, h)) per sample (p(v) = exp(-F(v)) / Z).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (``BernoulliRBM``: binary or probabilities).

        Returns
        -------
        free_energy : ndarray of shape (n_samples,)
            F(v) of each sample (accumulated in float64, returned in the model dtype).
        """
        self._ready()
        X = self._validate(X)
        W, b_h, b_v, sigma = self._params()
        return self._backend.host(self._kern.rbm.free_energy(self._backend.put(X), W, b_h, b_v, sigma))

    def gibbs(self, v):
        """One Gibbs step v -> h -> v' from the visibles v (fresh draws on every call).

        Parameters
        ----------
        v : array-like of shape (n_samples, n_features)
            Visible states to start from.

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            The drawn visibles: bool for ``BernoulliRBM`` (as scikit-learn), real values for
            Gaussian visibles.
        """
        self._ready()
        v = self._validate(v, name="v")
        seed, _, owner = self._seed_for(None)
        s = self._streams.take(2)
        W, b_h, b_v, sigma = self._params()
        v_new, _ = self._kern.rbm.gibbs_vhv(self._backend.put(v), W, b_h, b_v, sigma, 1, seed, s)
        return self._gibbs_output(self._backend.host(v_new))

    def _gibbs_output(self, v):
        return v

    def sample(self, n_samples=1, n_gibbs_steps=1, burn_in=1000, n_chains=None, mean=False, random_state=None):
        """Samples of the visibles from min(n_chains, n_samples) Gibbs chains (default: one chain per
        sample). Each chain starts from the AIS base model, runs burn_in steps, then gives a sample
        every n_gibbs_steps steps; sample r * n_chains + c is chain c's r-th. With mean=True the
        rows are E[v | h] at those steps instead of draws of v.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (>= 1).
        n_gibbs_steps : int, default=1
            Gibbs steps between two samples of a chain (>= 1).
        burn_in : int, default=1000
            Gibbs steps before a chain's first sample (>= 0).
        n_chains : int, default=None
            Number of chains (>= 1, at most n_samples); None: one per sample.
        mean : bool, default=False
            Return E[v | h] instead of draws of v.
        random_state : None, int or numpy RandomState, default=None
            None: the model's own Philox key and fresh streams (successive calls differ); else
            a key from it (the same int gives the same samples).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples (Bernoulli draws are 0 or 1 in the model dtype).
        """
        self._ready()
        n_samples = check_int(n_samples, "n_samples", 1)
        n_gibbs_steps = check_int(n_gibbs_steps, "n_gibbs_steps", 1)
        burn_in = check_int(burn_in, "burn_in", 0)
        C = n_samples if n_chains is None else min(check_int(n_chains, "n_chains", 1), n_samples)
        H, V = self.components_.shape
        check_allocation("n_samples", self._backend.dtype.itemsize * (2 * n_samples * V + 2 * C * (H + V)),
                         f"{n_samples} samples x {V} features")
        seed, first, owner = self._seed_for(random_state)
        take = owner._streams.take if owner is not None else Streams(start=first).take
        W, b_h, b_v, sigma = self._params()
        v = self._initial_chains(C, seed, take(1))
        if burn_in > 0:
            v, _ = self._kern.rbm.gibbs_vhv(v, W, b_h, b_v, sigma, burn_in, seed, take(2 * burn_in))
        rows = []
        for _ in range(-(-n_samples // C)):
            v, h = self._kern.rbm.gibbs_vhv(v, W, b_h, b_v, sigma, n_gibbs_steps, seed, take(2 * n_gibbs_steps))
            rows.append(self._backend.host(self._kern.rbm.visible_means(h, W, b_v, sigma) if mean else v))
        return np.concatenate(rows)[:n_samples]

    def _visibles_given_hiddens(self, H, *, mean, seed, stream):
        """E[v | h] (mean=True) or a draw of v ~ p(v | h) for hidden states H (the DBN's top-down pass)."""
        self._ready()
        W, _, b_v, sigma = self._params()
        Hk = self._backend.put(H)
        if mean:
            return self._backend.host(self._kern.rbm.visible_means(Hk, W, b_v, sigma))
        return self._backend.host(self._kern.rbm.sample_visibles(Hk, W, b_v, sigma, seed, stream))

    def _initial_chains(self, C, seed, stream):
        raise NotImplementedError
