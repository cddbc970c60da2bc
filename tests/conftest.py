"""Shared fixtures: real Optuna studies written to SQLite files in tmp_path."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
import pytest

from refine.space import CategoricalParam, IntParam, Space

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytest_plugins = ["tests._postgres"] if (Path(__file__).parent / "_postgres.py").exists() else []


def sample_config(space: Space, rng: np.random.Generator) -> dict[str, Any]:
    """A uniformly random point of ``space`` (log-uniform for log params), conditionals respected."""
    config: dict[str, Any] = {}
    for _ in range(len(space.params) + 1):
        for name, p in space.params.items():
            if name in config or (p.when is not None and p.when.parent in space.params and p.when.parent not in config):
                continue
            if not space.is_active(name, config):
                continue
            if isinstance(p, CategoricalParam):
                w = np.array(p.normalized_weights())
                config[name] = p.choices[int(rng.choice(len(p.choices), p=w))]
            elif isinstance(p, IntParam):
                if p.log:
                    config[name] = int(round(math.exp(rng.uniform(math.log(p.low), math.log(p.high)))))
                else:
                    config[name] = int(p.low + p.step * rng.integers(0, (p.high - p.low) // p.step + 1))
            else:
                if p.log:  # exp(log(x)) may round just outside a very narrow range
                    config[name] = min(
                        max(float(math.exp(rng.uniform(math.log(p.low), math.log(p.high)))), p.low), p.high
                    )
                elif p.step is not None:
                    k = int(rng.integers(0, int(round((p.high - p.low) / p.step)) + 1))
                    config[name] = min(
                        max(float(p.low + k * p.step), p.low), p.high
                    )  # as Optuna: -0.011 + 0.001 > -0.01
                else:
                    config[name] = float(rng.uniform(p.low, p.high))
    return {k: config[k] for k in space.params if k in config}


def write_study(
    path: Path,
    space: Space,
    objective: Callable[[dict[str, Any]], Any],
    n: int,
    *,
    seed: int = 0,
    study_name: str | None = None,
    configs: list[dict[str, Any]] | None = None,
) -> str:
    """Write a study of ``n`` random trials of ``space`` scored by ``objective`` into ``path``.

    The objective may return a float, a tuple (multi-objective), or None for a FAIL trial.
    """
    rng = np.random.default_rng(seed)
    storage = f"sqlite:///{path}"
    study = optuna.create_study(storage=storage, study_name=study_name or space.name, directions=list(space.directions))
    trials = []
    for i in range(n):
        config = configs[i] if configs is not None else sample_config(space, rng)
        value = objective(config)
        dists = {k: space.params[k].to_distribution() for k in config}
        if value is None:
            trials.append(
                optuna.trial.create_trial(params=config, distributions=dists, state=optuna.trial.TrialState.FAIL)
            )
        else:
            values = list(value) if isinstance(value, (tuple, list)) else [value]
            trials.append(optuna.trial.create_trial(params=config, distributions=dists, values=values))
    study.add_trials(trials)
    return str(path)


@pytest.fixture
def study_factory(tmp_path):
    counter = {"n": 0}

    def make(space: Space, objective, n: int, **kwargs) -> str:
        counter["n"] += 1
        return write_study(tmp_path / f"study{counter['n']}.db", space, objective, n, **kwargs)

    return make


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI's ``main`` in-process; return (exit status, stdout, stderr)."""
    from refine.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _space(**params) -> Space:
    return Space(name="s", version=1, directions=("maximize",), params=params)


def _decision(result, name):
    return next(d for d in result.decisions if d.param == name)


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "refine", *args], capture_output=True, text=True, cwd=cwd)


def _replicated(space, n, seed):
    rng = np.random.default_rng(seed)
    configs = [sample_config(space, rng) for _ in range(n)]
    return [c for c in configs for _ in range(2)]
