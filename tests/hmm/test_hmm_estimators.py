"""fastgen.hmm estimators: agreement with hmmlearn 0.3.3 (the drop-in promise), hmmlearn's documented
usage run unchanged, model properties, input validation and empty-state handling (the kernels
underneath: tests/hmm/test_hmm_kernels.py and tests/emissions/). The comparisons with hmmlearn are
marked `slow`; tests whose assertions are statistical (sample moments, refits) use fixed seeds. One
CUDA twin (marked `cuda`) closes the file.

Tolerances: fastgen and hmmlearn run the same float64 algorithms in a different order, so results
agree to rounding: rtol 1e-10. Probabilities and parameters that can be ~0 get an absolute floor of
1e-12 (an entry of 1e-17 computed in two different orders has no meaningful relative error).
"""
from __future__ import annotations

import copy
import itertools
import pickle
import warnings

import numpy as np
import pytest

from fastgen.exceptions import InvalidParameterError as FastgenInvalidParameter
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, poisson

from conftest import (random_covars, random_hmm, thread_policy, random_lengths, random_mixture_covars, random_stochastic,
                      sample_markov_states)
from fastgen import _backend
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


# =================================================================================================
# (a) Agreement with hmmlearn
# =================================================================================================

@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("model", MODELS)
def test_inference_matches_hmmlearn(rng, model, impl):
    hmm = pytest.importorskip("hmmlearn.hmm")
    params, X, lengths = _problem(rng, model)
    f = make(fhmm, model, params, implementation=impl)
    h = make(hmm, model, params, implementation=impl)
    assert_allclose(f.score(X, lengths), h.score(X, lengths), rtol=RTOL, atol=0)
    f_lp, f_post = f.score_samples(X, lengths)
    h_lp, h_post = h.score_samples(X, lengths)
    assert_allclose(f_lp, h_lp, rtol=RTOL, atol=0)
    assert_allclose(f_post, h_post, rtol=RTOL, atol=ATOL)
    assert_allclose(f.predict_proba(X, lengths), h.predict_proba(X, lengths), rtol=RTOL, atol=ATOL)
    f_vlp, f_states = f.decode(X, lengths)
    h_vlp, h_states = h.decode(X, lengths)
    assert_allclose(f_vlp, h_vlp, rtol=RTOL, atol=0)
    assert_same_viterbi_path(model, params, X, lengths, f_states, h_states)
    assert_array_equal(f.predict(X, lengths), f_states)
    # MAP decoding: the same states (the reported score differs by design, see test_decode_map).
    assert_array_equal(f.decode(X, lengths, algorithm="map")[1], h.decode(X, lengths, algorithm="map")[1])


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("model", MODELS)
def test_em_matches_hmmlearn(rng, model, impl):
    """Five EM iterations from the same start: same history and same parameters.

    GMMHMM: fastgen forms the covariance statistic from raw moments (S2 - mu S1^T - S1 mu^T +
    R mu mu^T) where hmmlearn sums centred outer products. With data within a few standard
    deviations of the means, as here, the cancellation costs well under one digit, so rtol 1e-10
    holds; far-off-centre data would need a looser tolerance for that statistic only.
    """
    hmm = pytest.importorskip("hmmlearn.hmm")
    params, X, lengths = _problem(rng, model)
    kw = dict(init_params="", n_iter=5, tol=-np.inf, implementation=impl)
    f = make(fhmm, model, params, **kw).fit(X, lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = make(hmm, model, params, **kw).fit(X, lengths)
    assert len(f.monitor_.history) == 5
    assert_allclose(list(f.monitor_.history), list(h.monitor_.history), rtol=RTOL, atol=0)
    assert_params_close(fitted_params(f, model), fitted_params(h, model, "hmmlearn"))
    # And the fitted models still agree on inference.
    assert_allclose(f.score(X, lengths), h.score(X, lengths), rtol=RTOL, atol=0)
    assert_same_viterbi_path(model, fitted_params(f, model), X, lengths, f.predict(X, lengths), h.predict(X, lengths))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gaussian-diag", "gaussian-full", "categorical", "poisson", "gmm-diag"])
def test_em_with_priors_matches_hmmlearn(rng, model):
    """Non-default Dirichlet / conjugate priors take the same MAP updates as hmmlearn."""
    hmm = pytest.importorskip("hmmlearn.hmm")
    params, X, lengths = _problem(rng, model)
    kind, _ = _split(model)
    kw = dict(init_params="", n_iter=4, tol=-np.inf, startprob_prior=1.5, transmat_prior=2.0)
    if kind == "gaussian":
        kw.update(means_prior=0.5, means_weight=2.0, covars_prior=0.3, covars_weight=3.0)
    elif kind == "categorical":
        kw.update(emissionprob_prior=1.7)
    elif kind == "poisson":
        kw.update(lambdas_prior=2.0, lambdas_weight=3.0)
    else:
        kw.update(weights_prior=2.0, means_prior=0.5, means_weight=1.0)
    f = make(fhmm, model, params, **kw).fit(X, lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = make(hmm, model, params, **kw).fit(X, lengths)
    assert_allclose(list(f.monitor_.history), list(h.monitor_.history), rtol=RTOL, atol=0)
    assert_params_close(fitted_params(f, model), fitted_params(h, model, "hmmlearn"))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gaussian-diag", "categorical"])
def test_partial_params_match_hmmlearn(rng, model):
    """`params` without some letters keeps those parameters fixed, as in hmmlearn."""
    hmm = pytest.importorskip("hmmlearn.hmm")
    params, X, lengths = _problem(rng, model)
    letters = "tm" if model.startswith("gaussian") else "se"
    kw = dict(init_params="", n_iter=3, tol=-np.inf, params=letters)
    f = make(fhmm, model, params, **kw).fit(X, lengths)
    h = make(hmm, model, params, **kw).fit(X, lengths)
    assert_params_close(fitted_params(f, model), fitted_params(h, model, "hmmlearn"))
    fixed = "startprob_" if letters == "tm" else "transmat_"
    assert_array_equal(f.__dict__[fixed], params[fixed])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gaussian-diag", "gaussian-full", "categorical", "poisson"])
def test_aic_bic_match_hmmlearn(rng, model):
    hmm = pytest.importorskip("hmmlearn.hmm")
    params, X, lengths = _problem(rng, model)
    f, h = make(fhmm, model, params), make(hmm, model, params)
    # hmmlearn sets n_features in fit; a model built by assignment needs it set by hand.
    h.n_features = params["emissionprob_"].shape[1] if model == "categorical" else X.shape[1]
    assert_allclose(f.aic(X, lengths), h.aic(X, lengths), rtol=RTOL, atol=0)
    assert_allclose(f.bic(X, lengths), h.bic(X, lengths), rtol=RTOL, atol=0)


# =================================================================================================
# (b) hmmlearn's documented usage runs unchanged with the import swapped
# =================================================================================================

TUTORIAL = '''
import numpy as np

np.random.seed(42)
out = {}

# --- "Building HMM and generating samples"
model = hmm.GaussianHMM(n_components=3, covariance_type="full")
model.startprob_ = np.array([0.6, 0.3, 0.1])
model.transmat_ = np.array([[0.7, 0.2, 0.1],
                            [0.3, 0.5, 0.2],
                            [0.3, 0.3, 0.4]])
model.means_ = np.array([[0.0, 0.0], [3.0, -3.0], [5.0, 10.0]])
model.covars_ = np.tile(np.identity(2), (3, 1, 1))
X, Z = model.sample(100)
out["sample"] = (X.shape, Z.shape)

# --- "Training HMM parameters and inferring the hidden states"
remodel = hmm.GaussianHMM(n_components=3, covariance_type="full", n_iter=100, random_state=1)
remodel.fit(X)
Z2 = remodel.predict(X)
out["predict"] = Z2.shape
out["converged"] = bool(remodel.monitor_.converged)
out["score"] = np.ndim(remodel.score(X))
logprob, states = remodel.decode(X, algorithm="viterbi")
out["decode"] = (np.ndim(logprob), states.shape)
out["predict_proba"] = remodel.predict_proba(X).shape
ll, post = remodel.score_samples(X)
out["score_samples"] = (np.ndim(ll), post.shape)
out["aic_bic"] = (np.ndim(remodel.aic(X)), np.ndim(remodel.bic(X)))
out["covars_"] = remodel.covars_.shape

# --- "Working with multiple sequences"
X1 = [[0.5], [1.0], [-1.0], [0.42], [0.24]]
X2 = [[2.4], [4.2], [0.5], [-0.24]]
Xm = np.concatenate([X1, X2])
lengths = [len(X1), len(X2)]
m2 = hmm.GaussianHMM(n_components=3, random_state=0).fit(Xm, lengths)
out["multi"] = (m2.predict(Xm, lengths).shape, m2.predict_proba(Xm, lengths).shape,
                np.ndim(m2.score(Xm, lengths)), m2.means_.shape, m2.covars_.shape, m2.transmat_.shape)

# --- model selection by AIC/BIC over n_components, with lengths
aic, bic = [], []
for n in (1, 2, 3):
    mn = hmm.GaussianHMM(n_components=n, covariance_type="diag", n_iter=20, random_state=n).fit(X, [60, 40])
    aic.append(mn.aic(X, [60, 40]))
    bic.append(mn.bic(X, [60, 40]))
out["aic_len"] = (len(aic), len(bic))

# --- CategoricalHMM ("dishonest casino" style): integer symbols
gen = hmm.CategoricalHMM(n_components=2, random_state=99)
gen.startprob_ = np.array([1.0, 0.0])
gen.transmat_ = np.array([[0.95, 0.05], [0.1, 0.9]])
gen.emissionprob_ = np.array([[1 / 6] * 6, [1 / 10] * 5 + [1 / 2]])
rolls, gen_states = gen.sample(300)
cat = hmm.CategoricalHMM(n_components=2, n_iter=50, random_state=7).fit(rolls)
out["categorical"] = (rolls.shape, np.issubdtype(rolls.dtype, np.integer), cat.emissionprob_.shape,
                      cat.predict(rolls).shape, cat.predict_proba(rolls).shape, np.ndim(cat.score(rolls)))

# --- PoissonHMM (earthquake-count style)
rs = np.random.RandomState(0)  # the global stream was consumed differently by the two sample()s
counts = np.concatenate([rs.poisson(3, 80), rs.poisson(12, 80), rs.poisson(3, 80)])[:, None]
pois = hmm.PoissonHMM(n_components=2, n_iter=30, random_state=0).fit(counts)
Xs, Zs = pois.sample(10)
out["poisson"] = (pois.lambdas_.shape, pois.predict(counts).shape, Xs.shape, Zs.shape,
                  np.ndim(pois.score(counts)))
out["poisson_lambdas"] = np.sort(pois.lambdas_.ravel())
'''


def _run_tutorial(module):
    ns = {"hmm": module}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hmmlearn's convergence chatter; fastgen's empty-state notes
        exec(compile(TUTORIAL, "<hmmlearn tutorial>", "exec"), ns)
    return ns["out"]


@pytest.mark.slow
def test_hmmlearn_tutorial_runs_unchanged():
    hmm = pytest.importorskip("hmmlearn.hmm")
    ours, theirs = _run_tutorial(fhmm), _run_tutorial(hmm)
    lam_ours, lam_theirs = ours.pop("poisson_lambdas"), theirs.pop("poisson_lambdas")
    assert ours == theirs
    # Same count data, different initialisations: both find the two regimes (rates ~3 and ~12);
    # EM stops at tol=1e-2 of the same optimum, so the rates agree to well under 2%.
    assert_allclose(lam_ours, lam_theirs, rtol=0.02, atol=0)


# =================================================================================================
# (c) Properties
# =================================================================================================

@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("model", MODELS)
def test_posteriors_are_distributions(rng, model, impl):
    params, X, lengths = _problem(rng, model)
    post = make(fhmm, model, params, implementation=impl).predict_proba(X, lengths)
    assert post.shape == (len(X), len(params["startprob_"]))
    assert (post >= 0).all()
    # Both implementations normalise each frame explicitly.
    assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def _ml_kwargs(model, D=2):
    """Hyper-parameters that make every M-step a pure maximum-likelihood step, so that EM provably
    never decreases the log-likelihood (a MAP step maximises a different objective)."""
    kind, ct = _split(model)
    if kind == "gaussian":
        return {"covars_prior": 0.0, "covars_weight": 1, "means_weight": 0}
    if kind == "gmm":
        # hmmlearn's defaults are the ML update except the spherical prior, which equals ML only
        # when D == n_mix; state it explicitly: c_d = D * (post + 1) + 2 (prior + 1) = D * post.
        return {"covars_prior": -(D + 2) / 2, "covars_weight": 0.0} if ct == "spherical" else {}
    if kind == "poisson":
        return {"lambdas_prior": 0.0, "lambdas_weight": 0.0}
    return {}


_EMISSION_LETTERS = {"categorical": "e", "poisson": "l", "gaussian": "mc", "gmm": "mcw"}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("model", MODELS)
def test_em_never_decreases_loglikelihood(rng, model, impl):
    """25 EM iterations from the default emission initialisation and uniform start/transitions, on
    data from a model whose states all get visited (sticky transitions): with maximum-likelihood
    updates the log-likelihood never decreases (1e-9 relative for rounding). Data drawn from a
    model with a nearly unvisited state would let ML covariances collapse onto a few points, a
    degenerate (unbounded) likelihood rather than a property of the implementation."""
    kind, _ = _split(model)
    params = random_params(rng, model)
    params["transmat_"] = 0.5 * params["transmat_"] + 0.5 * np.eye(3)
    lengths = random_lengths(rng, 10, high=40, long=800)
    X = random_data(rng, model, params, lengths)
    m = make(fhmm, model, None, n_components=3, n_iter=25, tol=-np.inf, implementation=impl,
             init_params=_EMISSION_LETTERS[kind], random_state=int(rng.integers(1 << 31)), **_ml_kwargs(model))
    m.startprob_, m.transmat_ = np.full(3, 1 / 3), np.full((3, 3), 1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a state may empty out; tested in (e)
        m.fit(X, lengths)
    h = np.array(m.monitor_.history)
    assert len(h) == 25 and np.isfinite(h).all()
    assert (np.diff(h) >= -1e-9 * np.abs(h[1:])).all(), np.diff(h)


def _match_states(true_key, fitted_key):
    return np.argsort(true_key), np.argsort(fitted_key)


def test_gaussian_refit_recovers_parameters():
    """1e5 samples of a 3-state diag GaussianHMM, refit from k-means means, the pooled covariance and
    uniform start/transition probabilities (hmmlearn's default random Dirichlet(1/K) transitions
    can start EM in the basin of a poor local optimum: that is EM, not the estimator). States are
    matched by sorting the first mean coordinate. Tolerances are ~5-10 standard errors: each state
    has ~3e4 frames, so means have se ~0.006-0.01, variances ~1% relative, transitions ~0.002."""
    rng = np.random.default_rng(20240612)  # fixed: the assertions below are statistical
    K, D, n = 3, 2, 100_000
    truth = fhmm.GaussianHMM(K, covariance_type="diag", device="cpu", random_state=int(rng.integers(1 << 31)))
    truth.startprob_ = np.array([0.5, 0.3, 0.2])
    # Doubly stochastic (0.8 I plus a random mixture of permutations), so every state gets ~1/K of
    # the frames as the tolerances assume; random rows left one state 3% of them for some draws,
    # and k-means then split a big cluster instead (2 of 80 seeds failed).
    perms = np.array([np.eye(K)[list(p)] for p in itertools.permutations(range(K))])
    truth.transmat_ = 0.8 * np.eye(K) + 0.2 * np.tensordot(rng.dirichlet(np.ones(len(perms))), perms, axes=1)
    truth.means_ = np.array([[-4.0, 0.0], [0.0, 3.0], [4.0, -2.0]]) + rng.normal(scale=0.3, size=(K, D))
    truth.covars_ = rng.uniform(0.5, 1.5, size=(K, D))
    X, Z = truth.sample(n)
    assert X.shape == (n, D) and Z.shape == (n,)
    fit = fhmm.GaussianHMM(K, covariance_type="diag", n_iter=100, tol=1e-6, device="cpu", init_params="mc",
                           random_state=int(rng.integers(1 << 31)))
    fit.startprob_, fit.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    fit.fit(X)
    t, f = _match_states(truth.means_[:, 0], fit.means_[:, 0])
    assert_allclose(fit.means_[f], truth.means_[t], rtol=0, atol=0.06)
    assert_allclose(fit._covars_[f], truth._covars_[t], rtol=0.08, atol=0)
    assert_allclose(fit.transmat_[np.ix_(f, f)], truth.transmat_[np.ix_(t, t)], rtol=0, atol=0.02)
    # The fitted model explains its own data at least as well as the truth (ML), by a hair.
    assert fit.score(X) >= truth.score(X) - 1e-6 * abs(truth.score(X))


def test_categorical_refit_recovers_parameters():
    """1e5 symbols of a 2-state CategoricalHMM with distinct emission profiles, refit from uniform
    start/transition probabilities and emission rows drawn from Dirichlet(20 * truth) (a start in
    the right basin: a uniformly random start occasionally stalls EM at a saddle for hundreds of
    iterations). States matched by the probability of symbol 0; ~5e4 frames per state: emission
    se ~0.002, tolerances 0.02."""
    rng = np.random.default_rng(20240613)  # fixed: the assertions below are statistical
    K, n = 2, 100_000
    truth = fhmm.CategoricalHMM(K, device="cpu", random_state=int(rng.integers(1 << 31)))
    truth.startprob_ = np.array([0.6, 0.4])
    truth.transmat_ = np.array([[0.9, 0.1], [0.15, 0.85]])
    truth.emissionprob_ = np.array([[0.6, 0.25, 0.1, 0.05], [0.05, 0.15, 0.3, 0.5]])
    X, Z = truth.sample(n)
    assert X.shape == (n, 1) and np.issubdtype(X.dtype, np.integer)
    fit = fhmm.CategoricalHMM(K, n_iter=300, tol=1e-6, init_params="", device="cpu")
    fit.startprob_, fit.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    fit.emissionprob_ = np.stack([rng.dirichlet(20 * row) for row in truth.emissionprob_])[::-1]
    fit.fit(X)
    assert fit.monitor_.converged
    t, f = _match_states(truth.emissionprob_[:, 0], fit.emissionprob_[:, 0])
    assert_allclose(fit.emissionprob_[f], truth.emissionprob_[t], rtol=0, atol=0.02)
    assert_allclose(fit.transmat_[np.ix_(f, f)], truth.transmat_[np.ix_(t, t)], rtol=0, atol=0.02)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("model", MODELS)
def test_uniform_transitions_give_mixture_posteriors(rng, model, impl):
    """Every transmat_ row equal to startprob_: states are iid, so the posterior of each frame is
    startprob * p(x | state), normalised per frame (emission likelihoods computed here with SciPy)."""
    params, X, lengths = _problem(rng, model)
    pi = params["startprob_"]
    params["transmat_"] = np.tile(pi, (len(pi), 1))
    post = make(fhmm, model, params, implementation=impl).predict_proba(X, lengths)
    ll = _emission_loglik(model, params, X)
    want = np.exp(np.log(pi) + ll - logsumexp(np.log(pi) + ll, axis=1, keepdims=True))
    assert_allclose(post, want, rtol=RTOL, atol=ATOL)


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


@pytest.mark.parametrize("model", MODELS)
def test_same_random_state_same_fit_and_samples(rng, model):
    params, X, lengths = _problem(rng, model)
    seed = int(rng.integers(1 << 31))
    kw = dict(n_components=3, n_iter=5, random_state=seed)
    a = make(fhmm, model, None, **kw).fit(X, lengths)
    b = make(fhmm, model, None, **kw).fit(X, lengths)
    for k, v in fitted_params(a, model).items():
        assert_array_equal(v, fitted_params(b, model)[k], err_msg=k)
    assert_array_equal(list(a.monitor_.history), list(b.monitor_.history))
    Xa, Za = a.sample(500)
    Xb, Zb = b.sample(500)
    assert_array_equal(Xa, Xb)
    assert_array_equal(Za, Zb)
    Xc, Zc = a.sample(500, random_state=seed + 1)
    assert (Zc != Za).any() or (Xc != Xa).any()


@pytest.mark.parametrize("model", ["gaussian-full", "gmm-diag", "categorical", "poisson"])
def test_fit_and_samples_independent_of_thread_count(rng, model):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    params = random_params(rng, model)
    lengths = random_lengths(rng, 5, high=3000, long=15_000)  # several kernel chunks
    X = random_data(rng, model, params, lengths)
    seed = int(rng.integers(1 << 31))
    results = []
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(limits=n, user_api="openmp"), thread_policy("team" if n > 1 else "serial"):
            m = make(fhmm, model, None, n_components=3, n_iter=4, random_state=seed).fit(X, lengths)
            results.append((fitted_params(m, model), m.sample(3000), m.predict_proba(X, lengths)))
    (p1, s1, q1), (p2, s2, q2) = results
    for k in p1:
        assert_array_equal(p1[k], p2[k], err_msg=k)
    assert_array_equal(s1[0], s2[0])
    assert_array_equal(s1[1], s2[1])
    assert_array_equal(q1, q2)


@pytest.mark.parametrize("model", MODELS)
def test_pickle_round_trip(rng, model):
    params, X, lengths = _problem(rng, model)
    m = make(fhmm, model, None, n_components=3, n_iter=3, random_state=int(rng.integers(1 << 31))).fit(X, lengths)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.score(X, lengths) == m.score(X, lengths)
    for k, v in fitted_params(m, model).items():
        assert_array_equal(fitted_params(m2, model)[k], v, err_msg=k)
    assert list(m2.monitor_.history) == list(m.monitor_.history)
    assert m2.get_params() == m.get_params()
    assert_array_equal(m2.sample(50, random_state=3)[0], m.sample(50, random_state=3)[0])
    # deepcopy too (scikit-learn's clone of a fitted model's state goes through it)
    m3 = copy.deepcopy(m)
    assert m3.score(X, lengths) == m.score(X, lengths)


@pytest.mark.slow
def test_get_params_set_params_repr():
    hmm = pytest.importorskip("hmmlearn.hmm")
    for ours, theirs in [(fhmm.GaussianHMM(3, covariance_type="full"), hmm.GaussianHMM(3, covariance_type="full")),
                         (fhmm.CategoricalHMM(2), hmm.CategoricalHMM(2)),
                         (fhmm.PoissonHMM(4), hmm.PoissonHMM(4)),
                         (fhmm.GMMHMM(2, n_mix=3), hmm.GMMHMM(2, n_mix=3))]:
        p, q = ours.get_params(), theirs.get_params()
        assert set(p) - set(q) == {"device", "dtype"}, type(ours).__name__
        assert set(q) <= set(p)
        for k in q:  # same defaults as hmmlearn (implementation: fastgen's is "scaling", documented)
            if k != "implementation":
                assert np.all(p[k] == q[k]) if not isinstance(q[k], str) else p[k] == q[k], k
        assert repr(ours).startswith(type(ours).__name__ + "(")
        assert f"n_components={ours.n_components}" in repr(ours)
    m = fhmm.GaussianHMM(2)
    assert m.set_params(n_components=4, covariance_type="tied", n_iter=7) is m
    assert (m.n_components, m.covariance_type, m.n_iter) == (4, "tied", 7)
    assert m.get_params()["n_iter"] == 7
    with pytest.raises(ValueError, match="Invalid parameter 'bogus' for estimator GaussianHMM"):
        m.set_params(bogus=1)


def test_sklearn_clone():
    base = pytest.importorskip("sklearn.base")
    m = fhmm.GaussianHMM(3, covariance_type="tied", n_iter=17, random_state=5, device="cpu")
    c = base.clone(m)
    assert c is not m and c.get_params() == m.get_params()


@pytest.mark.parametrize("model", ["gaussian-diag", "categorical", "poisson", "gmm-full"])
def test_sample_with_currstate(rng, model):
    params = random_params(rng, model)
    m = make(fhmm, model, params, random_state=int(rng.integers(1 << 31)))
    K = len(params["startprob_"])
    for k in range(K):
        X, Z = m.sample(40, currstate=k)
        assert Z[0] == k and Z.shape == (40,) and len(X) == 40
    # Continue a chain: the continuation starts from the given state.
    _, Z = m.sample(30)
    X2, Z2 = m.sample(30, currstate=Z[-1], random_state=11)
    assert Z2[0] == Z[-1]
    # Never a zero-probability transition.
    tm = params["transmat_"].copy()
    tm[0] = np.eye(K)[K - 1]
    m.transmat_ = tm
    _, Z3 = m.sample(500, currstate=0)
    assert (Z3[1:][Z3[:-1] == 0] == K - 1).all()
    with pytest.raises(ValueError, match=r"currstate: expected a state in \[0, 3\), got 3"):
        m.sample(5, currstate=K)


@pytest.mark.parametrize("model", MODELS)
def test_samples_follow_the_model(model):
    """2e5 samples: transition frequencies match transmat_, and each state's emissions have the
    model's moments (Gaussian: mean and full covariance, which checks the Cholesky factor's side;
    GMM: the mixture's mean and covariance; Poisson: mean = variance = rate; categorical: symbol
    frequencies). Tolerances are 6 standard errors from each state's sample count."""
    rng = np.random.default_rng(20240614)  # fixed: the assertions below are statistical
    n = 200_000
    params = random_params(rng, model)
    K = len(params["startprob_"])
    params["transmat_"] = 0.5 * params["transmat_"] + 0.5 / K  # every state well visited
    m = make(fhmm, model, params, random_state=int(rng.integers(1 << 31)))
    X, Z = m.sample(n)
    assert len(X) == n and Z.shape == (n,)
    counts = np.zeros((K, K))
    np.add.at(counts, (Z[:-1], Z[1:]), 1)
    n_from = counts.sum(1, keepdims=True)
    assert_allclose(counts / n_from, params["transmat_"], rtol=0, atol=6 * 0.5 / np.sqrt(n_from.min()))
    kind, ct = _split(model)
    for k in range(K):
        Xk = X[Z == k].astype(np.float64)
        nk = len(Xk)
        if kind == "categorical":
            freq = np.bincount(Xk[:, 0].astype(int), minlength=params["emissionprob_"].shape[1]) / nk
            assert_allclose(freq, params["emissionprob_"][k], rtol=0, atol=6 * 0.5 / np.sqrt(nk))
            continue
        if kind == "poisson":
            lam = params["lambdas_"][k]
            assert_allclose(Xk.mean(0), lam, rtol=0, atol=6 * np.sqrt(lam.max() / nk))
            assert_allclose(Xk.var(0), lam, rtol=0, atol=6 * lam.max() * np.sqrt(3 / nk))
            continue
        D = X.shape[1]
        if kind == "gaussian":
            mu = params["means_"][k]
            cov = _full_covars(model, params["covars_"], K, 1, D)[k]
        else:
            w = params["weights_"][k]
            mus = params["means_"][k]
            covs = _full_covars(model, params["covars_"], K, len(w), D)[k]
            mu = w @ mus
            cov = np.einsum("m,mij->ij", w, covs + np.einsum("mi,mj->mij", mus - mu, mus - mu))
        scale = np.sqrt(np.diag(cov).max())
        assert_allclose(Xk.mean(0), mu, rtol=0, atol=6 * scale / np.sqrt(nk))
        # se of a sample covariance entry <= sqrt(2 / n) * (largest variance)
        assert_allclose(np.cov(Xk.T), cov, rtol=0, atol=6 * np.sqrt(2) * scale**2 / np.sqrt(nk))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gaussian-diag", "categorical"])
def test_stationary_distribution(rng, model):
    hmm = pytest.importorskip("hmmlearn.hmm")
    params = random_params(rng, model)
    f, h = make(fhmm, model, params), make(hmm, model, params)
    pi = f.get_stationary_distribution()
    assert_allclose(pi.sum(), 1.0, rtol=0, atol=1e-12)
    assert_allclose(pi @ params["transmat_"], pi, rtol=0, atol=1e-12)
    assert_allclose(pi, h.get_stationary_distribution(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model", ["gaussian-full", "categorical", "gmm-spherical"])
def test_decode_map(rng, model):
    """MAP decoding: the per-frame posterior argmax; its score is the sum of the log posterior maxima
    (fastgen documents a log-probability; hmmlearn 0.3.3 returns the plain sum of the maxima)."""
    params, X, lengths = _problem(rng, model)
    m = make(fhmm, model, params, algorithm="map")
    post = m.predict_proba(X, lengths)
    lp, states = m.decode(X, lengths)
    assert_array_equal(states, post.argmax(axis=1))
    assert_array_equal(m.predict(X, lengths), states)
    assert_allclose(lp, np.log(post.max(axis=1)).sum(), rtol=1e-12, atol=0)
    # The Viterbi path is a single path: its joint log-probability is below the log-likelihood.
    lp_v, _ = m.decode(X, lengths, algorithm="viterbi")
    assert np.isfinite(lp_v) and lp_v <= m.score(X, lengths)


@pytest.mark.parametrize("model", ["gaussian-diag", "gaussian-full", "gaussian-tied", "categorical", "poisson",
                                   "gmm-diag", "gmm-full"])
def test_float32_fit_agrees_with_float64(rng, model):
    """Same start, 5 EM iterations: float32 kernels (statistics accumulated in float64) track the
    float64 fit to ~1e-4 relative: float32 frame log-likelihoods carry ~1e-7 relative error, EM
    amplifies it by the conditioning of the fixed-point map (a few hundred at most here)."""
    params, X, lengths = _problem(rng, model, n_seq=6, long=1500)
    kw = dict(init_params="", n_iter=5, tol=-np.inf)
    a = make(fhmm, model, params, dtype=np.float64, **kw).fit(X, lengths)
    b = make(fhmm, model, params, dtype=np.float32, **kw).fit(X, lengths)
    assert_allclose(list(b.monitor_.history), list(a.monitor_.history), rtol=1e-5, atol=0)
    pa, pb = fitted_params(a, model), fitted_params(b, model)
    for k in pa:
        # atol relative to the parameter's own scale: an off-diagonal covariance of 7e-3 next to
        # variances of 1 carries the variances' absolute error, not 1e-4 of itself.
        assert_allclose(pb[k], pa[k], rtol=1e-4, atol=1e-4 * np.abs(pa[k]).max(), err_msg=k)
        assert np.asarray(getattr(b, k)).dtype == np.float64  # parameters stay float64
    assert_allclose(b.score(X, lengths), a.score(X, lengths), rtol=1e-5, atol=0)
    assert_allclose(b.predict_proba(X, lengths), a.predict_proba(X, lengths), rtol=0, atol=1e-4)


@pytest.mark.parametrize("model", MODELS)
def test_fit_with_default_init(model):
    """A plain fit from the default initialisation: finite parameters, valid distributions,
    history of the requested length or converged, score equals the last history entry's successor."""
    rng = np.random.default_rng(20240615)  # fixed: the assertions below are statistical
    params, X, lengths = _problem(rng, model, n_seq=8, long=500)
    m = make(fhmm, model, None, n_components=3, n_iter=15, random_state=int(rng.integers(1 << 31)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert m.fit(X, lengths) is m
    for k, v in fitted_params(m, model).items():
        assert np.isfinite(v).all(), k
    assert_allclose(m.startprob_.sum(), 1, rtol=0, atol=1e-12)
    assert_allclose(m.transmat_.sum(1), 1, rtol=0, atol=1e-12)
    assert 1 <= len(m.monitor_.history) <= 15
    assert m.monitor_.converged
    assert m.score(X, lengths) >= m.monitor_.history[-1] - 1e-8 * abs(m.monitor_.history[-1])


def test_verbose_reports_progress(rng, capsys):
    X = rng.normal(size=(200, 2))
    fhmm.GaussianHMM(2, n_iter=3, tol=-np.inf, verbose=True, random_state=0, device="cpu").fit(X)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and err[0].split()[0] == "1"


def test_monitor_converges_on_tol():
    rng = np.random.default_rng(20240616)  # fixed: the assertions below are statistical
    X = np.concatenate([rng.normal(-5, 1, (500, 1)), rng.normal(5, 1, (500, 1))])
    m = fhmm.GaussianHMM(2, n_iter=1000, tol=1e-3, random_state=0, device="cpu").fit(X)
    h = list(m.monitor_.history)
    assert m.monitor_.converged and len(h) < 1000
    assert h[-1] - h[-2] < 1e-3


# =================================================================================================
# (d) Bad input: exact exception type and message
# =================================================================================================

def _gauss(**kw):
    kw.setdefault("device", "cpu")
    return fhmm.GaussianHMM(2, **kw)


def _fitted_gauss(rng, ct="diag", D=2):
    m = _gauss(covariance_type=ct, n_iter=2, random_state=0)
    return m.fit(rng.normal(size=(60, D)))


def test_bad_X_dimensions(rng):
    with pytest.raises(ValueError,
                       match=r"X: expected a 2-D array of shape \(n_samples, n_features\), got shape \(10,\)"):
        _gauss().fit(rng.normal(size=10))
    with pytest.raises(ValueError, match=r"X: expected a 2-D array, got shape \(2, 3, 4\)"):
        _gauss().fit(rng.normal(size=(2, 3, 4)))
    m = _fitted_gauss(rng)
    with pytest.raises(ValueError, match="X: expected 2 features, got 3"):
        m.score(rng.normal(size=(10, 3)))
    with pytest.raises(ValueError, match="X: expected 2 features, got 1"):
        m.predict(rng.normal(size=(10, 1)))
    with pytest.raises(ValueError, match=r"X: empty input \(0 samples\)"):
        _gauss().fit(np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"X: empty input \(0 samples\)"):
        m.score(np.zeros((0, 2)))
    with pytest.raises(TypeError, match="X: expected a numeric array, got dtype <U1"):
        _gauss().fit(np.array([["a", "b"]]))


@pytest.mark.parametrize("lengths, exc, msg", [
    ([5, 4], ValueError, "lengths: must sum to n_samples=10, got sum 9"),
    ([5, 6], ValueError, "lengths: must sum to n_samples=10, got sum 11"),
    ([5, 0, 5], ValueError, r"lengths: every sequence needs at least one sample, got lengths\[1\] = 0"),
    ([12, -2], ValueError, r"lengths: every sequence needs at least one sample, got lengths\[1\] = -2"),
    ([], ValueError, "lengths: expected a non-empty 1-D array"),
    ([[5, 5]], ValueError, "lengths: expected a non-empty 1-D array"),
    ([5.5, 4.5], TypeError, "lengths: expected integers, got dtype float64"),
])
def test_bad_lengths(rng, lengths, exc, msg):
    X = rng.normal(size=(10, 2))
    with pytest.raises(exc, match=msg):
        _gauss().fit(X, lengths)
    m = _fitted_gauss(rng)
    with pytest.raises(exc, match=msg):
        m.score(X, lengths)


@pytest.mark.parametrize("model", ["gaussian-full", "poisson", "categorical"])
def test_any_array_layout_or_dtype_is_accepted(rng, model):
    """The estimator converts once: lists, Fortran order, strided views, other int/float dtypes and
    float32 data all give exactly the result of the C-contiguous float64 (int64) array."""
    params, X, lengths = _problem(rng, model)
    m = make(fhmm, model, params)
    want = m.score(X, lengths), m.predict_proba(X, lengths)
    wide = np.repeat(X, 2, axis=1)
    variants = [X.tolist(), np.asfortranarray(X), wide[:, ::2]]
    if model == "categorical":
        variants += [X.astype(np.int32), X.astype(np.uint8)]
    else:
        variants += [X.astype(np.float32) if model == "gaussian-full" else X.astype(np.int32)]
    for V in variants:
        V32 = np.asarray(V)
        ref_score = want[0] if V32.dtype != np.float32 else m.score(X.astype(np.float32).astype(np.float64), lengths)
        assert m.score(V, lengths) == ref_score
        if V32.dtype != np.float32:
            assert_array_equal(m.predict_proba(V, list(lengths)), want[1])


def test_integral_float_lengths_accepted(rng):
    X = rng.normal(size=(10, 2))
    m = _fitted_gauss(rng)
    assert m.score(X, np.array([4.0, 6.0])) == m.score(X, [4, 6])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X(rng, bad):
    X = rng.normal(size=(10, 2))
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"X: contains NaN or infinity \(first at index \(3, 1\)\)"):
        _gauss().fit(X)
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        _fitted_gauss(rng).predict(X)
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        fhmm.PoissonHMM(2, device="cpu").fit(np.abs(X))


def test_bad_categorical_symbols(rng):
    m = fhmm.CategoricalHMM(2, n_iter=2, random_state=0, device="cpu").fit(rng.integers(0, 3, (50, 1)))
    with pytest.raises(ValueError, match="X: largest symbol is 3 but the model only emits symbols up to 2"):
        m.score(np.array([[0], [3], [1]]))
    with pytest.raises(ValueError, match="X: symbols must be non-negative, got -1"):
        m.score(np.array([[0], [-1], [1]]))
    with pytest.raises(ValueError, match="X: symbols must be non-negative, got -1"):
        fhmm.CategoricalHMM(2, device="cpu").fit(np.array([[0], [-1], [1]]))
    with pytest.raises(ValueError, match="X: symbols must be integers, got dtype float64"):
        fhmm.CategoricalHMM(2, device="cpu").fit(np.array([[0.0], [1.5], [1.0]]))
    with pytest.raises(ValueError, match="X: symbols must be integers, got dtype float64"):
        m.predict(np.array([[0.0], [1.0]]))
    with pytest.raises(ValueError, match=r"X: CategoricalHMM expects shape \(n_samples, 1\)"):
        m.score(np.zeros((4, 2), dtype=np.int64))
    fixed = fhmm.CategoricalHMM(2, n_features=3, device="cpu")
    with pytest.raises(ValueError, match="X: largest symbol is 5 but the model only emits symbols up to 2"):
        fixed.fit(np.array([[0], [5], [1]]))


def test_bad_poisson_counts(rng):
    with pytest.raises(ValueError, match=r"X: Poisson counts must be non-negative, got min -1"):
        fhmm.PoissonHMM(2, device="cpu").fit(np.array([[0, 2], [-1, 3]]))
    with pytest.raises(ValueError, match="X: Poisson counts must be integers"):
        fhmm.PoissonHMM(2, device="cpu").fit(np.array([[0, 2.5], [1, 3]]))
    m = fhmm.PoissonHMM(2, n_iter=2, random_state=0, device="cpu").fit(rng.poisson(3, (40, 2)))
    with pytest.raises(ValueError, match="X: Poisson counts must be integers"):
        m.score(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="X: expected 2 features, got 3"):
        m.score(np.zeros((3, 3)))
    m.lambdas_ = np.array([[1.0, -2.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="lambdas_: must be non-negative, got min -2"):
        m.score(np.zeros((3, 2)))


@pytest.mark.parametrize("name, value, msg", [
    ("startprob_", [0.5, 0.6], r"startprob_: must sum to 1, got sums \[1.1\]"),
    ("startprob_", [1.5, -0.5], "startprob_: probabilities must be non-negative, got min -0.5"),
    ("startprob_", [0.5, 0.3, 0.2], r"startprob_: expected shape \(2,\), got \(3,\)"),
    ("startprob_", [np.nan, 1.0], "startprob_: contains NaN or infinity"),
    ("transmat_", [[0.5, 0.5], [0.5, 0.4]], "transmat_: rows must sum to 1"),
    ("transmat_", [[1.2, -0.2], [0.5, 0.5]], "transmat_: probabilities must be non-negative"),
    ("transmat_", [[1.0, 0.0]], r"transmat_: expected shape \(2, 2\), got \(1, 2\)"),
])
def test_bad_start_and_transition(rng, name, value, msg):
    m = _fitted_gauss(rng)
    setattr(m, name, np.array(value))
    X = rng.normal(size=(10, 2))
    for call in (m.score, m.predict, m.predict_proba, lambda X: m.sample(5)):
        with pytest.raises(ValueError, match=msg):
            call(X)
    m2 = _gauss(init_params="mc", n_iter=1)
    setattr(m2, name, np.array(value))
    m2.startprob_ = getattr(m2, "startprob_", np.array([0.5, 0.5]))
    m2.transmat_ = getattr(m2, "transmat_", np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=msg):
        m2.fit(X)


NOT_PD = "covars_: covariance matrices must be positive-definite"


@pytest.mark.parametrize("ct, covars, msg", [
    ("full", [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], NOT_PD),
    ("full", [[[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], "covars_: covariance matrices must be symmetric"),
    ("full", [[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]], NOT_PD),
    ("tied", [[1.0, 2.0], [2.0, 1.0]], NOT_PD),
    ("diag", [[1.0, -1.0], [1.0, 1.0]], "covars_: 'diag' variances must be positive, got min -1"),
    ("diag", [[1.0, 0.0], [1.0, 1.0]], "covars_: 'diag' variances must be positive, got min 0"),
    ("spherical", [1.0, -0.5], "covars_: 'spherical' variances must be positive, got min -0.5"),
    ("diag", [[1.0, 1.0]], r"covars_: 'diag' covariances need shape \(2, 2\), got \(1, 2\)"),
    ("full", [[[1.0, 0.0], [0.0, np.nan]], [[1.0, 0.0], [0.0, 1.0]]], "covars_: contains NaN or infinity"),
])
def test_bad_gaussian_covariances(rng, ct, covars, msg):
    m = _gauss(covariance_type=ct, init_params="st", n_iter=1)
    m.means_ = np.zeros((2, 2))
    m.covars_ = np.array(covars)
    with pytest.raises(ValueError, match=msg):
        m.fit(rng.normal(size=(20, 2)))
    m.startprob_, m.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match=msg):
        m.score(rng.normal(size=(20, 2)))


def test_bad_gmm_parameters(rng):
    m = fhmm.GMMHMM(2, n_mix=2, covariance_type="diag", init_params="", device="cpu")
    m.startprob_, m.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    m.means_, m.weights_ = np.zeros((2, 2, 3)), np.full((2, 2), 0.5)
    m.covars_ = -np.ones((2, 2, 3))
    X = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="covars_: 'diag' variances must be positive"):
        m.score(X)
    m.covars_ = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"covars_: 'diag' mixture covariances need shape \(2, 2, 3\), got \(2, 3\)"):
        m.score(X)
    m.covars_ = np.ones((2, 2, 3))
    m.weights_ = np.array([[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="weights_: rows must sum to 1"):
        m.score(X)
    m.weights_ = np.full((2, 2), 0.5)
    m.means_ = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match=r"means_: expected shape \(2, 2, n_features\), got \(2, 3, 3\)"):
        m.score(X)


def test_bad_hyper_parameters(rng):
    X = rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda', 'auto'\), got 'gpu'"):
        _gauss(device="gpu").fit(X)
    with pytest.raises(ValueError, match=r"implementation: expected one of \('scaling', 'log'\), got 'fast'"):
        _gauss(implementation="fast").fit(X)
    with pytest.raises(ValueError, match=r"algorithm: expected one of \('viterbi', 'map'\), got 'best'"):
        _gauss(algorithm="best").fit(X)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got float16"):
        _gauss(dtype=np.float16).fit(X)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        _gauss(dtype="int64").fit(X)
    with pytest.raises(ValueError, match="n_components: expected an integer >= 1, got 0"):
        fhmm.GaussianHMM(0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_components: expected an integer >= 1, got 2.5"):
        fhmm.GaussianHMM(2.5, device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_iter: expected an integer >= 0, got -1"):
        _gauss(n_iter=-1).fit(X)
    with pytest.raises(ValueError, match="tol: expected a number, got nan"):
        _gauss(tol=float("nan")).fit(X)
    with pytest.raises(ValueError, match=r"covariance_type: expected one of \('spherical', 'diag', 'full', 'tied'\)"):
        _gauss(covariance_type="block").fit(X)
    with pytest.raises(FastgenInvalidParameter):   # both a ValueError and a TypeError, as scikit-learn's
        _gauss(min_covar=-1.0).fit(X)
    with pytest.raises(ValueError, match="random_state: expected None, an int or a numpy RandomState"):
        _gauss(random_state="seed").fit(X)
    m = _fitted_gauss(rng)
    with pytest.raises(ValueError, match=r"algorithm: expected one of \('viterbi', 'map'\), got 'best'"):
        m.decode(X, algorithm="best")
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, got 0"):
        m.sample(0)


BAD_COVARIANCE_TYPE = r"covariance_type: expected one of \('spherical', 'diag', 'full', 'tied'\), got 'banded'"


@pytest.mark.parametrize("cls", [fhmm.GaussianHMM, fhmm.GMMHMM])
def test_invalid_covariance_type(rng, cls):
    """An unknown covariance_type is a ValueError naming the choices (not a KeyError from a lookup
    table in the initialisation), on fit and on score."""
    X = rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match=BAD_COVARIANCE_TYPE):
        cls(2, covariance_type="banded", device="cpu").fit(X)
    m = cls(2, covariance_type="banded", init_params="", device="cpu")
    m.startprob_, m.transmat_ = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    m.means_ = np.zeros((2, 2)) if cls is fhmm.GaussianHMM else np.zeros((2, 1, 2))
    m.covars_ = np.ones((2, 2))
    if cls is fhmm.GMMHMM:
        m.weights_ = np.ones((2, 1))
    with pytest.raises(ValueError, match=BAD_COVARIANCE_TYPE):
        m.score(X)


def test_device_cuda_without_gpu_raises(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = rng.normal(size=(20, 2))
    with pytest.raises(RuntimeError, match="device='cuda' was requested but no usable CUDA GPU was found"):
        fhmm.GaussianHMM(2, device="cuda").fit(X)
    m = _fitted_gauss(rng)
    m.device = "cuda"
    with pytest.raises(RuntimeError, match="device='cuda' was requested"):
        m.score(X)


def test_device_auto_runs_without_gpu(rng):
    if _backend.cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is usable here")
    X = rng.normal(size=(50, 2))
    a = fhmm.GaussianHMM(2, n_iter=3, random_state=0, device="auto").fit(X)
    b = fhmm.GaussianHMM(2, n_iter=3, random_state=0, device="cpu").fit(X)
    assert a.score(X) == b.score(X)


@pytest.mark.parametrize("cls", [fhmm.GaussianHMM, fhmm.CategoricalHMM, fhmm.PoissonHMM, fhmm.GMMHMM])
def test_unfitted_model(cls):
    m = cls(2, device="cpu")
    X = np.zeros((3, 1), dtype=np.int64)
    for call in (m.score, m.predict, m.predict_proba, m.decode, lambda X: m.sample(3)):
        with pytest.raises(AttributeError, match=f"This {cls.__name__} instance is not fitted yet"):
            call(X)


def test_missing_parameters_without_init(rng):
    m = fhmm.GaussianHMM(2, init_params="", device="cpu")
    m.means_, m.covars_ = np.zeros((2, 2)), np.ones((2, 2))
    m.startprob_ = np.array([0.5, 0.5])  # transmat_ missing, and 't' not in init_params...
    # ... then the default initialisation supplies it (hmmlearn: an attribute that was never set
    # is initialised whatever init_params says).
    m.fit(rng.normal(size=(20, 2)))
    assert m.transmat_.shape == (2, 2)


def test_impossible_sequence_under_fitted_model():
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu")
    m.startprob_ = np.array([1.0, 0.0])
    m.transmat_ = np.eye(2)
    m.emissionprob_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.array([[0], [1], [0]])
    assert m.score(X) == -np.inf
    with pytest.raises(ValueError, match="X: sequence 0 has zero probability under the model"):
        m.predict_proba(X)
    with pytest.raises(ValueError, match="X: sequence 1 has zero probability under the current model"):
        m.fit(np.array([[0], [0], [1], [0]]), [2, 2])


# =================================================================================================
# (e) A state that receives no posterior mass keeps its parameters; no NaN ever
# =================================================================================================

def _empty_state_warning(state):
    return rf"states \[{state}\] (received no posterior mass|had no outgoing transitions)"


def _assert_no_nan(m, model):
    for k, v in fitted_params(m, model).items():
        assert not np.isnan(v).any(), k
        assert np.isfinite(v).all(), k


def _only_fastgen_warnings(record):
    """Both of fastgen's empty-state warnings were raised (emission parameters kept, transmat_ row
    kept), and no NumPy 0/0 or overflow warning slipped out alongside them."""
    msgs = [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]
    assert any("received no posterior mass" in s for s in msgs), msgs
    assert any("had no outgoing transitions" in s for s in msgs), msgs
    assert not any("encountered" in s for s in msgs), msgs
    return msgs


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_gaussian_state_without_mass_keeps_parameters(rng, ct, impl):
    K, D = 3, 2
    X = np.concatenate([rng.normal(-2, 1, (150, D)), rng.normal(2, 1, (150, D))])
    m = fhmm.GaussianHMM(K, covariance_type=ct, init_params="", n_iter=4, tol=-np.inf, implementation=impl,
                         device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.means_ = np.array([[-2.0, -2.0], [2.0, 2.0], [1e3, 1e3]])  # state 2: data impossible-ish
    m.covars_ = random_covars(rng, ct, K, D)
    before = fitted_params(m, f"gaussian-{ct}")
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(2)) as record:
        m.fit(X)
    _only_fastgen_warnings(record)
    after = fitted_params(m, f"gaussian-{ct}")
    _assert_no_nan(m, f"gaussian-{ct}")
    assert_array_equal(after["means_"][2], before["means_"][2])
    if ct != "tied":
        assert_array_equal(after["covars_"][2], before["covars_"][2])
    assert_array_equal(m.transmat_[2], before["transmat_"][2])  # kept: no outgoing mass either
    assert_allclose(m.transmat_.sum(1), 1, rtol=0, atol=1e-12)
    assert (after["means_"][:2] != before["means_"][:2]).any()  # the others did learn
    assert np.isfinite(m.score(X))


def test_categorical_state_without_mass_keeps_parameters(rng):
    K = 3
    X = rng.integers(0, 2, size=(200, 1))
    m = fhmm.CategoricalHMM(K, init_params="", n_iter=4, tol=-np.inf, n_features=4, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.emissionprob_ = np.array([[0.5, 0.3, 0.1, 0.1], [0.2, 0.6, 0.1, 0.1], [0.0, 0.0, 0.5, 0.5]])
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(2)) as record:
        m.fit(X)
    _only_fastgen_warnings(record)
    _assert_no_nan(m, "categorical")
    assert_array_equal(m.emissionprob_[2], [0.0, 0.0, 0.5, 0.5])
    assert_allclose(m.emissionprob_.sum(1), 1, rtol=0, atol=1e-12)


def test_poisson_state_without_mass_keeps_parameters(rng):
    K = 3
    X = rng.poisson(3, size=(200, 2))
    m = fhmm.PoissonHMM(K, init_params="", n_iter=4, tol=-np.inf, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.lambdas_ = np.array([[2.0, 2.0], [4.0, 4.0], [1e5, 1e5]])
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(2)) as record:
        m.fit(X)
    _only_fastgen_warnings(record)
    _assert_no_nan(m, "poisson")
    assert_array_equal(m.lambdas_[2], [1e5, 1e5])


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_gmm_state_without_mass_keeps_parameters(rng, ct):
    K, M, D = 2, 2, 2
    X = rng.normal(size=(300, D))
    m = fhmm.GMMHMM(K, n_mix=M, covariance_type=ct, init_params="", n_iter=3, tol=-np.inf, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.weights_ = np.full((K, M), 0.5)
    m.means_ = np.array([[[0.0, 0.0], [1.0, 1.0]], [[1e3, 1e3], [-1e3, 1e3]]])  # state 1: far away
    m.covars_ = random_mixture_covars(rng, ct, K, M, D)
    before = fitted_params(m, f"gmm-{ct}")
    with pytest.warns(RuntimeWarning, match=_empty_state_warning(1)) as record:
        m.fit(X)
    _assert_no_nan(m, f"gmm-{ct}")
    _only_fastgen_warnings(record)
    after = fitted_params(m, f"gmm-{ct}")
    assert_array_equal(after["means_"][1], before["means_"][1])
    assert_array_equal(after["covars_"][1], before["covars_"][1])
    assert_array_equal(after["weights_"][1], before["weights_"][1])
    assert np.isfinite(m.score(X))


def test_empty_state_warnings_point_at_the_caller(rng):
    """Both empty-state warnings name the line of user code that called fit (stacklevel), like
    the transmat_ one does, so that users can filter them by module."""
    K, D = 3, 2
    X = rng.normal(size=(100, D))
    m = fhmm.GaussianHMM(K, init_params="", n_iter=1, device="cpu")
    m.startprob_, m.transmat_ = np.full(K, 1 / K), np.full((K, K), 1 / K)
    m.means_ = np.array([[-1.0, 0.0], [1.0, 0.0], [1e3, 1e3]])
    m.covars_ = np.ones((K, D))
    with pytest.warns(RuntimeWarning) as record:
        m.fit(X)
    msgs = {str(w.message).split(";")[1].strip(): w.filename for w in record}
    assert len(msgs) == 2, msgs
    for what, filename in msgs.items():
        assert filename == __file__, (what, filename)


# =================================================================================================
# Regression tests for specific defects (each names the code it pins down)
# =================================================================================================

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_gmmhmm_accepts_every_covariance_type(rng, ct):
    """GMMHMM._check_emission must validate each covariance layout (it reshaped every layout at once,
    so only 'tied' passed), and the component log-densities must handle (K, M, D, D) 'full' factors."""
    params = random_params(rng, f"gmm-{ct}")
    m = make(fhmm, f"gmm-{ct}", params)
    X = random_data(rng, f"gmm-{ct}", params, [300])
    assert np.isfinite(m.score(X))
    m2 = fhmm.GMMHMM(2, n_mix=2, covariance_type=ct, n_iter=3, random_state=0, device="cpu").fit(X)
    assert np.isfinite(m2.score(X))


def test_categorical_bic_runs(rng):
    """BaseHMM.bic validated X and then scored the validated (1-D symbol) array, which CategoricalHMM
    rejects on the second validation."""
    X = rng.integers(0, 3, size=(100, 1))
    m = fhmm.CategoricalHMM(2, n_iter=3, random_state=0, device="cpu").fit(X)
    assert_allclose(m.bic(X), -2 * m.score(X) + m._n_free_params() * np.log(100), rtol=1e-12, atol=0)


@pytest.mark.parametrize("impl", [None, "scaling", "log"])
def test_left_to_right_model_posteriors(impl):
    """A left-to-right model whose absorbing last state is entered early (symbol 0 can only come from
    state 1), followed by 600 symbols that the no-longer-reachable state 0 would explain better.
    Every frame from the second on is certainly state 1. hmmlearn's default (log) gets this right;
    fastgen's default (scaling) must too: its backward pass normalises beta over all states, so
    beta of the real state underflows relative to the unreachable one and the posteriors of a
    sequence with positive probability came out all zero."""
    X = np.r_[1, 0, np.ones(600, dtype=np.int64)][:, None]
    kw = {} if impl is None else {"implementation": impl}
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu", **kw)
    m.startprob_ = np.array([1.0, 0.0])
    m.transmat_ = np.array([[0.9, 0.1], [0.0, 1.0]])
    m.emissionprob_ = np.array([[0.0, 0.6, 0.4], [0.5, 0.05, 0.45]])
    want = np.zeros((len(X), 2))
    want[0, 0] = want[1:, 1] = 1.0
    assert_allclose(m.score(X), np.log(0.6) + np.log(0.1 * 0.5) + 600 * np.log(0.05), rtol=1e-12, atol=0)
    assert_allclose(m.predict_proba(X), want, rtol=0, atol=1e-12)
    assert_array_equal(m.predict(X), want.argmax(axis=1))
    # EM from here keeps the structure and the emission counts it must see (602 frames' worth).
    m.n_iter, m.params = 1, "e"
    m.fit(X)
    assert_allclose(m.emissionprob_[1], [1 / 601, 600 / 601, 0.0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("impl", [None, "scaling", "log"])
def test_transient_state_outlives_a_long_unlikely_stretch(impl):
    """State 0 absorbing, state 1 transient (1% leak into 0 per step). 400 symbols that state 0
    explains better (9:1), then 800 that state 1 explains better: staying in state 1 throughout wins
    by ~900 nats, so every posterior is ~[0, 1] and Viterbi says 1 everywhere. On the way, the
    forward probability of state 1 falls to ~exp(-880) of state 0's: a forward pass normalised
    over all states rounds it to 0, after which state 1 can never come back and the model reports
    state 0 throughout with a log-likelihood ~900 nats too low. hmmlearn's default (log) is right."""
    X = np.r_[np.zeros(400, dtype=np.int64), np.ones(800, dtype=np.int64)][:, None]
    kw = {} if impl is None else {"implementation": impl}
    m = fhmm.CategoricalHMM(2, init_params="", device="cpu", **kw)
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[1.0, 0.0], [0.01, 0.99]])
    m.emissionprob_ = np.array([[0.9, 0.1], [0.1, 0.9]])
    # Log-likelihood by enumeration: with state 0 absorbing, the paths are 1^t 0^(N-t), t = 0..N.
    N = len(X)
    with np.errstate(divide="ignore"):
        le, lt = np.log(m.emissionprob_), np.log(m.transmat_)
    c1 = np.r_[0, np.cumsum(le[1, X[:, 0]])]           # emissions of frames < t in state 1
    c0 = np.r_[np.cumsum(le[0, X[::-1, 0]])[::-1], 0]  # emissions of frames >= t in state 0
    t = np.arange(N + 1)
    trans = np.where(t == 0, 0.0, (np.maximum(t - 1, 0)) * lt[1, 1] + np.where(t < N, lt[1, 0], 0.0))
    paths = np.log(0.5) + c1 + c0 + trans
    assert_allclose(m.score(X), logsumexp(paths), rtol=1e-12, atol=0)
    post = m.predict_proba(X)
    assert (post[:, 1] > 0.99).all()
    assert_array_equal(m.predict(X), 1)


@pytest.mark.cuda
@pytest.mark.skipif(not _backend.cuda_usable(), reason="no usable CUDA device or simulator")
def test_estimator_transient_state_outlives_an_unlikely_stretch():
    """CUDA twin of test_transient_state_outlives_a_long_unlikely_stretch (above)
    (default implementation, "scaling"), shortened for the simulator: 40 symbols that state 0
    explains better (1e9:1), then 80 that state 1 does. Staying in state 1 throughout wins; the
    forward share of state 1 falls to ~exp(-830) on the way. score equals the enumeration over the
    N + 1 possible paths, posteriors sit on state 1 and Viterbi says 1 everywhere."""
    from scipy.special import logsumexp
    from fastgen import hmm as fhmm
    X = np.r_[np.zeros(40, dtype=np.int64), np.ones(80, dtype=np.int64)][:, None]
    m = fhmm.CategoricalHMM(2, init_params="", device="cuda")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.array([[1.0, 0.0], [0.01, 0.99]])
    m.emissionprob_ = np.array([[1 - 1e-9, 1e-9], [1e-9, 1 - 1e-9]])
    N = len(X)
    with np.errstate(divide="ignore"):
        le, lt = np.log(m.emissionprob_), np.log(m.transmat_)
    c1 = np.r_[0, np.cumsum(le[1, X[:, 0]])]           # emissions of frames < t in state 1
    c0 = np.r_[np.cumsum(le[0, X[::-1, 0]])[::-1], 0]  # emissions of frames >= t in state 0
    t = np.arange(N + 1)
    trans = np.where(t == 0, 0.0, np.maximum(t - 1, 0) * lt[1, 1] + np.where(t < N, lt[1, 0], 0.0))
    paths = np.log(0.5) + c1 + c0 + trans
    assert_allclose(m.score(X), logsumexp(paths), rtol=1e-12, atol=0)
    assert (m.predict_proba(X)[:, 1] > 0.99).all()
    assert_array_equal(m.predict(X), 1)
