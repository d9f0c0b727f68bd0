"""fastgen.hmm estimators against hmmlearn 0.3.3 (inference, EM with and without priors, partial
parameters, AIC/BIC; marked `slow`) and hmmlearn's documented usage run unchanged with the import
swapped. Model factory and tolerances: hmm_estimator_cases.py.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from numpy.testing import assert_allclose, assert_array_equal

from fastgen import hmm as fhmm
from hmm_estimator_cases import (assert_params_close, assert_same_viterbi_path, ATOL, fitted_params,
                                 IMPLEMENTATIONS, make, MODELS, _problem, RTOL, _split)


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
@pytest.mark.parametrize("model", ["poisson"] + [f"{kind}-{ct}" for kind in ("gaussian", "gmm")
                                                for ct in ("spherical", "diag", "full", "tied")])
def test_many_sequences_match_hmmlearn(rng, model):
    """40 sequences: the kernels compute the emissions inside the lattice passes, SIMD lanes of
    sequences at a time (csrc/hmm/lanes.hpp), and the E-step sums the statistics there; inference
    and three EM iterations still agree with hmmlearn."""
    hmm = pytest.importorskip("hmmlearn.hmm")
    params, X, lengths = _problem(rng, model, n_seq=40)
    f, h = make(fhmm, model, params), make(hmm, model, params)
    assert_allclose(f.score(X, lengths), h.score(X, lengths), rtol=RTOL, atol=0)
    assert_allclose(f.decode(X, lengths)[0], h.decode(X, lengths)[0], rtol=RTOL, atol=0)
    kw = dict(init_params="", n_iter=3, tol=-np.inf)
    f = make(fhmm, model, params, **kw).fit(X, lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = make(hmm, model, params, **kw).fit(X, lengths)
    assert_allclose(list(f.monitor_.history), list(h.monitor_.history), rtol=RTOL, atol=0)
    assert_params_close(fitted_params(f, model), fitted_params(h, model, "hmmlearn"))


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
