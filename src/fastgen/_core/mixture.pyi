# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Gaussian mixtures: responsibilities, k-means, sampling (csrc/mixture/)
"""
from __future__ import annotations
import numpy
__all__: list[str] = ['kmeans_assign', 'kmeans_plusplus', 'responsibilities', 'sample_gaussian_mixture']
def kmeans_assign(X: numpy.ndarray, centers: numpy.ndarray) -> tuple:
    """
    Nearest centre (ties to the lower index) -> (labels int64[N], min_dist2[N]).
    """
def kmeans_plusplus(X: numpy.ndarray, n_clusters: int, n_local_trials: int, seed: int, stream: int) -> tuple:
    """
    Greedy k-means++ seeding on Philox uniforms -> (centers[K,D], indices[K]).
    """
def responsibilities(comp_logprob: numpy.ndarray, log_weights: numpy.ndarray, want_resp: bool = True) -> tuple:
    """
    E-step of a mixture -> (log_norm[N], resp[N,K] or None); all -inf rows give -inf and zeros.
    """
def sample_gaussian_mixture(weights: numpy.ndarray, means: numpy.ndarray, cov_chol: numpy.ndarray, n_samples: int, seed: int, stream: int) -> tuple:
    """
    Draws from a Gaussian mixture (lower Cholesky factors of the covariances) -> (X[n,D], labels int64[n]).
    """
