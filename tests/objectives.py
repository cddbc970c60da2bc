"""Objectives for the executor's tests: cheap, deterministic, importable by file path."""

from __future__ import annotations

import math
import os
import time


def quadratic(params):
    """Minimum 0 at x=0.3 (and encoder 'cnn' better than 'context')."""
    penalty = 0.0 if params.get("encoder", "cnn") == "cnn" else 0.1
    return (params["x"] - 0.3) ** 2 + penalty + 0.01 * params.get("depth", 0)


def record(params, trial):
    """Stores what it received, so a test can check the merge of params and fixed."""
    trial.set_user_attr("received", sorted(params))
    trial.set_user_attr("epochs", params.get("epochs"))
    return float(params["x"])


def flaky(params):
    """Raises for x > 0.5: those trials fail, the run goes on."""
    if params["x"] > 0.5:
        raise ValueError(f"x too large: {params['x']}")
    return params["x"]


def always_fails(params):
    raise RuntimeError("broken objective")


def define_by_run(trial):
    """Written for Optuna, not refine: it samples on what it takes for a trial."""
    x = trial.suggest_float("x", 0, 1)
    return x


def returns_string(params):
    return "0.5"


def returns_pair(params):
    return params["x"], 1.0


def two_objectives(params):
    return params["x"], 1.0 - params["x"]


def slow(params):
    time.sleep(0.2)
    return params["x"]


def crash_once(params):
    """Kills its own process on the first call (a worker dying mid-trial), then behaves."""
    marker = os.environ["REFINE_TEST_CRASH_MARKER"]
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return params["x"]


def rosen(params):
    """Rosenbrock in log-lr-like coordinates, for warm-start measurements."""
    a, b = params["a"], params["b"]
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2 + (0.0 if params.get("opt", "adam") == "adam" else 0.5)


def noisy_seed(params):
    """A value that depends on a fixed 'seed' setting, for rerun and compare tests."""
    return (params["x"] - 0.3) ** 2 + 0.001 * math.sin(params.get("seed", 0) * 7.0 + params["x"] * 13.0)


def returns_nan(params):
    return float("nan")


NOT_A_FUNCTION = 3  # --objective must name a callable


def calls_exit(params):
    """An objective that ends its own process the polite way."""
    raise SystemExit(3)


class _SlowToDelete:
    def __del__(self):
        time.sleep(0.3)


def interrupt_swallowing(params):
    """Spends its time in a ``__del__``, where Python swallows a KeyboardInterrupt ("Exception ignored")."""
    _SlowToDelete()
    return params["x"]


def naps(params):
    """Sleeps 0.1 to 0.3 s (longer for a larger x): a trial a signal or a kill can land in."""
    time.sleep(0.1 + 0.2 * params["x"])
    return params["x"]


def naps_flagged(params):
    """naps, with a file named by the process id in ``$REFINE_TEST_BUSY`` while it sleeps: a fault test can kill a
    worker that is inside a trial, not one between two (whose kill rightly costs no trial)."""
    from pathlib import Path

    flag = Path(os.environ["REFINE_TEST_BUSY"]) / str(os.getpid())
    flag.touch()
    try:
        return naps(params)
    finally:
        flag.unlink(missing_ok=True)


def budgeted(params):
    """Which x is best depends on the budget: the optimum moves from 0.2 (budget 1) to 0.8 (budget 100)."""
    target = 0.2 if params.get("budget", 1) < 10 else 0.8
    return (params["x"] - target) ** 2 + 0.01 * params.get("depth", 0)
