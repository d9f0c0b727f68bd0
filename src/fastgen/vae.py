"""``VAE``: the documented import path of ``fastgen.nn.VAE``."""
from .nn import VAE

__all__ = ["VAE"]
