"""The significance tests the evidence shares (refine/evidence/significance.py)."""

from __future__ import annotations

import numpy as np


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
