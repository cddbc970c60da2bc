"""``refine import-trials``: tables of past trials (CSV, JSON, W&B / Ray Tune exports) become studies refine reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import refine
from refine.executor import load_study, run
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.spacefile import save_space
from tests.conftest import run_cli as cli

OBJ = str(Path(__file__).with_name("objectives.py"))


def _csv(path: Path, rows: list[dict]) -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = [",".join(cols)] + [",".join("" if r.get(c) is None else str(r[c]) for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(n: int = 30) -> list[dict]:
    out = []
    for i in range(n):
        x = (i * 0.37) % 1
        enc = ("cnn", "context")[i % 2]
        out.append(
            {
                "x": round(x, 4),
                "depth": 1 + i % 3,
                "encoder": enc,
                "loss": (x - 0.3) ** 2 + (0.1 if enc == "context" else 0),
                "precision": i / n,
            }
        )
    return out


def test_a_csv_becomes_a_study_with_inferred_distributions(tmp_path, capsys):
    table = _csv(tmp_path / "sweep.csv", _rows())
    db = str(tmp_path / "s.db")
    code, out, _ = cli(
        capsys,
        "import-trials",
        str(table),
        "--storage",
        db,
        "--study",
        "past",
        "--value",
        "loss",
        "--attr",
        "precision",
        "--json",
    )
    got = json.loads(out)
    assert (
        code == 0
        and got["complete"] == 30
        and got["params"] == ["x", "depth", "encoder"]
        and got["attrs"] == ["precision"]
    )
    study = load_study(db, "past")
    assert len(study.trials) == 30 and study.best_value == min(r["loss"] for r in _rows())
    t = study.trials[0]
    assert t.distributions["depth"].__class__.__name__ == "IntDistribution" and t.user_attrs["precision"] == 0.0
    assert set(t.distributions["encoder"].choices) == {"cnn", "context"}
    assert refine.next_space(db, study="past", config=False).space.version == 2


def test_an_imported_study_warm_starts_a_run(tmp_path):
    table = _csv(tmp_path / "sweep.csv", _rows())
    db = str(tmp_path / "s.db")
    space = Space(
        name="p",
        version=1,
        params={
            "x": FloatParam(low=0, high=1),
            "depth": IntParam(low=1, high=3),
            "encoder": CategoricalParam(choices=("cnn", "context")),
        },
    )
    save_space(space, tmp_path / "p.v1.yaml")
    refine_import = __import__("refine.import_trials", fromlist=["import_trials"]).import_trials
    result = refine_import(
        table, storage=db, study="past", value="loss", space=tmp_path / "p.v1.yaml", attrs_columns=["precision"]
    )
    assert result.space_source == "given"
    [r] = run(space, f"{OBJ}:quadratic", storage=db, study="next", trials=3, from_=f"{db}:past", quiet=True)
    assert r.history == 30 and r.complete == 3


def test_a_wandb_export_in_json_takes_config_as_params_and_summary_as_metrics(tmp_path):
    from refine.import_trials import import_trials

    runs = [
        {
            "name": f"run{i}",
            "state": "finished",
            "config": {"lr": 10 ** -(1 + i % 4), "opt": ("adam", "sgd")[i % 2]},
            "summary": {"val_f1": 0.5 + i / 100, "epoch": 10},
        }
        for i in range(12)
    ]
    runs.append({"name": "dead", "state": "crashed", "config": {"lr": 0.01, "opt": "adam"}, "summary": {}})
    path = tmp_path / "wandb.json"
    path.write_text(json.dumps(runs))
    db = str(tmp_path / "s.db")
    result = import_trials(path, storage=db, study="w", value="val_f1", direction="maximize")
    assert result.complete == 12 and result.failed == 1 and set(result.params) == {"lr", "opt"}
    study = load_study(db, "w")
    assert study.trials[0].distributions["lr"].log and study.trials[0].user_attrs["epoch"] == 10


@pytest.mark.parametrize(
    "bad, column, message",
    [
        ({"loss": "n/a"}, "loss", "is not a finite number"),
        ({"x": 1.5}, "x", "is not a value of 'x'"),
        ({"encoder": "mlp"}, "encoder", "is not a value of 'encoder'"),
        ({"depth": None}, "depth", "empty, but 'depth' is active"),
    ],
)
def test_a_row_that_cannot_be_placed_is_refused_by_row_and_column(tmp_path, capsys, bad, column, message):
    rows = _rows(5)
    rows[3] = {**rows[3], **bad}
    table = _csv(tmp_path / "sweep.csv", rows)
    space = Space(
        name="p",
        version=1,
        params={
            "x": FloatParam(low=0, high=1),
            "depth": IntParam(low=1, high=3),
            "encoder": CategoricalParam(choices=("cnn", "context")),
        },
    )
    save_space(space, tmp_path / "p.v1.yaml")
    db = tmp_path / "s.db"
    code, _, err = cli(
        capsys,
        "import-trials",
        str(table),
        "--storage",
        str(db),
        "--study",
        "past",
        "--value",
        "loss",
        "--space",
        str(tmp_path / "p.v1.yaml"),
    )
    assert code == 2 and f"row 4, column '{column}'" in err and message in err, err
    assert not db.exists()  # nothing written


def test_importing_into_a_study_that_holds_trials_is_refused(tmp_path, capsys):
    table = _csv(tmp_path / "sweep.csv", _rows(4))
    db = str(tmp_path / "s.db")
    assert cli(capsys, "import-trials", str(table), "--storage", db, "--study", "past", "--value", "loss")[0] == 0
    code, _, err = cli(capsys, "import-trials", str(table), "--storage", db, "--study", "past", "--value", "loss")
    assert code == 2 and "already exists" in err and len(load_study(db, "past").trials) == 4


def test_a_missing_value_column_names_the_columns(tmp_path, capsys):
    table = _csv(tmp_path / "sweep.csv", _rows(3))
    code, _, err = cli(
        capsys, "import-trials", str(table), "--storage", str(tmp_path / "s.db"), "--study", "p", "--value", "acc"
    )
    assert code == 2 and "no column 'acc'" in err and "loss" in err
