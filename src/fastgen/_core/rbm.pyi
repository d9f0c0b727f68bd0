# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Restricted Boltzmann machines (csrc/rbm/)
"""
from __future__ import annotations
import numpy
__all__: list[str] = ['ais', 'cd_update', 'free_energy', 'gibbs_hvh', 'gibbs_vhv', 'hidden_probs', 'log_partition', 'pseudo_likelihood', 'sample_hiddens', 'sample_visibles', 'train_step', 'visible_means']
def _matmul(A: numpy.ndarray, B: numpy.ndarray) -> numpy.ndarray:
    """
    A @ B with the RBM kernels' product (benchmarks).
    """
def ais(W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray, base_b_v: numpy.ndarray, betas: numpy.ndarray, n_chains: int, seed: int, stream: int) -> numpy.ndarray:
    """
    Annealed importance sampling log-weights -> float64[n_chains].
    """
def cd_update(W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, log_var: numpy.ndarray, sigma: numpy.ndarray, vel_W: numpy.ndarray, vel_b_h: numpy.ndarray, vel_b_v: numpy.ndarray, vel_log_var: numpy.ndarray, V_pos: numpy.ndarray, H_pos: numpy.ndarray, V_neg: numpy.ndarray, H_neg: numpy.ndarray, learning_rate: float, momentum: float, weight_decay: float) -> None:
    """
    CD/PCD step with momentum and weight decay, in place.
    """
def free_energy(V: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray) -> numpy.ndarray:
    """
    Free energy F(v) -> T[N].
    """
def gibbs_hvh(H0: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray, n_steps: int, seed: int, stream: int) -> tuple:
    """
    n_steps sweeps h->v->h -> (V, P, Hs).
    """
def gibbs_vhv(V0: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray, n_steps: int, seed: int, stream: int) -> tuple:
    """
    n_steps sweeps v->h->v -> (V, Hs).
    """
def hidden_probs(V: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, sigma: numpy.ndarray) -> numpy.ndarray:
    """
    p(h = 1 | v) -> T[N, H].
    """
def log_partition(W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray, over_hidden: bool) -> float:
    """
    Exact log Z by enumerating one layer.
    """
def pseudo_likelihood(V: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, flip: numpy.ndarray) -> numpy.ndarray:
    """
    scikit-learn's pseudo-likelihood with the given flipped units -> T[N].
    """
def sample_hiddens(V: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, sigma: numpy.ndarray, seed: int, stream: int) -> tuple:
    """
    -> (p(h | v) T[N, H], draws T[N, H]).
    """
def sample_visibles(Hs: numpy.ndarray, W: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray, seed: int, stream: int) -> numpy.ndarray:
    """
    -> visible draws T[N, V].
    """
def train_step(V: numpy.ndarray, W: numpy.ndarray, b_h: numpy.ndarray, b_v: numpy.ndarray, log_var: numpy.ndarray, sigma: numpy.ndarray, vel_W: numpy.ndarray, vel_b_h: numpy.ndarray, vel_b_v: numpy.ndarray, vel_log_var: numpy.ndarray, chains: numpy.ndarray | None, n_steps: int, seed: int, stream: int, learning_rate: float, momentum: float, weight_decay: float) -> None:
    """
    One CD-k (chains None: from the batch's hidden draws on `stream`, the sweeps on the streams after it) or PCD-k (chains T[C, H], replaced by the last sweep's draws) step with momentum and weight decay, in place: hidden_probs / sample_hiddens, gibbs_hvh and cd_update in one call, the same bits.
    """
def visible_means(Hs: numpy.ndarray, W: numpy.ndarray, b_v: numpy.ndarray, sigma: numpy.ndarray) -> numpy.ndarray:
    """
    E[v | h] -> T[N, V].
    """
