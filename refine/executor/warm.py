"""What a run enqueues before the sampler: a previous stage carried over, extremes, gap fillers.

A warm start (``from_``) adds the previous stage's trials that lie inside the
new space as completed history and enqueues its best configurations that lie
outside, projected into the new space; forced extremes are untested edges of
numeric ranges.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

from refine.coverage import activation
from refine.errors import StudyError
from refine.executor.attributes import ATTR_PARENT, study_space
from refine.executor.objective import _order
from refine.ranking import TRIAL_HISTORY, ranked_trials
from refine.space import CategoricalParam, Space
from refine.storage import parse_study_ref, redact


def project(config: Mapping[str, Any], space: Space) -> dict[str, Any]:
    """Project a configuration into ``space``: clip and snap numbers into the new ranges,
    drop parameters the space no longer searches (its ``fixed`` values apply instead),
    drop choices it no longer offers and parameters its ``when`` makes inactive.

    The result may be partial: the sampler fills what is missing.
    """
    out: dict[str, Any] = {}
    for name in _order(space):
        if name not in config or not space.is_active(name, {**config, **out}):
            continue
        p, value = space.params[name], config[name]
        if isinstance(p, CategoricalParam):
            if p.contains(value):
                out[name] = p.choices[p.index(value)]
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = p.snap(value)  # type: ignore[arg-type]  # mypy: a Real is no float; the maths takes it
    return {k: v for k, v in out.items() if space.is_active(k, out)}


def _extreme_configs(space: Space, tested: Sequence[Mapping[str, Any]], k: int, tolerance: float = 0.02) -> list[dict]:
    """Up to ``k`` partial configurations on untested edges: each edge alone, then corners of two."""
    edges: list[tuple[str, str, Any]] = []
    active: dict[str, dict[str, Any]] = {}  # each edge's parent values that make it active
    for name, p in space.params.items():
        if isinstance(p, CategoricalParam) or (active_when := activation(space, name)) is None:
            continue
        active[name] = active_when
        seen = [
            p.to_unit(c[name])
            for c in tested
            if name in c and isinstance(c[name], numbers.Real) and (not p.log or c[name] > 0)
        ]
        for side, target, value in (("low", 0.0, p.low), ("high", 1.0, p.grid_high())):
            if not any(abs(u - target) <= tolerance for u in seen):
                edges.append((name, side, value))
    configs: list[dict] = []
    for name, side, value in edges:
        configs.append({**active[name], name: value, "__label": f"{name}={side}"})
    for i, (n1, s1, v1) in enumerate(edges):
        for n2, s2, v2 in edges[i + 1 :]:
            if n1 == n2:
                continue
            a1, a2 = active[n1], active[n2]
            if any(k2 in a1 and a1[k2] != v for k2, v in a2.items()):
                continue
            configs.append({**a1, **a2, n1: v1, n2: v2, "__label": f"{n1}={s1},{n2}={s2}"})
    return configs[:k]


def _history_trial(trial: Any, old: Space | None, new: Space, ref: str) -> Any | None:
    """``trial`` as completed history of the new study, or ``None`` when it lies outside ``new``."""
    import optuna

    config = {**(old.fixed if old else {}), **trial.params}
    for key, value in new.fixed.items():
        if key in config and config[key] != value:
            return None
        if key not in config and old is not None:
            return None
    for key in config:
        if key not in new.params and key not in new.fixed:
            return None
    params: dict[str, Any] = {}
    for name in _order(new):
        p = new.params[name]
        if not new.is_active(name, config):
            if name in trial.params:
                return None
            continue
        if name not in config or not p.contains(config[name]):
            return None
        params[name] = p.choices[p.index(config[name])] if isinstance(p, CategoricalParam) else config[name]
    return optuna.trial.create_trial(
        params=params,
        distributions={n: new.params[n].to_distribution() for n in params},
        values=list(trial.values),
        user_attrs={**trial.user_attrs, TRIAL_HISTORY: f"{ref}#{trial.number}"},
        state=optuna.trial.TrialState.COMPLETE,
    )


def _enqueue(study: Any, configs: Sequence[Mapping[str, Any]], budget: int, attr: str) -> int:
    n = 0
    for config in configs[: max(budget, 0)]:
        label = config.get("__label", True)
        params = {k: v for k, v in config.items() if k != "__label"}
        study.enqueue_trial(params, user_attrs={attr: label})
        n += 1
    return n


def _warm_start(
    study: Any, space: Space, ref: str, parent: Any, k: int, budget: int, out: list[str]
) -> tuple[int, int, list[dict]]:
    """Add the ``parent``'s in-space trials as history; enqueue those of its best ``k`` that lie outside, projected."""
    spec, _ = parse_study_ref(ref)
    parent_dirs = tuple(d.name.lower() for d in parent.directions)
    if parent_dirs != space.directions:
        raise StudyError(
            f"--from study '{parent.study_name}' optimizes {list(parent_dirs)} but the space "
            f"{list(space.directions)}: their values cannot be compared"
        )
    old = study_space(parent)
    if old is not None and old.metric and space.metric and old.metric != space.metric:
        raise StudyError(
            f"--from study '{parent.study_name}' measures '{old.metric_label}', the space '{space.metric_label}'"
        )
    shown = f"{redact(spec)}:{parent.study_name}"
    study.set_user_attr(ATTR_PARENT, shown)
    if old is not None:
        study.set_user_attr("refine:parent_version", old.version)
    ranked = ranked_trials(parent)
    carried = {t.number: _history_trial(t, old, space, shown) for t in ranked}
    # in the parent's own order: TPE weighs its older observations less, so handing it the
    # history best-first would discount exactly the best trials (and differ from running on)
    history = [carried[n] for n in sorted(carried) if carried[n] is not None]
    configs: list[dict] = []
    seen: list[dict] = []
    for t in ranked[:k]:
        if carried[t.number] is not None:
            continue  # inside the new space: carried as history with its value, no trial spent re-running it
        projected = project({**(old.fixed if old else {}), **t.params}, space)
        if projected and projected not in seen:
            seen.append(projected)
            configs.append({**projected, "__label": f"{shown}#{t.number}"})
    enqueued = _enqueue(study, configs, budget, "refine:warm_start")
    if history:
        study.add_trials(history)
    elif ranked:
        out.append(
            f"no trial of {shown} lies inside the new space (or its fixed settings differ): "
            "only its best configurations were carried over"
        )
    tested = [{**(old.fixed if old else {}), **t.params} for t in ranked]
    return enqueued, len(history), tested
