"""MADE sampling by incremental decoding on CUDA (Numba); contract in ``csrc/KERNELS.md``, "MADE"
(made_sample); CPU twin ``csrc/autoregressive/made_sample.hpp``.

- ``made_sample(theta, sizes, acts, slope, order, hidden_degrees, output, n_out, n_samples,
  temperature, top_k, top_p, seed, stream) -> T[n_samples, D]`` (device array)

The plan is the CPU's: every layer's targets sorted by degree (stable), so that at generation step
t the targets of degree t become final -- layer 1's by applying the activation to their accumulated
sums, deeper layers' (and the outputs) by a dot product with the final prefix of the layer below --
and after the draw, layer 1's targets of degree >= t + 1 take the new variable (one weight row: the
variable's, or the drawn category's). The weights are first gathered on the device into that order
(``_gather_kernel``): W_1 with its columns permuted, deeper W_l transposed into rows per target.

One block of ``NT`` threads (a warp) per sample (samples in a grid-stride loop), threads over units:
an update or activation is one strided loop, a deeper unit or an output one block reduction (float64,
fixed tree), a categorical or mixture-component draw the block device function
``decoding.draw_row``, a Bernoulli draw or a mixture value thread 0. The sample's layer states live
in a global scratch row (any width fits). Random numbers: sample n, step t uses uniform n D + t of
`stream` and normal n D + t of `stream + 1`, as on the CPU.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from . import decoding as _dec
from ..common.args import checked, DevArg, host_values, integer, launch
from ..common.mlp.dense import activations
from ..common.mlp.net import Net
from ..common.philox import key_words, normal_at, stream_uniform
from ..common.widen import f64 as _f64

__all__ = ["made_sample"]

# Threads per sample: one warp on a GPU. A step is a short chain (finalise a few units, one output
# reduction, a draw, one update) repeated D times, so its barriers set the pace: a one-warp block's
# are cheap, and samples fill the GPU as separate blocks. Under the simulator, 8 (still < widths).
NT = 8 if numba.config.ENABLE_CUDASIM else 32
BERNOULLI, CATEGORICAL, MIXTURE = range(3)
_LN_DBL_MAX = 709.782712893384
FAULT_TEXT = {
    1: "a logit of the network's output is NaN (or +inf)",
    2: "every logit of the network's output is -inf",
    3: "a mixture mean or log standard deviation is not finite",
    4: "the drawn value overflowed",
}


@cuda.jit
def _gather_kernel(src, base, ridx, rs, cidx, cs, out, out_base):
    """out[out_base + r C + c] = src[base + ridx[r] rs + cidx[c] cs] for r < R, c < C."""
    i = cuda.grid(1)
    R = ridx.shape[0]
    C = cidx.shape[0]
    if i < R * C:
        r = i // C
        c = i % C
        out[out_base + i] = src[base + ridx[r] * rs + cidx[c] * cs]


def _gather(out, out_base, src, base, ridx, rs, cidx, cs):
    """Fills out[out_base : out_base + len(ridx) len(cidx)] (flat device array) from src (see the kernel)."""
    n = len(ridx) * len(cidx)
    if n:
        _gather_kernel[launch(n)](src, np.int64(base), cuda.to_device(np.asarray(ridx, np.int64)), np.int64(rs),
                                  cuda.to_device(np.asarray(cidx, np.int64)), np.int64(cs), out, np.int64(out_base))


def plan(sizes, order, hidden_degrees, out_w):
    """(gen [D], perms [L] of sorted targets, first [L, D + 1]) as the CPU's make_plan."""
    D = order.size
    L = len(sizes) - 1
    gen = np.argsort(order, kind="stable").astype(np.int64)
    degs, o = [], 0
    for l in range(1, L):
        degs.append(hidden_degrees[o:o + sizes[l]])
        o += sizes[l]
    degs.append(np.repeat(order - 1, out_w))
    perms = [np.argsort(d, kind="stable").astype(np.int64) for d in degs]
    first = np.stack([np.searchsorted(np.sort(d), np.arange(D + 1), side="left") for d in degs]).astype(np.int64)
    return gen, perms, first


@functools.lru_cache(maxsize=None)
def _kernel(dtype_name: str):
    """The sampling kernel of one float dtype (compiled at its first launch)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    act, _ = activations(dtype_name)
    ZERO = F(0.0)

    @cuda.jit
    def sample(W1, WT, wt_off, BP, b_off, nl, zoff, first, gen, acts, slope, output, n_out, in_w, out_w,
               temperature, top_k, top_p, k0, k1, s0, s1, z0, z1, Z, X, status):
        red = cuda.shared.array(NT, numba.float64)
        scan = cuda.shared.array(NT, numba.float64)
        ia = cuda.shared.array(NT, numba.int64)
        ib = cuda.shared.array(NT, numba.int64)
        shx = cuda.shared.array(1, numba.float64)   # the drawn value
        shi = cuda.shared.array(2, numba.int64)     # fault, category
        tid = cuda.threadIdx.x
        N, D = X.shape
        L = nl.shape[0] - 1
        d1 = nl[1]
        U = D + 1
        for n in range(cuda.blockIdx.x, N, cuda.gridDim.x):
            row = Z[n]
            for j in range(tid, d1, NT):
                row[zoff[0] + j] = BP[b_off[0] + j]
            cuda.syncthreads()
            for t in range(D):
                v = gen[t]
                # targets of degree t become final
                for l in range(1, L + 1):
                    g0 = first[(l - 1) * U + t]
                    g1 = first[(l - 1) * U + t + 1]
                    if g0 == g1:
                        continue
                    code = acts[l - 1]
                    zl = zoff[l - 1]
                    if l == 1:
                        for j in range(g0 + tid, g1, NT):
                            row[zl + j] = act(row[zl + j], code, slope)
                    else:
                        k = first[(l - 2) * U + t + 1]
                        din = nl[l - 1]
                        zs = zoff[l - 2]
                        for j in range(g0, g1):
                            w0 = wt_off[l - 1] + j * din
                            acc = 0.0
                            for q in range(tid, k, NT):
                                acc += _f64(row[zs + q]) * _f64(WT[w0 + q])
                            acc = _dec.block_sum(acc, red)
                            if tid == 0:
                                row[zl + j] = act(F(acc + _f64(BP[b_off[l - 1] + j])), code, slope)
                    cuda.syncthreads()
                # draw variable v from its outputs
                y0 = zoff[L - 1] + t * out_w
                u = stream_uniform(k0, k1, s0, s1, np.uint64(n * D + t))
                cat = np.int64(-1)
                if output != BERNOULLI:
                    cat = _dec.draw_row(row[y0:y0 + n_out], n_out, temperature, top_k, top_p, False, u, red, scan,
                                        ia, ib)
                if tid == 0:
                    fault = 0
                    x = 0.0
                    if output == BERNOULLI:
                        a = _f64(row[y0]) / temperature
                        if a != a:
                            fault = 1
                        else:
                            p = 1.0 / (1.0 + math.exp(-a))
                            first_cat = 1.0 if a > 0.0 else 0.0
                            pf = p if a > 0.0 else 1.0 - p
                            if top_k == 1 or (top_p < 1.0 and pf >= top_p):
                                x = first_cat
                            else:
                                x = 1.0 if u < p else 0.0
                    elif cat == _dec.BAD_LOGIT:
                        fault = 1
                    elif cat == _dec.ALL_MASKED:
                        fault = 2
                    elif output == CATEGORICAL:
                        x = float(cat)
                    else:
                        mean = _f64(row[y0 + n_out + cat])
                        ls = _f64(row[y0 + 2 * n_out + cat])
                        if not (math.isfinite(mean) and math.isfinite(ls)):
                            fault = 3
                        elif ls > _LN_DBL_MAX:  # exp overflows (the simulator's math.exp would raise)
                            fault = 4
                        else:
                            x = mean + math.sqrt(temperature) * math.exp(ls) * normal_at(k0, k1, z0, z1, n * D + t)
                            if not (math.isfinite(x) and math.isfinite(_f64(F(x)))):
                                fault = 4
                    shx[0] = _f64(F(x))
                    shi[0] = fault
                    shi[1] = cat
                    if fault != 0:
                        status[n, 0] = fault
                        status[n, 1] = v
                        status[n, 2] = t
                    else:
                        X[n, v] = F(x)
                cuda.syncthreads()
                xv = F(shx[0])  # T: the update below runs in T, as on the CPU
                fault = shi[0]
                cat = shi[1]
                cuda.syncthreads()
                if fault != 0:
                    break
                # layer 1's targets of degree >= t + 1 take the new variable
                j0 = first[t + 1]
                if output == CATEGORICAL:
                    r = (v * in_w + cat) * d1
                    for j in range(j0 + tid, d1, NT):
                        row[zoff[0] + j] += W1[r + j]
                elif xv != ZERO:
                    r = v * d1
                    for j in range(j0 + tid, d1, NT):
                        row[zoff[0] + j] += xv * W1[r + j]
                cuda.syncthreads()

    return sample


def check_made_args(output, n_out, n_samples, order, hidden_degrees, sizes, in_w_fn, out_w_fn):
    """The binding's checks of the MADE layout (same messages)."""
    output = integer(output, "output")
    if output not in (BERNOULLI, CATEGORICAL, MIXTURE):
        raise ValueError(f"output: expected 0 (Bernoulli), 1 (categorical) or 2 (Gaussian mixture), got {output}")
    n_out = integer(n_out, "n_out")
    if n_out < 1:
        raise ValueError(f"n_out: must be >= 1, got {n_out}")
    if output == BERNOULLI and n_out != 1:
        raise ValueError(f"n_out: Bernoulli outputs take n_out = 1, got {n_out}")
    n_samples = integer(n_samples, "n_samples")
    if n_samples < 0:
        raise ValueError(f"n_samples: must be >= 0, got {n_samples}")
    o = DevArg(order, "order", 1)
    o.expect_dtype(np.int64)
    order = host_values(o)
    D = order.size
    if D < 1:
        raise ValueError(f"order: need at least one variable, got shape ({D},)")
    seen = np.zeros(D, dtype=bool)
    for d, val in enumerate(order):
        if val < 1 or val > D or seen[val - 1]:
            raise ValueError(f"order: expected a permutation of 1..{D}, got {val} at index {d}")
        seen[val - 1] = True
    in_w, out_w = in_w_fn(output, n_out), out_w_fn(output, n_out)
    if sizes[0] != D * in_w:
        raise ValueError(f"sizes: the input width must be D * {in_w} = {D * in_w} for this output type and order, "
                         f"got {sizes[0]}")
    if sizes[-1] != D * out_w:
        raise ValueError(f"sizes: the output width must be D * {out_w} = {D * out_w} for this output type and order, "
                         f"got {sizes[-1]}")
    n_hidden = int(sum(sizes[1:-1]))
    h = checked(hidden_degrees, "hidden_degrees", np.int64, n_hidden)
    hd = host_values(h)
    bad = np.flatnonzero((hd < 0) | (hd > D - 1))
    if bad.size:
        j = int(bad[0])
        raise ValueError(f"hidden_degrees: every degree must lie in [0, {D - 1}], got {hd[j]} at index {j}")
    return output, n_out, n_samples, order.astype(np.int64), hd.astype(np.int64), in_w, out_w


def _in_width(output, n_out):
    return n_out if output == CATEGORICAL else 1


def _out_width(output, n_out):
    return 1 if output == BERNOULLI else (n_out if output == CATEGORICAL else 3 * n_out)


def made_sample(theta, sizes, acts, slope, order, hidden_degrees, output, n_out, n_samples, temperature, top_k,
                top_p, seed, stream):
    """T[n_samples, D] (device array) of MADE samples (categorical: category indices as T values)."""
    net = Net(theta, sizes, acts, slope)
    t, k, p = _dec.check_filter(temperature, top_k, top_p)
    output, n_out, N, order, hd, in_w, out_w = check_made_args(output, n_out, n_samples, order, hidden_degrees,
                                                               net.sizes, _in_width, _out_width)
    th_host = host_values(net.theta_arg)
    bad = np.flatnonzero(~np.isfinite(th_host))
    if bad.size:
        raise ValueError(f"theta: contains NaN or infinity (first at index {int(bad[0])})")
    D, L, dt = order.size, net.L, net.dtype
    X = cuda.device_array((N, D), dtype=dt)
    if N == 0:
        return X
    gen, perms, first = plan(net.sizes, order, hd, out_w)
    sz = net.sizes
    th = net.theta
    # W_1 [d_0, d_1] with permuted columns; deeper W_l^T [d_l, d_{l-1}] permuted both ways; biases permuted
    W1 = cuda.device_array(sz[0] * sz[1], dtype=dt)
    _gather(W1, 0, th, net.offsets[0], np.arange(sz[0]), sz[1], perms[0], 1)
    wt_off = [0, 0]
    for l in range(2, L + 1):
        wt_off.append(wt_off[-1] + sz[l] * sz[l - 1])
    WT = cuda.device_array(max(1, wt_off[-1]), dtype=dt)
    for l in range(2, L + 1):
        _gather(WT, wt_off[l - 1], th, net.offsets[l - 1], perms[l - 1], 1, perms[l - 2], sz[l])
    b_off = [0]
    for l in range(1, L + 1):
        b_off.append(b_off[-1] + sz[l])
    BP = cuda.device_array(b_off[-1], dtype=dt)
    for l in range(1, L + 1):
        _gather(BP, b_off[l - 1], th, net.offsets[l - 1] + sz[l - 1] * sz[l], [0], 0, perms[l - 1], 1)
    zoff = np.concatenate([[0], np.cumsum(sz[1:])]).astype(np.int64)
    Z = cuda.device_array((N, int(zoff[-1])), dtype=dt)
    status = cuda.to_device(np.zeros((N, 3), dtype=np.int64))
    k0, k1, s0, s1 = key_words(seed, stream)
    _, _, z0, z1 = key_words(seed, (int(stream) + 1) % 2**64)
    _kernel(dt.name)[min(N, 65535), NT](
        W1, WT, cuda.to_device(np.array(wt_off, np.int64)), BP, cuda.to_device(np.array(b_off, np.int64)),
        cuda.to_device(np.array(sz, np.int64)), cuda.to_device(zoff), cuda.to_device(first.reshape(-1)),
        cuda.to_device(gen), cuda.to_device(net.acts), net.slope_t, np.int64(output), np.int64(n_out),
        np.int64(in_w), np.int64(out_w), t, np.int64(k), p, k0, k1, s0, s1, z0, z1, Z, X, status)
    st = status.copy_to_host()
    failed = np.flatnonzero(st[:, 0])
    if failed.size:
        n = int(failed[0])
        raise ValueError(f"made_sample: sample {n}, variable {st[n, 1]} (generation step {st[n, 2]}): "
                         f"{FAULT_TEXT[int(st[n, 0])]}")
    return X
