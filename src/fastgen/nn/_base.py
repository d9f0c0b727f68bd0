"""What the nn estimators (VAE, GAN, Autoencoder) share: hyper-parameter checks, data and label
validation, the engine (device + dtype), Philox keys and streams, pickling.

Data live where they are given: a device array (``__cuda_array_interface__``, or a Numba device
array) on a CUDA engine is checked there (``Backend.check_array``, the [0, 1] checks by one
``first_outside`` reduction), trained on there (``run_epochs`` gathers each epoch's minibatches with
``take_rows``; labels, made on the host from y, are put once and joined by ``repeat_join``) and
scored there; only results come back. Host data take the same kernels after one ``put``.

Randomness: ``fit`` draws from ``random_state`` (scikit-learn's convention) a Generator seed for the
weight initialisation, one for the epoch permutations, and the model's Philox key; training takes
streams 0, 1, 2, ... of that key (see nn/training.py) and later ``sample`` calls without a
``random_state`` continue from where training stopped, so they never repeat a draw.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._backend import is_device_array
from .._base import BaseEstimator
from .._params import Interval, Options
from .._validation import check_allocation, check_dtype, check_int, check_random_state, philox_seed
from ._engine import Engine
from ._optim import OPTIMIZERS, make_optimizer
from .._streams import Streams
from .._transform import densified_input_tags
from ._mlp import ACTIVATIONS, check_layer_sizes

# Streams at and above this number are reserved for evaluation (score_samples): deterministic
# draws that never collide with training or sampling streams.
EVAL_STREAM = 1 << 62


def range_if_outside(backend, X, low, high):
    """(min, max) of X when a value lies outside [low, high] or is NaN, else None: the value checks
    of the nn and RBM estimators, whose errors report the data's range. Host X: its min and max (two
    passes, as before). Device X: one reduction there (``Backend.first_outside``); only when it finds
    a bad value does X come to the host, to word the error with its range (the error path may pay one
    copy; ``_reductions.minimum``/``maximum`` would avoid it but skip NaN, which np.min reports)."""
    if is_device_array(X):
        if backend.first_outside(X, low, high) is None:
            return None
        X = backend.host(X)
    lo, hi = float(X.min()), float(X.max())
    return None if lo >= low and hi <= high else (lo, hi)


def check_unit_interval(backend, X, name, why):
    """Raise unless every value of X (host or device) lies in [0, 1]; NaN or infinity is reported as
    such (``_validation.nonfinite_error``'s wording), before the range."""
    bad = range_if_outside(backend, X, 0.0, 1.0)
    if bad is None:
        return
    lo, hi = bad
    if not (np.isfinite(lo) and np.isfinite(hi)):
        index, _ = backend.first_outside(X)
        raise ValueError(f"{name}: contains NaN or infinity (first at index {index})")
    raise ValueError(f"{name}: {why} needs values in [0, 1] (binary data or probabilities), got values "
                     f"in [{lo:g}, {hi:g}]")


def sigmoid(x):
    """Logistic function without overflow warnings."""
    x = np.asarray(x)
    return np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)


# Constraints the nn estimators (and MADE) share; rates, decays and weights are finite (an open
# upper end at inf). Layer sizes: an int or a sequence here, each width >= 1 in check_layer_sizes.
LAYERS = [Interval(numbers.Integral, 1, None), "sequence"]
ACTIVATION = [Options(*ACTIVATIONS)]
SLOPE = [Interval(numbers.Real, 0, 1, closed="neither")]  # of leaky_relu for negative inputs
NON_NEGATIVE = [Interval(numbers.Real, 0, np.inf, closed="left")]
OPTIMIZER = {  # the optimizer choice and SGD's settings, for the estimators that offer them
    "optimizer": [Options(*OPTIMIZERS)],
    "weight_decay": NON_NEGATIVE,
    "momentum": [Interval(numbers.Real, 0, 1, closed="left")],  # > 0 as well for 'nesterov': _optimizer
}


class BaseNN(BaseEstimator):
    """Shared machinery; subclasses define ``fit`` and their inference methods."""

    _fitted_attr = "n_features_in_"
    _parameter_constraints = {
        "learning_rate": [Interval(numbers.Real, 0, np.inf, closed="neither")],
        "beta1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta2": [Interval(numbers.Real, 0, 1, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "max_epochs": [Interval(numbers.Integral, 0, None)],
        "random_state": ["random_state"],
        "verbose": ["boolean", Interval(numbers.Integral, 0, None)],
    }

    def __sklearn_tags__(self):
        return densified_input_tags(super().__sklearn_tags__(), self.dtype)

    # -- set-up ------------------------------------------------------------------------------------
    def _setup_engine(self):
        self._engine = Engine(self.device, self.dtype)
        return self._engine

    def _check_params(self):
        """(encoder layers, decoder layers, optimiser) of an encoder/decoder model (VAE, Autoencoder):
        the decoder mirrors the encoder unless given. GAN and MADE override it."""
        self._validate_params()
        enc = self._layers(self.encoder_layers, "encoder_layers")
        dec = tuple(reversed(enc)) if self.decoder_layers is None else self._layers(self.decoder_layers,
                                                                                    "decoder_layers")
        return enc, dec, self._optimizer(self.optimizer)

    def _optimizer(self, name="adam"):
        """Adam / SGD from the flat hyper-parameters (checked by ``_validate_params``)."""
        beta1, beta2 = getattr(self, "beta1", 0.9), getattr(self, "beta2", 0.999)
        wd, momentum = float(getattr(self, "weight_decay", 0.0)), float(getattr(self, "momentum", 0.0))
        if name == "nesterov" and momentum == 0:
            raise ValueError("momentum: optimizer='nesterov' needs momentum > 0")
        return make_optimizer(name, learning_rate=float(self.learning_rate), beta1=float(beta1),
                              beta2=float(beta2), weight_decay=wd, momentum=momentum)

    @staticmethod
    def _layers(value, name):
        return check_layer_sizes(value, name, allow_empty=False)

    def _engine_ready(self):
        """The engine for inference (rebuilt after unpickling or set_params)."""
        self._check_fitted()
        eng = getattr(self, "_engine", None)
        if eng is None or not eng.made_for(self.device, self.dtype):
            eng = self._setup_engine()
        return eng

    # -- data --------------------------------------------------------------------------------------
    def _validate(self, X, *, fitting=False, name="X", n_features=None):
        """X checked by the engine (set up by the caller) where it lives: a host array, or a device
        array that stays on the device (``Backend.check_array``)."""
        if hasattr(X, "toarray") and not isinstance(X, np.ndarray):  # scipy.sparse
            X = X.toarray()
        if n_features is None and not fitting:
            n_features = self.n_features_in_
        return self._engine.check_array(X, name, n_features=n_features, owner=type(self).__name__)

    def _check_unit_interval(self, X, name, why):
        check_unit_interval(self._engine, X, name, why)

    def _fit_labels(self, y, n):
        """(C, classes): one-hot label columns [n, c] for a conditional fit (c = 0 and classes None
        without labels). fit stores classes_ only once training succeeded."""
        if y is None:
            return np.zeros((n, 0), dtype=check_dtype(self.dtype)), None
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y: expected a 1-D array of {n} labels (one per row of X), got shape {y.shape}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("y: contains NaN or infinity")
        classes = np.unique(y)
        return self._one_hot(np.searchsorted(classes, y), len(classes)), classes

    def _one_hot(self, idx, n_classes):
        C = np.zeros((len(idx), n_classes), dtype=check_dtype(self.dtype))
        C[np.arange(len(idx)), idx] = 1
        return C

    def _labels(self, y, n, *, name="y", allow_broadcast=True):
        """Label columns for n rows of inference input: y is required exactly when fit had labels;
        one label (for every row) or one per row."""
        classes = getattr(self, "classes_", None)
        if classes is None:
            if y is not None:
                raise ValueError(f"{name}: this {type(self).__name__} was fitted without labels; pass y=None")
            return np.zeros((n, 0), dtype=check_dtype(self.dtype))
        if y is None:
            raise ValueError(f"{name}: this {type(self).__name__} was fitted with labels (a conditional model): "
                             f"pass one label or one per row, from classes_ {classes.tolist()}")
        y = np.asarray(y)
        if y.ndim == 0 and allow_broadcast:
            y = np.full(n, y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"{name}: expected one label or {n} labels, got shape {y.shape}")
        idx = np.searchsorted(classes, y)
        idx = np.minimum(idx, len(classes) - 1)
        unseen = classes[idx] != y
        if unseen.any():
            raise ValueError(f"{name}: label {y[unseen][0].item()!r} was not seen in fit; "
                             f"classes_ are {classes.tolist()}")
        return self._one_hot(idx, len(classes))

    # -- randomness --------------------------------------------------------------------------------
    def _fit_randomness(self):
        """(init Generator, permutation Generator, Streams of the new Philox key) from random_state;
        fit stores the streams (as _streams, for later sampling) only once training succeeded."""
        rs = check_random_state(self.random_state)
        init_rng = np.random.default_rng(int(rs.randint(0, 2**63 - 1, dtype=np.int64)))
        perm_rng = np.random.default_rng(int(rs.randint(0, 2**63 - 1, dtype=np.int64)))
        return init_rng, perm_rng, Streams(philox_seed(rs), 0)

    def _streams_for(self, random_state):
        """The model's own streams (random_state None: they move on) or a fresh key's."""
        if random_state is not None:
            return Streams(philox_seed(random_state), 0)
        if getattr(self, "_streams", None) is None:
            self._streams = Streams(philox_seed(self.random_state), 0)
        return self._streams

    def _n_and_labels(self, n_samples, y):
        """(n, C) for sample(): y one label (for every sample) or one per sample (n_samples 1 or
        len(y))."""
        n_samples = check_int(n_samples, "n_samples", 1)
        if y is not None and np.ndim(y) == 1:
            m = len(y)
            if n_samples not in (1, m):
                raise ValueError(f"y: got {m} labels for n_samples={n_samples}; pass one label or one per sample")
            n_samples = m
        self._check_sample_size(n_samples, self._sampler_sizes())
        return n_samples, self._labels(y, n_samples)

    def _sampler_sizes(self):
        """The widths of the network that sample() runs (VAE: decoder_, GAN: generator_)."""
        net = getattr(self, "decoder_", None) or getattr(self, "generator_", None)
        return net.sizes if net is not None else (self.n_features_in_,)

    def _check_sample_size(self, n, sizes):
        """Refuse before allocating a sample() whose rows (each network layer's activations, the
        draws and the output) would not fit in memory."""
        D = self.n_features_in_
        row = (sum(int(s) for s in sizes) + 3 * D) * np.dtype(self.dtype).itemsize
        check_allocation("n_samples", n * row, f"{n} samples x {D} features")
