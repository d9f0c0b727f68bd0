"""The exact log-partition function of a small RBM on CUDA (``log_partition``): one thread per block
of 2^q consecutive states walked in Gray-code order, then the blocks' (max, sum) pairs merged in
block order by two small launches (see the package docstring)."""
from __future__ import annotations

import math
import sys

import numpy as np
from numba import cuda

from ..common.args import host_values, launch
from ..common.kernels import transpose_kernel
from ..common.widen import f64 as _f64
from .model import Model, dummy, geometry
from .sigmoid import exp_d, softplus

_NEG_INF = -math.inf
MAX_ENUM_UNITS = 30  # log_partition enumerates at most 2^30 states (as the CPU)


@cuda.jit
def _logz_blocks_kernel(rows, lin, other, gaussian, ivd, m, q, scratch, pmx, psum):
    """Thread w handles Gray blocks w, w + n_threads, ... of 2^q consecutive states: the unit bits
    >= q come from the block number, the low q bits walk the Gray code from 0 (one row of `rows`
    added or subtracted per state). term(state) = lin.state + f(other + state rows); f summed over
    the other layer in order. Writes the block's (max, sum of exp(term - max))."""
    w = cuda.grid(1)
    n_threads = scratch.shape[1]
    if w >= n_threads:
        return
    n_blocks = pmx.shape[0]
    n = rows.shape[1]
    per_block = 1 << q
    for blk in range(w, n_blocks, n_threads):
        state = blk << q
        linsum = 0.0
        for i in range(n):
            scratch[i, w] = 0.0
        for u in range(q, m):
            if (blk >> (u - q)) & 1:
                linsum += _f64(lin[u])
                for i in range(n):
                    scratch[i, w] += _f64(rows[u, i])
        mx = _NEG_INF
        s = 0.0
        for gidx in range(per_block):
            if gidx > 0:
                u = 0
                while ((gidx >> u) & 1) == 0:  # Gray code: flip the lowest set bit's unit
                    u += 1
                sgn = -1.0 if (state >> u) & 1 else 1.0
                state ^= 1 << u
                linsum += sgn * _f64(lin[u])
                for i in range(n):
                    scratch[i, w] += sgn * float(rows[u, i])
            f = 0.0
            for i in range(n):
                c = scratch[i, w]
                if gaussian:
                    f += (float(other[i]) * c + 0.5 * c * c) * ivd[i]
                else:
                    f += softplus(float(other[i]) + c)
            x = linsum + f
            if x <= mx:
                s += exp_d(x - mx)
            else:
                s = s * exp_d(mx - x) + 1.0
                mx = x
        pmx[blk] = mx
        psum[blk] = s


@cuda.jit(device=True)
def _logsum_merge(mx, s, omx, osum):
    """(max, sum) of two log-sum accumulators (rbm.hpp LogSum::merge)."""
    if osum == 0.0:
        return mx, s
    if omx <= mx:
        return mx, s + osum * exp_d(omx - mx)
    return omx, s * exp_d(mx - omx) + osum


@cuda.jit
def _logz_merge_kernel(pmx, psum, group, gmx, gsum):
    """Thread g merges blocks [g * group, (g + 1) * group) in block order."""
    gi = cuda.grid(1)
    if gi >= gmx.shape[0]:
        return
    mx = _NEG_INF
    s = 0.0
    for b in range(gi * group, min(pmx.shape[0], (gi + 1) * group)):
        mx, s = _logsum_merge(mx, s, pmx[b], psum[b])
    gmx[gi] = mx
    gsum[gi] = s


_LOGZ_SCRATCH = 1 << 23  # doubles (64 MB) of running affine vectors for the enumeration


def log_partition(W, b_h, b_v, sigma, over_hidden):
    """Exact log Z (a Python float) by enumerating the 2^m states of one layer (m <= 30)."""
    mdl = Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    over_hidden = bool(over_hidden)
    if not over_hidden and mdl.gaussian:
        raise ValueError("over_hidden: Gaussian visibles can only be summed out analytically "
                         "(enumerate the hidden layer, over_hidden=True)")
    m = mdl.H if over_hidden else mdl.V
    if m > MAX_ENUM_UNITS:
        layer = "hidden" if over_hidden else "visible"
        raise ValueError(f"over_hidden: enumerating 2^{m} states of the {layer} layer is too many "
                         f"(at most {MAX_ENUM_UNITS} units)")
    Wd = mdl.W.device()
    const = 0.0
    if over_hidden:
        rows, lin, other, n = Wd, mdl.b_h.device(), mdl.b_v.device(), mdl.V
        if mdl.gaussian:
            s = host_values(mdl.sigma).astype(np.float64)
            for si in s:  # in order, as the CPU adds them
                const += 0.5 * math.log(2.0 * math.pi * (si * si))
            ivd = cuda.to_device(1.0 / (s * s))
        else:
            ivd = dummy(1, np.float64)
    else:
        n = mdl.H
        rows = cuda.device_array((mdl.V, mdl.H), dtype=mdl.dtype)
        transpose_kernel[launch(mdl.H * mdl.V)](Wd, rows)
        lin, other, ivd = mdl.b_v.device(), mdl.b_h.device(), dummy(1, np.float64)
    # Gray blocks of 2^q states; at most 2^20 blocks (their (max, sum) pairs: 16 MB), and at most
    # _LOGZ_SCRATCH doubles of running affine vectors (fewer threads for a very wide other layer).
    g = geometry()
    q = min(m, max(g.logz_bits, m - 20))
    n_blocks = 1 << (m - q)
    n_threads = max(1, min(n_blocks, g.logz_threads, _LOGZ_SCRATCH // n))
    scratch = cuda.device_array((n, n_threads), dtype=np.float64)
    pmx = cuda.device_array(n_blocks, dtype=np.float64)
    psum = cuda.device_array(n_blocks, dtype=np.float64)
    _logz_blocks_kernel[launch(n_threads)](rows, lin, other, mdl.gaussian, ivd, m, q, scratch, pmx, psum)
    group = sys.modules[__package__]._LOGZ_MERGE_GROUP  # tests lower it
    n_groups = -(-n_blocks // group)
    gmx = cuda.device_array(n_groups, dtype=np.float64)
    gsum = cuda.device_array(n_groups, dtype=np.float64)
    _logz_merge_kernel[launch(n_groups)](pmx, psum, group, gmx, gsum)
    out_mx = cuda.device_array(1, dtype=np.float64)
    out_sum = cuda.device_array(1, dtype=np.float64)
    _logz_merge_kernel[1, 1](gmx, gsum, n_groups, out_mx, out_sum)
    mx, s = float(out_mx.copy_to_host()[0]), float(out_sum.copy_to_host()[0])
    return const + (mx if s == 0.0 else mx + math.log(s))
