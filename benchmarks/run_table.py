"""The asv workloads (H1-H3 of bench_hmm.py, G1-G2 of bench_mixture.py, R1-R3 of bench_rbm.py, V1-V2/N1-N2 of
bench_nn.py; LOAD, bench_load.py, idle and under load) timed directly, as markdown tables.

    python benchmarks/run_table.py [--repeat 3] [--only H1,H3,G1]

Same data, models and calls as the asv suites (benchmarks/common.py). Each cell is the best of
`--repeat` calls (time.perf_counter) after an untimed warm-up of fastgen; the ratio columns are the
peer's time (hmmlearn's for H*, scikit-learn's for G*) divided by fastgen-cpu's (> 1: fastgen-cpu is
faster). A fastgen-cuda column is added when a CUDA GPU is usable (and NUMBA_ENABLE_CUDASIM is not
set); in the mixture table it also gets its own ratio column against scikit-learn. The HMM and
mixture suites print separate tables, since their peers differ.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

# Sizes of the asv suites (bench_hmm.py).
H1 = dict(K=8, D=4, N=2000, T=200)
H2 = dict(K=64, M=128, T=200_000)
H3_STATES = (4, 16, 64)
# Sizes of the mixture suites (bench_mixture.py).
G1 = dict(K=16, D=8, N=200_000, covariance_types=("full", "diag"))
G2 = dict(K=64, D=32, N=1_000_000, covariance_types=("diag",))
MIXTURE_N_ITER = 10
HMM_SUITES = {"H1", "H2", "H3", "H4", "H5", "H6"}
MIXTURE_SUITES = {"G1", "G2"}
RBM_SUITES = {"R1", "R2", "R3"}
NN_SUITES = {"V1", "V2", "N1", "N2"}


def workloads(only: set[str]):
    rows = []
    if "H1" in only:
        model = common.gaussian_model(H1["K"], H1["D"])
        data = common.gaussian_data(H1["K"], H1["D"], H1["N"], H1["T"])
        size = "GaussianHMM K=8 D=4 diag, 2000 x 200"
        for op in ("score", "predict", "em_iteration"):
            rows.append(("H1", op, size, lambda impl, m=model: (lambda: common.gaussian_hmm(impl, m)), data))
    if "H2" in only:
        model = common.categorical_model(H2["K"], H2["M"])
        data = common.categorical_data(H2["K"], H2["M"], H2["T"])
        size = "CategoricalHMM K=64 M=128, 1 x 200,000"
        for op in ("score", "predict", "em_iteration"):
            rows.append(("H2", op, size, lambda impl, m=model: (lambda: common.categorical_hmm(impl, m)), data))
    if "H3" in only:
        for K in H3_STATES:
            model = common.gaussian_model(K, H1["D"])
            data = common.gaussian_data(K, H1["D"], H1["N"], H1["T"])
            size = f"GaussianHMM K={K} D=4 diag, 2000 x 200"
            rows.append(("H3", "score", size, lambda impl, m=model: (lambda: common.gaussian_hmm(impl, m)), data))
    if "H4" in only:
        model = common.gaussian_model(H1["K"], H1["D"])
        data = common.gaussian_data(H1["K"], H1["D"], H1["N"], H1["T"])
        size = "GaussianHMM K=8 D=4 full, 2000 x 200"
        for op in ("score", "predict", "em_iteration"):
            rows.append(("H4", op, size, lambda impl, m=model: (lambda: common.gaussian_hmm(impl, m, covariance_type="full")),
                         data))
    if "H5" in only:
        model = common.poisson_model(H1["K"], H1["D"])
        data = common.poisson_data(H1["K"], H1["D"], H1["N"], H1["T"])
        size = "PoissonHMM K=8 D=4, 2000 x 200"
        for op in ("score", "predict", "em_iteration"):
            rows.append(("H5", op, size, lambda impl, m=model: (lambda: common.poisson_hmm(impl, m)), data))
    if "H6" in only:
        model = common.gaussian_model(12, H1["D"])
        data = common.gaussian_data(12, H1["D"], H1["N"], H1["T"])
        size = "GMMHMM K=4 M=3 D=4 diag, 2000 x 200"
        for op in ("score", "predict", "em_iteration"):
            rows.append(("H6", op, size, lambda impl, m=model: (lambda: common.gmm_hmm(impl, m, 3)), data))
    return rows


def best_of(impl, op, build, X, lengths, repeat):
    """Best of `repeat` calls of one operation, in seconds."""
    common.warm_up(impl, build, X, lengths)
    model = build()
    if op == "score":
        call = lambda: model.score(X, lengths)  # noqa: E731
    elif op == "predict":
        call = lambda: model.predict(X, lengths)  # noqa: E731
    else:
        call = lambda: build().fit(X, lengths)  # noqa: E731  (fresh model: fixed starting point)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def fmt_time(s: float) -> str:
    if s != s:  # NaN: not run
        return "n/a"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def available(impl: str) -> bool:
    try:
        common.require(impl)
    except NotImplementedError:
        return False
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="calls per cell; the best is kept (default 3)")
    p.add_argument("--only", default="H1,H2,H3,H4,H5,H6,G1,G2,R1,R2,R3,V1,V2,N1,N2",
                   help="comma-separated suites (default H1,H2,H3,H4,H5,H6,G1,G2,R1,R2,R3,V1,V2,N1,N2; LOAD: every "
                        "workload of bench_load.py idle and under load, median of --repeat)")
    args = p.parse_args(argv)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}

    all_suites = HMM_SUITES | MIXTURE_SUITES | RBM_SUITES | NN_SUITES | {"LOAD"}
    unknown = only - all_suites
    if unknown:
        p.error(f"unknown suite(s) {', '.join(sorted(unknown))}; choose from {', '.join(sorted(all_suites))}")

    impls = [i for i in ("fastgen-cpu", "fastgen-cuda", "hmmlearn-log", "hmmlearn-scaling") if available(i)]
    peers = [i for i in impls if i.startswith("hmmlearn")]
    mixture_impls = [i for i in common.MIXTURE_IMPLEMENTATIONS if available_mixture(i)] \
        if only & MIXTURE_SUITES else []
    import numpy as np
    import fastgen
    versions = [f"fastgen {fastgen.__version__}"]
    if peers and only & HMM_SUITES:
        import hmmlearn
        versions.append(f"hmmlearn {hmmlearn.__version__}")
    if "sklearn" in mixture_impls:
        import sklearn
        versions.append(f"scikit-learn {sklearn.__version__}")
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"<!-- {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
          f"{threads}; {', '.join(versions)}, numpy {np.__version__}, Python {platform.python_version()}; "
          f"best of {args.repeat} -->", flush=True)

    if only & HMM_SUITES:
        header = ["suite", "workload", "operation"] + impls + [f"speed-up vs {i}" for i in peers]
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
        print("\n".join(lines), flush=True)
        for suite, op, size, make_build, (X, lengths) in workloads(only):
            t = {impl: best_of(impl, op, make_build(impl), X, lengths, args.repeat) for impl in impls}
            ratios = [f"{t[i] / t['fastgen-cpu']:.1f}x" for i in peers]
            op_name = {"predict": "predict (Viterbi)", "em_iteration": "one EM iteration"}.get(op, op)
            print("| " + " | ".join([suite, size, op_name] + [fmt_time(t[i]) for i in impls] + ratios) + " |",
                  flush=True)
    if only & MIXTURE_SUITES:
        if only & HMM_SUITES:
            print()
        mixture_table(only, mixture_impls, args.repeat)
    if only & RBM_SUITES:
        if only & (HMM_SUITES | MIXTURE_SUITES):
            print()
        rbm_table(only, args.repeat)
    if only & NN_SUITES:
        if only & (HMM_SUITES | MIXTURE_SUITES | RBM_SUITES):
            print()
        nn_table(only, args.repeat)
    if "LOAD" in only:
        if only - {"LOAD"}:
            print()
        load_table(args.repeat)
    return 0


# ---- Gaussian mixtures (G1, G2) ------------------------------------------------------------------
def available_mixture(impl: str) -> bool:
    try:
        common.require_mixture(impl)
    except NotImplementedError:
        return False
    return True


def mixture_workloads(only: set[str]):
    """Rows (suite, operation, workload text, covariance type, model, X) of the selected G suites."""
    rows = []
    for suite, size in (("G1", G1), ("G2", G2)):
        if suite not in only:
            continue
        for cov in size["covariance_types"]:
            model = common.mixture_model(size["K"], size["D"], cov)
            X = common.mixture_data(size["K"], size["D"], size["N"], cov)
            text = f"GaussianMixture N={size['N']:,} D={size['D']} K={size['K']} {cov}"
            for op in ("em", "score_samples"):
                rows.append((suite, op, text, cov, model, X))
    return rows


def best_of_mixture(impl, op, model, cov, X, repeat):
    """Best of `repeat` calls of one mixture operation, in seconds (same calls as bench_mixture.py)."""
    build = lambda: common.gaussian_mixture(impl, model, cov, MIXTURE_N_ITER)  # noqa: E731
    common.warm_up_mixture(impl, build, X)
    if op == "em":
        call = lambda: common.fit_quietly(build(), X)  # noqa: E731  (fresh model: fixed starting point)
    else:
        fitted = common.fit_quietly(common.gaussian_mixture(impl, model, cov, 1), X)
        call = lambda: fitted.score_samples(X)  # noqa: E731
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def mixture_table(only: set[str], impls: list[str], repeat: int) -> None:
    """Print the G-suite table: a column per implementation, then scikit-learn / fastgen ratios."""
    if "sklearn" in impls:
        fast = [i for i in impls if i.startswith("fastgen")]
        ratio_cols = [f"speed-up of {i} vs sklearn" for i in fast]
    else:
        fast, ratio_cols = [], []
    header = ["suite", "workload", "operation"] + impls + ratio_cols
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|", flush=True)
    for suite, op, text, cov, model, X in mixture_workloads(only):
        t = {impl: best_of_mixture(impl, op, model, cov, X, repeat) for impl in impls}
        ratios = [f"{t['sklearn'] / t[i]:.1f}x" for i in fast]
        op_name = f"{MIXTURE_N_ITER} EM iterations" if op == "em" else "score_samples"
        print("| " + " | ".join([suite, text, op_name] + [fmt_time(t[i]) for i in impls] + ratios) + " |",
              flush=True)


# ---- RBMs (R1-R3 of bench_rbm.py) ----------------------------------------------------------------
RBM = dict(V=784, H=500, batch=100, n=10_000, chains=100, steps=1000)


def available_rbm(impl: str) -> bool:
    try:
        common.require_rbm(impl)
    except NotImplementedError:
        return False
    return True


def _best(call, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def rbm_table(only: set[str], repeat: int) -> None:
    """R1 (one PCD-1 epoch), R2 (1000 Gibbs sweeps of 100 chains) for every available implementation,
    with scikit-learn / fastgen and torch / fastgen ratios, then R3: the two products of a sweep by
    fastgen's kernel and by np.dot, and R2's sweep over its own products."""
    import numpy as np
    V, H = RBM["V"], RBM["H"]
    impls = [i for i in common.RBM_IMPLEMENTATIONS if available_rbm(i)]
    missing = [i for i in common.RBM_IMPLEMENTATIONS if i not in impls]
    peers = [i for i in ("sklearn", "torch") if i in impls]
    header = ["suite", "workload"] + impls + [f"speed-up vs {i}" for i in peers]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|", flush=True)
    t_sweep = None
    for suite in ("R1", "R2"):
        if suite not in only:
            continue
        t = {}
        for impl in impls:
            if suite == "R1":
                call = common.rbm_epoch(impl, common.rbm_data(RBM["n"], V), H, RBM["batch"])
                if impl.startswith("fastgen"):
                    common.rbm_epoch(impl, common.rbm_data(200, V), H, RBM["batch"])()  # warm-up
                text = f"one PCD-1 epoch, {V} x {H}, batch {RBM['batch']}, {RBM['n']:,} samples (torch: CD-1)"
            else:
                params, v0 = common.rbm_params(H, V), common.rbm_data(RBM["chains"], V)
                call = common.rbm_gibbs(impl, params, v0, RBM["steps"])
                if impl.startswith("fastgen"):
                    common.rbm_gibbs(impl, params, v0, 2)()
                text = f"{RBM['steps']} Gibbs sweeps, {RBM['chains']} chains, {V} x {H}"
            # scikit-learn's 1000 gibbs() calls take ~10 s: timed once
            t[impl] = _best(call, 1 if (suite == "R2" and impl == "sklearn") else repeat)
        if suite == "R2":
            t_sweep = t["fastgen-cpu"] / RBM["steps"]
        ratios = [f"{t[p] / t['fastgen-cpu']:.1f}x" for p in peers]
        print("| " + " | ".join([suite, text] + [fmt_time(t[i]) for i in impls] + ratios) + " |", flush=True)
    if missing:
        print(f"\n(not available here: {', '.join(missing)})")
    if "R3" in only:
        from fastgen import _core
        p = common.rbm_params(H, V)
        v = common.rbm_data(RBM["chains"], V)
        h = (np.random.default_rng(0).random((RBM["chains"], H)) < 0.5).astype(np.float32)
        W, Wt = p["W"], np.ascontiguousarray(p["W"].T)
        n = 20
        kern = _best(lambda: [(_core.rbm._matmul(v, Wt), _core.rbm._matmul(h, W)) for _ in range(n)], repeat) / n
        blas = _best(lambda: [(np.dot(v, Wt), np.dot(h, W)) for _ in range(n)], repeat) / n
        print(f"\nR3: the two float32 products of one sweep ({RBM['chains']} x {V} @ {V} x {H}, "
              f"{RBM['chains']} x {H} @ {H} x {V}): fastgen kernel {fmt_time(kern)}, numpy BLAS {fmt_time(blas)} "
              f"(BLAS / kernel = {blas / kern:.2f}x)")
        if t_sweep is not None:
            print(f"R2 sweep / its two products (fastgen kernel) = {t_sweep / kern:.2f}; "
                  f"/ numpy's two products = {t_sweep / blas:.2f}")


# ---- nn training steps (V1, V2, N1, N2 of bench_nn.py) -------------------------------------------
def nn_table(only: set[str], repeat: int, steps: int = 20) -> None:
    """Time per training step (best of `repeat` runs of `steps` steps) for every available
    implementation, torch / fastgen ratios, and the step's dense-product FLOP rate."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import nn_steps
    impls = []
    for impl in nn_steps.NN_IMPLEMENTATIONS:
        try:
            nn_steps.require_nn(impl)
            impls.append(impl)
        except NotImplementedError:
            pass
    peer = "torch" in impls and "fastgen-cpu" in impls
    header = ["suite", "workload"] + impls + (["speed-up vs torch"] if peer else []) + ["fastgen-cpu GFLOP/s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|", flush=True)
    for suite in ("V1", "V2", "N1", "N2"):
        if suite not in only:
            continue
        if suite in nn_steps.VAE_SHAPES:
            shape, build = nn_steps.VAE_SHAPES[suite], nn_steps.vae_step
            flops = nn_steps.vae_step_flops(shape)
            text = (f"VAE {shape['D']}-{'-'.join(map(str, shape['hidden']))}-(2x{shape['K']}), "
                    f"batch {shape['batch']}, one step")
        else:
            shape, build = nn_steps.GAN_SHAPES[suite], nn_steps.gan_step
            flops = nn_steps.gan_step_flops(shape)
            text = (f"GAN G {'-'.join(map(str, shape['gen']))}, D {'-'.join(map(str, shape['disc']))}, "
                    f"batch {shape['batch']}, one D + one G step")
        t = {}
        for impl in impls:
            step = build(impl, shape)
            for _ in range(3):
                step()
            t[impl] = _best(lambda: [step() for _ in range(steps)], repeat) / steps
        cells = [fmt_time(t[i]) for i in impls]
        if peer:
            cells.append(f"{t['torch'] / t['fastgen-cpu']:.1f}x")
        rate = f"{flops / t['fastgen-cpu'] / 1e9:.0f}" if "fastgen-cpu" in t else "n/a"
        print("| " + " | ".join([suite, text] + cells + [rate]) + " |", flush=True)


# ---- under load (bench_load.py) ------------------------------------------------------------------
def load_table(repeat: int) -> None:
    """Median of `repeat` calls of every load.py workload, idle and under load.Load(), for fastgen
    (default threads and one thread) and its peer; the issue's targets as the last two columns."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import load
    header = ["workload", "peer", "fastgen idle (1 thread)", "fastgen idle", "peer idle", "fastgen loaded",
              "peer loaded", "loaded / idle 1-thread", "ratio idle / loaded"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|", flush=True)
    for name, (text, _, peer) in load.WORKLOADS.items():
        calls = {}
        for impl in load.IMPLS:
            try:
                calls[impl] = load.build(name, impl)
            except NotImplementedError:
                pass
        idle = {impl: load.median_time(c, repeat) for impl, c in calls.items()}
        with load.Load():
            loaded = {impl: load.median_time(calls[impl], repeat) for impl in ("fastgen", "peer") if impl in calls}
        p_idle, p_loaded = idle.get("peer"), loaded.get("peer")
        cells = [f"{name}: {text}", peer, fmt_time(idle["fastgen-1"]), fmt_time(idle["fastgen"]),
                 fmt_time(p_idle) if p_idle else "n/a", fmt_time(loaded["fastgen"]),
                 fmt_time(p_loaded) if p_loaded else "n/a", f"{loaded['fastgen'] / idle['fastgen-1']:.1f}x",
                 f"{p_idle / idle['fastgen']:.1f}x / {p_loaded / loaded['fastgen']:.1f}x" if p_idle else "n/a"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
