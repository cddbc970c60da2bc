"""The red flags of a refinement: what may make the study, or the next space read from it, not what it seems.

Too few ranked trials for the parameters, a choice judged without a fair
trial, values never tried, a best value within the noise or near chance, many
failed, pruned or running trials, a metric without numbers, trials run in
separate groups, and a space that may not be the one the study ran. The
rationale lists them (:func:`refine.rationale.build_rationale`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from refine.rules._common import fmt
from refine.space import Space

__all__ = ["red_flags"]


def red_flags(evidence: Any, new: Space, decisions: Mapping[str, Any]) -> list[str]:
    s = evidence.settings
    study = evidence.study
    counts = study.counts()
    n = study.n_trials
    flags = []
    n_ranked = evidence.n_ranked
    n_params = max(1, len(evidence.space.params))
    if n_ranked < 10 * n_params:
        flags.append(
            f"few COMPLETE trials for the number of parameters: {n_ranked} ranked for {n_params} searched "
            f"(about {10 * n_params} would give each a fair look)"
        )
    if n_ranked < s.min_complete:
        flags.append(f"only {n_ranked} ranked trials (< min_complete {s.min_complete}): nothing was changed")
    for d in decisions.values():
        if d.action == "bias" and d.evidence.get("unfair"):
            flags.append(f"'{d.param}': a choice was judged without a fair trial, so it was weighted, not removed")
    for name, ev in evidence.params.items():
        untried = [c.value for c in ev.choices if c.trials == 0] if ev.kind == "categorical" and ev.n else []
        if untried:
            flags.append(
                f"'{name}': {', '.join(fmt(v) for v in untried)} never ran in a ranked trial: nothing is known "
                "about it (refine run --fill-gaps K gives each untried choice a trial)"
            )
    finite = evidence.scores[evidence.ranked]
    if len(finite) >= 5 and evidence.best_row is not None and evidence.maximize is not None:
        best = float(np.max(finite))
        median = float(np.median(finite))
        spread, source = _noise_spread(evidence)
        if spread > 0 and best - median < s.noise_ratio * spread:
            flags.append(
                f"the best value is within noise of the median (best - median = {fmt(abs(best - median))}, "
                f"noise spread {fmt(spread)}, {source}): gains may be luck"
            )
        if s.baseline is not None:
            sign = 1.0 if evidence.maximize else -1.0
            gap = sign * (float(evidence.objective[evidence.best_row]) - s.baseline)
            std = float(np.std(finite)) or 1e-12
            if gap < std:
                flags.append(
                    f"the best value {fmt(float(evidence.objective[evidence.best_row]))} is near the baseline "
                    f"{fmt(s.baseline)} (within one standard deviation {fmt(std)}): near chance"
                )
    if evidence.flat:
        flags.append(
            "every ranked trial has the same value: the study says nothing about its parameters; nothing was changed"
        )
    elif evidence.near_noise:
        flags.append(
            f"near noise: configurations evaluated twice differ by a noise SD of {fmt(evidence.noise_sd)}, most of the "
            "objective's spread; nothing was narrowed, expanded or fixed"
        )
    fail = counts.get("FAIL", 0)
    if n and fail / n > 0.2:
        flags.append(f"many failed trials: {fail} of {n} ({fail / n:.0%}) FAIL; they carry no evidence")
    pruned = counts.get("PRUNED", 0)
    if n and pruned / n > 0.5:
        flags.append(
            f"mostly pruned: {pruned} of {n} trials ({pruned / n:.0%}) PRUNED, "
            + (
                "ranked by their last intermediate value (include_pruned): an early value stands in for a final one"
                if s.include_pruned
                else "left out of the elites; --set include_pruned=true ranks them by their last intermediate value"
            )
        )
    running = counts.get("RUNNING", 0)
    if running:
        flags.append(
            f"{running} trial(s) still RUNNING (a live study or killed workers): only COMPLETE trials were used"
        )
    if evidence.non_finite:
        what = (
            f"no finite number for the metric '{s.metric}' (missing, text, NaN or infinite)"
            if s.metric
            else "NaN or infinite values"
        )
        flags.append(f"{evidence.non_finite} COMPLETE trial(s) had {what} and were left out")
    flags += _space_flags(evidence)
    if getattr(evidence, "groups", ()):
        from refine.groups import describe

        flags.append(describe(evidence.groups, evidence.group))
    return flags


def _noise_spread(evidence: Any) -> tuple[float, str]:
    """How far apart equally good results lie, and where that was measured.

    From configurations evaluated more than once when there are some (the
    interquartile range of a normal noise of their pooled SD), else from the
    elites' own values (their interquartile range). Never from every trial:
    a few diverged runs would make any gain look like noise.
    """
    if evidence.noise_sd:
        return 1.349 * float(evidence.noise_sd), "from configurations evaluated more than once"
    elite = evidence.scores[evidence.elites & evidence.ranked]
    if len(elite) < 4:
        return 0.0, ""
    spread = float(np.quantile(elite, 0.75) - np.quantile(elite, 0.25))
    return spread, f"the interquartile range of the {len(elite)} elites' values"


def _space_flags(evidence: Any) -> list[str]:
    """A space that may not be the one the study ran: unreadable when remembered, or not matching when given."""
    study, space = evidence.study, evidence.space
    if study.space_source == "inferred" and "refine:space" in study.study_user_attrs:
        return [
            "the study's remembered space (refine:space) could not be read, so the space was inferred from its "
            "trials (notes say why)"
        ]
    if study.space_source != "given":
        return []
    flags = []
    for name, p in space.params.items():
        seen = study.inferred.params.get(name)
        if seen is not None and (p.kind == "categorical") != (seen.kind == "categorical"):
            flags.append(
                f"'{name}' is {p.kind} in the given space but the study searched it as {seen.kind}: is it the "
                "space this study ran?"
            )
    missing = sorted(k for k in study.columns if k not in space.params and k not in space.fixed)
    if missing:
        flags.append(
            f"the study also searched {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}, which the "
            "given space "
            "lacks: is it the space this study ran?"
        )
    ranked = evidence.ranked
    for name, p in space.params.items():
        col = study.columns.get(name)
        seen = study.inferred.params.get(name)
        if col is None or seen is None or (p.kind == "categorical") != (seen.kind == "categorical"):
            continue
        active = ranked & ~np.isnan(col)
        if p.kind == "categorical":
            known = np.array([p.contains(c) for c in seen.choices] or [True])
            off = active & ~known[np.where(active, col, 0).astype(int)]
            where = f"choices {list(p.choices)}"
        else:
            off = active & ((col < p.low) | (col > p.high))
            where = f"range [{fmt(p.low)}, {fmt(p.high)}]"
        n_off, n_active = int(off.sum()), int(active.sum())
        if n_off and n_off >= 0.1 * n_active:
            flags.append(
                f"'{name}': {n_off} of {n_active} ranked trials lie outside the given {where}: is it the space "
                "this study ran?"
            )
    if evidence.best_row is not None:
        out = []
        for name, p in space.params.items():
            col = study.columns.get(name)
            if col is None or not hasattr(p, "low"):
                continue
            v = float(col[evidence.best_row])
            if math.isfinite(v) and not p.low <= v <= p.high:
                out.append(f"{name}={fmt(v)} outside [{fmt(p.low)}, {fmt(p.high)}]")
        if out:
            flags.append(f"the study's best trial lies outside the given space ({'; '.join(out[:4])})")
    return flags
