"""MADE suites: one training step, fastgen (CPU, CUDA) against PyTorch CPU (2 threads), from identical
weights, masks and data (models and steps: made_steps.py).

MT1  Bernoulli MADE 784-500-784, batch 100                     (binarised-MNIST size; GEMM-bound)
MT2  categorical MADE, 64 variables x 17 categories (one-hot 1088-500-1088), batch 100
     (the 8x8 digits' 0..16 values; fastgen's first layer runs from the indices)
"""
from __future__ import annotations

from . import made_steps

IMPLEMENTATIONS = made_steps.MADE_IMPLEMENTATIONS


class _StepSuite:
    number = 20
    repeat = (3, 10, 30.0)
    warmup_time = 0.0
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]
    shape = None

    def setup(self, impl):
        made_steps.require_made(impl)
        self.step = made_steps.made_step(impl, self.shape)
        for _ in range(3):  # first calls load (on CUDA: compile) the kernels and fault in the buffers
            self.step()

    def time_step(self, impl):
        self.step()


class MT1BernoulliStep(_StepSuite):
    shape = made_steps.SHAPES["MT1"]


class MT2CategoricalStep(_StepSuite):
    shape = made_steps.SHAPES["MT2"]
