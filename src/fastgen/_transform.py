"""scikit-learn's transformer conventions for fastgen's transformers (the RBMs, DBN, Autoencoder and
VAE), without depending on scikit-learn: output feature names, and ``set_output`` to get
``transform``'s result as a pandas or polars DataFrame (pipelines call it on every step)."""
from __future__ import annotations

import functools

import numpy as np

from ._validation import check_choice

_CONTAINERS = ("default", "pandas", "polars")


class TransformerMixin:
    """``get_feature_names_out`` and ``set_output`` for an estimator whose ``transform`` gives
    ``_n_features_out`` columns; ``transform`` and ``fit_transform`` of subclasses are wrapped to
    return the container chosen by ``set_output`` (scikit-learn's ``_SetOutputMixin`` does the same)."""

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: the lower-cased class name and the column index
        (``bernoullirbm0``, ``bernoullirbm1``, ...), scikit-learn's convention for components.

        Parameters
        ----------
        input_features : ignored
            Accepted for scikit-learn's API; the output columns do not follow the input's.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)

    def set_output(self, *, transform=None):
        """Choose the container ``transform`` and ``fit_transform`` return.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            "default": NumPy arrays; "pandas"/"polars": DataFrames with ``get_feature_names_out()``
            as columns (pandas keeps the input's index); None leaves the setting unchanged.

        Returns
        -------
        self
        """
        if transform is not None:
            self._output_container = check_choice(transform, "transform", _CONTAINERS)
        return self

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("transform", "fit_transform"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_wraps_output", False):
                setattr(cls, name, _wrap_output(method))


def _wrap_output(method):
    @functools.wraps(method)
    def wrapped(self, X, *args, **kwargs):
        out = method(self, X, *args, **kwargs)
        container = self.__dict__.get("_output_container", "default")
        if container == "default" or not isinstance(out, np.ndarray):
            return out  # a DataFrame already (an inner wrapped call) or the default container
        columns = list(self.get_feature_names_out())
        if container == "pandas":
            import pandas as pd
            index = getattr(X, "index", None)
            return pd.DataFrame(out, columns=columns, index=index if index is not None and len(index) == len(out)
                                else None)
        import polars as pl
        return pl.DataFrame(out, schema=columns)
    wrapped._wraps_output = True
    return wrapped
