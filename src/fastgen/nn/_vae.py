"""Variational autoencoders (Kingma & Welling 2014) on the nn kernels, conditional on labels when
``fit`` gets ``y`` (Sohn et al. 2015).

The encoder maps [x | one-hot label] to the mean and log-variance of a diagonal Gaussian q(z | x);
the decoder maps [z | label] to the parameters of p(x | z): Bernoulli logits (binary data or
probabilities in [0, 1]), Gaussian means with a fixed variance ``obs_var``, or Gaussian means and
learned log-variances. One training step (``vae_step``: both forward passes, the reparameterised
draw, the negative ELBO, both backward passes and both optimiser updates) is one kernel call.
``score_samples`` is the importance-weighted bound (Burda et al. 2016) with ``n_importance``
samples per row: a tighter log-likelihood estimate than the ELBO, usable as an anomaly score.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options, validate_params
from .._transform import TransformerMixin
from ._base import ACTIVATION, EVAL_STREAM, LAYERS, NON_NEGATIVE, OPTIMIZER, SLOPE, BaseNN, sigmoid
from ._engine import Trainable, publish
from ._mlp import MLP, check_network_size
from .._validation import check_allocation
from ._training import run_epochs

__all__ = ["VAE"]

LIKELIHOODS = {"bernoulli": 0, "gaussian": 1, "gaussian_learned": 2}
_IWAE_ROWS = 1 << 15  # repeated rows per score_samples chunk (bounds its memory)


class VAE(TransformerMixin, BaseNN):
    """Variational autoencoder with MLP encoder and decoder, conditional when fitted with labels.

    The encoder maps [x | one-hot label] to the mean and log-variance of a diagonal Gaussian
    q(z | x), the decoder maps [z | label] to the parameters of p(x | z). One training step (both
    forward passes, the reparameterised draw, the negative ELBO, both backward passes and both
    optimiser updates) is one ``vae_step`` kernel call. Fitted parameters live in host NumPy arrays
    (``encoder_.theta``, ``decoder_.theta``); the engine is rebuilt after unpickling or
    ``set_params``.

    Parameters
    ----------
    encoder_layers : int or sequence of int, default=(512,)
        Hidden widths of the encoder (at least one); its output layer has 2 * latent_dim units
        (mean, log-variance).
    latent_dim : int, default=32
        Dimension of z (prior N(0, I)), >= 1.
    likelihood : {"bernoulli", "gaussian", "gaussian_learned"}, default="bernoulli"
        p(x | z): Bernoulli with logits (data in [0, 1]); Gaussian with fixed variance ``obs_var``;
        Gaussian with a learned per-feature, per-sample log-variance (decoder output 2 * n_features).
    decoder_layers : int, sequence of int or None, default=None
        Hidden widths of the decoder; None: the encoder's in reverse order.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "softplus", "identity"}, default="relu"
        Hidden-layer activation.
    slope : float, default=0.01
        Slope of "leaky_relu" for negative inputs, in (0, 1).
    obs_var : float or array-like of shape (n_features,), default=1.0
        Variance of the fixed-variance Gaussian likelihood (positive and finite; checked in fit).
    kl_weight : float, default=1.0
        Weight of the KL term (beta-VAE; 1 gives the ELBO), >= 0.
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
    n_importance : int, default=64
        Importance samples per row in ``score_samples`` (1 gives the ELBO).
    random_state : None, int or numpy RandomState, default=None
        Seeds the weight initialisation, the epoch permutations and the model's Philox key.
    verbose : bool or int, default=0
        Progress with the losses on stderr when > 0: a live bar on a terminal (tqdm's when installed),
        one line per epoch otherwise.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float32 or float64, default=np.float32
        Precision of the parameters and of the kernel work.

    Attributes
    ----------
    encoder_, decoder_ : MLP
        The networks with their fitted parameters (``theta``).
    obs_log_var_ : ndarray of shape (n_features,) or None
        log(obs_var) for likelihood="gaussian" (None otherwise).
    loss_curve_, reconstruction_curve_, kl_curve_ : ndarray of shape (n_epochs,)
        Per-epoch means of the negative ELBO (reconstruction + kl_weight * KL) and its two terms,
        in nats per sample (measured on each minibatch before its update).
    n_iter_ : int
        Epochs run.
    classes_ : ndarray or None
        Labels of a conditional fit (None without labels).
    n_features_in_ : int
        Number of features seen in fit.

    See Also
    --------
    Autoencoder : A deterministic autoencoder.
    GAN : Adversarially trained generator.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.nn import VAE
    >>> X = (np.random.default_rng(0).random((200, 8)) < 0.3).astype(np.float32)
    >>> vae = VAE(encoder_layers=(16,), latent_dim=2, max_epochs=5, n_importance=4,
    ...           random_state=0, device="cpu").fit(X)
    >>> vae.transform(X).shape, vae.sample(3, random_state=0).shape
    ((200, 2), (3, 8))
    >>> bool(vae.score(X) < 0)
    True
    """

    # scikit-learn's DensityMixin type (as GaussianMixture, KernelDensity): score_samples is a
    # log-likelihood (MADE: exact; VAE: an importance-weighted lower bound) and score its mean.
    _estimator_type = "density_estimator"
    _parameter_constraints = {
        **BaseNN._parameter_constraints,
        **OPTIMIZER,
        "encoder_layers": LAYERS,
        "latent_dim": [Interval(numbers.Integral, 1, None)],
        "likelihood": [Options(*LIKELIHOODS)],
        "decoder_layers": [None, *LAYERS],
        "activation": ACTIVATION,
        "slope": SLOPE,
        # positive and finite, a number or one per feature: checked with the data (_obs_log_var)
        "obs_var": [Interval(numbers.Real, None, None), "array-like"],
        "kl_weight": NON_NEGATIVE,
        "n_importance": [Interval(numbers.Integral, 1, None)],
    }

    def __init__(self, encoder_layers=(512,), latent_dim=32, *, likelihood="bernoulli", decoder_layers=None,
                 activation="relu", slope=0.01, obs_var=1.0, kl_weight=1.0, optimizer="adam", learning_rate=1e-3,
                 beta1=0.9, beta2=0.999, weight_decay=0.0, momentum=0.0, batch_size=128, max_epochs=100,
                 n_importance=64, random_state=None, verbose=0, device="auto", dtype=np.float32):
        self.encoder_layers = encoder_layers
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.decoder_layers = decoder_layers
        self.activation = activation
        self.slope = slope
        self.obs_var = obs_var
        self.kl_weight = kl_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.n_importance = n_importance
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.dtype = dtype

    @property
    def _n_features_out(self):
        """transform's columns (TransformerMixin's feature names): the latent dimensions."""
        return int(self.encoder_.sizes[-1] // 2)

    # -- fitting -----------------------------------------------------------------------------------
    def _obs_log_var(self, D):
        v = np.asarray(self.obs_var, dtype=np.float64)
        if v.ndim == 0:
            v = np.full(D, float(v))
        if v.shape != (D,):
            raise ValueError(f"obs_var: expected a number or an array of {D} variances, got shape {v.shape}")
        if not np.isfinite(v).all() or (v <= 0).any():
            raise ValueError(f"obs_var: variances must be positive and finite, got min {v.min()!r}")
        return np.log(v)

    def _check_values(self, X, name="X"):
        """Bernoulli data in [0, 1], host or device (one reduction on the device)."""
        if self.likelihood == "bernoulli":
            self._check_unit_interval(X, name, "likelihood='bernoulli'")

    def fit(self, X, y=None):
        """Maximise the ELBO on minibatches of X for max_epochs epochs.

        With labels y, a conditional VAE (labels one-hot encoded and appended to the encoder's and
        the decoder's inputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a scipy.sparse matrix is densified); values in [0, 1] for the Bernoulli
            likelihood.
        y : array-like of shape (n_samples,), default=None
            Class labels for a conditional VAE (stored as ``classes_``); None: unconditional.

        Returns
        -------
        self : VAE
            The fitted estimator.

        Raises
        ------
        FloatingPointError
            When training diverges (a non-finite loss); the estimator keeps its previous state.
        """
        enc_layers, dec_layers, opt = self._check_params()
        eng = self._setup_engine()
        X = self._validate(X, fitting=True)
        self._check_values(X)
        n, D = X.shape
        C, classes = self._fit_labels(y, n)
        c, K = C.shape[1], int(self.latent_dim)
        obs_log_var = self._obs_log_var(D)
        init_rng, perm_rng, streams = self._fit_randomness()
        out = 2 * D if self.likelihood == "gaussian_learned" else D
        act = self.activation
        dec_name = "encoder_layers" if self.decoder_layers is None else "decoder_layers"
        check_network_size(((D + c,) + enc_layers + (2 * K,), (None,) + ("encoder_layers",) * len(enc_layers) + ("latent_dim",)),
                           ((K + c,) + dec_layers + (out,), ("latent_dim",) + (dec_name,) * len(dec_layers) + (None,)),
                           itemsize=eng.dtype.itemsize)
        encoder = MLP((D + c,) + enc_layers + (2 * K,), (act,) * len(enc_layers) + ("identity",), self.slope)
        decoder = MLP((K + c,) + dec_layers + (out,), (act,) * len(dec_layers) + ("identity",), self.slope)
        encoder.init_params(init_rng, eng.dtype)
        decoder.init_params(init_rng, eng.dtype)
        e, d = Trainable(eng, encoder, opt), Trainable(eng, decoder, opt)
        lik, slope, kl_weight = LIKELIHOODS[self.likelihood], float(self.slope), float(self.kl_weight)
        log_var_dev = eng.put(obs_log_var)

        def step(batches, stream, k):
            Xb, Cb = batches
            t = e.next_t()
            d.t = t
            return eng.kernels.nn.vae_step(*e.args(), *d.args(), slope, Xb, Cb, lik, log_var_dev, kl_weight,
                                     streams.seed, stream, t, opt.code, e.hp), None

        curve, _ = run_epochs(name=type(self).__name__, engine=eng, arrays=[X, C], batch_size=int(self.batch_size),
                              max_epochs=int(self.max_epochs), rng=perm_rng, step=step, streams=streams,
                              streams_per_step=1, loss_names=("loss", "recon", "kl"), verbose=self.verbose,
                              learning_rate=float(self.learning_rate))
        publish(e, d, name=type(self).__name__, learning_rate=float(self.learning_rate))
        self.encoder_, self.decoder_ = encoder, decoder
        self.obs_log_var_ = obs_log_var.astype(eng.dtype) if self.likelihood == "gaussian" else None
        self.loss_curve_, self.reconstruction_curve_, self.kl_curve_ = curve[:, 0], curve[:, 1], curve[:, 2]
        self.n_iter_ = int(self.max_epochs)
        self.classes_, self._streams = classes, streams
        self.n_features_in_ = D
        return self

    # -- inference ---------------------------------------------------------------------------------
    def _encode(self, eng, X, C):
        """H = [mu | log_var] on the device."""
        return eng.predict(self.encoder_, eng.put(self.encoder_.theta), eng.join(X, C))

    def _decode(self, eng, Z, C):
        """Raw decoder output (logits, means, or [means | log-variances]) on the host."""
        return eng.host(eng.predict(self.decoder_, eng.put(self.decoder_.theta), eng.join(Z, C)))

    def _mean(self, out):
        D = self.n_features_in_
        if self.likelihood == "bernoulli":
            return sigmoid(out)
        return np.ascontiguousarray(out[:, :D])

    def transform(self, X, y=None):
        """Posterior means E[z | x] (the encoder's mu).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None, label or array-like of shape (n_samples,), default=None
            Labels of a conditional model (one for every row, or one per row); None otherwise.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            The posterior means, in ``dtype``.
        """
        eng = self._engine_ready()
        X = self._validate(X)
        C = self._labels(y, X.shape[0])
        H = eng.host(self._encode(eng, X, C))
        return np.ascontiguousarray(H[:, :self.latent_dim])

    def fit_transform(self, X, y=None):
        """fit(X, y), then transform(X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Class labels for a conditional VAE.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            The posterior means of the training data.
        """
        return self.fit(X, y).transform(X, y)

    def inverse_transform(self, Z, y=None):
        """Decoder means E[x | z]: probabilities (Bernoulli) or Gaussian means.

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)
        y : None, label or array-like of shape (n_samples,), default=None
            Labels of a conditional model (one for every row, or one per row); None otherwise.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The decoder means, in ``dtype``.
        """
        eng = self._engine_ready()
        Z = self._validate(Z, name="Z", n_features=int(self.encoder_.sizes[-1] // 2))
        return self._mean(self._decode(eng, Z, self._labels(y, Z.shape[0])))

    def reconstruct(self, X, y=None):
        """inverse_transform(transform(X)): the decoder mean at the posterior mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None, label or array-like of shape (n_samples,), default=None
            Labels of a conditional model (one for every row, or one per row); None otherwise.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The reconstructions, in ``dtype``.
        """
        return self.inverse_transform(self.transform(X, y), y)

    def sample(self, n_samples=1, y=None, random_state=None, mean=True):
        """Draw z ~ N(0, I) and decode it: E[x | z] (mean=True, default) or x ~ p(x | z) (mean=False).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (>= 1); with one label per sample in y, 1 or len(y).
        y : None, label or array-like of labels, default=None
            Conditional models need y: one label for every sample, or one per sample.
        random_state : None, int or numpy RandomState, default=None
            Keys the Philox draws; None continues the model's own random stream (each call gives
            new samples).
        mean : bool, default=True
            Return the decoder means instead of draws from p(x | z) (0/1 values for Bernoulli).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, in ``dtype``.
        """
        eng = self._engine_ready()
        n, C = self._n_and_labels(n_samples, y)
        streams = self._streams_for(random_state)
        K = self.encoder_.sizes[-1] // 2
        Z = eng.normal(streams.seed, streams.take(1), n * K).reshape(n, K).astype(eng.dtype)
        out = self._decode(eng, Z, C)
        mu = self._mean(out)
        if mean:
            return mu
        D = self.n_features_in_
        if self.likelihood == "bernoulli":
            u = eng.uniform(streams.seed, streams.take(1), n * D).reshape(n, D)
            return (u < mu).astype(eng.dtype)
        log_var = out[:, D:] if self.likelihood == "gaussian_learned" else self.obs_log_var_[None, :]
        z = eng.normal(streams.seed, streams.take(1), n * D).reshape(n, D)
        return (mu + np.exp(0.5 * log_var.astype(np.float64)) * z).astype(eng.dtype)

    def _recon_nll(self, eng, out_dev, X_dev):
        """-log p(x | z) per row (T, on the device) through the loss kernels."""
        D = self.n_features_in_
        if self.likelihood == "bernoulli":
            return eng.kernels.nn.bce_logits(out_dev, X_dev, 1.0)[0]
        if self.likelihood == "gaussian":
            return eng.kernels.nn.gaussian_nll(out_dev, eng.put(self.obs_log_var_), X_dev, 1.0)[0]
        # [means | log-variances]: each half made contiguous where it is (a copy on the device)
        return eng.kernels.nn.gaussian_nll(eng.put(out_dev[:, :D]), eng.put(out_dev[:, D:]), X_dev, 1.0)[0]

    def score_samples(self, X, y=None):
        """Importance-weighted lower bound on log p(x) per row (Burda et al. 2016).

        log (1/k) sum_j p(x | z_j) p(z_j) / q(z_j | x), z_j ~ q(z | x), k = n_importance. Higher means
        more typical (an anomaly score: low values flag outliers). Deterministic: the draws come from
        reserved streams of the model's key.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None, label or array-like of shape (n_samples,), default=None
            Labels of a conditional model (one for every row, or one per row); None otherwise.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            The bound in nats (float64).
        """
        eng = self._engine_ready()
        X = self._validate(X)
        self._check_values(X)
        n = X.shape[0]
        C = self._labels(y, n)
        validate_params(self, {"n_importance": self._parameter_constraints["n_importance"]})  # set_params after fit
        k = int(self.n_importance)
        H = self._encode(eng, X, C)
        Xd, Cd = eng.put(X), (eng.put(C) if C.shape[1] else None)
        streams = self._streams_for(None)
        rows = max(1, _IWAE_ROWS // k)
        # a chunk's rows repeated k times through the decoder (its activations, the draws, the NLL)
        per_draw = (sum(self.decoder_.sizes) + 2 * self.encoder_.sizes[-1] + 2 * X.shape[1]) * eng.dtype.itemsize
        check_allocation("n_importance", min(rows, n) * k * per_draw,
                         f"{k} importance samples per row x {X.shape[1]} features")
        dec_theta = eng.put(self.decoder_.theta)
        nn = eng.kernels.nn
        # Each chunk on the device: its rows repeated k times, the draws, the decoder on [Zs | labels],
        # the reconstruction NLL and the bound's log-mean-exp; only the chunk's bounds come back.
        result = []
        for chunk, r0 in enumerate(range(0, n, rows)):
            r1 = min(r0 + rows, n)
            Hc = H[r0:r1]
            Hr = nn.repeat_join(Hc, None, k, 1)
            Zs, eps, _ = nn.gaussian_kl_reparam(Hr, streams.seed, EVAL_STREAM + chunk, 1.0)
            Zin = Zs if Cd is None else nn.repeat_join(Zs, Cd[r0:r1], 1, k)
            out = eng.predict(self.decoder_, dec_theta, Zin)
            nll = self._recon_nll(eng, out, nn.repeat_join(Xd[r0:r1], None, k, 1))
            result.append(eng.host(nn.iwae_bound(nll, Hc, Zs, eps, k)))
        return np.concatenate(result)

    def score(self, X, y=None):
        """Mean importance-weighted log-likelihood bound of X (nats per sample).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None, label or array-like of shape (n_samples,), default=None
            Labels of a conditional model (one for every row, or one per row); None otherwise.

        Returns
        -------
        score : float
            The mean of ``score_samples(X, y)``.
        """
        return float(self.score_samples(X, y).mean())
