# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
Hidden Markov model inference and sampling (csrc/hmm/)
"""
from __future__ import annotations
import numpy
__all__: list[str] = ['e_step_diag', 'forward_backward', 'forward_backward_categorical', 'forward_backward_diag', 'forward_backward_log', 'sample_poisson', 'sample_states', 'viterbi', 'viterbi_categorical', 'viterbi_diag']
def e_step_diag(startprob: numpy.ndarray, transmat: numpy.ndarray, X: numpy.ndarray, means: numpy.ndarray, precisions: numpy.ndarray, offsets: numpy.ndarray, want_xi: bool = True) -> tuple:
    """
    One EM E-step with diagonal Gaussian emissions, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, w_sum[K], wx[K,D], wxx[K,D]) (weighted_moments order 1 of the posteriors).
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
def forward_backward_log(startprob: numpy.ndarray, transmat: numpy.ndarray, frame_logprob: numpy.ndarray, offsets: numpy.ndarray, want_posteriors: bool = True, want_xi: bool = True) -> tuple:
    """
    Log-domain forward/backward, same contract as forward_backward.
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
