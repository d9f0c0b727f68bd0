"""``fastgen._cuda.nn``: the twin of ``_core.nn``: the MLP engine's kernels (``nn.py``), the gradient
penalty (``nn_penalty.py``) and the fused training steps (``nn_steps.py``); ``nn_dense``,
``nn_elementwise`` and ``nn_net`` are their building blocks (also used by the MADE kernels)."""
from .nn import (adam_update, bce_logits, gaussian_kl_reparam, gaussian_kl_reparam_backward, gaussian_nll,
                 mlp_backward, mlp_forward, mlp_predict, sgd_update)
from .nn_penalty import mlp_penalty_backward
from .nn_steps import gan_step, mlp_step, vae_step

__all__ = ["mlp_forward", "mlp_predict", "mlp_backward", "mlp_penalty_backward", "bce_logits", "gaussian_nll",
           "gaussian_kl_reparam", "gaussian_kl_reparam_backward", "adam_update", "sgd_update", "mlp_step",
           "vae_step", "gan_step"]
