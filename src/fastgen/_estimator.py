"""scikit-learn's estimator protocol (get_params / set_params / repr), shared by every family.

Parameters are the constructor's arguments, stored unchanged under their own names (scikit-learn's
convention: validation happens in ``fit``), so ``clone`` and grid searches work on fastgen models.
"""
from __future__ import annotations

import inspect


class ParamsMixin:
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        valid = self._get_param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__}; valid: {valid}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
