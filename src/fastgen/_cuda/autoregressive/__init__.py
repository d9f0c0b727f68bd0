"""``fastgen._cuda.autoregressive``: the twin of ``_core.autoregressive``: linear AR/VAR (``ar.py``:
the work items and OLS; ``ar_yw.py``: Yule-Walker and SSE; ``ar_forecast.py``: forecasts and
simulation; ``ar_linalg.py``: small dense algebra), MADE training and exact likelihood
(``made.py``), the MADE sampler (``made_sample.py``) and the decoding of categorical outputs
(``decoding.py``). The MLP engine of the MADE kernels is ``common/mlp/`` (shared with nn)."""
from .ar import ar_ols
from .ar_forecast import ar_forecast, ar_simulate
from .ar_yw import ar_sse, ar_yule_walker
from .decoding import sample_logits
from .made import categorical_nll, gaussian_mixture_nll, made_logprob, made_step
from .made_sample import made_sample

__all__ = ["ar_ols", "ar_yule_walker", "ar_sse", "ar_forecast", "ar_simulate", "made_step", "made_logprob",
           "made_sample", "categorical_nll", "gaussian_mixture_nll", "sample_logits"]
