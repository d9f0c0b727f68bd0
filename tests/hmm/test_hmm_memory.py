"""Issue 14, memory that follows the data: the extra peak memory of the HMMs' EM iteration and
inference, measured in a fresh process (tests/peak_memory.py).

Forward-backward over a long sequence needs N x K arrays (issue 15 fuses the E-step): besides the
frame log-likelihoods and the posteriors, the exponentiated frames and alpha (beta lives in the
posteriors' array) and two N-vectors. Nothing more: one copy of the data in a Gaussian fit, about
their column mean in the kernels' dtype (BaseHMM._origin: X + 1e8 fits as X does), none in
inference, and an EM iteration's arrays are gone before the next one makes its own. Viterbi holds the frames, int32 back-pointers
and the states.
"""
import pytest

from peak_memory import ALLOWANCE, extra_peak, needs_peak_reset  # tests/peak_memory.py

pytestmark = needs_peak_reset

T, K = 500_000, 4
GAUSSIAN = f"""
from fastgen.hmm import GaussianHMM
X = np.random.default_rng(0).standard_normal(({T}, 1)) + np.arange({T})[:, None] // 50 % {K} * 3.0
def model(n_iter=1):
    m = GaussianHMM({K}, n_iter=n_iter, tol=-np.inf, init_params="", device="cpu")
    m.startprob_ = np.full({K}, 1 / {K})
    m.transmat_ = np.full(({K}, {K}), 0.1 / ({K} - 1)) + 0.9 * np.eye({K}) - 0.1 / ({K} - 1) * np.eye({K})
    m.means_ = np.arange({K})[:, None] * 3.0
    m.covars_ = np.ones(({K}, 1))
    return m
m = model().fit(X[:2000])
m.score_samples(X[:2000]); m.predict(X[:2000])
"""
LATTICES = 4 * T * K * 8 + 2 * T * 8   # frames, E, alpha, posteriors; scale and shift per frame
CENTRED = T * 8                        # the fit's data about their mean


@pytest.mark.parametrize("n_iter", [1, 3])
def test_em_holds_the_forward_backward_lattices_only(n_iter):
    extra = extra_peak(GAUSSIAN, f"model({n_iter}).fit(X)")
    assert extra <= LATTICES + CENTRED + ALLOWANCE, extra / (T * K * 8)


def test_score_samples_holds_the_forward_backward_lattices_only():
    extra = extra_peak(GAUSSIAN, "m.score_samples(X)")
    assert extra <= LATTICES + ALLOWANCE, extra / (T * K * 8)


def test_predict_holds_frames_backpointers_and_states():
    extra = extra_peak(GAUSSIAN, "m.predict(X)")
    assert extra <= T * K * 8 + T * K * 4 + T * 8 + ALLOWANCE, extra / (T * K * 8)


def test_categorical_em_with_many_states():
    n, k = 10_000, 300
    setup = f"""
from fastgen.hmm import CategoricalHMM
X = np.random.default_rng(0).integers(0, 20, ({n}, 1))
m = CategoricalHMM({k}, n_iter=1, tol=-np.inf, random_state=0, n_features=20, device="cpu")
m.fit(X[:500])
"""
    extra = extra_peak(setup, "m.fit(X)")
    xi_parts = -(-n // 2048) * k * k * 8  # one K x K partial sum per chunk of frames
    assert extra <= 4 * n * k * 8 + 2 * n * 8 + xi_parts + 3 * k * k * 8 + ALLOWANCE, extra / (n * k * 8)


def test_float32_em_holds_no_float64_copy():
    n, d, k = 200_000, 32, 2   # wide: a float64 copy of the data alone (51 MB) would break the bound
    setup = f"""
from fastgen.hmm import GaussianHMM
X = (np.random.default_rng(0).standard_normal(({n}, {d})) + np.arange({n})[:, None] // 50 % {k} * 3.0).astype(np.float32)
m = GaussianHMM({k}, n_iter=1, tol=-np.inf, init_params="", device="cpu", dtype=np.float32)
m.startprob_ = np.full({k}, 0.5)
m.transmat_ = np.array([[0.9, 0.1], [0.1, 0.9]])
m.means_ = np.arange({k})[:, None] * np.full({d}, 3.0)
m.covars_ = np.ones(({k}, {d}))
m.fit(X[:2000])
"""
    extra = extra_peak(setup, "m.fit(X)")
    assert extra <= n * d * 4 + 4 * n * k * 4 + 2 * n * 8 + ALLOWANCE, extra / (n * d * 4)  # centred copy, lattices
    assert extra < n * d * 8


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_em_over_many_sequences_holds_no_frame_sized_lattice(covariance_type):
    """Issue 15's bound on H1's shape (many short sequences, diagonal or full Gaussians): the E-step runs in
    the lanes kernels (csrc/hmm/lanes.hpp), which keep a group's lattices only, and sums the
    posteriors there, so a fit holds the data about their mean and nothing frame-sized besides:
    at most 1.5x the input X (the parameters are a few hundred bytes)."""
    n_seq, steps, d, k = 2000, 250, 4, 8
    setup = f"""
from fastgen.hmm import GaussianHMM
rng = np.random.default_rng(0)
X = rng.standard_normal(({n_seq * steps}, {d})) + np.arange({n_seq * steps})[:, None] // 50 % {k} * 3.0
lengths = np.full({n_seq}, {steps})
m = GaussianHMM({k}, covariance_type="{covariance_type}", n_iter=1, tol=-np.inf, init_params="", device="cpu")
m.startprob_ = np.full({k}, 1 / {k})
m.transmat_ = np.full(({k}, {k}), 0.1 / ({k} - 1)) + (0.9 - 0.1 / ({k} - 1)) * np.eye({k})
m.means_ = np.arange({k})[:, None] * np.full({d}, 3.0)
m.covars_ = np.ones(({k}, {d})) if "{covariance_type}" == "diag" else np.tile(np.eye({d}), ({k}, 1, 1))
m.fit(X[:{20 * steps}], lengths[:20])
"""
    extra = extra_peak(setup, "m.fit(X, lengths)")
    x_bytes = n_seq * steps * d * 8  # 32 MB: the allowance (6 MB) keeps the bound under 1.5x
    assert extra <= x_bytes + ALLOWANCE, extra / x_bytes



@pytest.mark.parametrize("model", ["poisson", "gmm"])
def test_poisson_and_mixture_em_over_many_sequences_hold_nothing_frame_sized(model):
    """The same for Poisson counts (no centred copy: nothing frame-sized at all) and for a mixture
    of 3 diagonal Gaussians per state (its centred copy only: the components' densities and
    posteriors, N x K M each, are formed per group of sequences inside the pass)."""
    n_seq, steps, d, k = 2000, 250, 4, 4
    emission = ("m.lambdas_ = np.arange(1, {k} + 1)[:, None] * np.full({d}, 2.0)" if model == "poisson" else
                "m.means_ = np.arange({k} * 3).reshape({k}, 3, 1) * np.full({d}, 3.0)\n"
                "m.covars_ = np.ones(({k}, 3, {d}))\nm.weights_ = np.full(({k}, 3), 1 / 3)").format(k=k, d=d)
    make = "PoissonHMM({k}, " if model == "poisson" else "GMMHMM({k}, n_mix=3, "
    setup = f"""
from fastgen.hmm import GMMHMM, PoissonHMM
rng = np.random.default_rng(0)
X = rng.poisson(3.0, ({n_seq * steps}, {d})).astype(float)
lengths = np.full({n_seq}, {steps})
m = {make.format(k=k)}n_iter=1, tol=-np.inf, init_params="", device="cpu")
m.startprob_ = np.full({k}, 1 / {k})
m.transmat_ = np.full(({k}, {k}), 0.1 / ({k} - 1)) + (0.9 - 0.1 / ({k} - 1)) * np.eye({k})
{emission}
m.fit(X[:{20 * steps}], lengths[:20])
"""
    extra = extra_peak(setup, "m.fit(X, lengths)")
    x_bytes = n_seq * steps * d * 8
    assert extra <= (0 if model == "poisson" else x_bytes) + ALLOWANCE, extra / x_bytes
