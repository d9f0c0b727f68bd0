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
returns bool samples like scikit-learn but through the fused kernel. As in scikit-learn, values of
X outside [0, 1] are used as given (NaN and infinity are refused), ``score_samples`` gives the same
values on every call, and scipy.sparse input is accepted (densified: fastgen's kernels are dense).
"""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval
from ..nn._base import EVAL_STREAM
from ._base import BaseRBM

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class BernoulliRBM(BaseRBM):
    """RBM with binary visible and hidden units (scikit-learn's BernoulliRBM API).

    X holds binary data or probabilities in [0, 1]; like scikit-learn, other finite values are
    used as given (a MinMaxScaler fitted on training rows maps test rows slightly outside [0, 1]).
    ``score_samples`` is scikit-learn's pseudo-likelihood; ``score`` is the real mean
    log-likelihood (log Z exact when the smaller layer has at most 20 units, else AIS). Its
    differences from scikit-learn are listed in the module's documentation
    (``fastgen.rbm._models``).

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units (>= 1).
    learning_rate : float, default=0.1
        Step size of the CD updates (> 0, finite).
    batch_size : int, default=10
        Rows per minibatch (>= 1); also the number of persistent chains of PCD.
    n_iter : int, default=10
        Number of epochs (passes over the training data, >= 0).
    verbose : bool or int, default=0
        Print each epoch's progress score and time (kept in ``score_curve_``).
    random_state : None, int or numpy RandomState, default=None
        Seeds the weight initialisation (scikit-learn's draws) and the Philox key of every
        later draw.
    algorithm : {"pcd", "cd"}, default="pcd"
        Persistent contrastive divergence (scikit-learn's) or CD-k from the data.
    n_gibbs_steps : int, default=1
        Gibbs steps k of the negative phase (>= 1).
    momentum : float, default=0.0
        Momentum of the parameter updates, in [0, 1).
    weight_decay : float, default=0.0
        L2 penalty on the weights (>= 0).
    shuffle : bool, default=True
        Shuffle the minibatches each epoch (scikit-learn never does).
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float32 or float64, default=np.float32
        Precision of the kernels and of the parameters.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weights W; row j holds hidden unit j's weights (model dtype).
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases (Gaussian visibles: the means at h = 0).
    h_samples_ : ndarray of shape (batch_size, n_components)
        Hidden states of the persistent chains (PCD).
    n_features_in_ : int
        Number of features seen in fit.
    random_state_ : numpy RandomState
        The random state fit and partial_fit drew the initialisation from.
    n_iter_ : int
        Epochs of the last ``fit``.
    score_curve_ : list of float
        Each epoch's progress score of the last ``fit`` (pseudo-likelihood; only with ``verbose``, else empty).

    See Also
    --------
    GaussianBernoulliRBM : real-valued visibles.
    DBN : a stack of RBMs.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.rbm import BernoulliRBM, ais_betas
    >>> rng = np.random.default_rng(0)
    >>> prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=float)
    >>> X = prototypes[rng.integers(0, 2, 200)]
    >>> rbm = BernoulliRBM(n_components=4, n_iter=20, random_state=0, device="cpu").fit(X)
    >>> rbm.components_.shape, rbm.transform(X).shape
    ((4, 6), (200, 4))
    >>> bool(rbm.score(X) > 6 * np.log(0.5))  # better than independent fair coins
    True
    >>> log_z, stderr = rbm.ais_log_partition(betas=ais_betas(1000), random_state=0)
    >>> bool(abs(log_z - rbm.log_partition()) < 0.1)
    True
    >>> rbm.sample(4, burn_in=10, random_state=0).shape
    (4, 6)
    """

    _progress_name = "pseudo-likelihood"

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

    def _base_from_data(self, X):
        # Salakhutdinov & Murray's base-rate model: the data's visible marginals, kept off 0 and 1.
        p = np.clip(self._column_means(X), 1e-3, 1 - 1e-3)
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
        v' = v with one unit per sample, chosen at random, replaced by 1 - v. Use score() for the
        log-likelihood.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Visible data (binary, or probabilities; other values are used as given).

        Returns
        -------
        pseudo_likelihood : ndarray of shape (n_samples,)
            One random-flip estimate per sample. Repeated calls on the same X give the same values
            (as scikit-learn's with an int random_state): row i's unit comes from element i of a
            stream of the model's Philox key reserved for this method.
        """
        self._ready()
        X = self._validate(X)
        seed, _, _ = self._seed_for(None)
        # scikit-learn re-seeds from random_state on every call; the reserved stream does the same
        # job without touching the counter that training, gibbs and sample advance.
        u = self._backend.host(self._kern.rng.uniform(seed, EVAL_STREAM, X.shape[0]))
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

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units (>= 1).
    learning_rate : float, default=0.01
        Step size of the CD updates (> 0, finite).
    batch_size : int, default=10
        Rows per minibatch (>= 1); also the number of persistent chains of PCD.
    n_iter : int, default=10
        Number of epochs (passes over the training data, >= 0).
    verbose : bool or int, default=0
        Print each epoch's progress score and time (kept in ``score_curve_``).
    random_state : None, int or numpy RandomState, default=None
        Seeds the weight initialisation (scikit-learn's draws) and the Philox key of every
        later draw.
    algorithm : {"pcd", "cd"}, default="pcd"
        Persistent contrastive divergence (scikit-learn's) or CD-k from the data.
    n_gibbs_steps : int, default=1
        Gibbs steps k of the negative phase (>= 1).
    momentum : float, default=0.0
        Momentum of the parameter updates, in [0, 1).
    weight_decay : float, default=0.0
        L2 penalty on the weights (>= 0).
    sigma : float or array-like of shape (n_features,), default=1.0
        Initial (``learn_sigma=True``) or fixed standard deviation of the visibles (> 0, finite).
    learn_sigma : bool, default=False
        Learn log sigma^2 by CD along with the weights.
    shuffle : bool, default=True
        Shuffle the minibatches each epoch (scikit-learn never does).
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float32 or float64, default=np.float32
        Precision of the kernels and of the parameters.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weights W; row j holds hidden unit j's weights (model dtype).
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases (Gaussian visibles: the means at h = 0).
    h_samples_ : ndarray of shape (batch_size, n_components)
        Hidden states of the persistent chains (PCD).
    sigma_ : ndarray of shape (n_features,)
        Standard deviations of the visibles (learned with ``learn_sigma``).
    n_features_in_ : int
        Number of features seen in fit.
    random_state_ : numpy RandomState
        The random state fit and partial_fit drew the initialisation from.
    n_iter_ : int
        Epochs of the last ``fit``.
    score_curve_ : list of float
        Each epoch's progress score of the last ``fit`` (reconstruction error; only with ``verbose``, else empty).

    See Also
    --------
    BernoulliRBM : binary visibles.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.rbm import GaussianBernoulliRBM
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 1, (100, 3)), rng.normal(2, 1, (100, 3))])
    >>> rbm = GaussianBernoulliRBM(n_components=2, n_iter=10, random_state=0, device="cpu").fit(X)
    >>> h = rbm.transform(X)  # the hidden units tell the two clusters apart
    >>> bool(h[:100].mean() < 0.1 and h[100:].mean() > 0.9)
    True
    >>> rbm.sigma_.tolist(), rbm.sample(3, burn_in=10, random_state=0).shape
    ([1.0, 1.0, 1.0], (3, 3))
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
        self._base_b_v = self._column_means(X).astype(self._backend.dtype)

    def _log_z_base(self, a):
        return float(0.5 * np.log(2 * np.pi * self.sigma_.astype(np.float64) ** 2).sum())

    def _initial_chains(self, C, seed, stream):
        a = self._base_visible().astype(np.float64)
        z = self._backend.host(self._kern.rng.normal(seed, stream, C * a.size)).reshape(C, a.size)
        return self._backend.put(a + self.sigma_.astype(np.float64) * z)

    def score_samples(self, X):
        """Log-likelihood per sample, -F(v) - log Z (log Z exact or by AIS, see score).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Real-valued visible data.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(v) of each sample, in float64 (``log_likelihood(X)``).
        """
        return self.log_likelihood(X)

    def _progress_score(self, X):
        return self.reconstruction_error(X)
