"""A shared machine, on demand: a bounded load beside a benchmark, and the workloads timed under it
(bench_load.py, run_table.py --only LOAD).

The load is the issue's: two processes fitting fastgen models in a loop (small HMM and mixture fits,
whose kernels start and stop the thread pool all the time) and four CPU-bound Python loops. Every
load process stops by itself after `seconds` (so a killed benchmark leaves nothing behind for long)
and is killed by stop().

Workloads: ``build(name, impl)`` returns a callable doing one timed unit of `impl`'s work, where
impl is "fastgen" (the CPU kernels, default threads), "fastgen-1" (one thread) or "peer" (the
library fastgen replaces, default threads). Data and models come from common.py and the demos'
data sets, identical for both sides.
"""
from __future__ import annotations

import subprocess
import sys
import time
import warnings

import numpy as np

from . import common

IMPLS = ["fastgen", "fastgen-1", "peer"]

_BUSY = "import time\nt = time.time()\nwhile time.time() - t < {seconds}:\n    pass\n"
_FITTING = """
import time, warnings
import numpy as np
warnings.simplefilter("ignore")
from fastgen.datasets import load_nile, load_old_faithful
from fastgen.hmm import GaussianHMM
from fastgen.mixture import GaussianMixture
X = load_nile().values.reshape(-1, 1)
Y = load_old_faithful().data
t = time.time()
i = 0
while time.time() - t < {seconds}:
    GaussianHMM(2, n_iter=20, random_state=i).fit(X)
    GaussianMixture(2, covariance_type="full", random_state=i).fit(Y)
    i += 1
"""


class Load:
    """`busy` CPU-bound Python loops and `fitting` fastgen-fitting processes, running until stop()."""

    def __init__(self, busy: int = 4, fitting: int = 2, seconds: float = 600.0):
        self.busy, self.fitting, self.seconds = busy, fitting, seconds
        self.procs: list[subprocess.Popen] = []

    def start(self) -> "Load":
        for _ in range(self.fitting):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _FITTING.format(seconds=self.seconds)]))
        for _ in range(self.busy):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _BUSY.format(seconds=self.seconds)]))
        time.sleep(1.5)  # the fitting processes import and start fitting
        return self

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _hmm_module(impl):
    if impl == "peer":
        import hmmlearn.hmm as hmm
    else:
        import fastgen.hmm as hmm
    return hmm


def _nile(impl):
    from fastgen.datasets import load_nile
    X = load_nile().values.reshape(-1, 1)
    hmm = _hmm_module(impl)

    def fit():
        for seed in range(5):  # the demo's restarts
            hmm.GaussianHMM(2, n_iter=50, tol=0.0, random_state=seed).fit(X)
    return fit


def _faithful(impl):
    from fastgen.datasets import load_old_faithful
    X = load_old_faithful().data
    if impl == "peer":
        from sklearn.mixture import GaussianMixture
    else:
        from fastgen.mixture import GaussianMixture
    return lambda: GaussianMixture(2, covariance_type="full", max_iter=100, tol=0.0, random_state=0).fit(X)


def _made_digits(impl):
    from . import made_steps
    step = made_steps.made_step("torch" if impl == "peer" else "fastgen-cpu", made_steps.SHAPES["MT2"])
    return lambda: [step() for _ in range(10)]


def _h1_em(impl):
    K, D, N, T = 8, 4, 2000, 200
    model = common.gaussian_model(K, D)
    X, lengths = common.gaussian_data(K, D, N, T)
    name = "hmmlearn-scaling" if impl == "peer" else "fastgen-cpu"
    return lambda: common.gaussian_hmm(name, model, n_iter=1).fit(X, lengths)


def _g1_em(impl):
    K, D, N = 16, 8, 200_000
    model = common.mixture_model(K, D, "full")
    X = common.mixture_data(K, D, N, "full")
    name = "sklearn" if impl == "peer" else "fastgen-cpu"
    return lambda: common.fit_quietly(common.gaussian_mixture(name, model, "full", 2), X)


def _r1_epoch(impl):
    X = common.rbm_data(10_000, 784)
    return common.rbm_epoch("sklearn" if impl == "peer" else "fastgen-cpu", X, 500, 100)


def _vae(shape_name):
    def build(impl):
        from . import nn_steps
        step = nn_steps.vae_step("torch" if impl == "peer" else "fastgen-cpu", nn_steps.VAE_SHAPES[shape_name])
        return lambda: [step() for _ in range(20)]
    return build


def _a2_fit_many(impl):
    S, N, P = 2000, 500, 8
    X, lengths = common.ar_data(S, N, P)
    if impl == "peer":
        from statsmodels.tsa.ar_model import AutoReg
        Y = X.reshape(S, N)
        return lambda: [AutoReg(Y[s], P).fit() for s in range(S)]
    from fastgen.autoregressive import AR
    model = AR(P, trend="c")
    return lambda: model.fit_many(X, lengths)


# name -> (what one call does, builder, peer's name)
WORKLOADS = {
    "nile-hmm": ("GaussianHMM K=2 on the Nile (100 points), 5 fits of 50 EM iterations", _nile, "hmmlearn"),
    "faithful-gmm": ("GaussianMixture K=2 full on Old Faithful, 100 EM iterations", _faithful, "scikit-learn"),
    "digits-made": ("MADE 64 variables x 17 categories (the digits), 10 Adam steps of batch 100", _made_digits,
                    "PyTorch"),
    "H1-em": ("GaussianHMM K=8 D=4, 2000 x 200: one EM iteration", _h1_em, "hmmlearn (scaling)"),
    "G1-em": ("GaussianMixture N=200k D=8 K=16 full: 2 EM iterations", _g1_em, "scikit-learn"),
    "R1-epoch": ("BernoulliRBM 784x500, one PCD-1 epoch over 10k samples", _r1_epoch, "scikit-learn"),
    "V1-steps": ("VAE 784-512-(2x32), batch 128: 20 steps", _vae("V1"), "PyTorch"),
    "V2-steps": ("VAE 16-64-64-(2x8), batch 256: 20 steps", _vae("V2"), "PyTorch"),
    "A2-fit_many": ("2000 series x 500, AR(8) each", _a2_fit_many, "statsmodels"),
}


def require(name: str, impl: str) -> None:
    """NotImplementedError (asv: skip) when the workload's peer is not installed."""
    if impl != "peer":
        return
    module = {"hmmlearn": "hmmlearn", "scikit-learn": "sklearn", "PyTorch": "torch",
              "hmmlearn (scaling)": "hmmlearn", "statsmodels": "statsmodels"}[WORKLOADS[name][2]]
    try:
        __import__(module)
    except ImportError:
        raise NotImplementedError(f"{module} is not installed") from None


def build(name: str, impl: str):
    """One call of workload `name` for `impl` (warmed up once, warnings silenced)."""
    require(name, impl)
    fn = WORKLOADS[name][1](impl)
    if impl == "fastgen-1":
        import fastgen

        def one_thread(fn=fn):
            fastgen.set_num_threads(1)
            try:
                return fn()
            finally:
                fastgen.set_num_threads(None)
        call = one_thread
    else:
        call = fn

    def quiet():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    quiet()
    return quiet


def median_time(call, repeat: int = 5) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))
