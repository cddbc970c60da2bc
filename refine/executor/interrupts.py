"""Interrupts and heartbeats, and the only module of the executor that touches Optuna's private API.

A Ctrl-C (or a scheduler's SIGTERM) never lands inside one of the storage's
transactions (:func:`_interrupts_between_transactions`); after it, the
trials this process started are failed (:func:`_fail_unfinished`) and the
heartbeat threads it left running are stopped (:func:`_stop_heartbeats`).

Optuna offers no public way to do some of what the executor needs (a
study's storage, a trial's id, its heartbeat threads, a fresh cache of an
RDB storage, the system attributes of a queued or retried trial). Every
such use is in this module, each marked with a comment ``Optuna private:``
that says what it reads and why; the other rooms go through the small
functions below.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Sequence


def _fail_unfinished(study: Any, trial_ids: Sequence[int]) -> None:
    """After Ctrl-C: the trials this process started are FAIL, not left RUNNING.

    Optuna fails the running trial itself, unless the interrupt lands while it
    creates the trial or records its result; such a trial would otherwise
    wait for the heartbeat to be failed.
    """
    from optuna.trial import TrialState

    storage = storage_of(study)
    try:  # the interrupted transaction may still hold SQLite's write lock: roll it back first
        storage.remove_session()
    except Exception:  # noqa: BLE001 - journal storages have no session
        pass
    for trial_id in trial_ids:
        try:
            if storage.get_trial(trial_id).state == TrialState.RUNNING:
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except Exception:  # noqa: BLE001 - best effort on the way out; the heartbeat catches what is left
            pass


def _stop_heartbeats() -> None:
    """Stop Optuna's heartbeat threads that a Ctrl-C left running.

    An interrupt that lands while Optuna starts a trial's heartbeat skips the
    code that stops it, and the process would then wait up to a heartbeat
    interval at exit for that (non-daemon) thread.
    """
    import threading

    for thread in threading.enumerate():
        # Optuna private: its heartbeat thread runs optuna.storages._heartbeat's _record_heartbeat(trial_id,
        # heartbeat, stop_event); Thread._target and Thread._args (threading's own private fields) find it and
        # its stop event, which Optuna offers no other way to reach
        if getattr(getattr(thread, "_target", None), "__name__", "") == "_record_heartbeat":
            event = next((a for a in getattr(thread, "_args", ()) if isinstance(a, threading.Event)), None)
            if event is not None:
                event.set()


# Optuna private: the layout of Optuna's package (its storages live in optuna/storages/), to tell a frame that
# runs storage code, where a transaction may be open
_STORAGE_CODE = (f"{os.sep}sqlalchemy{os.sep}", f"{os.sep}optuna{os.sep}storages{os.sep}")


def _in_storage(frame: Any) -> bool:
    """Whether the main thread is inside a storage call (a transaction may be open)."""
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _STORAGE_CODE):
            return True
        frame = frame.f_back
    return False


#: the signal that stopped the run last (SIGINT for Ctrl-C, SIGTERM from a scheduler), for the exit status
_SIGNAL = {"signum": 2}

#: the interrupt state of the run in progress (set by _interrupts_between_transactions)
_INTERRUPT: dict[str, Any] = {"state": None}


#: signals a finished run keeps recording instead of raising (the command line sets it: it exits next)
_LATE: dict[str, Any] = {"hold": False, "pending": None, "seen": False}


def _late_signal(signum: int, frame: Any) -> None:
    """After a run, under the command line: a late Ctrl-C (or a storm of them) is recorded, not raised.

    The command is about to print its summary and exit; the next run of a
    ``--seeds`` loop starts already interrupted.
    """
    _LATE["seen"] = True
    if _LATE["pending"] is None:
        _LATE["pending"] = int(signum)


@contextlib.contextmanager
def _interrupts_between_transactions() -> Any:
    """Ctrl-C never lands inside one of the storage's transactions.

    An interrupt inside an open SQLite transaction left it holding the write
    lock: Optuna's heartbeat thread then waited on that lock while the main
    thread waited for the heartbeat thread to stop (up to a minute), and the
    trial could be left RUNNING. Here an interrupt that arrives during a
    storage call is delivered again every 20 ms until the call has returned;
    anywhere else (the user's objective, refine's loop) it is raised at once.
    An interrupt that Python itself swallows (raised in a ``__del__``) is
    raised again before the next trial (_stop_if_interrupted), without the
    "Exception ignored" traceback. A SIGTERM is handled the same way. Only in the main thread, and only
    for a signal whose default handler is in place (a shell's ``cmd &``
    ignores SIGINT, and a SIGTERM is still handled there).

    Once one interrupt has been raised, or once the caller sets the yielded
    state's ``held`` (it is cleaning up), further signals are only recorded:
    a storm of Ctrl-C or SIGTERM never breaks the clean-up. Yields that state
    (a dummy where no signal is handled).
    """
    import _thread
    import signal
    import threading

    handled = []
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) in (
            signal.default_int_handler,
            _late_signal,
        ):  # not where the shell ignores it (`cmd &`)
            handled.append(signal.SIGINT)
        if signal.getsignal(signal.SIGTERM) in (
            signal.SIG_DFL,
            _late_signal,
        ):  # a scheduler's SIGTERM (Slurm preemption, kill)
            handled.append(signal.SIGTERM)
    if not handled:
        yield {"held": False}
        return
    state = {"active": True, "pending": _LATE["pending"], "raised": False, "held": False}
    _SIGNAL["signum"] = _LATE["pending"] or int(signal.SIGINT)
    _INTERRUPT["state"] = state

    def redeliver() -> None:
        if state["active"] and state["pending"] is not None and not state["raised"] and not state["held"]:
            _thread.interrupt_main(state["pending"])

    def handler(signum: int, frame: Any) -> None:
        _LATE["seen"] = True
        if state["pending"] is None:  # the first signal is the one that stopped the run (its exit status)
            _SIGNAL["signum"] = int(signum)
        # kept until the run has stopped: a KeyboardInterrupt raised where Python swallows it (a __del__
        # run by the garbage collector prints "Exception ignored" and goes on) is raised again by the
        # run's next check (_stop_if_interrupted) instead of being lost
        state["pending"] = state["pending"] or signum
        if state["raised"] or state["held"]:  # already stopping: a second signal (a storm) is only recorded
            return
        if _in_storage(frame):
            timer = threading.Timer(0.02, redeliver)
            timer.daemon = True
            timer.start()
            return
        state["raised"] = True
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:  # the swallowed interrupt is raised again, not shown as a traceback
        if not (info.exc_type is KeyboardInterrupt and state["pending"] is not None):
            unraisable_before(info)

    previous = {signum: signal.signal(signum, handler) for signum in handled}
    unraisable_before, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield state
    finally:
        state["active"] = False
        _INTERRUPT["state"] = None
        sys.unraisablehook = unraisable_before
        _LATE["pending"] = None
        for signum, old in previous.items():
            signal.signal(signum, _late_signal if _LATE["hold"] else old)
    if (
        state["pending"] is not None and not state["held"]
    ):  # the run ended while an interrupt waited for a storage call: deliver it now
        raise KeyboardInterrupt


@contextlib.contextmanager
def late_signals_held() -> Any:
    """For a command that exits after its run: a Ctrl-C or SIGTERM after the run is recorded, not raised.

    Without it a signal landing between the end of the run and the exit (a
    storm of Ctrl-C) would raise into the summary being printed, or into the
    interpreter's shutdown. On leaving, the handlers are restored, unless a
    signal came: the command is ending, and the rest of a storm is ignored.
    """
    import signal

    _LATE.update(hold=True, pending=None, seen=False)
    try:
        yield
    finally:
        seen = _LATE["seen"]
        _LATE.update(hold=False, pending=None, seen=False)
        if signal.getsignal(signal.SIGINT) is _late_signal:
            signal.signal(signal.SIGINT, signal.SIG_IGN if seen else signal.default_int_handler)
        if signal.getsignal(signal.SIGTERM) is _late_signal:
            signal.signal(signal.SIGTERM, signal.SIG_IGN if seen else signal.SIG_DFL)


def _stop_if_interrupted() -> None:
    """Raise the Ctrl-C or SIGTERM this run received, if it has not stopped the run yet.

    Called between trials and before each objective call, outside any storage call.
    """
    state = _INTERRUPT["state"]
    if state is not None and state["active"] and state["pending"] is not None:
        state["raised"] = True  # the run is stopping: a redelivery or a later signal must not raise into its clean-up
        raise KeyboardInterrupt


def _from_ctrl_c(e: BaseException) -> bool:
    """Whether ``e`` is, or was raised while handling, a Ctrl-C.

    Optuna 5 replaces a KeyboardInterrupt that lands while it records a trial
    with an UnboundLocalError of its own; the interrupt is its context.
    """
    seen: set[int] = set()
    link: BaseException | None = e
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False


def _signals_blocked(blocked: bool) -> None:
    """Block (or unblock) SIGINT and SIGTERM in this thread, where the system can.

    The coordinator starts each worker with them blocked (a child inherits
    the mask across exec): a signal that arrives while the worker imports
    waits until it can fail its trial cleanly, instead of printing a
    traceback or being lost.
    """
    import signal

    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK if blocked else signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def storage_of(study: Any) -> Any:
    """The storage a study reads and writes through (Optuna's cache over an RDB storage, or a journal storage)."""
    return study._storage  # Optuna private: Study._storage; a study's storage has no public accessor


def backend_of(study: Any) -> Any:
    """The storage under Optuna's cache: an RDB storage (its engine, its heartbeat) or a journal's file backend."""
    storage = storage_of(study)
    # Optuna private: _CachedStorage._backend (the RDBStorage it wraps), JournalStorage._backend (its log backend)
    return getattr(storage, "_backend", storage)


def journal_file(backend: Any) -> str | None:
    """The file of a journal storage's backend (:func:`backend_of`), else ``None``."""
    return getattr(backend, "_file_path", None)  # Optuna private: JournalFileBackend._file_path, to flock it


def trial_id(trial: Any) -> int:
    """A trial's id in its storage, the key its storage calls take (the trial's number is not)."""
    return trial._trial_id  # Optuna private: Trial._trial_id and FrozenTrial._trial_id


def retry_ticket(trial: Any, user_attrs: dict) -> Any:
    """A WAITING trial that runs the configuration of the failed ``trial`` again, as its retry."""
    import optuna

    history = [*retry_history(trial), trial.number]
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.WAITING,
        user_attrs=user_attrs,
        # Optuna private: system attributes. "fixed_params" is how enqueue_trial hands a configuration to the
        # trial that pops it; "failed_trial" and "retry_history" are what RetryFailedTrialCallback writes
        system_attrs={"fixed_params": dict(trial.params), "failed_trial": trial.number, "retry_history": history},
    )


def retried_number(trial: Any) -> int | None:
    """The number of the trial that ``trial`` retries, or ``None``."""
    return trial.system_attrs.get("failed_trial")  # Optuna private: RetryFailedTrialCallback's system attribute


def retry_history(trial: Any) -> Sequence[int]:
    """The numbers of the trials that ``trial`` retries, the first failure first (empty: no retry)."""
    return trial.system_attrs.get("retry_history") or ()  # Optuna private: RetryFailedTrialCallback's too


def heartless_running(study: Any) -> list[int]:
    """Storage ids of the study's RUNNING trials that never recorded a heartbeat (an RDB storage with heartbeats).

    Optuna's ``fail_stale_trials`` judges a trial by its last heartbeat, so a
    process killed between taking a trial and its heartbeat thread's first
    beat leaves it RUNNING for ever; the caller fails such a trial once it has
    watched it stay heartless for the grace period (its own clock: a trial's
    start time is another machine's).
    """
    backend = backend_of(study)
    engine = getattr(backend, "engine", None)
    if engine is None or not getattr(backend, "heartbeat_interval", None):
        return []
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.trial_id FROM trials t LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
                "WHERE t.study_id = :study AND t.state = 'RUNNING' AND h.trial_id IS NULL"
            ),
            {"study": study._study_id},  # Optuna private: Study._study_id, the key of its rows
        )
        return [int(r[0]) for r in rows]


def _heartbeat_grace(study: Any) -> int | None:
    """Seconds after its last heartbeat that a RUNNING trial is failed (``None``: a storage without heartbeats)."""
    backend = backend_of(study)
    if not getattr(backend, "heartbeat_interval", None):
        return None
    return int(backend.grace_period or 2 * backend.heartbeat_interval)


def _fresh(study: Any) -> Any:
    """The same study over a new cache of its storage (what another process would see)."""
    import optuna
    from optuna.storages import _CachedStorage  # Optuna private: the cache Optuna puts over an RDB storage

    storage = storage_of(study)
    if not isinstance(storage, _CachedStorage):  # a journal reads the file afresh anyway
        return study
    # Optuna private: a new _CachedStorage over the same RDBStorage (_backend), as optuna.load_study would build
    return optuna.Study(study_name=study.study_name, storage=_CachedStorage(storage._backend), sampler=study.sampler)
