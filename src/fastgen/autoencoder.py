"""``Autoencoder``: the documented import path of ``fastgen.nn.Autoencoder``."""
from .nn import Autoencoder

__all__ = ["Autoencoder"]
