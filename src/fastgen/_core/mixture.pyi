# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Gaussian mixtures: responsibilities, k-means, sampling (csrc/mixture/)
"""
from __future__ import annotations
import numpy
__all__: list[str] = ['e_step_diag', 'e_step_full', 'kmeans_assign', 'kmeans_plusplus', 'responsibilities', 'sample_gaussian_mixture']
def e_step_diag(X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, log_weights: numpy.ndarray) -> tuple:
    """
    Fused E-step, diagonal Gaussians -> (sum_n log p(x_n), nk[K], s1[K,D], s2[K,D]); no N x K array.
    """
def e_step_full(X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, log_weights: numpy.ndarray) -> tuple:
    """
    Fused E-step, full or tied Gaussians -> (sum_n log p(x_n), nk[K], s1[K,D], s2[K,D,D]); no N x K array.
    """
def kmeans_assign(X: numpy.ndarray, centers: numpy.ndarray) -> tuple:
    """
    Nearest centre (ties to the lower index) -> (labels int64[N], min_dist2[N]).
    """
def kmeans_plusplus(X: numpy.ndarray, n_clusters: int, n_local_trials: int, seed: int, stream: int) -> tuple:
    """
    Greedy k-means++ seeding on Philox uniforms -> (centers[K,D], indices[K]).
    """
def responsibilities(comp_logprob: numpy.ndarray, log_weights: numpy.ndarray, want_resp: bool = True, in_place: bool = False) -> tuple:
    """
    E-step of a mixture -> (log_norm[N], resp[N,K] or None); all -inf rows give -inf and zeros. in_place: resp overwrites comp_logprob (returned as resp).
    """
def sample_gaussian_mixture(weights: numpy.ndarray, means: numpy.ndarray, cov_chol: numpy.ndarray, n_samples: int, seed: int, stream: int) -> tuple:
    """
    Draws from a Gaussian mixture (lower Cholesky factors of the covariances) -> (X[n,D], labels int64[n]).
    """
