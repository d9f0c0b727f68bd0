"""MADE training steps (bench_autoregressive.py, MT suites) and the same model in PyTorch, from identical weights,
masks and data.

A step is one Adam update (float32, lr 1e-3) of a one-hidden-layer MADE (ReLU, natural ordering,
the masks of fastgen.autoregressive._made_masks) on one minibatch: masked forward, mean NLL, backward, masked
gradient, update. fastgen runs the `made_step` kernel the estimator calls once per minibatch; torch
runs masked linear layers (z = a (W * M) + b, autograd masks the gradient) with torch.optim.Adam on
torch.set_num_threads(2). Categorical inputs: fastgen takes the indices (first layer from them),
torch the one-hot matrix built once outside the step (its usual form).

Also ``digits_nll``: train both on the binarised digits and report the held-out NLL.
"""
from __future__ import annotations

import numpy as np

from . import common

MADE_IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "torch"]
TORCH_THREADS = 2
SHAPES = {
    "MT1": dict(output="bernoulli", D=784, V=1, hidden=500, batch=100),    # binarised MNIST size
    "MT2": dict(output="categorical", D=64, V=17, hidden=500, batch=100),  # the 8x8 digits, values 0..16
}
HP = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0])
RELU, IDENTITY, ADAM = 1, 0, 0


def require_made(impl: str) -> None:
    if impl not in MADE_IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {MADE_IMPLEMENTATIONS}")
    if impl.startswith("fastgen"):
        common.require(impl)
    else:
        common.require_torch()


def model(shape: dict, seed: int = common.SEED):
    """(sizes, theta float32 (torch's Linear init), flat mask, per-layer masks, X float32 [batch, D])."""
    from fastgen.autoregressive import _made_masks as mm
    out, D, V, H, B = shape["output"], shape["D"], shape["V"], shape["hidden"], shape["batch"]
    rng = np.random.default_rng([seed, D, V, H])
    order = mm.make_order(D, "natural", rng)
    degrees = mm.make_hidden_degrees(D, (H,), rng)
    sizes = (D * mm.input_width(out, V), H, D * mm.output_width(out, V))
    parts = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(a)
        parts += [rng.uniform(-bound, bound, a * b), rng.uniform(-bound, bound, b)]
    theta = np.concatenate(parts).astype(np.float32)
    mask = mm.flat_mask(sizes, order, degrees, out, V, np.float32)
    layer_masks = mm.layer_masks(order, degrees, out, V)
    if out == "bernoulli":
        X = common.rbm_data(B, D)
    else:
        X = rng.integers(0, V, (B, D)).astype(np.float32)
    return sizes, theta, mask, layer_masks, X


class TorchMADE:
    """Masked linear layers with ReLU; the loss of fastgen's output types (mean NLL per row)."""

    def __init__(self, sizes, theta, layer_masks, output, V):
        import torch
        self.torch, self.output, self.V = torch, output, V
        self.params, p = [], 0
        for a, b in zip(sizes[:-1], sizes[1:]):
            W = torch.tensor(theta[p:p + a * b].reshape(a, b), requires_grad=True)
            p += a * b
            bias = torch.tensor(theta[p:p + b], requires_grad=True)
            p += b
            self.params += [W, bias]
        self.masks = [torch.tensor(M, dtype=torch.float32) for M in layer_masks]
        self.opt = torch.optim.Adam(self.params, lr=HP[0], betas=(HP[1], HP[2]), eps=HP[3])

    def inputs(self, X):
        """The network input and the loss target for X (category indices for categorical)."""
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(X, np.float32))
        if self.output == "categorical":
            idx = x.long()
            return torch.nn.functional.one_hot(idx, self.V).reshape(len(X), -1).float(), idx
        return x, x

    def nll(self, x, target):
        F = self.torch.nn.functional
        h = self.torch.relu(x @ (self.params[0] * self.masks[0]) + self.params[1])
        z = h @ (self.params[2] * self.masks[1]) + self.params[3]
        if self.output == "bernoulli":
            return F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(1)
        N, D = target.shape
        return F.cross_entropy(z.reshape(N * D, self.V), target.reshape(-1), reduction="none").reshape(N, D).sum(1)

    def step(self, x, target):
        loss = self.nll(x, target).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss


def made_step(impl: str, shape: dict):
    """A callable taking one MADE training step of `impl` (the model lives in the closure)."""
    sizes, theta, mask, layer_masks, X = model(shape)
    out, V = shape["output"], shape["V"]
    if impl == "torch":
        import torch
        torch.set_num_threads(TORCH_THREADS)
        tm = TorchMADE(sizes, theta, layer_masks, out, V)
        x, target = tm.inputs(X)
        return lambda: tm.step(x, target)

    from fastgen._backend import Backend
    from fastgen.autoregressive import _made_masks as mm
    be = Backend(impl.split("-", 1)[1], theta.dtype)
    kern, put = be.kernels, be.put
    args = [put(theta), put(np.zeros_like(theta)), put(np.zeros_like(theta)), np.asarray(sizes, np.int64),
            np.array([RELU, IDENTITY], np.int32)]
    m, x, code = put(mask), put(X), mm.OUTPUTS[out]
    state = {"t": 0}

    def step():
        state["t"] += 1
        return kern.autoregressive.made_step(*args, 0.0, m, x, code, V, state["t"], ADAM, HP)
    return step


def made_step_flops(shape: dict) -> float:
    """Dense-product FLOPs of one step: forward, weight gradients, the hidden layer's input gradient
    (2 N d_in d_out each: 5 products of a one-hidden-layer MLP)."""
    D, V, H, B = shape["D"], shape["V"], shape["hidden"], shape["batch"]
    d_in = D * V if shape["output"] == "categorical" else D
    d_out = D * V if shape["output"] == "categorical" else D
    return 2.0 * B * H * (2 * d_in + 3 * d_out)


def digits_nll(epochs: int = 50, hidden: int = 500, seed: int = 0) -> dict:
    """Held-out NLL (nats) on the binarised 8x8 digits (> 7 of 0..16; 1500 train / 297 test, fixed
    split) of fastgen's MADE and the same network in torch from the same initial weights and masks
    (its own minibatch order), plus the independent-Bernoulli baseline.

        python -m benchmarks.made_steps [epochs]
    """
    import torch
    from fastgen.autoregressive import MADE
    from fastgen.datasets import load_digits
    X = (load_digits().data > 7).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(X))
    train, test = X[perm[:1500]], X[perm[1500:]]
    fg = MADE((hidden,), max_epochs=epochs, random_state=seed).fit(train)
    # torch from fastgen's initial weights: refit 0 epochs with the same random_state
    init = MADE((hidden,), max_epochs=0, random_state=seed).fit(train)
    torch.set_num_threads(TORCH_THREADS)
    from fastgen.autoregressive import _made_masks as mm
    tm = TorchMADE(init.network_.sizes, init.network_.theta,
                   mm.layer_masks(init.orders_[0], init.hidden_degrees_[0], "bernoulli", 1), "bernoulli", 1)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(train))
        for b0 in range(0, len(train), 100):
            tm.step(*tm.inputs(train[order[b0:b0 + 100]]))
    with torch.no_grad():
        torch_nll = float(tm.nll(*tm.inputs(test)).mean())
    p = train.mean(0).clip(1e-3, 1 - 1e-3)
    indep = float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).sum(1).mean())
    return {"fastgen": -fg.score(test), "torch": torch_nll, "independent": indep}


if __name__ == "__main__":
    import sys
    print(digits_nll(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
