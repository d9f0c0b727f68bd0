"""Training steps of the MLP engine on CUDA (Numba): one call = one optimiser step, entirely on the
device (forward, loss, backward, update: kernel launches only, no host round trip). Contract in
``csrc/KERNELS.md`` ("Neural networks"); CPU twin ``csrc/nn/nn.hpp``.

- ``mlp_step(theta, m, v, sizes, acts, slope, X, Y, loss, t, optimizer, hp) -> float64[1]``
- ``vae_step(theta_e, m_e, v_e, sizes_e, acts_e, theta_d, m_d, v_d, sizes_d, acts_d, slope, X, C,
  likelihood, obs_log_var, kl_weight, seed, stream, t, optimizer, hp) -> float64[3]``
- ``gan_step(theta_g, m_g, v_g, sizes_g, acts_g, theta_d, m_d, v_d, sizes_d, acts_d, slope, X, C,
  loss, gp_weight, update_gen, seed, stream, t_d, t_g, optimizer, hp_d, hp_g) -> float64[2]``

The returned losses (batch means before the update, float64) are a device array, so a training
loop can queue steps without waiting for each; ``fastgen._backend.to_host`` reads them. theta and
the optimiser state must be device arrays (updated in place); the data may be host or device
arrays. The conditional input [X | C] is read in place by the first layer's product (no copy);
the discriminator's real and fake passes run as one pass over the 2N stacked rows.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..common.args import integer, launch1 as _launch, matrix, real, vector
from ..common.mlp import dense as _dense
from ..common.mlp import elementwise as _ew
from ..common.mlp.net import Net
from ..common.mlp.optim import Optimiser as _Optimiser, optimizer_code as _optimizer_code, rows as _rows
from ..common.philox import stream_keys as _stream_keys

__all__ = ["mlp_step", "vae_step", "gan_step"]

def _condition(C, dtype, N):
    """C [N, c] (None or c = 0: no labels) -> (c, device array or None)."""
    if C is None:
        return 0, None
    Ca = matrix(C, "C", dtype, N, -1)
    c = Ca.shape[1]
    return c, (Ca.device() if c else None)


def _check_layout(cond, name, msg):
    if not cond:
        raise ValueError(f"{name}: {msg}")


def mlp_step(theta, m, v, sizes, acts, slope, X, Y, loss, t, optimizer, hp):
    """Supervised step (loss 0: 0.5 sum_d (y - a)^2, 1: bce_logits), mean over rows."""
    net = Net(theta, sizes, acts, slope, in_place=True)
    Xa = _rows(X, "X", net.dtype, net.d_in)
    N = Xa.shape[0]
    Ya = matrix(Y, "Y", net.dtype, N, net.d_out)
    loss = integer(loss, "loss", 0, 1)
    t = integer(t, "t", low=1)
    opt = _Optimiser(net, m, v, _optimizer_code(optimizer), hp, ("m", "v", "hp"))
    T = net.dtype
    ew = _ew.kernels(T.name)
    Xd = Xa.device()
    acts_v = _dense.forward(net, Xd, None)
    rows = cuda.device_array(N, dtype=np.float64)
    dA = cuda.device_array((N, net.d_out), dtype=T)
    inv_n = T.type(1.0 / N)
    ew["bce_logits" if loss == 1 else "squared_error"][_launch(N)](acts_v[-1], Ya.device(), inv_n, rows, dA)
    grad = cuda.device_array(net.P, dtype=T)
    _dense.backward(net, Xd, None, acts_v, dA, grad=grad)
    out = cuda.device_array(1, dtype=np.float64)
    _ew.batch_mean(rows, out, 0)
    opt.step(net, grad, t)
    return out


def vae_step(theta_e, m_e, v_e, sizes_e, acts_e, theta_d, m_d, v_d, sizes_d, acts_d, slope, X, C, likelihood,
             obs_log_var, kl_weight, seed, stream, t, optimizer, hp):
    """One VAE step of both networks -> float64[3] (loss, reconstruction, kl; batch means)."""
    enc = Net(theta_e, sizes_e, acts_e, slope, names=("theta_e", "sizes_e", "acts_e"), in_place=True)
    T = enc.dtype
    dec = Net(theta_d, sizes_d, acts_d, slope, names=("theta_d", "sizes_d", "acts_d"), in_place=True, dtype=T)
    Xa = _rows(X, "X", T, -1)
    N, D = Xa.shape
    c, Cd = _condition(C, T, N)
    _check_layout(enc.d_in == D + c, "sizes_e", f"the encoder's input size must be D + c = {D + c}, got {enc.d_in}")
    _check_layout(enc.d_out % 2 == 0, "sizes_e", f"the encoder's output [mu | log_var] needs an even size, "
                                                 f"got {enc.d_out}")
    K = enc.d_out // 2
    _check_layout(dec.d_in == K + c, "sizes_d", f"the decoder's input size must be K + c = {K + c}, got {dec.d_in}")
    likelihood = integer(likelihood, "likelihood", 0, 2)
    want_out = 2 * D if likelihood == 2 else D
    _check_layout(dec.d_out == want_out, "sizes_d", f"the decoder's output size must be {want_out} "
                                                    f"(likelihood {likelihood}), got {dec.d_out}")
    if likelihood == 1:
        if obs_log_var is None:
            raise TypeError("obs_log_var: likelihood 1 needs the per-feature log-variances T[D], got None")
        olv = vector(obs_log_var, "obs_log_var", T, D)
    klw = real(kl_weight, "kl_weight")
    keys = _stream_keys(seed, stream)
    t = integer(t, "t", low=1)
    code = _optimizer_code(optimizer)
    opt_e = _Optimiser(enc, m_e, v_e, code, hp, ("m_e", "v_e", "hp"))
    opt_d = _Optimiser(dec, m_d, v_d, code, hp, ("m_d", "v_d", "hp"))

    ew = _ew.kernels(T.name)
    inv_n = T.type(1.0 / N)
    Xd = Xa.device()
    acts_e = _dense.forward(enc, Xd, Cd)
    H = acts_e[-1]
    Zs = cuda.device_array((N, K), dtype=T)
    eps = cuda.device_array((N, K), dtype=T)
    kl = cuda.device_array(N, dtype=np.float64)
    ew["kl_reparam"][_launch(N)](H, *keys, Zs, eps, kl)
    acts_d = _dense.forward(dec, Zs, Cd)
    out_d = acts_d[-1]
    recon = cuda.device_array(N, dtype=np.float64)
    dOut = cuda.device_array((N, dec.d_out), dtype=T)
    if likelihood == 0:
        ew["bce_logits"][_launch(N)](out_d, Xd, inv_n, recon, dOut)
    elif likelihood == 1:
        S = olv.device().reshape(1, D)
        ew["gaussian_nll"][_launch(N)](out_d, 0, S, 0, False, Xd, inv_n, recon, dOut, 0, False, dOut, 0)
    else:
        ew["gaussian_nll"][_launch(N)](out_d, 0, out_d, D, True, Xd, inv_n, recon, dOut, 0, True, dOut, D)
    grad_d = cuda.device_array(dec.P, dtype=T)
    dZs = cuda.device_array((N, K), dtype=T)
    _dense.backward(dec, Zs, Cd, acts_d, dOut, grad=grad_d, dX=dZs)
    dH = cuda.device_array((N, 2 * K), dtype=T)
    ew["kl_reparam_backward"][_launch(N * K)](H, eps, dZs, T.type(klw * (1.0 / N)), dH)
    grad_e = cuda.device_array(enc.P, dtype=T)
    _dense.backward(enc, Xd, Cd, acts_e, dH, grad=grad_e)
    out = cuda.device_array(3, dtype=np.float64)
    _ew.batch_mean(recon, out, 0, kl, klw)
    _ew.batch_mean(recon, out, 1)
    _ew.batch_mean(kl, out, 2)
    opt_e.step(enc, grad_e, t)
    opt_d.step(dec, grad_d, t)
    return out


def _penalty():
    try:
        from .nn_penalty import mlp_penalty_backward
    except ImportError:
        return None
    return mlp_penalty_backward


def gan_step(theta_g, m_g, v_g, sizes_g, acts_g, theta_d, m_d, v_d, sizes_d, acts_d, slope, X, C, loss, gp_weight,
             update_gen, seed, stream, t_d, t_g, optimizer, hp_d, hp_g):
    """One discriminator step, then (update_gen) one generator step -> float64[2] (d_loss, g_loss)."""
    gen = Net(theta_g, sizes_g, acts_g, slope, names=("theta_g", "sizes_g", "acts_g"), in_place=True)
    T = gen.dtype
    disc = Net(theta_d, sizes_d, acts_d, slope, names=("theta_d", "sizes_d", "acts_d"), in_place=True, dtype=T)
    Xa = _rows(X, "X", T, -1)
    N, d = Xa.shape
    c, Cd = _condition(C, T, N)
    q = gen.d_in - c
    _check_layout(q >= 1, "sizes_g", f"the generator's input size must exceed c = {c} (noise dimension >= 1), "
                                     f"got {gen.d_in}")
    _check_layout(gen.d_out == d, "sizes_g", f"the generator's output size must be D = {d}, got {gen.d_out}")
    _check_layout(disc.d_in == d + c, "sizes_d", f"the discriminator's input size must be D + c = {d + c}, "
                                                 f"got {disc.d_in}")
    _check_layout(disc.d_out == 1, "sizes_d", f"the discriminator's output size must be 1, got {disc.d_out}")
    loss = integer(loss, "loss", 0, 1)
    gp_weight = real(gp_weight, "gp_weight")
    penalty = _penalty() if loss == 1 else None
    if loss == 1 and penalty is None:
        raise ValueError("loss: WGAN-GP (loss=1) needs mlp_penalty_backward, not yet available on CUDA")
    update_gen = bool(update_gen)
    for k in range(3):
        _stream_keys(seed, stream, k)
    t_d = integer(t_d, "t_d", low=1)
    t_g = integer(t_g, "t_g", low=1) if update_gen else 1  # read only by a generator step
    code = _optimizer_code(optimizer)
    opt_d = _Optimiser(disc, m_d, v_d, code, hp_d, ("m_d", "v_d", "hp_d"))
    opt_g = _Optimiser(gen, m_g, v_g, code, hp_g, ("m_g", "v_g", "hp_g"))

    ew = _ew.kernels(T.name)
    wgan = loss == 1
    inv_n = T.type(1.0 / N)
    Xd = Xa.device()
    Cs = Cd if Cd is not None else Xd  # never read when c = 0
    out = cuda.device_array(2, dtype=np.float64)
    _dense.zero(out)  # g_loss stays 0 without a generator step (no host copy)

    # Discriminator step: fake = G([Z1 | C]); one pass of D over [[X | C]; [fake | C]].
    Z1 = cuda.device_array((N, q), dtype=T)
    ew["fill_normals"][_launch(N * q)](*_stream_keys(seed, stream), Z1)
    fake = _dense.forward(gen, Z1, Cd, keep=False)[0]
    both = cuda.device_array((2 * N, d + c), dtype=T)
    ew["stack_real_fake"][_launch(2 * N * (d + c))](Xd, fake, Cs, both)
    acts_b = _dense.forward(disc, both, None)
    rows = cuda.device_array(N, dtype=np.float64)
    dY = cuda.device_array((2 * N, 1), dtype=T)
    ew["gan_d_loss"][_launch(N)](acts_b[-1], wgan, inv_n, rows, dY)
    grad_d = cuda.device_array(disc.P, dtype=T)
    _dense.backward(disc, both, None, acts_b, dY, grad=grad_d)
    if wgan:
        xh = cuda.device_array((N, d + c), dtype=T)
        ew["mix_concat"][_launch(N * (d + c))](Xd, fake, Cs, *_stream_keys(seed, stream, 2), xh)
        A_h = cuda.device_array(N * disc.n_act, dtype=T)
        _dense.forward(disc, xh, None, out=A_h)
        gp, grad_gp = penalty(disc.theta, np.asarray(disc.sizes, np.int64), disc.acts, slope, xh, A_h, gp_weight)
        ew["add_into"][_launch(disc.P)](grad_d, grad_gp)
        _ew.batch_mean(rows, out, 0, gp, gp_weight)
    else:
        _ew.batch_mean(rows, out, 0)
    opt_d.step(disc, grad_d, t_d)

    if update_gen:
        # Generator step through the updated D: fake2 = G([Z2 | C]), loss on D([fake2 | C]).
        Z2 = cuda.device_array((N, q), dtype=T)
        ew["fill_normals"][_launch(N * q)](*_stream_keys(seed, stream, 1), Z2)
        acts_g = _dense.forward(gen, Z2, Cd)
        acts_f = _dense.forward(disc, acts_g[-1], Cd)
        rows_g = cuda.device_array(N, dtype=np.float64)
        dYg = cuda.device_array((N, 1), dtype=T)
        ew["gan_g_loss"][_launch(N)](acts_f[-1], wgan, inv_n, rows_g, dYg)
        dfake = cuda.device_array((N, d), dtype=T)
        _dense.backward(disc, acts_g[-1], Cd, acts_f, dYg, grad=None, dX=dfake)
        grad_g = cuda.device_array(gen.P, dtype=T)
        _dense.backward(gen, Z2, Cd, acts_g, dfake, grad=grad_g)
        _ew.batch_mean(rows_g, out, 1)
        opt_g.step(gen, grad_g, t_g)
    return out
