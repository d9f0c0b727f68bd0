"""scikit-learn's transformer conventions for fastgen's transformers (the RBMs, DBN, Autoencoder and
VAE), without depending on scikit-learn: output feature names, and ``set_output`` to get
``transform``'s result as a pandas or polars DataFrame (pipelines call it on every step).

The choice is kept where scikit-learn keeps it (``_sklearn_output_config``), so that ``clone`` (and
with it ``cross_val_score`` and ``GridSearchCV`` on a pipeline) carries it over; without a choice of
its own, a model follows scikit-learn's global ``transform_output`` when scikit-learn is loaded."""
from __future__ import annotations

import functools
import sys

import numpy as np

from ._validation import check_choice, check_dtype

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
            config = self.__dict__.setdefault("_sklearn_output_config", {})
            config["transform"] = check_choice(transform, "transform", _CONTAINERS)
        return self

    def _output_container(self):
        """set_output's choice, else scikit-learn's global one (only if scikit-learn is loaded:
        fastgen does not import it), else "default"."""
        config = self.__dict__.get("_sklearn_output_config", {})
        if "transform" in config:
            return config["transform"]
        sklearn = sys.modules.get("sklearn")
        return sklearn.get_config().get("transform_output", "default") if sklearn is not None else "default"

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
        container = self._output_container()
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


def densified_input_tags(tags, dtype):
    """scikit-learn tags of an estimator that densifies scipy.sparse input (scikit-learn's
    BernoulliRBM accepts CSR; fastgen's kernels take dense arrays) and computes in ``dtype``: its
    ``transform`` returns that dtype, so only inputs of that dtype keep theirs."""
    tags.input_tags.sparse = True
    if tags.transformer_tags is not None:
        try:
            tags.transformer_tags.preserves_dtype = [check_dtype(dtype).name]
        except TypeError:  # an invalid dtype argument: fit reports it
            tags.transformer_tags.preserves_dtype = []
    return tags
