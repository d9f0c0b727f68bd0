"""Naive NumPy oracle of the MADE sampler (csrc/KERNELS.md, "MADE", made_sample).

Written for clarity, not speed: the masked network theta * flat_mask (src/fastgen/_made_masks.py)
is run forward in full D times, once per generated variable, in float64, and variable v_t (order
t + 1) is drawn from its outputs with the contract's uniforms and normals:

- sample n, step t uses uniform u[n D + t] of `stream` and (Gaussian mixture) normal z[n D + t] of
  `stream + 1`;
- Bernoulli: categories 0 (logit 0) and 1 (logit a / T); x = 1 iff u < sigmoid(a / T), unless top-k
  = 1 or top-p keeps only the likelier category (a > 0: category 1, else 0), which is then taken;
- categorical: the decoding rules (reference/decoding.py) on the V logits, T applied there;
- Gaussian mixture with K components: component k by the decoding rules on the K weight logits,
  x = mean_k + sqrt(T) exp(log_std_k) z.

Because of the masks, one forward pass over finished samples gives every variable's conditional
given the variables before it: ``teacher_forced`` uses that to re-derive each decision of a kernel's
samples from the kernel's own prefix, with a margin (how far u, or top_p, was from flipping it).
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from fastgen.autoregressive._made_masks import OUTPUTS, flat_mask, output_width

from . import decoding as ref_dec
from . import nn as ref_nn
from .rbm import normals, uniforms

OUTPUT_NAMES = {code: name for name, code in OUTPUTS.items()}


def split_degrees(sizes, hidden_degrees):
    """The concatenated hidden degrees as one array per hidden layer."""
    bounds = np.cumsum([int(h) for h in sizes[1:-1]])[:-1]
    return np.split(np.asarray(hidden_degrees, dtype=np.int64), bounds) if len(sizes) > 2 else []


def masked_theta(theta, sizes, order, hidden_degrees, output, n_out):
    mask = flat_mask(sizes, order, split_degrees(sizes, hidden_degrees), OUTPUT_NAMES[output], n_out)
    return np.asarray(theta, dtype=np.float64) * mask


def encode(X, output, n_out):
    """Network input of samples X [N, D]: one-hot [N, D V] for categorical, else X itself."""
    X = np.asarray(X, dtype=np.float64)
    if output != 1:
        return X
    N, D = X.shape
    H = np.zeros((N, D, n_out))
    H[np.arange(N)[:, None], np.arange(D)[None, :], X.astype(np.int64)] = 1.0
    return H.reshape(N, D * n_out)


def draw(y, u, z, output, n_out, temperature, top_k, top_p):
    """(value, margin) of one variable from its outputs y [out_w]."""
    if output == 0:
        a = float(y[0]) / temperature
        p = expit(a)
        first = 1 if a > 0 else 0
        pf = p if first else 1.0 - p
        margin = abs(pf - top_p) if top_p < 1.0 else np.inf
        if top_k == 1 or (top_p < 1.0 and pf >= top_p):
            return float(first), min(margin, abs(p - 0.5))
        return float(u < p), min(margin, abs(u - p))
    K = n_out
    k, margin = ref_dec.draw_row(y[:K], u, temperature, top_k, top_p)
    if output == 1:
        return float(k), margin
    return float(y[K + k] + np.sqrt(temperature) * np.exp(y[2 * K + k]) * z), margin


def draws(seed, stream, n_samples, D):
    """(u, z) [n_samples, D]: element (n, t) is index n D + t of `stream` / `stream + 1`."""
    idx = np.arange(n_samples * D)
    u = uniforms(seed, stream, idx).reshape(n_samples, D)
    z = normals(seed, (int(stream) + 1) % 2**64, idx).reshape(n_samples, D)
    return u, z


def naive_sample(theta, sizes, acts, slope, order, hidden_degrees, output, n_out, n_samples, temperature=1.0,
                 top_k=0, top_p=1.0, seed=0, stream=0):
    """(X [n_samples, D], margins [n_samples, D]) by D full forward passes of the masked network."""
    order = np.asarray(order, dtype=np.int64)
    D = order.size
    th = masked_theta(theta, sizes, order, hidden_degrees, output, n_out)
    w = output_width(OUTPUT_NAMES[output], n_out)
    u, z = draws(seed, stream, n_samples, D)
    X = np.zeros((n_samples, D))
    margins = np.full((n_samples, D), np.inf)
    for t, v in enumerate(np.argsort(order)):
        Y = ref_nn.mlp_predict(th, sizes, acts, slope, encode(X, output, n_out))
        for n in range(n_samples):
            X[n, v], margins[n, v] = draw(Y[n, v * w:(v + 1) * w], u[n, t], z[n, t], output, n_out,
                                          temperature, top_k, top_p)
    return X, margins


def teacher_forced(X, theta, sizes, acts, slope, order, hidden_degrees, output, n_out, temperature=1.0, top_k=0,
                   top_p=1.0, seed=0, stream=0):
    """(values [N, D], margins [N, D]): each variable of the samples X redrawn by the oracle from its
    conditional given X's own earlier variables (one masked forward pass)."""
    order = np.asarray(order, dtype=np.int64)
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    th = masked_theta(theta, sizes, order, hidden_degrees, output, n_out)
    w = output_width(OUTPUT_NAMES[output], n_out)
    u, z = draws(seed, stream, N, D)
    Y = ref_nn.mlp_predict(th, sizes, acts, slope, encode(X, output, n_out))
    values = np.zeros((N, D))
    margins = np.full((N, D), np.inf)
    for t, v in enumerate(np.argsort(order)):
        for n in range(N):
            values[n, v], margins[n, v] = draw(Y[n, v * w:(v + 1) * w], u[n, t], z[n, t], output, n_out,
                                               temperature, top_k, top_p)
    return values, margins


def bernoulli_joint(theta, sizes, acts, slope, order, hidden_degrees):
    """(configurations [2^D, D], exact probabilities [2^D]) of a Bernoulli MADE at temperature 1."""
    order = np.asarray(order, dtype=np.int64)
    D = order.size
    th = masked_theta(theta, sizes, order, hidden_degrees, 0, 1)
    configs = ((np.arange(2**D)[:, None] >> np.arange(D)[None, :]) & 1).astype(np.float64)
    p1 = expit(ref_nn.mlp_predict(th, sizes, acts, slope, configs))
    prob = np.prod(np.where(configs == 1, p1, 1.0 - p1), axis=1)
    return configs, prob
