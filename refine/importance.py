"""Optional parameter importances from Optuna's evaluators (``--importance``); off by default because they cost
seconds."""

from __future__ import annotations

import warnings

import attrs
import numpy as np

__all__ = ["add_importance"]


def add_importance(result):
    """Return ``result`` with Optuna's PED-ANOVA importances added to its rationale."""
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator

    data = result.evidence.study
    ranked = result.evidence.ranked
    space = result.previous
    trials = []
    for row in [int(r) for r in ranked.nonzero()[0]]:
        config = data.config(row)
        params = {k: v for k, v in config.items() if k in space.params and space.params[k].contains(v)}
        dists = {k: space.params[k].to_distribution() for k in params}
        trials.append(optuna.trial.create_trial(params=params, distributions=dists, values=list(data.values[row])))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=list(data.directions))
    study.add_trials(trials)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            scores = optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    except (ValueError, RuntimeError) as e:
        scores = {"error": str(e)}
    rationale = dict(result.rationale)
    rationale["importance"] = {k: float(v) if not isinstance(v, str) else v for k, v in scores.items()}
    return attrs.evolve(result, rationale=rationale)
