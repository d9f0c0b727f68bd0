# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
MLP engine kernels and the fused MLP/VAE/GAN training steps (csrc/nn/)
"""
from __future__ import annotations
import numpy
import typing
__all__: list[str] = ['adam_update', 'bce_logits', 'gan_step', 'gaussian_kl_reparam', 'gaussian_kl_reparam_backward', 'gaussian_nll', 'iwae_bound', 'mlp_backward', 'mlp_forward', 'mlp_penalty_backward', 'mlp_predict', 'mlp_step', 'repeat_join', 'sgd_update', 'take_rows', 'vae_step']
def adam_update(theta: numpy.ndarray, grad: numpy.ndarray, m: numpy.ndarray, v: numpy.ndarray, t: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
    """
    Adam step t (torch.optim.Adam), in place.
    """
def bce_logits(Z: numpy.ndarray, X: numpy.ndarray, scale: float) -> tuple:
    """
    (loss T[N], dZ) of Bernoulli logits.
    """
def gan_step(theta_g: numpy.ndarray, m_g: numpy.ndarray, v_g: numpy.ndarray, sizes_g: numpy.ndarray, acts_g: numpy.ndarray, theta_d: numpy.ndarray, m_d: numpy.ndarray, v_d: numpy.ndarray, sizes_d: numpy.ndarray, acts_d: numpy.ndarray, slope: float, X: numpy.ndarray, C: typing.Any, loss: int, gp_weight: float, update_gen: bool, seed: int, stream: int, t_d: int, t_g: int, optimizer: int, hp_d: numpy.ndarray, hp_g: numpy.ndarray) -> numpy.ndarray:
    """
    One GAN training step in place; float64[2] (d_loss, g_loss) before the updates.
    """
def gaussian_kl_reparam(H: numpy.ndarray, seed: int, stream: int, scale: float) -> tuple:
    """
    (Zs, eps, kl T[N]) from H = [mu | log_var].
    """
def gaussian_kl_reparam_backward(H: numpy.ndarray, eps: numpy.ndarray, dZs: numpy.ndarray, kl_weight: float, scale: float) -> numpy.ndarray:
    """
    dH = [dmu | dlv].
    """
def gaussian_nll(M: numpy.ndarray, S: numpy.ndarray, X: numpy.ndarray, scale: float) -> tuple:
    """
    (loss T[N], dM, dS) of a Gaussian with log-variances S ([N, D] learned, [D] fixed: dS empty).
    """
def iwae_bound(nll: numpy.ndarray, H: numpy.ndarray, Zs: numpy.ndarray, eps: numpy.ndarray, k: int) -> numpy.ndarray:
    """
    Importance-weighted bound float64[N] of N rows from k draws each (KERNELS.md, Neural networks).
    """
def mlp_backward(theta: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, X: numpy.ndarray, A: numpy.ndarray, dY: numpy.ndarray, want_dx: bool) -> tuple:
    """
    (grad T[P], dX T[N, d_0] or T[0]) from dY = dLoss/da_L.
    """
def mlp_forward(theta: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, X: numpy.ndarray) -> numpy.ndarray:
    """
    Every layer's activations, stacked: T[N * (d_1 + ... + d_L)] (KERNELS.md, Neural networks).
    """
def mlp_penalty_backward(theta: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, X: numpy.ndarray, A: numpy.ndarray, weight: float) -> tuple:
    """
    WGAN-GP penalty (gp T[N]) and its gradient in theta (grad T[P]) for a critic with d_L = 1 (KERNELS.md, Neural networks).
    """
def mlp_predict(theta: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, X: numpy.ndarray) -> numpy.ndarray:
    """
    The network's output T[N, d_L].
    """
def mlp_step(theta: numpy.ndarray, m: numpy.ndarray, v: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, X: numpy.ndarray, Y: numpy.ndarray, loss: int, t: int, optimizer: int, hp: numpy.ndarray) -> numpy.ndarray:
    """
    One supervised training step in place; float64[1] batch-mean loss before the update.
    """
def repeat_join(A: numpy.ndarray, B: typing.Any, ka: int, kb: int) -> numpy.ndarray:
    """
    Row r = [A[r // ka] | B[r // kb]] (B None: no columns): T[N_A ka, a + b].
    """
def sgd_update(theta: numpy.ndarray, grad: numpy.ndarray, velocity: numpy.ndarray, lr: float, momentum: float, weight_decay: float, nesterov: bool) -> None:
    """
    SGD with momentum (torch.optim.SGD, dampening 0), in place.
    """
def take_rows(A: numpy.ndarray, rows: numpy.ndarray) -> numpy.ndarray:
    """
    A[rows]: T[M, d] (rows int64[M] in [0, N)).
    """
def vae_step(theta_e: numpy.ndarray, m_e: numpy.ndarray, v_e: numpy.ndarray, sizes_e: numpy.ndarray, acts_e: numpy.ndarray, theta_d: numpy.ndarray, m_d: numpy.ndarray, v_d: numpy.ndarray, sizes_d: numpy.ndarray, acts_d: numpy.ndarray, slope: float, X: numpy.ndarray, C: typing.Any, likelihood: int, obs_log_var: typing.Any, kl_weight: float, seed: int, stream: int, t: int, optimizer: int, hp: numpy.ndarray) -> numpy.ndarray:
    """
    One VAE training step in place; float64[3] (loss, reconstruction, kl) before the update.
    """
