"""Declarative hyper-parameter constraints (scikit-learn's ``_parameter_constraints`` idea).

An estimator class lists, per constructor argument, what it accepts; ``BaseEstimator._validate_params``
checks every listed argument in ``fit`` (and in the methods that resolve the backend) and raises
``InvalidParameterError`` naming the argument, what it accepts and what it got. A constraint is an
``Interval``, an ``Options`` set, a type, ``None`` (the value may be None) or one of the names
"boolean", "random_state", "array-like", "sequence" (any iterable but a string:
lists, tuples, ranges, arrays; e.g. layer sizes, whose entries the estimator checks itself).
``device`` and ``dtype`` are not declared: ``fastgen._backend.Backend`` checks them, with the same
messages in every family.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from .exceptions import InvalidParameterError, peer_compatible

__all__ = ["Interval", "Options", "validate_params"]


class Interval:
    """Numbers of `kind` (``numbers.Integral`` or ``numbers.Real``) in [low, high], each end open
    or closed by `closed` ("both", "left", "right", "neither"); None leaves that end unbounded.
    Booleans and NaN are never accepted, infinities only with `allow_inf` (a tolerance of -inf
    that never stops a fit): an infinite rate or regularisation would fit NaN without a word."""

    def __init__(self, kind, low, high, *, closed="both", allow_inf=False):
        self.kind, self.low, self.high, self.closed, self.allow_inf = kind, low, high, closed, allow_inf

    def accepts(self, v) -> bool:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, self.kind) or v != v:
            return False
        if not self.allow_inf and v in (np.inf, -np.inf):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def __str__(self):
        what = "an integer" if self.kind is numbers.Integral else "a number"
        if self.low is None and self.high is None:
            return what
        if self.high is None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.low}"
        if self.low is None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.high}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"{what} in {left}{self.low}, {self.high}{right}"


class Options:
    """One of a fixed set of values (strings, usually)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, v) -> bool:
        return isinstance(v, (str, int, float)) and not isinstance(v, bool) and v in self.values

    def __str__(self):
        return f"one of {self.values}"


def _named(name):
    checks = {
        "boolean": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
        "random_state": (lambda v: v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool))
                         or isinstance(v, np.random.RandomState), "None, an int or a numpy RandomState"),
        "array-like": (lambda v: isinstance(v, (np.ndarray, list, tuple)) or hasattr(v, "__array__"), "an array"),
        "sequence": (lambda v: isinstance(v, Iterable) and not isinstance(v, (str, bytes)), "a sequence"),
    }
    return checks[name]


def _accepts(constraint, v):
    if constraint is None:
        return v is None, "None"
    if isinstance(constraint, str):
        check, text = _named(constraint)
        return check(v), text
    if isinstance(constraint, type):
        ok = isinstance(v, constraint) and not (constraint is not bool and isinstance(v, bool))
        return ok, f"a {constraint.__name__}"
    return constraint.accepts(v), str(constraint)


def validate_params(owner, constraints: dict) -> None:
    """Check each attribute of `owner` named in `constraints` against its list of accepted forms."""
    for name, allowed in constraints.items():
        value = getattr(owner, name)
        results = [_accepts(c, value) for c in allowed]
        if not any(ok for ok, _ in results):
            texts = [t for _, t in results]
            expected = texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]
            raise peer_compatible(InvalidParameterError)(f"{name}: expected {expected}, got {value!r}")
