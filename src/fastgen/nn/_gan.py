"""Generative adversarial networks (Goodfellow et al. 2014) on the nn kernels: the non-saturating
loss or WGAN-GP (Gulrajani et al. 2017), conditional on labels when ``fit`` gets ``y`` (Mirza &
Osindero 2014).

One training step (``gan_step``) is one kernel call: a discriminator (critic) update on a minibatch
of real rows and as many generated ones, then, every ``n_critic``-th step, a generator update
through the freshly updated discriminator. Both networks are MLPs; the generator maps
[z | one-hot label], z ~ N(0, I), to a sample, the discriminator maps [x | label] to one logit
(non-saturating) or one critic value (WGAN-GP).
"""
from __future__ import annotations

import numbers

import numpy as np

from .._params import Interval, Options
from ._base import ACTIVATION, LAYERS, NON_NEGATIVE, SLOPE, BaseNN, range_if_outside
from ._engine import Trainable, publish
from ._mlp import MLP, check_network_size
from ._training import run_epochs

__all__ = ["GAN"]

LOSSES = {"nonsaturating": 0, "wasserstein-gp": 1}
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "tanh")
_OUTPUT_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


class GAN(BaseNN):
    """GAN with MLP generator and discriminator, trained with Adam; conditional with labels.

    The generator maps [z | one-hot label], z ~ N(0, I), to a sample; the discriminator maps
    [x | label] to one logit (non-saturating loss) or one critic value (WGAN-GP). One training step
    is one ``gan_step`` kernel call: a discriminator update on a minibatch of real rows and as many
    generated ones, then, every ``n_critic``-th step, a generator update through the freshly
    updated discriminator. Fitted parameters live in host NumPy arrays (``generator_.theta``,
    ``discriminator_.theta``); the engine is rebuilt after unpickling or ``set_params``.

    Parameters
    ----------
    generator_layers, discriminator_layers : int or sequence of int, default=(256, 256)
        Hidden widths of each network (at least one layer, each width >= 1).
    latent_dim : int, default=64
        Dimension of the generator's noise z ~ N(0, I), >= 1.
    loss : {"nonsaturating", "wasserstein-gp"}, default="nonsaturating"
        Non-saturating GAN loss (discriminator logits) or the Wasserstein loss with gradient
        penalty ``gp_weight`` (critic values).
    gp_weight : float, default=10.0
        Weight of the gradient penalty (loss="wasserstein-gp"), >= 0.
    n_critic : int, default=1
        The discriminator is updated every step, the generator every n_critic-th step (>= 1).
    generator_activation : str, default="relu"
        Hidden-layer activation of the generator: "relu", "leaky_relu", "tanh", "sigmoid",
        "softplus" or "identity".
    discriminator_activation : str, default="leaky_relu"
        Hidden-layer activation of the discriminator (same choices).
    slope : float, default=0.2
        The leaky-ReLU slope of both networks, in (0, 1).
    output_activation : {"identity", "sigmoid", "tanh"}, default="identity"
        The generator's output: pick sigmoid for data in [0, 1], tanh for data in [-1, 1] (fit
        checks that X lies in the range).
    learning_rate : float, default=2e-4
        Adam's step size for both networks (> 0).
    beta1, beta2 : float, default=0.5, 0.999
        Adam's moment decay rates, in [0, 1) (with learning_rate, the DCGAN defaults).
    batch_size : int, default=128
        Real rows per minibatch (>= 1; the last minibatch of an epoch may be smaller).
    max_epochs : int, default=100
        Passes over the data (>= 0).
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
    generator_, discriminator_ : MLP
        The networks with their fitted parameters (``theta``).
    loss_curve_ : ndarray of shape (n_epochs, 2)
        Per-epoch means of the discriminator's and the generator's losses (columns d, g), each
        measured on its minibatch before its update.
    n_iter_ : int
        Epochs run.
    classes_ : ndarray or None
        Labels of a conditional fit (None without labels).
    n_features_in_ : int
        Number of features seen in fit.

    See Also
    --------
    VAE : A likelihood-based generative model with an encoder.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.nn import GAN
    >>> X = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
    >>> gan = GAN(generator_layers=(16,), discriminator_layers=(16,), latent_dim=2, max_epochs=3,
    ...           batch_size=64, random_state=0, device="cpu").fit(X)
    >>> gan.sample(5, random_state=0).shape, gan.loss_curve_.shape
    ((5, 2), (3, 2))
    >>> gan.discriminate(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseNN._parameter_constraints,
        "generator_layers": LAYERS,
        "discriminator_layers": LAYERS,
        "latent_dim": [Interval(numbers.Integral, 1, None)],
        "loss": [Options(*LOSSES)],
        "gp_weight": NON_NEGATIVE,
        "n_critic": [Interval(numbers.Integral, 1, None)],
        "generator_activation": ACTIVATION,
        "discriminator_activation": ACTIVATION,
        "slope": SLOPE,
        "output_activation": [Options(*OUTPUT_ACTIVATIONS)],
    }

    def __init__(self, generator_layers=(256, 256), discriminator_layers=(256, 256), latent_dim=64, *,
                 loss="nonsaturating", gp_weight=10.0, n_critic=1, generator_activation="relu",
                 discriminator_activation="leaky_relu", slope=0.2, output_activation="identity", learning_rate=2e-4,
                 beta1=0.5, beta2=0.999, batch_size=128, max_epochs=100, random_state=None, verbose=0, device="auto",
                 dtype=np.float32):
        self.generator_layers = generator_layers
        self.discriminator_layers = discriminator_layers
        self.latent_dim = latent_dim
        self.loss = loss
        self.gp_weight = gp_weight
        self.n_critic = n_critic
        self.generator_activation = generator_activation
        self.discriminator_activation = discriminator_activation
        self.slope = slope
        self.output_activation = output_activation
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.dtype = dtype

    def _check_params(self):
        self._validate_params()
        gl = self._layers(self.generator_layers, "generator_layers")
        dl = self._layers(self.discriminator_layers, "discriminator_layers")
        return gl, dl, self._optimizer("adam")

    def fit(self, X, y=None):
        """Train on minibatches of X for max_epochs epochs; with labels y, a conditional GAN.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a scipy.sparse matrix is densified), inside output_activation's range.
        y : array-like of shape (n_samples,), default=None
            Class labels for a conditional GAN (stored as ``classes_``); None: unconditional.

        Returns
        -------
        self : GAN
            The fitted estimator.

        Raises
        ------
        FloatingPointError
            When training diverges (a non-finite loss); the estimator keeps its previous state.
        """
        gl, dl, opt = self._check_params()
        eng = self._setup_engine()
        X = self._validate(X, fitting=True)
        if self.output_activation in _OUTPUT_RANGE:
            lo, hi = _OUTPUT_RANGE[self.output_activation]
            bad = range_if_outside(eng, X, lo, hi)
            if bad is not None:
                raise ValueError(f"output_activation: {self.output_activation!r} generates values in [{lo:g}, "
                                 f"{hi:g}], but X has values in [{bad[0]:g}, {bad[1]:g}]; "
                                 f"rescale X or use output_activation='identity'")
        n, D = X.shape
        C, classes = self._fit_labels(y, n)
        c, q = C.shape[1], int(self.latent_dim)
        init_rng, perm_rng, streams = self._fit_randomness()
        check_network_size(((q + c,) + gl + (D,), ("latent_dim",) + ("generator_layers",) * len(gl) + (None,)),
                           ((D + c,) + dl + (1,), (None,) + ("discriminator_layers",) * len(dl) + (None,)),
                           itemsize=eng.dtype.itemsize)
        generator = MLP((q + c,) + gl + (D,), (self.generator_activation,) * len(gl) + (self.output_activation,),
                        self.slope)
        discriminator = MLP((D + c,) + dl + (1,), (self.discriminator_activation,) * len(dl) + ("identity",),
                            self.slope)
        generator.init_params(init_rng, eng.dtype)
        discriminator.init_params(init_rng, eng.dtype)
        g, d = Trainable(eng, generator, opt), Trainable(eng, discriminator, opt)
        loss, gp_weight, n_critic = LOSSES[self.loss], float(self.gp_weight), int(self.n_critic)
        slope = float(self.slope)

        def step(batches, stream, k):
            Xb, Cb = batches
            update_gen = k % n_critic == 0
            t_d = d.next_t()
            t_g = g.next_t() if update_gen else max(g.t, 1)
            losses = eng.kernels.nn.gan_step(*g.args(), *d.args(), slope, Xb, Cb, loss, gp_weight, int(update_gen),
                                       streams.seed, stream, t_d, t_g, opt.code, d.hp, g.hp)
            return losses, (True, update_gen)

        curve, _ = run_epochs(name=type(self).__name__, engine=eng, arrays=[X, C], batch_size=int(self.batch_size),
                              max_epochs=int(self.max_epochs), rng=perm_rng, step=step, streams=streams,
                              streams_per_step=3, loss_names=("d_loss", "g_loss"), verbose=self.verbose,
                              learning_rate=float(self.learning_rate))
        publish(g, d, name=type(self).__name__, learning_rate=float(self.learning_rate))
        self.generator_, self.discriminator_ = generator, discriminator
        self.loss_curve_ = curve
        self.n_iter_ = int(self.max_epochs)
        self.classes_, self._streams = classes, streams
        self.n_features_in_ = D
        return self

    def sample(self, n_samples=1, y=None, random_state=None):
        """Generated rows G(z), z ~ N(0, I).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (>= 1); with one label per sample in y, 1 or len(y).
        y : None, label or array-like of labels, default=None
            Conditional models need y: one label for every sample, or one per sample.
        random_state : None, int or numpy RandomState, default=None
            Keys the Philox draws; None continues the model's own random stream (each call gives
            new samples).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, in ``dtype``.
        """
        eng = self._engine_ready()
        n, C = self._n_and_labels(n_samples, y)
        streams = self._streams_for(random_state)
        q = self.generator_.sizes[0] - C.shape[1]
        Z = eng.normal(streams.seed, streams.take(1), n * q).reshape(n, q).astype(eng.dtype)
        return eng.host(eng.predict(self.generator_, eng.put(self.generator_.theta), eng.join(Z, C)))

    def discriminate(self, X, y=None):
        """The discriminator's output per row; higher means more like the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None, label or array-like of shape (n_samples,), default=None
            Labels of a conditional model (one for every row, or one per row); None otherwise.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            A logit of 'real' (non-saturating) or the critic value (WGAN-GP), in ``dtype``.
        """
        eng = self._engine_ready()
        X = self._validate(X)
        C = self._labels(y, X.shape[0])
        out = eng.host(eng.predict(self.discriminator_, eng.put(self.discriminator_.theta), eng.join(X, C)))
        return np.ascontiguousarray(out[:, 0])
