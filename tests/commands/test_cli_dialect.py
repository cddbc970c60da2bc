"""Optuna's CLI dialect (refine/commands/_common.py): --study-name and -f json|yaml|table beside --study and --json."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from tests.conftest import run_cli as cli

OBJ = str(Path(__file__).parents[1] / "objectives.py")


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "s.db")
    for name in ("a", "b"):
        study = optuna.create_study(storage=f"sqlite:///{path}", study_name=name)
        study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2 + t.suggest_int("n", 1, 4), n_trials=6)
    return path


def test_study_name_is_study_and_f_json_is_json(capsys, db):
    code, ours, err = cli(capsys, "inspect", db, "--study", "a", "--json")
    assert code == 0, err
    code, optunas, err = cli(capsys, "inspect", db, "--study-name", "a", "-f", "json")
    assert code == 0, err
    assert json.loads(optunas) == json.loads(ours)


def test_f_yaml_prints_the_json_object_as_yaml(capsys, db):
    _, as_json, _ = cli(capsys, "inspect", db, "--study", "b", "--json")
    code, as_yaml, err = cli(capsys, "inspect", db, "--study", "b", "--format", "yaml")
    assert code == 0, err
    assert not as_yaml.lstrip().startswith("{")
    assert yaml.safe_load(as_yaml) == json.loads(as_json)


def test_f_table_is_what_a_person_reads(capsys, db):
    _, default, _ = cli(capsys, "inspect", db, "--study", "a")
    code, table, err = cli(capsys, "inspect", db, "--study", "a", "-f", "table")
    assert code == 0, err
    assert table == default and "trials" in table


@pytest.mark.parametrize("order", [("--json", "-f", "table"), ("-f", "table", "--json")])
def test_json_and_f_table_together_are_refused(capsys, db, order):
    code, out, err = cli(capsys, "inspect", db, "--study", "a", *order)
    assert code == 2 and out == ""
    assert err.startswith("error:") and "--json and -f table" in err


def test_best_takes_study_name_and_f(capsys, db):
    code, out, err = cli(capsys, "best", db, "--study-name", "a", "-f", "yaml")
    assert code == 0, err
    assert set(yaml.safe_load(out)["params"]) == {"x", "n"}


def test_rerun_names_a_fixed_value_fixed_and_reads_an_old_set_with_a_note(capsys, tmp_path):
    from refine.executor import run
    from refine.space import FloatParam, Space

    storage = str(tmp_path / "r.db")
    run(
        Space(name="q", version=1, params={"x": FloatParam(low=0.0, high=1.0)}, fixed={"epochs": 20}),
        f"{OBJ}:quadratic",
        storage=storage,
        study="a",
        trials=2,
        quiet=True,
    )
    for flag in ("--fixed", "--set"):
        code, out, err = cli(
            capsys, "rerun", storage, "--study", "a", "--objective", f"{OBJ}:quadratic", flag, "epochs=abc"
        )
        assert code == 2 and out == ""
        assert "--fixed epochs='abc': the space fixes epochs to 20" in err
        assert ("rerun --set is now --fixed" in err) == (flag == "--set")
