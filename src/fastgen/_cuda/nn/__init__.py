"""``fastgen._cuda.nn``: the twin of ``_core.nn``: the MLP engine's kernels (``nn.py``), the gradient
penalty (``nn_penalty.py``) and the fused training steps (``nn_steps.py``). The MLP engine they run on
(products and network walks, row-wise kernels, the network description, optimisers) is
``fastgen._cuda.common.mlp``, shared with the MADE kernels; ``nn_dense`` names its dense layers here
(``nn_dense.geometry`` is the tile shape of every product). ``batches.py``: row gathers and joins
(minibatches, importance samples) and the importance-weighted bound."""
from ..common.mlp import dense as nn_dense  # noqa: F401
from .batches import iwae_bound, repeat_join, take_rows
from .nn import (adam_update, bce_logits, gaussian_kl_reparam, gaussian_kl_reparam_backward, gaussian_nll,
                 mlp_backward, mlp_forward, mlp_predict, sgd_update)
from .nn_penalty import mlp_penalty_backward
from .nn_steps import gan_step, mlp_step, vae_step

__all__ = ["mlp_forward", "mlp_predict", "mlp_backward", "mlp_penalty_backward", "bce_logits", "gaussian_nll",
           "gaussian_kl_reparam", "gaussian_kl_reparam_backward", "adam_update", "sgd_update", "mlp_step",
           "vae_step", "gan_step", "take_rows", "repeat_join", "iwae_bound"]
