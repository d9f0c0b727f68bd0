# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Hidden Markov model inference and sampling (csrc/hmm/)
"""
from __future__ import annotations
import numpy
__all__: list[str] = ['e_step_diag', 'e_step_full', 'e_step_gmm_diag', 'e_step_gmm_full', 'e_step_poisson', 'forward_backward', 'forward_backward_categorical', 'forward_backward_diag', 'forward_backward_full', 'forward_backward_gmm_diag', 'forward_backward_gmm_full', 'forward_backward_log', 'forward_backward_poisson', 'sample_poisson', 'sample_states', 'viterbi', 'viterbi_categorical', 'viterbi_diag', 'viterbi_full', 'viterbi_gmm_diag', 'viterbi_gmm_full', 'viterbi_poisson']
def e_step_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, offsets: numpy.ndarray, want_xi: bool = True) -> tuple:
    """
    One EM E-step, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, w_sum[C], wx[C,D], wxx) (weighted_moments of the posteriors: order 1 (diag, wxx[C,D]), 2 (full, wxx[C,D,D]), 0 (poisson, wxx None); C = K, or K * n_mix for gmm_*: the components' posteriors).
    """
def e_step_full(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, offsets: numpy.ndarray, want_xi: bool = True) -> tuple:
    """
    One EM E-step, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, w_sum[C], wx[C,D], wxx) (weighted_moments of the posteriors: order 1 (diag, wxx[C,D]), 2 (full, wxx[C,D,D]), 0 (poisson, wxx None); C = K, or K * n_mix for gmm_*: the components' posteriors).
    """
def e_step_gmm_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, log_weights: numpy.ndarray, offsets: numpy.ndarray, want_xi: bool = True) -> tuple:
    """
    One EM E-step, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, w_sum[C], wx[C,D], wxx) (weighted_moments of the posteriors: order 1 (diag, wxx[C,D]), 2 (full, wxx[C,D,D]), 0 (poisson, wxx None); C = K, or K * n_mix for gmm_*: the components' posteriors).
    """
def e_step_gmm_full(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, log_weights: numpy.ndarray, offsets: numpy.ndarray, want_xi: bool = True) -> tuple:
    """
    One EM E-step, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, w_sum[C], wx[C,D], wxx) (weighted_moments of the posteriors: order 1 (diag, wxx[C,D]), 2 (full, wxx[C,D,D]), 0 (poisson, wxx None); C = K, or K * n_mix for gmm_*: the components' posteriors).
    """
def e_step_poisson(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, lambdas: numpy.ndarray, offsets: numpy.ndarray, want_xi: bool = True) -> tuple:
    """
    One EM E-step, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, w_sum[C], wx[C,D], wxx) (weighted_moments of the posteriors: order 1 (diag, wxx[C,D]), 2 (full, wxx[C,D,D]), 0 (poisson, wxx None); C = K, or K * n_mix for gmm_*: the components' posteriors).
    """
def forward_backward(startprob: numpy.ndarray, transmat: numpy.ndarray, frame_logprob: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    Scaled forward/backward -> (logprob[S], posteriors[N,K] or None, xi_sum[K,K] or None).
    """
def forward_backward_categorical(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, log_emission: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    forward_backward with categorical emissions read by symbol inside the pass (emissions.categorical_logprob's rows), same outputs.
    """
def forward_backward_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    forward_backward with diagonal Gaussian emissions computed inside the pass (emissions.gaussian_logprob_diag's densities), same outputs.
    """
def forward_backward_full(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    forward_backward with full (K factors) or tied (1) Gaussian emissions computed inside the pass (emissions.gaussian_logprob_full's densities), same outputs.
    """
def forward_backward_gmm_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, log_weights: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    forward_backward with mixtures of diag Gaussians per state computed inside the pass (emissions.mixture_logprob of the components' densities), same outputs.
    """
def forward_backward_gmm_full(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, log_weights: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    forward_backward with mixtures of full Gaussians per state computed inside the pass (emissions.mixture_logprob of the components' densities), same outputs.
    """
def forward_backward_log(startprob: numpy.ndarray, transmat: numpy.ndarray, frame_logprob: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    Log-domain forward/backward, same contract as forward_backward.
    """
def forward_backward_poisson(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, lambdas: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    forward_backward with Poisson emissions computed inside the pass (emissions.poisson_logprob's), same outputs.
    """
def sample_poisson(lambdas: numpy.ndarray, seed: int, stream: int) -> numpy.ndarray:
    ...
def sample_states(startprob: numpy.ndarray, transmat: numpy.ndarray, n_samples: int, seed: int, stream: int) -> numpy.ndarray:
    ...
def viterbi(startprob: numpy.ndarray, transmat: numpy.ndarray, frame_logprob: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    Most likely state paths -> (logprob[S], states[N]).
    """
def viterbi_categorical(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, log_emission: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    viterbi with categorical emissions read by symbol inside the pass.
    """
def viterbi_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    viterbi with diagonal Gaussian emissions computed inside the pass.
    """
def viterbi_full(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    viterbi with full (K factors) or tied (1) Gaussian emissions computed inside the pass.
    """
def viterbi_gmm_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, log_weights: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    viterbi with mixtures of diag Gaussians per state computed inside the pass.
    """
def viterbi_gmm_full(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, prec_chol: numpy.ndarray, log_weights: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    viterbi with mixtures of full Gaussians per state computed inside the pass.
    """
def viterbi_poisson(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, lambdas: numpy.ndarray, offsets: numpy.ndarray) -> tuple:
    """
    viterbi with Poisson emissions computed inside the pass.
    """
