# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Linear AR/VAR, MADE and the decoding of categorical outputs (csrc/autoregressive/)
"""
from __future__ import annotations
import numpy
__all__: list[str] = ['ar_forecast', 'ar_ols', 'ar_simulate', 'ar_sse', 'ar_yule_walker', 'categorical_nll', 'gaussian_mixture_nll', 'made_logprob', 'made_sample', 'made_step', 'sample_logits']
def ar_forecast(params: numpy.ndarray, trend: int, y_last: numpy.ndarray, t_next: numpy.ndarray, sigma: numpy.ndarray, steps: int) -> tuple:
    """
    Point forecasts and MSE matrices -> (mean f64[S, steps, k], mse f64[S, steps, k, k]).
    """
def ar_ols(Y: numpy.ndarray, offsets: numpy.ndarray, orders: numpy.ndarray, trend: int, all_orders: bool = False) -> tuple:
    """
    OLS fits of many AR/VAR series -> (params f64[S, kt+P*k, k], sse f64[S, k, k] or [S, P+1, k, k], status).
    """
def ar_simulate(params: numpy.ndarray, trend: int, chol: numpy.ndarray, y_last: numpy.ndarray, t_next: numpy.ndarray, n_steps: int, n_paths: int, seed: int, stream: int) -> numpy.ndarray:
    """
    Monte-Carlo paths -> T[S, n_paths, n_steps, k].
    """
def ar_sse(Y: numpy.ndarray, offsets: numpy.ndarray, params: numpy.ndarray, trend: int, orders: numpy.ndarray) -> numpy.ndarray:
    """
    Residual sums of squares per sequence -> f64[S, k, k].
    """
def ar_yule_walker(Y: numpy.ndarray, offsets: numpy.ndarray, orders: numpy.ndarray, demean: bool, adjusted: bool = False, all_orders: bool = False) -> tuple:
    """
    Yule-Walker fits -> (params f64[S, demean+P*k, k], sigma f64[S, k, k] or [S, P+1, k, k], status).
    """
def categorical_nll(Z: numpy.ndarray, X: numpy.ndarray, scale: float) -> tuple:
    """
    (loss float64[N], dZ) of V logits per variable and category indices X (KERNELS.md, MADE).
    """
def gaussian_mixture_nll(Z: numpy.ndarray, X: numpy.ndarray, scale: float) -> tuple:
    """
    (loss float64[N], dZ) of K weight logits, K means, K log-stds per variable (KERNELS.md, MADE).
    """
def made_logprob(theta: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, X: numpy.ndarray, output: int, n_out: int) -> numpy.ndarray:
    """
    Exact log p(x) per row, float64[N], of the masked network theta.
    """
def made_sample(theta: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, order: numpy.ndarray, hidden_degrees: numpy.ndarray, output: int, n_out: int, n_samples: int, temperature: float, top_k: int, top_p: float, seed: int, stream: int) -> numpy.ndarray:
    """
    MADE samples [n_samples, D] by incremental decoding (theta masked or not: only allowed weights are read).
    """
def made_step(theta: numpy.ndarray, m: numpy.ndarray, v: numpy.ndarray, sizes: numpy.ndarray, acts: numpy.ndarray, slope: float, mask: numpy.ndarray, X: numpy.ndarray, output: int, n_out: int, t: int, optimizer: int, hp: numpy.ndarray) -> numpy.ndarray:
    """
    One MADE training step with weights theta * mask, in place; float64[1] mean NLL before the update.
    """
def sample_logits(logits: numpy.ndarray, temperature: float, top_k: int, top_p: float, greedy: bool, seed: int, stream: int) -> numpy.ndarray:
    """
    One token per row of logits [N, V] (temperature, top-k, top-p, or greedy argmax) -> int64[N]; row n uses uniform u[n] of the stream.
    """
