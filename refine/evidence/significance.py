"""The significance tests the statistics share, each a thin wrapper over SciPy (imported lazily)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MIN_CONTEMPORARIES", "beats_p", "crowd_p", "dominance_p", "partial_spearman", "span_p", "spearman"]

#: the fewest trials at other values (choices) a fix is judged against
MIN_CONTEMPORARIES = 3


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and p of ``x`` and ``y`` (0, 1 with fewer than 4 pairs or a constant)."""
    from scipy import stats

    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, 1.0
    r = stats.spearmanr(x, y)
    rho, p = float(r.statistic), float(r.pvalue)
    if not math.isfinite(rho):
        return 0.0, 1.0
    return rho, p if math.isfinite(p) else 1.0


def partial_spearman(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, ranks: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, float]:
    """Spearman rho of ``x`` and ``y`` controlling for trial order ``t``.

    Adaptive samplers (TPE) drift: a parameter that merely moved while the
    others improved correlates with the score over time. Partialling out the
    trial order removes most of that artifact.

    ``ranks``, when given, are ``scipy.stats.rankdata`` of ``y`` and of ``t``,
    which every parameter active in the same trials shares: computed once per
    study instead of once per parameter (at 100k trials each ranking is a sort),
    with the same correlations, bit for bit, as ``spearmanr`` of the three.
    """
    from scipy import stats

    n = len(x)
    if n < 6 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, 1.0
    if ranks is None or np.isnan(x).any():
        r = stats.spearmanr(np.column_stack([x, y, t])).statistic
    else:
        # spearmanr's own steps on finite data: rankdata of each column, then np.corrcoef of the ranks, laid out as
        # spearmanr lays them out (one row per variable once transposed), so that the sums run in the same order
        r = np.corrcoef(np.array([stats.rankdata(x), *ranks]))
    rxy, rxt, ryt = r[0, 1], r[0, 2], r[1, 2]
    denom = math.sqrt(max((1 - rxt**2) * (1 - ryt**2), 1e-12))
    rho = float(np.clip((rxy - rxt * ryt) / denom, -1, 1))
    if not math.isfinite(rho):
        return 0.0, 1.0
    dof = n - 3
    tstat = rho * math.sqrt(dof / max(1 - rho**2, 1e-12))
    return rho, float(2 * stats.t.sf(abs(tstat), dof))


def beats_p(winner: np.ndarray, others: np.ndarray) -> float | None:
    """Mann-Whitney p that ``winner``'s scores beat ``others``'; None when too few to judge (a fix's test)."""
    from scipy import stats

    if len(winner) < 2 or len(others) < MIN_CONTEMPORARIES:
        return None
    try:
        return float(stats.mannwhitneyu(winner, others, alternative="greater").pvalue)
    except ValueError:
        return 1.0


def span_p(elite_u: np.ndarray, other_u: np.ndarray, cap: int = 3000) -> float:
    """Permutation p that the elites span so little of the range by chance.

    A sampler that has converged near a sharp optimum puts many non-elites
    around it too, which blunts the KS test; the elites' span against the
    spans of random subsets of all trials (seeded, so the answer is
    deterministic) still shows the cluster.

    499 permutations cannot give a p below 0.002, which is above the level a
    soft change needs (``model.strong`` x the Holm-corrected ``narrow_p``,
    about 0.001 among 20 parameters). Elites that all sit on one value (an
    int every elite agrees on) and reach that floor are resampled 4999 times,
    so the test can say what it measured; a cluster with any spread keeps the
    first pass, whose floor under TPE already narrows irrelevant floats at
    the same p (benchmarks/README.md change log).
    """
    from scipy import stats

    if len(elite_u) < 3 or len(other_u) < 3 or len(elite_u) > 500:
        return 1.0  # with hundreds of elites the KS test has all the power it needs
    if len(other_u) > cap:  # an evenly spaced subsample keeps large studies fast and the answer stable
        other_u = np.sort(other_u)[np.linspace(0, len(other_u) - 1, cap).astype(int)]
    p = 1.0
    for n_resamples in (499, 4999):
        result = stats.permutation_test(
            (elite_u, other_u),
            lambda x, y, axis: np.ptp(x, axis=axis),
            permutation_type="independent",
            vectorized=True,
            n_resamples=n_resamples,
            batch=1000,
            alternative="less",
            rng=np.random.default_rng(0),
        )
        p = float(result.pvalue)
        if p > 1.5 / (n_resamples + 1) or np.ptp(elite_u) > 0:
            break
    return p


def crowd_p(hits: int, n: int, share: float) -> float:
    """Binomial p of ``hits`` or more of ``n`` when each lands with probability ``share``."""
    from scipy import stats

    if not n or not hits or share >= 1:
        return 1.0
    return float(stats.binomtest(hits, n, share, alternative="greater").pvalue)


def dominance_p(trials: int, total: int, elite_hits: int, n_elites: int) -> float:
    """Binomial p that a choice holds this many elites by chance, given its share of the trials."""
    from scipy import stats

    if not n_elites or not total or not trials:
        return 1.0
    return float(stats.binomtest(elite_hits, n_elites, trials / total, alternative="greater").pvalue)
