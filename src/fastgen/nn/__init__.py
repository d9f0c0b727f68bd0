"""Neural generative models on fastgen's fused MLP engine: ``VAE``, ``GAN`` and ``Autoencoder``.

Not an autograd: a fixed-purpose set of kernels (``csrc/KERNELS.md``, "Neural networks": forward
and backward passes of multilayer perceptrons, the VAE/GAN losses, Adam and SGD, and fused training
steps, one kernel call per step). The engine's pieces are private: ``_mlp`` (layer sizes,
activations, the flat parameter layout, torch's default initialisation), ``_optim`` (Adam, SGD),
``_engine`` (parameters and optimiser state on the device), ``_training`` (the minibatch loop).
``fastgen.vae``, ``fastgen.gan`` and ``fastgen.autoencoder`` are the same classes under their
documented paths.
"""
from ._autoencoder import Autoencoder
from ._gan import GAN
from ._vae import VAE

__all__ = ["VAE", "GAN", "Autoencoder"]
