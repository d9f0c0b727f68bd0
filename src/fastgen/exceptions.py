"""The exceptions and warnings fastgen raises, one class each, shared by every family.

The names and bases follow the peers, so code written for them catches fastgen's too:
``NotFittedError``, ``InvalidParameterError`` and ``ConvergenceWarning`` are scikit-learn's
(``sklearn.exceptions``, ``sklearn.utils._param_validation``).
"""
from __future__ import annotations

__all__ = ["NotFittedError", "InvalidParameterError", "ConvergenceWarning", "StationarityWarning"]


class NotFittedError(ValueError, AttributeError):
    """An estimator is used before ``fit`` (scikit-learn's: a ValueError and an AttributeError, so
    ``hasattr`` checks and hmmlearn-style ``except AttributeError`` still work)."""


class InvalidParameterError(ValueError, TypeError):
    """A constructor argument outside what the estimator accepts, found by ``fit`` (scikit-learn's:
    a ValueError and a TypeError)."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at its iteration limit before its tolerance was met."""


class StationarityWarning(RuntimeWarning):
    """A fitted AR/VAR is not stationary: its companion matrix has an eigenvalue of modulus >= 1."""
