"""MADE connectivity (Germain et al., 2015): variable orderings, hidden-unit degrees and the masks
they imply, in the nn engine's flat parameter layout.

Both the MADE estimator (training, scoring) and the incremental sampling kernel derive everything
from degrees, so this is the one place that turns degrees into masks (contract: csrc/KERNELS.md,
"MADE").

- ``order int64[D]``: the degree of each variable, a permutation of 1..D; the variable of degree 1
  is generated first.
- ``hidden_degrees``: one int64 array per hidden layer, values in [0, D - 1]; layer 1 draws from
  [min(D - 1, 1), D - 1], layer l > 1 from [min of layer l - 1, D - 1] (the paper's rule, so no
  unit is disconnected from below). Degree 0 (only when D = 1) is a unit that sees no input.
- Network input/output layout per output type (``units_per_var``): "bernoulli" and
  "gaussian_mixture" take x [N, D] as input (input i is variable i); "categorical" with V
  categories takes the one-hot encoding [N, D V] (inputs d V .. d V + V - 1 are variable d).
  Outputs: "bernoulli" D logits; "categorical" D V logits (variable d's at d V .. d V + V - 1);
  "gaussian_mixture" with K components D 3K values, variable d's at d 3K .. d 3K + 3K - 1 as
  (K weight logits, K means, K log standard deviations).
- Masks: input i -> hidden-1 unit k iff m1[k] >= order[var(i)]; hidden l-1 unit k' -> hidden l
  unit k iff m_l[k] >= m_{l-1}[k']; last hidden unit k -> output j iff order[var(j)] > m_L[k].
  With no hidden layer (sizes (d_0, d_out)): input i -> output j iff order[var(j)] > order[var(i)].
"""
from __future__ import annotations

import numpy as np

OUTPUTS = {"bernoulli": 0, "categorical": 1, "gaussian_mixture": 2}


def output_width(output: str, n_out: int) -> int:
    """Output units per variable: 1 (Bernoulli), V (categorical), 3 K (Gaussian mixture)."""
    return {"bernoulli": 1, "categorical": n_out, "gaussian_mixture": 3 * n_out}[output]


def input_width(output: str, n_out: int) -> int:
    """Input units per variable: V for categorical (one-hot), else 1."""
    return n_out if output == "categorical" else 1


def make_order(D: int, ordering, rng: np.random.Generator) -> np.ndarray:
    """Degrees of the D variables: "natural" gives 1..D, "random" a permutation drawn from `rng`,
    an explicit sequence is checked to be a permutation of 0..D-1 (generation order, as in
    the MADE paper's code: ordering[i] is the variable generated i-th)."""
    if isinstance(ordering, str):
        if ordering == "natural":
            return np.arange(1, D + 1, dtype=np.int64)
        if ordering == "random":
            return (rng.permutation(D) + 1).astype(np.int64)
        raise ValueError(f"ordering: expected 'natural', 'random' or a permutation of 0..{D - 1}, got {ordering!r}")
    perm = np.asarray(ordering)
    if perm.shape != (D,) or not np.issubdtype(perm.dtype, np.integer) or \
            not np.array_equal(np.sort(perm), np.arange(D)):
        raise ValueError(f"ordering: expected a permutation of 0..{D - 1} (the generation order), got {ordering!r}")
    order = np.empty(D, dtype=np.int64)
    order[perm] = np.arange(1, D + 1)
    return order


def make_hidden_degrees(D: int, hidden_sizes, rng: np.random.Generator) -> list:
    """One int64 array of degrees per hidden layer (the paper's sampling rule, see the module doc)."""
    degrees, low = [], min(D - 1, 1)
    for h in hidden_sizes:
        m = rng.integers(low, D, size=int(h), dtype=np.int64) if D > 1 else np.zeros(int(h), dtype=np.int64)
        degrees.append(m)
        low = int(m.min()) if D > 1 else 0
    return degrees


def layer_masks(order, hidden_degrees, output: str, n_out: int) -> list:
    """The 0/1 masks [d_{l-1}, d_l] of every layer (float64), input layer first."""
    order = np.asarray(order, dtype=np.int64)
    m_in = np.repeat(order, input_width(output, n_out))
    m_out = np.repeat(order, output_width(output, n_out))
    masks, prev = [], m_in
    for l, m in enumerate(hidden_degrees):
        m = np.asarray(m, dtype=np.int64)
        masks.append((m[None, :] >= prev[:, None]).astype(np.float64))
        prev = m
    masks.append((m_out[None, :] > prev[:, None]).astype(np.float64))
    return masks


def flat_mask(sizes, order, hidden_degrees, output: str, n_out: int, dtype=np.float64) -> np.ndarray:
    """The masks in theta's layout (W_l then b_l per layer; biases unmasked: 1): theta * mask is
    the masked network the kernels run."""
    masks = layer_masks(order, hidden_degrees, output, n_out)
    sizes = tuple(int(s) for s in sizes)
    if len(masks) != len(sizes) - 1 or any(M.shape != (a, b) for M, a, b in zip(masks, sizes[:-1], sizes[1:])):
        raise ValueError(f"sizes {sizes} do not match the degrees (mask shapes {[M.shape for M in masks]})")
    parts = []
    for M in masks:
        parts.append(M.ravel())
        parts.append(np.ones(M.shape[1]))
    return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)
