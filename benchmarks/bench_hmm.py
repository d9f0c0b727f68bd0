"""HMM suites: fastgen (CPU, CUDA) against hmmlearn (log and scaling) on identical data.

H1  GaussianHMM, 8 states, 4 features (diag), 2000 sequences x 200 steps: score, Viterbi, one EM iteration
H2  CategoricalHMM, 64 states, 128 symbols, one sequence of 200,000 steps: score, Viterbi, one EM iteration
H3  H1's workload with 4, 16 and 64 states: score
H4  H1's workload with full covariances: score, Viterbi, one EM iteration
H5  PoissonHMM, 8 states, 4 features, 2000 sequences x 200 steps: score, Viterbi, one EM iteration
H6  GMMHMM, 4 states x 3 diagonal components, 4 features, 2000 sequences x 200 steps: score, Viterbi,
    one EM iteration
M1  peak memory: GaussianHMM, 4 states, 1 feature, one sequence of 2,000,000 frames: one EM
    iteration, score_samples, predict
M2  peak memory: CategoricalHMM, 1000 states, one sequence of 20,000 steps: one EM iteration

Every suite's first parameter is the implementation (see common.py), so `asv run` prints the
implementations side by side. Data and parameters come from common.py; these classes only time.
"""
from __future__ import annotations

import os

from . import common, memory_data

IMPLEMENTATIONS = common.IMPLEMENTATIONS


class _Suite:
    timeout = 600.0          # hmmlearn's log-domain EM on H2 takes ~20 s per call on 2 cores
    warmup_time = 0.0        # the slow calls are seconds long: no extra untimed rounds
    param_names = ["implementation"]
    params = [IMPLEMENTATIONS]

    def _prepare(self, build, X, lengths):
        self.build, self.X, self.lengths = build, X, lengths
        self.model = build()
        common.warm_up(self.impl, build, X, lengths)

    def time_score(self, *params):
        self.model.score(self.X, self.lengths)


class _InferenceAndEM(_Suite):
    def time_predict(self, *params):
        self.model.predict(self.X, self.lengths)

    def time_em_iteration(self, *params):
        # A fresh model each call, so every timed iteration starts from the same fixed parameters
        # (building it costs microseconds: a constructor and four K-sized assignments).
        self.build().fit(self.X, self.lengths)


class H1GaussianHMM(_InferenceAndEM):
    """GaussianHMM, K=8, D=4 diag, 2000 sequences x 200 steps from a random well-separated model."""
    K, D, N_SEQ, N_STEPS = 8, 4, 2000, 200
    COVARIANCE_TYPE = "diag"

    def setup(self, impl):
        common.require(impl)
        self.impl = impl
        model = common.gaussian_model(self.K, self.D)
        X, lengths = common.gaussian_data(self.K, self.D, self.N_SEQ, self.N_STEPS)
        self._prepare(lambda: common.gaussian_hmm(impl, model, covariance_type=self.COVARIANCE_TYPE), X, lengths)


class H2CategoricalHMM(_InferenceAndEM):
    """CategoricalHMM, K=64 states, M=128 symbols, one sequence of 200,000 steps."""
    K, M, N_STEPS = 64, 128, 200_000
    repeat = (1, 3, 60.0)    # at most 3 samples: hmmlearn-log's EM iteration is ~20 s

    def setup(self, impl):
        common.require(impl)
        self.impl = impl
        model = common.categorical_model(self.K, self.M)
        X, lengths = common.categorical_data(self.K, self.M, self.N_STEPS)
        self._prepare(lambda: common.categorical_hmm(impl, model), X, lengths)


class H3GaussianHMMStates(_Suite):
    """H1's workload (D=4 diag, 2000 x 200) with K in {4, 16, 64}: score."""
    D, N_SEQ, N_STEPS = 4, 2000, 200
    param_names = ["implementation", "n_states"]
    params = [IMPLEMENTATIONS, [4, 16, 64]]
    repeat = (1, 5, 30.0)

    def setup(self, impl, n_states):
        common.require(impl)
        self.impl = impl
        model = common.gaussian_model(n_states, self.D)
        X, lengths = common.gaussian_data(n_states, self.D, self.N_SEQ, self.N_STEPS)
        self._prepare(lambda: common.gaussian_hmm(impl, model), X, lengths)


class H4GaussianHMMFull(H1GaussianHMM):
    """H1's model and data with covariance_type="full" (EM estimates full covariances)."""
    COVARIANCE_TYPE = "full"


class H5PoissonHMM(_InferenceAndEM):
    """PoissonHMM, K=8, D=4, 2000 sequences x 200 steps from a random model."""
    K, D, N_SEQ, N_STEPS = 8, 4, 2000, 200

    def setup(self, impl):
        common.require(impl)
        self.impl = impl
        model = common.poisson_model(self.K, self.D)
        X, lengths = common.poisson_data(self.K, self.D, self.N_SEQ, self.N_STEPS)
        self._prepare(lambda: common.poisson_hmm(impl, model), X, lengths)


class H6GMMHMM(_InferenceAndEM):
    """GMMHMM, K=4 states of M=3 diagonal components (gaussian_model(12, 4)'s), D=4, 2000 x 200."""
    K, M, D, N_SEQ, N_STEPS = 4, 3, 4, 2000, 200
    repeat = (1, 3, 60.0)    # hmmlearn's EM iteration is ~6 s

    def setup(self, impl):
        common.require(impl)
        self.impl = impl
        model = common.gaussian_model(self.K * self.M, self.D)
        X, lengths = common.gaussian_data(self.K * self.M, self.D, self.N_SEQ, self.N_STEPS)
        self._prepare(lambda: common.gmm_hmm(impl, model, self.M), X, lengths)


# ---- peak memory (issue 14) ------------------------------------------------------------------------
# asv's peakmem_ is the benchmark process's largest resident size, the input (and the interpreter)
# included: compare implementations in one class, on the same data.

class _MemoryEM(_Suite):
    def peakmem_em_iteration(self, *params):
        self.build().fit(self.X, self.lengths)


class M1GaussianHMMMemory(_MemoryEM):
    """GaussianHMM, K=4, D=1, one sequence of 2,000,000 frames (16 MB): peak memory of one EM
    iteration, score_samples and predict (the issue measured T=1e7)."""
    K, D, N_STEPS = 4, 1, 2_000_000
    repeat = (1, 1, 60.0)

    def setup(self, impl):
        common.require(impl)
        self.impl = impl
        model = common.gaussian_model(self.K, self.D)
        X, lengths = memory_data.long_gaussian_sequence(self.K, self.D, self.N_STEPS)
        self._prepare(lambda: common.gaussian_hmm(impl, model), X, lengths)

    def peakmem_score_samples(self, *params):
        self.model.score_samples(self.X, self.lengths)

    def peakmem_predict(self, *params):
        self.model.predict(self.X, self.lengths)


class M2CategoricalHMMMemory(_MemoryEM):
    """CategoricalHMM, K=1000 states, 64 symbols, one sequence of 20,000 steps: peak memory of one
    EM iteration. hmmlearn takes ~35 ms a frame here (its K^2 loops; ~12 minutes an iteration):
    hmmlearn-log is left out, hmmlearn-scaling runs only outside CI (CI=true skips it, as G2's
    scikit-learn in bench_mixture.py)."""
    K, M, N_STEPS = 1000, 64, 20_000
    repeat = (1, 1, 120.0)
    timeout = 1800.0

    def setup(self, impl):
        common.require(impl)
        if impl == "hmmlearn-log":
            raise NotImplementedError("hmmlearn-log: far slower than hmmlearn-scaling at K=1000")
        if impl.startswith("hmmlearn") and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise NotImplementedError("M2 hmmlearn: skipped under CI=true (~12 minutes per EM iteration)")
        self.impl = impl
        model = common.categorical_model(self.K, self.M)
        X, lengths = common.categorical_data(self.K, self.M, self.N_STEPS)
        self._prepare(lambda: common.categorical_hmm(impl, model), X, lengths)
