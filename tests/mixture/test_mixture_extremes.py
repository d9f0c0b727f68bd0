"""The mixtures on requests too large for memory (refused before allocating, naming the argument
and the bytes, issue 14) and on data whose moments overflow float64 (an error that says so, with
advice for the dtype in use)."""
from __future__ import annotations

import numpy as np
import pytest

from fastgen.mixture import BayesianGaussianMixture, GaussianMixture


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_covariances_too_large_for_memory_are_refused(cls, rng):
    with pytest.raises(ValueError, match=r"n_components: 2 components of 40000 features \(full covariances\) over 4 "
                                         r"samples need .* GiB, more than the .* of memory this machine has"):
        cls(n_components=2, device="cpu").fit(rng.normal(size=(4, 40000)))
    # the same width with diagonal covariances fits
    assert cls(n_components=2, covariance_type="diag", max_iter=2, device="cpu").fit(
        rng.normal(size=(4, 40000))).means_.shape == (2, 40000)


def test_oversized_samples_are_refused(rng):
    m = GaussianMixture(2, random_state=0, device="cpu").fit(rng.normal(size=(30, 2)))
    with pytest.raises(ValueError, match=r"n_samples: 10000000000 samples of 2 features need .* GiB"):
        m.sample(10**10)


@pytest.mark.parametrize("dtype, advice", [(np.float64, "; rescale X$"), (np.float32, "use dtype=np.float64 or rescale X")])
def test_moments_that_overflow_say_so(dtype, advice, rng):
    scale = 1e200 if dtype == np.float64 else 1e19
    with pytest.raises(ValueError, match=f"X: the weighted moments of the data overflow .*{advice}"):
        GaussianMixture(2, random_state=0, dtype=dtype, device="cpu").fit(rng.normal(size=(300, 2)) * scale)
