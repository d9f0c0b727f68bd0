"""Shared model factory and checks of the fastgen.hmm estimator tests: test_hmm_vs_hmmlearn.py,
test_hmm_estimator_properties.py, test_hmm_estimator_inputs.py, test_hmm_empty_states.py.

fastgen.hmm estimators: agreement with hmmlearn 0.3.3 (the drop-in promise), hmmlearn's documented
usage run unchanged, model properties, input validation and empty-state handling (the kernels
underneath: tests/hmm/test_hmm_forward_backward.py and its neighbours, and tests/emissions/). The
comparisons with hmmlearn are marked `slow`; tests whose assertions are statistical (sample
moments, refits) use fixed seeds.

Tolerances: fastgen and hmmlearn run the same float64 algorithms in a different order, so results
agree to rounding: rtol 1e-10. Probabilities and parameters that can be ~0 get an absolute floor of
1e-12 (an entry of 1e-17 computed in two different orders has no meaningful relative error).
"""
from __future__ import annotations

import numpy as np

from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, poisson

from conftest import (random_covars, random_hmm, random_lengths, random_mixture_covars, random_stochastic,
                      sample_markov_states)
from fastgen import hmm as fhmm


RTOL, ATOL = 1e-10, 1e-12
COVARIANCE_TYPES = ["spherical", "diag", "full", "tied"]
MODELS = (["categorical", "poisson"] + [f"gaussian-{ct}" for ct in COVARIANCE_TYPES]
          + [f"gmm-{ct}" for ct in COVARIANCE_TYPES])
IMPLEMENTATIONS = ["scaling", "log"]


# -- model factory: the same random parameters on either library -----------------------------------

def _split(model):
    kind, _, ct = model.partition("-")
    return kind, ct or None


def random_params(rng, model, K=3, D=2, M=2, n_symbols=5, zero_frac=0.0):
    """Random parameters as hmmlearn attribute names and layouts."""
    kind, ct = _split(model)
    sp, tm = random_hmm(rng, K, zero_frac=zero_frac)
    p = {"startprob_": sp, "transmat_": tm}
    if kind == "categorical":
        p["emissionprob_"] = random_stochastic(rng, K, n_symbols)
    elif kind == "poisson":
        p["lambdas_"] = rng.uniform(0.5, 8.0, size=(K, D))
    elif kind == "gaussian":
        p["means_"] = rng.normal(scale=2.0, size=(K, D))
        p["covars_"] = random_covars(rng, ct, K, D)
    else:
        p["means_"] = rng.normal(scale=2.0, size=(K, M, D))
        p["covars_"] = random_mixture_covars(rng, ct, K, M, D)
        # Weights away from 0 so that no component is left with a handful of points, whose
        # covariance would collapse within a few EM steps (an ill-conditioned comparison).
        p["weights_"] = random_stochastic(rng, K, M, concentration=5.0)
    return p


def make(module, model, values=None, **kw):
    """An estimator of `model` from `module` (fastgen.hmm or hmmlearn.hmm) with the parameter
    `values` (hmmlearn attribute names) assigned."""
    kind, ct = _split(model)
    K = kw.pop("n_components", None)
    if K is None:
        K = len(values["startprob_"]) if values else 3
    if module is fhmm:
        kw.setdefault("device", "cpu")
    if kind == "categorical":
        m = module.CategoricalHMM(K, **kw)
    elif kind == "poisson":
        m = module.PoissonHMM(K, **kw)
    elif kind == "gaussian":
        m = module.GaussianHMM(K, covariance_type=ct, **kw)
    else:
        m = module.GMMHMM(K, n_mix=kw.pop("n_mix", 2), covariance_type=ct, **kw)
    for name, value in (values or {}).items():
        setattr(m, name, np.array(value, copy=True))
    return m


def random_data(rng, model, params, lengths):
    """Data shaped for `model`: drawn from its emissions along a random state path."""
    kind, ct = _split(model)
    z = sample_markov_states(rng, params["startprob_"], params["transmat_"], lengths)
    N = len(z)
    if kind == "categorical":
        cdf = np.cumsum(params["emissionprob_"], axis=1)[z]
        sym = np.minimum((rng.random(N)[:, None] >= cdf).sum(1), cdf.shape[1] - 1)
        return sym[:, None].astype(np.int64)
    if kind == "poisson":
        return rng.poisson(params["lambdas_"][z]).astype(np.int64)
    means = params["means_"]
    if kind == "gmm":
        w = np.cumsum(params["weights_"], axis=1)[z]
        comp = np.minimum((rng.random(N)[:, None] >= w).sum(1), w.shape[1] - 1)
        mu = means[z, comp]
    else:
        mu = means[z]
    D = means.shape[-1]
    return mu + rng.normal(size=(N, D))


def fitted_params(m, model, lib="fastgen"):
    """Learned parameters by name; GaussianHMM covariances in their compact form."""
    kind, ct = _split(model)
    out = {"startprob_": m.startprob_, "transmat_": m.transmat_}
    if kind == "categorical":
        out["emissionprob_"] = m.emissionprob_
    elif kind == "poisson":
        out["lambdas_"] = m.lambdas_
    elif kind == "gaussian":
        out["means_"] = m.means_
        # hmmlearn keeps spherical variances tiled as (K, D) after an M-step.
        c = np.asarray(m._covars_)
        out["covars_"] = c[:, 0] if (lib == "hmmlearn" and ct == "spherical" and c.ndim == 2) else c
    else:
        out.update(means_=m.means_, covars_=m.covars_, weights_=m.weights_)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def assert_params_close(a, b, rtol=RTOL, atol=ATOL):
    assert a.keys() == b.keys()
    for k in a:
        assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def _problem(rng, model, n_seq=6, long=120):
    if model.startswith("gmm"):
        long *= 4  # K * n_mix = 6 components to estimate, not 3
    params = random_params(rng, model)
    lengths = random_lengths(rng, n_seq, high=40, long=long)  # includes a length-1 sequence
    X = random_data(rng, model, params, lengths)
    return params, X, lengths


def path_logprob(model, params, X, lengths, states):
    """log P(X, states) per sequence, emission log-likelihoods from SciPy."""
    ll = _emission_loglik(model, params, X)
    with np.errstate(divide="ignore"):
        ls, lt = np.log(params["startprob_"]), np.log(params["transmat_"])
    out, b = [], 0
    for T in lengths:
        z = states[b:b + T]
        out.append(ls[z[0]] + ll[np.arange(b, b + T), z].sum() + lt[z[:-1], z[1:]].sum())
        b += T
    return np.array(out)


def assert_same_viterbi_path(model, params, X, lengths, ours, theirs):
    """The same path, except where two distinct paths tie exactly: discrete emissions make exact
    ties possible (e.g. a cycle of states entered at a different phase over repeated symbols uses
    the same multiset of log-probabilities). There both paths must score the same."""
    if np.array_equal(ours, theirs):
        return
    assert_allclose(path_logprob(model, params, X, lengths, ours),
                    path_logprob(model, params, X, lengths, theirs), rtol=1e-13, atol=0)
    assert not model.startswith("gaussian"), "continuous emissions: a tie has probability 0"


def _full_covars(model, covars, K, M, D):
    kind, ct = _split(model)
    c = np.asarray(covars)
    if ct == "spherical":
        return c[..., None, None] * np.eye(D)
    if ct == "diag":
        return c[..., None] * np.eye(D)
    if ct == "full":
        return c
    return np.tile(c, (K, 1, 1)) if kind == "gaussian" else np.repeat(c[:, None], M, axis=1)


def _emission_loglik(model, params, X):
    kind, _ = _split(model)
    K = len(params["startprob_"])
    if kind == "categorical":
        return np.log(params["emissionprob_"][:, X[:, 0]].T)
    if kind == "poisson":
        return np.stack([poisson.logpmf(X, params["lambdas_"][k]).sum(1) for k in range(K)], axis=1)
    D = X.shape[1]
    if kind == "gaussian":
        cov = _full_covars(model, params["covars_"], K, 1, D)
        return np.stack([multivariate_normal(params["means_"][k], cov[k]).logpdf(X) for k in range(K)], axis=1)
    M = params["weights_"].shape[1]
    cov = _full_covars(model, params["covars_"], K, M, D)
    comp = np.stack([[multivariate_normal(params["means_"][k, m], cov[k, m]).logpdf(X) for m in range(M)]
                     for k in range(K)])  # (K, M, N)
    return logsumexp(comp + np.log(params["weights_"])[:, :, None], axis=1).T
