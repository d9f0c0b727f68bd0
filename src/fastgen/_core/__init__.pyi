# Type stub of the compiled extension (csrc/): written by pybind11-stubgen 3.0.0 from the built module,
# array types shortened to numpy.ndarray (dtype and shape: csrc/KERNELS.md). Regenerate after changing a binding:
#   pybind11-stubgen fastgen._core -o <dir>  (then shorten the same way)
"""
fastgen C++ kernels (contract: csrc/KERNELS.md): one submodule per family, the same names as fastgen._cuda
"""
from __future__ import annotations
from . import rng
from . import emissions
from . import hmm
from . import mixture
from . import rbm
from . import nn
from . import autoregressive
from . import threads
__all__: list[str] = ['autoregressive', 'emissions', 'hmm', 'mixture', 'nn', 'rbm', 'rng', 'threads']
