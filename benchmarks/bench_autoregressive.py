"""The autoregressive family's suites: linear AR/VAR, MADE training steps, MADE sampling and
categorical decoding, each timing fastgen and its peer on identical data in the same run.

Linear AR suites: fastgen (CPU, CUDA) against statsmodels and scipy.signal.lfilter on identical data.

A1  AR(16) with a constant on one series of 1,000,000 points:
    fit (OLS)                 fastgen AR.fit  vs  statsmodels AutoReg(y, 16).fit()
    forecast 1000 steps + SEs fastgen AR.forecast  vs  AutoRegResults.get_prediction (mean, se_mean)
    simulate 1,000,000 steps  fastgen AR.simulate (Philox normals + recursion)  vs
                              statsmodels ArmaProcess.generate_sample (NumPy normals + lfilter)  vs
                              scipy-lfilter: lfilter on fastgen's own normals, with the history as
                              initial state (the recursion alone, normals drawn outside the timing)
A2  2000 series x 500 points, AR(8) each: fastgen AR.fit_many (one kernel call)  vs  a Python loop
    of statsmodels AutoReg fits (the issue's target: 100x)

Every suite's first parameter is the implementation (common.AR_IMPLEMENTATIONS); scipy-lfilter only
runs the simulation. Data come from common.ar_data; these classes only time.

MADE suites: one training step, fastgen (CPU, CUDA) against PyTorch CPU (2 threads), from identical
weights, masks and data (models and steps: made_steps.py).

MT1  Bernoulli MADE 784-500-784, batch 100                     (binarised-MNIST size; GEMM-bound)
MT2  categorical MADE, 64 variables x 17 categories (one-hot 1088-500-1088), batch 100
     (the 8x8 digits' 0..16 values; fastgen's first layer runs from the indices)

MADE sampling and categorical decoding: fastgen (CPU, CUDA) against PyTorch CPU (2 threads) on
identical weights and logits.

M1  MADE 784 inputs x 500 hidden (one hidden layer, ReLU, Bernoulli outputs, natural order, random
    hidden degrees, weights N(0, 0.05^2) masked with fastgen.autoregressive._made_masks), float32: draw 100 samples.
      fastgen-cpu / fastgen-cuda  the incremental kernel (made_sample)
      torch-naive                 784 full forward passes of the masked net (one per variable)
      torch-incremental           per step: the output logit of the next variable from the hidden
                                  activations (a [100, 500] x [500] product), its Bernoulli draw,
                                  and a rank-1 update of the hidden pre-activations; vectorised
                                  over the 100 samples
    Targets (issue 6): fastgen-cpu >= 100x torch-naive and >= 3x torch-incremental.
D1  sample_logits on 256 rows x 50,000 logits (float32, N(0, 2^2)), top-p 0.9, against torch's
    softmax (float32) + descending sort + cumsum + nucleus mask + multinomial.

`python -m benchmarks.bench_autoregressive [--repeat 5]` prints the same workloads as a table (best of
`repeat` interleaved rounds, ratios against fastgen-cpu) with the floor of each: FLOPs of the incremental
algorithm's multiply-adds over the shared GEMM's measured peak, and bytes that must be read.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from . import common, made_steps

AR_IMPLEMENTATIONS = common.AR_IMPLEMENTATIONS
STEP_IMPLEMENTATIONS = made_steps.MADE_IMPLEMENTATIONS
SAMPLERS = ["fastgen-cpu", "fastgen-cuda", "torch-naive", "torch-incremental"]


# ==== Linear AR/VAR ==============================================================================

def _fastgen_ar(impl, order, **kw):
    from fastgen.autoregressive import AR
    return AR(order=order, device=impl.split("-", 1)[1], **kw)


class _A1:
    N, ORDER, STEPS = 1_000_000, 16, 1000
    param_names = ["implementation"]
    params = [AR_IMPLEMENTATIONS]
    timeout = 300.0
    warmup_time = 0.0
    lfilter = False

    def setup(self, impl):
        common.require_ar(impl, lfilter=self.lfilter)
        self.impl = impl
        X, _ = common.ar_data(1, self.N, self.ORDER)
        self.y = X
        if impl.startswith("fastgen"):
            self.model = _fastgen_ar(impl, self.ORDER).fit(self.y)
            self.model.forecast(10)
            self.model.simulate(10)
        else:
            from statsmodels.tsa.ar_model import AutoReg
            self.res = AutoReg(self.y, self.ORDER).fit()


class A1Fit(_A1):
    """AR(16) OLS fit of 1,000,000 points."""
    repeat = (2, 5, 60.0)

    def time_fit(self, impl):
        if impl.startswith("fastgen"):
            _fastgen_ar(impl, self.ORDER).fit(self.y)
        else:
            from statsmodels.tsa.ar_model import AutoReg
            AutoReg(self.y, self.ORDER).fit()


class A1Forecast(_A1):
    """1000-step forecast with standard errors."""

    def time_forecast(self, impl):
        if impl.startswith("fastgen"):
            self.model.forecast(self.STEPS)
        else:
            pred = self.res.get_prediction(start=self.N, end=self.N + self.STEPS - 1)
            pred.predicted_mean, pred.se_mean


class A1Simulate(_A1):
    """One simulated path of 1,000,000 steps continuing the fitted series."""
    lfilter = True
    repeat = (2, 5, 60.0)

    def setup(self, impl):
        common.require_ar(impl, lfilter=True)
        self.impl = impl
        self.y, _ = common.ar_data(1, self.N, self.ORDER)
        if impl.startswith("fastgen"):
            self.model = _fastgen_ar(impl, self.ORDER).fit(self.y)
            self.model.simulate(10)
            return
        from statsmodels.tsa.ar_model import AutoReg
        res = AutoReg(self.y, self.ORDER).fit()
        c, phi, sigma = res.params[0], res.params[1:], np.sqrt(res.sigma2)
        self.a = np.r_[1.0, -phi]
        if impl == "statsmodels":
            from statsmodels.tsa.arima_process import ArmaProcess
            self.process = ArmaProcess(self.a, [1.0])
            self.sigma, self.mean = sigma, c / self.a.sum()
        else:
            from scipy.signal import lfiltic
            from fastgen import _core
            # The same innovations as fastgen's path: its Philox normals, scaled, plus the constant.
            self.e = c + sigma * _core.rng.normal(12345, 0, self.N)
            self.zi = lfiltic([1.0], self.a, self.y[::-1][:self.ORDER])

    def time_simulate(self, impl):
        if impl.startswith("fastgen"):
            self.model.simulate(self.N, 1, random_state=0)
        elif impl == "statsmodels":
            self.mean + self.process.generate_sample(self.N, scale=self.sigma, burnin=0)
        else:
            from scipy.signal import lfilter
            lfilter([1.0], self.a, self.e, zi=self.zi)


class A2FitMany:
    """2000 series x 500 points, an AR(8) with a constant each."""
    S, N, ORDER = 2000, 500, 8
    param_names = ["implementation"]
    params = [AR_IMPLEMENTATIONS]
    timeout = 600.0
    warmup_time = 0.0
    repeat = (1, 3, 60.0)

    def setup(self, impl):
        common.require_ar(impl)
        self.X, self.lengths = common.ar_data(self.S, self.N, self.ORDER)
        if impl.startswith("fastgen"):
            self.model = _fastgen_ar(impl, self.ORDER)
            self.model.fit_many(self.X[:5000], self.lengths[:10])

    def time_fit_many(self, impl):
        if impl.startswith("fastgen"):
            self.model.fit_many(self.X, self.lengths)
        else:
            from statsmodels.tsa.ar_model import AutoReg
            Y = self.X.reshape(self.S, self.N)
            for s in range(self.S):
                AutoReg(Y[s], self.ORDER).fit()


# ==== MADE training steps ========================================================================

class _StepSuite:
    number = 20
    repeat = (3, 10, 30.0)
    warmup_time = 0.0
    param_names = ["implementation"]
    params = [STEP_IMPLEMENTATIONS]
    shape = None

    def setup(self, impl):
        made_steps.require_made(impl)
        self.step = made_steps.made_step(impl, self.shape)
        for _ in range(3):  # first calls load (on CUDA: compile) the kernels and fault in the buffers
            self.step()

    def time_step(self, impl):
        self.step()


class MT1BernoulliStep(_StepSuite):
    shape = made_steps.SHAPES["MT1"]


class MT2CategoricalStep(_StepSuite):
    shape = made_steps.SHAPES["MT2"]


# ==== MADE sampling and decoding =================================================================

DECODERS = ["fastgen-cpu", "fastgen-cuda", "torch"]
D, H, N_SAMPLES = 784, 500, 100
ROWS, VOCAB, TOP_P = 256, 50_000, 0.9
SEED = 20240607
TORCH_THREADS = int(os.environ.get("OMP_NUM_THREADS", "2"))  # torch's threads follow fastgen's (default 2)


def require(impl: str) -> None:
    """Raise NotImplementedError (asv: skip) when `impl` cannot run here."""
    if impl == "fastgen-cuda":
        if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1":
            raise NotImplementedError("fastgen-cuda: not timed under NUMBA_ENABLE_CUDASIM")
        from fastgen import _backend
        if not _backend.cuda_usable():
            raise NotImplementedError("fastgen-cuda: no usable CUDA GPU")
    elif impl.startswith("torch"):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed (pip install torch)") from None
        torch.set_num_threads(TORCH_THREADS)


@functools.lru_cache(maxsize=None)
def made_model():
    """dict(theta (masked, flat, float32), sizes, acts, order, hidden_degrees, W1, b1, W2, b2)."""
    from fastgen.autoregressive._made_masks import flat_mask, make_hidden_degrees, make_order
    rng = np.random.default_rng(SEED)
    order = make_order(D, "natural", rng)
    degrees = make_hidden_degrees(D, [H], rng)
    sizes = np.array([D, H, D], dtype=np.int64)
    P = D * H + H + H * D + D
    theta = (rng.normal(0.0, 0.05, P) * flat_mask(sizes, order, degrees, "bernoulli", 1)).astype(np.float32)
    W1 = theta[:D * H].reshape(D, H)
    b1 = theta[D * H:D * H + H]
    W2 = theta[D * H + H:D * H + H + H * D].reshape(H, D)
    b2 = theta[D * H + H + H * D:]
    return dict(theta=theta, sizes=sizes, acts=np.array([1, 0], dtype=np.int32), order=order,
                hidden_degrees=degrees[0], W1=W1, b1=b1, W2=W2, b2=b2)


def made_sampler(impl: str):
    """A no-argument callable drawing N_SAMPLES samples of the M1 model with `impl`."""
    m = made_model()
    args = (m["theta"], m["sizes"], m["acts"], 0.0, m["order"], m["hidden_degrees"], 0, 1, N_SAMPLES, 1.0, 0, 1.0)
    if impl == "fastgen-cpu":
        from fastgen import _core
        return lambda: _core.autoregressive.made_sample(*args, 1, 0)
    if impl == "fastgen-cuda":
        from numba import cuda
        from fastgen import _cuda
        dev = (cuda.to_device(m["theta"]),) + args[1:]
        return lambda: _cuda.autoregressive.made_sample(*dev, 1, 0).copy_to_host()
    import torch
    W1, b1, W2, b2 = (torch.from_numpy(np.ascontiguousarray(m[k])) for k in ("W1", "b1", "W2", "b2"))
    gen = torch.from_numpy(np.argsort(m["order"]))
    W2T = W2.T.contiguous()  # row v: the weights into output v
    if impl == "torch-naive":
        def run():
            g = torch.Generator().manual_seed(0)
            with torch.no_grad():
                x = torch.zeros(N_SAMPLES, D)
                for v in gen.tolist():
                    logits = torch.relu(x @ W1 + b1) @ W2 + b2
                    x[:, v] = torch.bernoulli(torch.sigmoid(logits[:, v]), generator=g)
            return x
        return run
    if impl == "torch-incremental":
        def run():
            g = torch.Generator().manual_seed(0)
            with torch.no_grad():
                x = torch.zeros(N_SAMPLES, D)
                z = b1.expand(N_SAMPLES, H).clone()
                for v in gen.tolist():
                    logit = torch.relu(z) @ W2T[v] + b2[v]
                    xv = torch.bernoulli(torch.sigmoid(logit), generator=g)
                    x[:, v] = xv
                    z.addr_(xv, W1[v])  # rank-1 update of the hidden pre-activations
            return x
        return run
    raise ValueError(f"unknown implementation {impl!r}; expected one of {SAMPLERS}")


@functools.lru_cache(maxsize=None)
def logits_data():
    return np.random.default_rng(SEED).normal(0.0, 2.0, (ROWS, VOCAB)).astype(np.float32)


def decoder(impl: str):
    """A no-argument callable drawing one token per row of the D1 logits (top-p 0.9)."""
    x = logits_data()
    if impl == "fastgen-cpu":
        from fastgen import _core
        return lambda: _core.autoregressive.sample_logits(x, 1.0, 0, TOP_P, False, 1, 0)
    if impl == "fastgen-cuda":
        from numba import cuda
        from fastgen import _cuda
        xd = cuda.to_device(x)
        return lambda: _cuda.autoregressive.sample_logits(xd, 1.0, 0, TOP_P, False, 1, 0).copy_to_host()
    import torch
    xt = torch.from_numpy(x)

    def run():
        g = torch.Generator().manual_seed(0)
        probs = torch.softmax(xt, dim=-1)  # float32, as decoders usually run it (fastgen: float64)
        sp, si = torch.sort(probs, dim=-1, descending=True)
        cum = torch.cumsum(sp, dim=-1)
        sp = sp.masked_fill(cum - sp >= TOP_P, 0.0)  # keep the shortest prefix reaching top_p
        pick = torch.multinomial(sp, 1, generator=g)
        return si.gather(-1, pick).squeeze(-1)
    return run


class M1MADESample:
    """100 samples of a 784-500-784 Bernoulli MADE."""
    timeout = 300.0
    warmup_time = 0.0
    number = 1
    repeat = (1, 5, 60.0)
    param_names = ["implementation"]
    params = [SAMPLERS]

    def setup(self, impl):
        require(impl)
        self.run = made_sampler(impl)
        if not impl == "torch-naive":  # first calls load the kernels (CUDA: compile)
            self.run()

    def time_sample_100(self, impl):
        self.run()


class D1SampleLogits:
    """256 rows x 50,000 logits, top-p 0.9."""
    timeout = 120.0
    warmup_time = 0.0
    number = 1
    repeat = (2, 10, 30.0)
    param_names = ["implementation"]
    params = [DECODERS]

    def setup(self, impl):
        require(impl)
        self.run = decoder(impl)
        self.run()

    def time_top_p(self, impl):
        self.run()


# ---- the table -----------------------------------------------------------------------------------

def m1_floor():
    """(multiply-adds of the incremental algorithm for N_SAMPLES samples, bytes of weights read)."""
    m = made_model()
    deg = np.sort(m["hidden_degrees"])
    # layer 1: unit k takes the variables of order <= its degree; output t: the units of degree <= t
    updates = int(deg.sum())
    outputs = int(np.searchsorted(deg, np.arange(D), side="right").sum())
    return N_SAMPLES * (updates + outputs), 4 * (updates + outputs)


def main():
    import argparse
    import platform
    import time
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="rounds; each times every implementation once")
    ap.add_argument("--naive-repeat", type=int, default=2, help="rounds that include torch-naive (seconds each)")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, torch threads {TORCH_THREADS}; "
          f"best of {args.repeat} interleaved rounds\n")
    for title, impls, build in [("M1 MADE 784x500, 100 samples", SAMPLERS, made_sampler),
                                ("D1 sample_logits 256 x 50,000, top-p 0.9", DECODERS, decoder)]:
        fns = {}
        for impl in impls:
            try:
                require(impl)
            except NotImplementedError as e:
                print(f"  ({impl}: {e})")
                continue
            fns[impl] = build(impl)
            if impl != "torch-naive":
                fns[impl]()  # warm-up: kernels loaded (CUDA: compiled), buffers faulted in
        times = {impl: np.inf for impl in fns}
        for r in range(args.repeat):  # interleaved: every implementation sees the same machine load
            for impl, fn in fns.items():
                if impl == "torch-naive" and r >= args.naive_repeat:
                    continue
                t0 = time.perf_counter()
                fn()
                times[impl] = min(times[impl], time.perf_counter() - t0)
        ref = times["fastgen-cpu"]
        print(f"{title}\n| implementation | best (ms) | / fastgen-cpu |\n|---|---:|---:|")
        for impl, t in times.items():
            print(f"| {impl} | {t * 1e3:.2f} | {t / ref:.1f} |")
        if title.startswith("M1"):
            macs, _ = m1_floor()
            peak = 225e9 * TORCH_THREADS  # the shared GEMM's float32 peak, 450 GFLOP/s on 2 threads
            # samples in 16-lane blocks: an update loads and stores a unit's vector, a product loads it
            lanes = 16 * -(-N_SAMPLES // (16 * TORCH_THREADS)) * TORCH_THREADS
            l1 = macs / N_SAMPLES * lanes / 16 * 64 * 1.5  # bytes: 2 vectors per update MAC, 1 per product MAC
            print(f"floor: {macs / 1e6:.1f} M multiply-adds ({2 * macs / 1e6:.0f} MFLOP) = {2 * macs / peak * 1e3:.2f} ms "
                  f"at the GEMM peak ({peak / 1e9:.0f} GFLOP/s); fastgen-cpu {2 * macs / ref / 1e9:.0f} GFLOP/s = "
                  f"{2 * macs / peak / ref:.0%} of it. L1 traffic of the lane layout ~{l1 / 1e6:.0f} MB = "
                  f"{l1 / (192e9 * TORCH_THREADS) * 1e3:.2f} ms at 64 B/cycle/core (3 GHz).")
        else:
            print(f"floor: read {ROWS * VOCAB * 4 / 1e6:.0f} MB of logits and take {ROWS * VOCAB / 1e6:.1f} M "
                  f"float64 exps: fastgen-cpu spends {ref / (ROWS * VOCAB) * 1e9:.2f} ns per logit.")
        print()


if __name__ == "__main__":
    main()
