"""Autoregressive demos: an AR forecast of the yearly sunspot numbers (statsmodels as the peer) and a
MADE on the binarised 8x8 digits."""
from __future__ import annotations

import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import DIGITS_GRID, _digits_split, _figure, _save_figure, _table, _version
from fastgen.demos._png import _digit_grid, _write_png_gray

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
    _save_figure(ctx, fig, "sunspots_ar_forecast.png")


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
