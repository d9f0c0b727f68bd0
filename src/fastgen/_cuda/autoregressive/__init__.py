"""``fastgen._cuda.autoregressive``: the twin of ``_core.autoregressive``: linear AR/VAR (``ar.py``,
``ar_linalg.py``), MADE training and exact likelihood (``made.py``), the MADE sampler
(``made_sample.py``) and the decoding of categorical outputs (``decoding.py``)."""
from .ar import ar_forecast, ar_ols, ar_simulate, ar_sse, ar_yule_walker
from .decoding import sample_logits
from .made import categorical_nll, gaussian_mixture_nll, made_logprob, made_step
from .made_sample import made_sample

__all__ = ["ar_ols", "ar_yule_walker", "ar_sse", "ar_forecast", "ar_simulate", "made_step", "made_logprob",
           "made_sample", "categorical_nll", "gaussian_mixture_nll", "sample_logits"]
