"""fastgen's neural-network engine: MLP specs, optimisers and the training loop of the nn family.

Not an autograd: a fixed-purpose set of kernels (csrc/KERNELS.md, "Neural networks": forward and
backward passes of multilayer perceptrons, the VAE/GAN losses, Adam and SGD, and fused training
steps) that ``fastgen.vae``, ``fastgen.gan`` and ``fastgen.autoencoder`` drive.

- ``MLP``: layer sizes, activations (names -> the contract's codes), leaky slope, the flat
  parameter layout with views of each W_l and b_l, torch's default initialisation.
- ``Adam``, ``SGD``: optimiser hyper-parameters -> the kernels' ``optimizer`` code and ``hp`` array.
- ``Engine``: kernel dispatch on "cpu", "cuda" or "auto" (device arrays on CUDA, no silent
  fallback); ``Trainable``: one network's parameters and optimiser state on the device;
  ``publish``: copy the trained parameters back, refusing non-finite ones.
- ``run_epochs``, ``Streams``: the shared minibatch loop (permutations, Philox stream bookkeeping,
  loss history, progress bar, divergence errors).
"""
from .engine import Engine, Trainable, publish
from .mlp import ACTIVATIONS, MLP, activation_code
from .optim import SGD, Adam, make_optimizer
from .training import Streams, run_epochs

__all__ = ["ACTIVATIONS", "MLP", "activation_code", "Adam", "SGD", "make_optimizer", "Engine", "Trainable", "publish",
           "Streams", "run_epochs"]
