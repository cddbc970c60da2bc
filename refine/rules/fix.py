"""fix: move a parameter to ``fixed`` only when that is certain.

Certain means all of: the elites converge on one value (``fix_convergence``,
default 100 %; overwhelming evidence, p < ``overwhelming_p``, accepts 90 %),
the effect against the closest rival exceeds ``fix_effect`` (5 %), the test
gives p < ``fix_p`` (0.10), and every losing choice had a fair trial
(``fair_trial`` trials): an under-tried choice is never judged (the bias rule
weights it instead). A numeric
parameter whose elites all sit on one value (an int, a grid point, 0.0 at a
boundary that is also a hard limit) is fixed by the same test; elites on a
bound that can still move are the expand rule's. An ordered categorical whose elites sit
on its smallest or largest value is not fixed: the expand rule offers the
next value of the progression instead.
"""

from __future__ import annotations

import math

from refine import hookimpl
from refine.decisions import Proposal
from refine.rules._common import alpha, closest_rival_effect, decided, fmt, model_test, model_text, p_value
from refine.space import CategoricalParam, IntParam


@hookimpl
def refine_add_settings(registry):
    """This rule's settings under its own name (``fix.p`` ...); the engine's old names (``fix_p`` ...) stay aliases."""
    from refine.settings import declare_builtin

    declare_builtin(registry, "fix", ["p", "effect", "convergence"])


@hookimpl
def refine_propose(name, param, evidence, study_evidence, settings):
    if study_evidence.near_noise or study_evidence.n_ranked < settings.min_complete or evidence.n == 0:
        return None
    if evidence.kind == "categorical":
        return _categorical(name, evidence, study_evidence, settings)
    return _numeric(name, param, evidence, study_evidence, settings)


def _converged(share, p, settings):
    if share >= settings.fix_convergence:
        return True
    return p < settings.overwhelming_p and share >= 0.9 * settings.fix_convergence


def _share(share, settings):
    """Who converged: all elites, a share the settings accept, or (on overwhelming evidence) less."""
    if share >= 1.0:
        return "all elites"
    if share >= settings.fix_convergence:
        return f"{share:.0%} of elites"
    return f"{share:.0%} of elites (enough on overwhelming evidence)"


def _categorical(name, ev, study_evidence, settings):
    if not _converged(ev.elite_convergence, ev.p, settings) or not CategoricalParam.same(ev.top_choice, ev.best_choice):
        return None
    if ev.ordered and ev.top_choice in (min(c.value for c in ev.choices), max(c.value for c in ev.choices)):
        return None  # the end of an ordered progression: the expand rule opens the next value instead
    if (
        study_evidence.best_row is not None
        and ev.best_value is not None
        and not CategoricalParam.same(ev.best_value, ev.top_choice)
    ):
        return None
    rivals = [c for c in ev.choices if not CategoricalParam.same(c.value, ev.top_choice)]
    effect = closest_rival_effect(ev)
    if effect is None:
        return None
    level = alpha(settings.fix_p, study_evidence, settings, name, p_value("p", "categorical"))
    if not (effect > settings.fix_effect and ev.p < level and ev.fix_p < level):
        return None
    if any(not c.fair for c in rivals):
        return None
    top = ev.stats(ev.top_choice)
    reason = (
        f"{_share(ev.elite_convergence, settings)} chose {fmt(ev.top_choice)}; it beats the closest rival by "
        f"{effect:.1%} (Kruskal-Wallis p={ev.p:.2g}; against the {ev.fix_others} rival trials run alongside "
        f"the elites, Mann-Whitney p={ev.fix_p:.2g}); rivals had "
        + ", ".join(f"{fmt(c.value)}: {c.trials} trials" for c in rivals)
        + _model_said(name, study_evidence, settings)
    )
    return Proposal(
        param=name,
        action="fix",
        rule="fix",
        fixed_value=ev.top_choice,
        reason=reason,
        evidence={
            "convergence": ev.elite_convergence,
            "effect": effect,
            "p": ev.p,
            "top_trials": top.trials,
            "decided_by": _decided_by(
                name,
                study_evidence,
                settings,
                decided("elite cluster", max(ev.p, ev.fix_p), level, convergence=ev.elite_convergence),
            ),
        },
    )


def _numeric(name, param, ev, study_evidence, settings):
    if ev.mode_value is None or not _converged(ev.mode_share, ev.effect_p, settings):
        return None
    if ev.others_n < settings.fair_trial:
        return None
    level = alpha(settings.fix_p, study_evidence, settings, name, p_value("effect_p", "numeric"))
    if not (ev.effect > settings.fix_effect and ev.effect_p < level):
        return None
    if ev.best_value is not None and ev.best_value != ev.mode_value:
        return None
    at_low, at_high = ev.mode_value <= param.low, ev.mode_value >= param.high
    lo_limit, hi_limit = param.limits if param.limits is not None else (None, None)
    if (at_low and param.low != lo_limit) or (at_high and param.high != hi_limit):
        return None  # a bound that can still move: the expand rule looks past it instead
    value = int(ev.mode_value) if isinstance(param, IntParam) else float(ev.mode_value)
    if not math.isfinite(value):
        return None
    reason = (
        f"{_share(ev.mode_share, settings)} sit on {fmt(value)}; trials there beat the {ev.effect_others} "
        + (
            "others"
            if ev.effect_others == ev.others_n
            else f"trials at other values run alongside the elites (of {ev.others_n})"
        )
        + f" by {ev.effect:.1%} "
        f"(Mann-Whitney p={ev.effect_p:.2g})" + _model_said(name, study_evidence, settings)
    )
    return Proposal(
        param=name,
        action="fix",
        rule="fix",
        fixed_value=value,
        reason=reason,
        evidence={
            "convergence": ev.mode_share,
            "effect": ev.effect,
            "p": ev.effect_p,
            "others": ev.others_n,
            "decided_by": _decided_by(
                name, study_evidence, settings, decided("elite cluster", ev.effect_p, level, convergence=ev.mode_share)
            ),
        },
    )


def _decided_by(name, study_evidence, settings, own):
    model = model_test(name, study_evidence, settings)
    return [own] + ([model] if model is not None else [])


def _model_said(name, study_evidence, settings):
    model = model_test(name, study_evidence, settings)
    return f"; {model_text(model)}" if model is not None else ""
