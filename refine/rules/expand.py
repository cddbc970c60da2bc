"""expand: elites crowd a boundary with a trend toward it, so performance is left on the table.

A side is expanded when at least ``expand_crowd`` of the elites sit in its edge
zone (``edge_zone`` of the range), more than of the other trials run alongside
them (an adaptive sampler crowds edges too), and the objective improves toward it
(Spearman p < ``expand_p``, Holm-corrected over the searched
parameters, over the whole range or its outer third), or the best trial itself
sits there with twice the crowd and that crowd is beyond chance (binomial
against the reference's share of the edge zone, at the same level). A trend
must point the way the bound moves: a crowd against the trend over the whole
range never expands, and the reason names the path that justified the move.
The bound moves out by ``expand_factor`` of
the range's width on the parameter's own scale (for a log parameter at most
``expand_max_decades``; below ``fair_trial`` ranked trials at most one range
width, or one decade), never past ``limits``; an inferred space also keeps to
its natural bounds (:mod:`refine.natural`); a log parameter stays > 0, an int
stays an int, an int range from 1 or more stays >= 1 (0 layers or neighbours is
another model), a range that lies in [0, inf) without limits keeps its sign, and
a positive low stays positive (at most ten times lower).
A crowded bound that cannot move is kept, and the reason says what stops it.

When the study drifted and the model rule fitted a model of the objective
(:mod:`refine.rules.model`), the elites need not crowd the edge more than the
trials run alongside them: an adaptive sampler crowds a bound that matters as
much as its elites do (it keeps going where the good trials were). The model
then says whether the parameter matters (its review vetoes the expansion
otherwise). Each expansion records what decided it (``decided_by``: the
trend over the range, the trend near the bound, or the edge crowd, with the
Holm-corrected level applied, and the model's test).

An ordered numeric categorical (batch sizes) whose elites crowd its smallest
or largest choice gains the next value of its progression (16, 32, 64 -> 8).
"""

from __future__ import annotations

import math

import attrs

from refine import hookimpl
from refine.decisions import Proposal
from refine.natural import clamp, natural_bounds
from refine.rules._common import (
    alpha,
    decided,
    enough_to_move,
    fmt,
    model_in_force,
    model_test,
    model_text,
    snap,
)
from refine.space import IntParam


@hookimpl
def refine_add_settings(registry):
    """This rule's settings under its own name (``expand.p`` ...); the engine's old names (``expand_p`` ...) stay
    aliases."""
    from refine.settings import declare_builtin

    declare_builtin(registry, "expand", ["p", "crowd", "factor", "max_decades"])


@hookimpl
def refine_propose(name, param, evidence, study_evidence, settings):
    if not enough_to_move(evidence, study_evidence, settings):
        return None
    if evidence.kind == "categorical":
        return _ordered(name, param, evidence, study_evidence, settings)
    return _numeric(name, param, evidence, study_evidence, settings)


def _crowded(param, ev, side, settings, level, modelled=False):
    """Why the elites' crowd at ``side`` justifies moving it: (the path, for the reason; its ``decided_by``
    entry), or None.

    A trend must point the way the bound moves: a crowd at an edge against the
    trend over the whole range does not expand it. ``modelled``: a model of the
    objective is in force (the study drifted), so the elites need not crowd the
    edge more than their contemporaries: an adaptive sampler crowds where the good trials are.
    """
    share = ev.edge_low_share if side == "low" else ev.edge_high_share
    ref = ev.ref_low_share if side == "low" else ev.ref_high_share
    if share < settings.expand_crowd or (share <= ref and not modelled):
        return None
    sign = -1 if side == "low" else 1
    trend, trend_p = (ev.trend_low, ev.trend_low_p) if side == "low" else (ev.trend_high, ev.trend_high_p)
    if sign * ev.rho > 0 and ev.p < level:
        return (
            f"the trend over the whole range points {side} (rho={ev.rho:+.2f}, p={ev.p:.2g} < {level:.2g})",
            decided("trend", ev.p, level, side=side, rho=ev.rho),
        )
    if sign * trend > 0 and trend_p < level and sign * ev.rho >= 0:
        return (
            f"the trend in the {side} third points {side} (rho={trend:+.2f}, p={trend_p:.2g} < {level:.2g})",
            decided("trend near the bound", trend_p, level, side=side, rho=trend),
        )
    if ev.best_value is not None and sign * ev.rho >= 0:
        zone = settings.edge_zone
        u = param.to_unit(ev.best_value)
        at_edge = u <= zone if side == "low" else u >= 1 - zone
        crowd_p = ev.edge_low_p if side == "low" else ev.edge_high_p
        # no trend to lean on: the crowd itself must be more than chance puts there
        if at_edge and share >= 2 * settings.expand_crowd and crowd_p < level:
            return (
                f"the best trial and {share:.0%} of elites sit in the {side} edge zone, more than chance puts "
                f"there (binomial p={crowd_p:.2g} < {level:.2g})",
                decided("edge crowd", crowd_p, level, side=side, share=share),
            )
    return None


def _expand_p(e):
    if e.kind != "numeric":
        return 1.0
    return min(e.p, e.trend_low_p, e.trend_high_p, e.edge_low_p, e.edge_high_p)


def _numeric(name, param, ev, study_evidence, settings):
    level = alpha(settings.expand_p, study_evidence, settings, name, _expand_p)
    modelled = model_in_force(study_evidence)
    found = {s: _crowded(param, ev, s, settings, level, modelled) for s in ("low", "high")}
    sides = [s for s in ("low", "high") if found[s]]
    if not sides:
        return None
    paths = {s: found[s][0] for s in sides}
    model = model_test(name, study_evidence, settings)
    decided_by = [found[s][1] for s in sides] + ([model] if model is not None else [])
    low, high = param.low, param.high
    f = settings.expand_factor
    decades = settings.expand_max_decades
    small = study_evidence.n_ranked < settings.fair_trial
    if small:  # a small study moves a bound by at most a range width, or a decade, per stage
        f, decades = min(f, 1.0), min(decades, 1.0)
    if param.log:
        f = min(f, decades * math.log(10) / (math.log(param.high) - math.log(param.low)))
    if "low" in sides:
        low = param.from_unit(-f)
        if not param.log and param.low >= 0 and param.limits is None and low < 0:
            low = 0.0
        if not param.log and param.low > 0 and param.limits is None and low <= 0:
            low = param.low / 10  # a positive low stays positive (a class weight of 0 is another model)
        if isinstance(param, IntParam) and param.low >= 1 and param.limits is None:
            low = max(low, 1)  # 0 layers, neighbours or heads is another model, not more of the same
    if "high" in sides:
        high = param.from_unit(1 + f)
        if not param.log and param.high <= 0 and param.limits is None and high > 0:
            high = 0.0
    if isinstance(param, IntParam):
        low = math.floor(low) if "low" in sides else param.low
        high = math.ceil(high) if "high" in sides else param.high
    snapped = snap(param, low, high)
    if snapped is None:
        return None
    low, high = snapped
    while isinstance(param, IntParam) and param.low >= 1 and param.limits is None and low < 1:
        low += param.step  # snapping outward onto a step > 1 grid may have crossed 1 again
    # an inferred space (no `limits` anywhere) keeps to the bounds its ranges and names imply
    nb = natural_bounds(name, param) if study_evidence.study.space_source == "inferred" else None
    clipped = []
    if nb is not None:
        wanted = (low, high)
        low, high = clamp(param, nb, low, high)
        clipped = [s for s, a, b in (("low", wanted[0], low), ("high", wanted[1], high)) if s in sides and a != b]
    moved = [s for s in sides if (s == "low" and low < param.low) or (s == "high" and high > param.high)]
    if not moved:
        return _blocked(name, param, ev, sides, nb, clipped, decided_by)
    low = low if "low" in moved else param.low
    high = high if "high" in moved else param.high
    why = []
    for s in moved:
        share = ev.edge_low_share if s == "low" else ev.edge_high_share
        why.append(f"{share:.0%} of elites in the {s} edge zone")
    reason = (
        f"{' and '.join(why)}, rho={ev.rho:+.2f} (p={ev.p:.2g}, n={ev.n})"
        + ("" if ev.best_value is None else f", best at {fmt(ev.best_value)}")
        + ": "
        f"range [{fmt(param.low)}, {fmt(param.high)}] -> [{fmt(low)}, {fmt(high)}]"
        + (" (log scale)" if param.log else "")
        + "; justified by "
        + "; and ".join(paths[s] for s in moved)
        + (
            f"; at most {'a decade' if param.log else 'a range width'} per stage with "
            f"{study_evidence.n_ranked} ranked trials (< fair_trial {settings.fair_trial})"
            if small
            else ""
        )
        + (
            f"; kept within natural bounds {nb.limits_text()}, {nb.why} (write `limits` in the space file to override)"
            if clipped
            else ""
        )
        + (f"; {model_text(model)}" if model is not None else "")
    )
    return Proposal(
        param=name,
        action="expand",
        rule="expand",
        new=attrs.evolve(param, low=low, high=high),
        reason=reason,
        evidence={
            "sides": moved,
            "rho": ev.rho,
            "p": ev.p,
            "edge_low": ev.edge_low_share,
            "edge_high": ev.edge_high_share,
            "level": level,
            "paths": {s: paths[s] for s in moved},
            "decided_by": [found[s][1] for s in moved] + ([model] if model is not None else []),
        },
    )


def _blocked(name, param, ev, sides, nb=None, clipped=(), decided_by=()):
    """The elites crowd a bound that cannot move: say so, rather than "no clear signal"."""
    why, stops = [], {}
    for side in sides:
        share = ev.edge_low_share if side == "low" else ev.edge_high_share
        bound = param.low if side == "low" else param.high
        limit = None if param.limits is None else param.limits[0 if side == "low" else 1]
        if limit is not None and bound == limit:
            stop = f"it is the hard limit {fmt(limit)}"
        elif side in clipped or (nb is not None and bound == (nb.low if side == "low" else nb.high)):
            stop = (
                f"the space was inferred and {nb.why} (give `limits: [lo, hi]` in a space file to override; "
                "`refine show STUDY --study S -o v1.yaml` writes one to edit)"
            )
        elif side == "low" and isinstance(param, IntParam) and param.low == 1 and param.limits is None:
            stop = "an int range from 1 stays >= 1 (give `limits: [0, ...]` to let it reach 0)"
        elif side == "low" and param.low == 0 and param.limits is None:
            stop = "a range from 0 keeps its sign (give `limits` to let it go below 0)"
        elif side == "high" and param.high == 0 and param.limits is None:
            stop = "a range up to 0 keeps its sign (give `limits` to let it go above 0)"
        else:
            stop = "the next value past it is off the range's grid or limits"
        stops[side] = stop
        why.append(f"{share:.0%} of elites in the {side} edge zone at {fmt(bound)}, but the bound cannot move: {stop}")
    return Proposal(
        param=name,
        action="keep",
        rule="expand",
        new=param,
        reason=f"{'; '.join(why)} (rho={ev.rho:+.2f}, p={ev.p:.2g}, n={ev.n})",
        evidence={
            "blocked": list(sides),
            "rho": ev.rho,
            "p": ev.p,
            "decided_by": [*decided_by, decided("hard limit", None, None, sides=list(sides), stops=stops)],
        },
    )


def _next_value(values, side):
    """The next value of an ordered progression beyond ``side`` (None when it has no sensible next)."""
    vs = sorted(values)
    if len(vs) == 2 and vs == [0, 1]:
        return None  # a 0/1 toggle, not a progression
    a, b = (vs[0], vs[1]) if side == "low" else (vs[-2], vs[-1])
    all_int = all(isinstance(v, int) for v in vs)
    if a > 0 and b > 0:
        ratios = [vs[i + 1] / vs[i] for i in range(len(vs) - 1)]
        diffs = [vs[i + 1] - vs[i] for i in range(len(vs) - 1)]
        geometric = len(vs) >= 3 and max(ratios) / min(ratios) < 1.01 or len(vs) == 2 and b / a >= 2
        if len(set(diffs)) == 1 and not (len(vs) == 2 and b / a >= 2):
            geometric = False
        if geometric:
            r = b / a
            nxt = a / r if side == "low" else b * r
        else:
            d = b - a
            nxt = a - d if side == "low" else b + d
    else:
        d = b - a
        nxt = a - d if side == "low" else b + d
    if all_int:
        if abs(nxt - round(nxt)) > 1e-9:
            return None
        nxt = int(round(nxt))
    if vs[0] > 0 and nxt <= 0 or vs[0] >= 0 and nxt < 0:
        return None  # a progression of positive (or non-negative) values keeps its sign
    return nxt


def _ordered(name, param, ev, study_evidence, settings):
    if not ev.ordered:
        return None
    model = model_test(name, study_evidence, settings)
    values = list(param.choices)
    lowest, highest = min(values), max(values)
    for side, end in (("low", lowest), ("high", highest)):
        stats = ev.stats(end)
        if ev.top_choice != end or stats.elite_share < max(settings.bias_dominance, 0.5):
            continue
        if ev.best_choice != end:
            continue
        nxt = _next_value(values, side)
        if nxt is None or any(nxt == v for v in values):
            continue
        new_choices = [nxt, *values] if side == "low" and values[0] == lowest else [*values, nxt]
        if side == "low" and values[0] != lowest:
            new_choices = sorted([*values, nxt])
        weights = None
        if param.weights is not None:
            w = list(param.normalized_weights())
            w.insert(new_choices.index(nxt), max(w))
            weights = tuple(round(x / sum(w), 6) for x in w)
        reason = (
            f"{stats.elite_share:.0%} of elites chose the {'smallest' if side == 'low' else 'largest'} value "
            f"{fmt(end)} "
            f"(best choice by median; Kruskal-Wallis p={ev.p:.2g}): added {fmt(nxt)}, the next value of the progression"
            + (f"; {model_text(model)}" if model is not None else "")
        )
        return Proposal(
            param=name,
            action="expand",
            rule="expand",
            new=attrs.evolve(param, choices=tuple(new_choices), weights=weights),
            reason=reason,
            evidence={
                "side": side,
                "added": nxt,
                "elite_share": stats.elite_share,
                "decided_by": [decided("edge crowd", None, None, side=side, share=stats.elite_share)]
                + ([model] if model is not None else []),
            },
        )
    return None
