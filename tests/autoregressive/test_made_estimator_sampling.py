"""MADE.sample (the made_sample kernel, csrc/KERNELS.md "MADE") against the model's own exact
likelihood: the frequencies of many samples match exp(score_samples) over every outcome (chi-square,
Bernoulli and categorical, one mask and an ensemble of masks), a mixture's samples match its CDF
(Kolmogorov-Smirnov), greedy settings (top_k=1, temperature -> 0) give the mode path, plus
reproducibility, dtypes and argument errors.

The p-value thresholds are 1e-4 on draws fixed by random_state: a correct sampler fails with
probability 1e-4 over the choice of seed, and these seeds are fixed, so the tests are deterministic.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import stats

from fastgen.autoregressive import MADE


def _fitted(X, **kw):
    return MADE(max_epochs=2, batch_size=50, random_state=0, dtype=np.float64, **kw).fit(X)


def _chi_square(samples, outcomes, logp):
    """p-value of the sample counts of each outcome row against probabilities exp(logp)."""
    index = {tuple(o): i for i, o in enumerate(outcomes.astype(np.int64).tolist())}
    counts = np.bincount([index[tuple(s)] for s in samples.astype(np.int64).tolist()], minlength=len(outcomes))
    expected = np.exp(logp) * len(samples)
    return stats.chisquare(counts, expected / expected.sum() * counts.sum()).pvalue


@pytest.mark.parametrize("n_masks, ordering", [(1, "natural"), (3, "random")])
def test_bernoulli_samples_follow_the_likelihood(n_masks, ordering):
    rng = np.random.default_rng(5101)  # statistical assertions: a fixed seed
    D = 4
    X = (rng.random((300, D)) < np.array([0.2, 0.5, 0.7, 0.4])).astype(float)
    X[:, 3] = X[:, 0]  # a dependence
    m = _fitted(X, hidden_layer_sizes=(16,), n_masks=n_masks, ordering=ordering)
    S = m.sample(20000, random_state=1)
    assert S.shape == (20000, D) and S.dtype == np.float64 and set(np.unique(S)) <= {0.0, 1.0}
    outcomes = np.array(list(itertools.product([0, 1], repeat=D)), float)
    assert _chi_square(S, outcomes, m.score_samples(outcomes)) > 1e-4


def test_categorical_samples_follow_the_likelihood():
    rng = np.random.default_rng(5102)  # statistical assertions: a fixed seed
    V, D = 3, 3
    X = rng.integers(0, V, (300, D))
    X[:, 2] = (X[:, 0] + 1) % V
    m = _fitted(X, hidden_layer_sizes=(16,), output="categorical", n_categories=V, n_masks=2, ordering="random")
    S = m.sample(20000, random_state=2)
    assert S.dtype == np.int64 and S.min() >= 0 and S.max() < V
    outcomes = np.array(list(itertools.product(range(V), repeat=D)))
    assert _chi_square(S, outcomes, m.score_samples(outcomes)) > 1e-4


def test_mixture_samples_follow_the_density():
    """D = 1: Kolmogorov-Smirnov against the CDF integrated from exp(score_samples)."""
    rng = np.random.default_rng(5103)  # statistical assertions: a fixed seed
    X = np.concatenate([rng.normal(-2, 0.5, 200), rng.normal(1.5, 1.0, 200)])[:, None]
    m = _fitted(X, hidden_layer_sizes=(8,), output="gaussian_mixture", n_components=3)
    S = m.sample(5000, random_state=3)
    assert S.shape == (5000, 1) and S.dtype == np.float64
    g = np.linspace(-30, 30, 60001)
    pdf = np.exp(m.score_samples(g[:, None]))
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(g))])
    assert stats.kstest(S[:, 0], lambda x: np.interp(x, g, cdf)).pvalue > 1e-4


def test_greedy_settings_give_the_mode_path(rng):
    """top_k=1 (categorical) and a temperature near 0 (Bernoulli) decode the most likely value of
    each conditional in turn, the same for every sample."""
    V = 3
    X = rng.integers(0, V, (200, 2))
    m = _fitted(X, hidden_layer_sizes=(8,), output="categorical", n_categories=V)
    joint = np.exp(m.score_samples(np.array(list(itertools.product(range(V), repeat=2))))).reshape(V, V)
    x0 = int(np.argmax(joint.sum(axis=1)))
    x1 = int(np.argmax(joint[x0]))
    assert_array_equal(m.sample(50, random_state=0, top_k=1), np.tile([x0, x1], (50, 1)))
    Xb = (rng.random((200, 2)) < 0.3).astype(float)
    mb = _fitted(Xb, hidden_layer_sizes=(8,))
    joint = np.exp(mb.score_samples(np.array(list(itertools.product([0, 1], repeat=2)), float))).reshape(2, 2)
    b0 = int(joint[1].sum() > 0.5)
    b1 = int(joint[b0, 1] > joint[b0, 0])
    assert_array_equal(mb.sample(50, random_state=0, temperature=1e-4), np.tile([b0, b1], (50, 1)))


def test_sampling_is_reproducible(rng):
    X = (rng.random((100, 5)) < 0.5).astype(np.float32)
    m = MADE((8,), n_masks=2, ordering="random", max_epochs=1, random_state=0).fit(X)
    a, b = m.sample(30, random_state=4), m.sample(30, random_state=4)
    assert a.dtype == np.float32
    assert_array_equal(a, b)
    c, d = m.sample(30), m.sample(30)  # the model's own stream moves on
    assert not np.array_equal(c, d)


def test_sample_bad_arguments_are_named(rng):
    X = rng.integers(0, 4, (50, 3))
    m = MADE((6,), output="categorical", n_categories=4, max_epochs=1, random_state=0).fit(X)
    for kw, message in [(dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature"),
                        (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_k=0), "top_k"),
                        (dict(n_samples=0), "n_samples")]:
        with pytest.raises(ValueError, match=message):
            m.sample(**dict(dict(n_samples=2), **kw))
    mb = MADE((6,), max_epochs=1, random_state=0).fit((X > 1).astype(float))
    with pytest.raises(ValueError, match="top_k, top_p: restrict categorical draws only"):
        mb.sample(2, top_k=2)
    with pytest.raises(AttributeError, match="not fitted"):
        MADE().sample(2)
