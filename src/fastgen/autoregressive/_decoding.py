"""Decoding of categorical autoregressive outputs: one token per row of logits, by greedy argmax or
by sampling with temperature, top-k and top-p (nucleus) filtering, on the Philox generator (the same
seed gives the same tokens on the CPU and on CUDA). Contract and exact rules: ``csrc/KERNELS.md``,
"Decoding categorical outputs".
"""
from __future__ import annotations

import numbers

import numpy as np

from .._backend import Backend, is_device_array
from .._validation import philox_seed


def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    return float(value)


def _filter_args(temperature, top_k, top_p, greedy):
    """(temperature, top_k (0: off), top_p (1: off), greedy) checked against the contract's domains."""
    t = _real(temperature, "temperature")
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature: must be finite and > 0 (use greedy=True for the argmax), got {t}")
    if not np.isfinite(1.0 / t):
        raise ValueError(f"temperature: {t} underflows (1 / temperature overflows float64 and every scaled "
                         f"logit with it); use greedy=True for the argmax")
    if top_k is None:
        k = 0
    else:
        if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, numbers.Integral):
            raise TypeError(f"top_k: expected None or an integer >= 1, got {type(top_k).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k: expected None or an integer >= 1, got {int(top_k)}")
        k = int(min(top_k, 2**62))  # at least the vocabulary: no filtering (and within the kernel's int64)
    if top_p is None:
        p = 1.0
    else:
        p = _real(top_p, "top_p")
        if not 0.0 < p <= 1.0:
            raise ValueError(f"top_p: must lie in (0, 1], got {p}")
    if not isinstance(greedy, (bool, np.bool_)):
        raise TypeError(f"greedy: expected a bool, got {type(greedy).__name__}")
    return t, k, p, bool(greedy)


def _logits_array(logits):
    """(array, was_1d): a C-contiguous float32/float64 NumPy array, or the device array itself
    (``__cuda_array_interface__``), shaped (N, V); the backend then puts it where the kernel runs."""
    if is_device_array(logits):
        if hasattr(logits, "copy_to_host"):   # a Numba device array (the simulator's too)
            a = logits
        else:                                 # CuPy, PyTorch, ...: a Numba view of the same memory
            from numba import cuda
            a = cuda.as_cuda_array(logits)
        shape, dtype = tuple(a.shape), np.dtype(a.dtype)
    else:
        a = np.asarray(logits)
        shape, dtype = a.shape, a.dtype
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"logits: expected dtype float32 or float64, got {dtype}")
    if len(shape) not in (1, 2):
        raise ValueError(f"logits: expected shape (V,) or (N, V), got shape {tuple(shape)}")
    if shape[-1] < 1:
        raise ValueError(f"logits: need at least one token (V >= 1), got shape {tuple(shape)}")
    was_1d = len(shape) == 1
    if isinstance(a, np.ndarray):
        a = np.ascontiguousarray(a.reshape(1, -1) if was_1d else a)
    elif was_1d:
        a = a.reshape(1, shape[0])
    return a, was_1d


def sample_logits(logits, *, temperature=1.0, top_k=None, top_p=None, greedy=False, random_state=None,
                  device="auto"):
    """Draw one token index per row of logits.

    Greedy argmax, or sampling with temperature, top-k and top-p (nucleus) filtering, on the Philox
    generator: the same seed gives the same tokens on the CPU and on CUDA. Contract and exact
    rules: ``csrc/KERNELS.md``, "Decoding categorical outputs".

    Parameters
    ----------
    logits : array of shape (V,) or (N, V), float32 or float64
        Unnormalised log-probabilities; -inf masks a token. NaN or +inf, or a row that is all -inf,
        raises ValueError. With ``device="cuda"`` a device array (CuPy, PyTorch, Numba) is read in
        place.
    temperature : float, default=1.0
        The logits are divided by it (> 0 and finite; softmax in float64). Greedy decoding is
        ``greedy=True``.
    top_k : int >= 1 or None, default=None
        Keep the k tokens of largest logit (equal logits: the lower index first); None: all.
    top_p : float in (0, 1] or None, default=None
        Nucleus sampling: keep the shortest run of tokens, in decreasing probability (ties by
        lower index), whose probability (after temperature and top-k) reaches top_p; at least one.
        None: all.
    greedy : bool, default=False
        Return the argmax (the lowest index among equal maxima) instead of sampling.
    random_state : None, int or numpy RandomState, default=None
        Seeds the Philox generator; row n uses uniform n of stream 0, so the same seed and logits give
        the same tokens on any thread count and on both devices.
    device : {"cpu", "cuda", "auto"}, default="auto"
        Where the kernel runs ("auto": a usable GPU, else the CPU).

    Returns
    -------
    tokens : int64 ndarray of shape (N,), or an int64 scalar for 1-D logits
        The chosen token index of each row.

    See Also
    --------
    MADE.sample : Autoregressive sampling with the same filters.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgen.autoregressive import sample_logits
    >>> logits = np.log([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]])
    >>> sample_logits(logits, greedy=True, device="cpu").tolist()
    [1, 0]
    >>> int(sample_logits(logits[0], top_k=1, random_state=0, device="cpu"))
    1
    >>> tokens = sample_logits(np.zeros((1000, 3)), random_state=0, device="cpu")
    >>> tokens.shape, bool(set(tokens.tolist()) == {0, 1, 2})
    ((1000,), True)
    """
    t, k, p, g = _filter_args(temperature, top_k, top_p, greedy)
    x, was_1d = _logits_array(logits)
    backend = Backend(device, x.dtype)
    seed = philox_seed(random_state)
    if x.shape[0] == 0:
        out = np.zeros(0, dtype=np.int64)
    else:
        try:
            out = backend.host(backend.kernels.autoregressive.sample_logits(backend.put(x), t, k, p, g, seed, 0))
        except ValueError as e:
            if t >= 1.0 or "all -inf" not in str(e):
                raise
            raise ValueError(f"{e}; with temperature={t} the scaled logits (logits / temperature) may have "
                             f"overflowed: use a larger temperature, or greedy=True for the argmax") from None
    return np.int64(out[0]) if was_1d else out
