"""MADE sampling and categorical decoding: fastgen (CPU, CUDA) against PyTorch CPU (2 threads) on
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

`python benchmarks/bench_made.py [--repeat 5]` prints the same workloads as a table (best of
`repeat` interleaved rounds, ratios against fastgen-cpu) with the floor of each: FLOPs of the incremental
algorithm's multiply-adds over the shared GEMM's measured peak, and bytes that must be read.
"""
from __future__ import annotations

import functools
import os

import numpy as np

IMPLEMENTATIONS = ["fastgen-cpu", "fastgen-cuda", "torch-naive", "torch-incremental"]
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
    raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}")


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
    params = [IMPLEMENTATIONS]

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
    for title, impls, build in [("M1 MADE 784x500, 100 samples", IMPLEMENTATIONS, made_sampler),
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
