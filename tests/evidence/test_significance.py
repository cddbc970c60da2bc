"""The significance tests the evidence shares (refine/evidence/significance.py)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from refine.evidence.significance import partial_spearman


def test_the_span_test_resolves_a_unanimous_cluster_below_its_first_floor():
    # 499 permutations cannot give a p below 0.002, above the soft path's level (model.strong x Holm), so every
    # elite on one value of an int could never narrow there: such a cluster is resampled 4999 times
    from refine.evidence.significance import span_p

    others = np.repeat(np.linspace(0, 1, 5), 18)
    assert span_p(np.full(10, 0.5), others) < 1 / 500
    spread = span_p(np.array([0.25, 0.5, 0.5, 0.5, 0.75, 0.5, 0.5, 0.5, 0.5, 0.5]), others)
    assert spread >= 1 / 500 and spread == span_p(
        np.array([0.25, 0.5, 0.5, 0.5, 0.75, 0.5, 0.5, 0.5, 0.5, 0.5]), others
    )


def _cases():
    rng = np.random.default_rng(7)
    for k in range(300):
        n = int(rng.choice([6, 9, 40, 300, 2000]))
        x = rng.random(n) if k % 3 else rng.integers(0, 4, n).astype(float)  # every third with heavy ties
        y = rng.normal(size=n) + 0.3 * x
        if k % 4 == 0:
            y = np.round(y, 1)  # tied scores
        t = np.arange(n, dtype=float)
        if k % 5 == 0:
            t = np.sort(rng.integers(0, n, n)).astype(float)  # tied trial numbers
        if k % 50 == 0:
            x[0] = np.nan  # a position off a log scale
        yield x, y, t


def test_partial_spearman_with_shared_ranks_is_spearmanr_bit_for_bit():
    for x, y, t in _cases():
        ranks = (stats.rankdata(y), stats.rankdata(t))
        assert partial_spearman(x, y, t, ranks) == partial_spearman(x, y, t)


def test_partial_spearman_is_the_partial_correlation_of_spearmanr():
    rng = np.random.default_rng(3)
    n = 500
    t = np.arange(n, dtype=float)
    x = rng.random(n) + t / n  # both drift with the trial order
    y = rng.random(n) + t / n
    r = stats.spearmanr(np.column_stack([x, y, t])).statistic
    expected = (r[0, 1] - r[0, 2] * r[1, 2]) / np.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2))
    rho, p = partial_spearman(x, y, t, (stats.rankdata(y), stats.rankdata(t)))
    assert abs(rho - expected) < 1e-12 and abs(rho) < 0.2 < r[0, 1] and p > 0.001
