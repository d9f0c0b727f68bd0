"""MLP engine primitives on CUDA (Numba): the GPU twin of ``csrc/nn/nn.hpp``'s primitives; contract in
``csrc/KERNELS.md`` ("Neural networks").

Same names, arguments and results as ``fastgen._core``:

- ``mlp_forward(theta, sizes, acts, slope, X) -> A T[N * (d_1 + ... + d_L)]``
- ``mlp_predict(theta, sizes, acts, slope, X) -> T[N, d_L]``
- ``mlp_backward(theta, sizes, acts, slope, X, A, dY, want_dx) -> (grad T[P], dX T[N, d_0] or T[0])``
- ``bce_logits(Z, X, scale) -> (loss T[N], dZ)``
- ``gaussian_nll(M, S, X, scale) -> (loss T[N], dM, dS or T[0])``
- ``gaussian_kl_reparam(H, seed, stream, scale) -> (Zs, eps, kl)``
- ``gaussian_kl_reparam_backward(H, eps, dZs, kl_weight, scale) -> dH``
- ``adam_update(theta, grad, m, v, t, lr, beta1, beta2, eps, weight_decay) -> None`` (in place)
- ``sgd_update(theta, grad, velocity, lr, momentum, weight_decay, nesterov) -> None`` (in place)

The training steps (``mlp_step``, ``vae_step``, ``gan_step``) are in ``nn_steps.py``; the engine
they run on (products and network walks, row-wise kernels, the network description, the
optimisers) is ``common/mlp/``, shared with the MADE kernels.

Inputs are NumPy arrays (copied to the device once) or device arrays (used in place); results are
Numba device arrays. The arrays updated in place (theta and optimiser state) must be device arrays.
"""
from __future__ import annotations


import numpy as np
from numba import cuda

from ..common.args import DevArg, inplace, integer, launch1 as _launch, matrix, real, vector
from ..common.mlp import dense as _dense
from ..common.mlp import elementwise as _ew
from ..common.mlp.net import Net
from ..common.mlp.optim import adam_device, check_adam, check_sgd, sgd_device
from ..common.philox import key_words

__all__ = ["mlp_forward", "mlp_predict", "mlp_backward", "bce_logits", "gaussian_nll", "gaussian_kl_reparam",
           "gaussian_kl_reparam_backward", "adam_update", "sgd_update"]


def _inputs(net: Net, X, name="X"):
    Xa = matrix(X, name, net.dtype, -1, net.d_in)
    return Xa, Xa.shape[0]


def mlp_forward(theta, sizes, acts, slope, X):
    """Every layer's activations, layer after layer, each block [N, d_l] row-major."""
    net = Net(theta, sizes, acts, slope)
    Xa, N = _inputs(net, X)
    A = cuda.device_array(N * net.n_act, dtype=net.dtype)
    _dense.forward(net, Xa.device(), None, out=A)
    return A


def mlp_predict(theta, sizes, acts, slope, X):
    """The network's output T[N, d_L] (no activations kept)."""
    net = Net(theta, sizes, acts, slope)
    Xa, N = _inputs(net, X)
    return _dense.forward(net, Xa.device(), None, keep=False)[0]


def mlp_backward(theta, sizes, acts, slope, X, A, dY, want_dx):
    """(dLoss/dtheta T[P], dLoss/dX T[N, d_0] or T[0]) from dY = dLoss/da_L and mlp_forward's A."""
    net = Net(theta, sizes, acts, slope)
    Xa, N = _inputs(net, X)
    Aa = vector(A, "A", net.dtype, N * net.n_act)
    Ya = matrix(dY, "dY", net.dtype, N, net.d_out)
    want_dx = bool(want_dx)
    grad = cuda.device_array(net.P, dtype=net.dtype)
    dX = cuda.device_array((N, net.d_in) if want_dx else 0, dtype=net.dtype)
    views = net.act_views(Aa.device(), N)
    _dense.backward(net, Xa.device(), None, views, Ya.device(), grad=grad, dX=dX if want_dx else None)
    return grad, dX


def _float_matrix(a, name):
    arg = DevArg(a, name, 2)
    arg.float_dtype()
    return arg


def bce_logits(Z, X, scale):
    """Row-wise Bernoulli negative log-likelihood of logits: (loss T[N] summed in float64, dZ)."""
    Za = _float_matrix(Z, "Z")
    T = Za.dtype
    Xa = matrix(X, "X", T, *Za.shape)
    sc = T.type(real(scale, "scale"))
    N, D = Za.shape
    loss = cuda.device_array(N, dtype=T)
    dZ = cuda.device_array((N, D), dtype=T)
    if N:
        _ew.kernels(T.name)["bce_logits"][_launch(N)](Za.device(), Xa.device(), sc, loss, dZ)
    return loss, dZ


def _scratch2(T):
    return cuda.device_array((1, 1), dtype=T)


def gaussian_nll(M, S, X, scale):
    """Row-wise Gaussian negative log-likelihood with log-variances S ([N, D] learned or [D] fixed):
    (loss T[N], dM, dS; dS is T[0] for fixed S)."""
    Ma = _float_matrix(M, "M")
    T = Ma.dtype
    N, D = Ma.shape
    Xa = matrix(X, "X", T, N, D)
    ndim = len(getattr(S, "shape", np.shape(S)))
    if ndim not in (1, 2):
        raise ValueError(f"S: expected shape ({N}, {D}) or ({D},), got {ndim} dimensions")
    Sa = DevArg(S, "S", ndim)
    Sa.expect_dtype(T)
    learned = len(Sa.shape) == 2
    Sa.expect_shape(*((N, D) if learned else (D,)))
    sc = T.type(real(scale, "scale"))
    loss = cuda.device_array(N, dtype=T)
    dM = cuda.device_array((N, D), dtype=T)
    dS = cuda.device_array((N, D) if learned else 0, dtype=T)
    if N:
        Sd = Sa.device() if learned else Sa.device().reshape(1, D)
        _ew.kernels(T.name)["gaussian_nll"][_launch(N)](Ma.device(), 0, Sd, 0, learned, Xa.device(), sc, loss, dM, 0,
                                                        learned, dS if learned else _scratch2(T), 0)
    return loss, dM, dS


def _kl_input(H):
    Ha = _float_matrix(H, "H")
    if Ha.shape[1] % 2 or Ha.shape[1] == 0:
        raise ValueError(f"H: expected [mu | log_var] with an even, nonzero number of columns, got shape {Ha.shape}")
    return Ha, Ha.dtype, Ha.shape[0], Ha.shape[1] // 2


def gaussian_kl_reparam(H, seed, stream, scale):
    """(Zs T[N, K], eps T[N, K], kl T[N]) of H = [mu | log_var]; eps[n, k] = normal n K + k."""
    Ha, T, N, K = _kl_input(H)
    keys = key_words(seed, stream)
    real(scale, "scale")  # part of the signature; the forward pass does not scale
    Zs = cuda.device_array((N, K), dtype=T)
    eps = cuda.device_array((N, K), dtype=T)
    kl = cuda.device_array(N, dtype=T)
    if N:
        _ew.kernels(T.name)["kl_reparam"][_launch(N)](Ha.device(), *keys, Zs, eps, kl)
    return Zs, eps, kl


def gaussian_kl_reparam_backward(H, eps, dZs, kl_weight, scale):
    """dH [N, 2K] from the reconstruction's dZs and the KL term (weight kl_weight, times scale)."""
    Ha, T, N, K = _kl_input(H)
    Ea = matrix(eps, "eps", T, N, K)
    Ga = matrix(dZs, "dZs", T, N, K)
    c = T.type(real(kl_weight, "kl_weight") * real(scale, "scale"))
    dH = cuda.device_array((N, 2 * K), dtype=T)
    if N:
        _ew.kernels(T.name)["kl_reparam_backward"][_launch(N * K)](Ha.device(), Ea.device(), Ga.device(), c, dH)
    return dH


def _opt_arrays(theta, grad, names):
    th = DevArg(theta, "theta", 1)
    T = th.float_dtype()
    P = th.shape[0]
    th = inplace(theta, "theta", T, P)
    ga = vector(grad, "grad", T, P)
    state = [inplace(a, nm, T, P) for a, nm in names]
    return th, ga, state


def adam_update(theta, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """One torch.optim.Adam step, in place on theta, m, v (device arrays); t counts from 1."""
    th, ga, (ma, va) = _opt_arrays(theta, grad, [(m, "m"), (v, "v")])
    t = integer(t, "t", low=1)
    hp = check_adam(real(lr, "lr"), real(beta1, "beta1"), real(beta2, "beta2"), real(eps, "eps"),
                    real(weight_decay, "weight_decay"))
    adam_device(th.dev, ga.device(), ma.dev, va.dev, t, *hp)


def sgd_update(theta, grad, velocity, lr, momentum, weight_decay, nesterov):
    """One torch.optim.SGD step with momentum (Nesterov if asked), in place on theta and velocity."""
    th, ga, (va,) = _opt_arrays(theta, grad, [(velocity, "velocity")])
    lr, mom, wd = real(lr, "lr"), real(momentum, "momentum"), real(weight_decay, "weight_decay")
    check_sgd(lr, mom, wd)
    sgd_device(th.dev, ga.device(), va.dev, lr, mom, wd, bool(nesterov))


