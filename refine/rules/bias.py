"""bias: weight a dominant categorical choice instead of removing its under-tried rivals.

With few trials, a choice that holds most elites may only look dominant. When
it holds at least ``bias_dominance`` of the elites and some rival has not had a
fair trial (``fair_trial`` trials), the choice gets ``bias_weight`` of the
exploration trials and the rivals share the rest: nothing is removed before it
has been judged fairly. When every rival had its fair trial and the top
choice holds every elite with a real effect, but too few rivals ran alongside
the elites for the fix rule to be certain, the choice is weighted the same way.
A unanimous elite set (``fix_convergence``) on a choice whose rivals were
under-tried is weighted even where the model of the objective sees no effect,
as long as the top choice's weight stays below the share of trials it got: a
hedge that gives the rivals their trials, not a finding.
Raising a choice's weight above the share of trials
it got needs proof (p < ``bias_p``, Holm-corrected over the searched parameters): it holds more
elites than that share predicts (binomial), or it has the best median and the
choices differ (Kruskal-Wallis). Lowering it, to give under-tried rivals their
fair trial, needs none.
"""

from __future__ import annotations

import attrs

from refine import hookimpl
from refine.decisions import Proposal
from refine.evidence import MIN_CONTEMPORARIES
from refine.rules._common import (
    alpha,
    closest_rival_effect,
    decided,
    fmt,
    model_p_best,
    model_test,
    model_text,
    p_value,
    strong_own_test,
    strong_text,
)
from refine.space import CategoricalParam


@hookimpl
def refine_add_settings(registry):
    """This rule's settings under its own name (``bias.p`` ...); the engine's old names (``bias_p`` ...) stay
    aliases."""
    from refine.settings import declare_builtin

    declare_builtin(registry, "bias", ["p", "weight", "dominance"])


@hookimpl
def refine_propose(name, param, evidence, study_evidence, settings):
    ev = evidence
    if ev.kind != "categorical" or study_evidence.n_ranked < settings.min_complete or ev.n == 0 or study_evidence.flat:
        return None
    modelled = _by_model(name, param, ev, study_evidence, settings)
    if modelled is not None:
        return modelled
    if len(param.choices) < 2 or ev.elite_convergence < settings.bias_dominance:
        return None
    top = ev.top_choice
    rivals = [c for c in ev.choices if not CategoricalParam.same(c.value, top)]
    unfair = [c for c in rivals if not c.fair]
    a_kw = alpha(settings.bias_p, study_evidence, settings, name, p_value("p", "categorical"))
    if not unfair and not _fix_unconfirmed(name, ev, study_evidence, settings, a_kw):
        return None
    rest = (1.0 - settings.bias_weight) / len(rivals)
    weights = tuple(
        round(settings.bias_weight if i == param.index(top) else rest, 6) for i in range(len(param.choices))
    )
    current = param.normalized_weights()
    if tuple(round(w, 6) for w in current) == weights:
        return None
    tried = sum(c.trials for c in ev.choices)
    observed = ev.stats(top).trials / tried if tried else current[param.index(top)]
    favours_top = weights[param.index(top)] > observed  # more than the share of trials it actually got
    a = alpha(settings.bias_p, study_evidence, settings, name, p_value("dominance_p", "categorical"))
    # the values themselves, not only the elite count
    beats_rivals = ev.p < a_kw and CategoricalParam.same(ev.best_choice, top)
    model = model_test(name, study_evidence, settings)
    # an adaptive sampler gives a choice that works more trials, which hides its elite share: the model can prove it
    # instead
    modelled = model is not None and model["passed"] and CategoricalParam.same(model.get("best_at"), top)
    if favours_top and ev.dominance_p >= a and not beats_rivals and not modelled:
        return None  # no more elites on it than its share of the trials predicts: dominance by chance
    share = _weights_text(param, top, weights)
    if unfair:
        reason = (
            f"{fmt(top)} holds {ev.elite_convergence:.0%} of elites, but "
            + ", ".join(f"{fmt(c.value)} had only {c.trials} trials" for c in unfair)
            + f" (< fair trial {settings.fair_trial}): weighted {share} instead of removed"
        )
    else:
        alongside = (
            f"only {ev.fix_others} rival trials ran alongside the elites: too few to fix it"
            if ev.fix_others < MIN_CONTEMPORARIES
            else f"against the {ev.fix_others} rival trials run alongside the elites it is not certain "
            f"(Mann-Whitney p={ev.fix_p:.2g})"
        )
        reason = (
            f"{fmt(top)} holds {ev.elite_convergence:.0%} of elites and beats its rivals (Kruskal-Wallis "
            f"p={ev.p:.2g}), "
            f"but {alongside}, so weighted {share}"
        )
    if favours_top:
        if ev.dominance_p < a:
            reason += (
                f"; its elite share beats its {observed:.0%} of the trials (binomial p={ev.dominance_p:.2g} < {a:.2g})"
            )
            own = decided("elite cluster", ev.dominance_p, a, share=ev.elite_convergence)
        elif beats_rivals:
            reason += f"; it has the best median (Kruskal-Wallis p={ev.p:.2g} < {a_kw:.2g})"
            own = decided("choices differ", ev.p, a_kw)
        else:
            reason += "; the model of the objective puts it first"
            own = None
    else:
        own = decided("unfair trial", None, None, unfair=[c.value for c in unfair])
    # the values themselves (the top choice has the best median, far below its level) can carry a re-weighting, but only
    # where rivals ran alongside the elites: under drift the late trials are better and sit on the top choice whether or
    # not it matters, so without contemporaries the comparison is the sampler's trend (an irrelevant choice under TPE
    # gave Kruskal-Wallis p=1e-05 with no rival alongside the elites)
    contemporaries = ev.fix_others >= MIN_CONTEMPORARIES and CategoricalParam.same(ev.best_choice, top)
    strong = strong_own_test("choices differ", ev.p, a_kw, model, settings) if contemporaries else None
    # every elite on one choice whose rivals never had a fair trial: the fix rule's case, judged too early. Weighting it
    # below the share of trials the sampler already gave it is the lesson's hedge (bias, don't remove), not a finding,
    # so it needs no second line of evidence: it gives the rivals more trials than continuing the study would
    hedge = bool(unfair) and not favours_top and ev.elite_convergence >= settings.fix_convergence
    if model is not None:
        reason += f"; {model_text(model)}"
        if hedge and not (model["passed"] or model["confirms"]):
            reason += (
                f". A fair-trial hedge, not a finding: {fmt(top)} had {observed:.0%} of the trials, so these weights "
                "give its rivals more of them than the sampler did"
            )
    if strong is not None:
        reason += f"; {strong_text(strong)}"
    return Proposal(
        param=name,
        action="bias",
        rule="bias",
        new=attrs.evolve(param, weights=weights),
        reason=reason,
        evidence={
            "dominance": ev.elite_convergence,
            "unfair": [c.value for c in unfair],
            "decided_by": [d for d in (own, model, strong) if d is not None],
            "soft": strong is not None,
            "hedge": hedge,
        },
    )


def _fix_unconfirmed(name, ev, study_evidence, settings, a_kw) -> bool:
    """Every choice had its fair trial and the top one won them all, but the trials run alongside the
    elites were too few to make the win certain (the fix rule's test): weight it instead."""
    level = alpha(settings.fix_p, study_evidence, settings, name, p_value("p", "categorical"))
    effect = closest_rival_effect(ev)
    return (
        ev.elite_convergence >= settings.fix_convergence
        and CategoricalParam.same(ev.best_choice, ev.top_choice)
        and effect is not None
        and effect > settings.fix_effect
        and ev.p < min(a_kw, level)
        and ev.fix_p >= level
    )


def _weights_text(param, top, weights) -> str:
    """The weights as written: the top choice's share, then each rival's."""
    i = param.index(top)
    rivals = [w for j, w in enumerate(weights) if j != i]
    each = f"{rivals[0]:.0%} each" if len(set(rivals)) == 1 else ", ".join(f"{w:.0%}" for w in rivals)
    return f"{fmt(top)} {weights[i]:.0%}, {'its rival' if len(rivals) == 1 else 'the rivals'} {each}"


def _by_model(name, param, ev, study_evidence, settings):
    """With a model in force: weight each choice by the model's probability that it is the best at the incumbent.

    It acts when the model says the parameter matters (likelihood-ratio p below ``model.p`` Holm-corrected) or is
    confident which choice is best (probability >= 1 - ``model.p``). Each choice keeps at least the share a rival
    gets beside a dominant choice, (1 - ``bias_weight``) / (k - 1), so that nothing is starved before its fair trial;
    a choice the model never saw (no trial) has probability 0 and keeps that share. None when it does not apply.
    """
    if len(param.choices) < 2:
        return None
    model = model_test(name, study_evidence, settings)
    p_best = model_p_best(name, study_evidence)
    if model is None or not p_best:
        return None
    k = len(param.choices)
    prob = [0.0] * k
    for value, pb in p_best:
        i = _index(param, value)
        if i is not None:
            prob[i] = pb
    top = max(range(k), key=lambda i: prob[i])
    confident = prob[top] >= 1.0 - model["confirm_level"]
    if not (model["passed"] or confident):
        return None
    floor = (1.0 - settings.bias_weight) / (k - 1)
    weights = tuple(round(floor + (1.0 - k * floor) * pb, 3) for pb in prob)
    if tuple(round(w, 3) for w in param.normalized_weights()) == weights:
        return None
    why = (
        model_text(model)
        if model["passed"]
        else f"the model of the objective is confident which choice is best (probability {prob[top]:.0%} >= "
        f"{1.0 - model['confirm_level']:.0%}, 1 - model.p), although its likelihood-ratio p={model['p']:.2g}"
    )
    reason = (
        "weighted by the model's probability that each choice is the best at the best trial ("
        + ", ".join(f"{fmt(c)} {pb:.0%}" for c, pb in zip(param.choices, prob))
        + f"): {_listed(param, weights)}, each at least {floor:.0%} (bias_weight {settings.bias_weight:g}); {why}"
    )
    if ev.top_choice is not None and not CategoricalParam.same(ev.top_choice, param.choices[top]):
        reason += (
            f"; the elites' top choice {fmt(ev.top_choice)} ({ev.elite_convergence:.0%} of them) is not the model's"
        )
    return Proposal(
        param=name,
        action="bias",
        rule="bias",
        new=attrs.evolve(param, weights=weights),
        reason=reason,
        evidence={
            "p_best": {str(c): pb for c, pb in zip(param.choices, prob)},
            "decided_by": [model, decided("model probability of best", None, None, p_best=prob, top=prob[top])],
            "modelled": True,
        },
    )


def _index(param, value) -> int | None:
    for i, c in enumerate(param.choices):
        if CategoricalParam.same(c, value):
            return i
    return None


def _listed(param, weights) -> str:
    return ", ".join(f"{fmt(c)} {w:.0%}" for c, w in zip(param.choices, weights))
