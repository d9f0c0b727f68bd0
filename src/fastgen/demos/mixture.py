"""Mixture demo: full-covariance Gaussian mixtures on Old Faithful's eruptions (scikit-learn as the peer)."""
from __future__ import annotations

import contextlib
import time

import numpy as np

from fastgen.demos import DemoContext, demo
from fastgen.demos._common import _figure, _one_blas_thread, _save_figure, _table, _version

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
        libs.append(("scikit-learn " + _version("sklearn"), "cpu (1 thread)",
                     lambda K: sk_mixture.GaussianMixture(n_components=K, **kwargs)))

    rows, fitted = [], {}
    for label, device, make in libs:
        # scikit-learn's numpy/BLAS pool on one thread: faster on 272 rows (see _one_blas_thread)
        with _one_blas_thread() if label.startswith("scikit-learn") else contextlib.nullcontext():
            make(FAITHFUL_COMPONENTS[0]).fit(X)  # warm-up: imports, JIT compilation, GPU context
            for K in FAITHFUL_COMPONENTS:
                t0 = time.perf_counter()
                model = make(K).fit(X)
                seconds = time.perf_counter() - t0
                fitted.setdefault(label, {})[K] = model
                rows.append([label.strip(), device, str(K), f"{seconds * 1e3:.1f} ms", str(model.n_iter_),
                             f"{model.score(X) * X.shape[0]:.6f}", f"{model.bic(X):.4f}"])
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


COMPONENT_COLOURS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink")


def _component_colours(means_by_k: dict[int, np.ndarray], scale: np.ndarray) -> dict[int, list[str]]:
    """One colour per component of each model, the same colour for the same cluster in every panel:
    the smallest K's components take COMPONENT_COLOURS in order of their first coordinate (short
    eruptions first); each next K's components are paired one to one with the previous K's, nearest
    means first (distance in units of `scale`, the data's spread), and take their colours; the
    components left over take the colours not yet used, again in order of their first coordinate."""
    colours: dict[int, list[str]] = {}
    prev = None
    for K in sorted(means_by_k):
        means = np.asarray(means_by_k[K], dtype=float) / scale
        assigned: list[str | None] = [None] * len(means)
        if prev is not None:
            prev_means, prev_colours = prev
            d = np.linalg.norm(means[:, None, :] - prev_means[None, :, :], axis=2)
            for _ in range(min(len(means), len(prev_means))):
                i, j = np.unravel_index(np.argmin(d), d.shape)
                assigned[i] = prev_colours[j]
                d[i, :] = d[:, j] = np.inf
        spare = iter(c for c in COMPONENT_COLOURS if c not in assigned)
        for i in np.argsort(means[:, 0], kind="stable"):
            if assigned[i] is None:
                assigned[i] = next(spare)
        colours[K] = [str(c) for c in assigned]
        prev = (means, colours[K])
    return colours


def _plot_faithful(ctx, X, names, models) -> None:
    fig = _figure()
    if fig is None:
        return
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    colours = _component_colours({K: np.asarray(m.means_) for K, m in models.items()}, X.std(axis=0))
    axes = fig.subplots(1, len(models), sharey=True)
    for ax, (K, model) in zip(np.atleast_1d(axes), sorted(models.items())):
        log_density = np.asarray(model.score_samples(grid)).reshape(gx.shape)
        top = log_density.max()
        ax.contour(gx, gy, log_density, levels=np.linspace(top - 6.0, top, 9), colors="0.6",
                   linewidths=0.6, linestyles="solid", zorder=1)
        labels = np.asarray(model.predict(X))
        means, weights = np.asarray(model.means_), np.asarray(model.weights_)
        for k in np.argsort(means[:, 0]):
            sel = labels == k
            ax.scatter(X[sel, 0], X[sel, 1], color=colours[K][k], s=9, zorder=2,
                       label=f"weight {weights[k]:.2f}, {sel.sum()} eruptions")
            ax.scatter(means[k, 0], means[k, 1], marker="X", color=colours[K][k], edgecolors="k", linewidths=0.8,
                       s=70, zorder=3)
        ax.set(xlabel=f"{names[0]} (min)", title=f"K={K}: BIC {model.bic(X):.1f}")
        ax.legend(loc="lower right", fontsize=7, frameon=False, handletextpad=0.2, title="components",
                  title_fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel(f"{names[1]} (min)")
    fig.suptitle("Old Faithful: fastgen GaussianMixture (full covariances)\neruptions in their most likely "
                 "component's colour (a cluster keeps its colour across panels), X at its mean, "
                 "contours 0.75 nat apart", fontsize=8)
    _save_figure(ctx, fig, "old_faithful_gaussian_mixture.png")
