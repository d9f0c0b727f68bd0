"""fastgen: generative models on hand-optimised C++ and CUDA kernels."""
__version__ = "0.1.0"

from . import hmm  # noqa: E402,F401

__all__ = ["hmm", "__version__"]
