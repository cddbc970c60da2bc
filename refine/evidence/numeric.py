"""The built-in statistics of a float or int parameter (log-aware: positions are on the parameter's own scale).

Each function computes one named statistic from a parameter's evidence
(``ev.trials`` holds the inputs) and :func:`declare` declares them, exactly as
a plugin declares its own in ``refine_add_statistics``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refine.evidence.significance import beats_p, crowd_p, partial_spearman, span_p, spearman
from refine.evidence.statistics import StatisticsRegistry


def declare(registry: StatisticsRegistry) -> None:
    """Declare the numeric statistics (:class:`~refine.evidence.NumericEvidence` lists their fields)."""
    add = registry.add
    add(
        "range", _range, scope="numeric", fields=("low", "high", "log", "outside"), help="the range, and trials outside"
    )
    add(
        "elites",
        _elites,
        scope="numeric",
        fields=("elite_low", "elite_high", "elite_quantiles", "elite_values", "best_value", "near_best_values"),
        help="where the elites, the best trial and the trials within noise of it sit",
    )
    add("spearman", _spearman, scope="numeric", fields=("rho", "p"), help="Spearman against the score, trial order out")
    add(
        "trend",
        _trend,
        scope="numeric",
        fields=("trend_low", "trend_high", "trend_low_p", "trend_high_p"),
        help="Spearman within the outer thirds of the range",
    )
    add(
        "edges",
        _edges,
        scope="numeric",
        fields=("edge_low_share", "edge_high_share", "ref_low_share", "ref_high_share", "edge_low_p", "edge_high_p"),
        help="the elites' crowd in each edge zone, against the trials alongside them (binomial)",
    )
    add("cluster", _cluster, scope="numeric", fields=("ks_p",), help="elites vs the other trials: KS or span test")
    add(
        "mode",
        _mode,
        scope="numeric",
        fields=("mode_value", "mode_share", "others_n", "effect", "effect_p", "effect_others"),
        help="the elites' most common value against the other values (Mann-Whitney)",
    )


def _range(ev: Any) -> dict[str, Any]:
    p, x = ev.trials.param, ev.trials.values
    return {"low": p.low, "high": p.high, "log": p.log, "outside": int(((x < p.low) | (x > p.high)).sum())}


def _elites(ev: Any) -> dict[str, Any]:
    t = ev.trials
    ex, col, evidence = t.elite_values, t.column, t.evidence
    n_e = t.n_elites
    best_value = None
    if evidence.best_row is not None and not math.isnan(col[evidence.best_row]):
        best_value = float(col[evidence.best_row])
    near = evidence.near_best
    return {
        "elite_low": float(ex.min()) if n_e else None,
        "elite_high": float(ex.max()) if n_e else None,
        "elite_quantiles": tuple(float(q) for q in np.quantile(ex, [0.1, 0.5, 0.9])) if n_e else None,
        "elite_values": tuple(np.sort(ex).astype(float).tolist()),
        "best_value": best_value,
        "near_best_values": () if near is None else tuple(np.unique(col[near & t.valid]).astype(float).tolist()),
    }


def _spearman(ev: Any) -> dict[str, Any]:
    t = ev.trials
    u, s, order = t.positions, t.scores, t.order
    if order.size > 1 and np.ptp(order) > 0:
        rho, p = partial_spearman(u, s, order, t.score_and_order_ranks)
    else:
        rho, p = spearman(u, s)
    return {"rho": rho, "p": p}


def _trend(ev: Any) -> dict[str, Any]:
    u, s = ev.trials.positions, ev.trials.scores
    third_lo, third_hi = u <= 1 / 3, u >= 2 / 3
    t_lo, p_lo = spearman(u[third_lo], s[third_lo]) if third_lo.sum() >= 4 else (0.0, 1.0)
    t_hi, p_hi = spearman(u[third_hi], s[third_hi]) if third_hi.sum() >= 4 else (0.0, 1.0)
    return {"trend_low": t_lo, "trend_high": t_hi, "trend_low_p": p_lo, "trend_high_p": p_hi}


def _edges(ev: Any) -> dict[str, Any]:
    t = ev.trials
    eu, n_e, zone = t.elite_positions, t.n_elites, t.settings.edge_zone
    rest_mask = t.active & ~t.elites
    if t.alongside is not None:
        # Adaptive samplers move every parameter while the good ones converge: compare the elites
        # with the trials run alongside them, not with the early exploration.
        contemporary = rest_mask & t.alongside
        if contemporary.sum() >= max(5, n_e // 2):
            rest_mask = contemporary
    rest = t.positions_of(t.column[rest_mask])
    ref_low = float((rest <= zone).mean()) if len(rest) else 0.0
    ref_high = float((rest >= 1 - zone).mean()) if len(rest) else 0.0
    return {
        "edge_low_share": float((eu <= zone).mean()) if n_e else 0.0,
        "edge_high_share": float((eu >= 1 - zone).mean()) if n_e else 0.0,
        "ref_low_share": ref_low,
        "ref_high_share": ref_high,
        # binomial p that this many elites sit in the edge zone, given the reference's share (at least the zone's)
        "edge_low_p": crowd_p(int((eu <= zone).sum()), n_e, max(ref_low, zone)),
        "edge_high_p": crowd_p(int((eu >= 1 - zone).sum()), n_e, max(ref_high, zone)),
    }


def _cluster(ev: Any) -> dict[str, Any]:
    from scipy import stats

    t = ev.trials
    eu = t.elite_positions
    # Clustering is judged against every other trial: a sampler that already converged on an
    # optimum makes its contemporaries look like the elites, which would hide the cluster.
    others = t.positions_of(t.column[t.active & ~t.elites])
    ks_p = 1.0
    if t.n_elites >= 3 and len(others) >= 3:
        ks_p = float(stats.ks_2samp(eu, others).pvalue)
        if ks_p > 1e-3:  # already decisive otherwise
            ks_p = min(ks_p, span_p(eu[np.isfinite(eu)], others[np.isfinite(others)]))
    return {"ks_p": ks_p}


def _mode(ev: Any) -> dict[str, Any]:
    t = ev.trials
    x, s, ex, n_e = t.values, t.scores, t.elite_values, t.n_elites
    mode_value, mode_share, effect, effect_p, others_n, effect_others = None, 0.0, 0.0, 1.0, 0, 0
    if n_e:
        vals, counts = np.unique(ex, return_counts=True)
        i = int(np.argmax(counts))
        mode_value, mode_share = float(vals[i]), float(counts[i] / n_e)
        at = x == mode_value
        others_n = int((~at).sum())
        if at.sum() >= 2 and others_n >= 2:
            a, b = s[at], s[~at]
            if t.alongside is not None:
                # As for the edges: an adaptive sampler settles an irrelevant int on one value while the
                # good parameters converge, so its late (good) trials sit there and the early ones do not.
                # Judge the value against the other values tried alongside the elites, and when too few
                # were, not at all: fixing is for certainties.
                late = t.alongside[t.active]
                a, b = s[late & at], s[late & ~at]
            judged = beats_p(a, b)
            if judged is not None:
                effect_others, effect_p = len(b), judged
                ref = max(abs(float(np.median(a))), 1e-12)
                effect = float((np.median(a) - np.median(b)) / ref)
    return {
        "mode_value": mode_value,
        "mode_share": mode_share,
        "others_n": others_n,
        "effect": effect,
        "effect_p": effect_p,
        "effect_others": effect_others,
    }
