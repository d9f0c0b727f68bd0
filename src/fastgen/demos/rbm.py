"""RBM demo: a BernoulliRBM on the binarised 8x8 digits, AIS likelihood, Gibbs samples (peer: scikit-learn)."""
from __future__ import annotations

import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import (DIGITS_GRID, DIGITS_SEED, DigitPanel, _digits_split, _real_digits,
                                   _save_digit_figure, _table, _version)

DIGITS_HIDDEN = 100
DIGITS_LR = 0.05
DIGITS_BATCH = 20
DIGITS_N_ITER = 50      # epochs of PCD-1 at DIGITS_LR (fit) ...
DIGITS_ANNEAL = 50      # ... then epochs with the learning rate falling linearly to 0 (partial_fit)
DIGITS_BURN_IN = 2000   # Gibbs sweeps of each sampling chain before its sample
DIGITS_AIS_CHAINS = 100


def _import_sklearn_rbm():
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return None
    return BernoulliRBM


def _anneal(model, X, epochs: int, lr: float, batch_size: int, seed: int):
    """`epochs` more epochs of `model.partial_fit` minibatches (the same shuffles for every library),
    the learning rate falling linearly from `lr` towards 0. At a constant rate PCD's parameters keep
    circling (its persistent chains push the model away from wherever they are), and the model a fit
    stops at favours a few digits: 50 epochs at 0.05 gave Gibbs samples that were 80% 0s and 4s.
    Letting the rate fall to 0 lets the model settle: every digit in the samples, and a test
    log-likelihood 3 nats per image higher (scikit-learn's model gains the same)."""
    rs = np.random.RandomState(seed)
    for epoch in range(epochs):
        model.set_params(learning_rate=lr * (1.0 - epoch / epochs))
        order = rs.permutation(len(X))
        for b0 in range(0, len(X), batch_size):
            model.partial_fit(X[order[b0:b0 + batch_size]])
    model.set_params(learning_rate=lr)
    return model


@demo("rbm-digits", "BernoulliRBM on 8x8 digits: AIS test log-likelihood, Gibbs samples beside real digits")
def demo_rbm_digits(ctx: DemoContext) -> None:
    from fastgen.rbm import BernoulliRBM, ais_betas

    # Binary pixels: ink where at least half the block is on; a fifth of the images (seed 0) for testing.
    train, test, _, _ = _digits_split(binary=True)
    n_iter, anneal = ctx.pick(DIGITS_N_ITER, 5), ctx.pick(DIGITS_ANNEAL, 5)
    burn_in, betas = ctx.pick(DIGITS_BURN_IN, 200), ais_betas(ctx.pick(14500, 500))
    kwargs = dict(n_components=DIGITS_HIDDEN, learning_rate=DIGITS_LR, batch_size=DIGITS_BATCH, n_iter=n_iter,
                  random_state=DIGITS_SEED)
    print(f"8x8 digits, binarised ({len(train)} train / {len(test)} test): BernoulliRBM, {DIGITS_HIDDEN} hidden "
          f"units, PCD-1, batch {DIGITS_BATCH}: {n_iter} epochs at learning rate {DIGITS_LR:g} (fit), then "
          f"{anneal} with it falling linearly to 0 (partial_fit; same minibatches for both libraries; seed "
          f"{DIGITS_SEED})")
    libs = [("fastgen " + _version("fastgen"), ctx.resolved,
             lambda: BernoulliRBM(**kwargs, device=ctx.device))]
    sk_rbm = _import_sklearn_rbm()
    if sk_rbm is not None:
        libs.append(("scikit-learn " + _version("sklearn"), "cpu", lambda: sk_rbm(**kwargs)))

    rows, ours = [], None
    for label, device, make in libs:
        t0 = time.perf_counter()
        model = _anneal(make().fit(train), train, anneal, DIGITS_LR, DIGITS_BATCH, DIGITS_SEED)
        seconds = time.perf_counter() - t0
        # The log-likelihood of both models by fastgen's AIS (same base rates, chains and schedule).
        as_fg = model if ours is None else _as_fastgen_rbm(model, ours, ctx.device)
        log_z, se = as_fg.ais_log_partition(n_chains=DIGITS_AIS_CHAINS, betas=betas, random_state=DIGITS_SEED)
        ll = float(-as_fg.free_energy(test).astype(np.float64).mean() - log_z)
        rows.append([label.strip(), device, f"{seconds:.2f} s", f"{float(np.mean(model.score_samples(test))):.2f}",
                     f"{ll:.2f} +- {se:.3f}"])
        if ours is None:
            ours = model
    print(_table(rows, ["library", "device", "fit time", "test pseudo-LL", "test log-likelihood (AIS)"],
                 right={2, 3, 4}))
    if sk_rbm is None:
        print("  (scikit-learn is not installed: no comparison row; pip install scikit-learn)")
    print(f"  log-likelihood: nats per test image, log Z by annealed importance sampling ({len(betas) - 1:,} "
          f"temperatures, {DIGITS_AIS_CHAINS} chains; +- its standard error); scikit-learn gives only the "
          f"pseudo-likelihood")
    n = DIGITS_GRID ** 2
    t0 = time.perf_counter()
    samples = ours.sample(n, burn_in=burn_in, mean=True, random_state=DIGITS_SEED)
    seconds = time.perf_counter() - t0
    caption = (f"Left: real test digits, binarised as the training data (ink where at least half the block is "
               f"on). Right: one sample from each of {n} independent Gibbs chains of the fastgen RBM, started from "
               f"the pixels' base rates and run {burn_in:,} sweeps, drawn as E[v|h] (grey: an uncertain pixel).")
    path = _save_digit_figure(ctx, "rbm_digits_samples.png", "BernoulliRBM on binarised 8x8 digits: Gibbs samples",
                              caption, [DigitPanel(_real_digits(test, None, conditional=False), "real test digits"),
                                        DigitPanel(samples, f"RBM samples ({burn_in:,} Gibbs sweeps)")])
    print(f"  samples: {n} Gibbs chains from the base rates, {burn_in:,} sweeps each ({seconds:.2f} s), drawn as "
          f"E[v | h], beside {n} real test digits: {path}")


def _as_fastgen_rbm(sk_model, like, device):
    """scikit-learn's fitted weights in a fastgen BernoulliRBM (for the AIS likelihood)."""
    from fastgen.rbm import BernoulliRBM
    m = BernoulliRBM(n_components=sk_model.components_.shape[0], device=device)
    m.components_ = np.asarray(sk_model.components_, dtype=np.float32)
    m.intercept_hidden_ = np.asarray(sk_model.intercept_hidden_, dtype=np.float32)
    m.intercept_visible_ = np.asarray(sk_model.intercept_visible_, dtype=np.float32)
    m._base_b_v = like._base_b_v
    return m
