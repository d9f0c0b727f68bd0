"""CUDA kernels (Numba): the GPU twin of the C++ extension ``fastgen._core``.

Every function of the kernel contract (``csrc/KERNELS.md``) with the same name, arguments and
results as on the CPU. Inputs are NumPy arrays (copied to the device once) or device arrays
(``__cuda_array_interface__``: Numba, CuPy, PyTorch; used in place); results are Numba device
arrays (``fastgen._backend.to_host`` copies them back). Importing this package compiles nothing
and needs no GPU: kernels are compiled for each dtype at their first launch. Under
``NUMBA_ENABLE_CUDASIM=1`` they run in Numba's CUDA simulator.
"""
from .decoding import sample_logits
from .made_sample import made_sample
from .emissions import categorical_logprob, gaussian_logprob_diag, gaussian_logprob_full, poisson_logprob
from .gmm import kmeans_assign, kmeans_plusplus, mixture_responsibilities, sample_gaussian_mixture
from .hmm import forward_backward, forward_backward_log, sample_poisson, sample_states, viterbi
from .nn import (adam_update, bce_logits, gaussian_kl_reparam, gaussian_kl_reparam_backward, gaussian_nll,
                 mlp_backward, mlp_forward, mlp_predict, sgd_update)
from .nn_penalty import mlp_penalty_backward
from .nn_steps import gan_step, mlp_step, vae_step
from .rbm import (rbm_ais, rbm_cd_update, rbm_free_energy, rbm_gibbs_hvh, rbm_gibbs_vhv, rbm_hidden_probs,
                  rbm_log_partition, rbm_pseudo_likelihood, rbm_sample_hiddens, rbm_sample_visibles, rbm_visible_means)
from .rng import normal, philox4x32, uniform
from .stats import categorical_counts, mixture_logprob, mixture_posteriors, sum_rows, weighted_moments
from .ar import ar_forecast, ar_ols, ar_simulate, ar_sse, ar_yule_walker

__all__ = [
    # random numbers
    "philox4x32", "uniform", "normal",
    # emission log-likelihoods
    "categorical_logprob", "gaussian_logprob_diag", "gaussian_logprob_full", "poisson_logprob",
    # HMM inference and sampling
    "forward_backward", "forward_backward_log", "viterbi", "sample_states", "sample_poisson",
    # sufficient statistics and mixture emissions (stats.py)
    "weighted_moments", "categorical_counts", "sum_rows", "mixture_logprob", "mixture_posteriors",
    # Gaussian mixtures (gmm.py)
    "mixture_responsibilities", "kmeans_plusplus", "kmeans_assign", "sample_gaussian_mixture",
    # restricted Boltzmann machines (rbm.py)
    "rbm_hidden_probs", "rbm_visible_means", "rbm_sample_hiddens", "rbm_sample_visibles", "rbm_gibbs_vhv",
    "rbm_gibbs_hvh", "rbm_cd_update", "rbm_free_energy", "rbm_pseudo_likelihood", "rbm_log_partition", "rbm_ais",
    # neural networks (nn.py, nn_penalty.py, nn_steps.py)
    "mlp_forward", "mlp_predict", "mlp_backward", "mlp_penalty_backward", "bce_logits", "gaussian_nll", "gaussian_kl_reparam",
    "gaussian_kl_reparam_backward", "adam_update", "sgd_update", "mlp_step", "vae_step", "gan_step",
    # linear autoregressive models (ar.py)
    "ar_ols", "ar_yule_walker", "ar_sse", "ar_forecast", "ar_simulate",
    # decoding of categorical outputs (decoding.py) and the MADE sampler (made_sample.py)
    "sample_logits", "made_sample",
]
from .made import categorical_nll, gaussian_mixture_nll, made_logprob, made_step  # noqa: E402

__all__ += ["categorical_nll", "gaussian_mixture_nll", "made_step", "made_logprob"]  # MADE (made.py)
