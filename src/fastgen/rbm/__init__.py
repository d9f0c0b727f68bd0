"""Restricted Boltzmann machines and deep belief nets on C++ and CUDA kernels.

``BernoulliRBM`` (a drop-in for ``sklearn.neural_network.BernoulliRBM``), ``GaussianBernoulliRBM``
and ``DBN``; ``ais_betas`` builds the inverse-temperature schedule of annealed importance sampling.
"""
from ._dbn import DBN
from ._likelihood import ais_betas
from ._models import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM", "DBN", "ais_betas"]
