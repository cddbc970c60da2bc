"""``refine run``: check the arguments, create or resume the study, prepare it, and run it to the count.

:func:`run` creates (or resumes) an Optuna study that remembers its space
(SPEC section 3), then carries a previous stage over, enqueues forced extremes
and gap fillers (:mod:`refine.executor.warm`), and runs trials until exactly
``trials`` are complete (:mod:`refine.executor.queue`, and
:mod:`refine.executor.workers` with several workers).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable, Sequence

import attrs
from attrs import frozen

from refine.coverage import Gap, coverage_gaps
from refine.errors import RefineError, StudyError
from refine.executor.attributes import (
    ATTR_EXTREMES,
    ATTR_GAPS,
    ATTR_SHARE,
    ATTR_SPACE,
    ATTR_VERSION,
    ATTR_WARM,
    TRIAL_ERROR,
)
from refine.executor.interrupts import (
    _SIGNAL,
    _fail_unfinished,
    _from_ctrl_c,
    _interrupts_between_transactions,
    _stop_heartbeats,
    _stop_if_interrupted,
)
from refine.executor.objective import _Objective, load_objective
from refine.executor.queue import _counts, _fail_stale, _Progress, _run_serial
from refine.executor.sampling import _short_shares, fair_shares, make_sampler
from refine.executor.warm import _enqueue, _extreme_configs, _warm_start
from refine.executor.workers import _run_parallel
from refine.space import Space
from refine.storage import is_journal as _is_journal
from refine.storage import load_study, open_storage, parse_study_ref, redact
from refine.storage import sqlite_database as _sqlite_path
from refine.storage import storage_url as _storage_url

#: the end of the failure budget's message, which a caller without --max-failures (rerun) leaves out
MORE_FAILURES = "; raise --max-failures to go on"


@frozen
class RunResult:
    """What a run did, for the command line and for scripts.

    Attributes:
        study: The study's name.
        storage: The storage, password shown as ``***``.
        complete: Complete trials run by the executor (history excluded).
        failed: Failed trials (objective raised, or worker died).
        target: The number of complete trials asked for.
        best_value: Best value among the executed trials (single objective).
        best_params: Its parameters.
        warm_started: Configurations enqueued from ``from_``.
        history: Trials of ``from_`` added as completed history.
        extremes: Extreme configurations enqueued.
        filled: Gap-filling configurations enqueued.
        gaps: Regions still never tested, after the run.
        interrupted: True when Ctrl-C (or a SIGTERM) stopped the run.
        signum: The signal that stopped it (2: SIGINT, 15: SIGTERM), else None.
        warnings: What the user should know.
    """

    study: str
    storage: str
    complete: int
    failed: int
    target: int
    best_value: float | None = None
    best_params: dict | None = None
    warm_started: int = 0
    history: int = 0
    extremes: int = 0
    filled: int = 0
    gaps: tuple[Gap, ...] = ()
    interrupted: bool = False
    signum: int | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = attrs.asdict(self, recurse=False)
        out["gaps"] = [g.describe() for g in self.gaps]
        out["warnings"] = list(self.warnings)
        return out


def _echo(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def _check_resume(study: Any, space: Space, spec: str) -> None:
    from refine.spacefile import space_to_json

    old = study.user_attrs.get(ATTR_SPACE)
    if old is not None and old != space_to_json(space):
        from refine.spacefile import space_from_json

        was = study.user_attrs.get(ATTR_VERSION, "?")
        try:
            before = space_from_json(old, where=f"study '{study.study_name}'")
            differ = sorted(
                {n for n in {*before.params, *space.params} if before.params.get(n) != space.params.get(n)}
                | {n for n in {*before.fixed, *space.fixed} if before.fixed.get(n) != space.fixed.get(n)}
            )
        except RefineError:
            differ = []
        what = f" (they differ in: {', '.join(differ[:8])})" if differ else ""
        raise StudyError(
            f"study '{study.study_name}' in {redact(spec)} was run with another space, version {was}{what}; "
            f"this space is version {space.version}: pass another --study name"
        )
    if old is None:
        trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        searched = {k for t in trials for k in t.params}
        foreign = sorted(searched - set(space.params))
        outside = sum(not space.contains(t.params) for t in trials)
        if foreign or outside:
            why = (
                f"searches {', '.join(foreign[:8])}, which this space does not"
                if foreign
                else f"{outside} of its {len(trials)} finished trials lie outside this space"
            )
            raise StudyError(
                f"study '{study.study_name}' in {redact(spec)} was not run by refine and {why}; recording this "
                f"space there would misdescribe them: pass another --study name "
                f"(or start from it with --from {redact(spec)}:{study.study_name})"
            )
    if tuple(d.name.lower() for d in study.directions) != space.directions:
        raise StudyError(
            f"study '{study.study_name}' optimizes {[d.name.lower() for d in study.directions]}, "
            f"the space {list(space.directions)}; pass another --study name"
        )


def run(
    space: Space | str | os.PathLike,
    objective: str | Callable,
    *,
    storage: str | os.PathLike[str],
    study: str | None = None,
    trials: int,
    sampler: str = "tpe",
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    workers: int = 1,
    from_: str | None = None,
    warm: int = 5,
    extremes: int = 0,
    fill_gaps: int = 0,
    startup: int = 10,
    heartbeat: int | None = 30,
    max_failures: int | None = None,
    quiet: bool = False,
    fair_trial: int = 20,
) -> list[RunResult]:
    """Run trials of ``space`` against ``objective`` until ``trials`` are complete.

    Running the same call again resumes the study; it never runs more than
    ``trials`` complete trials in all.

    Args:
        space: The space to sample (a :class:`Space`, or a space file's path).
        objective: ``module:function``, ``path/to/file.py:function`` or a
            callable taking ``params`` (sampled params merged with ``fixed``)
            and optionally the Optuna trial; returns a number, or a tuple for
            a multi-objective space.
        storage: Where the study lives (see :func:`open_storage`).
        study: The study's name (default ``<name>-v<version>``).
        trials: Complete trials wanted.
        sampler: One of :data:`SAMPLERS`.
        seed: The sampler's seed.
        seeds: Run one study per seed, named ``<study>-s<seed>``.
        workers: Processes running trials at once against ``storage``.
        from_: ``STORAGE[:STUDY]`` of the previous stage (warm start).
        warm: How many of its best configurations to enqueue first.
        extremes: Enqueue up to this many trials on untested range edges.
        fill_gaps: Enqueue up to this many trials in never tested regions.
        startup: Exploration trials before the sampler models the results.
            Categorical weights are followed while exploring.
        heartbeat: Heartbeat seconds for RDB storages (``None``: off).
        max_failures: Stop after this many failed trials (default ``max(trials, 10)``).
        quiet: No progress bar and no messages on stderr.
        fair_trial: A weighted choice gets at least this many of the
            stage's own trials, or its weight's share of ``trials`` when
            that is smaller, also after a warm start.

    Returns:
        One :class:`RunResult` per study.

    Raises:
        RefineError: Bad input (the CLI shows one line and exits 2).
    """
    if isinstance(space, (str, os.PathLike)):
        from refine.spacefile import load_space

        space = load_space(space)
    if not isinstance(space, Space):
        raise RefineError(f"space must be a refine.Space or the path of a space file, got {type(space).__name__}")
    if isinstance(storage, os.PathLike):
        storage = os.fspath(storage)
    if isinstance(from_, os.PathLike):
        from_ = os.fspath(from_)
    if from_ is not None and not str(from_).strip():
        raise RefineError("from_ (--from) is empty; give the previous stage as STORAGE[:STUDY], e.g. s.db:stage1")
    for name, value, low in (
        ("trials", trials, 1),
        ("workers", workers, 1),
        ("extremes", extremes, 0),
        ("fill_gaps", fill_gaps, 0),
        ("warm", warm, 0),
        ("startup", startup, 0),
        ("heartbeat", heartbeat, 0),
        ("max_failures", max_failures, 1),
        ("fair_trial", fair_trial, 0),
    ):
        if value is None and name in ("heartbeat", "max_failures"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            flag = "--" + name.replace("_", "-")
            raise RefineError(f"{name} ({flag}) must be an integer >= {low}, got {value!r}")
    if heartbeat is not None and heartbeat > 86400:
        raise RefineError(f"heartbeat (--heartbeat) is in seconds and at most 86400 (a day), got {heartbeat}")
    for value in (seed, *(seeds or ())):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
            raise RefineError(f"a seed (--seed, --seeds) must be an integer in [0, 2**32 - 1], got {value!r}")
    fn = load_objective(objective)
    base = study or f"{space.name}-v{space.version}"
    plan = [(base, seed)] if not seeds else [(f"{base}-s{s}", s) for s in seeds]
    results = []
    for k, (name, s) in enumerate(plan):
        result = _run_one(
            space,
            objective,
            fn,
            storage=storage,
            study_name=name,
            trials=trials,
            sampler=sampler,
            seed=s,
            workers=workers,
            from_=from_,
            warm=warm,
            extremes=extremes,
            fill_gaps=fill_gaps,
            startup=startup,
            heartbeat=heartbeat,
            max_failures=max(trials, 10) if max_failures is None else max_failures,
            quiet=quiet,
            fair_trial=fair_trial,
        )
        if result.interrupted and result.complete >= result.target and k == len(plan) - 1:
            result = attrs.evolve(result, interrupted=False, signum=None)  # every trial was done: nothing to resume
        results.append(result)
        if result.interrupted:
            break
    return results


def _run_one(
    space: Space,
    objective: Any,
    fn: Callable,
    *,
    storage: str,
    study_name: str,
    trials: int,
    sampler: str,
    seed: int,
    workers: int,
    from_: str | None,
    warm: int,
    extremes: int,
    fill_gaps: int,
    startup: int,
    heartbeat: int | None,
    max_failures: int,
    quiet: bool,
    fair_trial: int = 20,
) -> RunResult:
    import optuna

    from refine.spacefile import space_to_json

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    notes: list[str] = []
    is_rdb = not _is_journal(storage)
    if workers > 1 and is_rdb and _sqlite_path(_storage_url(storage)) is not None:
        notes.append(
            f"SQLite cannot be shared safely by {workers} worker processes (two may take the same queued trial); "
            "running one at a time. Optuna recommends a journal file (e.g. study.log) on one machine or "
            "PostgreSQL across machines"
        )
        workers = 1
    hb = heartbeat if is_rdb else None
    parent = load_study(*parse_study_ref(from_)) if from_ else None  # a wrong --from fails before anything is created
    the_sampler = make_sampler(sampler, seed=seed, space=space, startup=startup)
    store = open_storage(storage, create=True, heartbeat=hb, queue_only=True)
    try:
        study = optuna.create_study(
            storage=store,
            study_name=study_name,
            directions=list(space.directions),
            sampler=the_sampler,
            load_if_exists=True,
        )
    except Exception as e:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(e, SQLAlchemyError):
            raise
        raise StudyError(
            f"cannot create study '{study_name}' in {redact(storage)}: "
            f"{redact(str(getattr(e, 'orig', e)).splitlines()[0])}"
        ) from None
    _check_resume(study, space, storage)
    if ATTR_SPACE not in study.user_attrs:
        study.set_user_attr(ATTR_SPACE, space_to_json(space))
        study.set_user_attr(ATTR_VERSION, space.version)
        if space.metric_names and not study.metric_names:  # Optuna's dashboard and DataFrames name the values
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(space.metric_names)
    if hb:
        _fail_stale(study)
    shares = fair_shares(space, trials, fair_trial)
    if shares and study.user_attrs.get(ATTR_SHARE) != {"target": trials, "quota": shares}:
        study.set_user_attr(ATTR_SHARE, {"target": trials, "quota": shares})

    c = _counts(study)
    budget = trials - c.complete - c.running - c.waiting
    warmed = history = n_extremes = filled = 0
    tested: list[dict] = []
    if from_ and not study.user_attrs.get(ATTR_WARM):
        warmed, history, tested = _warm_start(study, space, from_, parent, warm, budget, notes)
        study.set_user_attr(ATTR_WARM, True)
        budget -= warmed
    own = [t.params for t in study.get_trials(deepcopy=False) if t.params]
    if extremes and not study.user_attrs.get(ATTR_EXTREMES):
        n_extremes = _enqueue(study, _extreme_configs(space, tested + own, extremes), budget, "refine:extreme")
        study.set_user_attr(ATTR_EXTREMES, True)
        budget -= n_extremes
    if fill_gaps and not study.user_attrs.get(ATTR_GAPS):
        gaps = coverage_gaps(space, tested + own)
        targets = [{**t, "__label": g.describe()} for g in gaps for t in g.targets(space)][:fill_gaps]
        filled = _enqueue(study, targets, budget, "refine:fill_gap")
        study.set_user_attr(ATTR_GAPS, True)
        budget -= filled
    for note in notes:
        _echo(f"warning: {note}", quiet)

    start = _counts(study)
    interrupted = False
    with _Progress(trials, study_name, start.complete, quiet) as progress, _interrupts_between_transactions() as guard:
        try:
            if workers == 1:
                _run_serial(study, _Objective(fn, space), trials, max_failures, start.failed, progress)
            else:
                _run_parallel(
                    study,
                    space,
                    objective,
                    storage,
                    hb,
                    sampler,
                    seed,
                    startup,
                    workers,
                    trials,
                    max_failures,
                    start.failed,
                    progress,
                )
            _stop_if_interrupted()  # one that waited for the last storage call
        except BaseException as e:  # noqa: BLE001 - only Ctrl-C is handled; anything else is raised again
            if not _from_ctrl_c(e):
                raise
            interrupted = True
        guard["held"] = True  # from here on a signal (a storm of them) is recorded, never raised into the clean-up
        if interrupted:
            _stop_heartbeats()
            _fail_unfinished(study, getattr(the_sampler, "started", ()))
        end = _counts(study)
        if shares and not interrupted and end.complete >= trials:
            for note in _short_shares(study, space, shares):
                notes.append(note)
                _echo(f"warning: {note}", quiet)
        if end.failed - start.failed >= max_failures and end.complete < trials:
            failed = [
                t for t in study.get_trials(deepcopy=False) if t.state.name == "FAIL" and t.user_attrs.get(TRIAL_ERROR)
            ]
            last = f"; the last: {failed[-1].user_attrs[TRIAL_ERROR]}" if failed else ""
            notes.append(
                f"stopped after {end.failed - start.failed} failed trials with {end.complete} of {trials} complete"
                f"{last} (each failed trial's '{TRIAL_ERROR}' attribute says why{MORE_FAILURES})"
            )
        configs = [t.params for t in study.get_trials(deepcopy=False) if t.params]
        return RunResult(
            study=study_name,
            storage=redact(storage),
            complete=end.complete,
            failed=end.failed,
            target=trials,
            best_value=end.best_value,
            best_params=end.best_params,
            warm_started=warmed,
            history=history,
            extremes=n_extremes,
            filled=filled,
            gaps=tuple(coverage_gaps(space, tested + configs)),
            interrupted=interrupted,
            signum=_SIGNAL["signum"] if interrupted else None,
            warnings=tuple(notes),
        )
