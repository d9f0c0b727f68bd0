"""Gaussian mixtures: a drop-in for ``sklearn.mixture`` on C++ and CUDA kernels.

``GaussianMixture`` (EM) and ``BayesianGaussianMixture`` (variational inference) take
scikit-learn's arguments and set its attributes, plus ``device`` and ``dtype``.
"""
from ..exceptions import ConvergenceWarning, NotFittedError
from ._models import BayesianGaussianMixture, GaussianMixture

__all__ = ["GaussianMixture", "BayesianGaussianMixture", "ConvergenceWarning", "NotFittedError"]
