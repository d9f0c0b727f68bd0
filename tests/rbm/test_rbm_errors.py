"""Errors that name the cause (issue 14): a diverging RBM or DBN fit says so in the user's terms and
never leaves a non-finite model; oversized requests are refused before anything is allocated."""
import numpy as np
import pytest

from fastgen import DBN, BernoulliRBM, GaussianBernoulliRBM

DIVERGED = r"training diverged at epoch \d+(, step \d+)? .*learning rate is too large.*standardise X or lower learning_rate"


@pytest.fixture
def big():
    return np.random.default_rng(0).normal(size=(60, 4)) * 100


@pytest.mark.parametrize("algorithm", ["pcd", "cd"])
def test_learned_sigma_divergence_names_the_learning_rate(big, algorithm):
    m = GaussianBernoulliRBM(4, learn_sigma=True, learning_rate=1, n_iter=3, algorithm=algorithm,
                             random_state=0, device="cpu")
    with pytest.raises(FloatingPointError, match="GaussianBernoulliRBM: " + DIVERGED) as e:
        m.fit(big)
    assert "sigma:" not in str(e.value)
    assert not hasattr(m, "components_")   # an unfitted model stays unfitted


def test_divergence_keeps_the_previous_fit(big):
    m = GaussianBernoulliRBM(4, n_iter=2, random_state=0, device="cpu").fit(big / 100)
    before = m.components_.copy()
    m.set_params(learning_rate=1e30)
    with pytest.raises(FloatingPointError, match=DIVERGED):
        m.fit(big)
    np.testing.assert_array_equal(m.components_, before)
    with pytest.raises(FloatingPointError, match="diverged in partial_fit"):
        m.partial_fit(big * 1e10)
    np.testing.assert_array_equal(m.components_, before)


def test_first_partial_fit_divergence_leaves_the_model_unfitted(big):
    m = GaussianBernoulliRBM(4, learn_sigma=True, learning_rate=1e30, random_state=0, device="cpu")
    with pytest.raises(FloatingPointError, match="diverged in partial_fit"):
        m.partial_fit(big * 1e10)
    assert not hasattr(m, "components_")


def test_bernoulli_divergence(big):
    with pytest.raises(FloatingPointError, match="BernoulliRBM: " + DIVERGED):
        BernoulliRBM(4, learning_rate=1e30, n_iter=2, random_state=0, device="cpu").fit(big * 1e30)


def test_dbn_divergence_names_the_layer(big):
    dbn = DBN((4, 2), visible="gaussian", learning_rate=1e30, n_iter=2, random_state=0, device="cpu")
    with pytest.raises(FloatingPointError, match=r"DBN: training of layer 1 \(GaussianBernoulliRBM\) diverged"):
        dbn.fit(big)
    assert not hasattr(dbn, "rbms_")
