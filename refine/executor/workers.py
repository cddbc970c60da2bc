"""Worker processes (``workers > 1``): the coordinator starts them, watches them, and replaces a dead one.

Each worker runs trials it pops from the queue (:mod:`refine.executor.queue`)
and names in a shared slot the trial it runs, so that the coordinator can
fail (and retry) the trial of a worker that died; no worker outlives its
coordinator.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from typing import Any, Callable, Sequence

from refine.errors import RefineError
from refine.executor.attributes import TRIAL_DIED
from refine.executor.interrupts import (
    _LATE,
    _SIGNAL,
    _fail_unfinished,
    _from_ctrl_c,
    _interrupts_between_transactions,
    _signals_blocked,
    _stop_heartbeats,
    _stop_if_interrupted,
    storage_of,
)
from refine.executor.objective import ObjectiveError, _Objective, _ObjectiveFailed, load_objective
from refine.executor.queue import _counts, _Progress, _state, _top_up, _Waiting
from refine.executor.sampling import make_sampler
from refine.space import Space
from refine.storage import QueueEmpty as _QueueEmpty
from refine.storage import open_storage

#: a worker's slot in the shared table: starting up, or idle (else the id of the trial it runs)
_STARTING, _IDLE = -2, -1


def _die_with_parent(parent: int) -> None:
    """A worker never outlives its coordinator, however the coordinator ends (``kill -9`` included).

    On Linux the kernel sends the worker a SIGTERM when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``); a watchdog thread checks the parent's PID
    twice a second as well (every POSIX system). The SIGTERM stops the worker
    as a scheduler's would: its running trial is failed and it exits; one
    that has not exited 20 s later is ended.
    """
    import signal
    import threading

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # handled by _interrupts_between_transactions, whatever was inherited
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no libc symbol: the watchdog alone
            pass
    if os.getppid() != parent:  # the coordinator died while this process started
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        signal.raise_signal(signal.SIGTERM)
        time.sleep(20)
        os._exit(1)

    threading.Thread(target=watch, name="refine-parent-watchdog", daemon=True).start()


def _claiming(storage: Any, slots: Any, index: int) -> None:
    """Record in the worker's slot the trial it pops, so that its coordinator can fail it if the worker dies.

    The slot is written before the pop commits and cleared after the trial
    is finished, so a worker killed at any point leaves its trial named. It
    wraps the storage's public ``set_trial_state_values``, through which
    Optuna pops a WAITING trial (state RUNNING) and finishes it; no private
    name is used (those are in :mod:`refine.executor.interrupts`).
    """
    from optuna.trial import TrialState

    set_state = storage.set_trial_state_values

    def set_trial_state_values(trial_id: int, state: Any, values: Any = None) -> bool:
        if state == TrialState.RUNNING:
            slots[index] = trial_id
            try:
                popped = set_state(trial_id, state, values)
            except BaseException:
                slots[index] = _IDLE
                raise
            if not popped:
                slots[index] = _IDLE
            return popped
        done = set_state(trial_id, state, values)
        if state.is_finished() and slots[index] == trial_id:
            slots[index] = _IDLE
        return done

    storage.set_trial_state_values = set_trial_state_values


def _worker_main(
    storage_spec: str,
    heartbeat: int | None,
    study_name: str,
    space_json: str,
    objective: Any,
    sampler_name: str,
    seed: int,
    startup: int,
    slots: Any,
    index: int,
    errors: Any,
    parent: int,
) -> None:
    """One worker process: run enqueued trials until the coordinator says stop (its slot ``stop``) or dies."""
    import logging

    _die_with_parent(parent)
    import optuna

    from refine.spacefile import space_from_json

    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())  # as the CLI: no cursor tracebacks on Ctrl-C

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = sampler = None
    stop = len(slots) - 1
    _LATE["hold"] = True  # once this worker is done, a late signal (a storm of them) is recorded, not raised
    code = 0

    def stop_asked(study: Any, trial: Any) -> None:
        if slots[stop]:
            study.stop()

    with _interrupts_between_transactions() as guard:
        try:
            _signals_blocked(False)  # those that came while this process started are delivered now, to the guard
            space = space_from_json(space_json)
            storage = open_storage(storage_spec, create=False, heartbeat=heartbeat, queue_only=True)
            _claiming(storage, slots, index)
            sampler = make_sampler(sampler_name, seed=seed, space=space, startup=startup)
            study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
            fn = _Objective(load_objective(objective), space)
            slots[index] = _IDLE
            while not slots[stop]:
                try:
                    study.optimize(fn, catch=(_ObjectiveFailed,), callbacks=[stop_asked])
                except _QueueEmpty:
                    time.sleep(0.05)
                    _stop_if_interrupted()
        except BaseException as e:
            if not _from_ctrl_c(e):
                guard["held"] = True
                try:
                    errors.send(
                        str(e) if isinstance(e, RefineError) else "worker crashed: " + traceback.format_exc()[-2000:]
                    )
                except OSError:  # the coordinator is gone
                    pass
                code = 1
            else:  # stopped by a signal (the coordinator's, or the kernel's when the coordinator died)
                guard["held"] = True
                if study is not None:
                    _stop_heartbeats()
                    claimed = slots[index]
                    _fail_unfinished(study, [*getattr(sampler, "started", ()), *([claimed] if claimed >= 0 else [])])
                code = 128 + _SIGNAL["signum"]
        guard["held"] = True
    sys.exit(code)


def _release(study: Any, trial_id: int, why: str) -> int | None:
    """Fail the trial ``trial_id`` of a worker that died, if it is still RUNNING; returns its number.

    Its ``refine:died`` attribute says why; like a trial whose heartbeat went
    stale, it is then retried once (:func:`_top_up`).
    """
    import optuna

    storage = storage_of(study)
    try:
        trial = storage.get_trial(trial_id)
        if trial.state.name != "RUNNING":
            return None
        storage.set_trial_user_attr(trial_id, TRIAL_DIED, why)
        storage.set_trial_state_values(trial_id, _state("FAIL"))
    except (KeyError, optuna.exceptions.UpdateFinishedTrialError):  # finished meanwhile (its heartbeat went stale)
        return None
    return trial.number


def _exit_reason(code: int | None) -> str:
    import signal

    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _run_parallel(
    study: Any,
    space: Space,
    objective: Any,
    storage: str,
    heartbeat: int | None,
    sampler: str,
    seed: int,
    startup: int,
    workers: int,
    target: int,
    max_failures: int,
    failed0: int,
    progress: "_Progress",
) -> None:
    """Run ``workers`` processes on the queue until ``target`` trials are complete.

    The coordinator alone enqueues (:func:`_top_up`). Each worker names in a
    shared slot the trial it runs; a worker that dies (killed, or exiting in
    a trial) has that trial failed at once and retried, and is replaced, so a
    run loses no trial and no time to a dead worker, on a journal (which has
    no heartbeat) as on PostgreSQL. Workers end with the coordinator however
    it ends (:func:`_die_with_parent`). A run that cannot start a trial gives
    up as the serial loop does (:class:`_Waiting`).
    """
    from refine.spacefile import space_to_json

    ctx = multiprocessing.get_context("spawn")
    slots = ctx.Array("q", [_STARTING] * workers + [0], lock=False)  # one per worker, then `stop`
    stop = workers
    space_json, parent = space_to_json(space), os.getpid()
    pipes: list[Any] = [None] * workers
    replaced = 0

    def start(i: int, n: int) -> Any:
        reader, writer = ctx.Pipe(duplex=False)
        slots[i] = _STARTING
        p = ctx.Process(
            target=_worker_main,
            args=(
                storage,
                heartbeat,
                study.study_name,
                space_json,
                objective,
                sampler,
                seed + 1000 * n,
                startup,
                slots,
                i,
                writer,
                parent,
            ),
            daemon=True,
        )
        _signals_blocked(True)  # the worker starts with them blocked; here they wait the few ms of the start
        try:
            p.start()
        finally:
            _signals_blocked(False)
        writer.close()
        pipes[i] = reader
        return p

    def error() -> str | None:
        for reader in pipes:
            try:
                if reader is not None and reader.poll():
                    return reader.recv()
            except (EOFError, OSError):  # the worker exited without a word
                continue
        return None

    def release(i: int, why: str) -> int | None:
        trial_id, slots[i] = slots[i], _IDLE
        return _release(study, trial_id, why) if trial_id >= 0 else None

    procs = [start(i, i) for i in range(workers)]
    waiting = _Waiting(target, progress)
    failure, ended, ended_pids = None, False, set()
    try:
        while True:
            _stop_if_interrupted()
            failure = failure or error()
            for i, p in enumerate(procs):
                if p.exitcode is None or slots[stop] or p.pid in ended_pids:
                    continue
                ended_pids.add(p.pid)
                number = release(i, f"its worker process (pid {p.pid}) {_exit_reason(p.exitcode)}")
                if number is None and 0 <= p.exitcode < 128:
                    continue  # it ended on its own (an error it reported, or a script without a __main__ guard)
                progress.log(
                    f"worker {p.pid} {_exit_reason(p.exitcode)}"
                    + (f" in trial {number}: the trial is failed and will be retried" if number is not None else "")
                )
                if replaced < max_failures:
                    replaced += 1
                    procs[i] = start(i, workers + replaced)
            c = _counts(study)
            progress.update(study, c)
            if c.complete >= target or c.failed - failed0 >= max_failures or failure:
                slots[stop] = 1
            elif c.waiting < workers:
                _top_up(study, target, batch=3 * workers)
            if not any(p.is_alive() for p in procs) and (slots[stop] or all(p.pid in ended_pids for p in procs)):
                break  # all stopped, or all ended on their own (a killed worker is first replaced, above)
            own = [slots[i] for i in range(workers) if slots[i] >= 0 and procs[i].is_alive()]
            if slots[stop] or own or any(slots[i] == _STARTING and procs[i].is_alive() for i in range(workers)):
                waiting.busy()
            else:
                study = waiting.idle(study, c, own)
            time.sleep(0.1)
        ended = True
    finally:
        _stop_workers(procs, slots, release, signal_them=not ended)
    progress.update(study)
    failure = failure or error()
    if failure:
        raise ObjectiveError(failure)
    c = _counts(study)
    if c.complete < target and c.failed - failed0 < max_failures:
        codes = sorted({p.exitcode for p in procs})
        raise RefineError(
            f"the worker processes exited early (exit codes {codes}) with {c.complete}/{target} trials complete; "
            "a script calling refine.run(workers=K) needs an `if __name__ == '__main__':` guard"
        )


def _stop_workers(procs: Sequence[Any], slots: Any, release: Callable[[int, str], Any], signal_them: bool) -> None:
    """Stop the workers and wait for them; none outlives the run, and none leaves a trial RUNNING.

    When the run stops early (a signal, an error), each worker gets a SIGTERM
    (it fails its trial and exits; a background run's workers ignore SIGINT,
    never SIGTERM), then has
    up to 30 s in all; one still alive then is killed, and the trial it held
    is failed here.
    """
    import signal

    slots[len(slots) - 1] = 1
    if signal_them:
        for p in procs:
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
    deadline = time.monotonic() + 30
    for p in procs:
        p.join(timeout=max(deadline - time.monotonic(), 0.1))
    for i, p in enumerate(procs):
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
        release(i, f"its worker process (pid {p.pid}) {_exit_reason(p.exitcode)}")
