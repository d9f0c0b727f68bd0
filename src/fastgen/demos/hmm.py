"""HMM demo: a two-regime Gaussian HMM on the Nile's annual flow (hmmlearn as the peer)."""
from __future__ import annotations

import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import _figure, _quiet_loggers, _save_figure, _table, _version

NILE_RESTARTS = 5
NILE_SEED = 0
NILE_N_ITER = 100
NILE_TOL = 1e-4


def _import_hmmlearn():
    try:
        from hmmlearn import hmm
    except ImportError:
        return None
    return hmm


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


@demo("hmm-nile", "2-state GaussianHMM: the Nile's annual flow drops after 1898 (first low-flow year 1899)")
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
            switches = _last_years_before_switches(years, states)
            change = "none" if switches.size == 0 else str(switches[0])
            if switches.size > 1:
                change += f" (+{switches.size - 1} more)"
            rows.append([label.strip(), device, f"{seconds * 1e3:.1f} ms", f"{ll:.4f}",
                         str(model.monitor_.iter), change])
            if fastgen_result is None:
                fastgen_result = (model, states, switches)
    print(_table(rows, ["library", "device", "fit time", "log-likelihood", "iters", "change after"],
                 right={2, 3, 4}))
    if hmmlearn is None:
        print("  (hmmlearn is not installed: no comparison row; pip install hmmlearn)")
    model, states, switches = fastgen_result
    means = np.asarray(model.means_).ravel()
    print("  fit time: all restarts, after one warm-up fit; iters and log-likelihood: the best restart")
    if switches.size:
        last = int(switches[0])
        print(f"  change after {last}: the last year of the old Viterbi state ({last + 1} is the first of the new "
              f"one), as change-point methods date it: Cobb (1978) near 1898, R's strucchange breakpoints(Nile ~ 1) "
              f"at 1898, the last year at the old level")
    print(f"  fastgen's state means: {' -> '.join(f'{m:.0f}' for m in means[states[[0, -1]]])} (10^8 m^3)")
    _plot_nile(ctx, years, flow, states, means, switches)


def _last_years_before_switches(years, states):
    """The years after which the Viterbi path changes state: the last year of each regime but the last
    (the convention of change-point methods, which date the Nile's change 1898)."""
    return years[:-1][np.diff(states) != 0]


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
            name = "high-flow" if k == int(order[0]) else "low-flow"
            span = (f"{years[sel].min()}-{years[sel].max()}" if np.all(np.diff(years[sel]) == 1)
                    else f"{sel.sum()} years")
            ax.scatter(years[sel], flow[sel], s=14, color=colours[k], zorder=2,
                       label=f"{name} state, {span}: mean {means[k]:.0f}")
            ax.hlines(means[k], years[sel].min(), years[sel].max(), colors=colours[k], linestyles="--", lw=1)
    if switches.size:
        ax.axvline(switches[0] + 0.5, color="k", lw=0.8, ls=":",
                   label=f"change after {switches[0]} (first low-flow year {switches[0] + 1})")
    ax.set(xlabel="year", ylabel="annual flow ($10^8$ m$^3$)",
           title="Nile at Aswan: states decoded by fastgen GaussianHMM (Viterbi)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    _save_figure(ctx, fig, "nile_gaussian_hmm.png")
