"""Champion validation: ``refine rerun``, a study's top configurations evaluated again under changed settings.

:func:`rerun` re-evaluates a study's top configurations under changed fixed
values (``--fixed``, more seeds) and reports whether the ranking holds;
:func:`rerun_budgets` does so at several values of one setting (budgets) in
one call. Both take the same options (:class:`RerunOptions`).
"""

from __future__ import annotations

import math
import statistics
import sys
from typing import Any, Mapping, Sequence

import attrs
from attrs import frozen

from refine.compare import resolve_group
from refine.errors import RefineError, StudyError
from refine.executor.attributes import TRIAL_SET, study_space
from refine.executor.objective import load_objective
from refine.executor.runner import MORE_FAILURES, run
from refine.ranking import Ranking, best_of, maximizes, metric_value, objective_labels, ranked_trials, why_none
from refine.space import Space
from refine.storage import load_study, open_storage, redact

__all__ = ["RerunOptions", "RerunReport", "BudgetsReport", "rerun", "rerun_budgets", "parse_sets"]


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as YAML scalars (``5`` is an int, ``true`` a bool)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RefineError(f"--fixed takes key=value, got {item!r}")
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


@frozen(kw_only=True)
class RerunOptions:
    """What :func:`rerun` and :func:`rerun_budgets` are told besides the storage and the objective.

    Both take these as keyword arguments, or as one ``options`` object
    (keywords given beside it override its fields).

    Attributes:
        study: The study whose top configurations are rerun, or a seed group's
            name (its winning seed); default: the storage's only study.
        top: How many of its best configurations.
        sets: The fixed values to change (``--fixed``).
        seeds: Evaluate each configuration once per seed (sets ``fixed[seed_key]``).
        seed_key: The fixed key that receives each seed.
        out_storage: Where the new study goes (default: the storage).
        out_study: The new study's name (default ``<study>-rerun``; with
            budgets, ``<out_study>-<key><budget>``).
        quiet: No progress bar and no warnings on stderr.
        ranking: The metric (and tie-breakers, conditions) trials are ranked
            by, on the stage's own trials (default: the objective).
    """

    study: str | None = None
    top: int = 5
    sets: Mapping[str, Any] | None = None
    seeds: Sequence[int] | None = None
    seed_key: str = "seed"
    out_storage: str | None = None
    out_study: str | None = None
    quiet: bool = False
    ranking: Ranking | None = None


def _options(options: RerunOptions | None, given: Mapping[str, Any]) -> RerunOptions:
    """``options`` with the keyword arguments ``given`` beside it (a name that is no option is a TypeError)."""
    return attrs.evolve(options or RerunOptions(), **given)


@frozen
class RerunReport:
    """Whether a study's ranking holds under changed settings."""

    source: str
    study: str
    configs: tuple[dict, ...]
    spearman: float | None
    top_rank: int | None
    holds: bool
    direction: str = "minimize"
    sets: dict = attrs.field(factory=dict)

    def to_json(self) -> dict:
        return attrs.asdict(self)


def rerun(storage: str, objective: Any, *, options: RerunOptions | None = None, **given: Any) -> RerunReport:
    """Re-evaluate the ``top`` configurations of a study (or a seed group's winning seed) under changed fixed values.

    The options (:class:`RerunOptions`: ``study``, ``top``, ``sets``,
    ``seeds``, ``seed_key``, ``out_storage``, ``out_study``, ``quiet``,
    ``ranking``) are keyword arguments, or one ``options`` object. Every
    configuration runs once per seed (``seeds`` set ``fixed[seed_key]``)
    into a new study; the report gives the Spearman correlation between the
    original values and the re-evaluated means, and the rank of the original
    champion. Trials are ranked by ``ranking`` (default: the objective), on
    the stage's own trials.

    Raises:
        RefineError: Bad input (no complete trial, ``top`` < 1, …).
    """
    o = _options(options, given)
    return _rerun_once(_rerun_plan(storage, o), objective, o)


@frozen
class BudgetsReport:
    """:func:`rerun_budgets`: one rerun per budget, the champion's rank in each, and where the budgets' optima
    disagree."""

    key: str
    budgets: tuple[Any, ...]
    reports: tuple[RerunReport, ...]
    winners: tuple[int | None, ...]
    disagree: dict

    @property
    def holds(self) -> bool:
        return all(r.top_rank == 1 for r in self.reports)

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "budgets": list(self.budgets),
            "reports": [r.to_json() for r in self.reports],
            "champion_rank": [r.top_rank for r in self.reports],
            "winners": list(self.winners),
            "disagree": self.disagree,
            "holds": self.holds,
        }


def rerun_budgets(
    storage: str,
    objective: Any,
    key: str,
    budgets: Sequence[Any],
    *,
    options: RerunOptions | None = None,
    **given: Any,
) -> BudgetsReport:
    """Rerun the top configurations at each of several budgets (``fixed[key]``) in one call.

    It takes the options of :func:`rerun` (:class:`RerunOptions`), whose
    ``sets`` must not set ``key``. Each budget goes into its own study
    ``<out_study>-<key><budget>``. The
    report gives the champion's rank per budget, the configuration that won
    at each budget, and, per parameter, the values of those winners where
    they disagree.

    Raises:
        RefineError: Fewer than two budgets, a budget repeated, or any error of :func:`rerun`.
    """
    if len(budgets) < 2:
        raise RefineError(f"--budgets needs at least two values for {key}, e.g. --budgets {key}=2e6,2e7")
    if len({repr(b) for b in budgets}) < len(budgets):
        raise RefineError(f"--budgets repeats a value of {key}: list each budget once")
    o = _options(options, given)
    if o.sets and key in o.sets:
        raise RefineError(f"--fixed {key}=… and --budgets {key}=… both set {key}: give it in --budgets only")
    sets = dict(o.sets or {})
    plan = _rerun_plan(storage, attrs.evolve(o, sets={**sets, key: budgets[0]}))
    for b in budgets[1:]:
        _check_sets(plan[2], {key: b}, o.seed_key, quiet=True)
    base = o.out_study or f"{plan[1].study_name}-rerun"
    reports = tuple(
        _rerun_once(plan, objective, attrs.evolve(o, sets={**sets, key: b}, out_study=f"{base}-{key}{b}"))
        for b in budgets
    )
    winners = []
    for r in reports:
        done = [c for c in r.configs if c["rerun"] is not None]
        maximize = r.direction == "maximize"
        winners.append(max(done, key=lambda c: c["rerun"] if maximize else -c["rerun"])["trial"] if done else None)
    params = {c["trial"]: c["params"] for c in reports[0].configs}
    disagree: dict[str, dict[str, Any]] = {}
    for name in sorted({n for w in winners if w is not None for n in params[w]}):
        values = {str(b): params[w].get(name) for b, w in zip(budgets, winners) if w is not None}
        if len({repr(v) for v in values.values()}) > 1:
            disagree[name] = values
    return BudgetsReport(key, tuple(budgets), reports, tuple(winners), disagree)


def _check_sets(space: Space, sets: Mapping[str, Any], seed_key: str, quiet: bool) -> None:
    for key, value in sets.items():
        if key in space.params:
            raise RefineError(f"--fixed {key}=… names a searched parameter; --fixed changes fixed values only")
        if key not in space.fixed and key != seed_key:
            import difflib

            near = difflib.get_close_matches(key, list(space.fixed), n=1)
            if near:
                raise RefineError(f"--fixed {key}=…: the space fixes no '{key}'; did you mean '{near[0]}'?")
            if not quiet:
                fixes = ", ".join(sorted(space.fixed)) or "nothing"
                print(
                    f"warning: --fixed {key}=… adds a setting the space does not fix (it fixes: {fixes})",
                    file=sys.stderr,
                )
        was = space.fixed.get(key)
        if was is not None and not _same_kind(was, value):
            raise RefineError(
                f"--fixed {key}={value!r}: the space fixes {key} to {was!r} ({type(was).__name__}); give a "
                "value of that kind"
            )


def _rerun_plan(storage: str, o: RerunOptions) -> tuple[str, Any, Space, list[Any], Ranking | None]:
    study, top, ranking = o.study, o.top, o.ranking
    if top < 1:
        raise RefineError(f"--top must be >= 1, got {top}")
    _, members = resolve_group(storage, study)
    if len(members) > 1:
        found = best_of([load_study(storage, m) for m in members], ranking, own=True)
        if found is None:
            raise StudyError(f"no seed of '{study}' ran a ranked trial of its own")
        source = found[0]
    else:
        source = load_study(storage, members[0])
    space = study_space(source)
    if space is None:
        raise StudyError(f"study '{source.study_name}' was not run by refine (no refine:space): rerun needs its space")
    if space.multi_objective and (ranking is None or ranking.keys[0][0] is None):
        raise StudyError("rerun ranks single-objective studies only (or by --metric)")
    ranked = ranked_trials(source, ranking, own=True)[:top]
    if not ranked:
        raise StudyError(why_none(source, ranking, own=True))
    _check_sets(space, dict(o.sets or {}), o.seed_key, o.quiet)
    return storage, source, space, ranked, ranking


def _rerun_once(
    plan: tuple[str, Any, Space, list[Any], Ranking | None], objective: Any, o: RerunOptions
) -> RerunReport:
    from scipy.stats import spearmanr

    storage, source, space, ranked, ranking = plan
    sets, seeds, seed_key, out_storage, out_study, quiet = (
        dict(o.sets or {}),
        o.seeds,
        o.seed_key,
        o.out_storage,
        o.out_study,
        o.quiet,
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
    [result] = run(
        new_space,
        fn,
        storage=target,
        study=name,
        trials=len(ranked) * len(runs),
        sampler="random",
        quiet=quiet,
        heartbeat=None,
    )
    new = load_study(target, name)
    key = ranking.keys[0][0] if ranking else None
    labels = objective_labels(source)
    by: dict[int, list[float]] = {}
    for t in new.get_trials(deepcopy=False):
        if t.state.name == "COMPLETE":
            v = metric_value(t, key, labels)
            if v is not None:
                by.setdefault(t.user_attrs["refine:rerun_of"], []).append(v)
    configs = []
    for t in ranked:
        vals = by.get(t.number, [])
        configs.append(
            {
                "trial": t.number,
                "params": dict(t.params),
                "original": metric_value(t, key, labels),
                "rerun": statistics.fmean(vals) if vals else None,
                "runs": len(vals),
            }
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
    maximize = maximizes(source, ranking)
    rescored = sorted(
        (c for c in configs if c["rerun"] is not None), key=lambda c: -c["rerun"] if maximize else c["rerun"]
    )
    top_rank = next((i + 1 for i, c in enumerate(rescored) if c["trial"] == ranked[0].number), None)
    holds = top_rank == 1 and (rho is None or rho > 0.5)
    return RerunReport(
        f"{redact(storage)}:{source.study_name}",
        name,
        tuple(configs),
        rho,
        top_rank,
        holds,
        "maximize" if maximize else "minimize",
        dict(sets),
    )
