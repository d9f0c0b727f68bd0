"""The many-sequence kernels (csrc/hmm/lanes.hpp), which run a group of sequences in SIMD lanes:
groups of unequal lengths, length-1 sequences, an impossible sequence beside ordinary ones in the
same group, against the NumPy oracle (test_hmm_forward_backward.py has sequences redone in the log
domain among 40); and a sequence's result
does not depend on the sequences that share its group (the same bits alone or in any batch).

Tolerances: the lanes compute in float64 whatever the dtype, so float64 agrees with the oracle to
1e-10 relative (RTOL) and float32 to its input rounding (1e-5); integers (paths) are equal.
"""
from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import offsets_of
from devices import host, kernels
from hmm_cases import cuda_case
from fastgen import _core
from reference import hmm as ref


def _batch(rng, K, dtype, n_seq=37):
    lengths = rng.integers(1, 60, size=n_seq)
    lengths[[i for i in (3, 11, 20) if i < n_seq]] = 1
    sp = rng.dirichlet(np.ones(K))
    tm = rng.dirichlet(np.ones(K), size=K)
    lp = rng.normal(-2.0, 3.0, size=(int(lengths.sum()), K))
    return sp.astype(dtype), tm.astype(dtype), lp.astype(dtype), lengths


# The emissions computed from rows of X inside the passes: kind -> (the emissions kernel of its
# log-likelihoods, the order of its M-step moments).
KINDS = {"diag": ("gaussian_logprob_diag", 1), "full": ("gaussian_logprob_full", 2),
         "tied": ("gaussian_logprob_full", 2), "poisson": ("poisson_logprob", 0),
         "gmm_diag": ("gaussian_logprob_diag", 1), "gmm_full": ("gaussian_logprob_full", 2)}
N_MIX = 2


def _emission_batch(rng, device, dtype, n_seq, kind, K=4, D=3):
    """_batch's model over frames X with emissions of the given kind (their parameters: args)."""
    sp, tm, _, lengths = _batch(rng, K, dtype, n_seq=n_seq)
    if device == "cuda":
        lengths = np.minimum(lengths, 8)  # (the simulator runs a thread at a time)
    N = int(lengths.sum())
    if kind == "poisson":
        X = rng.poisson(3.0, size=(N, D)).astype(dtype)
        X[::7, 0] = 0
        X[::11, 1] = 3000  # past the kernels' table of log factorials
        X[::13, 2] += 0.5  # (the kernels take any count; PoissonHMM checks for integers)
        lam = rng.uniform(0.5, 6.0, size=(K, D))
        lam[1, 0] = 0.0  # a zero rate: certain zero counts, impossible others
        return sp, tm, lengths, offsets_of(lengths), X, (lam.astype(dtype),)
    X = rng.normal(size=(N, D)).astype(dtype) * 2
    C = K * N_MIX if kind.startswith("gmm") else K  # components: a mixture of N_MIX per state
    mu = rng.normal(size=(C, D)).astype(dtype)
    extra = (np.log(rng.dirichlet(np.ones(N_MIX), size=K)).astype(dtype),) if kind.startswith("gmm") else ()
    if kind in ("diag", "gmm_diag"):
        return sp, tm, lengths, offsets_of(lengths), X, (mu, rng.uniform(0.5, 2.0, size=(C, D)).astype(dtype)) + extra
    a = rng.normal(size=(1 if kind == "tied" else C, D, D))
    cov = a @ a.transpose(0, 2, 1) + np.eye(D)
    P = np.linalg.cholesky(np.linalg.inv(cov)).transpose(0, 2, 1)  # upper-triangular precision factors
    return sp, tm, lengths, offsets_of(lengths), X, (mu, np.ascontiguousarray(P).astype(dtype)) + extra


def _two_step(em, kind, X, args):
    """(frame log-likelihoods, the moments' weights from the state posteriors) by the emissions kernels."""
    densities = getattr(em, KINDS[kind][0])
    if not kind.startswith("gmm"):
        return densities(X, *args), lambda post: post
    comp = densities(X, *args[:2])
    return em.mixture_logprob(comp, args[2]), lambda post: em.mixture_posteriors(comp, args[2], post)


def _fused(hmm, name, kind):
    return getattr(hmm, f"{name}_{'full' if kind == 'tied' else kind}")


def _tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 3, 9])
def test_groups_of_unequal_lengths_match_the_oracle(rng, K, dtype):
    sp, tm, lp, lengths = _batch(rng, K, dtype)
    off = offsets_of(lengths)
    logprob, post, xi = _core.hmm.forward_backward(sp, tm, lp, off, True, True)
    f64 = [a.astype(np.float64) for a in (sp, tm, lp)]
    r_logprob, r_post, r_xi = ref.forward_backward(*f64, lengths)
    tol = _tol(dtype)
    assert_allclose(logprob, r_logprob, rtol=tol, atol=tol)
    assert_allclose(post, r_post, rtol=tol, atol=tol)
    assert_allclose(xi, r_xi, rtol=tol, atol=tol * lengths.sum())
    score = _core.hmm.forward_backward(sp, tm, lp, off, False, False)[0]
    assert_allclose(score, r_logprob, rtol=tol, atol=tol)
    v_logprob, states = _core.hmm.viterbi(sp, tm, lp, off)
    r_vlogprob, r_states = ref.viterbi(*f64, lengths)
    assert_allclose(v_logprob, r_vlogprob, rtol=tol, atol=tol)
    if dtype == np.float64:  # (float32 inputs may turn a near-tie)
        assert_array_equal(states, r_states)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_impossible_sequence_leaves_its_group_mates_alone(rng, dtype):
    K = 3
    sp, tm, lp, lengths = _batch(rng, K, dtype, n_seq=24)
    tm[:, :] = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]], dtype)  # left-right
    off = offsets_of(lengths)
    impossible = 5
    lp[off[impossible]:off[impossible + 1], :] = -np.inf  # no state can emit its frames
    # a state whose emissions underflow in every frame of another sequence, the longest but that one
    longest = int(np.argmax(np.where(np.arange(len(lengths)) == impossible, 0, lengths)))
    lp[off[longest]:off[longest + 1], 2] = -1e4
    logprob, post, xi = _core.hmm.forward_backward(sp, tm, lp, off, True, True)
    f64 = [a.astype(np.float64) for a in (sp, tm, lp)]
    r_logprob, r_post, r_xi = ref.forward_backward(*f64, lengths)
    assert logprob[impossible] == -np.inf
    assert not post[off[impossible]:off[impossible + 1]].any()
    assert np.isfinite(np.delete(logprob, impossible)).all()
    tol = _tol(dtype)
    assert_allclose(np.delete(logprob, impossible), np.delete(r_logprob, impossible), rtol=tol, atol=tol)
    keep = np.ones(len(lp), bool)
    keep[off[impossible]:off[impossible + 1]] = False
    assert_allclose(post[keep], r_post[keep], rtol=tol, atol=tol)
    assert_allclose(xi, r_xi, rtol=tol, atol=tol * lengths.sum())


def test_a_sequence_gives_the_same_bits_in_any_batch(rng):
    sp, tm, lp, lengths = _batch(rng, 5, np.float64, n_seq=40)
    off = offsets_of(lengths)
    logprob, post, _ = _core.hmm.forward_backward(sp, tm, lp, off, True, False)
    v_logprob, states = _core.hmm.viterbi(sp, tm, lp, off)
    # the same sequences reversed and with 8 copies of the first appended: every group changes
    order = list(range(39, -1, -1)) + [0] * 8
    blocks = [lp[off[s]:off[s + 1]] for s in order]
    lp2, len2 = np.concatenate(blocks), lengths[order]
    off2 = offsets_of(len2)
    logprob2, post2, _ = _core.hmm.forward_backward(sp, tm, lp2, off2, True, False)
    v_logprob2, states2 = _core.hmm.viterbi(sp, tm, lp2, off2)
    for i, s in enumerate(order):
        assert logprob2[i] == logprob[s]
        assert v_logprob2[i] == v_logprob[s]
        assert_array_equal(post2[off2[i]:off2[i + 1]], post[off[s]:off[s + 1]])
        assert_array_equal(states2[off2[i]:off2[i + 1]], states[off[s]:off[s + 1]])


@pytest.mark.parametrize("device, n_seq", [("cpu", 3), ("cpu", 37), cuda_case(3)],
                         ids=["cpu-few-sequences", "cpu-lanes", "cuda"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_emissions_equal_the_two_step_path(device, rng, n_seq, dtype, kind):
    """forward_backward_<kind> / viterbi_<kind> (the log-likelihoods inside the pass on the CPU
    with many sequences) give what the emissions kernel followed by forward_backward / viterbi
    gives: the same formula in the same order, so float64 agrees to the last bits on the CPU."""
    sp, tm, lengths, off, X, args = _emission_batch(rng, device, dtype, n_seq, kind)
    hmm, em = kernels(device, "hmm"), kernels(device, "emissions")
    lp = _two_step(em, kind, X, args)[0]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for fused, two_step in zip(_fused(hmm, "forward_backward", kind)(sp, tm, X, *args, off, True, True),
                               hmm.forward_backward(sp, tm, lp, off, True, True)):
        assert_allclose(host(fused), host(two_step), rtol=tol, atol=tol)
    v_fused, v_two = _fused(hmm, "viterbi", kind)(sp, tm, X, *args, off), hmm.viterbi(sp, tm, lp, off)
    assert_allclose(host(v_fused[0]), host(v_two[0]), rtol=tol, atol=tol)
    assert_array_equal(host(v_fused[1]), host(v_two[1]))


@pytest.mark.parametrize("device, n_seq", [("cpu", 3), ("cpu", 37), cuda_case(3)],
                         ids=["cpu-few-sequences", "cpu-lanes", "cuda"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_e_step_equals_posteriors_then_moments(device, rng, n_seq, dtype, kind):
    """e_step_<kind>'s sums (the lanes add each sequence's own, in float64) against
    forward_backward_<kind>'s posteriors through weighted_moments and sum_rows: 1e-12 relative in
    float64 (another order of additions), the float32 results' rounding (1e-5) in float32."""
    sp, tm, lengths, off, X, args = _emission_batch(rng, device, dtype, n_seq, kind)
    hmm, em = kernels(device, "hmm"), kernels(device, "emissions")
    for want_xi in (True, False):
        logprob, start, xi, ws, wx, wxx = _fused(hmm, "e_step", kind)(sp, tm, X, *args, off, want_xi)
        r_logprob, post, r_xi = _fused(hmm, "forward_backward", kind)(sp, tm, X, *args, off, True, want_xi)
        r_ws, r_wx, r_wxx = em.weighted_moments(X, _two_step(em, kind, X, args)[1](post), KINDS[kind][1])
        r_start = host(post)[off[:-1]].sum(axis=0)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert (xi is None) == (not want_xi)
        assert (wxx is None) == (r_wxx is None)
        pairs = [(logprob, r_logprob), (start, r_start), (ws, r_ws), (wx, r_wx)]
        pairs += [(wxx, r_wxx)] if wxx is not None else []
        pairs += [(xi, r_xi)] if want_xi else []
        for a, b in pairs:
            assert host(a).dtype == dtype
            assert_allclose(host(a), host(b), rtol=tol, atol=tol * lengths.sum())


def test_fused_e_step_falls_back_when_a_sequence_is_redone_in_the_log_domain():
    """test_hmm_forward_backward's transient state after a deep dip, made by Gaussian emissions
    (means 0 and 8, unit variances: x = 3.5 favours state 0 by 4 nats, x = 4.5 state 1), 20 copies:
    the scaled pass loses state 1, the sequences are redone in the log domain, and the statistics
    still come out, from the log-domain posteriors."""
    n = 200
    sp = np.array([0.5, 0.5])
    tm = np.array([[1.0, 0.0], [0.01, 0.99]])
    one = np.full((3 * n, 1), 4.5)
    one[:n] = 3.5
    X = np.tile(one, (20, 1))
    off = offsets_of(np.full(20, 3 * n))
    mu, prec = np.array([[0.0], [8.0]]), np.ones((2, 1))
    logprob, start, xi, ws, wx, wxx = _core.hmm.e_step_diag(sp, tm, X, mu, prec, off, True)
    r_logprob, post, r_xi = _core.hmm.forward_backward_diag(sp, tm, X, mu, prec, off, True, True)
    r_ws, r_wx, r_wxx = _core.emissions.weighted_moments(X, post, 1)
    assert ws[1] > 0.99 * len(X)  # state 1 throughout, as the log domain finds
    for a, b in [(logprob, r_logprob), (start, post[off[:-1]].sum(0)), (xi, r_xi), (ws, r_ws), (wx, r_wx), (wxx, r_wxx)]:
        assert_allclose(a, b, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", ["forward_backward_diag", "viterbi_diag", "e_step_diag"])
def test_fused_kernels_name_the_bad_argument(name):
    """The fused kernels check their inputs as the two-step ones do, naming the argument."""
    f = getattr(_core.hmm, name)
    sp, tm = np.full(2, 0.5), np.full((2, 2), 0.5)
    X, mu, prec, off = np.zeros((5, 3)), np.zeros((2, 3)), np.ones((2, 3)), np.array([0, 5])
    with pytest.raises(ValueError, match=r"means: expected shape \(\*, 3\), got \(2, 4\)"):
        f(sp, tm, X, np.zeros((2, 4)), prec, off)
    with pytest.raises(ValueError, match=r"precisions: expected shape \(2, 3\), got \(2, 2\)"):
        f(sp, tm, X, mu, np.ones((2, 2)), off)
    with pytest.raises(ValueError, match="offsets: must start at 0 and end at n_samples=5"):
        f(sp, tm, X, mu, prec, np.array([0, 4]))
    with pytest.raises(ValueError, match=r"startprob: expected shape \(2,\), got \(3,\)"):
        f(np.full(3, 1 / 3), tm, X, mu, prec, off)
    with pytest.raises(TypeError, match="means: expected dtype float32, got float64"):
        f(sp, tm, X.astype(np.float32), mu, prec, off)


@pytest.mark.parametrize("name", ["forward_backward", "viterbi", "e_step"])
def test_full_and_poisson_kernels_name_the_bad_argument(name):
    full, poisson = getattr(_core.hmm, f"{name}_full"), getattr(_core.hmm, f"{name}_poisson")
    sp, tm = np.full(2, 0.5), np.full((2, 2), 0.5)
    X, mu, off = np.zeros((5, 3)), np.zeros((2, 3)), np.array([0, 5])
    with pytest.raises(ValueError, match=r"prec_chol: expected 2 or 1 factors, got 3"):
        full(sp, tm, X, mu, np.ones((3, 3, 3)), off)
    with pytest.raises(ValueError, match=r"prec_chol: expected shape \(\*, 3, 3\), got \(2, 3, 2\)"):
        full(sp, tm, X, mu, np.ones((2, 3, 2)), off)
    with pytest.raises(ValueError, match=r"lambdas: expected shape \(\*, 3\), got \(2, 2\)"):
        poisson(sp, tm, X, np.ones((2, 2)), off)
    with pytest.raises(ValueError, match=r"lambdas: need at least one state"):
        poisson(sp, tm, X, np.ones((0, 3)), off)
    with pytest.raises(ValueError, match=r"transmat: expected shape \(2, 2\), got \(3, 3\)"):
        poisson(sp, np.full((3, 3), 1 / 3), X, np.ones((2, 3)), off)


@pytest.mark.parametrize("name", ["forward_backward", "viterbi", "e_step"])
def test_mixture_kernels_name_the_bad_argument(name):
    """Mixtures per state: the components' rows are n_states * n_mix, the lattice's n_states."""
    f = getattr(_core.hmm, f"{name}_gmm_diag")
    sp, tm = np.full(2, 0.5), np.full((2, 2), 0.5)
    X, mu, prec, off = np.zeros((5, 3)), np.zeros((6, 3)), np.ones((6, 3)), np.array([0, 5])
    lw = np.log(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"log_weights: expected shape \(n_states, n_mix\) with n_states \* n_mix = 6 "
                                         r"\(the means' rows\), got \(2, 2\)"):
        f(sp, tm, X, mu, prec, np.zeros((2, 2)), off)
    with pytest.raises(ValueError, match=r"precisions: expected shape \(6, 3\), got \(2, 3\)"):
        f(sp, tm, X, mu, prec[:2], lw, off)
    with pytest.raises(ValueError, match=r"startprob: expected shape \(2,\), got \(6,\)"):
        f(np.full(6, 1 / 6), tm, X, mu, prec, lw, off)
