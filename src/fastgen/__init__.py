"""fastgen: generative models on hand-optimised C++ and CUDA kernels.

Families (each a subpackage with the same name in every layer: estimators here, kernels in
``csrc/<family>/``, CUDA twins in ``fastgen._cuda.<family>``, tests in ``tests/<family>/``):
``fastgen.hmm``, ``fastgen.mixture``, ``fastgen.rbm``, ``fastgen.nn`` (``VAE``, ``GAN``,
``Autoencoder``; also at ``fastgen.vae``, ``fastgen.gan``, ``fastgen.autoencoder``) and
``fastgen.autoregressive``. Every estimator takes ``device="auto"`` (a usable CUDA GPU, else the
CPU; ``"cpu"`` and ``"cuda"`` force one, and CUDA without a GPU is an error) and a ``dtype``.
"""
__version__ = "0.1.0"

from . import autoencoder, autoregressive, exceptions, gan, hmm, mixture, nn, rbm, vae  # noqa: E402
from ._threads import get_num_threads, set_num_threads  # noqa: E402
from .autoregressive import AR, MADE, VAR, ARBatch, sample_logits  # noqa: E402
from .exceptions import ConvergenceWarning, InvalidParameterError, NotFittedError, StationarityWarning  # noqa: E402
from .hmm import GMMHMM, CategoricalHMM, GaussianHMM, PoissonHMM  # noqa: E402
from .mixture import BayesianGaussianMixture, GaussianMixture  # noqa: E402
from .nn import GAN, VAE, Autoencoder  # noqa: E402
from .rbm import DBN, BernoulliRBM, GaussianBernoulliRBM  # noqa: E402

__all__ = [
    # families
    "hmm", "mixture", "rbm", "nn", "vae", "gan", "autoencoder", "autoregressive", "exceptions",
    # estimators
    "CategoricalHMM", "GaussianHMM", "GMMHMM", "PoissonHMM", "GaussianMixture", "BayesianGaussianMixture",
    "BernoulliRBM", "GaussianBernoulliRBM", "DBN", "VAE", "GAN", "Autoencoder", "AR", "VAR", "ARBatch", "MADE",
    "sample_logits",
    # exceptions and warnings
    "NotFittedError", "InvalidParameterError", "ConvergenceWarning", "StationarityWarning",
    # threads
    "set_num_threads", "get_num_threads",
    "__version__",
]
