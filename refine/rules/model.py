"""model: when an adaptive sampler grew the study, a model of the objective says whether a parameter matters.

An adaptive sampler (TPE, CMA-ES, a GP) looks where it did well, so its late
trials crowd wherever its early ones scored, whether or not a parameter
matters: comparing where the elites sit with where the other trials sit then
calls irrelevant parameters and misses relevant ones. A regression of the
objective on the parameters stays valid, since where the sampler looked depends
only on values already observed.

This rule first compares the study's first and last thirds (by trial number): KS for a
number, chi-square for a categorical, Fisher's combination over the parameters
(:func:`refine.surrogate.drift_test`). When they differ (p < ``model.p``), or
with ``model.use=always``, it fits a Gaussian process on the normal scores of
the ranks of the objective (:func:`refine.surrogate.fit_model`) and tests each
parameter by a likelihood ratio against the model without it. It declares the
results as the study-wide statistic ``model`` (``refine_add_statistics``; any
rule asks for it with ``study_evidence.statistic("model")``), adds them to the
evidence (``extra["model"]``, study-wide and per parameter) and
vetoes every change a built-in rule proposes (fix, bias, expand, narrow) for a
parameter whose test does not pass ``model.p`` (the proposing rule's own
test already passed its Holm-corrected level: two lines of evidence); the
parameter is then kept and the reason says so. With the model in force,
expand no longer needs the elites to crowd a bound more than their
contemporaries do, and narrow of a parameter the model alone finds relevant
(``model.p`` Holm-corrected over the searched parameters) no longer needs the
elites-vs-trials test: it is narrowed to its elites and the best trial where
the model's curve through the best trial is not confidently worse than its
peak (:func:`refine.rules._common.model_region`). A categorical is weighted by
the model's probability that each choice is the best
(:func:`refine.rules._common.model_p_best`; the bias rule). When the trials do
not drift (a random or grid sampler), the classic tests decide alone.

A soft change the model does not confirm (a number narrowed with its margin, a
categorical re-weighted with every choice kept, where rivals ran alongside the
elites) still goes ahead when its own test's p is at most ``model.strong``
times its Holm-corrected level (the proposing rule marks it ``soft``). A
categorical whose every elite sits on one choice while its rivals were
under-tried is weighted as the bias rule's hedge (below the share of trials
the sampler gave that choice) without the model's confirmation. Fix, expand
and removing a choice always need the model.

Settings: ``model.use`` (auto, always or never), ``model.p`` (0.05) and ``model.strong`` (0.2).
"""

from __future__ import annotations

import time

from refine import hookimpl
from refine.rules._common import MODEL_P, MODEL_STRONG, model_test

#: the built-in rules whose changes need the model's confirmation
GATED = ("fix", "bias", "expand", "narrow")
_USES = ("auto", "always", "never")


def _use(value):
    text = str(value).strip().lower()
    if text not in _USES:
        raise ValueError(f"expected one of {', '.join(_USES)}, got {value!r}")
    return text


def _p(value):
    if isinstance(value, bool):
        raise ValueError(f"expected a p-value in (0, 1], got {value!r}")
    p = float(value)
    if not 0 < p <= 1:
        raise ValueError(f"expected a p-value in (0, 1], got {value!r}")
    return p


@hookimpl
def refine_add_settings(registry):
    registry.add(
        "model.use",
        default="auto",
        help="fit a model of the objective: auto (when the study's first and last thirds sampled differently, as an "
        "adaptive sampler's do), always, or never",
        convert=_use,
    )
    registry.add(
        "model.p",
        default=MODEL_P,
        help=(
            "level of the drift test (Fisher's combination over the parameters) and of each parameter's "
            "likelihood-ratio test in the model (Holm-corrected)"
        ),
        convert=_p,
    )
    registry.add(
        "model.strong",
        default=MODEL_STRONG,
        help=(
            "a soft change (narrow a number with its margin, re-weight a categorical) the model does not confirm "
            "still goes ahead when its own test's p is at most this factor times its Holm-corrected level "
            "(0 turns it off)"
        ),
        convert=_factor,
    )


def _factor(value):
    if isinstance(value, bool):
        raise ValueError(f"expected a factor in [0, 1], got {value!r}")
    f = float(value)
    if not 0 <= f <= 1:
        raise ValueError(f"expected a factor in [0, 1], got {value!r}")
    return f


@hookimpl
def refine_add_statistics(registry):
    registry.add(
        "model",
        lambda evidence: {key: v["model"] for key, v in _model(evidence, evidence.settings).items()},
        scope="study",
        help="the drift test, and when the study drifted a model of the objective with each parameter's "
        "likelihood-ratio test ({'*': summary, param: test})",
    )


@hookimpl
def refine_add_evidence(evidence):
    # also in ``extra["model"]`` (study-wide and per parameter), for the rationale and for plugins that read it there
    return {key: {"model": v} for key, v in evidence.statistic("model").items()}


def _model(evidence, settings):
    from refine.surrogate import MIN_TRAIN, drift_test, fit_model

    use = settings.extra.get("model.use", "auto")
    level = float(settings.extra.get("model.p", MODEL_P))
    summary = {"used": False, "use": use, "level": level}
    if use == "never":
        return {"*": {"model": {**summary, "why": "model.use=never: the classic tests decide alone"}}}
    if evidence.n_ranked < max(MIN_TRAIN, settings.min_complete) or evidence.flat or evidence.near_noise:
        return {"*": {"model": {**summary, "why": "too few ranked trials, or no signal above noise, for a model"}}}
    start = time.perf_counter()
    drift = drift_test(evidence.study, evidence.space, evidence.ranked)
    summary.update(drift_p=drift.p, drift_worst=drift.worst, drift=drift.per_param, compared=list(drift.parts))
    if use == "auto" and drift.p >= level:
        summary["why"] = (
            "the study's first and last thirds sampled the parameters alike (KS/chi-square, Fisher "
            f"p={drift.p:.2g} >= {level:g}), "
            "as a random or grid sampler's do: the classic tests decide alone"
        )
        return {"*": {"model": summary}}
    fit = fit_model(evidence.study, evidence.space, evidence.ranked, evidence.scores, evidence.best_row)
    if fit is None:
        summary["why"] = "no parameter varied enough to fit a model: the classic tests decide alone"
        return {"*": {"model": summary}}
    summary.update(
        used=True,
        why=(
            f"the study's first and last thirds sampled the parameters differently (Fisher p={drift.p:.2g}, most in "
            f"'{drift.worst}'), as an adaptive sampler's do"
            if drift.p < level
            else "model.use=always"
        ),
        trials=fit.n,
        ranked=fit.n_ranked,
        log_likelihood=fit.log_likelihood,
        noise=fit.noise,
        signal=fit.signal,
        seconds=round(time.perf_counter() - start, 3),
    )
    out = {"*": {"model": summary}}
    for name, e in fit.params.items():
        out[name] = {
            "model": {
                "p": e.p,
                "lr": e.lr,
                "df": e.df,
                "length_scales": list(e.length_scales),
                "with_children": list(e.dropped_with),
                "best_at": e.best_at,
                "effect": e.effect,
                "effect_sd": e.effect_sd,
                # the curve through the incumbent: (position in [0, 1] or choice, mean, SD, SDs below the peak)
                "curve": [[at, mean, sd, z] for (at, mean, sd), z in zip(e.curve, e.worse_z)],
                "p_best": [[c, pb] for (c, _, _), pb in zip(e.curve, e.p_best)],
            }
        }
    return out


@hookimpl
def refine_review(proposal, study_evidence, settings):
    if proposal.rule not in GATED or proposal.action in ("keep", "drop") or proposal.param not in study_evidence.params:
        return None
    test = model_test(proposal.param, study_evidence, settings)
    if test is None or test["passed"] or test["confirms"]:
        return None
    if proposal.rule in ("narrow", "bias") and proposal.action in ("narrow", "bias") and proposal.evidence.get("soft"):
        return None  # a soft change whose own test is strong (model.strong): the rule's reason says so
    if proposal.rule == "bias" and proposal.evidence.get("hedge"):
        return None  # every elite on a choice whose rivals were under-tried, weighted below its share of the trials
    if proposal.rule == "bias" and proposal.evidence.get("modelled"):
        return None  # weighted by the model's own probability that each choice is best: the model decided it
    return (
        f"the model of the objective finds no clear effect of '{proposal.param}': likelihood-ratio p={test['p']:.2g}, "
        f"needs < {test['confirm_level']:g} (model.p) to confirm it; effect {test['effect']:.2f} ± "
        f"{test['effect_sd']:.2f} "
        "normal scores. The study drifted, as an adaptive sampler's does, so where its trials crowd is no "
        "evidence alone"
    )
