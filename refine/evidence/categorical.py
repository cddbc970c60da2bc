"""The built-in statistics of a categorical parameter: per choice, the trials, values and elites; the tests across them.

Each function computes one named statistic from a parameter's evidence
(``ev.trials`` holds the inputs) and :func:`declare` declares them, exactly as
a plugin declares its own in ``refine_add_statistics``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refine.evidence.significance import beats_p, dominance_p
from refine.evidence.statistics import ChoiceStats, StatisticsRegistry


def declare(registry: StatisticsRegistry) -> None:
    """Declare the categorical statistics (:class:`~refine.evidence.CategoricalEvidence` lists their fields)."""
    registry.add(
        "choices",
        _choices,
        scope="categorical",
        fields=("choices", "best_choice", "top_choice", "elite_convergence", "best_value", "ordered", "dominance_p"),
        help="per choice: trials, values, elite share, effect, fair trial; the top choice's dominance (binomial)",
    )
    registry.add("kruskal", _kruskal, scope="categorical", fields=("p",), help="Kruskal-Wallis across the choices")
    registry.add(
        "rivals",
        _rivals,
        scope="categorical",
        fields=("fix_p", "fix_others"),
        help="the top choice against the rivals run alongside the elites (Mann-Whitney)",
    )


def _groups(ev: Any) -> list[np.ndarray]:
    """Per choice, the scores of the ranked trials that chose it."""
    t = ev.trials
    return [t.evidence.scores[t.active & (t.codes == i)] for i in range(len(t.param.choices))]


def _choices(ev: Any) -> dict[str, Any]:
    t = ev.trials
    p, codes, evidence = t.param, t.codes, t.evidence
    n_e = t.n_elites
    obj = evidence.objective if evidence.objective.ndim == 1 else evidence.scores
    stats_list = []
    for i, value in enumerate(p.choices):
        m = t.active & (codes == i)
        vals = obj[m]
        stats_list.append(
            (
                value,
                int(m.sum()),
                float(vals.mean()) if len(vals) else math.nan,
                float(np.median(vals)) if len(vals) else math.nan,
                float((evidence.elites & (codes == i)).sum() / n_e) if n_e else 0.0,
            )
        )
    groups = _groups(ev)
    medians = [float(np.median(g)) if len(g) else -math.inf for g in groups]
    best_i = int(np.argmax(medians)) if any(len(g) for g in groups) else 0
    shares = [s[4] for s in stats_list]
    top_i = int(np.argmax(shares)) if n_e else best_i
    best_med = medians[best_i]
    choices = []
    for i, (value, trials, mean, median, share) in enumerate(stats_list):
        if trials and math.isfinite(best_med):
            ref = max(abs(best_med), 1e-12)
            effect = float((best_med - medians[i]) / ref)
        else:
            effect = math.nan
        choices.append(ChoiceStats(value, trials, mean, median, share, effect, trials >= t.settings.fair_trial))
    best_value = None
    if evidence.best_row is not None and codes[evidence.best_row] >= 0:
        best_value = p.choices[codes[evidence.best_row]]
    n = int(t.active.sum())
    return {
        "choices": tuple(choices),
        "best_choice": p.choices[best_i],
        "top_choice": p.choices[top_i],
        "elite_convergence": shares[top_i] if n_e else 0.0,
        "best_value": best_value,
        "ordered": p.ordered,
        "dominance_p": dominance_p(stats_list[top_i][1], n, round(shares[top_i] * n_e), n_e),
        "top_index": top_i,
    }


def _kruskal(ev: Any) -> dict[str, Any]:
    from scipy import stats

    nonempty = [g for g in _groups(ev) if len(g) >= 2]
    pval = 1.0
    if len(nonempty) >= 2:
        try:
            pval = float(stats.kruskal(*nonempty).pvalue)
        except ValueError:
            pval = 1.0
        if not math.isfinite(pval):
            pval = 1.0
    return {"p": pval}


def _rivals(ev: Any) -> dict[str, Any]:
    t = ev.trials
    fix_p, fix_others = 1.0, 0
    if t.n_elites:
        pool = t.active
        if t.alongside is not None:  # as for a numeric fix: against the rivals tried alongside the elites
            pool = t.active & t.alongside
        top_i = ev.statistic("choices")["top_index"]
        scores, codes = t.evidence.scores, t.codes
        top, rivals = scores[pool & (codes == top_i)], scores[pool & (codes != top_i)]
        judged = beats_p(top, rivals)
        if judged is not None:
            fix_others, fix_p = len(rivals), judged
    return {"fix_p": fix_p, "fix_others": fix_others}
