"""Autoregressive demos: an AR forecast of the yearly sunspot numbers, fitted on their square roots
(statsmodels as the peer), and a MADE on the binarised 8x8 digits."""
from __future__ import annotations

import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import (DIGITS_GRID, DigitPanel, _digits_split, _figure, _real_digits,
                                   _save_digit_figure, _save_figure, _table, _version)

SUNSPOT_MAX_ORDER = 20
SUNSPOT_HORIZON = 40
SUNSPOT_PATHS = 1000
SUNSPOT_SEED = 0
SUNSPOT_LEVELS = (0.95, 0.8, 0.5)  # fan-chart bands, widest first
SUNSPOT_PATH_COLOURS = ("tab:blue", "tab:green", "tab:purple")
MADE_HIDDEN = 500
MADE_EPOCHS = 200
MADE_SEED = 0
MADE_TEMPERATURES = (1.0, 0.7)


def _import_statsmodels_ar():
    try:
        from statsmodels.tsa.ar_model import AutoReg, ar_select_order
    except ImportError:
        return None
    return AutoReg, ar_select_order


def _counts(root):
    """Sunspot numbers from the square-root scale: r^2 where r >= 0, and 0 where the Gaussian AR went
    below 0 (no spots that year; the path goes on from its value on the root scale)."""
    return np.square(np.maximum(root, 0.0))


def _sunspot_forecast(years, spots, horizon, n_paths, seed, device, max_order=SUNSPOT_MAX_ORDER):
    """The AR of the square roots of the sunspot numbers (order by AIC), its forecast bands, and
    Monte-Carlo paths, all brought back to sunspot numbers by _counts. The map is monotone, so the
    Gaussian quantiles on the root scale map to quantiles of the paths: the bands are both the
    model's exact prediction intervals and what the simulated paths fill.

    Returns a dict: model (fitted on the roots), seconds (select + fit), future (years), median
    (the back-transformed forecast mean: the paths' median), bands {level: (lower, upper)},
    paths (n_paths, horizon), below_zero (share of simulated years that were < 0 on the root scale)."""
    from fastgen.autoregressive import AR

    root = np.sqrt(spots)
    AR(order=2).fit(root)  # warm-up: imports (and the GPU context)
    t0 = time.perf_counter()
    model = AR(order="aic", max_order=max_order, device=device).fit(root)
    seconds = time.perf_counter() - t0
    bands = {}
    for level in SUNSPOT_LEVELS:
        mean, lo, hi = model.forecast_interval(horizon, alpha=1 - level)
        bands[level] = (_counts(lo), _counts(hi))
    t0 = time.perf_counter()
    root_paths = model.simulate(horizon, n_paths=n_paths, random_state=seed)
    sim_seconds = time.perf_counter() - t0
    return dict(model=model, seconds=seconds, sim_seconds=sim_seconds,
                future=years[-1] + 1 + np.arange(horizon), median=_counts(mean), bands=bands,
                paths=_counts(np.asarray(root_paths, dtype=np.float64)),
                below_zero=float(np.mean(np.asarray(root_paths) < 0)))


@demo("ar-sunspots", "AR model of yearly sunspot numbers (square-root scale): AIC order, fan chart, simulated paths")
def demo_ar_sunspots(ctx: DemoContext) -> None:
    from fastgen.datasets import load_sunspots

    years, spots = load_sunspots()
    n_paths = ctx.pick(SUNSPOT_PATHS, 200)
    print(f"Yearly sunspot numbers {years[0]}-{years[-1]} ({len(spots)} years): AR with a constant on their square "
          f"roots (the usual scale for these counts: it evens out the variance between quiet and busy cycles, and "
          f"squaring back keeps every forecast and path >= 0), order by AIC up to {SUNSPOT_MAX_ORDER}, OLS")
    fc = _sunspot_forecast(years, spots, SUNSPOT_HORIZON, n_paths, SUNSPOT_SEED, ctx.device)
    model = fc["model"]
    rows = [["fastgen " + _version("fastgen"), ctx.resolved, f"{fc['seconds'] * 1e3:.2f} ms", str(model.order_),
             f"{model.sigma2_:.6f}", f"{model.llf_:.6f}"]]
    peer = _import_statsmodels_ar()
    if peer is not None:
        AutoReg, ar_select_order = peer
        t0 = time.perf_counter()
        sel = ar_select_order(np.sqrt(spots), SUNSPOT_MAX_ORDER, ic="aic", trend="c")
        res = sel.model.fit()
        t_seconds = time.perf_counter() - t0
        rows.append(["statsmodels " + _version("statsmodels"), "cpu", f"{t_seconds * 1e3:.2f} ms",
                     str(max(sel.ar_lags or [0])), f"{res.sigma2:.6f}", f"{res.llf:.6f}"])
    print(_table(rows, ["library", "device", "select + fit", "order", "sigma2", "log-likelihood"],
                 right={2, 3, 4, 5}))
    if peer is None:
        print("  (statsmodels is not installed: no comparison row; pip install statsmodels)")
    future, median, paths = fc["future"], fc["median"], fc["paths"]
    lo95, hi95 = fc["bands"][0.95]
    peak = int(np.argmax(median[:15]))
    print(f"  forecast: next peak around {future[peak]} at {median[peak]:.0f} (95% interval {lo95[peak]:.0f} to "
          f"{hi95[peak]:.0f}); the median and bands are the root-scale forecast and its Gaussian intervals, squared")
    inside = ", ".join(f"{100 * np.mean((paths >= lo) & (paths <= hi)):.1f}% inside the {int(100 * level)}% band"
                       for level, (lo, hi) in sorted(fc["bands"].items()))
    print(f"  {n_paths} simulated {SUNSPOT_HORIZON}-year paths ({fc['sim_seconds'] * 1e3:.2f} ms): smallest value "
          f"{paths.min():.1f} ({100 * fc['below_zero']:.1f}% of the simulated years fell below 0 on the root scale: "
          f"no spots); of all simulated years {inside}")
    _plot_sunspots(ctx, years, spots, model, fc)


def _plot_sunspots(ctx, years, spots, model, fc) -> None:
    fig = _figure()
    if fig is None:
        return
    fig.set_size_inches(8, 3.6)
    future, paths = fc["future"], fc["paths"]
    ax = fig.add_subplot()
    keep = years >= years[-1] - 120
    ax.plot(years[keep], spots[keep], color="k", lw=1, label="observed")
    for level, shade in zip(SUNSPOT_LEVELS, ("0.86", "0.74", "0.62")):
        lo, hi = fc["bands"][level]
        ax.fill_between(future, lo, hi, color=shade, lw=0, label=f"{int(level * 100)}% band")
    ax.plot(future, fc["median"], color="tab:red", lw=1.4, label="median forecast")
    for i, colour in enumerate(SUNSPOT_PATH_COLOURS):
        ax.plot(future, paths[i], color=colour, lw=0.8, alpha=0.9, label=f"simulated path {i + 1}")
    ax.set_ylim(bottom=0)
    ax.set(xlabel="year", ylabel="sunspot number")
    ax.set_title(f"Sunspots: fastgen AR({model.order_}) fitted to the square roots, forecast squared back\n"
                 f"median and 50/80/95% bands (of the forecast, and so of the {len(paths):,} simulated paths), "
                 f"three of the paths", fontsize=9)
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=3)
    _save_figure(ctx, fig, "sunspots_ar_forecast.png")


@demo("made-digits", "MADE on binarised 8x8 digits: exact test log-likelihood, samples beside real digits")
def demo_made_digits(ctx: DemoContext) -> None:
    from fastgen.autoregressive import MADE

    train, test, _, y_test = _digits_split(binary=True)
    epochs = ctx.pick(MADE_EPOCHS, 10)
    print(f"8x8 digits, binarised ({len(train)} train / {len(test)} test, the rbm-digits split): Bernoulli MADE "
          f"64-{MADE_HIDDEN}-64, ReLU, natural pixel order, Adam 1e-3, batch 100, {epochs} epochs "
          f"(seed {MADE_SEED})")
    MADE((MADE_HIDDEN,), max_epochs=1, device=ctx.device).fit(train[:100])  # warm-up: JIT, GPU context
    t0 = time.perf_counter()
    model = MADE((MADE_HIDDEN,), max_epochs=epochs, random_state=MADE_SEED, device=ctx.device).fit(train)
    seconds = time.perf_counter() - t0
    p = np.clip(train.mean(axis=0), 1e-3, 1 - 1e-3)   # the independent-pixel baseline
    baseline = float((test * np.log(p) + (1 - test) * np.log1p(-p)).sum(axis=1).mean())
    print(f"  fit {seconds:.2f} s on {ctx.resolved}; exact test log-likelihood {model.score(test):.2f} nats per "
          f"image (independent pixels: {baseline:.2f}; the rbm-digits and vae-digits demos report theirs on "
          f"the same split)")
    n = DIGITS_GRID ** 2
    panels = [DigitPanel(_real_digits(test, y_test, conditional=False), "real test digits")]
    for temperature in MADE_TEMPERATURES:
        t0 = time.perf_counter()
        samples = model.sample(n, random_state=MADE_SEED, temperature=temperature)
        s_seconds = time.perf_counter() - t0
        panels.append(DigitPanel(samples, f"MADE samples, temperature {temperature:g}"))
        print(f"  {n} samples at temperature {temperature:g} ({s_seconds * 1e3:.1f} ms, incremental decoding)")
    caption = ("Left: real test digits, binarised as the training data (ink where at least half the block is on). "
               f"Then {n} samples of the fastgen MADE, drawn pixel by pixel (row by row from the top left), each "
               "pixel 0 or 1: at temperature 1 from the model itself; at 0.7 each conditional's logit is divided "
               "by 0.7, which sharpens the pixels (less speckle, less variety).")
    path = _save_digit_figure(ctx, "made_digits_samples.png", "MADE on binarised 8x8 digits: samples", caption, panels)
    print(f"  samples beside {n} real test digits: {path}")
