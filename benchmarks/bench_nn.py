"""nn suites: one training step of a VAE or a GAN, fastgen (CPU, CUDA) against PyTorch CPU
(2 threads), from identical weights on identical data (models and steps: nn_steps.py).

V1  VAE 784-512-(2x32) / 32-512-784, batch 128      (wide: GEMM-bound)
V2  VAE 16-64-64-(2x8) / 8-64-64-16, batch 256      (narrow: overhead-bound)
N1  GAN G 64-256-256-784, D 784-256-256-1, batch 128
N2  GAN G 16-64-64-16, D 16-64-64-1, batch 256
Targets (issue 5): V1/N1 not slower than PyTorch, V2/N2 at least 5x faster.
"""
from __future__ import annotations

from . import nn_steps

IMPLEMENTATIONS = nn_steps.NN_IMPLEMENTATIONS


class _StepSuite:
    number = 20
    repeat = (3, 10, 30.0)
    warmup_time = 0.0
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]
    build = None
    shape = None

    def setup(self, impl):
        nn_steps.require_nn(impl)
        self.step = type(self).build(impl, self.shape)
        for _ in range(3):  # first calls load (on CUDA: compile) the kernels and fault in the buffers
            self.step()

    def time_step(self, impl):
        self.step()


class V1VAEStep(_StepSuite):
    shape = nn_steps.VAE_SHAPES["V1"]
    build = staticmethod(nn_steps.vae_step)


class V2VAEStep(_StepSuite):
    number = 100
    shape = nn_steps.VAE_SHAPES["V2"]
    build = staticmethod(nn_steps.vae_step)


class N1GANStep(_StepSuite):
    shape = nn_steps.GAN_SHAPES["N1"]
    build = staticmethod(nn_steps.gan_step)


class N2GANStep(_StepSuite):
    number = 100
    shape = nn_steps.GAN_SHAPES["N2"]
    build = staticmethod(nn_steps.gan_step)
