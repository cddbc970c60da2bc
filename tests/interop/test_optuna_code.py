"""Optuna code (refine/interop/optuna_code.py): a ``suggest(trial)`` that samples inside the space."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import given

from refine.interop import dump_optuna
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from tests.interop.conftest import _SETTINGS, _run, spaces


def _sample(space: Space, n_trials: int = 8) -> list[dict]:
    namespace: dict[str, Any] = {}
    exec(compile(dump_optuna(space).text, "<suggest>", "exec"), namespace)
    configs: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        configs.append(namespace["suggest"](trial))
        return 0.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), directions=list(space.directions))
        study.optimize(
            objective if not space.multi_objective else (lambda t: (objective(t),) * len(space.directions)),
            n_trials=n_trials,
        )
    return configs


@_SETTINGS
@given(spaces())
def test_optuna_code_samples_inside_the_space_and_respects_when(space: Space) -> None:
    for config in _sample(space):
        for name, value in space.fixed.items():
            assert config[name] == value or (value != value and config[name] != config[name])
        for name in space.params:
            assert (name in config) == space.is_active(name, config), name
        assert space.contains({k: v for k, v in config.items() if k in space.params})


def test_optuna_code_keeps_true_apart_from_1() -> None:
    space = Space(
        name="s",
        version=1,
        params={
            "flag": CategoricalParam(choices=[1, True, "a"]),
            "x": FloatParam(low=0.0, high=1.0, when=Condition("flag", 1)),
        },
    )
    configs = _sample(space, n_trials=40)
    assert {repr(c["flag"]) for c in configs} == {"1", "True", "'a'"}
    for config in configs:
        assert ("x" in config) == (config["flag"] == 1 and config["flag"] is not True)


def test_optuna_code_is_readable(space_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(capsys, "export", str(space_file), "--to", "optuna")
    assert code == 0
    assert "def suggest(trial) -> dict:" in out
    assert "    config['lr'] = trial.suggest_float('lr', 5e-05, 0.01, log=True)" in out
    assert (
        "    if config['encoder'] == 'context':\n        config['ctx_layers'] = trial.suggest_int('ctx_layers', 1, 5)"
        in out
    )
    assert "'epochs': 20," in out
    assert "# NOT EXPRESSED: weights [0.75, 0.25] of 'encoder'" in out
    assert err.startswith("warning: weights [0.75, 0.25] of 'encoder'")


def test_optuna_code_quotes_any_parameter_name() -> None:
    space = Space(name="s", version=1, fixed={'a "b"': 1}, params={"it's": IntParam(low=1, high=3)})
    (config,) = _sample(space, n_trials=1)
    assert config['a "b"'] == 1 and 1 <= config["it's"] <= 3
