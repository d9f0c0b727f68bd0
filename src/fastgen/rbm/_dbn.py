"""``DBN``: a deep belief net, RBMs trained greedily layer by layer (Hinton, Osindero & Teh 2006),
with top-down sampling through the stack."""
from __future__ import annotations

import numbers

import numpy as np

from .._backend import Backend
from .._base import BaseEstimator
from .._params import Interval, Options
from .._streams import Streams
from .._transform import TransformerMixin, densified_input_tags
from .._validation import check_allocation, check_dtype, check_int, check_random_state, philox_seed
from ._base import TRAINING_CONSTRAINTS, check_rbm_size
from ._models import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["DBN"]


class DBN(TransformerMixin, BaseEstimator):
    """Deep belief net: RBMs trained greedily, layer by layer, each on the hidden probabilities of
    the one below (Hinton, Osindero & Teh 2006).

    ``hidden_layer_sizes`` gives the hidden units of each RBM; ``visible`` ("bernoulli" or
    "gaussian") the first layer's visible model. The other arguments are passed to every RBM.
    ``transform`` propagates hidden probabilities up; ``sample`` runs Gibbs chains in the top RBM
    and then one top-down pass of p(v | h) through the layers below.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(256, 64)
        Hidden units of each RBM, bottom up (each >= 1, at least one layer).
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Visible model of the first RBM: ``BernoulliRBM`` (binary data or probabilities) or
        ``GaussianBernoulliRBM`` (sigma = 1, fixed: standardise the data).
    learning_rate : float, default=0.1
        Step size of every RBM's CD updates (> 0, finite).
    batch_size : int, default=10
        Rows per minibatch (>= 1).
    n_iter : int, default=10
        Epochs of each RBM (>= 0).
    algorithm : {"pcd", "cd"}, default="pcd"
        Persistent or plain contrastive divergence.
    n_gibbs_steps : int, default=1
        Gibbs steps k of the negative phase (>= 1).
    momentum : float, default=0.0
        Momentum of the updates, in [0, 1).
    weight_decay : float, default=0.0
        L2 penalty on the weights (>= 0).
    verbose : bool or int, default=0
        Print each RBM's per-epoch progress.
    random_state : None, int or numpy RandomState, default=None
        Draws each RBM's seed and the Philox key of ``sample``.
    shuffle : bool, default=True
        Shuffle the minibatches each epoch.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float32 or float64, default=np.float32
        Precision of the kernels and of the parameters.

    Attributes
    ----------
    rbms_ : list of BernoulliRBM or GaussianBernoulliRBM
        The trained RBMs, bottom up (each with its own ``n_iter_`` and ``score_curve_``).
    n_features_in_ : int
        Number of features seen in fit.

    See Also
    --------
    BernoulliRBM, GaussianBernoulliRBM : the layers.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.rbm import DBN
    >>> rng = np.random.default_rng(0)
    >>> prototypes = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=float)
    >>> X = prototypes[rng.integers(0, 2, 200)]
    >>> dbn = DBN(hidden_layer_sizes=(4, 2), n_iter=5, random_state=0, device="cpu").fit(X)
    >>> len(dbn.rbms_), dbn.transform(X).shape
    (2, (200, 2))
    >>> dbn.sample(3, burn_in=10, random_state=0).shape
    (3, 6)
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

    def __sklearn_tags__(self):
        return densified_input_tags(super().__sklearn_tags__(), self.dtype)

    @property
    def _n_features_out(self):
        """transform's columns (TransformerMixin's feature names): the top RBM's hidden units."""
        return self.rbms_[-1].components_.shape[0]

    def _validate(self, X, *, fitting=False):
        """X checked once here, so that errors name the DBN (the RBMs' own checks then find nothing
        to convert); a device array stays on the device, sparse input is densified."""
        backend = getattr(self, "_backend", None)
        if backend is None or not backend.made_for(self.device, self.dtype):
            self._backend = backend = Backend(self.device, self.dtype)
        if hasattr(X, "toarray") and not isinstance(X, np.ndarray):  # scipy.sparse, as the RBMs take it
            X = X.toarray()
        return backend.check_array(X, "X", n_features=None if fitting else self.n_features_in_, owner="DBN")

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
        """Train the RBMs bottom-up; returns self.

        Each RBM is fitted on the hidden probabilities (``transform``) of the one below.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Visible data (binary or probabilities with ``visible="bernoulli"``).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : object
            The fitted net.
        """
        sizes = self._layers()
        inp = self._validate(X, fitting=True)
        below = inp.shape[1]
        for H in sizes:   # every layer's size, before the first is trained
            check_rbm_size("hidden_layer_sizes", below, H, int(self.batch_size),
                           np.dtype(self.dtype).itemsize)
            below = H
        rs = check_random_state(self.random_state)
        rbms = []
        for layer, H in enumerate(sizes):
            rbm = self._make(layer, H, int(rs.randint(0, 2**31 - 1)))
            try:
                rbm.fit(inp)
            except FloatingPointError as e:   # the layer's message, said of the net and its layer
                msg = str(e).split(": ", 1)[1].replace("training diverged", f"training of layer {layer + 1} "
                                                       f"({type(rbm).__name__}) diverged", 1)
                raise FloatingPointError(f"DBN: {msg}") from e
            rbms.append(rbm)
            if layer + 1 < len(sizes):
                inp = rbm._hidden_probs(inp)   # stays on the device for the next layer
        self.rbms_ = rbms   # the fitted attribute, set once every layer is trained
        self._streams = Streams(philox_seed(rs))
        self.n_features_in_ = rbms[0].n_features_in_
        return self

    def transform(self, X):
        """Top-layer hidden probabilities, propagated up through every RBM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Visible data (binary or probabilities with ``visible="bernoulli"``).

        Returns
        -------
        h : ndarray of shape (n_samples, hidden_layer_sizes[-1])
            p(h = 1 | input) of the top RBM.
        """
        self._check_fitted()
        out = self._validate(X)
        for rbm in self.rbms_:
            out = rbm._hidden_probs(out)   # the layers between stay on the device
        return self._backend.host(out)

    def fit_transform(self, X, y=None):
        """fit(X), then transform(X).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Visible data (binary or probabilities with ``visible="bernoulli"``).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        h : ndarray of shape (n_samples, hidden_layer_sizes[-1])
            Top-layer hidden probabilities.
        """
        return self.fit(X).transform(X)

    def sample(self, n_samples=1, n_gibbs_steps=1, burn_in=1000, n_chains=None, mean=True, random_state=None):
        """Visible samples: Gibbs chains in the top RBM (as RBM.sample), then top-down draws
        h_{l-1} ~ p(h_{l-1} | h_l) through the lower RBMs; with mean=True (default) the last step
        gives E[v | h_1] instead of a draw (smoother images).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (>= 1).
        n_gibbs_steps : int, default=1
            Gibbs steps between two samples of a top-RBM chain (>= 1).
        burn_in : int, default=1000
            Gibbs steps before a chain's first sample (>= 0).
        n_chains : int, default=None
            Number of top-RBM chains (at most n_samples); None: one per sample.
        mean : bool, default=True
            Return E[v | h_1] instead of a draw of v.
        random_state : None, int or numpy RandomState, default=None
            None: the net's own Philox streams (successive calls differ); else a key from it.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Visible samples.
        """
        self._check_fitted()
        if random_state is None:  # the top RBM's and this net's own streams move on
            seed, take, top_state = self._streams.seed, self._streams.take, None
        else:
            rs = check_random_state(random_state)
            top_state = int(rs.randint(0, 2**31 - 1))
            seed, take = philox_seed(rs), Streams(start=0).take
        top = self.rbms_[-1]
        n = check_int(n_samples, "n_samples", 1)
        widest = max([self.n_features_in_] + [r.components_.shape[0] for r in self.rbms_])
        check_allocation("n_samples", 4 * n * widest * np.dtype(self.dtype).itemsize,
                         f"{n} samples x {self.n_features_in_} features")
        h = top.sample(n_samples, n_gibbs_steps=n_gibbs_steps, burn_in=burn_in, n_chains=n_chains,
                       mean=mean and len(self.rbms_) == 1, random_state=top_state)
        for layer in range(len(self.rbms_) - 2, -1, -1):
            mean_step = layer == 0 and mean
            h = self.rbms_[layer]._visibles_given_hiddens(h, mean=mean_step, seed=seed,
                                                          stream=None if mean_step else take(1))
        return h

