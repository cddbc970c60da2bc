"""The ticket queue: what is owed, enqueued under a lock, waited for, and shown on the progress bar.

Exactness with many workers comes from a queue of *tickets*: the coordinator
enqueues one WAITING trial per trial still owed, and every worker runs only
trials it pops from that queue (popping is atomic in Optuna's RDB and journal
storages); a worker never creates a trial of its own. When trials fail, the
coordinator issues new tickets until the count is reached or the failure
budget is spent. The serial loop (:func:`_run_serial`) is the coordinator and
its one worker at once.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
import zlib
from typing import Any, Sequence

from attrs import frozen

from refine.errors import StudyError
from refine.executor.attributes import TRIAL_DIED, TRIAL_ERROR
from refine.executor.interrupts import (
    _fresh,
    _heartbeat_grace,
    _stop_if_interrupted,
    backend_of,
    heartless_running,
    journal_file,
    retried_number,
    retry_history,
    retry_ticket,
    storage_of,
    trial_id,
)
from refine.executor.objective import _Objective, _ObjectiveFailed
from refine.ranking import TRIAL_HISTORY, own_trials, ranked_trials
from refine.storage import QueueEmpty as _QueueEmpty


@frozen
class _Counts:
    complete: int
    failed: int
    running: int
    waiting: int
    best_value: float | None
    best_params: dict | None


def _counts(study: Any, trials: Sequence[Any] | None = None) -> _Counts:
    from optuna.trial import TrialState

    trials = own_trials(study.get_trials(deepcopy=False) if trials is None else trials)
    by = {s: 0 for s in TrialState}
    for t in trials:
        by[t.state] += 1
    best, best_params = None, None
    if len(study.directions) == 1 and by[TrialState.COMPLETE]:
        top = ranked_trials(study, own=True)[:1]
        if top:
            best, best_params = top[0].values[0], dict(top[0].params)
    return _Counts(
        by[TrialState.COMPLETE], by[TrialState.FAIL], by[TrialState.RUNNING], by[TrialState.WAITING], best, best_params
    )


#: a trial failed because its process died (not because the objective raised) is run again this many times
RETRIES = 1


def _to_retry(trials: Sequence[Any]) -> list[Any]:
    """Trials whose process died (killed, stopped, its heartbeat stale) and that are owed a retry, oldest first.

    The objective's own failures carry ``refine:error`` and are not retried;
    a retry carries Optuna's ``failed_trial`` and ``retry_history`` system
    attributes (as Optuna's RetryFailedTrialCallback writes them).
    """
    retried = {retried_number(t) for t in trials}
    return [
        t
        for t in trials
        if t.state.name == "FAIL"
        and TRIAL_ERROR not in t.user_attrs
        and TRIAL_HISTORY not in t.user_attrs
        and t.number not in retried
        and len(retry_history(t)) < RETRIES
    ]


@contextlib.contextmanager
def _queue_lock(study: Any) -> Any:
    """One coordinator at a time decides what to enqueue.

    Several coordinators on one study (machines sharing a PostgreSQL study,
    or runs started at once on one journal) would each see the same trials
    owed and each enqueue them. PostgreSQL: a transaction-scoped advisory lock
    (released at the end of the transaction, or when the connection dies);
    MySQL: a named lock; a journal file: an exclusive ``flock`` on the file,
    which Optuna's own locking does not use and which writes nothing.
    """
    backend = backend_of(study)
    engine = getattr(backend, "engine", None)
    key = zlib.crc32(f"refine-queue:{study.study_name}".encode())
    if engine is not None and engine.dialect.name in ("postgresql", "mysql"):
        from sqlalchemy import text

        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.rollback()  # ends the transaction: the lock goes with it
            else:
                conn.execute(text("SELECT GET_LOCK(:k, 120)"), {"k": f"refine-{key}"})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": f"refine-{key}"})
        return
    path = journal_file(backend)
    try:
        import fcntl
    except ImportError:  # not POSIX
        fcntl = None  # type: ignore[assignment]
    if path is None or fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _top_up(study: Any, target: int, batch: int) -> int:
    """Enqueue one ticket per trial still owed, at most ``batch`` waiting; returns how many.

    A trial whose process died is owed a retry (its configuration again, once):
    the retry fills one of the owed places instead of a plain ticket. The
    decision is taken on a fresh read of the study under :func:`_queue_lock`,
    and only a coordinator enqueues, so a retry and a ticket never fill the
    same place: COMPLETE + RUNNING + WAITING never exceeds ``target``.
    A short queue keeps popping cheap: every pop reads the whole queue.
    """
    c = _counts(study)
    if min(target - c.complete - c.running - c.waiting, batch - c.waiting) <= 0:
        return 0
    with _queue_lock(study):
        trials = study.get_trials(deepcopy=False)
        c = _counts(study, trials)
        owed = max(min(target - c.complete - c.running - c.waiting, batch - c.waiting), 0)
        retries = _to_retry(trials)[:owed]
        for t in retries:
            study.add_trial(
                retry_ticket(t, {k: v for k, v in t.user_attrs.items() if k not in (TRIAL_DIED, "refine:traceback")})
            )
        for _ in range(owed - len(retries)):
            study.enqueue_trial({})
    return owed


def _run_serial(
    study: Any, objective: _Objective, target: int, max_failures: int, failed0: int, progress: "_Progress"
) -> None:
    def callback(study: Any, trial: Any) -> None:
        _stop_if_interrupted()
        c = _counts(study)
        progress.update(study, c)
        if trial.state.name == "FAIL" and trial.user_attrs.get(TRIAL_ERROR):
            progress.log(f"trial {trial.number} failed: {trial.user_attrs[TRIAL_ERROR]}")
        if c.failed - failed0 >= max_failures:
            study.stop()

    waiting = _Waiting(target, progress)
    while True:
        _stop_if_interrupted()
        c = _counts(study)
        if c.complete >= target or c.failed - failed0 >= max_failures:
            return
        if c.waiting == 0:
            _top_up(study, target, batch=8)
        try:
            study.optimize(objective, catch=(_ObjectiveFailed,), callbacks=[callback])
        except _QueueEmpty:
            # queued trials that cannot be started (held by another process, or a stale view of the
            # queue), or RUNNING trials of a process that was killed: never spin; read the queue afresh,
            # fail what the heartbeat says is dead, and give up with a message rather than hang
            time.sleep(0.05)
            study = waiting.idle(study, c)


class _Waiting:
    """A run that cannot start a trial: what it waits for, for how long, and when it gives up.

    The serial and the parallel loop wait alike: while no trial can be
    started and nothing changes (COMPLETE, FAIL, RUNNING and WAITING counts),
    the run reads the queue afresh and fails the trials whose heartbeat is
    stale every second, says what it waits for after 3 s and then every 15 s,
    and gives up after :func:`_stuck_seconds` with one line naming the trials
    and how to release them.
    """

    def __init__(self, target: int, progress: "_Progress") -> None:
        self.target, self.progress = target, progress
        self.since: float | None = None
        self.key: tuple | None = None
        self.told = self.refreshed = 0.0

    def busy(self) -> None:
        self.since = None

    def idle(self, study: Any, c: _Counts, own: Sequence[int] = ()) -> Any:
        """One more idle turn with counts ``c`` (``own``: trial ids this run's workers hold); returns the study to
        use."""
        now = time.monotonic()
        key = (c.complete, c.failed, c.running, c.waiting)
        if self.since is None or key != self.key:
            self.since, self.key, self.told, self.refreshed = now, key, now - 12, now
            return study
        if now - self.refreshed >= 1:
            self.refreshed = now
            study = _fresh(study)
            _fail_stale(study)
        limit = _stuck_seconds(study)
        waited = now - self.since
        if waited >= limit:
            raise StudyError(_stuck_message(study, c, self.target, limit, own))
        if now - self.told >= 15:
            self.told = now
            self.progress.log(_waiting_message(study, c, self.target, limit - waited, own))
        return study


def _others(study: Any, own: Sequence[int]) -> list[Any]:
    """The RUNNING trials that no worker of this run holds (another process's, or a dead one's)."""
    return [t for t in study.get_trials(deepcopy=False, states=(_state("RUNNING"),)) if trial_id(t) not in own]


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def _numbers(trials: Sequence[Any]) -> str:
    shown = ", ".join(str(t.number) for t in trials[:5]) + (", ..." if len(trials) > 5 else "")
    return f"trial {shown}" if len(trials) == 1 else f"trials {shown}"


def _waiting_message(study: Any, c: _Counts, target: int, left: float, own: Sequence[int]) -> str:
    others = _others(study, own)
    grace = _heartbeat_grace(study)
    if others:
        what = f"waiting for {_numbers(others)}: RUNNING in another process (or one that was killed)"
        why = (
            f"; a dead process's trial is failed {grace} s after its last heartbeat, then retried"
            if grace
            else "; a journal has no heartbeat, so a trial of a killed process stays RUNNING"
        )
    else:
        what, why = f"waiting for {c.waiting} queued trial(s) that cannot be started", ""
    return f"{what}{why}; {c.complete} of {target} complete; giving up in {max(left, 0):.0f} s"


def _stuck_message(study: Any, c: _Counts, target: int, limit: int, own: Sequence[int]) -> str:
    others = _others(study, own)
    if others:
        what = (
            f"{_numbers(others)} {'is' if len(others) == 1 else 'are'} RUNNING in another process (or one that was "
            "killed)"
        )
        numbers = [t.number for t in others]
        tell = (
            f"study.tell({numbers[0]}, state=TrialState.FAIL)"
            if len(numbers) == 1
            else f"study.tell(NUMBER, state=TrialState.FAIL) for each of {', '.join(map(str, numbers[:5]))}"
        )
    else:
        what = f"{c.waiting} queued trial(s) could not be started"
        tell = "study.tell(NUMBER, state=TrialState.FAIL)"
    return (
        f"study '{study.study_name}': {what} for {limit} s with {c.complete} of {target} complete; run the same "
        "command again to go on (on an RDB storage a trial of a killed process is failed once its heartbeat is "
        f"stale; a journal has none: if no process runs it, fail it with Optuna's {tell})"
    )


#: heartless RUNNING trials (storage id) -> when this process first saw them so (time.monotonic())
_HEARTLESS: dict[int, float] = {}


def _fail_stale(study: Any) -> None:
    """Fail the RUNNING trials whose heartbeat is stale (Optuna returns at once on a storage without heartbeats),
    and those seen without any heartbeat for the grace period (a process killed before its first beat)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    grace = _heartbeat_grace(study)
    if grace is None:
        return
    now, heartless = time.monotonic(), set(heartless_running(study))
    for gone in set(_HEARTLESS) - heartless:
        del _HEARTLESS[gone]
    storage = storage_of(study)
    for tid in heartless:
        if now - _HEARTLESS.setdefault(tid, now) >= grace:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                storage.set_trial_state_values(tid, state=optuna.trial.TrialState.FAIL)
            del _HEARTLESS[tid]


def _stuck_seconds(study: Any) -> int:
    """How long a run waits on trials it cannot start: past the heartbeat's grace period, where there is one."""
    return int(max(30, (_heartbeat_grace(study) or 0) + 10))


class _Progress:
    """A rich progress bar on stderr: complete trials, best value so far, ETA."""

    def __init__(self, total: int, name: str, done: int, quiet: bool) -> None:
        self.total, self.name, self.done, self.quiet = total, name, done, quiet
        self._bar: Any = None

    def __enter__(self) -> "_Progress":
        if not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("best {task.fields[best]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.name, total=self.total, completed=min(self.done, self.total), best="-")
        return self

    def update(self, study: Any, counts: _Counts | None = None) -> None:
        if self._bar is None:
            return
        c = counts or _counts(study)
        best = "-" if c.best_value is None else f"{c.best_value:.6g}"
        self._bar.update(self._task, completed=min(c.complete, self.total), best=best)

    def log(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)  # one line in a log file

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
