"""Properties of the fastgen.hmm estimators: posteriors, monotone EM, refits, reproducibility and
thread counts, pickling and scikit-learn conventions, sampling, decoding, float32 fits,
verbosity and convergence. Model factory and tolerances: hmm_estimator_cases.py.
"""
from __future__ import annotations

import copy
import itertools
import pickle
import warnings

import numpy as np
import pytest

from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from conftest import thread_policy, random_lengths
from fastgen import hmm as fhmm
from hmm_estimator_cases import (ATOL, _emission_loglik, fitted_params, _full_covars, IMPLEMENTATIONS, make,
                                 MODELS, _problem, random_data, random_params, RTOL, _split)


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
