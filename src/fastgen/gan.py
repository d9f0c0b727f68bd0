"""``GAN``: the documented import path of ``fastgen.nn.GAN``."""
from .nn import GAN

__all__ = ["GAN"]
