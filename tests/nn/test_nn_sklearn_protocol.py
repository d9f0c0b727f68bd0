"""The nn estimators (and MADE, on the same engine) in scikit-learn's tools (issue 13): output feature
names and ``set_output`` for the transformers (Autoencoder, VAE), estimator tags that say what the
models accept (scipy.sparse input is densified; transform returns the model dtype), feature-count
errors worded as scikit-learn's with the estimator's name, and inference that leaves the model's
attributes as they were. scikit-learn's full estimator checks run in tests/common/test_sklearn_checks.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgen import GAN, MADE, VAE, Autoencoder

pytest.importorskip("sklearn", minversion="1.6")
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402

SMALL = {
    Autoencoder: dict(encoder_layers=(8,), latent_dim=3),
    VAE: dict(encoder_layers=(8,), latent_dim=3, likelihood="gaussian"),
    GAN: dict(generator_layers=(8,), discriminator_layers=(8,), latent_dim=2),
    MADE: dict(hidden_layer_sizes=(8,), output="gaussian_mixture", n_components=2),
}


def _small(cls, **kw):
    return cls(**{**SMALL[cls], "max_epochs": 2, "batch_size": 16, "random_state": 0, "device": "cpu", **kw})


def _data(n=40, d=5):
    return np.random.default_rng(7).normal(size=(n, d))


@pytest.mark.parametrize("cls, prefix", [(Autoencoder, "autoencoder"), (VAE, "vae")])
def test_transformers_name_their_columns_and_set_output(cls, prefix):
    pd = pytest.importorskip("pandas")
    X = _data()
    pipe = make_pipeline(StandardScaler(), _small(cls)).set_output(transform="pandas")
    out = pipe.fit_transform(pd.DataFrame(X, index=np.arange(10, 50)))
    names = [f"{prefix}{i}" for i in range(3)]
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names and list(out.index) == list(range(10, 50))
    assert list(pipe[-1].get_feature_names_out()) == names
    assert_array_equal(out.to_numpy(), clone(pipe).set_output(transform="default").fit_transform(X))
    assert isinstance(clone(pipe).fit(X).transform(X), pd.DataFrame)   # clone keeps the setting


@pytest.mark.parametrize("cls", [Autoencoder, VAE, GAN, MADE])
def test_tags_say_what_the_models_accept(cls):
    tags = get_tags(_small(cls))
    assert tags.input_tags.sparse is True   # densified, as the RBMs and scikit-learn's BernoulliRBM take CSR
    assert tags.target_tags.required is False
    assert tags.estimator_type == ("density_estimator" if cls in (VAE, MADE) else None)
    if cls in (Autoencoder, VAE):
        assert tags.transformer_tags.preserves_dtype == ["float32"]
        assert get_tags(_small(cls, dtype=np.float64)).transformer_tags.preserves_dtype == ["float64"]
    else:
        assert tags.transformer_tags is None


@pytest.mark.parametrize("cls", [Autoencoder, VAE, GAN, MADE])
def test_sparse_input_fits_as_dense(cls):
    sparse = pytest.importorskip("scipy.sparse")
    X = _data()
    X[X < 0] = 0   # some zeros to store sparsely
    dense, from_csr = _small(cls).fit(X), _small(cls).fit(sparse.csr_matrix(X))
    assert_array_equal(from_csr.loss_curve_, dense.loss_curve_)


@pytest.mark.parametrize("cls", [Autoencoder, VAE, GAN, MADE])
def test_feature_count_errors_name_the_estimator_and_inference_keeps_the_model(cls):
    X = _data()
    m = _small(cls).fit(X)
    method = {GAN: "discriminate", Autoencoder: "transform"}.get(cls, "score_samples")
    with pytest.raises(ValueError, match=f"X has 4 features, but {cls.__name__} is expecting 5 features as input"):
        getattr(m, method)(X[:, :4])
    before = dict(m.__dict__)
    getattr(m, method)(X)
    assert m.__dict__ == before
