"""Neural-network demos: VAE and GAN on the 8x8 digits, VAE anomaly scores (digits held out in turn,
breast-cancer biopsies), and the PyTorch reference trainer the VAE is compared with."""
from __future__ import annotations

import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import (DIGITS_GRID, DigitPanel, _digits_split, _real_digits, _save_digit_figure,
                                   _table, _version)

NN_SEED = 0
VAE_HIDDEN = 256
VAE_LATENT = 16
VAE_EPOCHS = 100
VAE_BATCH = 64
GAN_EPOCHS = 300
ANOMALY_EPOCHS = 50
CANCER_TRAIN = 250   # benign rows the models are fitted on; the other 107 benign rows are test inliers
CANCER_EPOCHS = 300
PRIOR = "z\u00a0~\u00a0N(0,\u00a0I)"  # in figure captions: no-break spaces keep it on one line


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


def _torch_vae_fit(torch, train, init_encoder, init_decoder, epochs=VAE_EPOCHS):
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
        return _torch_vae_train(torch, train, build(init_encoder), build(init_decoder), epochs)
    finally:
        torch.set_num_threads(threads)


def _torch_vae_train(torch, train, enc, dec, epochs):
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
    Xt = torch.from_numpy(train)
    K = VAE_LATENT
    rng = np.random.default_rng(NN_SEED)
    t0 = time.perf_counter()
    for _ in range(epochs):
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


@demo("vae-digits", "VAE on binarised 8x8 digits: test log-likelihood (IWAE), samples beside real digits")
def demo_vae_digits(ctx: DemoContext) -> None:
    from fastgen.vae import VAE

    train, test, y_train, y_test = _digits_split(binary=True)
    epochs = ctx.pick(VAE_EPOCHS, 5)
    kwargs = dict(encoder_layers=(VAE_HIDDEN,), latent_dim=VAE_LATENT, batch_size=VAE_BATCH, max_epochs=epochs,
                  learning_rate=1e-3, random_state=NN_SEED)
    print(f"8x8 digits, binarised ({len(train)} train / {len(test)} test, the rbm-digits split): Bernoulli VAE "
          f"64-{VAE_HIDDEN}-{2 * VAE_LATENT} / {VAE_LATENT}-{VAE_HIDDEN}-64, ReLU, Adam 1e-3, batch {VAE_BATCH}, "
          f"{epochs} epochs (seed {NN_SEED})")
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
        enc, dec, t_seconds, t_loss = _torch_vae_fit(torch, train, init.encoder_, init.decoder_, epochs)
        theirs = _torch_weights_into(model, enc, dec)
        rows.append(["PyTorch " + _version("torch"), "cpu (1 thread)", f"{t_seconds:.2f} s",
                     f"{-t_loss:.2f}",
                     f"{theirs.set_params(n_importance=1).score(test):.2f}",
                     f"{theirs.set_params(n_importance=64).score(test):.2f}"])
    print(_table(rows, ["library", "device", "fit time", "train ELBO", "test ELBO", "test IWAE (k=64)"],
                 right={2, 3, 4, 5}))
    if torch is None:
        print("  (PyTorch is not installed: no comparison row; pip install torch, the CPU build is enough)")
    print("  nats per binarised test image (rbm-digits reports the RBM's on the same split); both rows scored "
          "by fastgen's estimator (ELBO: one draw, IWAE: 64 importance samples per image); the train ELBO is the "
          "last epoch's minibatch mean")
    cond = VAE(**kwargs, device=ctx.device).fit(train, y_train)
    labels = np.repeat(np.arange(DIGITS_GRID), DIGITS_GRID)
    samples = cond.sample(len(labels), y=labels, random_state=NN_SEED)
    agree = _nearest_centroid_agreement(samples, labels, train, y_train)
    print(f"  conditional VAE (labels one-hot): test IWAE given the label {cond.score(test, y_test):.2f}; its samples "
          f"for digit k are nearest to digit k's mean image for {100 * agree:.0f}% of them")
    n, digit_rows = DIGITS_GRID ** 2, [str(k) for k in range(DIGITS_GRID)]
    real = "real test digits, binarised as the training data (ink where at least half the block is on)"
    path = _save_digit_figure(
        ctx, "vae_digits_samples.png", "VAE on binarised 8x8 digits: samples",
        f"Left: {real}. Right: the fastgen VAE's decoder means E[x|z] for {n} draws {PRIOR} of its "
        f"{VAE_LATENT}-dimensional latent (grey: an uncertain pixel).",
        [DigitPanel(_real_digits(test, y_test, conditional=False), "real test digits"),
         DigitPanel(model.sample(n, random_state=NN_SEED), "VAE samples (decoder means)")])
    cpath = _save_digit_figure(
        ctx, "cvae_digits_samples.png", "Conditional VAE on binarised 8x8 digits: samples for each label",
        f"Left: {real}, row k = the first {DIGITS_GRID} of digit k. Right: the conditional VAE's decoder means "
        f"given label k in row k, {PRIOR}; a nearest-class-mean classifier agrees with the label for "
        f"{100 * agree:.0f}% of them.",
        [DigitPanel(_real_digits(test, y_test, conditional=True), "real test digits", digit_rows, "digit"),
         DigitPanel(samples, "conditional VAE samples", digit_rows, "label given")])
    print(f"  samples (decoder means of z ~ N(0, I)) beside real test digits: {path}; conditional, row k = "
          f"digit k: {cpath}")


@demo("gan-digits", "conditional GAN on 8x8 digits: samples for each digit beside real digits")
def demo_gan_digits(ctx: DemoContext) -> None:
    from fastgen.gan import GAN

    train, test, y_train, y_test = _digits_split(binary=False)
    epochs = ctx.pick(GAN_EPOCHS, 10)
    kwargs = dict(generator_layers=(128, 128), discriminator_layers=(128, 128), latent_dim=16,
                  output_activation="sigmoid", learning_rate=5e-4, batch_size=64, max_epochs=epochs,
                  random_state=NN_SEED)
    print(f"8x8 digits, grey levels / 16 ({len(train)} train images): conditional GAN (non-saturating), generator "
          f"16+10-128-128-64 (ReLU, sigmoid output), discriminator 64+10-128-128-1 (leaky ReLU 0.2), Adam 5e-4 "
          f"(beta1 0.5), batch 64, {epochs} epochs (seed {NN_SEED})")
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
    digit_rows = [str(k) for k in range(DIGITS_GRID)]
    path = _save_digit_figure(
        ctx, "gan_digits_samples.png", "Conditional GAN on 8x8 digits (grey levels): samples for each label",
        f"Left: real test digits (grey levels 0-16, drawn 0 = white to 16 = black), row k = the first "
        f"{DIGITS_GRID} of digit k. Right: the fastgen GAN's generator G(z, k) for label k in row k, "
        f"{PRIOR}.",
        [DigitPanel(_real_digits(test, y_test, conditional=True), "real test digits", digit_rows, "digit"),
         DigitPanel(samples, "GAN samples", digit_rows, "label given")])
    print(f"  samples, row k = digit k, beside real test digits: {path}")


def _roc_auc(inlier_scores, outlier_scores) -> float:
    """P(inlier score > outlier score) + P(tie) / 2: the ROC AUC of flagging low scores as anomalies."""
    a, b = np.asarray(inlier_scores)[:, None], np.asarray(outlier_scores)[None, :]
    return float((a > b).mean() + 0.5 * (a == b).mean())


@demo("vae-anomaly", "VAE log-likelihood bound as an anomaly score: each digit held out in turn, ROC AUC")
def demo_vae_anomaly(ctx: DemoContext) -> None:
    from fastgen.autoencoder import Autoencoder
    from fastgen.vae import VAE

    epochs = ctx.pick(ANOMALY_EPOCHS, 3)
    train, test, y_train, y_test = _digits_split(binary=True)
    print(f"8x8 digits, binarised: for each digit d, fit on the training images of the other nine "
          f"(~{int(len(train) * 0.9)}), then score the test images of those nine (inliers) and every image of d "
          f"(anomalies). VAE 64-128-8, {epochs} epochs; score_samples = IWAE bound (k=64). Autoencoder "
          f"64-128-8-128-64 (BCE), same schedule; score = minus the reconstruction loss (seed {NN_SEED})")
    all_x = np.concatenate([train, test])
    all_y = np.concatenate([y_train, y_test])
    rows, aucs = [], []
    t0 = time.perf_counter()
    for d in range(10):
        fit_x = train[y_train != d]
        inliers, outliers = test[y_test != d], all_x[all_y == d]
        vae = VAE((128,), 8, batch_size=64, max_epochs=epochs, random_state=NN_SEED,
                  device=ctx.device).fit(fit_x)
        ae = Autoencoder((128,), 8, loss="bce", batch_size=64, max_epochs=epochs, random_state=NN_SEED,
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


@demo("vae-anomaly-tabular", "VAE anomaly scores on tabular data: fit on benign breast-cancer biopsies, flag malignant")
def demo_vae_anomaly_tabular(ctx: DemoContext) -> None:
    from fastgen.autoencoder import Autoencoder
    from fastgen.datasets import load_breast_cancer
    from fastgen.mixture import GaussianMixture
    from fastgen.vae import VAE

    table = load_breast_cancer()
    epochs = ctx.pick(CANCER_EPOCHS, 20)
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
                                                             max_epochs=epochs, random_state=NN_SEED,
                                                             device=ctx.device)),
        ("autoencoder (reconstruction error)", lambda: Autoencoder((64,), 4, loss="mse", batch_size=32,
                                                                  max_epochs=epochs, random_state=NN_SEED,
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
    print(f"  ROC AUC: probability that a benign test biopsy scores above a malignant one; {epochs} epochs, "
          f"batch 32, latent dimension 4, on {ctx.resolved}")
