"""Command line: ``python -m fastgen demo [NAME ...] [--out DIR] [--device cpu|cuda|auto]``.

Each demo is a function registered with ``@demo(name, summary)``; it receives a ``DemoContext``
(output folder, device) and prints one short section. A family adds its demo by writing one
function below; ``demo`` with no names runs them all, in registration order.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

PLOT_HINT = "pip install 'fastgen[plot]'  (or just: pip install matplotlib)"


@dataclass
class DemoContext:
    out: Path        # folder for figures (created on first use)
    device: str      # the user's --device, passed to estimators unchanged
    resolved: str    # what it means here: "cpu" or "cuda"


@dataclass
class Demo:
    name: str
    summary: str
    run: Callable[[DemoContext], None]


DEMOS: dict[str, Demo] = {}


def demo(name: str, summary: str):
    """Register a demo section under `name` (a one-line `summary` is shown in the usage)."""
    def register(fn: Callable[[DemoContext], None]):
        DEMOS[name] = Demo(name, summary, fn)
        return fn
    return register


# ---- shared helpers -------------------------------------------------------------------------------
def _version(dist: str) -> str:
    """The package's __version__, else its installed metadata, else ""."""
    try:
        import importlib
        return str(importlib.import_module(dist).__version__)
    except Exception:
        pass
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return ""


def _import_hmmlearn():
    try:
        from hmmlearn import hmm
    except ImportError:
        return None
    return hmm


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """Silence 'not converging' chatter from restarts that end in a poor local optimum."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _figure():
    """A matplotlib Figure drawn off-screen, or None (with a hint) when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"  plot skipped: matplotlib is not installed; to get it: {PLOT_HINT}")
        return None
    return Figure(figsize=(8, 3.2), layout="constrained")


def _table(rows: list[list[str]], header: list[str], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def fmt(r):
        return "  " + "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([fmt(header)] + [fmt(r) for r in rows])


# ---- HMM: two-regime Gaussian HMM on the Nile ------------------------------------------------------
NILE_RESTARTS = 5
NILE_SEED = 0
NILE_N_ITER = 100
NILE_TOL = 1e-4


def _nile_inits(values: np.ndarray, n_restarts: int, seed: int):
    """Initial parameters for each restart, drawn once so that every library starts from the same."""
    rs = np.random.RandomState(seed)
    inits = []
    for _ in range(n_restarts):
        inits.append(dict(startprob_=np.full(2, 0.5),
                          transmat_=rs.dirichlet([1.0, 1.0], size=2),
                          means_=rs.choice(values, 2, replace=False).reshape(2, 1),
                          covars_=np.full((2, 1), values.var())))
    return inits


def _fit_restarts(make_model, X, inits):
    """Fit from each initial point; returns (best model, its log-likelihood, total fit seconds)."""
    best, best_ll, total = None, -np.inf, 0.0
    for init in inits:
        model = make_model()
        for attr, value in init.items():
            setattr(model, attr, value.copy())
        t0 = time.perf_counter()
        model.fit(X)
        total += time.perf_counter() - t0
        ll = model.score(X)
        if ll > best_ll:
            best, best_ll = model, ll
    return best, best_ll, total


@demo("hmm-nile", "2-state GaussianHMM finds the 1898 regime change in the Nile's annual flow")
def demo_hmm_nile(ctx: DemoContext) -> None:
    from fastgen import hmm as fg_hmm
    from fastgen.datasets import load_nile

    years, flow = load_nile()
    X = flow.reshape(-1, 1)
    inits = _nile_inits(flow, NILE_RESTARTS, NILE_SEED)
    kwargs = dict(n_components=2, covariance_type="diag", n_iter=NILE_N_ITER, tol=NILE_TOL,
                  init_params="", params="stmc", random_state=NILE_SEED)

    print(f"Nile flow at Aswan, {years[0]}-{years[-1]} ({len(years)} years): 2-state GaussianHMM, "
          f"{NILE_RESTARTS} restarts (seed {NILE_SEED}), n_iter={NILE_N_ITER}, tol={NILE_TOL:g}")
    libs = [("fastgen " + _version("fastgen"), ctx.resolved,
             lambda: fg_hmm.GaussianHMM(**kwargs, device=ctx.device))]
    hmmlearn = _import_hmmlearn()
    if hmmlearn is not None:
        libs.append(("hmmlearn " + _version("hmmlearn"), "cpu", lambda: hmmlearn.GaussianHMM(**kwargs)))

    rows, fastgen_result = [], None
    with _quiet_loggers("hmmlearn", "fastgen"):
        for label, device, make in libs:
            _fit_restarts(make, X, inits[:1])  # warm-up: imports, JIT compilation, GPU context
            model, ll, seconds = _fit_restarts(make, X, inits)
            states = np.asarray(model.predict(X))
            switches = years[1:][np.diff(states) != 0]
            change = "none" if switches.size == 0 else str(switches[0])
            if switches.size > 1:
                change += f" (+{switches.size - 1} more)"
            rows.append([label.strip(), device, f"{seconds * 1e3:.1f} ms", f"{ll:.4f}",
                         str(model.monitor_.iter), change])
            if fastgen_result is None:
                fastgen_result = (model, states, switches)
    print(_table(rows, ["library", "device", "fit time", "log-likelihood", "iters", "regime change"],
                 right={2, 3, 4}))
    if hmmlearn is None:
        print("  (hmmlearn is not installed: no comparison row; pip install hmmlearn)")
    model, states, switches = fastgen_result
    means = np.asarray(model.means_).ravel()
    print("  fit time: all restarts, after one warm-up fit; iters and log-likelihood: the best restart")
    print(f"  regime change: first year in the new Viterbi state (Cobb 1978: near 1898); fastgen's state "
          f"means: {' -> '.join(f'{m:.0f}' for m in means[states[[0, -1]]])} (10^8 m^3)")
    _plot_nile(ctx, years, flow, states, means, switches)


def _plot_nile(ctx, years, flow, states, means, switches) -> None:
    fig = _figure()
    if fig is None:
        return
    order = np.argsort(-means)  # colour by rank: high-flow regime first
    colours = {int(order[0]): "tab:blue", int(order[1]): "tab:orange"}
    ax = fig.add_subplot()
    ax.plot(years, flow, color="0.75", lw=1, zorder=1)
    for k in (int(order[0]), int(order[1])):
        sel = states == k
        if sel.any():
            ax.scatter(years[sel], flow[sel], s=14, color=colours[k], zorder=2,
                       label=f"state {k}: mean {means[k]:.0f}")
            ax.hlines(means[k], years[sel].min(), years[sel].max(), colors=colours[k], linestyles="--", lw=1)
    if switches.size:
        ax.axvline(switches[0] - 0.5, color="k", lw=0.8, ls=":", label=f"change: {switches[0]}")
    ax.set(xlabel="year", ylabel="annual flow ($10^8$ m$^3$)",
           title="Nile at Aswan: states decoded by fastgen GaussianHMM (Viterbi)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / "nile_gaussian_hmm.png"
    fig.savefig(path, dpi=120)
    print(f"  plot: {path}")


# ---- Gaussian mixtures: two eruption types of Old Faithful -----------------------------------------
FAITHFUL_COMPONENTS = (2, 3)
FAITHFUL_SEED = 0
FAITHFUL_N_INIT = 5
FAITHFUL_MAX_ITER = 500
FAITHFUL_TOL = 1e-6


def _import_sklearn_mixture():
    try:
        from sklearn import mixture
    except ImportError:
        return None
    return mixture


@demo("gmm-faithful", "full-covariance GaussianMixture separates Old Faithful's short and long eruptions")
def demo_gmm_faithful(ctx: DemoContext) -> None:
    from fastgen import mixture as fg_mixture
    from fastgen.datasets import load_old_faithful

    # The data stay in minutes, not standardised: a full-covariance mixture is affine-equivariant
    # (EM from data-point starts gives the same clusters on rescaled data; the log-likelihood only
    # shifts by the log-determinant of the scaling), so standardising would change nothing but
    # the units of the means and covariances, which in minutes can be read off directly.
    X, names = load_old_faithful()
    kwargs = dict(covariance_type="full", init_params="random_from_data", n_init=FAITHFUL_N_INIT,
                  max_iter=FAITHFUL_MAX_ITER, tol=FAITHFUL_TOL, random_state=FAITHFUL_SEED)
    print(f"Old Faithful geyser ({X.shape[0]} eruptions: {names[0]}, {names[1]} in minutes, unscaled): "
          f"full-covariance GaussianMixture, K in {FAITHFUL_COMPONENTS}, {FAITHFUL_N_INIT} starts "
          f"('random_from_data', seed {FAITHFUL_SEED}), tol={FAITHFUL_TOL:g}")
    libs = [("fastgen " + _version("fastgen"), ctx.resolved,
             lambda K: fg_mixture.GaussianMixture(n_components=K, **kwargs, device=ctx.device))]
    sk_mixture = _import_sklearn_mixture()
    if sk_mixture is not None:
        libs.append(("scikit-learn " + _version("sklearn"), "cpu",
                     lambda K: sk_mixture.GaussianMixture(n_components=K, **kwargs)))

    rows, fitted = [], {}
    for label, device, make in libs:
        make(FAITHFUL_COMPONENTS[0]).fit(X)  # warm-up: imports, JIT compilation, GPU context
        for K in FAITHFUL_COMPONENTS:
            t0 = time.perf_counter()
            model = make(K).fit(X)
            seconds = time.perf_counter() - t0
            rows.append([label.strip(), device, str(K), f"{seconds * 1e3:.1f} ms", str(model.n_iter_),
                         f"{model.score(X) * X.shape[0]:.6f}", f"{model.bic(X):.4f}"])
            fitted.setdefault(label, {})[K] = model
    print(_table(rows, ["library", "device", "K", "fit time", "iters", "log-likelihood", "BIC"],
                 right={2, 3, 4, 5, 6}))
    if sk_mixture is None:
        print("  (scikit-learn is not installed: no comparison row; pip install scikit-learn)")
    ours = fitted[libs[0][0]]
    best_k = min(FAITHFUL_COMPONENTS, key=lambda K: ours[K].bic(X))
    print(f"  fit time: all {FAITHFUL_N_INIT} starts, after one warm-up fit; log-likelihood: summed over "
          f"the {X.shape[0]} eruptions; BIC (lower is better) picks K={best_k}")
    best = ours[best_k]
    order = np.argsort(best.means_[:, 0])
    print("  fastgen's components: " + "; ".join(
        f"weight {best.weights_[k]:.3f}, mean ({best.means_[k, 0]:.2f}, {best.means_[k, 1]:.1f}) min"
        for k in order))
    _plot_faithful(ctx, X, names, ours)


def _plot_faithful(ctx, X, names, models) -> None:
    fig = _figure()
    if fig is None:
        return
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    axes = fig.subplots(1, len(models), sharey=True)
    for ax, (K, model) in zip(np.atleast_1d(axes), sorted(models.items())):
        log_density = np.asarray(model.score_samples(grid)).reshape(gx.shape)
        top = log_density.max()
        ax.contour(gx, gy, log_density, levels=np.linspace(top - 6.0, top, 9), cmap="viridis",
                   linewidths=0.8, zorder=1)
        labels = np.asarray(model.predict(X))
        ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="tab10", vmin=0, vmax=9, s=9, zorder=2)
        ax.scatter(model.means_[:, 0], model.means_[:, 1], marker="x", color="k", s=50, zorder=3)
        ax.set(xlabel=f"{names[0]} (min)", title=f"K={K}: BIC {model.bic(X):.1f}")
    np.atleast_1d(axes)[0].set_ylabel(f"{names[1]} (min)")
    fig.suptitle("Old Faithful: fastgen GaussianMixture (full), log-density contours", fontsize=10)
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / "old_faithful_gaussian_mixture.png"
    fig.savefig(path, dpi=120)
    print(f"  plot: {path}")


# ---- RBM: 8x8 handwritten digits, samples from Gibbs chains ----------------------------------------
DIGITS_SEED = 0
DIGITS_HIDDEN = 100
DIGITS_N_ITER = 50
DIGITS_BURN_IN = 1000
DIGITS_GRID = 10  # samples drawn as a DIGITS_GRID x DIGITS_GRID image grid


def _import_sklearn_rbm():
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return None
    return BernoulliRBM


def _write_png_gray(path: Path, img: np.ndarray) -> None:
    """An 8-bit grayscale PNG of `img` (2-D, values in [0, 1]) with zlib alone: no plotting library."""
    import struct
    import zlib

    pix = np.clip(np.rint(255 * img), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pix)  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", pix.shape[1], pix.shape[0], 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def _digit_grid(images: np.ndarray, n: int, scale: int = 4) -> np.ndarray:
    """n x n 8x8 images (rows of 64 values in [0, 1]) as one picture: ink dark on white, upscaled."""
    tile = 8 * scale + 2
    grid = np.ones((n * tile, n * tile))
    for k, img in enumerate(images[: n * n]):
        r, c = divmod(k, n)
        big = np.kron(img.reshape(8, 8), np.ones((scale, scale)))
        grid[r * tile + 1: r * tile + 1 + 8 * scale, c * tile + 1: c * tile + 1 + 8 * scale] = 1.0 - big
    return grid


@demo("rbm-digits", "BernoulliRBM on 8x8 digits: AIS test log-likelihood, Gibbs samples as a PNG grid")
def demo_rbm_digits(ctx: DemoContext) -> None:
    from fastgen.datasets import load_digits
    from fastgen.rbm import BernoulliRBM

    digits = load_digits()
    X = (digits.data >= 8).astype(np.float32)  # binary pixels: ink where at least half the block is on
    order = np.random.RandomState(DIGITS_SEED).permutation(len(X))
    n_test = len(X) // 5
    test, train = X[order[:n_test]], X[order[n_test:]]
    kwargs = dict(n_components=DIGITS_HIDDEN, learning_rate=0.05, batch_size=20, n_iter=DIGITS_N_ITER,
                  random_state=DIGITS_SEED)
    print(f"8x8 digits, binarised ({len(train)} train / {len(test)} test): BernoulliRBM, {DIGITS_HIDDEN} hidden "
          f"units, PCD-1, {DIGITS_N_ITER} epochs, batch 20, learning rate 0.05 (seed {DIGITS_SEED})")
    libs = [("fastgen " + _version("fastgen"), ctx.resolved,
             lambda: BernoulliRBM(**kwargs, device=ctx.device))]
    sk_rbm = _import_sklearn_rbm()
    if sk_rbm is not None:
        libs.append(("scikit-learn " + _version("sklearn"), "cpu", lambda: sk_rbm(**kwargs)))

    rows, ours = [], None
    for label, device, make in libs:
        t0 = time.perf_counter()
        model = make().fit(train)
        seconds = time.perf_counter() - t0
        # The log-likelihood of both models by fastgen's AIS (same base rates, chains and schedule).
        as_fg = model if ours is None else _as_fastgen_rbm(model, ours, ctx.device)
        log_z, se = as_fg.ais_log_partition(n_chains=100, random_state=DIGITS_SEED)
        ll = float(-as_fg.free_energy(test).astype(np.float64).mean() - log_z)
        rows.append([label.strip(), device, f"{seconds:.2f} s", f"{float(np.mean(model.score_samples(test))):.2f}",
                     f"{ll:.2f} +- {se:.3f}"])
        if ours is None:
            ours = model
    print(_table(rows, ["library", "device", "fit time", "test pseudo-LL", "test log-likelihood (AIS)"],
                 right={2, 3, 4}))
    if sk_rbm is None:
        print("  (scikit-learn is not installed: no comparison row; pip install scikit-learn)")
    print("  log-likelihood: nats per test image, log Z by annealed importance sampling (14,500 temperatures, "
          "100 chains; +- its standard error); scikit-learn gives only the pseudo-likelihood")
    t0 = time.perf_counter()
    samples = ours.sample(DIGITS_GRID ** 2, burn_in=DIGITS_BURN_IN, mean=True, random_state=DIGITS_SEED)
    seconds = time.perf_counter() - t0
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / "rbm_digits_samples.png"
    _write_png_gray(path, _digit_grid(samples, DIGITS_GRID))
    print(f"  samples: {DIGITS_GRID ** 2} Gibbs chains from the base rates, {DIGITS_BURN_IN} sweeps each "
          f"({seconds:.2f} s), drawn as E[v | h]: {path}")


def _as_fastgen_rbm(sk_model, like, device):
    """scikit-learn's fitted weights in a fastgen BernoulliRBM (for the AIS likelihood)."""
    from fastgen.rbm import BernoulliRBM
    m = BernoulliRBM(n_components=sk_model.components_.shape[0], device=device)
    m.components_ = np.asarray(sk_model.components_, dtype=np.float32)
    m.intercept_hidden_ = np.asarray(sk_model.intercept_hidden_, dtype=np.float32)
    m.intercept_visible_ = np.asarray(sk_model.intercept_visible_, dtype=np.float32)
    m._base_b_v = like._base_b_v
    return m


# ---- Neural networks: VAE and GAN on the 8x8 digits, VAE anomaly scores -------------------------
NN_SEED = 0
VAE_HIDDEN = 256
VAE_LATENT = 16
VAE_EPOCHS = 100
VAE_BATCH = 64
GAN_EPOCHS = 300
ANOMALY_EPOCHS = 50


def _digits_split(binary: bool):
    """The rbm-digits split (seed 0: a fifth of the images for testing): (train, test, y_train, y_test)."""
    from fastgen.datasets import load_digits

    digits = load_digits()
    X = (digits.data >= 8) if binary else digits.data / 16.0
    X = X.astype(np.float32)
    order = np.random.RandomState(DIGITS_SEED).permutation(len(X))
    n_test = len(X) // 5
    te, tr = order[:n_test], order[n_test:]
    return X[tr], X[te], digits.target[tr], digits.target[te]


def _nearest_centroid_agreement(samples, labels, X, y) -> float:
    """Fraction of `samples` that a nearest-class-mean classifier (fitted on X, y) assigns to `labels`."""
    means = np.stack([X[y == k].mean(axis=0) for k in range(10)])
    d = ((samples[:, None, :] - means[None]) ** 2).sum(axis=2)
    return float((d.argmin(axis=1) == labels).mean())


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _torch_vae_fit(torch, train, init_encoder, init_decoder):
    """The same VAE in PyTorch (same initial weights, Adam, minibatches, epochs):
    (encoder, decoder, seconds, last epoch's mean loss)."""
    torch.manual_seed(NN_SEED)

    def build(net):
        layers = []
        for k in range(net.n_layers):
            lin = torch.nn.Linear(net.sizes[k], net.sizes[k + 1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(net.weights(k).T.copy()))
                lin.bias.copy_(torch.from_numpy(net.bias(k).copy()))
            layers += [lin] + ([torch.nn.ReLU()] if k + 1 < net.n_layers else [])
        return torch.nn.Sequential(*layers)

    # One thread: at batch 64 PyTorch's thread pool costs more than it gains (measured here: 0.7 ms
    # per step on 1 thread, 20 ms on 2 threads of a shared 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _torch_vae_train(torch, train, build(init_encoder), build(init_decoder))
    finally:
        torch.set_num_threads(threads)


def _torch_vae_train(torch, train, enc, dec):
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
    Xt = torch.from_numpy(train)
    K = VAE_LATENT
    rng = np.random.default_rng(NN_SEED)
    t0 = time.perf_counter()
    for _ in range(VAE_EPOCHS):
        order = torch.from_numpy(rng.permutation(len(train)))
        epoch_loss = 0.0
        for b0 in range(0, len(train), VAE_BATCH):
            xb = Xt[order[b0:b0 + VAE_BATCH]]
            h = enc(xb)
            mu, lv = h[:, :K], h[:, K:]
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            recon = torch.nn.functional.binary_cross_entropy_with_logits(dec(z), xb, reduction="none").sum(1)
            kl = -0.5 * (1 + lv - mu * mu - lv.exp()).sum(1)
            loss = (recon + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch_loss += loss.item() * len(xb)
    return enc, dec, time.perf_counter() - t0, epoch_loss / len(train)


def _torch_weights_into(model, enc, dec):
    """A copy of fastgen `model` holding the PyTorch networks' weights (to score both the same way)."""
    import copy
    out = copy.deepcopy(model)
    for net, seq in ((out.encoder_, enc), (out.decoder_, dec)):
        lins = [m for m in seq if hasattr(m, "weight")]
        for k, lin in enumerate(lins):
            net.weights(k)[...] = lin.weight.detach().numpy().T
            net.bias(k)[...] = lin.bias.detach().numpy()
    return out


@demo("vae-digits", "VAE on binarised 8x8 digits: test log-likelihood (IWAE), samples as PNG grids")
def demo_vae_digits(ctx: DemoContext) -> None:
    from fastgen.vae import VAE

    train, test, y_train, y_test = _digits_split(binary=True)
    kwargs = dict(encoder_layers=(VAE_HIDDEN,), latent_dim=VAE_LATENT, batch_size=VAE_BATCH, max_epochs=VAE_EPOCHS,
                  learning_rate=1e-3, random_state=NN_SEED)
    print(f"8x8 digits, binarised ({len(train)} train / {len(test)} test, the rbm-digits split): Bernoulli VAE "
          f"64-{VAE_HIDDEN}-{2 * VAE_LATENT} / {VAE_LATENT}-{VAE_HIDDEN}-64, ReLU, Adam 1e-3, batch {VAE_BATCH}, "
          f"{VAE_EPOCHS} epochs (seed {NN_SEED})")
    VAE(**dict(kwargs, max_epochs=1), device=ctx.device).fit(train[:VAE_BATCH])  # warm-up: JIT, GPU context
    t0 = time.perf_counter()
    model = VAE(**kwargs, device=ctx.device).fit(train)
    seconds = time.perf_counter() - t0
    rows = [["fastgen " + _version("fastgen"), ctx.resolved, f"{seconds:.2f} s", f"{-model.loss_curve_[-1]:.2f}",
             f"{model.set_params(n_importance=1).score(test):.2f}",
             f"{model.set_params(n_importance=64).score(test):.2f}"]]
    torch = _import_torch()
    if torch is not None:
        init = VAE(**dict(kwargs, max_epochs=0)).fit(train)  # fastgen's initial weights, for both
        enc, dec, t_seconds, t_loss = _torch_vae_fit(torch, train, init.encoder_, init.decoder_)
        theirs = _torch_weights_into(model, enc, dec)
        rows.append(["PyTorch " + _version("torch"), "cpu (1 thread)", f"{t_seconds:.2f} s",
                     f"{-t_loss:.2f}",
                     f"{theirs.set_params(n_importance=1).score(test):.2f}",
                     f"{theirs.set_params(n_importance=64).score(test):.2f}"])
    print(_table(rows, ["library", "device", "fit time", "train ELBO", "test ELBO", "test IWAE (k=64)"],
                 right={2, 3, 4, 5}))
    if torch is None:
        print("  (PyTorch is not installed: no comparison row; pip install torch)")
    print("  nats per binarised test image (rbm-digits reports the RBM's on the same split); both rows scored "
          "by fastgen's estimator (ELBO: one draw, IWAE: 64 importance samples per image); the train ELBO is the "
          "last epoch's minibatch mean")
    cond = VAE(**kwargs, device=ctx.device).fit(train, y_train)
    labels = np.repeat(np.arange(DIGITS_GRID), DIGITS_GRID)
    samples = cond.sample(len(labels), y=labels, random_state=NN_SEED)
    agree = _nearest_centroid_agreement(samples, labels, train, y_train)
    print(f"  conditional VAE (labels one-hot): test IWAE given the label {cond.score(test, y_test):.2f}; its samples "
          f"for digit k are nearest to digit k's mean image for {100 * agree:.0f}% of them")
    ctx.out.mkdir(parents=True, exist_ok=True)
    path, cpath = ctx.out / "vae_digits_samples.png", ctx.out / "cvae_digits_samples.png"
    _write_png_gray(path, _digit_grid(model.sample(DIGITS_GRID ** 2, random_state=NN_SEED), DIGITS_GRID))
    _write_png_gray(cpath, _digit_grid(samples, DIGITS_GRID))
    print(f"  samples (decoder means of z ~ N(0, I)): {path}; conditional, row k = digit k: {cpath}")


@demo("gan-digits", "conditional GAN on 8x8 digits: samples for each digit as a PNG grid")
def demo_gan_digits(ctx: DemoContext) -> None:
    from fastgen.gan import GAN

    train, test, y_train, y_test = _digits_split(binary=False)
    kwargs = dict(generator_layers=(128, 128), discriminator_layers=(128, 128), latent_dim=16,
                  output_activation="sigmoid", learning_rate=5e-4, batch_size=64, max_epochs=GAN_EPOCHS,
                  random_state=NN_SEED)
    print(f"8x8 digits, grey levels / 16 ({len(train)} train images): conditional GAN (non-saturating), generator "
          f"16+10-128-128-64 (ReLU, sigmoid output), discriminator 64+10-128-128-1 (leaky ReLU 0.2), Adam 5e-4 "
          f"(beta1 0.5), batch 64, {GAN_EPOCHS} epochs (seed {NN_SEED})")
    GAN(**dict(kwargs, max_epochs=1), device=ctx.device).fit(train[:64], y_train[:64])  # warm-up
    t0 = time.perf_counter()
    model = GAN(**kwargs, device=ctx.device).fit(train, y_train)
    seconds = time.perf_counter() - t0
    d_loss, g_loss = model.loss_curve_[-1]
    print(f"  fit: {seconds:.2f} s on {ctx.resolved}; last epoch's losses: discriminator {d_loss:.3f}, generator "
          f"{g_loss:.3f} (log 4 = 1.386 and log 2 = 0.693 at the game's equilibrium)")
    labels = np.repeat(np.arange(DIGITS_GRID), DIGITS_GRID)
    samples = model.sample(len(labels), y=labels, random_state=NN_SEED)
    many = np.repeat(np.arange(10), 100)
    agree = _nearest_centroid_agreement(model.sample(len(many), y=many, random_state=NN_SEED + 1), many, train,
                                        y_train)
    real = _nearest_centroid_agreement(test, y_test, train, y_train)
    print(f"  label check: a nearest-class-mean classifier assigns {100 * agree:.0f}% of 1,000 generated digits to "
          f"the label they were generated for (real test digits: {100 * real:.0f}%)")
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / "gan_digits_samples.png"
    _write_png_gray(path, _digit_grid(samples, DIGITS_GRID))
    print(f"  samples, row k = digit k: {path}")


def _roc_auc(inlier_scores, outlier_scores) -> float:
    """P(inlier score > outlier score) + P(tie) / 2: the ROC AUC of flagging low scores as anomalies."""
    a, b = np.asarray(inlier_scores)[:, None], np.asarray(outlier_scores)[None, :]
    return float((a > b).mean() + 0.5 * (a == b).mean())


@demo("vae-anomaly", "VAE log-likelihood bound as an anomaly score: each digit held out in turn, ROC AUC")
def demo_vae_anomaly(ctx: DemoContext) -> None:
    from fastgen.autoencoder import Autoencoder
    from fastgen.vae import VAE

    train, test, y_train, y_test = _digits_split(binary=True)
    print(f"8x8 digits, binarised: for each digit d, fit on the training images of the other nine "
          f"(~{int(len(train) * 0.9)}), then score the test images of those nine (inliers) and every image of d "
          f"(anomalies). VAE 64-128-8, {ANOMALY_EPOCHS} epochs; score_samples = IWAE bound (k=64). Autoencoder "
          f"64-128-8-128-64 (BCE), same schedule; score = minus the reconstruction loss (seed {NN_SEED})")
    all_x = np.concatenate([train, test])
    all_y = np.concatenate([y_train, y_test])
    rows, aucs = [], []
    t0 = time.perf_counter()
    for d in range(10):
        fit_x = train[y_train != d]
        inliers, outliers = test[y_test != d], all_x[all_y == d]
        vae = VAE((128,), 8, batch_size=64, max_epochs=ANOMALY_EPOCHS, random_state=NN_SEED,
                  device=ctx.device).fit(fit_x)
        ae = Autoencoder((128,), 8, loss="bce", batch_size=64, max_epochs=ANOMALY_EPOCHS, random_state=NN_SEED,
                         device=ctx.device).fit(fit_x)
        auc = (_roc_auc(vae.score_samples(inliers), vae.score_samples(outliers)),
               _roc_auc(ae.score_samples(inliers), ae.score_samples(outliers)))
        aucs.append(auc)
        rows.append([str(d), str(len(inliers)), str(len(outliers)), f"{auc[0]:.3f}", f"{auc[1]:.3f}"])
    seconds = time.perf_counter() - t0
    mean = np.mean(aucs, axis=0)
    rows.append(["mean", "", "", f"{mean[0]:.3f}", f"{mean[1]:.3f}"])
    print(_table(rows, ["held-out digit", "inliers", "anomalies", "VAE ROC AUC", "autoencoder ROC AUC"],
                 right={1, 2, 3, 4}))
    print(f"  ROC AUC: probability that an inlier scores above an anomaly (0.5 = chance); 20 fits and scores in "
          f"{seconds:.1f} s on {ctx.resolved}")


CANCER_TRAIN = 250   # benign rows the models are fitted on; the other 107 benign rows are test inliers
CANCER_EPOCHS = 300


@demo("vae-anomaly-tabular", "VAE anomaly scores on tabular data: fit on benign breast-cancer biopsies, flag malignant")
def demo_vae_anomaly_tabular(ctx: DemoContext) -> None:
    from fastgen.autoencoder import Autoencoder
    from fastgen.datasets import load_breast_cancer
    from fastgen.mixture import GaussianMixture
    from fastgen.vae import VAE

    table = load_breast_cancer()
    X = np.log(table.data + 1e-3)  # positive, right-skewed measurements: log scale
    benign = np.random.RandomState(NN_SEED).permutation(np.flatnonzero(table.target == 1))
    train, inliers, anomalies = benign[:CANCER_TRAIN], benign[CANCER_TRAIN:], np.flatnonzero(table.target == 0)
    mu, sd = X[train].mean(axis=0), X[train].std(axis=0)
    Z = ((X - mu) / sd).astype(np.float32)  # standardised by the training rows alone
    print(f"Breast Cancer Wisconsin ({len(X)} biopsies x {X.shape[1]} log features, standardised): models fitted on "
          f"{len(train)} benign rows; scored on the other {len(inliers)} benign rows (inliers) and the "
          f"{len(anomalies)} malignant ones (anomalies)")
    models = [
        ("VAE, learned variances (IWAE score)", lambda: VAE((64,), 4, likelihood="gaussian_learned", batch_size=32,
                                                             max_epochs=CANCER_EPOCHS, random_state=NN_SEED,
                                                             device=ctx.device)),
        ("autoencoder (reconstruction error)", lambda: Autoencoder((64,), 4, loss="mse", batch_size=32,
                                                                  max_epochs=CANCER_EPOCHS, random_state=NN_SEED,
                                                                  device=ctx.device)),
        ("one full-covariance Gaussian", lambda: GaussianMixture(1, covariance_type="full", reg_covar=1e-3,
                                                                 random_state=NN_SEED, device=ctx.device)),
    ]
    rows = []
    for name, make in models:
        t0 = time.perf_counter()
        model = make().fit(Z[train])
        seconds = time.perf_counter() - t0
        auc = _roc_auc(model.score_samples(Z[inliers]), model.score_samples(Z[anomalies]))
        rows.append([name, f"{seconds * 1e3:.0f} ms", f"{auc:.3f}"])
    print(_table(rows, ["model (fastgen)", "fit time", "ROC AUC"], right={1, 2}))
    print(f"  ROC AUC: probability that a benign test biopsy scores above a malignant one; {CANCER_EPOCHS} epochs, "
          f"batch 32, latent dimension 4, on {ctx.resolved}")


# ---- Autoregressive: AR forecast of the sunspot cycle; MADE on the digits -------------------------
SUNSPOT_MAX_ORDER = 20
SUNSPOT_HORIZON = 40
SUNSPOT_PATHS = 1000
SUNSPOT_SEED = 0
MADE_HIDDEN = 500
MADE_EPOCHS = 200
MADE_SEED = 0


def _import_statsmodels_ar():
    try:
        from statsmodels.tsa.ar_model import AutoReg, ar_select_order
    except ImportError:
        return None
    return AutoReg, ar_select_order


@demo("ar-sunspots", "AR model of yearly sunspot numbers: AIC order choice, forecast fan chart, Monte-Carlo paths")
def demo_ar_sunspots(ctx: DemoContext) -> None:
    from fastgen.autoregressive import AR
    from fastgen.datasets import load_sunspots

    years, spots = load_sunspots()
    print(f"Yearly sunspot numbers {years[0]}-{years[-1]} ({len(spots)} years): AR with a constant, order by AIC "
          f"up to {SUNSPOT_MAX_ORDER}, OLS")
    AR(order=2).fit(spots)  # warm-up: imports (and the GPU context)
    t0 = time.perf_counter()
    model = AR(order="aic", max_order=SUNSPOT_MAX_ORDER, device=ctx.device).fit(spots)
    seconds = time.perf_counter() - t0
    rows = [["fastgen " + _version("fastgen"), ctx.resolved, f"{seconds * 1e3:.2f} ms", str(model.order_),
             f"{model.sigma2_:.4f}", f"{model.llf_:.6f}"]]
    peer = _import_statsmodels_ar()
    if peer is not None:
        AutoReg, ar_select_order = peer
        t0 = time.perf_counter()
        sel = ar_select_order(spots, SUNSPOT_MAX_ORDER, ic="aic", trend="c")
        res = sel.model.fit()
        t_seconds = time.perf_counter() - t0
        rows.append(["statsmodels " + _version("statsmodels"), "cpu", f"{t_seconds * 1e3:.2f} ms",
                     str(max(sel.ar_lags or [0])), f"{res.sigma2:.4f}", f"{res.llf:.6f}"])
    print(_table(rows, ["library", "device", "select + fit", "order", "sigma2", "log-likelihood"],
                 right={2, 3, 4, 5}))
    if peer is None:
        print("  (statsmodels is not installed: no comparison row; pip install statsmodels)")
    mean, se = model.forecast(SUNSPOT_HORIZON)
    t0 = time.perf_counter()
    paths = model.simulate(SUNSPOT_HORIZON, n_paths=SUNSPOT_PATHS, random_state=SUNSPOT_SEED)
    sim_seconds = time.perf_counter() - t0
    future = years[-1] + 1 + np.arange(SUNSPOT_HORIZON)
    peak = int(np.argmax(mean[:15]))
    print(f"  forecast: next peak around {future[peak]} at {mean[peak]:.0f} (+- {1.96 * se[peak]:.0f}, 95%); "
          f"{SUNSPOT_PATHS} simulated {SUNSPOT_HORIZON}-year paths in {sim_seconds * 1e3:.2f} ms, their spread "
          f"at {future[-1]}: {paths[:, -1].std():.1f} against the forecast's standard error {se[-1]:.1f}")
    _plot_sunspots(ctx, years, spots, model, future, paths)


def _plot_sunspots(ctx, years, spots, model, future, paths) -> None:
    fig = _figure()
    if fig is None:
        return
    ax = fig.add_subplot()
    keep = years >= years[-1] - 120
    ax.plot(years[keep], spots[keep], color="k", lw=1, label="observed")
    for level, shade in ((0.95, "0.85"), (0.8, "0.72"), (0.5, "0.58")):
        mean, lo, hi = model.forecast_interval(len(future), alpha=1 - level)
        # Sunspot numbers are counts: the Gaussian bands are drawn clipped at 0.
        ax.fill_between(future, np.maximum(lo, 0), np.maximum(hi, 0), color=shade, lw=0,
                        label=f"{int(level * 100)}% band")
    for path in paths[:3]:
        ax.plot(future, path, lw=0.7, alpha=0.8)
    ax.plot(future, mean, color="tab:red", lw=1.2, label="forecast mean")
    ax.set(xlabel="year", ylabel="sunspot number",
           title=f"Sunspots: fastgen AR({model.order_}) forecast fan chart and three simulated paths")
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / "sunspots_ar_forecast.png"
    fig.savefig(path, dpi=120)
    print(f"  plot: {path}")


@demo("made-digits", "MADE on binarised 8x8 digits: exact test log-likelihood, incremental samples as a PNG grid")
def demo_made_digits(ctx: DemoContext) -> None:
    from fastgen.autoregressive import MADE

    train, test, _, _ = _digits_split(binary=True)
    print(f"8x8 digits, binarised ({len(train)} train / {len(test)} test, the rbm-digits split): Bernoulli MADE "
          f"64-{MADE_HIDDEN}-64, ReLU, natural pixel order, Adam 1e-3, batch 100, {MADE_EPOCHS} epochs "
          f"(seed {MADE_SEED})")
    MADE((MADE_HIDDEN,), max_epochs=1, device=ctx.device).fit(train[:100])  # warm-up: JIT, GPU context
    t0 = time.perf_counter()
    model = MADE((MADE_HIDDEN,), max_epochs=MADE_EPOCHS, random_state=MADE_SEED, device=ctx.device).fit(train)
    seconds = time.perf_counter() - t0
    p = np.clip(train.mean(axis=0), 1e-3, 1 - 1e-3)   # the independent-pixel baseline
    baseline = float((test * np.log(p) + (1 - test) * np.log1p(-p)).sum(axis=1).mean())
    print(f"  fit {seconds:.2f} s on {ctx.resolved}; exact test log-likelihood {model.score(test):.2f} nats per "
          f"image (independent pixels: {baseline:.2f}; the rbm-digits and vae-digits demos report theirs on "
          f"the same split)")
    ctx.out.mkdir(parents=True, exist_ok=True)
    for temperature in (1.0, 0.7):
        t0 = time.perf_counter()
        samples = model.sample(DIGITS_GRID ** 2, random_state=MADE_SEED, temperature=temperature)
        s_seconds = time.perf_counter() - t0
        path = ctx.out / f"made_digits_samples_t{int(temperature * 10):02d}.png"
        _write_png_gray(path, _digit_grid(samples, DIGITS_GRID))
        print(f"  {DIGITS_GRID ** 2} samples at temperature {temperature:g} ({s_seconds * 1e3:.1f} ms, incremental "
              f"decoding): {path}")


# ---- command line ------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {d.name:<12} {d.summary}" for d in DEMOS.values())
    p = argparse.ArgumentParser(
        prog="python -m fastgen",
        description="fastgen command line.",
        epilog=f"demos:\n{listing}\n\nexample: python -m fastgen demo --out fastgen_demo --device auto",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="fit the models on the shipped data sets and compare with their peers",
                       epilog=f"demos:\n{listing}", formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("names", nargs="*", metavar="NAME", help="demos to run (default: all)")
    d.add_argument("--out", type=Path, default=Path("fastgen_demo"),
                   help="folder for the figures (default: ./fastgen_demo)")
    d.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="where fastgen computes (default: cpu)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 0
    unknown = [n for n in args.names if n not in DEMOS]
    if unknown:
        parser.error(f"unknown demo {unknown[0]!r}; choose from {', '.join(DEMOS)}")
    from fastgen import _backend
    try:
        resolved = _backend.resolve_device(args.device)
    except (RuntimeError, ValueError) as exc:
        print(f"python -m fastgen demo: {exc}", file=sys.stderr)
        return 2
    ctx = DemoContext(out=args.out, device=args.device, resolved=resolved)
    for i, name in enumerate(args.names or list(DEMOS)):
        if i:
            print()
        print(f"== {name} ==")
        DEMOS[name].run(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
