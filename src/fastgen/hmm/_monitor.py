"""hmmlearn's ConvergenceMonitor: the log-likelihood history of an HMM fit and its stopping rule."""
from __future__ import annotations

import logging
import sys
from collections import deque

import numpy as np

# The logger of fastgen.hmm._base, where the monitor lived: its records keep their logger name.
_log = logging.getLogger("fastgen.hmm._base")


class ConvergenceMonitor:
    """hmmlearn's monitor: history of the log-likelihood, stop on `tol` gain or `n_iter` iterations.

    Every HMM's ``fit`` creates one (``monitor_``) and reports the log-likelihood of each EM
    iteration to it; EM stops as soon as ``converged`` is true. A log-likelihood that falls by
    more than a relative sqrt(machine epsilon) is logged (``logging`` warning "Model is not
    converging", as in hmmlearn), not raised.

    Parameters
    ----------
    tol : float
        Convergence threshold: converged once the last gain in log-likelihood is below ``tol``
        (a negative gain counts; -inf never stops on the gain).
    n_iter : int
        Maximum number of iterations: converged once ``iter`` reaches it.
    verbose : bool or int
        Print each iteration's number, log-likelihood and gain to stderr.

    Attributes
    ----------
    history : collections.deque of float
        The log-likelihood reported at each iteration, oldest first.
    iter : int
        Number of iterations reported so far.

    See Also
    --------
    GaussianHMM, GMMHMM, CategoricalHMM, PoissonHMM : set ``monitor_`` in ``fit``.

    Examples
    --------
    >>> from fastgen.hmm import ConvergenceMonitor
    >>> monitor = ConvergenceMonitor(tol=1e-2, n_iter=100, verbose=False)
    >>> for log_prob in (-10.0, -5.0, -4.995):
    ...     monitor.report(log_prob)
    >>> monitor.converged, monitor.iter
    (True, 3)
    """

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = deque()
        self.iter = 0

    def __repr__(self):
        params = sorted(dict(vars(self), history=list(self.history)).items())
        return f"{type(self).__name__}(\n" + "".join(f"    {k}={v},\n" for k, v in params) + ")"

    def _reset(self):
        self.iter = 0
        self.history.clear()

    def report(self, log_prob):
        """Record one iteration's log-likelihood (printed when verbose).

        Parameters
        ----------
        log_prob : float
            The log-likelihood of the training data at this iteration.
        """
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            print(self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta), file=sys.stderr)
        if self.history and log_prob - self.history[-1] < -np.sqrt(np.finfo(float).eps) * max(1.0, abs(log_prob)):
            _log.warning("Model is not converging. Current: %s is not greater than %s. Delta is %s",
                         log_prob, self.history[-1], log_prob - self.history[-1])
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self):
        """bool: ``n_iter`` iterations reported, or the last gain in log-likelihood below ``tol``."""
        return self.iter == self.n_iter or (
            len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol)
