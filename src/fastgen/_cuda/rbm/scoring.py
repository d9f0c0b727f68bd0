"""The RBM's scores on CUDA: ``free_energy``, ``pseudo_likelihood`` (row partials in the hidden
product's epilogue, finished per row) and AIS (``ais``: per temperature one hidden and one visible
launch; see the package docstring)."""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..common.args import checked, DevArg, host_values, launch
from ..common.philox import stream_keys as _stream_keys
from .model import Model, grid, hidden, inv_var, visible
from .products import H_AIS, H_FREE, H_PSEUDO
from .rows import ais_total_kernel


def free_energy(V, W, b_h, b_v, sigma):
    """F(v) -> T[N]: -b_v.v (Bernoulli) or sum (v - b_v)^2 / (2 s) (Gaussian), minus
    sum_j softplus(b_h + W (v / s)); sums in float64."""
    mdl = Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    X = mdl.rows(V, "V", mdl.V)
    N = X.shape[0]
    out = cuda.device_array(N, dtype=mdl.dtype)
    if N == 0:
        return out
    kern = mdl.kernels()
    n_tiles = grid(N, mdl.H)[1]
    part = cuda.device_array((N, n_tiles), dtype=np.float64)
    Xd = X.device()
    hidden(mdl, kern, Xd, None, None, mode=H_FREE, part=part, iv=inv_var(mdl))
    kern["free_energy_rows"][launch(N)](Xd, mdl.b_v.device(), mdl.gaussian, mdl.sigma_dev(), part, n_tiles, out)
    return out


def pseudo_likelihood(V, W, b_h, b_v, flip):
    """scikit-learn's score_samples with unit flip[n] of row n flipped -> T[N] (Bernoulli)."""
    mdl = Model(W, b_h=b_h, b_v=b_v, need_sigma=False)
    X = mdl.rows(V, "V", mdl.V)
    N = X.shape[0]
    fl = checked(flip, "flip", np.int64, N)
    f = host_values(fl)
    bad = np.flatnonzero((f < 0) | (f >= mdl.V))
    if bad.size:
        n = int(bad[0])
        raise ValueError(f"flip: index {int(f[n])} at row {n} outside [0, {mdl.V})")
    out = cuda.device_array(N, dtype=mdl.dtype)
    if N == 0:
        return out
    kern = mdl.kernels()
    n_tiles = grid(N, mdl.H)[1]
    part = cuda.device_array((N, n_tiles), dtype=np.float64)
    Xd, fd = X.device(), fl.device()
    hidden(mdl, kern, Xd, None, None, mode=H_PSEUDO, flip=fd, part=part)
    kern["pseudo_rows"][launch(N)](Xd, mdl.b_v.device(), fd, part, n_tiles, out)
    return out


def ais(W, b_h, b_v, sigma, base_b_v, betas, n_chains, seed, stream):
    """Annealed importance sampling log-weights float64[n_chains] (Salakhutdinov & Murray 2008):
    base draw stream + 0; at temperature k < K the hidden draw stream + 2k - 1 and the visible
    draw stream + 2k."""
    mdl = Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    A = mdl.vector(base_b_v, "base_b_v", mdl.V)
    if not np.isfinite(host_values(A)).all():
        raise ValueError("base_b_v: must be finite")
    Bt = DevArg(betas, "betas", 1)
    Bt.expect_dtype(np.float64)
    bt = host_values(Bt)
    K = bt.shape[0] - 1
    if K < 1:
        raise ValueError(f"betas: need at least 2 values (0 and 1), got shape {Bt.shape}")
    if bt[0] != 0.0 or bt[K] != 1.0:
        raise ValueError(f"betas: must start at 0 and end at 1, got {bt[0]} ... {bt[K]}")
    dec = np.flatnonzero(~(bt[1:] >= bt[:-1]))
    if dec.size:
        k = int(dec[0]) + 1
        raise ValueError(f"betas: must be non-decreasing, got betas[{k}] = {bt[k]} after {bt[k - 1]}")
    if isinstance(n_chains, (bool, np.bool_)) or not isinstance(n_chains, (int, np.integer)):
        raise TypeError(f"n_chains: expected an integer, got {type(n_chains).__name__}")
    C = int(n_chains)
    if C < 1:
        raise ValueError(f"n_chains: must be >= 1, got {C}")
    _stream_keys(seed, stream)
    kern = mdl.kernels()
    dt = mdl.dtype
    a = A.device()
    v = cuda.device_array((C, mdl.V), dtype=dt)
    S = cuda.device_array((C, mdl.H), dtype=dt)
    lin_part = cuda.device_array((C, grid(C, mdl.V)[1]), dtype=np.float64)
    inc_part = cuda.device_array((C, grid(C, mdl.H)[1]), dtype=np.float64)
    iv = inv_var(mdl)
    # v ~ A; the visible linear term of log p*_beta enters increment 1 with weight beta_1 - beta_0.
    kern["ais_base"][grid(C, mdl.V), kern["threads"]](
        C, mdl.V, 0, 0, 0,
        (a, mdl.gaussian, mdl.sigma_dev(), mdl.b_v.device(), *_stream_keys(seed, stream), float(bt[1] - bt[0]), v,
         lin_part))
    for k in range(1, K + 1):
        b1, b0 = float(bt[k]), float(bt[k - 1])
        last = k == K
        hidden(mdl, kern, v, None, None if last else S, _stream_keys(seed, stream, 2 * k - 1), mode=H_AIS,
                beta=b1, b1=b1, b0=b0, part=inc_part, accumulate=k > 1, iv=iv)
        if last:
            break
        # The new v's linear term enters increment k + 1 with weight beta_{k+1} - beta_k.
        visible(mdl, kern, S, None, v, _stream_keys(seed, stream, 2 * k), ais=True, beta=b1, base_w=1.0 - b1,
                 a=a, lin_w=float(bt[k + 1]) - b1, part=lin_part)
    log_w = cuda.device_array(C, dtype=np.float64)
    ais_total_kernel[launch(C)](lin_part, inc_part, log_w)
    return log_w
