"""MADE: masked autoencoder for distribution estimation (Germain et al. 2015) on the nn kernels.

One MLP whose weights are masked so that output block d depends only on the variables before d in
an ordering: log p(x) = sum_d log p(x_d | x_<d) exactly, in one forward pass. Connectivity (orders,
hidden degrees, masks, the input/output layout of each output type) is ``_made_masks``'s. Training
is one ``made_step`` kernel call per minibatch (masked forward, loss, backward, masked gradient,
optimiser update), scoring one ``made_logprob`` call per mask, sampling one ``made_sample`` call per
mask (incremental decoding). With ``n_masks > 1`` (connectivity-agnostic training, paper section
3.4) the masks cycle over the minibatches, and the model is the ensemble average
p(x) = (1 / n_masks) sum_k p_k(x): ``score_samples`` averages the probabilities, ``sample`` picks a
mask per sample uniformly and decodes with it.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _made_masks as mm
from .._params import Interval, Options
from .._validation import check_float, check_int
from ..nn._base import ACTIVATION, LAYERS, OPTIMIZER, SLOPE, BaseNN
from ..nn._engine import Trainable, publish
from ..nn._mlp import MLP, check_network_size
from ..nn._training import run_epochs
from ..nn._mlp import check_layer_sizes

__all__ = ["MADE"]

_SCORE_ROWS = 1 << 14  # rows per made_logprob call (bounds the device's activation buffers)


class MADE(BaseNN):
    """Masked autoencoder for distribution estimation: an exact autoregressive density model.

    One MLP whose weights are masked so that output block d depends only on the variables before d
    in an ordering: log p(x) = sum_d log p(x_d | x_<d) exactly, in one forward pass (Germain et al.
    2015). With ``n_masks > 1`` (connectivity-agnostic training) the masks cycle over the
    minibatches and the model is the ensemble average p(x) = (1 / n_masks) sum_k p_k(x). Fitted
    parameters live in host NumPy arrays; the engine is rebuilt after unpickling or ``set_params``.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(500,)
        Widths of the hidden layers; ``()`` gives a logistic autoregressive model (each conditional
        a linear function of the earlier variables).
    output : {"bernoulli", "categorical", "gaussian_mixture"}, default="bernoulli"
        The conditionals: Bernoulli (binary data; ``fit`` also accepts probabilities in [0, 1] as
        soft targets), categorical over ``n_categories`` values (data: integer category indices,
        one-hot encoded at the input), or a mixture of ``n_components`` Gaussians (real data;
        standardise it first).
    n_categories : int or None, default=None
        Number of categories V (>= 2) for output="categorical"; required there.
    n_components : int, default=5
        Mixture components K per variable for output="gaussian_mixture" (>= 1).
    ordering : {"natural", "random"} or sequence of int, default="natural"
        The order in which variables are generated: natural (0, 1, ...), a random order drawn from
        ``random_state`` (one per mask), or explicit, a permutation of range(n_features)
        (``ordering[i]`` is the variable generated i-th).
    n_masks : int, default=1
        Number of connectivity masks (>= 1). More than one trains an ensemble that shares weights:
        each minibatch uses the next mask in turn; scoring and sampling average over the masks.
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
        L2 penalty added to the gradient (torch's ``weight_decay``), >= 0.
    momentum : float, default=0.0
        SGD momentum, in [0, 1).
    batch_size : int, default=100
        Rows per minibatch (>= 1).
    max_epochs : int, default=50
        Passes over the data in ``fit`` (>= 0).
    random_state : None, int or numpy RandomState, default=None
        Seeds the weight initialisation, the orderings and hidden degrees, the epoch permutations
        and the model's Philox key.
    verbose : bool or int, default=0
        Progress with the training NLL on stderr when > 0: a live bar on a terminal (tqdm's when installed),
        one line per epoch otherwise.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernels run ("auto": a usable GPU, else the CPU).
    dtype : float32 or float64, default=np.float32
        Precision of the parameters and of the kernel work.

    Attributes
    ----------
    network_ : MLP
        The network with its fitted (unmasked) parameters ``theta``; the model uses theta * mask.
    masks_ : ndarray of shape (n_masks, n_params)
        The 0/1 masks in theta's layout (``_made_masks.flat_mask``), in the model's dtype.
    orders_ : ndarray of int64, shape (n_masks, n_features)
        The degree of each variable (1 = generated first) under each mask.
    hidden_degrees_ : list of lists of int64 arrays
        ``hidden_degrees_[k][l]``: the degrees of hidden layer l's units under mask k.
    loss_curve_ : ndarray of shape (n_epochs,)
        Per-epoch mean training NLL in nats per sample (each minibatch measured before its update).
    n_iter_ : int
        Epochs run (over all calls of fit and partial_fit since the last fit).
    n_features_in_ : int
        Number of features seen in fit.

    See Also
    --------
    sample_logits : Decoding of categorical logits with temperature, top-k and top-p.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.autoregressive import MADE
    >>> X = (np.random.default_rng(0).random((200, 6)) < 0.5).astype(np.float32)
    >>> made = MADE(hidden_layer_sizes=(16,), max_epochs=3, random_state=0, device="cpu").fit(X)
    >>> made.score_samples(X[:3]).shape, bool(made.score(X) < 0)
    ((3,), True)
    >>> S = made.sample(4, random_state=0)
    >>> S.shape, bool(np.isin(S, [0, 1]).all())
    ((4, 6), True)
    """

    # scikit-learn's DensityMixin type (as GaussianMixture, KernelDensity): score_samples is a
    # log-likelihood (MADE: exact; VAE: an importance-weighted lower bound) and score its mean.
    _estimator_type = "density_estimator"
    _parameter_constraints = {
        **BaseNN._parameter_constraints,
        **OPTIMIZER,
        "hidden_layer_sizes": LAYERS,  # () allowed: a logistic autoregressive model
        "output": [Options(*mm.OUTPUTS)],
        "n_categories": [None, Interval(numbers.Integral, 2, None)],  # required by 'categorical': _n_out
        "n_components": [Interval(numbers.Integral, 1, None)],
        # an explicit order is checked to be a permutation of the features with the data (make_order)
        "ordering": [Options("natural", "random"), "sequence"],
        "n_masks": [Interval(numbers.Integral, 1, None)],
        "activation": ACTIVATION,
        "slope": SLOPE,
    }

    def __init__(self, hidden_layer_sizes=(500,), *, output="bernoulli", n_categories=None, n_components=5,
                 ordering="natural", n_masks=1, activation="relu", slope=0.01, optimizer="adam", learning_rate=1e-3,
                 beta1=0.9, beta2=0.999, weight_decay=0.0, momentum=0.0, batch_size=100, max_epochs=50,
                 random_state=None, verbose=0, device="auto", dtype=np.float32):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.output = output
        self.n_categories = n_categories
        self.n_components = n_components
        self.ordering = ordering
        self.n_masks = n_masks
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

    # -- checks ------------------------------------------------------------------------------------
    def _n_out(self):
        """V (categorical), K (mixture) or 1 (Bernoulli)."""
        if self.output == "categorical":
            if self.n_categories is None:
                raise ValueError("n_categories: output='categorical' needs the number of categories, an integer "
                                 ">= 2, got None")
            return int(self.n_categories)
        if self.output == "gaussian_mixture":
            return int(self.n_components)
        return 1

    def _check_params(self):
        self._validate_params()
        hidden = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True)
        n_out = self._n_out()
        return hidden, n_out, self._optimizer(self.optimizer)

    def _check_values(self, X, output, n_out, name="X", *, scoring):
        """Bernoulli: [0, 1] to fit (soft targets), {0, 1} to score; categorical: integer indices
        in [0, n_out). X (finite, checked) on the host or the device: one ``first_outside`` pass
        where it lives, one element back."""
        if output == "bernoulli":
            if scoring:
                bad = self._engine.first_outside(X, 0.0, 1.0, integral=True)  # not 0 or 1
                if bad is not None:
                    (i, j), value = bad
                    raise ValueError(f"{name}: output='bernoulli' scores binary data: expected values in {{0, 1}}, "
                                     f"got {float(value)!r} at ({i}, {j}) (fit accepts probabilities in [0, 1] "
                                     f"as soft targets, but log p(x) is defined for binary x only)")
            else:
                self._check_unit_interval(X, name, "output='bernoulli'")
        elif output == "categorical":
            V = n_out
            bad = self._engine.first_outside(X, 0.0, V - 1.0, integral=True)
            if bad is not None:
                (i, j), value = bad
                raise ValueError(f"{name}: output='categorical' needs category indices, integers in [0, {V}) "
                                 f"(n_categories={V}), got {float(value)!r} at ({i}, {j})")

    # -- connectivity --------------------------------------------------------------------------------
    def _sizes(self, D, hidden, n_out):
        return (D * mm.input_width(self.output, n_out),) + hidden + (D * mm.output_width(self.output, n_out),)

    def _connectivity(self, D, hidden, n_out, rng, dtype):
        """(orders [M, D], hidden degrees [M][layers], masks [M, P]) drawn from `rng`: the ordering
        once (natural, explicit) or per mask (random), the hidden degrees per mask."""
        orders, degrees = [], []
        for k in range(int(self.n_masks)):
            if k == 0 or isinstance(self.ordering, str) and self.ordering == "random":
                order = mm.make_order(D, self.ordering, rng)
            orders.append(order)
            degrees.append(mm.make_hidden_degrees(D, hidden, rng))
        sizes = self._sizes(D, hidden, n_out)
        masks = np.stack([mm.flat_mask(sizes, o, h, self.output, n_out, dtype) for o, h in zip(orders, degrees)])
        return np.stack(orders), degrees, masks

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Minimise the mean negative log-likelihood of X for max_epochs epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: values in [0, 1] (Bernoulli), category indices in [0, n_categories)
            (categorical), or real values (Gaussian mixture).
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : MADE
            The fitted estimator.
        """
        return self._fit(X, None, fresh=True)

    def partial_fit(self, X, y=None):
        """One epoch over X, continuing the current fit (its weights, optimiser state and mask cycle).

        On an unfitted model, initialises it as fit would first. The output type, its number of
        values, the hidden layers and the activation must be those of the fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, as for ``fit``.
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        self : MADE
            The updated estimator.
        """
        return self._fit(X, 1, fresh=not hasattr(self, "n_features_in_"))

    def _fit(self, X, epochs, *, fresh):
        hidden, n_out, opt = self._check_params()
        epochs = int(self.max_epochs) if epochs is None else epochs
        eng = self._setup_engine()
        if fresh:
            X = self._validate(X, fitting=True)
        else:
            X = self._validate(X)
        self._check_values(X, self.output, n_out, scoring=False)
        D = X.shape[1]
        if fresh:
            sizes = self._sizes(D, hidden, n_out)
            # parameters, gradients, optimiser state and one mask per n_masks
            check_network_size((sizes, (None,) + ("hidden_layer_sizes",) * len(hidden) + (None,)),
                               itemsize=eng.dtype.itemsize, copies=4 + int(self.n_masks))
            init_rng, perm_rng, streams = self._fit_randomness()
            orders, degrees, masks = self._connectivity(D, hidden, n_out, init_rng, eng.dtype)
            net = MLP(self._sizes(D, hidden, n_out), (self.activation,) * len(hidden) + ("identity",), self.slope)
            net.init_params(init_rng, eng.dtype)
            state, curve0 = None, np.zeros(0)
        else:
            fitted = (self._fitted_output, self._fitted_n_out, self.network_.sizes[1:-1], self.network_.activations[0])
            now = (self.output, n_out, hidden, self.activation if hidden else self.network_.activations[0])
            if now != fitted:
                raise ValueError(f"partial_fit: the model was fitted with (output, n_out, hidden_layer_sizes, "
                                 f"activation) = {fitted}, now {now}; call fit to start over with new settings")
            orders, degrees, masks, perm_rng, streams = (self.orders_, self.hidden_degrees_, self.masks_,
                                                         self._perm_rng, self._streams)
            net = MLP(self.network_.sizes, self.network_.activations, self.network_.slope,
                      self.network_.theta.astype(eng.dtype))
            state, curve0 = self._optimizer_state, self.loss_curve_
        tr = Trainable(eng, net, opt)
        if state is not None:
            tr.m, tr.v, tr.t = eng.put_private(state[0]), eng.put_private(state[1]), int(state[2])
        mask_dev = [eng.put(mk) for mk in masks]
        code, slope = mm.OUTPUTS[self.output], float(self.slope)

        def step(batches, stream, k):
            (Xb,) = batches
            t = tr.next_t()
            return eng.kernels.autoregressive.made_step(*tr.args(), slope, mask_dev[(t - 1) % len(mask_dev)], Xb, code, n_out, t,
                                      opt.code, tr.hp), None

        curve, _ = run_epochs(name=type(self).__name__, engine=eng, arrays=[X], batch_size=int(self.batch_size),
                              max_epochs=epochs, rng=perm_rng, step=step, streams=streams, streams_per_step=0,
                              loss_names=("nll",), verbose=self.verbose, learning_rate=float(self.learning_rate))
        publish(tr, name=type(self).__name__, learning_rate=float(self.learning_rate))
        self.network_ = net
        self.masks_, self.orders_, self.hidden_degrees_ = masks, orders, degrees
        self.loss_curve_ = np.concatenate([curve0, curve[:, 0]])
        self.n_iter_ = len(self.loss_curve_)
        self._optimizer_state = (np.array(eng.host(tr.m), copy=True), np.array(eng.host(tr.v), copy=True), tr.t)
        self._perm_rng, self._streams = perm_rng, streams
        self._fitted_output, self._fitted_n_out = self.output, n_out
        self.n_features_in_ = D
        return self

    # -- inference ---------------------------------------------------------------------------------
    def _masked(self, eng, k):
        """theta * mask_k in the engine's dtype, on the device (the kernels' theta_masked)."""
        return eng.put(self.network_.theta.astype(eng.dtype) * self.masks_[k].astype(eng.dtype))

    def score_samples(self, X):
        """Exact log-likelihood log p(x) of each row.

        With n_masks > 1, the log of the probabilities averaged over the masks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Binary values (Bernoulli), category indices (categorical) or real values.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(x) in nats (float64).
        """
        eng = self._engine_ready()
        X = self._validate(X)
        self._check_values(X, self._fitted_output, self._fitted_n_out, scoring=True)
        code, n_out = mm.OUTPUTS[self._fitted_output], self._fitted_n_out
        net = self.network_
        per_mask = np.empty((len(self.masks_), X.shape[0]))
        for k in range(len(self.masks_)):
            thm = self._masked(eng, k)
            for r0 in range(0, X.shape[0], _SCORE_ROWS):
                Xr = eng.put(X[r0:r0 + _SCORE_ROWS])
                lp = eng.kernels.autoregressive.made_logprob(thm, net.sizes_array, net.acts_array, float(net.slope), Xr, code, n_out)
                per_mask[k, r0:r0 + _SCORE_ROWS] = eng.host(lp)
        if len(per_mask) == 1:
            return per_mask[0]
        top = per_mask.max(axis=0)
        return top + np.log(np.exp(per_mask - top).mean(axis=0))

    def score(self, X, y=None):
        """Mean log-likelihood of X (nats per sample).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored (scikit-learn's API).

        Returns
        -------
        score : float
            The mean of ``score_samples(X)``.
        """
        return float(self.score_samples(X).mean())

    def sample(self, n_samples=1, random_state=None, temperature=1.0, top_k=None, top_p=None):
        """Draw samples by incremental autoregressive decoding.

        The ``made_sample`` kernel: after each generated variable only the hidden units it reaches
        are updated. With n_masks > 1 each sample's mask is drawn uniformly.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (>= 1).
        random_state : None, int or numpy RandomState, default=None
            Keys the Philox draws; None continues the model's own random stream (each call gives
            new samples).
        temperature : float, default=1.0
            Scales the conditionals' logits (> 0; 1: the model itself).
        top_k : int or None, default=None
            Keep the k most probable categories of each draw (output="categorical" only).
        top_p : float in (0, 1] or None, default=None
            Nucleus sampling of each categorical draw (output="categorical" only).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Float samples in ``dtype`` (0/1 for Bernoulli) or, for categorical outputs, int64
            category indices.
        """
        eng = self._engine_ready()
        n = check_int(n_samples, "n_samples", 1)
        self._check_sample_size(n, self.network_.sizes)
        temperature = check_float(temperature, "temperature", minimum=0.0, strict=True)
        output = self._fitted_output
        if output != "categorical" and (top_k is not None or top_p is not None):
            raise ValueError(f"top_k, top_p: restrict categorical draws only; output={output!r} takes neither "
                             f"(got top_k={top_k!r}, top_p={top_p!r})")
        k_top = 0 if top_k is None else check_int(top_k, "top_k", 1)
        p_top = 1.0 if top_p is None else check_float(top_p, "top_p", minimum=0.0, strict=True)
        if p_top > 1:
            raise ValueError(f"top_p: must lie in (0, 1], got {top_p!r}")
        streams = self._streams_for(random_state)
        M, D = len(self.masks_), self.n_features_in_
        which = np.zeros(n, dtype=np.int64)
        if M > 1:
            u = eng.uniform(streams.seed, streams.take(1), n)
            which = np.minimum((u * M).astype(np.int64), M - 1)
        out = np.empty((n, D), dtype=eng.dtype)
        net, code = self.network_, mm.OUTPUTS[output]
        for k in range(M):
            # Two per mask (made_sample draws uniforms from `stream`, mixture normals from `stream + 1`),
            # taken whether used or not: the draws do not depend on how samples split over masks.
            stream = streams.take(2)
            rows = np.flatnonzero(which == k)
            if rows.size == 0:
                continue
            degrees = np.concatenate([np.asarray(h, np.int64) for h in self.hidden_degrees_[k]] or
                                     [np.zeros(0, np.int64)])
            drawn = eng.kernels.autoregressive.made_sample(self._masked(eng, k), net.sizes_array, net.acts_array, float(net.slope),
                                         np.ascontiguousarray(self.orders_[k], dtype=np.int64), degrees, code,
                                         self._fitted_n_out, int(rows.size), temperature, k_top, p_top,
                                         streams.seed, stream)
            out[rows] = eng.host(drawn)
        return out.astype(np.int64) if output == "categorical" else out
