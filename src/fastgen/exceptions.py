"""The exceptions and warnings fastgen raises, one class each, shared by every family.

The names and bases follow the peers, so code written for them catches fastgen's too:
``NotFittedError`` (a ValueError and an AttributeError), ``InvalidParameterError`` (a ValueError and
a TypeError) and ``ConvergenceWarning`` (a UserWarning) are scikit-learn's. When scikit-learn is
loaded, fastgen raises them as subclasses of scikit-learn's own classes as well, so
``except sklearn.exceptions.NotFittedError`` and ``warnings.filterwarnings("ignore",
category=sklearn.exceptions.ConvergenceWarning)`` see them, without fastgen importing scikit-learn
(code that names scikit-learn's class has imported it already).
"""
from __future__ import annotations

import functools
import sys

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


# fastgen class name -> (module, class name) of scikit-learn's class of the same meaning.
_PEERS = {
    "NotFittedError": ("sklearn.exceptions", "NotFittedError"),
    "InvalidParameterError": ("sklearn.utils._param_validation", "InvalidParameterError"),
    "ConvergenceWarning": ("sklearn.exceptions", "ConvergenceWarning"),
}


def peer_compatible(cls: type) -> type:
    """`cls`, or while scikit-learn is loaded a subclass of `cls` and of scikit-learn's class of the
    same meaning: what fastgen raises and warns with. ``except`` and warning filters match by real
    inheritance, so the class must derive from scikit-learn's; looking in ``sys.modules`` instead of
    importing keeps scikit-learn out of fastgen's import."""
    module, name = _PEERS.get(cls.__name__, (None, None))
    peer = getattr(sys.modules.get(module), name, None) if module else None
    return _joined(cls, peer) if isinstance(peer, type) and not issubclass(cls, peer) else cls


@functools.lru_cache(maxsize=None)
def _joined(cls: type, peer: type) -> type:
    return type(cls.__name__, (cls, peer), {"__module__": __name__, "__qualname__": cls.__qualname__,
                                           "__doc__": cls.__doc__, "__reduce__": _reduce})


def _reduce(exc):
    # Pickles by name (joblib sends a worker's exception to the parent), rebuilt with the peer there.
    return _rebuild, (type(exc).__mro__[1].__name__, exc.args)


def _rebuild(name, args):
    return peer_compatible(globals()[name])(*args)
