"""The MADE estimator (fastgen.autoregressive.MADE): exact likelihoods (probabilities sum to 1 over
every binary / categorical vector, including the ensemble of several masks), training on the
shipped digits lowers the held-out NLL to a stated value, every output type learns structure an
independent model cannot, partial_fit continues fit exactly, reproducibility (same random_state,
same fit; 1 and 2 threads bit-identical), pickling, scikit-learn's parameter protocol, and each bad
input's exception type and message. Sampling (made_sample) is tested in
test_made_estimator_sampling.py.
"""
from __future__ import annotations

import itertools
import pickle
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from conftest import assert_same_on_any_thread_count
from fastgen.autoregressive import MADE
from fastgen.datasets import load_digits


def binary_digits():
    """The 1797 8x8 digits, binarised at > 7 (of 0..16), split 1500 / 297 with a fixed permutation."""
    X = (load_digits().data > 7).astype(np.float64)
    perm = np.random.default_rng(0).permutation(len(X))
    return X[perm[:1500]], X[perm[1500:]]


def independent_bernoulli_nll(train, test):
    p = train.mean(0).clip(1e-3, 1 - 1e-3)
    return float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).sum(1).mean())


def chain_data(rng, n, D, V):
    """Categorical Markov chains: x_0 uniform, x_d = x_{d-1} + 1 mod V with probability 0.9."""
    X = np.empty((n, D), np.int64)
    X[:, 0] = rng.integers(0, V, n)
    for d in range(1, D):
        stay = rng.random(n) < 0.9
        X[:, d] = np.where(stay, (X[:, d - 1] + 1) % V, rng.integers(0, V, n))
    return X


# =================================================================================================
# Exact likelihood
# =================================================================================================

@pytest.mark.parametrize("hidden, ordering, n_masks",
                         [((32,), "natural", 1), ((24, 16), "random", 3), ((), "random", 2)])
def test_bernoulli_probabilities_sum_to_one(rng, hidden, ordering, n_masks):
    """p(x) over all 2^10 binary vectors sums to 1, for one mask and for the masks' ensemble."""
    D = 10
    X = (rng.random((200, D)) < 0.3).astype(float)
    m = MADE(hidden, ordering=ordering, n_masks=n_masks, max_epochs=2, batch_size=50, random_state=1,
             dtype=np.float64).fit(X)
    allx = np.array(list(itertools.product([0, 1], repeat=D)), float)
    assert_allclose(logsumexp(m.score_samples(allx)), 0.0, atol=1e-10)


def test_categorical_probabilities_sum_to_one(rng):
    V, D = 4, 4
    m = MADE((16,), output="categorical", n_categories=V, ordering="random", n_masks=2, max_epochs=3, batch_size=32,
             random_state=2, dtype=np.float64).fit(chain_data(rng, 300, D, V))
    allx = np.array(list(itertools.product(range(V), repeat=D)))
    assert_allclose(logsumexp(m.score_samples(allx)), 0.0, atol=1e-10)


def test_mixture_density_integrates_to_one(rng):
    """D = 1: the density integrates to 1; D = 2 (an ensemble of two random orderings): the joint
    does, over a 2-D grid (Simpson in both directions; every conditional of the kernel's loss is
    checked on its own in test_made_losses)."""
    from scipy.integrate import simpson
    X = rng.standard_normal((400, 2))
    X[:, 1] = 0.8 * X[:, 0] + 0.5 * X[:, 1]
    g = np.linspace(-30, 30, 24001)
    one = MADE((8,), output="gaussian_mixture", n_components=2, max_epochs=3, random_state=0,
               dtype=np.float64).fit(X[:, :1])
    assert_allclose(simpson(np.exp(one.score_samples(g[:, None])), x=g), 1.0, rtol=1e-8)
    two = MADE((16,), output="gaussian_mixture", n_components=3, ordering="random", n_masks=2, max_epochs=3,
               random_state=3, dtype=np.float64).fit(X)
    g = np.linspace(-10, 10, 801)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    p = np.exp(two.score_samples(grid)).reshape(g.size, g.size)
    assert_allclose(simpson(simpson(p, x=g, axis=1), x=g), 1.0, rtol=1e-5)


# =================================================================================================
# Learning
# =================================================================================================

# Measured (fastgen CPU, float32, 500 hidden units, Adam 1e-3, batch 100): held-out NLL 18.8 nats
# after 50 epochs (PyTorch, same network and initial weights: 18.8), 20.6 after 20; the
# independent-Bernoulli model's is 25.2.
DIGITS_EPOCHS, DIGITS_NLL = 20, 21.0


def test_fit_on_binarised_digits_lowers_the_nll():
    train, test = binary_digits()
    baseline = independent_bernoulli_nll(train, test)
    m = MADE((500,), max_epochs=DIGITS_EPOCHS, random_state=0).fit(train)
    nll = -m.score(test)
    assert nll < DIGITS_NLL < baseline - 4, (nll, baseline)
    assert m.loss_curve_.shape == (DIGITS_EPOCHS,) and m.n_iter_ == DIGITS_EPOCHS
    assert m.loss_curve_[-1] < m.loss_curve_[0] - 10
    assert m.score(test) == pytest.approx(m.score_samples(test).mean(), rel=1e-12)


def test_categorical_learns_a_chain():
    """A Markov chain over V = 5: the MADE's NLL approaches the chain's entropy, far below the
    independent model's D log V."""
    rng = np.random.default_rng(5201)  # statistical assertions: a fixed seed
    V, D = 5, 6
    X = chain_data(rng, 3000, D, V)
    m = MADE((64,), output="categorical", n_categories=V, max_epochs=15, batch_size=100, learning_rate=3e-3,
             random_state=0).fit(X)
    nll = -m.score(chain_data(rng, 1000, D, V))
    # the chain: log V for x_0, then H(0.9 + 0.1/V, 0.1/V x (V - 1)) per step
    p = 0.9 + 0.1 / V
    h = np.log(V) + (D - 1) * -(p * np.log(p) + (1 - p) * np.log(0.1 / V))
    assert nll < h + 0.3 < D * np.log(V), (nll, h)


def test_gaussian_mixture_learns_a_dependence():
    """x2 = x1^2 + noise: the MADE beats the best diagonal Gaussian by a wide margin."""
    rng = np.random.default_rng(5202)  # statistical assertions: a fixed seed
    n = 3000
    x1 = rng.standard_normal(n)
    X = np.column_stack([x1, x1 ** 2 - 1 + 0.1 * rng.standard_normal(n)])
    m = MADE((64, 64), output="gaussian_mixture", n_components=5, max_epochs=30, learning_rate=3e-3,
             random_state=0).fit(X)
    diag = 0.5 * (np.log(2 * np.pi * X.var(0)) + 1).sum()
    assert -m.score(X) < diag - 1.0


def test_no_hidden_layer_is_a_logistic_autoregressive_model():
    """hidden_layer_sizes=() is allowed: each conditional is logistic in the earlier variables;
    it learns x2 = x1 (copy) exactly up to the sigmoid's saturation."""
    rng = np.random.default_rng(5203)  # statistical assertions: a fixed seed
    x = (rng.random(2000) < 0.5).astype(float)
    X = np.column_stack([x, x])
    m = MADE((), max_epochs=40, learning_rate=0.05, random_state=0).fit(X)
    assert m.network_.sizes == (2, 2)
    assert -m.score(X) < np.log(2) + 0.05


# =================================================================================================
# partial_fit, reproducibility, pickling, parameters
# =================================================================================================

def test_partial_fit_continues_fit_exactly(rng):
    X = (rng.random((230, 12)) < 0.4).astype(np.float32)
    kw = dict(hidden_layer_sizes=(20,), n_masks=3, ordering="random", batch_size=50, random_state=4)
    full = MADE(max_epochs=3, **kw).fit(X)
    part = MADE(max_epochs=3, **kw)
    for _ in range(3):
        part.partial_fit(X)
    assert_array_equal(part.network_.theta, full.network_.theta)
    assert_array_equal(part.loss_curve_, full.loss_curve_)
    assert part.n_iter_ == 3
    with pytest.raises(ValueError, match="partial_fit"):
        part.set_params(output="categorical", n_categories=2).partial_fit(X)


def test_same_random_state_same_fit(rng):
    X = (rng.random((150, 9)) < 0.5).astype(np.float32)
    a = MADE((15,), ordering="random", n_masks=2, max_epochs=2, random_state=7).fit(X)
    b = MADE((15,), ordering="random", n_masks=2, max_epochs=2, random_state=7).fit(X)
    c = MADE((15,), ordering="random", n_masks=2, max_epochs=2, random_state=8).fit(X)
    assert_array_equal(a.network_.theta, b.network_.theta)
    assert_array_equal(a.orders_, b.orders_)
    assert not np.array_equal(a.orders_, c.orders_) or not np.array_equal(a.network_.theta, c.network_.theta)


def test_fit_same_on_one_and_two_threads(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from fastgen.autoregressive import MADE
        rng = np.random.default_rng(0)
        out = []
        Xb = (rng.random((300, 67)) < 0.3).astype(np.float32)
        Xc = rng.integers(0, 12, (300, 30))
        Xg = rng.standard_normal((300, 20))
        for kw, X in ((dict(output="bernoulli"), Xb), (dict(output="categorical", n_categories=12), Xc),
                      (dict(output="gaussian_mixture", n_components=4), Xg)):
            m = MADE((129,), ordering="random", n_masks=2, max_epochs=2, batch_size=150, random_state=3, **kw).fit(X)
            out += [m.network_.theta, m.loss_curve_, m.score_samples(X)]
        np.savez(sys.argv[1], *out)
    """)
    assert_same_on_any_thread_count(script, tmp_path, timeout=300)


def test_pickle_round_trip(rng):
    X = rng.integers(0, 3, (120, 5))
    m = MADE((10,), output="categorical", n_categories=3, n_masks=2, max_epochs=1, random_state=0).fit(X)
    m2 = pickle.loads(pickle.dumps(m))
    assert_array_equal(m2.score_samples(X), m.score_samples(X))
    assert_array_equal(m2.masks_, m.masks_)
    m2.partial_fit(X)
    m.partial_fit(X)
    assert_array_equal(m2.network_.theta, m.network_.theta)


def test_params_protocol():
    from sklearn.base import clone
    m = MADE((7, 5), output="gaussian_mixture", n_components=3, ordering=[2, 0, 1], n_masks=2, learning_rate=0.01)
    p = m.get_params()
    assert p["hidden_layer_sizes"] == (7, 5) and p["n_components"] == 3 and p["ordering"] == [2, 0, 1]
    c = clone(m)
    assert c.get_params() == p and c is not m
    assert m.set_params(n_masks=4, verbose=1) is m and m.n_masks == 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        m.set_params(bogus=1)
    assert "MADE(" in repr(m)


def test_masks_and_orders_attributes(rng):
    X = (rng.random((60, 6)) < 0.5).astype(np.float32)
    m = MADE((9, 8), ordering=[5, 4, 3, 2, 1, 0], n_masks=3, max_epochs=1, random_state=0).fit(X)
    assert m.orders_.shape == (3, 6) and m.orders_.dtype == np.int64
    assert_array_equal(m.orders_[0], [6, 5, 4, 3, 2, 1])  # variable 5 generated first
    assert (m.orders_ == m.orders_[0]).all()  # an explicit ordering is shared by the masks
    assert len(m.hidden_degrees_) == 3 and [h.shape for h in m.hidden_degrees_[1]] == [(9,), (8,)]
    assert m.masks_.shape == (3, m.network_.n_params) and m.masks_.dtype == np.float32
    assert set(np.unique(m.masks_)) <= {0.0, 1.0}


# =================================================================================================
# Bad input
# =================================================================================================

def test_bad_data_is_named(rng):
    Xb = (rng.random((20, 4)) < 0.5).astype(float)
    with pytest.raises(ValueError, match="NaN or infinity"):
        MADE((5,), max_epochs=1).fit(np.where(Xb > 0, np.nan, 0))
    with pytest.raises(ValueError, match=r"X: output='bernoulli' needs values in \[0, 1\]"):
        MADE((5,), max_epochs=1).fit(Xb * 2)
    m = MADE((5,), max_epochs=1, random_state=0).fit(Xb * 0.5)  # probabilities: soft targets
    with pytest.raises(ValueError, match=r"X: output='bernoulli' scores binary data.*0.5 at \(0, 0\)|"
                                         r"X: output='bernoulli' scores binary data"):
        m.score_samples(Xb * 0.5 + 0.25)
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 4 features"):
        m.score_samples(Xb[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        m.score_samples(Xb[0])
    with pytest.raises(AttributeError, match="not fitted"):
        MADE().score_samples(Xb)
    Xc = rng.integers(0, 3, (20, 4)).astype(float)
    for bad, value in ((3, "3.0"), (-1, "-1.0"), (1.5, "1.5")):
        Xbad = Xc.copy()
        Xbad[2, 1] = bad
        with pytest.raises(ValueError, match=rf"category indices, integers in \[0, 3\).*{value} at \(2, 1\)"):
            MADE((5,), output="categorical", n_categories=3, max_epochs=1).fit(Xbad)


@pytest.mark.parametrize("kw, message", [
    (dict(output="categorical"), "n_categories: output='categorical' needs the number of categories"),
    (dict(output="categorical", n_categories=1), "n_categories"),
    (dict(output="categorical", n_categories=2.5), "n_categories"),
    (dict(output="poisson"), "output: expected one of"),
    (dict(output="gaussian_mixture", n_components=0), "n_components"),
    (dict(n_masks=0), "n_masks"),
    (dict(n_masks=1.5), "n_masks"),
    (dict(ordering="reversed"), "ordering: expected one of"),
    (dict(ordering=[0, 1, 1, 2]), "ordering: expected a permutation of 0..3"),
    (dict(ordering=[0, 1, 2]), "ordering: expected a permutation of 0..3"),
    (dict(ordering=[0.0, 1.0, 2.0, 3.0]), "ordering: expected a permutation"),
    (dict(hidden_layer_sizes=(5, 0)), "hidden_layer_sizes"),
    (dict(hidden_layer_sizes="wide"), "hidden_layer_sizes"),
    (dict(activation="gelu"), "activation"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(batch_size=0), "batch_size"),
    (dict(max_epochs=-1), "max_epochs"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(dtype=np.int32), "dtype"),
    (dict(n_categories=1), "n_categories: expected None or an integer >= 2, got 1"),
    (dict(ordering=3), "ordering: expected one of .* or a sequence, got 3"),
    (dict(verbose="loud"), "verbose: expected a bool or an integer >= 0"),
])
def test_bad_parameters_are_named(rng, kw, message):
    X = (rng.random((10, 4)) < 0.5).astype(float)
    if kw.get("output") == "categorical" and "n_categories" not in kw:
        X = rng.integers(0, 3, (10, 4))
    with pytest.raises((ValueError, TypeError), match=message):
        MADE(**dict(dict(hidden_layer_sizes=(5,), max_epochs=1), **kw)).fit(X)


def test_diverging_fit_raises_and_keeps_no_weights(rng):
    X = 3 * rng.standard_normal((200, 3))
    m = MADE((8,), output="gaussian_mixture", n_components=2, learning_rate=1e6, max_epochs=5, batch_size=20,
             random_state=0)
    with pytest.raises(FloatingPointError, match=r"MADE: training diverged at epoch \d+, step \d+"):
        m.fit(X)
    assert not hasattr(m, "network_")
