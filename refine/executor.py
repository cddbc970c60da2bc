"""The trial executor: run a space's trials against an objective (``refine run``).

This closes the loop study -> next space -> run -> study. :func:`run` creates
(or resumes) an Optuna study that remembers its space (SPEC section 3), then

1. carries a previous stage over (``from_``): its best configurations,
   projected into the new space, are enqueued first, and its trials that lie
   inside the new space are added as completed history;
2. enqueues forced extremes (untested edges of numeric ranges) and gap
   fillers (ranges and choices never tested);
3. runs trials until exactly ``trials`` are complete.

Exactness with many workers comes from a queue of *tickets*: the coordinator
enqueues one WAITING trial per trial still owed, and every worker runs only
trials it pops from that queue (popping is atomic in Optuna's RDB and journal
storages); a worker never creates a trial of its own. When trials fail, the
coordinator issues new tickets until the count is reached or the failure
budget is spent.

Categorical ``weights`` are honoured while the sampler explores: Optuna's
samplers know no weights, so a thin sampler wrapper draws weighted choices
from a seeded low-discrepancy (Weyl) sequence indexed by the trial number,
which keeps each choice's share close to its weight even over ten trials and
across processes.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import math
import multiprocessing
import numbers
import os
import pkgutil
import sys
import time
import traceback
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import attrs
from attrs import frozen

from refine.coverage import Gap, activation, coverage_gaps, grid_high, snap_to_grid
from refine.errors import RefineError, StudyError
from refine.ranking import TRIAL_HISTORY, own_trials, ranked_trials
from refine.space import CategoricalParam, IntParam, Space, to_unit
from refine.storage import QueueEmpty as _QueueEmpty
from refine.storage import is_journal as _is_journal
from refine.storage import (
    load_study,
    open_storage,
    parse_study_ref,
    redact,
    study_names,
)
from refine.storage import sqlite_database as _sqlite_path
from refine.storage import storage_url as _storage_url

__all__ = [
    "ObjectiveError",
    "RunResult",
    "Gap",
    "open_storage",
    "redact",
    "parse_study_ref",
    "load_objective",
    "load_study",
    "study_names",
    "project",
    "coverage_gaps",
    "run",
    "SAMPLERS",
]

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc")

#: user attributes written on studies and trials (SPEC section 3 and lineage).
ATTR_SPACE = "refine:space"
ATTR_VERSION = "refine:version"
ATTR_PARENT = "refine:parent_study"
ATTR_WARM = "refine:warm_started"
ATTR_EXTREMES = "refine:extremes_done"
ATTR_GAPS = "refine:fill_gaps_done"
ATTR_SHARE = "refine:fair_share"
TRIAL_ERROR = "refine:error"
TRIAL_SET = "refine:set"
TRIAL_DIED = "refine:died"


class ObjectiveError(RefineError):
    """The objective cannot be imported, or returns something that is not a value."""


def _fail_unfinished(study: Any, trial_ids: Sequence[int]) -> None:
    """After Ctrl-C: the trials this process started are FAIL, not left RUNNING.

    Optuna fails the running trial itself, unless the interrupt lands while it
    creates the trial or records its result; such a trial would otherwise
    wait for the heartbeat to be failed.
    """
    from optuna.trial import TrialState

    try:  # the interrupted transaction may still hold SQLite's write lock: roll it back first
        study._storage.remove_session()
    except Exception:  # noqa: BLE001 - journal storages have no session
        pass
    for trial_id in trial_ids:
        try:
            if study._storage.get_trial(trial_id).state == TrialState.RUNNING:
                study._storage.set_trial_state_values(trial_id, TrialState.FAIL)
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
        if getattr(getattr(thread, "_target", None), "__name__", "") == "_record_heartbeat":
            event = next((a for a in getattr(thread, "_args", ()) if isinstance(a, threading.Event)), None)
            if event is not None:
                event.set()


_STORAGE_CODE = (f"{os.sep}sqlalchemy{os.sep}", f"{os.sep}optuna{os.sep}storages{os.sep}")


def _in_storage(frame: Any) -> bool:
    """Whether the main thread is inside a storage call (a transaction may be open)."""
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _STORAGE_CODE):
            return True
        frame = frame.f_back
    return False


#: the end of the failure budget's message, which a caller without --max-failures (rerun) leaves out
MORE_FAILURES = "; raise --max-failures to go on"

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
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


class _ObjectiveFailed(Exception):
    """The objective raised: the trial is FAIL, the run goes on."""


def study_space(study: Any) -> Space | None:
    """The space a study was run with (SPEC section 3), or ``None``."""
    from refine.spacefile import space_from_json

    text = study.user_attrs.get(ATTR_SPACE)
    if not text:
        return None
    return space_from_json(text, where=f"study '{study.study_name}' ({ATTR_SPACE})")


# --------------------------------------------------------------------------- objectives


def load_objective(spec: str | Callable) -> Callable:
    """Import an objective named ``module:function`` or ``path/to/file.py:function``.

    Raises:
        ObjectiveError: The module or function cannot be found or imported.
    """
    if callable(spec):
        return spec
    module_name, sep, attr = str(spec).rpartition(":")
    if not sep or not module_name or not attr:
        raise ObjectiveError(
            f"the objective (--objective) must be module:function, path/to/file.py:function or a callable, got {spec!r}"
        )
    try:
        if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise ObjectiveError(f"objective file {module_name} does not exist (from --objective {spec})")
            unique = f"refine_objective_{zlib.crc32(str(path.resolve()).encode()):08x}"
            module = sys.modules.get(unique)
            if module is None:
                loader_spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[unique] = module
                loader_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ObjectiveError:
        raise
    except Exception as e:
        raise ObjectiveError(f"cannot import the objective {spec}: {type(e).__name__}: {e}") from None
    try:  # a dotted attribute too: module:Class.method, file.py:namespace.function
        fn = pkgutil.resolve_name(f"{module.__name__}:{attr}")
    except AttributeError:
        fn = None
    if fn is None:
        raise ObjectiveError(f"module {module_name} has no function '{attr}' (from --objective {spec})")
    if not callable(fn):
        raise ObjectiveError(
            f"'{attr}' in module {module_name} is a {type(fn).__name__}, not a function (from --objective {spec})"
        )
    return fn


def _takes_trial(fn: Callable) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())


def _order(space: Space) -> list[str]:
    """Parameter names with every ``when`` parent before its children."""
    done: list[str] = []
    pending = list(space.params)
    while pending:
        for name in list(pending):
            cond = space.params[name].when
            if cond is None or cond.parent not in space.params or cond.parent in done:
                done.append(name)
                pending.remove(name)
    return done


def suggest(space: Space, trial: Any) -> dict[str, Any]:
    """Sample the active parameters of ``space`` on an Optuna trial, exactly as declared."""
    params: dict[str, Any] = {}
    for name in _order(space):
        if not space.is_active(name, params):
            continue
        p = space.params[name]
        if isinstance(p, CategoricalParam):
            params[name] = trial.suggest_categorical(name, list(p.choices))
        elif isinstance(p, IntParam):
            params[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
        else:
            params[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
    return params


def _define_by_run(e: BaseException, args: dict) -> bool:
    """Whether ``e`` is an objective written for Optuna (``trial.suggest_float``) calling a trial method on the
    params."""
    import optuna

    return (
        isinstance(e, AttributeError)
        and getattr(e, "obj", None) is args
        and hasattr(optuna.trial.Trial, getattr(e, "name", "") or "")
    )


class _Objective:
    """Optuna's objective: sample, merge ``fixed``, call the user's function, check its value."""

    def __init__(self, fn: Callable, space: Space) -> None:
        self.fn, self.space = fn, space
        self.with_trial = _takes_trial(fn)

    def __call__(self, trial: Any) -> Any:
        import optuna

        _stop_if_interrupted()
        params = suggest(self.space, trial)
        args = {**self.space.fixed, **params, **(trial.user_attrs.get(TRIAL_SET) or {})}
        try:
            out = self.fn(args, trial) if self.with_trial else self.fn(args)
        except optuna.TrialPruned:
            raise
        except (Exception, SystemExit) as e:  # an objective calling sys.exit() fails its trial, not the run
            trial.set_user_attr(TRIAL_ERROR, f"{type(e).__name__}: {e}"[:2000])
            trial.set_user_attr("refine:traceback", traceback.format_exc()[-4000:])
            if _define_by_run(e, args):  # every trial would fail the same way: stop at the first, and say why
                name = getattr(self.fn, "__qualname__", repr(self.fn))
                raise ObjectiveError(
                    f"the objective {name} calls {e.name}() on its first argument as on an Optuna trial, but refine "
                    "samples the space itself and passes a dict of the values: write objective(params) and read "
                    "params['x'] (or objective(params, trial) to report intermediate values for pruning)"
                ) from None
            raise _ObjectiveFailed(f"{type(e).__name__}: {e}") from e
        return self._check(out, trial)

    def _check(self, out: Any, trial: Any) -> Any:
        n = len(self.space.directions)
        values = list(out) if isinstance(out, (list, tuple)) else [out]
        ok = len(values) == n and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
        if not ok:
            expected = "a number" if n == 1 else f"a tuple of {n} numbers (one per direction)"
            message = f"the objective returned {out!r} for trial {trial.number}; it must return {expected}"
            trial.set_user_attr(TRIAL_ERROR, message)
            raise ObjectiveError(message)
        if any(math.isnan(v) for v in values):  # Optuna fails the trial; say why where the other failures say it
            trial.set_user_attr(TRIAL_ERROR, f"the objective returned {out!r}: NaN is recorded as a failed trial")
        return float(values[0]) if n == 1 else tuple(float(v) for v in values)


# --------------------------------------------------------------------------- sampling


_ALPHAS = tuple(math.sqrt(p) % 1 for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47))


def _weighted_choice(p: CategoricalParam, name: str, index: int, number: int, seed: int) -> Any:
    """The ``number``-th draw of a seeded Weyl sequence, mapped through the weights."""
    offset = (zlib.crc32(f"{seed}:{name}".encode()) % 10_000) / 10_000
    u = (offset + (number + 1) * _ALPHAS[index % len(_ALPHAS)]) % 1.0
    cumulative = 0.0
    for choice, w in zip(p.choices, p.normalized_weights()):
        cumulative += w
        if u < cumulative:
            return choice
    return next(c for c, w in zip(reversed(p.choices), reversed(p.normalized_weights())) if w > 0)


def fair_shares(space: Space, target: int, fair_trial: int) -> dict[str, list[int]]:
    """Trials of a stage of ``target`` reserved for each weighted choice: ``min(fair_trial, its weight's share)``."""
    return {
        name: [min(fair_trial, int(w * target + 1e-9)) if w > 0 else 0 for w in p.normalized_weights()]
        for name, p in space.params.items()
        if isinstance(p, CategoricalParam) and p.weights
    }


def _due(quota: Sequence[int], counts: Sequence[int], own: int, target: int, paced: bool) -> int | None:
    """The choice this trial must take so that each choice reaches its reserved share, or ``None``.

    ``own`` trials of the stage ran before this one. Cold, a choice is forced
    only once the trials left are no more than the shares still owed (the
    sampler's model chooses until then); after a warm start (``paced``) a
    choice is also forced whenever it falls behind an even spread of its share
    over the stage, as the history already ended the weighted exploration.
    """
    owed = [max(q - c, 0) for q, c in zip(quota, counts)]
    if not any(owed):
        return None
    left = max(target - own, 1)
    if left <= sum(owed):
        return max(range(len(owed)), key=lambda i: owed[i])
    if paced:
        lag = [q * (own + 1) / target - c if owed[i] else 0.0 for i, (q, c) in enumerate(zip(quota, counts))]
        i = max(range(len(lag)), key=lambda j: lag[j])
        if lag[i] >= 1.0:
            return i
    return None


def _make_weighted_sampler(base: Any, space: Space, explore: int | None, seed: int) -> Any:
    """Wrap ``base`` so that weighted categoricals follow their weights while exploring,
    and each weighted choice gets the share of the stage that the study's ``refine:fair_share`` reserves.

    ``explore`` is the number of finished trials during which the sampler
    explores (``None``: always, as a random sampler does).
    """
    from optuna.samplers import BaseSampler
    from optuna.trial import TrialState

    weighted = {
        name: i
        for i, name in enumerate(n for n, p in space.params.items() if isinstance(p, CategoricalParam) and p.weights)
    }

    class WeightedSampler(BaseSampler):
        def __init__(self) -> None:
            self.base = base
            self._cache: tuple[int, bool, dict[str, Any]] | None = None
            self.started: list[int] = []

        def _plan(self, study: Any, trial: Any) -> tuple[bool, dict[str, Any]]:
            """Whether this trial explores, and the choices it must take (computed once per trial)."""
            if self._cache is None or self._cache[0] != trial.number:
                trials = study.get_trials(deepcopy=False) if weighted else []
                done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
                exploring = explore is None or done < explore
                self._cache = (trial.number, exploring, self._forced(study, trial, trials))
            return self._cache[1], self._cache[2]

        def _forced(self, study: Any, trial: Any, trials: Sequence[Any]) -> dict[str, Any]:
            shares = study.user_attrs.get(ATTR_SHARE) if weighted else None
            if not shares:
                return {}
            target = int(shares.get("target", 0))
            own = [
                t
                for t in trials
                if t.number != trial.number
                and TRIAL_HISTORY not in t.user_attrs
                and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            ]
            history = [t for t in trials if TRIAL_HISTORY in t.user_attrs]
            paced = bool(history)
            forced: dict[str, Any] = {}
            for name, quota in shares.get("quota", {}).items():
                p = space.params.get(name)
                if name not in weighted or not isinstance(p, CategoricalParam) or len(quota) != len(p.choices):
                    continue
                counts = [0] * len(p.choices)
                for t in [*history, *own]:  # the next stage's evidence reads both: a choice tried before owes less
                    if name in t.params and p.contains(t.params[name]):
                        counts[p.index(t.params[name])] += 1
                i = _due(quota, counts, len(own), max(target, 1), paced)
                if i is not None:
                    forced[name] = p.choices[i]
            return forced

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
            found = self.base.infer_relative_search_space(study, trial)
            if weighted:
                exploring, forced = self._plan(study, trial)
                found = {k: v for k, v in found.items() if k not in (weighted if exploring else forced)}
            return found

        def sample_relative(self, study: Any, trial: Any, search_space: dict) -> dict:
            # TPE with group=True (Optuna < 5) samples its whole group, a parameter taken out above included
            return {k: v for k, v in self.base.sample_relative(study, trial, search_space).items() if k in search_space}

        def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
            if param_name in weighted:
                exploring, forced = self._plan(study, trial)
                if param_name in forced:
                    return forced[param_name]
                if exploring:
                    p = space.params[param_name]
                    return _weighted_choice(p, param_name, weighted[param_name], trial.number, seed)
            return self.base.sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study: Any, trial: Any) -> None:
            self.started.append(trial._trial_id)  # this process's trials, to fail cleanly after Ctrl-C
            del self.started[:-4]
            self.base.before_trial(study, trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return WeightedSampler()


def make_sampler(name: str, *, seed: int, space: Space, startup: int = 10) -> Any:
    """Build the named sampler, seeded, wrapped so that categorical weights hold while exploring.

    Raises:
        RefineError: Unknown sampler, or its optional dependency is missing.
    """
    import optuna

    if name not in SAMPLERS:
        raise RefineError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        explore: int | None = startup
        if name == "tpe":
            base = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=True)
        elif name == "random":
            base, explore = optuna.samplers.RandomSampler(seed=seed), None
        elif name == "qmc":
            base, explore = optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False), None
        elif name == "cmaes":
            if importlib.util.find_spec("cmaes") is None:
                raise RefineError("--sampler cmaes needs the cmaes package: pip install cmaes")
            base = optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
        else:
            if importlib.util.find_spec("torch") is None:
                raise RefineError("--sampler gp needs PyTorch: pip install torch")
            base = optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    return _make_weighted_sampler(base, space, explore, seed)


# --------------------------------------------------------------------------- projection, extremes, gaps


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
            out[name] = snap_to_grid(p, value)
    return {k: v for k, v in out.items() if space.is_active(k, out)}


def _extreme_configs(space: Space, tested: Sequence[Mapping[str, Any]], k: int, tolerance: float = 0.02) -> list[dict]:
    """Up to ``k`` partial configurations on untested edges: each edge alone, then corners of two."""
    edges: list[tuple[str, str, Any]] = []
    for name, p in space.params.items():
        if isinstance(p, CategoricalParam) or activation(space, name) is None:
            continue
        seen = [
            to_unit(p, c[name])
            for c in tested
            if name in c and isinstance(c[name], numbers.Real) and (not p.log or c[name] > 0)
        ]
        for side, target, value in (("low", 0.0, p.low), ("high", 1.0, grid_high(p))):
            if not any(abs(u - target) <= tolerance for u in seen):
                edges.append((name, side, value))
    configs: list[dict] = []
    for name, side, value in edges:
        configs.append({**activation(space, name), name: value, "__label": f"{name}={side}"})
    for i, (n1, s1, v1) in enumerate(edges):
        for n2, s2, v2 in edges[i + 1 :]:
            if n1 == n2:
                continue
            a1, a2 = activation(space, n1), activation(space, n2)
            if any(k2 in a1 and a1[k2] != v for k2, v in a2.items()):
                continue
            configs.append({**a1, **a2, n1: v1, n2: v2, "__label": f"{n1}={s1},{n2}={s2}"})
    return configs[:k]


# --------------------------------------------------------------------------- warm start


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


# --------------------------------------------------------------------------- the run


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
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    return [
        t
        for t in trials
        if t.state.name == "FAIL"
        and TRIAL_ERROR not in t.user_attrs
        and TRIAL_HISTORY not in t.user_attrs
        and t.number not in retried
        and len(t.system_attrs.get("retry_history") or ()) < RETRIES
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
    storage = study._storage
    backend = getattr(storage, "_backend", storage)
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
    path = getattr(backend, "_file_path", None)  # a JournalStorage's backend: the journal file
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
    import optuna

    c = _counts(study)
    if min(target - c.complete - c.running - c.waiting, batch - c.waiting) <= 0:
        return 0
    with _queue_lock(study):
        trials = study.get_trials(deepcopy=False)
        c = _counts(study, trials)
        owed = max(min(target - c.complete - c.running - c.waiting, batch - c.waiting), 0)
        retries = _to_retry(trials)[:owed]
        for t in retries:
            history = [*(t.system_attrs.get("retry_history") or ()), t.number]
            study.add_trial(
                optuna.trial.create_trial(
                    state=optuna.trial.TrialState.WAITING,
                    user_attrs={k: v for k, v in t.user_attrs.items() if k not in (TRIAL_DIED, "refine:traceback")},
                    system_attrs={"fixed_params": dict(t.params), "failed_trial": t.number, "retry_history": history},
                )
            )
        for _ in range(owed - len(retries)):
            study.enqueue_trial({})
    return owed


def _enqueue(study: Any, configs: Sequence[Mapping[str, Any]], budget: int, attr: str) -> int:
    n = 0
    for config in configs[: max(budget, 0)]:
        label = config.get("__label", True)
        params = {k: v for k, v in config.items() if k != "__label"}
        study.enqueue_trial(params, user_attrs={attr: label})
        n += 1
    return n


def _echo(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


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
    is finished, so a worker killed at any point leaves its trial named.
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


def run(
    space: Space | str | os.PathLike,
    objective: str | Callable,
    *,
    storage: str | os.PathLike,
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


def _short_shares(study: Any, space: Space, shares: Mapping[str, Sequence[int]]) -> list[str]:
    """Weighted choices that ended the stage short of their reserved share (a ``when`` kept their parameter
    inactive)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    own = sum(TRIAL_HISTORY not in t.user_attrs for t in done)
    out = []
    for name, quota in shares.items():
        p = space.params[name]
        for i, (choice, q) in enumerate(zip(p.choices, quota)):
            got = sum(name in t.params and p.contains(t.params[name]) and p.index(t.params[name]) == i for t in done)
            if got < q:
                out.append(
                    f"'{name}': the choice {choice!r} got {got} trials (history included; this stage ran "
                    f"{own}), short of "
                    f"its share {q} (min(fair_trial, weight x trials)): '{name}' was active in too few trials"
                )
    return out


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
    return [t for t in study.get_trials(deepcopy=False, states=(_state("RUNNING"),)) if t._trial_id not in own]


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def _heartbeat_grace(study: Any) -> int | None:
    """Seconds after its last heartbeat that a RUNNING trial is failed (``None``: a storage without heartbeats)."""
    backend = getattr(study._storage, "_backend", study._storage)
    if not getattr(backend, "heartbeat_interval", None):
        return None
    return int(backend.grace_period or 2 * backend.heartbeat_interval)


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


def _fail_stale(study: Any) -> None:
    """Fail the RUNNING trials whose heartbeat is stale (Optuna returns at once on a storage without heartbeats)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _stuck_seconds(study: Any) -> int:
    """How long a run waits on trials it cannot start: past the heartbeat's grace period, where there is one."""
    return int(max(30, (_heartbeat_grace(study) or 0) + 10))


def _fresh(study: Any) -> Any:
    """The same study over a new cache of its storage (what another process would see)."""
    import optuna
    from optuna.storages import _CachedStorage

    storage = study._storage
    if not isinstance(storage, _CachedStorage):  # a journal reads the file afresh anyway
        return study
    return optuna.Study(study_name=study.study_name, storage=_CachedStorage(storage._backend), sampler=study.sampler)


def _release(study: Any, trial_id: int, why: str) -> int | None:
    """Fail the trial ``trial_id`` of a worker that died, if it is still RUNNING; returns its number.

    Its ``refine:died`` attribute says why; like a trial whose heartbeat went
    stale, it is then retried once (:func:`_top_up`).
    """
    import optuna

    storage = study._storage
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
