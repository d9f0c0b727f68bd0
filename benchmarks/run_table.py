"""The asv HMM workloads (H1-H3 of bench_hmm.py) timed directly, printed as a markdown table.

    python benchmarks/run_table.py [--repeat 3] [--only H1,H3]

Same data, models and calls as the asv suites (benchmarks/common.py). Each cell is the best of
`--repeat` calls (time.perf_counter) after an untimed warm-up of fastgen; the ratio columns are
hmmlearn's time divided by fastgen-cpu's (> 1: fastgen-cpu is faster). A fastgen-cuda column is added
when a CUDA GPU is usable (and NUMBA_ENABLE_CUDASIM is not set).
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
    p.add_argument("--only", default="H1,H2,H3", help="comma-separated suites (default H1,H2,H3)")
    args = p.parse_args(argv)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}

    impls = [i for i in ("fastgen-cpu", "fastgen-cuda", "hmmlearn-log", "hmmlearn-scaling") if available(i)]
    peers = [i for i in impls if i.startswith("hmmlearn")]
    import numpy as np
    import fastgen
    versions = [f"fastgen {fastgen.__version__}"]
    if peers:
        import hmmlearn
        versions.append(f"hmmlearn {hmmlearn.__version__}")
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"<!-- {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
          f"{threads}; {', '.join(versions)}, numpy {np.__version__}, Python {platform.python_version()}; "
          f"best of {args.repeat} -->", flush=True)

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
