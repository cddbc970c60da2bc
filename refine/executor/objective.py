"""The objective: import it (``module:function``, ``file.py:function``), sample its parameters, check its value."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import numbers
import os
import pkgutil
import sys
import traceback
import zlib
from pathlib import Path
from typing import Any, Callable, TypeGuard

from refine.errors import RefineError
from refine.executor.attributes import TRIAL_ERROR, TRIAL_SET
from refine.executor.interrupts import _stop_if_interrupted
from refine.space import CategoricalParam, IntParam, Space


class ObjectiveError(RefineError):
    """The objective cannot be imported, or returns something that is not a value."""


class _ObjectiveFailed(Exception):
    """The objective raised: the trial is FAIL, the run goes on."""


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
                if loader_spec is None or loader_spec.loader is None:  # a file Python cannot load (not .py)
                    raise ObjectiveError(
                        f"objective file {module_name} is not a Python module (from --objective {spec}): "
                        "name a .py file, e.g. --objective obj.py:objective"
                    )
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


def _define_by_run(e: BaseException, args: dict) -> TypeGuard[AttributeError]:
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
