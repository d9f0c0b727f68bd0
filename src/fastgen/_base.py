"""The one estimator base of every family: scikit-learn's estimator protocol and the fitted check.

Parameters are the constructor's arguments, stored unchanged under their own names (scikit-learn's
convention: validation happens in ``fit``), so ``clone``, pipelines and grid searches work on
fastgen models. ``_fitted_attr`` names the attribute ``fit`` sets last; using a model before it
exists raises ``fastgen.exceptions.NotFittedError`` (an AttributeError and a ValueError), with the
class's ``_fitted_hint`` saying what else makes it usable. ``_parameter_constraints`` declares what
each constructor argument accepts (``fastgen._params``); ``fit`` checks them all at once.

Fit history, one convention with the peers' names: every iterative estimator sets ``n_iter_`` (the
EM iterations or epochs its last fit ran) and keeps the per-iteration objective under the name its
peer uses: ``monitor_.history`` (HMMs, hmmlearn's ConvergenceMonitor), ``lower_bounds_`` (mixtures,
scikit-learn >= 1.6), ``loss_curve_`` (VAE, GAN, Autoencoder, MADE; scikit-learn's MLP), and
``score_curve_`` for RBMs (scikit-learn's has none; filled when ``verbose``, as the score costs a
pass over the data). Closed-form fits (AR, VAR) have no history.

Interrupted fits (Ctrl-C: the kernels stop within a fraction of a second and raise
KeyboardInterrupt): EM fits update their parameters all or nothing per iteration
(``_all_or_nothing``), so a model is never left half-updated. HMMs keep the parameters of their
last complete iteration (``n_iter_`` counts them), or the state before ``fit`` when none completed;
mixtures and RBMs return to the state before ``fit`` (a mixture's fit keeps the best of ``n_init``
runs, which an interrupted fit has not chosen).
"""
from __future__ import annotations

import contextlib
import inspect

import numpy as np

from ._params import validate_params
from .exceptions import NotFittedError, peer_compatible


class BaseEstimator:
    _fitted_attr: str = ""
    _fitted_hint: str = ""
    # {argument: [accepted forms]} (fastgen._params); subclasses extend their base's dict.
    _parameter_constraints: dict = {}
    # scikit-learn's estimator type: "density_estimator" for the mixtures, None where the peer has none.
    _estimator_type: str | None = None

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags, so that its tools (``get_tags``, ``clone``, pipelines,
        model selection, the estimator checks) accept fastgen models. Only scikit-learn calls this,
        so importing it here keeps it out of fastgen's own import."""
        from sklearn.utils import Tags, TargetTags, TransformerTags
        return Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags() if hasattr(self, "transform") else None)

    def __getstate__(self):
        """Pickle without the backend (``_backend``; the nn family's ``_engine``): a model fitted on a
        GPU loads anywhere, and its next call resolves ``device`` again."""
        state = self.__dict__.copy()
        state.pop("_backend", None)
        state.pop("_engine", None)
        return state

    def _snapshot(self):
        """The estimator's attributes, NumPy arrays copied, for ``_restore``. Other values are kept
        by reference: fits replace them (a new array, a new monitor), never change them in place."""
        return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self.__dict__.items()}

    def _restore(self, snapshot):
        self.__dict__.clear()
        self.__dict__.update(snapshot)

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """Restores every attribute as it was on entry when the block raises (KeyboardInterrupt
        included): an M-step interrupted half-way leaves the previous iteration's parameters."""
        snapshot = self._snapshot()
        try:
            yield
        except BaseException:
            self._restore(snapshot)
            raise

    @property
    def _kern(self):
        """The kernel module of the estimator's backend (``self._backend``, set by its set-up in
        ``fit`` and every method): ``fastgen._core`` or ``fastgen._cuda``, one submodule per family."""
        return self._backend.kernels

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """The constructor's arguments as a dict (scikit-learn's protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor arguments by name; unknown names raise ValueError. Returns self."""
        valid = self._get_param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__}; valid: {valid}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self):
        """Check the constructor arguments against ``_parameter_constraints`` (InvalidParameterError)."""
        validate_params(self, self._parameter_constraints)

    def _check_fitted(self, attr: str | None = None):
        attr = attr or self._fitted_attr
        if not hasattr(self, attr):
            hint = f", or {self._fitted_hint}" if self._fitted_hint else ""
            raise peer_compatible(NotFittedError)(f"This {type(self).__name__} instance is not fitted yet: call 'fit' with "
                                 f"appropriate arguments before using this estimator{hint}")
