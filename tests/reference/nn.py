"""Plain NumPy oracle of the neural-network kernels (csrc/KERNELS.md, "Neural networks").

Written for clarity, not speed: float64 throughout whatever the input dtype, the contract's formulas
one for one, same function names and argument order as the kernels. Functions that the kernels run
in place (the optimisers, the training steps) return the updated copies instead and leave their
arguments alone. Random numbers use the contract's Philox indices through the vectorised Philox of
reference/rbm.py (checked against the pure-Python generator reference/rng.py by the tests).

Network: sizes (d_0 .. d_L), acts (one code per layer), slope (leaky layers), theta = for each layer
W_l [d_{l-1}, d_l] row-major then b_l [d_l]; z_l = a_{l-1} W_l + b_l, a_l = act_l(z_l), a_0 = X.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .rbm import normals, uniforms

IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID, SOFTPLUS = range(6)
ACTIVATIONS = (IDENTITY, RELU, LEAKY_RELU, TANH, SIGMOID, SOFTPLUS)
ADAM, SGD_MOMENTUM, SGD_NESTEROV = range(3)
MSE, BCE = range(2)
BERNOULLI, GAUSSIAN_FIXED, GAUSSIAN_LEARNED = range(3)
NON_SATURATING, WGAN_GP = range(2)


# -- network layout ------------------------------------------------------------------------------

def n_params(sizes):
    sizes = [int(d) for d in sizes]
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def unpack(theta, sizes):
    """[(W_l [d_{l-1}, d_l], b_l [d_l])] as float64 copies of theta's pieces."""
    theta = np.asarray(theta, np.float64)
    sizes = [int(d) for d in sizes]
    assert theta.size == n_params(sizes), (theta.size, sizes)
    layers, p = [], 0
    for i, o in zip(sizes[:-1], sizes[1:]):
        W = theta[p:p + i * o].reshape(i, o).copy()
        p += i * o
        b = theta[p:p + o].copy()
        p += o
        layers.append((W, b))
    return layers


def pack(layers):
    """theta from [(W_l, b_l)] (the inverse of unpack)."""
    return np.concatenate([np.concatenate([np.ravel(W), np.ravel(b)]) for W, b in layers])


def split_activations(A, N, sizes):
    """[a_1 .. a_L] ([N, d_l] each) from mlp_forward's flat block layout."""
    A = np.asarray(A, np.float64)
    out, p = [], 0
    for d in sizes[1:]:
        d = int(d)
        out.append(A[p:p + N * d].reshape(N, d))
        p += N * d
    assert p == A.size
    return out


# -- activations: value from z, derivatives from a (as the kernels take them) ---------------------

def activate(code, z, slope):
    z = np.asarray(z, np.float64)
    if code == IDENTITY:
        return z.copy()
    if code == RELU:
        return np.maximum(z, 0.0)
    if code == LEAKY_RELU:
        return np.where(z > 0, z, slope * z)
    if code == TANH:
        return np.tanh(z)
    if code == SIGMOID:
        return expit(z)
    if code == SOFTPLUS:
        return np.logaddexp(0.0, z)
    raise ValueError(f"unknown activation code {code}")


def derivative(code, a, slope):
    """act'(z) written in a = act(z)."""
    if code == IDENTITY:
        return np.ones_like(a)
    if code == RELU:
        return (a > 0).astype(np.float64)
    if code == LEAKY_RELU:
        return np.where(a > 0, 1.0, slope)
    if code == TANH:
        return 1.0 - a * a
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == SOFTPLUS:
        return -np.expm1(-a)          # sigmoid(z)
    raise ValueError(f"unknown activation code {code}")


def second_derivative(code, a, slope):
    """act''(z) written in a = act(z)."""
    if code in (IDENTITY, RELU, LEAKY_RELU):
        return np.zeros_like(a)
    if code == TANH:
        return -2.0 * a * (1.0 - a * a)
    if code == SIGMOID:
        return a * (1.0 - a) * (1.0 - 2.0 * a)
    if code == SOFTPLUS:
        s = -np.expm1(-a)
        return s * (1.0 - s)
    raise ValueError(f"unknown activation code {code}")


# -- primitives ------------------------------------------------------------------------------------

def _forward_layers(theta, sizes, acts, slope, X):
    """[a_0 = X, a_1, .., a_L] in float64."""
    a = np.asarray(X, np.float64)
    out = [a]
    for (W, b), code in zip(unpack(theta, sizes), acts):
        a = activate(int(code), a @ W + b, slope)
        out.append(a)
    return out


def mlp_forward(theta, sizes, acts, slope, X):
    """Every layer's activations a_1 .. a_L, flattened layer after layer (float64)."""
    return np.concatenate([a.ravel() for a in _forward_layers(theta, sizes, acts, slope, X)[1:]])


def mlp_predict(theta, sizes, acts, slope, X):
    return _forward_layers(theta, sizes, acts, slope, X)[-1]


def mlp_backward(theta, sizes, acts, slope, X, A, dY, want_dx):
    """(grad [P], dX [N, d_0] or [0]): plain backpropagation of dY = dLoss/da_L, using the given
    activations A (mlp_forward's layout) for the layer inputs and the derivatives."""
    X = np.asarray(X, np.float64)
    N = X.shape[0]
    layers = unpack(theta, sizes)
    a = [X] + split_activations(A, N, sizes)
    da = np.asarray(dY, np.float64).reshape(N, int(sizes[-1]))
    grads = [None] * len(layers)
    for l in range(len(layers), 0, -1):
        W, _ = layers[l - 1]
        dz = da * derivative(int(acts[l - 1]), a[l], slope)
        grads[l - 1] = (a[l - 1].T @ dz, dz.sum(axis=0))
        da = dz @ W.T
    return pack(grads), (da if want_dx else np.zeros(0))


def input_gradients(theta, sizes, acts, slope, X, A):
    """g_n = d a_L[n] / d X[n] for d_L = 1 ([N, d_0]): mlp_backward's dX with dY = 1."""
    N = np.asarray(X).shape[0]
    return mlp_backward(theta, sizes, acts, slope, X, A, np.ones((N, 1)), True)[1]


def gradient_penalty(theta, sizes, acts, slope, X, A, weight):
    """(gp [N], loss = weight * mean_n gp_n) with gp_n = (||g_n|| - 1)^2."""
    g = input_gradients(theta, sizes, acts, slope, X, A)
    gp = (np.sqrt((g * g).sum(axis=1)) - 1.0) ** 2
    return gp, weight * gp.mean()


def mlp_penalty_backward(theta, sizes, acts, slope, X, A, weight):
    """(gp [N], grad [P]) of loss = weight * mean_n (||g_n|| - 1)^2, g_n = d a_L[n] / d X[n].

    The input-gradient pass is   e_L = 1;  dz_l = e_l * f'_l(a_l);  e_{l-1} = dz_l W_l^T   (g = e_0),
    and the loss depends on theta through W_l (directly in e_{l-1}) and through f'_l(z_l). Its
    reverse, from g up:
        ebar_0 = dloss/dg = (weight / N) 2 (||g|| - 1) g / ||g||      (0 where ||g|| = 0)
        for l = 1..L:  dzbar_l = ebar_{l-1} W_l;   dW_l += ebar_{l-1}^T dz_l
                       zbar_l (direct) = dzbar_l * e_l * f''_l(z_l);   ebar_l = dzbar_l * f'_l(z_l)
    then the direct z-adjoints go back through the forward pass like an ordinary backward pass:
        for l = L..1:  zt_l = zbar_l + (zt_{l+1} W_{l+1}^T) * f'_l   (zt_{L+1} = 0)
                       dW_l += a_{l-1}^T zt_l;   db_l += sum_n zt_l.
    """
    X = np.asarray(X, np.float64)
    N = X.shape[0]
    L = len(sizes) - 1
    assert int(sizes[-1]) == 1
    layers = unpack(theta, sizes)
    a = [X] + split_activations(A, N, sizes)
    f1 = [None] + [derivative(int(acts[l - 1]), a[l], slope) for l in range(1, L + 1)]
    f2 = [None] + [second_derivative(int(acts[l - 1]), a[l], slope) for l in range(1, L + 1)]

    e = [None] * (L + 1)
    dz = [None] * (L + 1)
    e[L] = np.ones((N, 1))
    for l in range(L, 0, -1):
        dz[l] = e[l] * f1[l]
        e[l - 1] = dz[l] @ layers[l - 1][0].T
    g = e[0]
    norm = np.sqrt((g * g).sum(axis=1))
    gp = (norm - 1.0) ** 2

    dW = [np.zeros_like(W) for W, _ in layers]
    db = [np.zeros_like(b) for _, b in layers]
    ebar = np.zeros_like(g)
    nz = norm > 0
    ebar[nz] = (weight / N) * 2.0 * ((norm[nz] - 1.0) / norm[nz])[:, None] * g[nz]
    zbar = [None] * (L + 1)
    for l in range(1, L + 1):
        W = layers[l - 1][0]
        dzbar = ebar @ W
        dW[l - 1] += ebar.T @ dz[l]
        zbar[l] = dzbar * e[l] * f2[l]
        ebar = dzbar * f1[l]
    zt = np.zeros((N, int(sizes[-1])))
    for l in range(L, 0, -1):
        if l < L:
            zt = (zt @ layers[l][0].T) * f1[l]
        zt = zt + zbar[l]
        dW[l - 1] += a[l - 1].T @ zt
        db[l - 1] += zt.sum(axis=0)
    return gp, pack(list(zip(dW, db)))


# -- losses (row-wise sums; scale multiplies every gradient) ---------------------------------------

def softplus(z):
    return np.logaddexp(0.0, np.asarray(z, np.float64))


def bce_logits(Z, X, scale):
    """(loss [N], dZ): loss_n = sum_d softplus(z) - x z, dZ = scale (sigmoid(z) - x)."""
    Z, X = np.asarray(Z, np.float64), np.asarray(X, np.float64)
    loss = (np.maximum(Z, 0.0) - X * Z + np.log1p(np.exp(-np.abs(Z)))).sum(axis=1)
    return loss, scale * (expit(Z) - X)


def gaussian_nll(M, S, X, scale):
    """(loss [N], dM, dS): S log-variances [N, D] (learned) or [D] (fixed: dS is empty)."""
    M, S, X = (np.asarray(v, np.float64) for v in (M, S, X))
    r2 = (X - M) ** 2 * np.exp(-S)
    loss = 0.5 * (np.log(2 * np.pi) + S + r2).sum(axis=1) if S.ndim == 2 else \
        0.5 * (np.log(2 * np.pi) + S[None, :] + r2).sum(axis=1)
    dM = scale * (M - X) * np.exp(-S)
    dS = scale * 0.5 * (1.0 - r2) if S.ndim == 2 else np.zeros(0)
    return loss, dM, dS


def reparam_normals(seed, stream, N, K):
    """eps[n, k] = Philox normal index n K + k of `stream`."""
    return normals(seed, stream, np.arange(N * K).reshape(N, K)) if N * K else np.zeros((N, K))


def gaussian_kl_reparam(H, seed, stream, scale):
    """(Zs, eps, kl) for H = [mu | log_var]; `scale` does not enter the forward values."""
    H = np.asarray(H, np.float64)
    N, K = H.shape[0], H.shape[1] // 2
    mu, lv = H[:, :K], H[:, K:]
    eps = reparam_normals(seed, stream, N, K)
    Zs = mu + np.exp(lv / 2) * eps
    kl = -0.5 * (1.0 + lv - mu * mu - np.exp(lv)).sum(axis=1)
    return Zs, eps, kl


def gaussian_kl_reparam_backward(H, eps, dZs, kl_weight, scale):
    """dH = [dmu | dlv] of (the loss behind dZs) + scale kl_weight sum_n kl_n."""
    H, eps, dZs = (np.asarray(v, np.float64) for v in (H, eps, dZs))
    K = H.shape[1] // 2
    mu, lv = H[:, :K], H[:, K:]
    dmu = dZs + scale * kl_weight * mu
    dlv = dZs * eps * np.exp(lv / 2) / 2 + scale * kl_weight * 0.5 * (np.exp(lv) - 1.0)
    return np.hstack([dmu, dlv])


# -- optimisers (return the updated copies) --------------------------------------------------------

def adam_update(theta, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """(theta, m, v) after one torch.optim.Adam step number t (>= 1)."""
    theta, grad, m, v = (np.asarray(x, np.float64) for x in (theta, grad, m, v))
    g = grad + weight_decay * theta
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    step_size = lr / (1 - beta1 ** t)
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps
    return theta - step_size * m / denom, m, v


def sgd_update(theta, grad, velocity, lr, momentum, weight_decay, nesterov):
    """(theta, velocity) after one torch.optim.SGD step (dampening 0)."""
    theta, grad, velocity = (np.asarray(x, np.float64) for x in (theta, grad, velocity))
    g = grad + weight_decay * theta
    velocity = momentum * velocity + g
    step = g + momentum * velocity if nesterov else velocity
    return theta - lr * step, velocity


def optimiser_step(theta, grad, m, v, t, optimizer, hp):
    """(theta, m, v) after the step the training kernels take (hp = lr, b1, b2, eps, wd, momentum)."""
    lr, b1, b2, eps, wd, mom = (float(x) for x in hp)
    if optimizer == ADAM:
        return adam_update(theta, grad, m, v, t, lr, b1, b2, eps, wd)
    if optimizer in (SGD_MOMENTUM, SGD_NESTEROV):
        theta, m = sgd_update(theta, grad, m, lr, mom, wd, optimizer == SGD_NESTEROV)
        return theta, m, np.array(v, np.float64)
    raise ValueError(f"unknown optimizer {optimizer}")


# -- training steps --------------------------------------------------------------------------------

def _with_labels(X, C):
    X = np.asarray(X, np.float64)
    C = np.zeros((X.shape[0], 0)) if C is None else np.asarray(C, np.float64).reshape(X.shape[0], -1)
    return np.hstack([X, C])


def mlp_step(theta, m, v, sizes, acts, slope, X, Y, loss, t, optimizer, hp):
    """(float64[1] batch-mean loss before the update, theta, m, v)."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    N = X.shape[0]
    A = mlp_forward(theta, sizes, acts, slope, X)
    out = split_activations(A, N, sizes)[-1]
    if loss == MSE:
        per_row = 0.5 * ((Y - out) ** 2).sum(axis=1)
        dY = (out - Y) / N
    elif loss == BCE:
        per_row, dY = bce_logits(out, Y, 1.0 / N)
    else:
        raise ValueError(f"unknown loss {loss}")
    grad, _ = mlp_backward(theta, sizes, acts, slope, X, A, dY, False)
    return (np.array([per_row.mean()]),) + optimiser_step(theta, grad, m, v, t, optimizer, hp)


def vae_step(theta_e, m_e, v_e, sizes_e, acts_e, theta_d, m_d, v_d, sizes_d, acts_d, slope, X, C,
             likelihood, obs_log_var, kl_weight, seed, stream, t, optimizer, hp):
    """(float64[3] (loss, reconstruction, kl) before the update, theta_e, m_e, v_e, theta_d, m_d, v_d)."""
    X = np.asarray(X, np.float64)
    N, D = X.shape
    enc_in = _with_labels(X, C)
    A_e = mlp_forward(theta_e, sizes_e, acts_e, slope, enc_in)
    H = split_activations(A_e, N, sizes_e)[-1]
    Zs, eps, kl = gaussian_kl_reparam(H, seed, stream, 1.0 / N)
    K = Zs.shape[1]
    dec_in = _with_labels(Zs, C)
    A_d = mlp_forward(theta_d, sizes_d, acts_d, slope, dec_in)
    out = split_activations(A_d, N, sizes_d)[-1]
    if likelihood == BERNOULLI:
        recon, d_out = bce_logits(out, X, 1.0 / N)
    elif likelihood == GAUSSIAN_FIXED:
        recon, d_out, _ = gaussian_nll(out, obs_log_var, X, 1.0 / N)
    elif likelihood == GAUSSIAN_LEARNED:
        recon, dM, dS = gaussian_nll(out[:, :D], out[:, D:], X, 1.0 / N)
        d_out = np.hstack([dM, dS])
    else:
        raise ValueError(f"unknown likelihood {likelihood}")
    grad_d, d_dec_in = mlp_backward(theta_d, sizes_d, acts_d, slope, dec_in, A_d, d_out, True)
    dH = gaussian_kl_reparam_backward(H, eps, d_dec_in[:, :K], kl_weight, 1.0 / N)
    grad_e, _ = mlp_backward(theta_e, sizes_e, acts_e, slope, enc_in, A_e, dH, False)
    losses = np.array([recon.mean() + kl_weight * kl.mean(), recon.mean(), kl.mean()])
    return ((losses,) + optimiser_step(theta_e, grad_e, m_e, v_e, t, optimizer, hp)
            + optimiser_step(theta_d, grad_d, m_d, v_d, t, optimizer, hp))


def gan_noise(seed, stream, N, q):
    """Z[n, j] = Philox normal index n q + j of `stream`."""
    return reparam_normals(seed, stream, N, q)


def gan_mix(seed, stream, N):
    """e_n = Philox uniform index n of stream + 2 (the WGAN-GP interpolation weights)."""
    return uniforms(seed, stream + 2, np.arange(N))


def gan_step(theta_g, m_g, v_g, sizes_g, acts_g, theta_d, m_d, v_d, sizes_d, acts_d, slope, X, C,
             loss, gp_weight, update_gen, seed, stream, t_d, t_g, optimizer, hp_d, hp_g):
    """(float64[2] (d_loss, g_loss) before the updates, theta_g, m_g, v_g, theta_d, m_d, v_d)."""
    X = np.asarray(X, np.float64)
    N = X.shape[0]
    c = 0 if C is None else np.asarray(C).reshape(N, -1).shape[1]
    q = int(sizes_g[0]) - c

    def D(theta, inputs):
        A = mlp_forward(theta, sizes_d, acts_d, slope, inputs)
        return A, split_activations(A, N, sizes_d)[-1]

    def G_out(Z):
        g_in = _with_labels(Z, C)
        A = mlp_forward(theta_g, sizes_g, acts_g, slope, g_in)
        return g_in, A, split_activations(A, N, sizes_g)[-1]

    # discriminator step (the fakes are constants here)
    _, _, fake = G_out(gan_noise(seed, stream, N, q))
    real_in, fake_in = _with_labels(X, C), _with_labels(fake, C)
    A_r, d_real = D(theta_d, real_in)
    A_f, d_fake = D(theta_d, fake_in)
    if loss == NON_SATURATING:
        loss_r, d_r = bce_logits(d_real, np.ones_like(d_real), 1.0 / N)    # softplus(-D(real))
        loss_f, d_f = bce_logits(d_fake, np.zeros_like(d_fake), 1.0 / N)   # softplus(D(fake))
        d_loss = loss_r.mean() + loss_f.mean()
        grad_d = (mlp_backward(theta_d, sizes_d, acts_d, slope, real_in, A_r, d_r, False)[0]
                  + mlp_backward(theta_d, sizes_d, acts_d, slope, fake_in, A_f, d_f, False)[0])
    elif loss == WGAN_GP:
        e = gan_mix(seed, stream, N)[:, None]
        hat_in = _with_labels(e * X + (1 - e) * fake, C)
        A_h, _ = D(theta_d, hat_in)
        gp, grad_gp = mlp_penalty_backward(theta_d, sizes_d, acts_d, slope, hat_in, A_h, gp_weight)
        d_loss = d_fake.mean() - d_real.mean() + gp_weight * gp.mean()
        grad_d = (mlp_backward(theta_d, sizes_d, acts_d, slope, fake_in, A_f, np.full((N, 1), 1.0 / N), False)[0]
                  + mlp_backward(theta_d, sizes_d, acts_d, slope, real_in, A_r, np.full((N, 1), -1.0 / N), False)[0]
                  + grad_gp)
    else:
        raise ValueError(f"unknown loss {loss}")
    theta_d, m_d, v_d = optimiser_step(theta_d, grad_d, m_d, v_d, t_d, optimizer, hp_d)

    # generator step through the updated discriminator (which it does not change)
    g_loss = 0.0
    theta_g, m_g, v_g = (np.array(x, np.float64) for x in (theta_g, m_g, v_g))
    if update_gen:
        g_in, A_g, fake2 = G_out(gan_noise(seed, stream + 1, N, q))
        fake2_in = _with_labels(fake2, C)
        A_f2, d_fake2 = D(theta_d, fake2_in)
        if loss == NON_SATURATING:
            per_row, d_out = bce_logits(d_fake2, np.ones_like(d_fake2), 1.0 / N)
            g_loss = per_row.mean()
        else:
            g_loss = -d_fake2.mean()
            d_out = np.full((N, 1), -1.0 / N)
        _, d_in = mlp_backward(theta_d, sizes_d, acts_d, slope, fake2_in, A_f2, d_out, True)
        grad_g, _ = mlp_backward(theta_g, sizes_g, acts_g, slope, g_in, A_g, d_in[:, :fake2.shape[1]], False)
        theta_g, m_g, v_g = optimiser_step(theta_g, grad_g, m_g, v_g, t_g, optimizer, hp_g)
    return (np.array([d_loss, g_loss]), theta_g, m_g, v_g, theta_d, m_d, v_d)
