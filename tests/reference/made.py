"""Plain NumPy oracle of the MADE training and scoring kernels (csrc/KERNELS.md, "MADE").

Written for clarity, not speed: float64 throughout, the contract's formulas one for one, the same
names and argument order as the kernels; in-place kernels return updated copies instead. The
network is reference/nn.py's (dense layers, one-hot categorical inputs formed explicitly), the
masks src/fastgen/_made_masks.py's. Output codes: 0 Bernoulli, 1 categorical (n_out = V
categories), 2 Gaussian mixture (n_out = K components).
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp, softmax

from . import nn as ref_nn

BERNOULLI, CATEGORICAL, GAUSSIAN_MIXTURE = range(3)
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def one_hot(X, V):
    """[N, D V]: column d V + X[n, d] of row n is 1."""
    X = np.asarray(X).astype(np.int64)
    N, D = X.shape
    out = np.zeros((N, D * V))
    out[np.arange(N)[:, None], np.arange(D)[None, :] * V + X] = 1.0
    return out


def network_input(X, output, n_out):
    return one_hot(X, n_out) if output == CATEGORICAL else np.asarray(X, np.float64)


def categorical_nll(Z, X, scale):
    """(loss [N], dZ): loss_n = sum_d logsumexp(z_d) - z_d[x_d], dZ = scale (softmax(z_d) - onehot(x_d))."""
    Z = np.asarray(Z, np.float64)
    X = np.asarray(X).astype(np.int64)
    N, D = X.shape
    z = Z.reshape(N, D, -1)
    V = z.shape[2]
    picked = np.take_along_axis(z, X[:, :, None], axis=2)[:, :, 0]
    loss = (logsumexp(z, axis=2) - picked).sum(axis=1)
    dZ = scale * (softmax(z, axis=2) - np.eye(V)[X])
    return loss, dZ.reshape(N, D * V)


def mixture_terms(Z, X):
    """(a, mu, s, l) per variable: weight logits, means, log-stds [N, D, K] and
    l_k = log_softmax(a)_k + log N(x; mu_k, e^{2 s_k})."""
    Z = np.asarray(Z, np.float64)
    X = np.asarray(X, np.float64)
    N, D = X.shape
    z = Z.reshape(N, D, 3, -1)
    a, mu, s = z[:, :, 0], z[:, :, 1], z[:, :, 2]
    u = (X[:, :, None] - mu) * np.exp(-s)
    l = log_softmax(a, axis=2) - HALF_LOG_2PI - s - 0.5 * u * u
    return a, mu, s, u, l


def gaussian_mixture_nll(Z, X, scale):
    """(loss [N], dZ): loss_n = -sum_d logsumexp_k l_k; with pi = softmax(a), r = softmax(l):
    da = scale (pi - r), dmu = -scale r u e^-s, ds = scale r (1 - u^2), u = (x - mu) e^-s."""
    a, mu, s, u, l = mixture_terms(Z, X)
    N, D, K = a.shape
    loss = -logsumexp(l, axis=2).sum(axis=1)
    pi, r = softmax(a, axis=2), softmax(l, axis=2)
    dZ = np.stack([pi - r, -r * u * np.exp(-s), r * (1 - u * u)], axis=2) * scale
    return loss, dZ.reshape(N, D * 3 * K)


def output_nll(output, Y, X, scale):
    """(loss [N], dY) of the network output Y for data X."""
    if output == BERNOULLI:
        return ref_nn.bce_logits(Y, X, scale)
    if output == CATEGORICAL:
        return categorical_nll(Y, X, scale)
    if output == GAUSSIAN_MIXTURE:
        return gaussian_mixture_nll(Y, X, scale)
    raise ValueError(f"unknown output {output}")


def made_logprob(theta, sizes, acts, slope, X, output, n_out):
    """log p(x) per row for the already-masked parameters theta."""
    Y = ref_nn.mlp_predict(theta, sizes, acts, slope, network_input(X, output, n_out))
    return -output_nll(output, Y, X, 0.0)[0]


def made_gradient(theta, sizes, acts, slope, mask, X, output, n_out):
    """(mean NLL, masked gradient of the mean NLL in theta) at the weights theta * mask."""
    theta, mask = np.asarray(theta, np.float64), np.asarray(mask, np.float64)
    X = np.asarray(X, np.float64)
    N = X.shape[0]
    th = theta * mask
    x_in = network_input(X, output, n_out)
    A = ref_nn.mlp_forward(th, sizes, acts, slope, x_in)
    Y = ref_nn.split_activations(A, N, sizes)[-1]
    rows, dY = output_nll(output, Y, X, 1.0 / N)
    grad, _ = ref_nn.mlp_backward(th, sizes, acts, slope, x_in, A, dY, False)
    return rows.mean(), grad * mask


def made_step(theta, m, v, sizes, acts, slope, mask, X, output, n_out, t, optimizer, hp):
    """(float64[1] mean NLL before the update, theta, m, v) after one step."""
    loss, grad = made_gradient(theta, sizes, acts, slope, mask, X, output, n_out)
    return (np.array([loss]),) + ref_nn.optimiser_step(theta, grad, m, v, t, optimizer, hp)
