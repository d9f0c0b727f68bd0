"""fastgen: generative models on hand-optimised C++ and CUDA kernels."""
__version__ = "0.1.0"

from . import hmm  # noqa: E402,F401
from . import mixture  # noqa: E402,F401
from . import rbm  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import autoencoder  # noqa: E402,F401
from . import gan  # noqa: E402,F401
from . import vae  # noqa: E402,F401
from . import autoregressive  # noqa: E402,F401
from ._threads import get_num_threads, set_num_threads  # noqa: E402,F401

__all__ = ["hmm", "mixture", "rbm", "nn", "autoencoder", "gan", "vae", "autoregressive", "set_num_threads", "get_num_threads",
           "__version__"]
