"""Plain NumPy oracle of the decoding kernel (csrc/KERNELS.md, "Decoding categorical outputs").

Written for clarity, not speed: a full sort into rank order, cumulative sums in that order, then
the inverse CDF in index order, all in float64, exactly as the contract states the rules:

- rank order: larger raw logit first, equal logits by lower index;
- w_i = exp((x_i - x_max) / temperature) (-inf logits: 0);
- top-k keeps the first k tokens of the rank order (0: off);
- top-p keeps the shortest prefix of the top-k survivors whose weight reaches top_p times theirs;
- the draw: the smallest kept index i with u * S < (kept weight up to i, in index order); past
  the total (u = 1 or rounding) the last kept token with w > 0. Greedy: the first index of x_max.

``draw_row`` also returns a margin: how far the decision is from flipping (relative distance of
u * S from the nearest cumulative boundary, and of the top-p prefix weights from their target).
The kernels sum in other orders, so they agree with this oracle whenever the margin is above a
few ulps (float64 logits) or the logits' own rounding (float32 nets feeding the draw).
"""
from __future__ import annotations

import numpy as np


def rank_order(x):
    """Token indices in rank order: larger logit first, ties by lower index."""
    x = np.asarray(x, dtype=np.float64)
    return np.lexsort((np.arange(x.size), -x))


def check_row(x):
    x = np.asarray(x, dtype=np.float64)
    if np.isnan(x).any() or (x == np.inf).any():
        raise ValueError("holds NaN or +inf")
    if (x == -np.inf).all():
        raise ValueError("is all -inf")


def weights(x, temperature):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.exp((x - x.max()) / temperature)


def kept_tokens(x, temperature=1.0, top_k=0, top_p=1.0):
    """(kept boolean mask [V], w [V], top-p margin) after temperature, top-k and top-p."""
    check_row(x)
    w = weights(x, temperature)
    order = rank_order(x)
    order = order[w[order] > 0]                      # positive weights: a prefix of the rank order
    if top_k and top_k < order.size:
        order = order[:top_k]
    margin = np.inf
    if top_p < 1.0 and order.size > 1:
        cum = np.cumsum(w[order])
        target = top_p * cum[-1]
        R = int(np.argmax(cum >= target)) + 1        # shortest prefix reaching the target
        # distance of the prefix weights on both sides of the cut from the target (relative)
        margin = min(abs(cum[R - 1] - target), abs(cum[R - 2] - target) if R >= 2 else np.inf) / cum[-1]
        order = order[:R]
    kept = np.zeros(x.size, dtype=bool)
    kept[order] = True
    return kept, w, margin


def filtered_probs(x, temperature=1.0, top_k=0, top_p=1.0):
    """The distribution a draw follows: softmax(x / T) restricted to the kept tokens."""
    kept, w, _ = kept_tokens(x, temperature, top_k, top_p)
    p = np.where(kept, w, 0.0)
    return p / p.sum()


def draw_row(x, u, temperature=1.0, top_k=0, top_p=1.0, greedy=False):
    """(index, margin) of one draw with uniform u."""
    x = np.asarray(x, dtype=np.float64)
    check_row(x)
    if greedy or x.size == 1:
        return int(np.argmax(x == x.max())), np.inf
    kept, w, margin = kept_tokens(x, temperature, top_k, top_p)
    idx = np.flatnonzero(kept)
    cum = np.cumsum(w[idx])
    t = u * cum[-1]
    hit = np.flatnonzero(t < cum)
    i = int(idx[hit[0]]) if hit.size else int(idx[-1])
    bounds = np.concatenate([[0.0], cum])
    margin = min(margin, np.min(np.abs(bounds[1:-1] - t)) / cum[-1] if idx.size > 1 else np.inf)
    return i, margin


def sample_logits(logits, uniforms, temperature=1.0, top_k=0, top_p=1.0, greedy=False):
    """(indices int64[N], margins float64[N]) for rows of logits with one uniform each."""
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    res = [draw_row(row, u, temperature, top_k, top_p, greedy) for row, u in zip(logits, uniforms)]
    return np.array([r[0] for r in res], dtype=np.int64), np.array([r[1] for r in res])


def pooled_chisquare_pvalue(counts, expected, min_expected=5.0):
    """Chi-square p-value of observed counts against expected ones, the cells expected below
    `min_expected` pooled into one (so the statistic's chi-square approximation holds)."""
    from scipy import stats
    counts, expected = np.asarray(counts, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    big = expected >= min_expected
    observed, want = counts[big], expected[big]
    if (~big).any() and expected[~big].sum() > 0:
        observed, want = np.append(observed, counts[~big].sum()), np.append(want, expected[~big].sum())
    if observed.size < 2:  # one cell: nothing to test beyond the total (callers check empty cells)
        return 1.0
    return stats.chisquare(observed, want * observed.sum() / want.sum()).pvalue
