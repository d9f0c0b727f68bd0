"""The multilayer-perceptron spec shared by the nn kernels and the estimators built on them.

An ``MLP`` is a description, not a module: layer sizes, one activation per layer, the leaky-ReLU
slope and (once initialised or fitted) the flat parameter vector ``theta`` in the kernel contract's
layout (csrc/KERNELS.md, "Neural networks"): layer by layer, W_l ``[d_{l-1}, d_l]`` row-major
(torch's ``weight.T``), then b_l ``[d_l]``. ``weights(l)`` and ``bias(l)`` are views into ``theta``,
so editing them edits the network.
"""
from __future__ import annotations

import numbers

import numpy as np

# The contract's activation codes (acts int32[L]).
ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4, "softplus": 5}
ACTIVATION_NAMES = {code: name for name, code in ACTIVATIONS.items()}


def activation_code(name, argument="activation") -> int:
    """The contract's code of an activation name; ValueError naming `argument` otherwise."""
    if isinstance(name, str) and name in ACTIVATIONS:
        return ACTIVATIONS[name]
    raise ValueError(f"{argument}: expected one of {tuple(ACTIVATIONS)}, got {name!r}")


def check_slope(slope, argument="slope") -> float:
    if isinstance(slope, bool) or not isinstance(slope, numbers.Real) or not (0 < slope < 1):
        raise ValueError(f"{argument}: the leaky-ReLU slope must be a number in (0, 1), got {slope!r}")
    return float(slope)


def check_layer_sizes(layers, argument, *, allow_empty=True) -> tuple:
    """A tuple of positive ints from an int or a sequence of ints."""
    if isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
        layers = (layers,)
    try:
        layers = tuple(layers)
    except TypeError:
        raise ValueError(f"{argument}: expected a sequence of positive layer widths, got {layers!r}") from None
    for w in layers:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
            raise ValueError(f"{argument}: every layer width must be a positive integer, got {layers!r}")
    if not layers and not allow_empty:
        raise ValueError(f"{argument}: need at least one hidden layer, got an empty list")
    return tuple(int(w) for w in layers)


def check_network_size(*nets, itemsize, copies=4) -> None:
    """Refuse, before anything is allocated, networks whose parameters (times `copies`: theta, the
    gradient and the optimiser's two moments) would not fit in memory. Each net is (sizes, names):
    its widths and the argument behind each width (None: the data's), and the error names the
    argument behind the wider side of the largest weight matrix."""
    from .._validation import check_allocation
    total, worst, blame = 0, -1, "X"
    for sizes, names in nets:
        for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            total += int(a) * int(b) + int(b)
            if int(a) * int(b) > worst:
                # the argument behind the wider of the matrix's two sides
                wide, narrow = (names[l], names[l + 1]) if int(a) >= int(b) else (names[l + 1], names[l])
                worst, blame = int(a) * int(b), wide or narrow or "X"
    widths = " and ".join(str(tuple(int(s) for s in sizes)) for sizes, _ in nets)
    check_allocation(blame, total * itemsize * copies, f"layer widths {widths} ({total} parameters, with "
                     f"gradients and optimiser state)")


class MLP:
    """A fully connected network d_0 -> d_1 -> ... -> d_L with activation act_l after layer l.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths d_0 (inputs) .. d_L (outputs); at least two, each >= 1.
    activations : str or sequence of str
        One name per layer (L of them) from ``ACTIVATIONS``, or one name for every layer.
    slope : float
        Negative-side slope of the ``leaky_relu`` layers, in (0, 1).
    theta : array, optional
        The flat parameters (``n_params`` values, the contract's layout).
    """

    def __init__(self, sizes, activations="relu", slope=0.01, theta=None):
        sizes = tuple(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes: need at least an input and an output width, got {sizes!r}")
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"sizes: every width must be a positive integer, got {sizes!r}")
        self.sizes = tuple(int(s) for s in sizes)
        L = len(self.sizes) - 1
        if isinstance(activations, str):
            activations = (activations,) * L
        activations = tuple(activations)
        if len(activations) != L:
            raise ValueError(f"activations: expected {L} names (one per layer), got {len(activations)}")
        self.activations = tuple(ACTIVATION_NAMES[activation_code(a, "activations")] for a in activations)
        self.slope = check_slope(slope)
        self.theta = None if theta is None else self._check_theta(theta)

    # -- layout --------------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def offsets(self) -> list:
        """(weight start, bias start, end) of each layer in theta."""
        out, at = [], 0
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            out.append((at, at + a * b, at + a * b + b))
            at += a * b + b
        return out

    @property
    def sizes_array(self) -> np.ndarray:
        """``sizes`` as the kernels take it: int64[L + 1]."""
        return np.asarray(self.sizes, dtype=np.int64)

    @property
    def acts_array(self) -> np.ndarray:
        """The activation codes as the kernels take them: int32[L]."""
        return np.asarray([ACTIVATIONS[a] for a in self.activations], dtype=np.int32)

    def _check_theta(self, theta):
        theta = np.asarray(theta)
        if theta.ndim != 1 or theta.shape[0] != self.n_params:
            raise ValueError(f"theta: expected {self.n_params} parameters for sizes {self.sizes}, got shape "
                             f"{theta.shape}")
        if theta.dtype not in (np.float32, np.float64):
            raise TypeError(f"theta: expected float32 or float64, got {theta.dtype}")
        return np.ascontiguousarray(theta)

    def _theta(self, theta):
        if theta is not None:
            return theta
        if self.theta is None:
            raise AttributeError("This MLP has no parameters yet: call init_params or pass theta")
        return self.theta

    def _layer(self, layer):
        """(offsets, d_in, d_out) of a layer index (negative counts from the end, as for lists)."""
        L = self.n_layers
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral) or not -L <= layer < L:
            raise IndexError(f"layer: expected an index in [0, {L}), got {layer!r}")
        k = int(layer) % L
        return self.offsets[k], self.sizes[k], self.sizes[k + 1]

    def weights(self, layer, theta=None) -> np.ndarray:
        """View of W_l ``[d_{l-1}, d_l]`` (layer 0 is the first layer) in theta."""
        (w0, b0, _), d_in, d_out = self._layer(layer)
        return self._theta(theta)[w0:b0].reshape(d_in, d_out)

    def bias(self, layer, theta=None) -> np.ndarray:
        """View of b_l ``[d_l]`` in theta."""
        (_, b0, end), _, _ = self._layer(layer)
        return self._theta(theta)[b0:end]

    def init_params(self, rng=None, dtype=np.float32) -> np.ndarray:
        """torch.nn.Linear's default initialisation: W_l and b_l ~ U(-1/sqrt(d_{l-1}), 1/sqrt(d_{l-1})),
        drawn layer by layer (W then b) from the numpy Generator `rng` (or a seed for one). Sets and
        returns ``theta``."""
        rng = np.random.default_rng(rng)
        parts = []
        for d_in, d_out in zip(self.sizes[:-1], self.sizes[1:]):
            bound = 1.0 / np.sqrt(d_in)
            parts.append(rng.uniform(-bound, bound, d_in * d_out))
            parts.append(rng.uniform(-bound, bound, d_out))
        self.theta = np.ascontiguousarray(np.concatenate(parts), dtype=dtype)
        return self.theta

    def split(self, at):
        """(first, second): this network cut after layer `at` (1 <= at < L) as two MLPs whose
        thetas are views of this one's (the layout is layer by layer, so each part is a slice)."""
        if not 1 <= at < self.n_layers:
            raise ValueError(f"at: expected 1 <= at < {self.n_layers}, got {at!r}")
        cut = self.offsets[at][0]
        first = MLP(self.sizes[:at + 1], self.activations[:at], self.slope)
        second = MLP(self.sizes[at:], self.activations[at:], self.slope)
        if self.theta is not None:
            first.theta, second.theta = self.theta[:cut], self.theta[cut:]
        return first, second

    def predict(self, X, device="cpu"):
        """The network's output a_L for inputs X ``[N, d_0]`` (through the kernels of `device`)."""
        from ._engine import Engine
        eng = Engine(device, self._theta(None).dtype)
        return eng.host(eng.predict(self, eng.put(self.theta), X))

    def __repr__(self):
        acts = ", ".join(self.activations)
        state = "initialised" if self.theta is not None else "no parameters"
        return f"MLP(sizes={self.sizes}, activations=({acts}), slope={self.slope}; {self.n_params} parameters, {state})"

    def __eq__(self, other):
        if not isinstance(other, MLP):
            return NotImplemented
        same_theta = (self.theta is None and other.theta is None) or (
            self.theta is not None and other.theta is not None and np.array_equal(self.theta, other.theta))
        same_spec = (self.sizes, self.activations, self.slope) == (other.sizes, other.activations, other.slope)
        return same_spec and same_theta

    __hash__ = None
