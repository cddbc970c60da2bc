"""The objective (refine/executor/objective.py): what it receives, what it returns, and how it fails."""

from __future__ import annotations

import pytest

from refine.executor import TRIAL_ERROR, run
from refine.space import Condition, FloatParam, IntParam, Space
from tests.conftest import run_cli as cli
from tests.executor.conftest import OBJ, run_argv, space_v1, states, trials_of


def test_fixed_values_reach_the_objective_with_the_trial(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:record", storage=db, study="a", trials=4, quiet=True)
    for t in trials_of(db, "a"):
        assert t.user_attrs["epochs"] == 20
        assert "epochs" in t.user_attrs["received"] and "epochs" not in t.params


def test_when_params_sampled_only_when_parent_allows(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=20, sampler="random", quiet=True)
    trials = trials_of(db, "a")
    assert all(("ctx" in t.params) == (t.params["encoder"] == "context") for t in trials)


def test_log_step_and_int_sampled_as_declared(tmp_path):
    space = Space(
        name="d",
        version=1,
        params={
            "lr": FloatParam(low=1e-4, high=1e-1, log=True),
            "drop": FloatParam(low=0.0, high=0.7, step=0.05),
            "n": IntParam(low=2, high=10, step=2),
            "x": FloatParam(low=0, high=1),
        },
    )
    db = str(tmp_path / "s.db")
    run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=12, quiet=True)
    for t in trials_of(db, "a"):
        assert t.distributions["lr"].log
        assert abs(round(t.params["drop"] / 0.05) * 0.05 - t.params["drop"]) < 1e-9
        assert isinstance(t.params["n"], int) and t.params["n"] % 2 == 0
        assert space.contains(t.params)


def test_objective_exception_fails_trial_and_run_goes_on(tmp_path):
    db = str(tmp_path / "s.db")
    [r] = run(
        space_v1(), f"{OBJ}:flaky", storage=db, study="a", trials=6, sampler="random", max_failures=100, quiet=True
    )
    c = states(db, "a")
    assert c["COMPLETE"] == 6 and c["FAIL"] >= 1 and r.failed == c["FAIL"]
    failed = [t for t in trials_of(db, "a") if t.state.name == "FAIL"]
    assert all("ValueError: x too large" in t.user_attrs[TRIAL_ERROR] for t in failed)


def test_always_failing_objective_stops_after_the_failure_budget(tmp_path):
    db = str(tmp_path / "s.db")
    [r] = run(space_v1(), f"{OBJ}:always_fails", storage=db, study="a", trials=3, max_failures=4, quiet=True)
    assert r.complete == 0 and r.failed == 4 and r.warnings


@pytest.mark.parametrize("objective, says", [("always_fails", "RuntimeError"), ("returns_nan", "NaN")])
def test_a_run_stopped_by_failures_exits_2_with_the_last_error(tmp_path, capsys, objective, says):
    argv = run_argv(tmp_path, objective, tmp_path / "s.db", "--trials", "3", "--max-failures", "4", "--quiet")
    code, _, err = cli(capsys, *argv)
    assert code == 2 and err.startswith("error: demo-v1: stopped after 4 failed trials with 0 of 3 complete")
    assert says in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_an_objective_written_for_optuna_stops_at_once_and_says_how_to_write_it(tmp_path, capsys, workers):
    argv = run_argv(tmp_path, "define_by_run", tmp_path / "s.db", "--trials", "5", "--workers", str(workers), "--quiet")
    code, _, err = cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: the objective define_by_run calls suggest_float()") and "params['x']" in err
    from refine.study import read_study

    assert read_study(tmp_path / "s.db").counts().get("FAIL", 0) <= workers  # not --max-failures of them


def test_an_objective_calling_sys_exit_fails_its_trial_not_the_run(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    argv = run_argv(tmp_path, "calls_exit", db, "--study", "e", "--trials", "3", "--max-failures", "2", "--quiet")
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "SystemExit" in err and len(err.strip().splitlines()) == 1
    assert states(db, "e")["RUNNING"] == 0 and states(db, "e")["FAIL"] == 2


def test_a_condition_on_a_grid_float_holds_for_the_values_optuna_samples(tmp_path):
    # Optuna samples 0.30000000000000004 for 0.3 on a 0.1 grid: `when: {x: 0.3}` must still hold
    space = Space(
        name="g",
        version=1,
        params={
            "x": FloatParam(low=0, high=1, step=0.1),
            "y": FloatParam(low=0, high=1, when=Condition("x", (0.3, 0.6, 0.7))),
        },
    )
    db = str(tmp_path / "s.db")
    run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=40, sampler="random", quiet=True)
    trials = trials_of(db, "a")
    on = [t for t in trials if any(abs(t.params["x"] - v) < 1e-9 for v in (0.3, 0.6, 0.7))]
    assert on and all("y" in t.params for t in on)
    assert all("y" not in t.params for t in trials if t not in on)
