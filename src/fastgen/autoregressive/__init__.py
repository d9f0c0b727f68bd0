"""Autoregressive models: linear AR/VAR for time series, MADE for neural density estimation, and a
decoding kernel (greedy, temperature, top-k, top-p) for categorical autoregressive outputs.

- ``AR``, ``VAR``: fit by OLS or Yule-Walker, forecast with standard errors, Monte-Carlo
  simulation, Gaussian log-likelihood, order selection; ``AR.fit_many`` fits thousands of
  independent series in one kernel call (an ``ARBatch``).
- ``MADE``: masked autoencoder for distribution estimation (Bernoulli, categorical and
  mixture-of-Gaussians outputs) with exact ``score_samples`` and incremental ``sample``.
- ``sample_logits``: batched sampling from categorical logits with the Philox generator.
"""
from ._ar_batch import ARBatch  # noqa: F401
from ._ar import AR  # noqa: F401
from ._var import VAR  # noqa: F401
from ..exceptions import StationarityWarning  # noqa: F401
from ._decoding import sample_logits  # noqa: F401
from ._made import MADE  # noqa: F401

__all__ = ["AR", "VAR", "ARBatch", "StationarityWarning", "MADE", "sample_logits"]
