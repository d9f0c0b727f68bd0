"""CUDA kernels (Numba): the GPU twin of the C++ extension ``fastgen._core``.

One submodule per family, as on the CPU: ``fastgen._cuda.<family>.<name>`` has the same name,
arguments and results as ``fastgen._core.<family>.<name>`` (contract: ``csrc/KERNELS.md``):
``rng`` (Philox), ``emissions`` (emission densities and sufficient statistics, shared by hmm and
mixture), ``hmm``, ``mixture``, ``rbm``, ``nn``, ``autoregressive``; ``common`` holds what they share.
Inputs are NumPy arrays (copied to the device once) or device arrays (``__cuda_array_interface__``:
Numba, CuPy, PyTorch; used in place); results are Numba device arrays (``fastgen._backend.to_host``
copies them back). Importing this package compiles nothing and needs no GPU: kernels are compiled
for each dtype at their first launch. Under ``NUMBA_ENABLE_CUDASIM=1`` they run in Numba's CUDA
simulator.
"""
from . import autoregressive, common, emissions, hmm, mixture, nn, rbm, rng

__all__ = ["rng", "emissions", "hmm", "mixture", "rbm", "nn", "autoregressive", "common"]
