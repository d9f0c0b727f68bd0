"""A deterministic autoencoder: one MLP x -> code -> reconstruction, trained by ``mlp_step``
(forward, loss, backward and optimiser update in one kernel call per minibatch).

The code layer is linear (identity activation), so with no hidden layers and identity activations
the model spans PCA's subspace; the hidden layers make it a nonlinear generalisation.
``score_samples`` is minus the per-row reconstruction loss: an anomaly score (low = unusual).
"""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from .._transform import TransformerMixin
from ._base import ACTIVATION, LAYERS, OPTIMIZER, SLOPE, BaseNN, sigmoid
from ._engine import Trainable, publish
from ._mlp import MLP, check_network_size
from ._training import run_epochs

__all__ = ["Autoencoder"]

LOSSES = {"mse": 0, "bce": 1}


class Autoencoder(TransformerMixin, BaseNN):
    """MLP autoencoder: one network x -> code -> reconstruction, trained on the reconstruction loss.

    The encoder's hidden layers use ``activation``, the code layer and the output layer are linear
    (identity): with no nonlinearity the model spans PCA's subspace, the hidden layers make it a
    nonlinear generalisation. Training is one ``mlp_step`` kernel call per minibatch (forward, loss,
    backward and optimiser update). ``score_samples`` is minus each row's reconstruction loss, an
    anomaly score (low = unusual). Fitted parameters live in host NumPy arrays (``network_.theta``);
    the engine (device, dtype) is rebuilt after unpickling or ``set_params``.

    Parameters
    ----------
    encoder_layers : int or sequence of int, default=(128,)
        Hidden widths between the input and the code (at least one layer, each width >= 1).
    latent_dim : int, default=8
        Width of the (linear) code layer (>= 1).
    loss : {"mse", "bce"}, default="mse"
        Half the squared error summed over features (real data), or binary cross-entropy on
        logits (data in [0, 1]; the decoder outputs logits, reconstructions are their sigmoid).
    decoder_layers : int, sequence of int or None, default=None
        Hidden widths between the code and the output; None: the encoder's in reverse order.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "softplus", "identity"}, default="relu"
        Hidden-layer activation.
    slope : float, default=0.01
        Slope of "leaky_relu" for negative inputs, in (0, 1).
    optimizer : {"adam", "sgd", "nesterov"}, default="adam"
        torch.optim's Adam, SGD with momentum, or SGD with Nesterov momentum (needs momentum > 0).
    learning_rate : float, default=1e-3
        Step size (> 0).
    beta1, beta2 : float, default=0.9, 0.999
        Adam's moment decay rates, in [0, 1).
    weight_decay : float, default=0.0
        L2 penalty added to the gradient (torch's ``weight_decay``, not AdamW's), >= 0.
    momentum : float, default=0.0
        SGD momentum, in [0, 1) (dampening 0).
    batch_size : int, default=128
        Rows per minibatch (>= 1; the last minibatch of an epoch may be smaller).
    max_epochs : int, default=100
        Passes over the data (>= 0).
    random_state : None, int or numpy RandomState, default=None
        Seeds the weight initialisation, the epoch permutations and the model's Philox key.
    verbose : bool or int, default=0
        Progress with the loss on stderr when > 0: a live bar on a terminal (tqdm's when installed),
        one line per epoch otherwise.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float32 or float64, default=np.float32
        Precision of the parameters and of the kernel work.

    Attributes
    ----------
    network_ : MLP
        The whole network (encoder then decoder) with its fitted ``theta``.
    encoder_, decoder_ : MLP
        Its two halves (input -> code, code -> output).
    loss_curve_ : ndarray of shape (n_epochs,)
        Per-epoch mean training loss per sample (each minibatch measured before its update).
    n_iter_ : int
        Epochs run (``max_epochs``).
    n_features_in_ : int
        Number of features seen in fit.

    See Also
    --------
    VAE : A probabilistic autoencoder (sampling, log-likelihood bound).
    sklearn.decomposition.PCA : The linear counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.nn import Autoencoder
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> ae = Autoencoder(encoder_layers=(16,), latent_dim=2, max_epochs=5, random_state=0,
    ...                  device="cpu").fit(X)
    >>> ae.transform(X).shape, ae.reconstruct(X).shape
    ((200, 2), (200, 5))
    >>> ae.loss_curve_.shape, bool(ae.loss_curve_[-1] < ae.loss_curve_[0])
    ((5,), True)
    >>> ae.score_samples(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseNN._parameter_constraints,
        **OPTIMIZER,
        "encoder_layers": LAYERS,
        "latent_dim": [Interval(numbers.Integral, 1, None)],
        "loss": [Options(*LOSSES)],
        "decoder_layers": [None, *LAYERS],
        "activation": ACTIVATION,
        "slope": SLOPE,
    }

    def __init__(self, encoder_layers=(128,), latent_dim=8, *, loss="mse", decoder_layers=None, activation="relu",
                 slope=0.01, optimizer="adam", learning_rate=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0,
                 momentum=0.0, batch_size=128, max_epochs=100, random_state=None, verbose=0, device="auto",
                 dtype=np.float32):
        self.encoder_layers = encoder_layers
        self.latent_dim = latent_dim
        self.loss = loss
        self.decoder_layers = decoder_layers
        self.activation = activation
        self.slope = slope
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.dtype = dtype

    @property
    def _n_features_out(self):
        """transform's columns (TransformerMixin's feature names): the code layer's units."""
        return int(self.encoder_.sizes[-1])

    def _check_values(self, X, name="X"):
        if self.loss == "bce":
            self._check_unit_interval(X, name, "loss='bce'")

    def fit(self, X, y=None):
        """Minimise the reconstruction loss on minibatches of X for max_epochs epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a scipy.sparse matrix is densified); values in [0, 1] for loss="bce".
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : Autoencoder
            The fitted estimator.

        Raises
        ------
        FloatingPointError
            When training diverges (a non-finite loss); the estimator keeps its previous state.
        """
        enc, dec, opt = self._check_params()
        eng = self._setup_engine()
        X = self._validate(X, fitting=True)
        self._check_values(X)
        D, K, act = X.shape[1], int(self.latent_dim), self.activation
        init_rng, perm_rng, streams = self._fit_randomness()
        dec_name = "encoder_layers" if self.decoder_layers is None else "decoder_layers"
        check_network_size(((D,) + enc + (K,) + dec + (D,), (None,) + ("encoder_layers",) * len(enc) + ("latent_dim",)
                            + (dec_name,) * len(dec) + (None,)), itemsize=eng.dtype.itemsize)
        net = MLP((D,) + enc + (K,) + dec + (D,),
                  (act,) * len(enc) + ("identity",) + (act,) * len(dec) + ("identity",), self.slope)
        net.init_params(init_rng, eng.dtype)
        tr = Trainable(eng, net, opt)
        loss, slope = LOSSES[self.loss], float(self.slope)

        def step(batches, stream, k):
            (Xb,) = batches
            return eng.kernels.nn.mlp_step(*tr.args(), slope, Xb, Xb, loss, tr.next_t(), opt.code, tr.hp), None

        curve, _ = run_epochs(name=type(self).__name__, engine=eng, arrays=[X], batch_size=int(self.batch_size),
                              max_epochs=int(self.max_epochs), rng=perm_rng, step=step, streams=streams,
                              streams_per_step=0, loss_names=("loss",), verbose=self.verbose,
                              learning_rate=float(self.learning_rate))
        publish(tr, name=type(self).__name__, learning_rate=float(self.learning_rate))
        self.network_ = net
        self.encoder_, self.decoder_ = net.split(len(enc) + 1)
        self.loss_curve_ = curve[:, 0]
        self.n_iter_ = int(self.max_epochs)
        self._streams = streams
        self.n_features_in_ = D
        return self

    def _output(self, eng, net, X):
        return eng.host(eng.predict(net, eng.put(net.theta), X))

    def transform(self, X):
        """Encode X: the code layer's values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            The codes, in ``dtype``.
        """
        eng = self._engine_ready()
        return self._output(eng, self.encoder_, self._validate(X))

    def fit_transform(self, X, y=None):
        """fit(X), then transform(X).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            The codes of the training data.
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        """Decode codes Z: the decoder's output (the sigmoid of its logits for loss="bce").

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The reconstructions, in ``dtype``.
        """
        eng = self._engine_ready()
        Z = self._validate(Z, name="Z", n_features=self.decoder_.sizes[0])
        out = self._output(eng, self.decoder_, Z)
        return sigmoid(out) if self.loss == "bce" else out

    def reconstruct(self, X):
        """inverse_transform(transform(X)) in one pass through the whole network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The reconstructions, in ``dtype``.
        """
        eng = self._engine_ready()
        out = self._output(eng, self.network_, self._validate(X))
        return sigmoid(out) if self.loss == "bce" else out

    def score_samples(self, X):
        """Minus each row's reconstruction loss; low values flag anomalies.

        The loss is the training loss: 0.5 sum_d (x - x_hat)^2 (loss="mse"), or the binary
        cross-entropy summed over features (loss="bce").

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values in [0, 1] for loss="bce".

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Minus the per-row loss (float64).
        """
        eng = self._engine_ready()
        X = self._validate(X)
        self._check_values(X)
        out = eng.predict(self.network_, eng.put(self.network_.theta), X)
        Xd = eng.put(X)
        if self.loss == "bce":
            loss = eng.kernels.nn.bce_logits(out, Xd, 1.0)[0]
            return -np.asarray(eng.host(loss), dtype=np.float64)
        # Gaussian with unit variance minus its constant: 0.5 sum_d (x - x_hat)^2.
        loss = eng.kernels.nn.gaussian_nll(out, eng.put(np.zeros(X.shape[1])), Xd, 1.0)[0]
        return -(np.asarray(eng.host(loss), dtype=np.float64) - 0.5 * X.shape[1] * np.log(2 * np.pi))

    def score(self, X, y=None):
        """Mean of ``score_samples(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        score : float
            Minus the mean per-row reconstruction loss.
        """
        return float(self.score_samples(X).mean())
