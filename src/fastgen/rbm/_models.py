"""Restricted Boltzmann machines and deep belief nets on C++ and CUDA kernels.

- ``BernoulliRBM``: a drop-in for ``sklearn.neural_network.BernoulliRBM`` (same constructor
  arguments, ``components_``, ``intercept_hidden_``, ``intercept_visible_``, ``h_samples_``,
  ``fit``, ``partial_fit``, ``transform``, ``gibbs``, ``score_samples`` as the pseudo-likelihood),
  plus CD-k or persistent CD (``algorithm``, ``n_gibbs_steps``), momentum, weight decay, minibatch
  shuffling, ``sample`` from many Gibbs chains, ``free_energy``, the exact ``log_partition``
  (smaller layer of at most 20 units), an AIS estimate ``ais_log_partition`` with its standard
  error, and a real test log-likelihood ``score``, which scikit-learn does not give.
- ``GaussianBernoulliRBM``: real-valued visibles with fixed or learned variances (Cho et al. 2011
  energy, variances learned as log sigma^2).
- ``DBN``: a greedy layer-wise stack of RBMs with ``fit``, ``transform`` and top-down ``sample``.

All take ``device`` ("cpu", "cuda", "auto") and ``dtype`` (float32 default, float64).
Differences from scikit-learn: the Philox generator replaces NumPy's (same ``random_state`` gives
the same weights initialisation, other draws differ), minibatches are shuffled each epoch unless
``shuffle=False``, the two CD phases are averaged over their own number of rows, and ``gibbs``
returns bool samples like scikit-learn but through the fused kernel.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._estimator import BaseEstimator
from .._params import Interval, Options
from .._streams import Streams
from .._validation import check_dtype, check_int, check_random_state, nonfinite_error, philox_seed
from ._base import TRAINING_CONSTRAINTS, BaseRBM, ais_betas, column_means

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM", "DBN", "ais_betas"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class BernoulliRBM(BaseRBM):
    """RBM with binary visible and hidden units (scikit-learn's BernoulliRBM API).

    X must hold values in [0, 1] (binary data, or probabilities as scikit-learn allows).
    """

    _progress_name = "pseudo-likelihood"
    _values_check_finite = True

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, algorithm="pcd", n_gibbs_steps=1, momentum=0.0, weight_decay=0.0,
                 shuffle=True, device="auto", dtype=np.float32):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.algorithm = algorithm
        self.n_gibbs_steps = n_gibbs_steps
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.shuffle = shuffle
        self.device = device
        self.dtype = dtype

    def _check_values(self, X, name):
        lo, hi = float(X.min()), float(X.max())  # NaN if X holds one; +-inf if X does
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise nonfinite_error(X, name)
        if lo < 0 or hi > 1:
            raise ValueError(f"{name}: {type(self).__name__} needs values in [0, 1] (binary data or probabilities), "
                             f"got values in [{lo:g}, {hi:g}]")

    def _base_from_data(self, X):
        # Salakhutdinov & Murray's base-rate model: the data's visible marginals, kept off 0 and 1.
        p = np.clip(column_means(X), 1e-3, 1 - 1e-3)
        self._base_b_v = (np.log(p) - np.log1p(-p)).astype(self._backend.dtype)

    def _log_z_base(self, a):
        return float(np.logaddexp(0.0, a).sum())

    def _initial_chains(self, C, seed, stream):
        a = self._base_visible().astype(np.float64)
        u = self._backend.host(self._kern.rng.uniform(seed, stream, C * a.size)).reshape(C, a.size)
        return self._backend.put((u < _sigmoid(a)).astype(self._backend.dtype))

    def _gibbs_output(self, v):
        return v.astype(bool)  # scikit-learn returns the draws as bool

    def score_samples(self, X):
        """Pseudo-likelihood per sample (scikit-learn's): n_features * log sigmoid(F(v') - F(v)),
        v' = v with one unit per sample, chosen at random, flipped. Use score() for the
        log-likelihood."""
        self._ready()
        X = self._validate(X)
        seed, _, owner = self._seed_for(None)
        u = self._backend.host(self._kern.rng.uniform(seed, owner._take_streams(1), X.shape[0]))
        V = X.shape[1]
        flip = np.minimum((u * V).astype(np.int64), V - 1)
        W, b_h, b_v, _ = self._params()
        return self._backend.host(self._kern.rbm.pseudo_likelihood(self._backend.put(X), W, b_h, b_v,
                                                                 self._backend.put(flip)))

    def _progress_score(self, X):
        return self.score_samples(X).mean()


class GaussianBernoulliRBM(BaseRBM):
    """RBM with real-valued (Gaussian) visibles and binary hiddens.

    Energy (Cho et al. 2011): E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - c.h - sum_ij v_i W_ji h_j / sigma_i^2,
    so p(h_j = 1 | v) = sigmoid(c_j + W_j.(v / sigma^2)) and v | h ~ N(b + h W, diag(sigma^2)).
    ``sigma`` (a float or an array of n_features) is the initial or fixed standard deviation;
    ``learn_sigma=True`` learns log sigma^2 by CD. Standardise the data first when sigma is fixed.
    ``score_samples`` is the log-likelihood per sample (exact log Z up to 20 hidden units, else AIS).
    """

    _gaussian = True
    _progress_name = "reconstruction error"
    _parameter_constraints = {
        **BaseRBM._parameter_constraints,
        # positive and finite, a number or one per feature: checked with the data (_init_visible_model)
        "sigma": [Interval(numbers.Real, None, None), "array-like"],
        "learn_sigma": ["boolean"],
    }

    def __init__(self, n_components=256, *, learning_rate=0.01, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, algorithm="pcd", n_gibbs_steps=1, momentum=0.0, weight_decay=0.0,
                 sigma=1.0, learn_sigma=False, shuffle=True, device="auto", dtype=np.float32):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.algorithm = algorithm
        self.n_gibbs_steps = n_gibbs_steps
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.sigma = sigma
        self.learn_sigma = learn_sigma
        self.shuffle = shuffle
        self.device = device
        self.dtype = dtype

    def _init_visible_model(self, X):
        V = X.shape[1]
        s = np.asarray(self.sigma, dtype=np.float64)
        if s.ndim == 0:
            s = np.full(V, float(s))
        if s.shape != (V,):
            raise ValueError(f"sigma: expected a number or an array of {V} standard deviations, got shape {s.shape}")
        if not np.isfinite(s).all() or (s <= 0).any():
            raise ValueError(f"sigma: standard deviations must be positive and finite, got min {s.min()!r}")
        self.sigma_ = s.astype(self._backend.dtype)

    def _sigma_arg(self):
        return np.ascontiguousarray(self.sigma_, dtype=self._backend.dtype)

    def _log_var_arg(self):
        if not self.learn_sigma:
            return np.zeros(0, dtype=self._backend.dtype)
        return np.log(self.sigma_.astype(np.float64) ** 2).astype(self._backend.dtype)

    def _set_visible_model(self, log_var, sigma):
        self.sigma_ = sigma

    def _check_fitted(self):
        super()._check_fitted()
        super()._check_fitted("sigma_")

    def _base_from_data(self, X):
        self._base_b_v = column_means(X).astype(self._backend.dtype)

    def _log_z_base(self, a):
        return float(0.5 * np.log(2 * np.pi * self.sigma_.astype(np.float64) ** 2).sum())

    def _initial_chains(self, C, seed, stream):
        a = self._base_visible().astype(np.float64)
        z = self._backend.host(self._kern.rng.normal(seed, stream, C * a.size)).reshape(C, a.size)
        return self._backend.put(a + self.sigma_.astype(np.float64) * z)

    def score_samples(self, X):
        """Log-likelihood per sample, -F(v) - log Z (log Z exact or by AIS, see score)."""
        return self.log_likelihood(X)

    def _progress_score(self, X):
        return self.reconstruction_error(X)


class DBN(BaseEstimator):
    """Deep belief net: RBMs trained greedily, layer by layer, each on the hidden probabilities of
    the one below (Hinton, Osindero & Teh 2006).

    ``hidden_layer_sizes`` gives the hidden units of each RBM; ``visible`` ("bernoulli" or
    "gaussian") the first layer's visible model. The other arguments are passed to every RBM.
    ``transform`` propagates hidden probabilities up; ``sample`` runs Gibbs chains in the top RBM
    and then one top-down pass of p(v | h) through the layers below.
    """

    _fitted_attr = "rbms_"
    _parameter_constraints = {
        "hidden_layer_sizes": [Interval(numbers.Integral, 1, None), "sequence"],  # each size >= 1: _layers
        "visible": [Options("bernoulli", "gaussian")],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(self, hidden_layer_sizes=(256, 64), *, visible="bernoulli", learning_rate=0.1, batch_size=10,
                 n_iter=10, algorithm="pcd", n_gibbs_steps=1, momentum=0.0, weight_decay=0.0, verbose=0,
                 random_state=None, shuffle=True, device="auto", dtype=np.float32):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible = visible
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.algorithm = algorithm
        self.n_gibbs_steps = n_gibbs_steps
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.verbose = verbose
        self.random_state = random_state
        self.shuffle = shuffle
        self.device = device
        self.dtype = dtype

    def _layers(self):
        self._validate_params()
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not sizes:
            raise ValueError("hidden_layer_sizes: need at least one layer")
        for s in sizes:
            check_int(s, "hidden_layer_sizes", 1)
        check_dtype(self.dtype)
        return sizes

    def _make(self, layer, n_components, seed):
        cls = GaussianBernoulliRBM if (layer == 0 and self.visible == "gaussian") else BernoulliRBM
        lr = self.learning_rate
        return cls(n_components=n_components, learning_rate=lr, batch_size=self.batch_size, n_iter=self.n_iter,
                   verbose=self.verbose, random_state=seed, algorithm=self.algorithm,
                   n_gibbs_steps=self.n_gibbs_steps, momentum=self.momentum, weight_decay=self.weight_decay,
                   shuffle=self.shuffle, device=self.device, dtype=self.dtype)

    def fit(self, X, y=None):
        """Train the RBMs bottom-up; returns self."""
        sizes = self._layers()
        rs = check_random_state(self.random_state)
        self.rbms_ = []
        inp = X
        for layer, H in enumerate(sizes):
            rbm = self._make(layer, H, int(rs.randint(0, 2**31 - 1)))
            rbm.fit(inp)
            self.rbms_.append(rbm)
            if layer + 1 < len(sizes):
                inp = rbm.transform(inp)
        self._seed, self._stream = philox_seed(rs), 0
        self.n_features_in_ = self.rbms_[0].n_features_in_
        return self

    def transform(self, X):
        """Top-layer hidden probabilities, propagated up through every RBM."""
        self._check_fitted()
        out = X
        for rbm in self.rbms_:
            out = rbm.transform(out)
        return out

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def sample(self, n_samples=1, n_gibbs_steps=1, burn_in=1000, n_chains=None, mean=True, random_state=None):
        """Visible samples: Gibbs chains in the top RBM (as RBM.sample), then top-down draws
        h_{l-1} ~ p(h_{l-1} | h_l) through the lower RBMs; with mean=True (default) the last step
        gives E[v | h_1] instead of a draw (smoother images)."""
        self._check_fitted()
        if random_state is None:  # the top RBM's and this net's own streams move on
            seed, take, top_state = self._seed, self._take, None
        else:
            rs = check_random_state(random_state)
            top_state = int(rs.randint(0, 2**31 - 1))
            seed, take = philox_seed(rs), Streams(start=0).take
        top = self.rbms_[-1]
        h = top.sample(n_samples, n_gibbs_steps=n_gibbs_steps, burn_in=burn_in, n_chains=n_chains,
                       mean=mean and len(self.rbms_) == 1, random_state=top_state)
        for layer in range(len(self.rbms_) - 2, -1, -1):
            mean_step = layer == 0 and mean
            h = self.rbms_[layer]._visibles_given_hiddens(h, mean=mean_step, seed=seed,
                                                          stream=None if mean_step else take(1))
        return h

    def _take(self, n):
        s = self._stream
        self._stream += n
        return s
