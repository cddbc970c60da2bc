"""The decision gate and champion validation: ``refine compare``, ``refine best``, ``refine rerun``.

:func:`compare` chooses between stages (or spaces) the way a careful team
does: best value per study, consistency across seeds, a preference for the
simpler space unless the richer one wins by a margin, and a refusal to rank
studies whose metric, direction or evaluation settings (``fixed``) differ.

:func:`best_config` is the winning configuration, params plus fixed.
:func:`rerun` re-evaluates a study's top configurations under changed fixed
values and reports whether the ranking holds.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
from typing import Any, Mapping, Sequence

import attrs
from attrs import frozen

from refine.errors import RefineError, StudyError
from refine.executor import (
    MORE_FAILURES,
    TRIAL_SET,
    _best_first,
    load_objective,
    load_study,
    no_ranked_trial,
    open_storage,
    redact,
    run,
    study_names,
    study_space,
)
from refine.space import CategoricalParam, Space, to_unit

__all__ = ["Comparison", "GroupSummary", "compare", "best_config", "rerun", "RerunReport", "parse_sets"]


@frozen
class GroupSummary:
    """One compared entry: a study, or the studies ``NAME-s<seed>`` of one name."""

    name: str
    studies: tuple[str, ...]
    bests: tuple[float, ...]
    score: float
    spread: float
    param_distance: float | None
    searched: int
    direction: str

    def to_json(self) -> dict:
        return attrs.asdict(self)


@frozen
class Comparison:
    """The verdict of :func:`compare`."""

    groups: tuple[GroupSummary, ...]
    winner: str | None
    reasons: tuple[str, ...]
    refused: str | None = None

    def to_json(self) -> dict:
        return {
            "groups": [g.to_json() for g in self.groups],
            "winner": self.winner,
            "reasons": list(self.reasons),
            "refused": self.refused,
        }


def _expand(names: Sequence[str], held: Sequence[str], storage: str = "the storage") -> list[tuple[str, list[str]]]:
    groups = []
    for name in names:
        if name in held:
            groups.append((name, [name]))
            continue
        seeded = sorted(h for h in held if re.fullmatch(re.escape(name) + r"-s\d+", h))
        if not seeded:
            raise StudyError(
                f"no study '{name}' (nor '{name}-s<seed>') in {storage}; it holds: {', '.join(sorted(held)) or 'no study'}"
            )
        groups.append((name, seeded))
    return groups


def _distance(space: Space | None, configs: Sequence[Mapping[str, Any]]) -> float | None:
    """Mean pairwise distance of configurations in the unit cube (categorical mismatch = 1), in [0, 1]."""
    if space is None or len(configs) < 2 or not space.params:
        return None
    total, pairs = 0.0, 0
    for i, a in enumerate(configs):
        for b in configs[i + 1 :]:
            parts = []
            for name, p in space.params.items():
                if name not in a and name not in b:
                    continue
                if name not in a or name not in b:
                    parts.append(1.0)
                elif isinstance(p, CategoricalParam):
                    parts.append(0.0 if a[name] == b[name] else 1.0)
                else:
                    parts.append(abs(to_unit(p, a[name]) - to_unit(p, b[name])))
            total += math.sqrt(sum(x * x for x in parts) / max(len(parts), 1))
            pairs += 1
    return total / pairs


def compare(storage: str, names: Sequence[str], *, margin: float = 0.0) -> Comparison:
    """Rank studies (or seed groups) and choose one, with the reasons.

    Args:
        storage: Where the studies live.
        names: Study names; a name also matches its seeds ``NAME-s<seed>``.
        margin: How much better (in the objective's units) a space that
            searches more parameters must be to beat a simpler one; the seeds'
            spread is added when it is larger.

    Raises:
        StudyError: A study is missing, has no complete trial, or the studies
            cannot be compared (the reason is in the message).
    """
    if len(names) < 2:
        raise RefineError("--studies needs at least two studies to compare")
    if not margin >= 0 or not math.isfinite(margin):
        raise RefineError(f"--margin must be a finite number >= 0, got {margin}")
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise RefineError(f"--studies names {', '.join(repr(n) for n in twice)} twice: list each study once")
    held = study_names(storage)
    groups = _expand(names, held, redact(storage))
    summaries: list[GroupSummary] = []
    spaces: list[tuple[str, Space | None]] = []
    for name, members in groups:
        bests, configs, space, direction = [], [], None, None
        for member in members:
            study = load_study(storage, member)
            if len(study.directions) > 1:
                raise StudyError(f"study '{member}' is multi-objective: compare ranks single-objective studies only")
            ranked = _best_first(study)
            if not ranked:
                raise StudyError(f"{no_ranked_trial(study)}: nothing to compare")
            bests.append(ranked[0].values[0])
            configs.append(ranked[0].params)
            space = space or study_space(study)
            direction = study.direction.name.lower()
        sign = 1 if direction == "minimize" else -1
        score = statistics.fmean(bests)
        spread = (max(bests) - min(bests)) if len(bests) > 1 else 0.0
        searched = len(space.params) if space else len(configs[0])
        summaries.append(GroupSummary(name, tuple(members), tuple(bests), score, spread, _distance(space, configs), searched, direction))
        spaces.append((name, space))
    refused = _incomparable(summaries, spaces)
    if refused:
        return Comparison(tuple(summaries), None, (), refused)
    sign = 1 if summaries[0].direction == "minimize" else -1
    ranked = sorted(summaries, key=lambda g: sign * g.score)
    top = ranked[0]
    reasons = [f"'{top.name}' has the best {'mean of seeds’ best' if len(top.studies) > 1 else 'best'} value {top.score:.6g}"]
    winner = top
    for g in sorted(summaries, key=lambda g: (g.searched, sign * g.score)):
        if g is top or g.searched >= top.searched:
            continue
        tolerance = max(margin, top.spread, g.spread)
        if sign * (g.score - top.score) <= tolerance:
            winner = g
            reasons.append(
                f"'{g.name}' searches {g.searched} params against {top.searched} and is within "
                f"{tolerance:.4g} of '{top.name}' ({g.score:.6g} vs {top.score:.6g}): the simpler space wins"
            )
            break
    else:
        if len(ranked) > 1:
            second = ranked[1]
            reasons.append(f"it beats '{second.name}' ({second.score:.6g}) by {abs(top.score - second.score):.4g}")
    for g in summaries:
        if len(g.studies) > 1:
            shown = "n/a" if g.param_distance is None else f"{g.param_distance:.3f}"
            reasons.append(f"'{g.name}': {len(g.studies)} seeds, spread of best values {g.spread:.4g}, distance between best params {shown}")
    if len(winner.studies) == 1:
        reasons.append("a single seed: run again with --seeds to tell a real gain from a lucky run")
    return Comparison(tuple(summaries), winner.name, tuple(reasons))


def _incomparable(groups: Sequence[GroupSummary], spaces: Sequence[tuple[str, Space | None]]) -> str | None:
    directions = {g.direction for g in groups}
    if len(directions) > 1:
        return "the studies optimize different directions: " + ", ".join(f"{g.name}={g.direction}" for g in groups)
    known = [(n, s) for n, s in spaces if s is not None]
    metrics = {s.metric for _, s in known if s.metric}
    if len(metrics) > 1:
        return "the studies measure different metrics: " + ", ".join(f"{n}={s.metric_label}" for n, s in known)
    for i, (n1, s1) in enumerate(known):
        for n2, s2 in known[i + 1 :]:
            for key in sorted(set(s1.fixed) | set(s2.fixed)):
                # A fixed value the other space searches is a search decision; anything else is an evaluation setting.
                if key in s1.params or key in s2.params:
                    continue
                if s1.fixed.get(key, "<unset>") != s2.fixed.get(key, "<unset>"):
                    return (
                        f"the evaluation settings differ: {key}={s1.fixed.get(key, '<unset>')!r} in '{n1}' "
                        f"but {key}={s2.fixed.get(key, '<unset>')!r} in '{n2}'; their values are not comparable"
                    )
    return None


def best_config(storage: str, study: str | None = None) -> dict:
    """The winning configuration of a study: ``params`` + ``fixed`` and ``config`` (both merged).

    Raises:
        StudyError: No complete trial.
    """
    s = load_study(storage, study)
    ranked = _best_first(s)
    if not ranked:
        raise StudyError(no_ranked_trial(s))
    try:
        space = study_space(s)
    except RefineError as e:  # the fixed values are in that space: a config without them would launch the wrong run
        raise StudyError(
            f"{e}; best needs the space the study remembers for its fixed values (`refine show` lists the trials' "
            "params without it)"
        ) from None
    fixed = dict(space.fixed) if space else {}
    top = ranked[0]
    out = {
        "study": s.study_name,
        "storage": redact(storage),
        "trial": top.number,
        "values" if len(top.values) > 1 else "value": list(top.values) if len(top.values) > 1 else top.values[0],
        "params": dict(top.params),
        "fixed": fixed,
        "config": {**fixed, **top.params},
    }
    if space is not None:
        out["space"] = f"{space.name} v{space.version}"
    if len(s.directions) > 1:
        out["pareto_front"] = len(s.best_trials)
    return out


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as YAML scalars (``5`` is an int, ``true`` a bool)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RefineError(f"--set takes key=value, got {item!r}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def _same_kind(old: Any, new: Any) -> bool:
    """Whether ``new`` may replace the fixed value ``old`` (an int may become a float, not a string)."""
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, (int, float)):
        return isinstance(new, (int, float))
    return isinstance(new, type(old))


@frozen
class RerunReport:
    """Whether a study's ranking holds under changed settings."""

    source: str
    study: str
    configs: tuple[dict, ...]
    spearman: float | None
    top_rank: int | None
    holds: bool

    def to_json(self) -> dict:
        return attrs.asdict(self)


def rerun(
    storage: str,
    objective: Any,
    *,
    study: str | None = None,
    top: int = 5,
    sets: Mapping[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
    seed_key: str = "seed",
    out_storage: str | None = None,
    out_study: str | None = None,
    quiet: bool = False,
) -> RerunReport:
    """Re-evaluate the ``top`` configurations of a study under changed fixed values.

    Every configuration runs once per seed (``seeds`` set ``fixed[seed_key]``)
    into a new study; the report gives the Spearman correlation between the
    original values and the re-evaluated means, and the rank of the original
    champion.

    Raises:
        RefineError: Bad input (no complete trial, ``top`` < 1, …).
    """
    from scipy.stats import spearmanr

    if top < 1:
        raise RefineError(f"--top must be >= 1, got {top}")
    source = load_study(storage, study)
    space = study_space(source)
    if space is None:
        raise StudyError(f"study '{source.study_name}' was not run by refine (no refine:space): rerun needs its space")
    if space.multi_objective:
        raise StudyError("rerun ranks single-objective studies only")
    ranked = _best_first(source)[:top]
    if not ranked:
        raise StudyError(f"study '{source.study_name}' has no complete trial")
    sets = dict(sets or {})
    for key, value in sets.items():
        if key in space.params:
            raise RefineError(f"--set {key}=… names a searched parameter; --set changes fixed settings only")
        if key not in space.fixed and key != seed_key:
            import difflib

            near = difflib.get_close_matches(key, list(space.fixed), n=1)
            if near:
                raise RefineError(f"--set {key}=…: the space fixes no '{key}'; did you mean '{near[0]}'?")
            if not quiet:
                fixes = ", ".join(sorted(space.fixed)) or "nothing"
                print(f"warning: --set {key}=… adds a setting the space does not fix (it fixes: {fixes})", file=sys.stderr)
        was = space.fixed.get(key)
        if was is not None and not _same_kind(was, value):
            raise RefineError(
                f"--set {key}={value!r}: the space fixes {key} to {was!r} ({type(was).__name__}); give a value of that kind"
            )
    fn = load_objective(objective)  # a wrong objective must fail before the new study is created
    new_space = attrs.evolve(space, fixed={**space.fixed, **sets})
    name = out_study or f"{source.study_name}-rerun"
    target = out_storage or storage
    runs = list(seeds) if seeds else [None]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    store = open_storage(target, create=True)
    new = optuna.create_study(storage=store, study_name=name, directions=list(space.directions), load_if_exists=True)
    if new.trials:
        raise StudyError(f"study '{name}' already exists in {redact(target)}; pass --out-study")
    for t in ranked:
        for s in runs:
            extra = {} if s is None else {seed_key: s}
            new.enqueue_trial(dict(t.params), user_attrs={TRIAL_SET: extra, "refine:rerun_of": t.number})
    new.set_user_attr("refine:rerun_of", f"{redact(storage)}:{source.study_name}")
    [result] = run(new_space, fn, storage=target, study=name, trials=len(ranked) * len(runs), sampler="random", quiet=quiet, heartbeat=None)
    new = load_study(target, name)
    by: dict[int, list[float]] = {}
    for t in new.get_trials(deepcopy=False):
        if t.state.name == "COMPLETE":
            by.setdefault(t.user_attrs["refine:rerun_of"], []).append(t.values[0])
    configs = []
    for t in ranked:
        vals = by.get(t.number, [])
        configs.append(
            {"trial": t.number, "params": dict(t.params), "original": t.values[0], "rerun": statistics.fmean(vals) if vals else None, "runs": len(vals)}
        )
    if not any(c["runs"] for c in configs):
        why = next((w for w in result.warnings if w.startswith("stopped after")), "no re-evaluation completed")
        why = why.replace(MORE_FAILURES, "")  # rerun has no --max-failures: fix the objective
        raise StudyError(f"rerun into '{name}': {why}")
    pairs = [(c["original"], c["rerun"]) for c in configs if c["rerun"] is not None]
    rho = None
    if len(pairs) >= 2:
        r = spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
        rho = None if r is None or math.isnan(r) else float(r)
    sign = 1 if space.direction == "minimize" else -1
    rescored = sorted((c for c in configs if c["rerun"] is not None), key=lambda c: sign * c["rerun"])
    top_rank = next((i + 1 for i, c in enumerate(rescored) if c["trial"] == ranked[0].number), None)
    holds = top_rank == 1 and (rho is None or rho > 0.5)
    return RerunReport(f"{redact(storage)}:{source.study_name}", name, tuple(configs), rho, top_rank, holds)
