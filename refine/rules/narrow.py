"""narrow: the elites cluster in part of the range, so the next stage searches there.

Numeric: when the elites' positions differ from the other trials' (two-sample
KS test, or a permutation test of the elites' span for a sampler that has
converged, p < ``narrow_p``, Holm-corrected over the searched parameters), the range becomes the elite interval (every
elite
when ``narrow_keep_elites``, else the central 90 %) plus ``narrow_margin`` of
its width on each side (at least ``narrow_min_margin`` of the whole range), on the parameter's own scale, always
containing the
best trial and every trial within two noise deviations of it (noise measured
from configurations evaluated more than once). A side whose edge zone the elites crowd is left where it is (the
expand rule may move it). Nothing changes unless the range shrinks by at least
``narrow_min_shrink``.

When the study drifted and the model rule fitted a model of the objective
(:mod:`refine.rules.model`), a parameter the model finds relevant is narrowed
around its elites without the elites-vs-trials test (an adaptive sampler's
trials crowd the elites, which blunts it), and one it does not find relevant
is not narrowed (its review vetoes it). A narrowing whose test passed but whose
range could not shrink enough is kept, and the reason says what stopped it.

Categorical: a choice that had a fair trial, holds no elite and loses by more
than ``fix_effect`` (Kruskal-Wallis p < ``fix_p``) is removed; never the best
trial's choice, never the last one.
"""

from __future__ import annotations

import attrs
import numpy as np

from refine import hookimpl
from refine.decisions import Proposal
from refine.modes import modes
from refine.rules._common import (
    alpha,
    decided,
    enough_to_move,
    fmt,
    holm,
    model_region,
    model_test,
    model_text,
    p_value,
    snap,
    strong_own_test,
    strong_text,
)
from refine.space import CategoricalParam


@hookimpl
def refine_add_settings(registry):
    """This rule's settings under its own name (``narrow.p`` ...); the engine's old names (``narrow_p`` ...) stay
    aliases."""
    from refine.settings import declare_builtin

    declare_builtin(registry, "narrow", ["p", "margin", "min_margin", "min_shrink", "keep_elites"])


@hookimpl
def refine_propose(name, param, evidence, study_evidence, settings):
    if not enough_to_move(evidence, study_evidence, settings):
        return None
    if evidence.kind == "categorical":
        return _categorical(name, param, evidence, study_evidence, settings)
    return _numeric(name, param, evidence, study_evidence, settings)


def _numeric(name, param, ev, study_evidence, settings):
    clustered, level = holm(settings.narrow_p, study_evidence, settings, name, p_value("ks_p", "numeric"))
    model = model_test(name, study_evidence, settings)
    relevant = model is not None and model["passed"]
    if not (clustered or relevant) or len(ev.elite_values) < 3:
        return None
    decided_by = [decided("elite cluster", ev.ks_p, level, passed=clustered)] + ([model] if model is not None else [])
    strong = strong_own_test("elite cluster", ev.ks_p, level, model, settings) if clustered else None
    if strong is not None:
        decided_by.append(strong)
    values = np.array(ev.elite_values)
    found = modes(param, ev.elite_values)
    if not settings.narrow_keep_elites and len(found) < 2:  # a second mode's elites are never trimmed as outliers
        values = np.quantile(values, [0.05, 0.95])
    # the model says the parameter matters: the range is where its curve through the best trial is not confidently
    # worse than its peak (an adaptive sampler's elites spread wherever the other parameters were good, so their hull
    # says little), always with the best trial and every trial within noise of it
    at = None if ev.best_value is None else param.to_unit(ev.best_value)
    region = model_region(name, study_evidence, settings, at) if relevant else None
    if region is not None:
        lo_v, hi_v = param.from_unit(region[0]), param.from_unit(region[1])
        cut = [v for v in values if lo_v <= v <= hi_v]
        values = np.array(cut) if cut else np.array([lo_v, hi_v])
        found = [m for m in found if m.high >= lo_v and m.low <= hi_v]
        decided_by.append(decided("model region", None, None, low=region[0], high=region[1], z=region[2]))
    near = list(ev.near_best_values)
    if region is not None:
        # the model's region already says which values are within noise of the best at the incumbent: a trial within
        # two noise SDs whose other parameters differ is no evidence for its value of this one
        near = [v for v in near if lo_v <= v <= hi_v] + ([] if ev.best_value is None else [ev.best_value])
    inside = [v for v in values if param.low <= v <= param.high]
    inside += [v for v in near if param.low <= v <= param.high]
    if not inside:
        return None
    u_lo, u_hi = param.to_unit(min(inside)), param.to_unit(max(inside))
    margin = max(settings.narrow_margin * (u_hi - u_lo), settings.narrow_min_margin)
    lo_u, hi_u = max(0.0, u_lo - margin), min(1.0, u_hi + margin)
    if ev.edge_low_share >= settings.expand_crowd:
        lo_u = 0.0
    if ev.edge_high_share >= settings.expand_crowd:
        hi_u = 1.0
    if hi_u - lo_u > 1.0 - settings.narrow_min_shrink:
        return _too_wide(name, param, ev, inside, hi_u - lo_u, study_evidence, settings, decided_by)
    low = param.low if lo_u == 0.0 else param.from_unit(lo_u)
    high = param.high if hi_u == 1.0 else param.from_unit(hi_u)
    snapped = snap(param, low, high)
    if snapped is None:
        return None
    low, high = max(snapped[0], param.low), min(snapped[1], param.high)
    if not low < high or (low == param.low and high == param.high):
        return None
    where = (
        f"the elites in [{fmt(min(inside))}, {fmt(max(inside))}], where the model's curve through the best trial is "
        f"not confidently worse than its peak (less than {region[2]:.2g} SDs below it: "
        f"[{fmt(param.from_unit(region[0]))}, {fmt(param.from_unit(region[1]))}])"
        + ("" if ev.best_value is None else f", best {fmt(ev.best_value)}")
        + f" (elites vs the other trials p={ev.ks_p:.2g}, {'<' if clustered else '>='} {level:.2g}; n={ev.n})"
        if region is not None
        else f"elites cluster in [{fmt(min(inside))}, {fmt(max(inside))}] (p={ev.ks_p:.2g} that they spread like "
        "the other trials, the smaller of KS and a span test, "
        f"{'<' if clustered else '>='} {level:.2g}, narrow_p Holm-corrected; "
        f"n={ev.n}" + ("" if ev.best_value is None else f", best {fmt(ev.best_value)}") + ")"
    )
    reason = (
        where + f": range [{fmt(param.low)}, {fmt(param.high)}] -> [{fmt(low)}, {fmt(high)}] "
        f"with a {settings.narrow_margin:.0%} margin"
        + (" on the log scale" if param.log else "")
        + (f"; {model_text(model)}" if model is not None else "")
        + (f"; {strong_text(strong)}" if strong is not None else "")
    )
    if len(found) > 1:
        reason += (
            "; bimodal: elites good in "
            + " and in ".join(f"[{fmt(m.low)}, {fmt(m.high)}]" for m in found)
            + ", both kept"
        )
    step = _finer_step(param, ev.elite_values)
    changes = {"low": low, "high": high}
    if step is not None:
        changes["step"] = step
        reason += (
            f"; step {fmt(param.step)} -> {fmt(step)}: every elite lies within one step of the grid, "
            "so the values between its points are proposed inside the sweet spot"
        )
    return Proposal(
        param=name,
        action="narrow",
        rule="narrow",
        new=attrs.evolve(param, **changes),
        reason=reason,
        evidence={
            "ks_p": ev.ks_p,
            "elite_low": ev.elite_low,
            "elite_high": ev.elite_high,
            "n": ev.n,
            "decided_by": decided_by,
            "soft": strong is not None,
        },
    )


def _too_wide(name, param, ev, inside, width, study_evidence, settings, decided_by):
    """The evidence says narrow, but what the range must hold spans too much of it: keep, and say so."""
    noise = study_evidence.noise_sd
    modelled = any(d["test"] == "model region" for d in decided_by)
    held = ("the model's region" if modelled else "every elite") + (
        f" and every trial within two noise SDs ({fmt(noise)}) of the best"
        if noise and len(ev.near_best_values) > 1
        else ""
    )
    tests = "; ".join(
        model_text(d)
        if d["test"] == "model curve"
        else f"the model's curve is not confidently worse than its peak (< {d['z']:.2g} SDs) from {d['low']:.0%} to "
        f"{d['high']:.0%} of the range"
        if d["test"] == "model region"
        else f"elites vs the other trials p={d['p']:.2g} (needs < {d['level']:.2g})"
        for d in decided_by
    )
    reason = (
        f"kept: the evidence says the elites cluster ({tests}), but the range must hold {held}, "
        f"[{fmt(min(inside))}, {fmt(max(inside))}], which with its margin spans {width:.0%} of the range: "
        "narrowing needs it "
        f"to shrink by at least narrow_min_shrink {settings.narrow_min_shrink:.0%} (rho={ev.rho:+.2f}, "
        f"p={ev.p:.2g}, n={ev.n})"
    )
    return Proposal(
        param=name,
        action="keep",
        rule="narrow",
        new=param,
        reason=reason,
        evidence={
            "ks_p": ev.ks_p,
            "span": width,
            "decided_by": [*decided_by, decided("range too wide", None, None, span=width)],
        },
    )


def _finer_step(param, elite_values):
    """Half the step of a grid coarser than the elites' spread (they sit on one or two adjacent points), else None."""
    step = getattr(param, "step", None)
    if step is None or param.log or len(elite_values) < 2:
        return None
    spread = max(elite_values) - min(elite_values)
    if spread > step * (1 + 1e-9):
        return None
    if isinstance(step, int) or float(step).is_integer() and isinstance(param.low, int):
        return step // 2 if step % 2 == 0 else None
    return round(step / 2, 12)


def _categorical(name, param, ev, study_evidence, settings):
    level = alpha(settings.fix_p, study_evidence, settings, name, p_value("p", "categorical"))
    if ev.p >= level:
        return None
    removed = [
        c
        for c in ev.choices
        if c.fair
        and c.elite_share == 0
        and c.effect > settings.fix_effect
        and not (ev.best_value is not None and CategoricalParam.same(c.value, ev.best_value))
    ]
    if not removed or len(param.choices) - len(removed) < 2:
        return None
    keep = [i for i, c in enumerate(param.choices) if not any(CategoricalParam.same(r.value, c) for r in removed)]
    choices = tuple(param.choices[i] for i in keep)
    weights = None
    if param.weights is not None:
        w = [param.weights[i] for i in keep]
        weights = tuple(w) if sum(w) > 0 else None
    reason = (
        "removed "
        + ", ".join(f"{fmt(c.value)} ({c.trials} trials, no elite, {c.effect:.1%} worse)" for c in removed)
        + f": each had a fair trial (>= {settings.fair_trial}); Kruskal-Wallis p={ev.p:.2g}"
    )
    return Proposal(
        param=name,
        action="narrow",
        rule="narrow",
        new=attrs.evolve(param, choices=choices, weights=weights),
        reason=reason,
        evidence={
            "removed": [c.value for c in removed],
            "p": ev.p,
            "decided_by": [decided("choices differ", ev.p, level)]
            + [m for m in [model_test(name, study_evidence, settings)] if m],
        },
    )
