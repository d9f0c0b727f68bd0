"""Hidden Markov models: a drop-in for ``hmmlearn.hmm`` on C++ and CUDA kernels.

``CategoricalHMM``, ``GaussianHMM`` (spherical, diag, full, tied), ``GMMHMM`` and ``PoissonHMM``
take hmmlearn's arguments and set its attributes, plus ``device`` and ``dtype``. Swap
``from hmmlearn import hmm`` for ``from fastgen import hmm``.
"""
from ._monitor import ConvergenceMonitor
from ._discrete import CategoricalHMM, PoissonHMM
from ._gaussian import GaussianHMM
from ._gmm import GMMHMM

__all__ = ["CategoricalHMM", "GaussianHMM", "GMMHMM", "PoissonHMM", "ConvergenceMonitor"]
