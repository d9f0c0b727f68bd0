"""RBM demo: a BernoulliRBM on the binarised 8x8 digits, AIS likelihood, Gibbs samples (peer: scikit-learn)."""
from __future__ import annotations

import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import DIGITS_GRID, DIGITS_SEED, _digits_split, _table, _version
from fastgen.demos._png import _digit_grid, _write_png_gray

DIGITS_HIDDEN = 100
DIGITS_N_ITER = 50
DIGITS_BURN_IN = 1000


def _import_sklearn_rbm():
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return None
    return BernoulliRBM


@demo("rbm-digits", "BernoulliRBM on 8x8 digits: AIS test log-likelihood, Gibbs samples as a PNG grid")
def demo_rbm_digits(ctx: DemoContext) -> None:
    from fastgen.rbm import BernoulliRBM

    # Binary pixels: ink where at least half the block is on; a fifth of the images (seed 0) for testing.
    train, test, _, _ = _digits_split(binary=True)
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
