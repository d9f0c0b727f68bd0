"""Training steps of the nn suites (bench_nn.py): fastgen's fused step kernels and the same step in
PyTorch, built from identical weights and data.

A step is one optimiser update of the whole model on one batch, float32, Adam:
  VAE  encoder [D, *hidden, 2K] and decoder [K, *reversed(hidden), D], ReLU between layers,
       Bernoulli likelihood (BCE with logits), reparameterised draw, KL term.
  GAN  generator and discriminator MLPs (ReLU / LeakyReLU 0.2), non-saturating loss: one
       discriminator update on a real and a fake batch, then one generator update on fresh noise.
fastgen runs the kernel the estimators call once per step (`vae_step` / `gan_step` of the backend's
kernel module) and reads the step's losses back, as the estimators' training loop does (on CUDA
that waits for the step's kernels: without it a timing would see only the launches); torch runs nn.Sequential models with torch.optim.Adam on torch.set_num_threads(2).
Weights are the same arrays (fastgen stores W_l input-major, torch's Linear.weight is its
transpose); the noise differs (Philox vs torch's generator), which does not change the work done.
"""
from __future__ import annotations

import numpy as np

from . import common

NN_IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "torch"]
TORCH_THREADS = 2
VAE_SHAPES = {
    "V1": dict(D=784, hidden=(512,), K=32, batch=128),
    "V2": dict(D=16, hidden=(64, 64), K=8, batch=256),
}
GAN_SHAPES = {
    "N1": dict(gen=(64, 256, 256, 784), disc=(784, 256, 256, 1), batch=128),
    "N2": dict(gen=(16, 64, 64, 16), disc=(16, 64, 64, 1), batch=256),
}
IDENTITY, RELU, LEAKY = 0, 1, 2   # the kernel contract's activation codes (csrc/KERNELS.md)
SLOPE = 0.2
ADAM = 0                          # optimizer code
VAE_HP = np.array([1e-3, 0.9, 0.999, 1e-8, 0.0, 0.0])
GAN_HP = np.array([2e-4, 0.5, 0.999, 1e-8, 0.0, 0.0])


def require_nn(impl: str) -> None:
    """Raise NotImplementedError (asv: skip) when `impl` cannot run here."""
    if impl not in NN_IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {NN_IMPLEMENTATIONS}")
    if impl.startswith("fastgen"):
        common.require(impl)
    else:
        common.require_torch()


def init_layers(sizes, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """torch's default Linear init, W_l ~ U(+-1/sqrt(fan_in)) [fan_in, fan_out], b_l likewise (float32)."""
    rng = np.random.default_rng(seed)
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(d_in)
        layers.append((rng.uniform(-bound, bound, (d_in, d_out)).astype(np.float32),
                       rng.uniform(-bound, bound, d_out).astype(np.float32)))
    return layers


def _flat(layers) -> np.ndarray:
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in layers]).astype(np.float32)


def _net(sizes, hidden_act: int, seed: int, put):
    """The kernel's view of one network: theta, Adam's m and v, sizes, activation codes."""
    theta = _flat(init_layers(sizes, seed))
    acts = np.array([hidden_act] * (len(sizes) - 2) + [IDENTITY], np.int32)
    return [put(theta), put(np.zeros_like(theta)), put(np.zeros_like(theta)),
            put(np.asarray(sizes, np.int64)), put(acts)]


def _torch_net(sizes, act, seed: int):
    import torch
    mods = []
    for i, (W, b) in enumerate(init_layers(sizes, seed)):
        lin = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(sizes) - 2:
            mods.append(act())
    return torch.nn.Sequential(*mods)


def vae_data(D: int, n: int) -> np.ndarray:
    return common.rbm_data(n, D)


def gan_data(D: int, n: int) -> np.ndarray:
    return np.random.default_rng(common.SEED).random((n, D)).astype(np.float32)


def vae_step(impl: str, shape: dict):
    """A callable taking one VAE training step of `impl` (the model lives in the closure)."""
    D, hidden, K, B = shape["D"], shape["hidden"], shape["K"], shape["batch"]
    enc_sizes, dec_sizes = (D, *hidden, 2 * K), (K, *reversed(hidden), D)
    X = vae_data(D, B)
    if impl == "torch":
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(TORCH_THREADS)
        enc, dec = _torch_net(enc_sizes, torch.nn.ReLU, 1), _torch_net(dec_sizes, torch.nn.ReLU, 2)
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=VAE_HP[0])
        x = torch.from_numpy(X)

        def step():
            h = enc(x)
            mu, lv = h[:, :K], h[:, K:]
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum") / B
            kl = -0.5 * torch.sum(1 + lv - mu * mu - lv.exp()) / B
            loss = rec + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    from fastgen._backend import Backend
    be = Backend(impl.split("-", 1)[1], np.float32)
    kern = be.kernels

    def put(a):   # every array in its own dtype (the layer sizes stay integers)
        return be.put(a, np.asarray(a).dtype)
    enc, dec = _net(enc_sizes, RELU, 1, put), _net(dec_sizes, RELU, 2, put)
    x, cond, obs_lv = put(X), put(np.zeros((B, 0), np.float32)), put(np.zeros(0, np.float32))
    state = {"t": 0}

    def step():
        state["t"] += 1
        return be.host(kern.nn.vae_step(*enc, *dec, SLOPE, x, cond, 0, obs_lv, 1.0, common.SEED, state["t"],
                                              state["t"], ADAM, VAE_HP))
    return step


def gan_step(impl: str, shape: dict):
    """A callable taking one GAN training step (discriminator, then generator) of `impl`."""
    gen_sizes, disc_sizes, B = shape["gen"], shape["disc"], shape["batch"]
    q, D = gen_sizes[0], gen_sizes[-1]
    X = gan_data(D, B)
    if impl == "torch":
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(TORCH_THREADS)
        gen = _torch_net(gen_sizes, torch.nn.ReLU, 3)
        disc = _torch_net(disc_sizes, lambda: torch.nn.LeakyReLU(SLOPE), 4)
        opt_g = torch.optim.Adam(gen.parameters(), lr=GAN_HP[0], betas=(GAN_HP[1], GAN_HP[2]))
        opt_d = torch.optim.Adam(disc.parameters(), lr=GAN_HP[0], betas=(GAN_HP[1], GAN_HP[2]))
        x = torch.from_numpy(X)

        def step():
            fake = gen(torch.randn(B, q))
            d_loss = F.softplus(-disc(x)).mean() + F.softplus(disc(fake.detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-disc(gen(torch.randn(B, q)))).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            return d_loss, g_loss
        return step

    from fastgen._backend import Backend
    be = Backend(impl.split("-", 1)[1], np.float32)
    kern = be.kernels

    def put(a):   # every array in its own dtype (the layer sizes stay integers)
        return be.put(a, np.asarray(a).dtype)
    gen, disc = _net(gen_sizes, RELU, 3, put), _net(disc_sizes, LEAKY, 4, put)
    x, cond = put(X), put(np.zeros((B, 0), np.float32))
    state = {"t": 0}

    def step():
        state["t"] += 1
        t = state["t"]
        return be.host(kern.nn.gan_step(*gen, *disc, SLOPE, x, cond, 0, 0.0, 1, common.SEED, 3 * t, t, t, ADAM,
                                              GAN_HP, GAN_HP))
    return step


def _mlp_flops(sizes, batch: int, input_grad: bool) -> float:
    """Dense-product FLOPs of one forward and backward pass: 2 N d_in d_out for the forward, the
    weight gradient and (for every layer but the first, unless the input gradient is wanted) the
    gradient of the layer's input."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return sum(2.0 * batch * a * b * (3 if (i > 0 or input_grad) else 2) for i, (a, b) in enumerate(pairs))


def vae_step_flops(shape: dict) -> float:
    D, hidden, K, B = shape["D"], shape["hidden"], shape["K"], shape["batch"]
    return _mlp_flops((D, *hidden, 2 * K), B, False) + _mlp_flops((K, *reversed(hidden), D), B, True)


def gan_step_flops(shape: dict) -> float:
    """D step: G forward, D forward+backward on real and fake; G step: G forward+backward, D
    forward+input-gradient backward (no weight gradient for D)."""
    g, d, B = shape["gen"], shape["disc"], shape["batch"]
    fwd = lambda sizes: sum(2.0 * B * a * b for a, b in zip(sizes[:-1], sizes[1:]))  # noqa: E731
    return (fwd(g) + 2 * _mlp_flops(d, B, False)) + (_mlp_flops(g, B, False) + 2 * fwd(d))
