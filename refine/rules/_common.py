"""Helpers the built-in rules share: scale-aware positions, rounding onto a grid, number formatting."""

from __future__ import annotations

import math
from typing import Any, Callable

from refine.space import CategoricalParam, FloatParam, IntParam


def fmt(x: Any) -> str:
    """A number as a person reads it (4 significant digits)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return repr(x) if isinstance(x, str) else str(x)
    if isinstance(x, int):
        return str(x)
    if x == 0 or not math.isfinite(x):
        return str(x)
    if x.is_integer() and abs(x) < 1e4:
        return f"{x:.1f}"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"


def _round_sig(x: float, digits: int = 3) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def snap(p: FloatParam | IntParam, low: float, high: float) -> tuple[float, float] | None:
    """Bounds made valid for ``p``'s kind: outward onto its grid, rounded, inside limits.

    Returns None when no valid range remains.
    """
    if p.limits is not None:
        low, high = max(low, p.limits[0]), min(high, p.limits[1])
    if isinstance(p, IntParam):
        step: float = p.step  # float: the float branch below reuses these names
        lo = p.low + math.floor((low - p.low) / step + 1e-9) * step
        hi = p.low + math.ceil((high - p.low) / step - 1e-9) * step
        if p.limits is not None:
            while lo < p.limits[0]:
                lo += step
            while hi > p.limits[1]:
                hi -= step
        if p.log and lo < 1:
            lo = 1
        lo, hi = int(lo), int(hi)
        return (lo, hi) if lo < hi else None
    if p.step is not None:
        step = p.step
        lo = p.low + math.floor((low - p.low) / step + 1e-9) * step
        hi = p.low + math.ceil((high - p.low) / step - 1e-9) * step
        if p.limits is not None:  # the grid point inside the limits, not the limit itself (off the grid)
            while lo < p.limits[0] - 1e-9 * step:
                lo += step
            while hi > p.limits[1] + 1e-9 * step:
                hi -= step
        lo, hi = round(lo, 12), round(hi, 12)
    else:
        # about 3 significant digits, outward (a bound that rounds inward is floored or ceiled instead)
        lo, hi = _outward(low, _round_sig(low), down=True), _outward(high, _round_sig(high), down=False)
        if p.limits is not None:
            lo, hi = max(lo, p.limits[0]), min(hi, p.limits[1])
    if p.log and lo <= 0:
        return None
    return (float(lo), float(hi)) if lo < hi else None


def _outward(x: float, rounded: float, *, down: bool) -> float:
    """``rounded`` when it lies on the safe side of ``x``, else ``x`` nudged to 3 significant digits outward."""
    if (down and rounded <= x) or (not down and rounded >= x) or abs(rounded - x) <= 1e-9 * abs(x):
        return rounded  # on the safe side, or off it by float noise only (10 ** 4 computed as 10000.000000002)
    if x == 0:
        return 0.0
    exp = math.floor(math.log10(abs(x))) - 2
    unit = 10.0**exp
    v = (math.floor(x / unit) if down else math.ceil(x / unit)) * unit
    return float(f"{v:.12g}")


def enough_to_move(evidence, study_evidence, settings) -> bool:
    """Whether a range may move at all: the study's best is not within noise of its median, and the study and this
    parameter each have at least ``min_complete`` ranked trials."""
    return not study_evidence.near_noise and min(study_evidence.n_ranked, evidence.n) >= settings.min_complete


def alpha(threshold: float, study_evidence, settings, name: str, p_of: Callable[[Any], float]) -> float:
    """The level ``name``'s p-value must beat, corrected over the searched parameters when ``multiple_testing``.

    With many parameters some look significant by chance, and a refinement
    tests every one of them. Holm's step-down (1979) keeps the chance of any
    false call at ``threshold``, as Bonferroni does, with more power: the
    smallest p-value of the m parameters must beat threshold / m, the next
    threshold / (m - 1), and so on, stopping at the first that fails.
    ``p_of(evidence)`` is the same test's p-value for any parameter (1.0
    where the test does not apply: it still counts in m).
    """
    if not settings.multiple_testing:
        return threshold
    m = max(1, len(study_evidence.space.params))

    def p(ev: Any) -> float:
        value = float(p_of(ev))
        return 1.0 if math.isnan(value) else value

    mine = p(study_evidence.params[name])
    ranked = sorted(p(ev) for ev in study_evidence.params.values())
    for j, q in enumerate(ranked):
        level = threshold / max(1, m - j)
        if q >= level:
            return 0.0  # this one, and every larger p-value (``mine`` among them), is not significant
        if q >= mine:
            return level
    return threshold


def closest_rival_effect(ev: Any) -> float | None:
    """How much the top choice beats its closest tried rival (relative effect), None when no rival was tried."""
    top = ev.top_choice
    tried = [c.effect for c in ev.choices if c.trials > 0 and not CategoricalParam.same(c.value, top)]
    return min(tried) if tried else None


def p_value(field: str, kind: str) -> Callable[[Any], float]:
    """``p_of`` for :func:`alpha`: the evidence's ``field`` for parameters of ``kind``, 1.0 for the others."""
    return lambda ev: getattr(ev, field) if ev.kind == kind else 1.0


def holm(threshold: float, study_evidence, settings, name: str, p_of: Callable[[Any], float]) -> tuple[bool, float]:
    """Whether ``name``'s p-value passes :func:`alpha`, and the level it had to beat (for the rationale).

    When Holm's step-down stopped before ``name`` (:func:`alpha` gives 0), the
    level is the one at its rank, threshold / (m - rank): what it needed.
    """
    level = alpha(threshold, study_evidence, settings, name, p_of)
    value = float(p_of(study_evidence.params[name]))
    value = 1.0 if math.isnan(value) else value
    if level > 0 or not settings.multiple_testing:
        return value < level, level
    ranked = sorted(1.0 if math.isnan(float(p_of(ev))) else float(p_of(ev)) for ev in study_evidence.params.values())
    m = max(1, len(study_evidence.space.params))
    j = ranked.index(value) if value in ranked else 0
    return False, threshold / max(1, m - j)


def decided(test: str, p: float | None, level: float | None, **more: Any) -> dict[str, Any]:
    """One entry of a decision's ``decided_by``: the test, its p-value and the (Holm-corrected) level applied."""
    return {"test": test, "p": p, "level": level, **more}


MODEL_P = 0.05  # the model rule's default level (``model.p``), for rules run without it
MODEL_STRONG = (
    0.2  # the model rule's default ``model.strong``: how far below its level a soft change's own test must be
)


def strong_own_test(
    test: str, p: float | None, level: float | None, model: dict[str, Any] | None, settings
) -> dict[str, Any] | None:
    """A soft change's own test strong enough to go ahead when the model does not confirm it, as a ``decided_by`` entry.

    Soft changes (a number narrowed with its margin, a categorical re-weighted with every choice kept) can
    be undone by the next stage; when the model is in force but finds no clear effect, such a change still
    goes ahead where its own test beats its Holm-corrected level by the factor ``model.strong`` (p <=
    ``model.strong`` x level). Hard changes (fix, expand, removing a choice) always need the model. None when
    no model is in force, the model confirms anyway, or the test is not that strong.
    """
    if model is None or model["passed"] or model["confirms"] or p is None or not level:
        return None
    factor = float(settings.extra.get("model.strong", MODEL_STRONG))
    if factor <= 0 or not p <= factor * level:
        return None
    return decided("strong own test", p, factor * level, own_test=test, own_level=level, factor=factor)


def strong_text(entry: dict[str, Any]) -> str:
    """Why a soft change goes ahead without the model's confirmation (for a reason)."""
    return (
        f"the model does not confirm it, but the {entry['own_test']} test is strong (p={entry['p']:.2g} <= "
        f"{entry['factor']:g} x {entry['own_level']:.2g}, model.strong): a soft change goes ahead"
    )


def model_statistic(study_evidence) -> dict[str, Any] | None:
    """The model rule's study-wide statistic ``model`` (``{"*": summary, param: its test}``), asked for as any
    plugin asks; None when that rule is not loaded."""
    statistics = getattr(study_evidence, "statistics", None)
    if statistics is None or "model" not in statistics.declared:
        return None
    return study_evidence.statistic("model")


def model_in_force(study_evidence) -> bool:
    """True when the model rule fitted a model of the objective because the study drifted (or ``model.use=always``)."""
    m = model_statistic(study_evidence)
    return bool(m and m["*"].get("used"))


def _model_p(ev: Any) -> float:
    m = model_statistic(ev.trials.evidence) if hasattr(ev, "trials") else None
    test = m.get(ev.name) if m else None
    return float(test["p"]) if test and test.get("p") is not None else 1.0


def model_test(name: str, study_evidence, settings) -> dict[str, Any] | None:
    """The model's verdict on ``name`` as a ``decided_by`` entry, None when no model is in force.

    ``passed``: p < ``model.p`` Holm-corrected over the searched parameters (``level``): the model alone
    says the parameter matters. ``confirms``: p < ``model.p`` (``confirm_level``): enough to confirm a
    change whose own test already passed its Holm-corrected level.
    """
    stats = model_statistic(study_evidence) if model_in_force(study_evidence) else None
    if stats is None or name not in stats:
        return None
    threshold = float(settings.extra.get("model.p", MODEL_P))
    passed, level = holm(threshold, study_evidence, settings, name, _model_p)
    m = stats[name]
    return decided(
        "model curve",
        m["p"],
        level,
        passed=passed,
        confirms=m["p"] < threshold,
        confirm_level=threshold,
        effect=m.get("effect"),
        effect_sd=m.get("effect_sd"),
        best_at=m.get("best_at"),
    )


def model_text(test: dict[str, Any] | None) -> str:
    """The model's verdict in words, for a reason ('' without a model)."""
    if test is None:
        return ""
    if test["passed"]:
        verdict = f"< {test['level']:.2g} (model.p, Holm-corrected): it matters"
    elif test["confirms"]:
        verdict = (
            f"< {test['confirm_level']:g} (model.p): it confirms another test, but alone it would need < "
            f"{test['level']:.2g} (Holm)"
        )
    else:
        verdict = f">= {test['confirm_level']:g} (model.p): no clear effect"
    return (
        f"the model of the objective (the study drifted, as an adaptive sampler's does) gives it an effect of "
        f"{test['effect']:.2f} ± {test['effect_sd']:.2f} normal scores, likelihood-ratio p={test['p']:.2g} {verdict}"
    )


def worse_z(settings) -> float:
    """How many SDs below the model's best a point must lie to be confidently worse: the two-sided normal quantile of
    ``model.p`` (1.96 at 0.05)."""
    from scipy.stats import norm

    return float(norm.isf(float(settings.extra.get("model.p", MODEL_P)) / 2))


def model_region(name: str, study_evidence, settings, at: float | None = None) -> tuple[float, float, float] | None:
    """Where the model's curve through the incumbent is not confidently worse than its peak, around the peak and ``at``
    (the best trial's position): (low, high) as positions in [0, 1] of the range, and the z applied; None without a
    model's curve for ``name``.

    A point is confidently worse when it lies at least :func:`worse_z` SDs of the difference below the peak (the
    posterior's joint covariance). The region is the run of points that are not, around the peak and around ``at``:
    far from every trial the model reverts to its prior and is sure of nothing, so an unexplored end beyond a
    confidently worse stretch is not part of it (the elites and the sampler's crowding did not go there either).
    """
    m = study_evidence.params[name].extra.get("model") if name in study_evidence.params else None
    if not m or not m.get("curve"):
        return None
    z = worse_z(settings)
    points = [(float(u), float(dz)) for u, _, _, dz in m["curve"]]
    ok = [dz < z for _, dz in points]
    seeds = [max(range(len(points)), key=lambda k: -points[k][1])]  # the peak (dz = 0)
    if at is not None and math.isfinite(at):
        seeds.append(min(range(len(points)), key=lambda k: abs(points[k][0] - at)))
    lo, hi = len(points), -1  # seeds holds the peak: both are set below
    for k in seeds:
        a = b = k
        while a > 0 and ok[a - 1]:
            a -= 1
        while b < len(points) - 1 and ok[b + 1]:
            b += 1
        lo, hi = min(lo, a), max(hi, b)
    return points[lo][0], points[hi][0], z


def model_p_best(name: str, study_evidence) -> list[tuple[Any, float]] | None:
    """Each choice's posterior probability of being the best at the incumbent (the model's), None without a model."""
    m = study_evidence.params[name].extra.get("model") if name in study_evidence.params else None
    if not m or not m.get("p_best"):
        return None
    return [(c, float(pb)) for c, pb in m["p_best"]]
