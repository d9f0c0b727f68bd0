"""The RBM's conditionals and Gibbs chains on CUDA: ``hidden_probs``, ``visible_means``,
``sample_hiddens``, ``sample_visibles``, ``gibbs_vhv``, ``gibbs_hvh`` (one tiled-product launch per
half-step; see the package docstring)."""
from __future__ import annotations

from numba import cuda

from ..common.philox import stream_keys as _stream_keys
from .model import Model, hidden, inv_var, steps, visible


def hidden_probs(V, W, b_h, sigma):
    """p(h = 1 | v) -> T[N, H]."""
    mdl = Model(W, b_h=b_h, sigma=sigma)
    X = mdl.rows(V, "V", mdl.V)
    N = X.shape[0]
    P = cuda.device_array((N, mdl.H), dtype=mdl.dtype)
    hidden(mdl, mdl.kernels(), X.device(), P, None, iv=inv_var(mdl))
    return P


def visible_means(Hs, W, b_v, sigma):
    """E[v | h] -> T[N, V]: sigmoid(b_v + h W) (Bernoulli) or b_v + h W (Gaussian)."""
    mdl = Model(W, b_v=b_v, sigma=sigma)
    Hh = mdl.rows(Hs, "Hs", mdl.H)
    out = cuda.device_array((Hh.shape[0], mdl.V), dtype=mdl.dtype)
    visible(mdl, mdl.kernels(), Hh.device(), out, None)
    return out


def sample_hiddens(V, W, b_h, sigma, seed, stream):
    """(p(h | v) T[N, H], draws T[N, H]); element (n, j) uses u[n H + j] of `stream`."""
    mdl = Model(W, b_h=b_h, sigma=sigma)
    X = mdl.rows(V, "V", mdl.V)
    keys = _stream_keys(seed, stream)
    N = X.shape[0]
    P = cuda.device_array((N, mdl.H), dtype=mdl.dtype)
    S = cuda.device_array((N, mdl.H), dtype=mdl.dtype)
    hidden(mdl, mdl.kernels(), X.device(), P, S, keys, iv=inv_var(mdl))
    return P, S


def sample_visibles(Hs, W, b_v, sigma, seed, stream):
    """Visible draws T[N, V]; element (n, i) uses u[n V + i] (Bernoulli) or z[n V + i] (Gaussian)."""
    mdl = Model(W, b_v=b_v, sigma=sigma)
    Hh = mdl.rows(Hs, "Hs", mdl.H)
    keys = _stream_keys(seed, stream)
    out = cuda.device_array((Hh.shape[0], mdl.V), dtype=mdl.dtype)
    visible(mdl, mdl.kernels(), Hh.device(), None, out, keys)
    return out


def gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream):
    """n_steps sweeps v -> h -> v (step t: hidden draw stream + 2t, visible draw stream + 2t + 1)
    -> (V T[C, V], Hs T[C, H]), the last samples."""
    mdl = Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    X = mdl.rows(V0, "V0", mdl.V)
    n_steps = steps(n_steps)
    _stream_keys(seed, stream)
    C = X.shape[0]
    kern = mdl.kernels()
    Vout = cuda.device_array((C, mdl.V), dtype=mdl.dtype)
    S = cuda.device_array((C, mdl.H), dtype=mdl.dtype)
    if C == 0:
        return Vout, S
    iv = inv_var(mdl)
    vin = X.device()
    for t in range(n_steps):
        hidden(mdl, kern, vin, None, S, _stream_keys(seed, stream, 2 * t), iv=iv)
        visible(mdl, kern, S, None, Vout, _stream_keys(seed, stream, 2 * t + 1))
        vin = Vout
    return Vout, S


def gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream):
    """n_steps sweeps h -> v -> h (step t: visible draw stream + 2t, hidden draw stream + 2t + 1)
    -> (V T[C, V], P T[C, H], Hs T[C, H]): the last visible sample, p(h | V) and its draw."""
    mdl = Model(W, b_h=b_h, b_v=b_v, sigma=sigma)
    Hh = mdl.rows(H0, "H0", mdl.H)
    n_steps = steps(n_steps)
    _stream_keys(seed, stream)
    C = Hh.shape[0]
    kern = mdl.kernels()
    Vout = cuda.device_array((C, mdl.V), dtype=mdl.dtype)
    P = cuda.device_array((C, mdl.H), dtype=mdl.dtype)
    S = cuda.device_array((C, mdl.H), dtype=mdl.dtype)
    if C == 0:
        return Vout, P, S
    iv = inv_var(mdl)
    hin = Hh.device()
    for t in range(n_steps):
        visible(mdl, kern, hin, None, Vout, _stream_keys(seed, stream, 2 * t))
        hidden(mdl, kern, Vout, P, S, _stream_keys(seed, stream, 2 * t + 1), iv=iv)
        hin = S
    return Vout, P, S
