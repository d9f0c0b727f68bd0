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


# -- oversized requests: a ValueError naming the argument and the bytes, before allocating ---------
NEED = r"need [\d.]+ (GiB|TiB|PiB), more than the .* of memory"


@pytest.fixture(scope="module")
def fitted():
    B = (np.random.default_rng(1).random((40, 5)) < 0.5).astype(float)
    return B, BernoulliRBM(3, n_iter=1, random_state=0, device="cpu").fit(B)


def test_huge_sample_names_n_samples(fitted):
    _, m = fitted
    with pytest.raises(ValueError, match=r"n_samples: 10000000000 samples x 5 features " + NEED):
        m.sample(10**10)


def test_huge_ais_names_n_chains(fitted):
    _, m = fitted
    with pytest.raises(ValueError, match="n_chains: .*" + NEED):
        m.ais_log_partition(n_chains=10**12)


@pytest.mark.parametrize("make, name", [
    (lambda: BernoulliRBM(10**12, device="cpu"), "n_components"),
    (lambda: GaussianBernoulliRBM(10**12, device="cpu"), "n_components"),
    (lambda: BernoulliRBM(3, batch_size=10**13, device="cpu"), "batch_size"),
    (lambda: DBN((3, 10**7, 10**7), device="cpu"), "hidden_layer_sizes"),
])
def test_huge_models_name_the_argument(fitted, make, name):
    B, _ = fitted
    m = make()
    with pytest.raises(ValueError, match=name + ": .*" + NEED):
        m.fit(B)


def test_dbn_huge_sample(fitted):
    B, _ = fitted
    dbn = DBN((3, 2), n_iter=1, random_state=0, device="cpu").fit(B)
    with pytest.raises(ValueError, match="n_samples: 10000000000 samples x 5 features " + NEED):
        dbn.sample(10**10)
