"""``fastgen._cuda.emissions``: the twin of ``_core.emissions`` (shared by hmm and mixture): emission
log-densities (``emissions.py``), sufficient statistics and the mixture log-sum-exp (``stats.py``)."""
from .emissions import categorical_logprob, gaussian_logprob_diag, gaussian_logprob_full, poisson_logprob
from .stats import categorical_counts, mixture_logprob, mixture_posteriors, sum_rows, weighted_moments

__all__ = ["categorical_logprob", "gaussian_logprob_diag", "gaussian_logprob_full", "poisson_logprob",
           "mixture_logprob", "mixture_posteriors", "weighted_moments", "categorical_counts", "sum_rows"]
