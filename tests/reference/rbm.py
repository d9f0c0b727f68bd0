"""Plain NumPy oracles of the RBM kernels (csrc/KERNELS.md, "Restricted Boltzmann machines").

Written for clarity, not speed: float64 throughout, the formulas of the contract one for one.
Random draws use the contract's Philox indices through a vectorised NumPy Philox (checked
against the pure-Python oracle in reference/rng.py by the tests), so a draw agrees with the
kernels bit for bit whenever the probability is not within rounding of its uniform.

Model: W [H, V], b_h [H], b_v [V], sigma = None (Bernoulli visibles) or [V] (Gaussian visibles).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.special import expit, logsumexp

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)


def philox_blocks(seed, stream, blocks):
    """Words (x0, x1, x2, x3) of Philox4x32-10 blocks `blocks` (uint64 array) of a stream."""
    seed, stream = int(seed), int(stream)
    b = np.asarray(blocks, dtype=np.uint64)
    c0, c1 = b & _MASK, b >> np.uint64(32)
    c2 = np.full_like(b, stream & 0xFFFFFFFF)
    c3 = np.full_like(b, stream >> 32)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


def _unit(a, b):
    return ((a >> np.uint64(5)).astype(np.float64) * 67108864.0 + (b >> np.uint64(6)).astype(np.float64) + 0.5) \
        * (1.0 / 9007199254740992.0)


def uniforms(seed, stream, idx):
    """u[idx] of a stream (idx: int array of any shape)."""
    idx = np.asarray(idx, dtype=np.uint64)
    x0, x1, x2, x3 = philox_blocks(seed, stream, idx >> np.uint64(1))
    odd = (idx & np.uint64(1)).astype(bool)
    return np.where(odd, _unit(x2, x3), _unit(x0, x1))


def normals(seed, stream, idx):
    """z[idx] of a stream (Box-Muller on the pair of the element's block)."""
    idx = np.asarray(idx, dtype=np.uint64)
    x0, x1, x2, x3 = philox_blocks(seed, stream, idx >> np.uint64(1))
    u0, u1 = _unit(x0, x1), _unit(x2, x3)
    r = np.sqrt(-2.0 * np.log(u0))
    odd = (idx & np.uint64(1)).astype(bool)
    return np.where(odd, r * np.sin(2 * math.pi * u1), r * np.cos(2 * math.pi * u1))


def _grid(n_rows, n_units):
    return np.arange(n_rows)[:, None] * n_units + np.arange(n_units)[None, :]


def _s(sigma, V):
    return np.ones(V) if sigma is None else np.asarray(sigma, float) ** 2


def softplus(a):
    return np.logaddexp(0.0, a)


def hidden_affine(X, W, b_h, sigma=None):
    """b_h + W (v / s) per row."""
    return b_h + (X / _s(sigma, W.shape[1])) @ W.T


def hidden_probs(X, W, b_h, sigma=None):
    return expit(hidden_affine(X, W, b_h, sigma))


def hidden_affine_scale(X, W, b_h, sigma=None):
    """The sum of the absolute values of hidden_affine's terms (its rounding error scales with this)."""
    return np.abs(b_h) + (np.abs(X) / _s(sigma, W.shape[1])) @ np.abs(W).T


def visible_affine_scale(Hs, W, b_v):
    """The sum of the absolute values of the terms of b_v + Hs W."""
    return np.abs(b_v) + np.abs(Hs) @ np.abs(W)


def visible_means(Hs, W, b_v, sigma=None):
    c = b_v + Hs @ W
    return c if sigma is not None else expit(c)


def draw_bernoulli(P, seed, stream):
    u = uniforms(seed, stream, _grid(*P.shape))
    return (u < P).astype(np.float64), u


def sample_hiddens(X, W, b_h, sigma, seed, stream):
    P = hidden_probs(X, W, b_h, sigma)
    S, u = draw_bernoulli(P, seed, stream)
    return P, S, u


def sample_visibles(Hs, W, b_v, sigma, seed, stream):
    """Draws and, for Bernoulli visibles, the uniforms and probabilities (to locate near-ties)."""
    M = visible_means(Hs, W, b_v, sigma)
    if sigma is None:
        S, u = draw_bernoulli(M, seed, stream)
        return S, u, M
    z = normals(seed, stream, _grid(*M.shape))
    return M + np.asarray(sigma, float) * z, None, M


def gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream):
    v = np.array(V0, dtype=np.float64)
    for t in range(n_steps):
        _, h, _ = sample_hiddens(v, W, b_h, sigma, seed, stream + 2 * t)
        v = sample_visibles(h, W, b_v, sigma, seed, stream + 2 * t + 1)[0]
    return v, h


def gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream):
    h = np.array(H0, dtype=np.float64)
    for t in range(n_steps):
        v = sample_visibles(h, W, b_v, sigma, seed, stream + 2 * t)[0]
        p, h, _ = sample_hiddens(v, W, b_h, sigma, seed, stream + 2 * t + 1)
    return v, p, h


def cd_update(W, b_h, b_v, log_var, sigma, vel, V_pos, H_pos, V_neg, H_neg, lr, momentum, weight_decay):
    """New (W, b_h, b_v, log_var, sigma) and velocities (dict) after one CD/PCD step."""
    V = W.shape[1]
    s = _s(sigma, V)
    G = H_pos.T @ V_pos / len(V_pos) - H_neg.T @ V_neg / len(V_neg)
    grads = {
        "W": G / s - weight_decay * W,
        "b_h": H_pos.mean(0) - H_neg.mean(0),
        "b_v": (V_pos.mean(0) - V_neg.mean(0)) / s,
    }
    if log_var is not None:
        q = 0.5 * (((V_pos - b_v) ** 2).mean(0) - ((V_neg - b_v) ** 2).mean(0))
        grads["log_var"] = np.exp(-log_var) * (q - (W * G).sum(0))
    params = {"W": W, "b_h": b_h, "b_v": b_v, "log_var": log_var}
    new, new_vel = {}, {}
    for k, g in grads.items():
        new_vel[k] = momentum * vel[k] + lr * g
        new[k] = params[k] + new_vel[k]
    if log_var is not None:
        new["sigma"] = np.exp(0.5 * new["log_var"])
    return new, new_vel


def free_energy(X, W, b_h, b_v, sigma=None):
    a = hidden_affine(X, W, b_h, sigma)
    if sigma is None:
        vis = -X @ b_v
    else:
        vis = (0.5 * (X - b_v) ** 2 / _s(sigma, W.shape[1])).sum(1)
    return vis - softplus(a).sum(1)


def pseudo_likelihood(X, W, b_h, b_v, flip):
    """scikit-learn's score_samples with the flipped unit of row n given as flip[n]."""
    Xf = np.array(X, dtype=np.float64)
    rows = np.arange(len(X))
    Xf[rows, flip] = 1.0 - Xf[rows, flip]
    fe, fe_ = free_energy(X, W, b_h, b_v), free_energy(Xf, W, b_h, b_v)
    return -X.shape[1] * softplus(-(fe_ - fe))


def all_states(m):
    return np.array(list(itertools.product([0.0, 1.0], repeat=m)))


def log_partition(W, b_h, b_v, sigma=None, over_hidden=True):
    """Exact log Z by enumerating every state of one layer."""
    H, V = W.shape
    if over_hidden:
        h = all_states(H)
        m = h @ W
        if sigma is None:
            return float(logsumexp(h @ b_h + softplus(b_v + m).sum(1)))
        s = _s(sigma, V)
        const = 0.5 * np.log(2 * np.pi * s).sum()
        return float(const + logsumexp(h @ b_h + ((b_v * m + 0.5 * m * m) / s).sum(1)))
    v = all_states(V)
    return float(logsumexp(v @ b_v + softplus(b_h + v @ W.T).sum(1)))


def log_unnormalised_marginal(X, W, b_h, b_v, sigma=None):
    """log p*(v) = -F(v) (up to the same constant as log_partition: Z = sum/integral of exp(-F))."""
    return -free_energy(X, W, b_h, b_v, sigma)


def ais(W, b_h, b_v, sigma, a, betas, n_chains, seed, stream):
    """AIS log-weights per chain, the contract's loop one for one."""
    H, V = W.shape
    gaussian = sigma is not None
    s = _s(sigma, V)
    grid = _grid(n_chains, V)
    if gaussian:
        v = a + np.asarray(sigma, float) * normals(seed, stream, grid)
    else:
        v = (uniforms(seed, stream, grid) < expit(a)).astype(float)

    def lin(v):
        if gaussian:
            return -0.5 * (((v - b_v) ** 2 - (v - a) ** 2) / s).sum(1)
        return v @ (b_v - a)

    log_w = np.zeros(n_chains)
    K = len(betas) - 1
    for k in range(1, K + 1):
        b1, b0 = betas[k], betas[k - 1]
        x = b_h + (v / s) @ W.T
        log_w += (b1 - b0) * lin(v) + (softplus(b1 * x) - softplus(b0 * x)).sum(1)
        if k == K:
            break
        h = (uniforms(seed, stream + 2 * k - 1, _grid(n_chains, H)) < expit(b1 * x)).astype(float)
        mean = (1 - b1) * a + b1 * (b_v + h @ W)
        if gaussian:
            v = mean + np.asarray(sigma, float) * normals(seed, stream + 2 * k, grid)
        else:
            v = (uniforms(seed, stream + 2 * k, grid) < expit(mean)).astype(float)
    return log_w


def ais_log_z(log_w, a, H, sigma=None):
    """log Z estimate and its standard error from AIS log-weights (contract's estimator)."""
    n = len(log_w)
    if sigma is None:
        log_z0 = H * np.log(2.0) + softplus(a).sum()
    else:
        log_z0 = H * np.log(2.0) + 0.5 * np.log(2 * np.pi * np.asarray(sigma, float) ** 2).sum()
    w = np.exp(log_w - log_w.max())
    est = log_z0 + logsumexp(log_w) - np.log(n)
    return est, w.std() / (np.sqrt(n) * w.mean())
