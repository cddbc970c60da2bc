"""Messy real studies: each test is a study people actually have, and what they expect.

Studies are written with Optuna's own ``create_trial`` + ``add_trials`` into
SQLite files in ``tmp_path`` (fast, and exactly what Optuna stores), then read
by the reader, the engine and the command line.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

import refine
from refine.errors import StudyError
from refine.space import CategoricalParam, Condition, FloatParam
from refine.spacefile import load_space
from refine.study import COMPLETE, PRUNED, read_study

ENGINES = ("sqlite", "optuna")


def _trial(params: dict[str, Any], dists: dict[str, Any], value: Any = None, *, state=TrialState.COMPLETE, steps=None):
    values = None if value is None else (list(value) if isinstance(value, (list, tuple)) else [value])
    return create_trial(params=params, distributions=dists, values=values, state=state, intermediate_values=steps or {})


def _write(path: Path, trials: Sequence, *, name: str = "messy", directions=("minimize",)) -> str:
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name=name, directions=list(directions))
    study.add_trials(trials)
    return str(path)


def _write_in_parts(path: Path, parts: Sequence[Sequence], *, name: str = "messy") -> str:
    """One study whose parts used incompatible distributions for a parameter.

    Current Optuna refuses that within one study, but older releases, several
    code versions sharing one storage and hand-merged files have it: each part
    is written as its own study, then the trials are moved into the first one.
    """
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    for i, part in enumerate(parts):
        optuna.create_study(storage=storage, study_name=f"{name}-{i}").add_trials(part)
    storage.engine.dispose()
    con = sqlite3.connect(path)
    ids = [r[0] for r in con.execute("SELECT study_id FROM studies ORDER BY study_id")]
    for sid in ids[1:]:
        (offset,) = con.execute("SELECT count(*) FROM trials WHERE study_id=?", (ids[0],)).fetchone()
        con.execute("UPDATE trials SET study_id=?, number=number+? WHERE study_id=?", (ids[0], offset, sid))
        con.execute("DELETE FROM study_directions WHERE study_id=?", (sid,))
        con.execute("DELETE FROM studies WHERE study_id=?", (sid,))
    con.execute("UPDATE studies SET study_name=? WHERE study_id=?", (name, ids[0]))
    con.commit()
    con.close()
    return str(path)


def _cli(*args: Any, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refine", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def _one_error_line(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
    return lines[0]


def _refine(path: str, **settings):
    return refine.next_space(path, config=False, entry_points=False, **settings)


X = {"x": FloatDistribution(0.0, 1.0)}
XC = {"x": FloatDistribution(0.0, 1.0), "opt": CategoricalDistribution(["adam", "sgd"])}


def _bowl(rng: np.random.Generator, n: int, *, noise: float = 0.01) -> list:
    """``n`` COMPLETE trials of a bowl in x around 0.3, opt=adam slightly better."""
    trials = []
    for _ in range(n):
        x, opt = float(rng.uniform()), str(rng.choice(["adam", "sgd"]))
        value = (x - 0.3) ** 2 + (0.0 if opt == "adam" else 0.02) + rng.normal(0, noise)
        trials.append(_trial({"x": x, "opt": opt}, XC, value))
    return trials


# --------------------------------------------------------------------------- unfinished studies


def test_no_complete_trial_is_nothing_to_refine(tmp_path):
    rng = np.random.default_rng(0)
    trials = [_trial({"x": float(rng.uniform())}, X, state=TrialState.RUNNING) for _ in range(3)]
    trials += [_trial({"x": float(rng.uniform())}, X, state=TrialState.FAIL) for _ in range(5)]
    path = _write(tmp_path / "s.db", trials)
    line = _one_error_line(_cli("next-space", path, "--out", tmp_path / "out"))
    assert "nothing to refine" in line
    assert "3 RUNNING" in line and "5 FAIL" in line
    assert not (tmp_path / "out").exists()
    for command in ("inspect", "show"):
        run = _cli(command, path)
        assert run.returncode == 0, run.stderr
        assert "FAIL" in run.stdout
    show = json.loads(_cli("show", path, "--json").stdout)
    assert show["trials"] == {"RUNNING": 3, "FAIL": 5} and show["best"] is None


def test_non_finite_values_are_left_out_and_counted(tmp_path):
    rng = np.random.default_rng(1)
    trials = _bowl(rng, 60)
    # A diverged run reports -inf (the "best" under minimize) and +inf; a NaN fails the trial.
    trials += [_trial({"x": 0.95, "opt": "sgd"}, XC, -math.inf) for _ in range(3)]
    trials += [_trial({"x": 0.9, "opt": "sgd"}, XC, math.inf) for _ in range(2)]
    trials += [_trial({"x": 0.05, "opt": "sgd"}, XC, state=TrialState.FAIL) for _ in range(2)]
    path = _write(tmp_path / "s.db", trials)
    assert np.isinf(read_study(path).values).sum() == 5
    result = _refine(path)
    ev = result.evidence
    assert ev.n_ranked == 60 and ev.non_finite == 5
    assert np.isfinite(ev.objective[ev.elites]).all()
    assert math.isfinite(result.rationale["best"]["value"]) and result.rationale["best"]["params"]["x"] < 0.9
    sgd = ev.params["opt"].stats("sgd")
    assert sgd.trials < 60 and math.isfinite(sgd.mean) and math.isfinite(sgd.median)
    assert ev.params["x"].elite_high < 0.9
    assert any("5 COMPLETE trial(s)" in f for f in result.rationale["red_flags"])
    json.dumps(result.rationale, allow_nan=False)


def test_running_and_failed_trials_are_ignored_and_reported(tmp_path):
    rng = np.random.default_rng(2)
    trials = _bowl(rng, 17)
    # Failed and killed trials sit where no good trial is: they must not pull the space.
    trials += [_trial({"x": float(rng.uniform(0.8, 1.0)), "opt": "sgd"}, XC, state=TrialState.FAIL) for _ in range(120)]
    trials += [_trial({"x": 0.99, "opt": "sgd"}, XC, state=TrialState.RUNNING) for _ in range(4)]
    path = _write(tmp_path / "s.db", trials)
    result = _refine(path)
    ev = result.evidence
    assert ev.n_ranked == 17 and ev.n_elites == 5
    assert (read_study(path).states[ev.elites] == COMPLETE).all()
    assert ev.params["x"].n == 17 and ev.params["opt"].n == 17
    flags = " | ".join(result.rationale["red_flags"])
    assert "120 of 141" in flags and "FAIL" in flags
    assert "4 trial(s) still RUNNING" in flags
    assert "17 ranked" in flags


def test_heavily_pruned_study_keeps_pruned_out_of_elites(tmp_path):
    rng = np.random.default_rng(3)
    trials = _bowl(rng, 9)
    for _ in range(291):  # 97 % PRUNED; their last intermediate value looks better than any COMPLETE one
        x = float(rng.uniform())
        steps = {0: 1.0, 1: 0.5, 2: -1.0 - x}
        trials.append(_trial({"x": x, "opt": "sgd"}, XC, steps[2], state=TrialState.PRUNED, steps=steps))
    path = _write(tmp_path / "s.db", trials)
    data = read_study(path)
    assert (data.states == PRUNED).sum() == 291
    assert np.isfinite(data.last_intermediate[data.states == PRUNED]).all()
    result = _refine(path)
    ev = result.evidence
    assert ev.n_ranked == 9
    assert not (data.states[ev.elites] == PRUNED).any()
    flags = " | ".join(result.rationale["red_flags"])
    assert "291 of 300" in flags and "PRUNED" in flags and "include_pruned" in flags
    assert "9 ranked" in flags  # how much evidence is left
    with_pruned = _refine(path, include_pruned=True)
    assert with_pruned.evidence.n_ranked == 300
    flags = " | ".join(with_pruned.rationale["red_flags"])
    assert "ranked by their last intermediate value" in flags and "left out of the elites" not in flags


# --------------------------------------------------------------------------- odd distributions


@pytest.mark.parametrize("engine", ENGINES)
def test_one_choice_categorical_and_single_value_int_are_fixed(tmp_path, engine):
    rng = np.random.default_rng(4)
    dists = {
        **XC,
        "optimizer": CategoricalDistribution(["adamw"]),
        "batch_size": CategoricalDistribution([32]),
        "amp": CategoricalDistribution([True]),
        "layers": IntDistribution(4, 4),
        "warmup": FloatDistribution(0.1, 0.1),
    }
    fixed = {"optimizer": "adamw", "batch_size": 32, "amp": True, "layers": 4, "warmup": 0.1}
    trials = [_trial({**t.params, **fixed}, dists, t.value) for t in _bowl(rng, 30)]
    path = _write(tmp_path / "s.db", trials)
    data = read_study(path, engine=engine)
    assert data.inferred.fixed == fixed
    assert set(data.inferred.params) == {"x", "opt"}
    assert all(data.config(i).items() >= fixed.items() for i in range(30))
    result = _refine(path, disabled=("narrow", "expand", "bias", "fix", "drop"))
    assert result.space.fixed == fixed
    assert result.rationale["wasted_trial_share"] == 0.0  # every trial had the fixed values


@pytest.mark.parametrize("engine", ENGINES)
def test_changed_range_is_read_as_the_union_with_a_note(tmp_path, engine):
    rng = np.random.default_rng(5)
    trials = []
    for i in range(40):
        # Range moved (lr) and grew (dropout) after trial 19.
        lr_d = FloatDistribution(1e-4, 1e-2, log=True) if i < 20 else FloatDistribution(1e-3, 1e-1, log=True)
        dr_d = FloatDistribution(0.0, 0.3) if i < 20 else FloatDistribution(0.0, 0.5)
        lr = float(math.exp(rng.uniform(math.log(lr_d.low), math.log(lr_d.high))))
        dr = float(rng.uniform(dr_d.low, dr_d.high))
        trials.append(_trial({"lr": lr, "dropout": dr}, {"lr": lr_d, "dropout": dr_d}, abs(math.log10(lr) + 2.5) + dr))
    path = _write(tmp_path / "s.db", trials)
    data = read_study(path, engine=engine)
    assert data.inferred.params["lr"] == FloatParam(low=1e-4, high=1e-1, log=True)
    assert data.inferred.params["dropout"] == FloatParam(low=0.0, high=0.5)
    assert any("'lr'" in n and "union" in n for n in data.notes)
    assert any("'dropout'" in n and "union" in n for n in data.notes)
    lr = data.columns["lr"]
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    assert "union" in " ".join(_refine(path).rationale["notes"])


@pytest.mark.parametrize("engine", ENGINES)
def test_int_retyped_to_float_is_read_as_float_union(tmp_path, engine):
    rng = np.random.default_rng(6)
    trials = []
    for i in range(30):
        d = IntDistribution(2, 10) if i < 15 else FloatDistribution(2.0, 12.0)
        v = int(rng.integers(2, 11)) if i < 15 else float(rng.uniform(2, 12))
        trials.append(_trial({"max_depth": v}, {"max_depth": d}, float(v)))
    path = _write_in_parts(tmp_path / "s.db", [trials[:15], trials[15:]])
    data = read_study(path, engine=engine)
    p = data.inferred.params["max_depth"]
    assert isinstance(p, FloatParam) and (p.low, p.high) == (2.0, 12.0)
    assert any("'max_depth'" in n and "retyped" in n for n in data.notes)
    assert [data.value_of("max_depth", i) for i in range(30)] == [t.params["max_depth"] for t in trials]
    _refine(path)


@pytest.mark.parametrize("engine", ENGINES)
def test_int_retyped_to_categorical_is_read_as_choices_seen(tmp_path, engine):
    rng = np.random.default_rng(7)
    trials = []
    for i in range(30):
        if i < 15:
            d, v = IntDistribution(100, 300, step=100), int(rng.choice([100, 200, 300]))
        else:
            d, v = CategoricalDistribution([200, 500, 1000]), int(rng.choice([200, 500, 1000]))
        trials.append(_trial({"n_estimators": v}, {"n_estimators": d}, float(v)))
    path = _write_in_parts(tmp_path / "s.db", [trials[:15], trials[15:]])
    data = read_study(path, engine=engine)
    p = data.inferred.params["n_estimators"]
    assert isinstance(p, CategoricalParam) and set(p.choices) == {100, 200, 300, 500, 1000}
    assert any("'n_estimators'" in n and "retyped" in n for n in data.notes)
    assert [data.value_of("n_estimators", i) for i in range(30)] == [t.params["n_estimators"] for t in trials]
    _refine(path)


@pytest.mark.parametrize("engine", ENGINES)
def test_space_swapped_mid_study_is_not_a_condition(tmp_path, engine):
    rng = np.random.default_rng(8)
    first = {**XC, "momentum": FloatDistribution(0.0, 0.99)}
    second = {**XC, "label_smoothing": FloatDistribution(0.0, 0.2)}
    trials = []
    for i in range(60):
        dists = first if i < 30 else second
        params = {"x": float(rng.uniform()), "opt": str(rng.choice(["adam", "sgd"]))}
        extra = "momentum" if i < 30 else "label_smoothing"
        params[extra] = float(rng.uniform(dists[extra].low, dists[extra].high))
        trials.append(_trial(params, dists, params["x"]))
    path = _write(tmp_path / "s.db", trials)
    data = read_study(path, engine=engine)
    assert data.inferred.params["momentum"].when is None
    assert data.inferred.params["label_smoothing"].when is None
    notes = " | ".join(data.notes)
    assert "'momentum' is absent in trials 30-59" in notes and "changed mid-study" in notes
    assert "'label_smoothing' is absent in trials 0-29" in notes
    result = _refine(path)
    assert "changed mid-study" in " ".join(result.rationale["notes"])


def test_range_spanning_twenty_decades_is_refined_on_the_log_scale(tmp_path):
    rng = np.random.default_rng(9)
    dists = {"alpha": FloatDistribution(1e-10, 1e10, log=True), "noise": FloatDistribution(0.0, 1.0)}
    trials = []
    for _ in range(150):
        alpha = float(10 ** rng.uniform(-10, 10))
        noise = float(rng.uniform())
        trials.append(_trial({"alpha": alpha, "noise": noise}, dists, abs(math.log10(alpha) + 3.0)))
    path = _write(tmp_path / "s.db", trials)
    result = _refine(path)
    ev = result.evidence.params["alpha"]
    assert ev.log and ev.p < 0.05 and ev.ks_p < 0.05
    assert 1e-5 < ev.elite_quantiles[1] < 1e-1  # the elites' median near the optimum, not near 5e9
    new = result.space.params["alpha"]
    best = result.rationale["best"]["params"]["alpha"]
    decision = next(d for d in result.decisions if d.param == "alpha")
    assert decision.action == "narrow" and new.log
    assert new.low <= best <= new.high and new.low < 1e-3 < new.high
    decades = math.log10(new.high) - math.log10(new.low)
    assert 0.5 < decades < 12, (new.low, new.high)
    assert new.low > 1e-10 and new.high < 1e10


def test_unsafe_study_and_param_names_give_safe_file_names(tmp_path):
    rng = np.random.default_rng(10)
    name = "resnet | lr sweep/2024 run#3"
    dists = {
        "learning rate": FloatDistribution(1e-5, 1e-1, log=True),
        "head|tail": CategoricalDistribution(["a", "b"]),
        "enc/dec": IntDistribution(1, 8),
    }
    trials = []
    for _ in range(40):
        p = {
            "learning rate": float(10 ** rng.uniform(-5, -1)),
            "head|tail": str(rng.choice(["a", "b"])),
            "enc/dec": int(rng.integers(1, 9)),
        }
        trials.append(_trial(p, dists, abs(math.log10(p["learning rate"]) + 3) + p["enc/dec"] * 0.01))
    path = _write(tmp_path / "s.db", trials, name=name)
    out = tmp_path / "out"
    run = _cli("next-space", path, "--out", out, "--json")
    assert run.returncode == 0, run.stderr
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 3 and all(re.fullmatch(r"[A-Za-z0-9_.-]+", f) for f in files), files
    space_path = Path(json.loads(run.stdout)["space_path"])
    space = load_space(space_path)
    assert set(space.params) == {"learning rate", "head|tail", "enc/dec"}
    rationale = json.loads(space_path.with_suffix(".json").read_text())
    assert rationale["study"]["name"] == name
    assert name in space_path.with_suffix(".md").read_text()
    inspect = json.loads(_cli("inspect", path, "--json").stdout)
    assert inspect["studies"][0]["name"] == name


@pytest.mark.slow
def test_fifty_studies_in_one_file(tmp_path):
    path = tmp_path / "many.db"
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    rng = np.random.default_rng(11)
    names = [f"sweep-{i:02d}" for i in range(50)]
    for i, name in enumerate(names):
        study = optuna.create_study(storage=storage, study_name=name)
        study.add_trials([_trial({"x": float(rng.uniform())}, X, float(rng.uniform())) for _ in range(i % 7 + 1)])
        if i % 10 == 0:
            study.add_trial(_trial({"x": 0.5}, X, state=TrialState.FAIL))
    storage.engine.dispose()
    start = time.perf_counter()
    run = _cli("inspect", path, "--json")
    elapsed = time.perf_counter() - start
    print(f"refine inspect on 50 studies: {elapsed:.2f} s (process start included)")
    assert run.returncode == 0, run.stderr
    studies = json.loads(run.stdout)["studies"]
    assert [s["name"] for s in studies] == names
    assert studies[10]["trials"] == {"COMPLETE": 4, "FAIL": 1} and studies[10]["n_trials"] == 5
    assert studies[6]["trials"] == {"COMPLETE": 7}
    line = _one_error_line(_cli("next-space", path, "--out", tmp_path / "out"))
    assert "50 studies" in line and "--study" in line
    assert all(f"'{n}'" in line for n in names)
    assert "'sweep-13'" in _one_error_line(_cli("next-space", path, "--study", "nope"))
    run = _cli("next-space", path, "--study", "sweep-06", "--out", tmp_path / "out", "--json")
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_multi_objective_studies_are_refined(tmp_path, n_objectives):
    rng = np.random.default_rng(12)
    directions = ("minimize", "maximize", "minimize")[:n_objectives]
    dists = {
        "x": FloatDistribution(0.0, 1.0),
        "depth": IntDistribution(1, 10),
        "opt": CategoricalDistribution(["adam", "sgd"]),
    }
    trials = []
    for _ in range(80):
        p = {"x": float(rng.uniform()), "depth": int(rng.integers(1, 11)), "opt": str(rng.choice(["adam", "sgd"]))}
        values = [p["x"] + 0.01 * p["depth"], p["x"] * (2 if p["opt"] == "adam" else 1), p["depth"] / 10][:n_objectives]
        trials.append(_trial(p, dists, values))
    trials.append(_trial({"x": 0.5, "depth": 3, "opt": "sgd"}, dists, state=TrialState.FAIL))
    trials.append(_trial({"x": 0.5, "depth": 3, "opt": "sgd"}, dists, [math.inf] * n_objectives))
    path = _write(tmp_path / "s.db", trials, directions=directions)
    assert read_study(path).values.shape == (82, n_objectives)
    out = tmp_path / "out"
    run = _cli("next-space", path, "--out", out, "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["version"] == 2 and {d["param"] for d in doc["decisions"]} == {"x", "depth", "opt"}
    space = load_space(doc["space_path"])
    assert space.directions == directions
    rationale = json.loads(Path(doc["space_path"]).with_suffix(".json").read_text())
    assert rationale["elites"]["ranked"] == 80 and rationale["elites"]["ranked_by"] == "Pareto fronts"
    assert len(rationale["best"]["value"]) == n_objectives


def test_unknown_study_is_a_one_line_error(tmp_path):
    path = _write(tmp_path / "s.db", _bowl(np.random.default_rng(13), 5))
    with pytest.raises(StudyError, match="no study named 'other'.*'messy'"):
        read_study(path, "other")


@pytest.mark.parametrize("engine", ENGINES)
def test_non_finite_intermediate_values_are_read(tmp_path, engine):
    steps = [{0: 1.0, 1: math.inf}, {0: 1.0, 1: -math.inf}, {0: 1.0, 1: math.nan}, {0: 1.0, 3: 2.5}]
    trials = [_trial({"x": 0.5}, X, 1.0, state=TrialState.PRUNED, steps=s) for s in steps]
    data = read_study(_write(tmp_path / "s.db", trials), engine=engine)
    last = data.last_intermediate
    assert last[0] == math.inf and last[1] == -math.inf and math.isnan(last[2]) and last[3] == 2.5


def test_a_flat_objective_changes_nothing_and_says_so(tmp_path):
    # every trial scores 1.0 while x drifts with the trial number: the first trials by number are not elites by merit
    dists = {"x": FloatDistribution(0, 1)}
    path = _write(tmp_path / "s.db", [_trial({"x": i / 40}, dists, 1.0) for i in range(40)])
    result = refine.next_space(path, config=False)
    assert not result.changed
    assert any("same value" in f for f in result.rationale["red_flags"])


def test_ties_at_the_elite_cutoff_are_all_elites(tmp_path):
    dists = {"x": FloatDistribution(0, 1)}
    values = [0.0] * 3 + [1.0] * 30 + [2.0] * 7  # 20 % of 40 is 8: the cut falls inside the tie at 1.0
    path = _write(tmp_path / "s.db", [_trial({"x": (i * 0.37) % 1}, dists, v) for i, v in enumerate(values)])
    result = refine.next_space(path, config=False)
    assert result.evidence.n_elites == 33


@pytest.mark.parametrize("engine", ENGINES)
def test_trials_breaking_optuna_constraints_are_left_out(tmp_path, engine, capsys):
    # minimize x, feasible only where x >= 0.3 (Optuna: every constraint value <= 0); Optuna's best is the feasible one
    rng = np.random.default_rng(0)
    dists = {"x": FloatDistribution(0, 1)}
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="c")
    for x in rng.random(40):
        study.add_trial(
            create_trial(
                params={"x": float(x)},
                distributions=dists,
                value=float(x),
                system_attrs={"constraints": [0.3 - float(x)]},
            )
        )
    path = str(tmp_path / "s.db")
    data = read_study(path, engine=engine)
    assert data.infeasible is not None and data.infeasible.sum() == (data.columns["x"] < 0.3).sum() > 0
    result = refine.next_space(data, config=False)
    assert result.evidence.best_config["x"] == study.best_trial.params["x"]
    assert any("constraints" in n for n in result.rationale["notes"])
    best = json.loads(_cli("best", path, "--json").stdout)
    assert best["trial"] == study.best_trial.number


def test_best_skips_infinite_values_and_prints_strict_json(tmp_path):
    dists = {"x": FloatDistribution(0, 1)}
    trials = [_trial({"x": i / 10}, dists, float("-inf") if i % 4 == 0 else i / 10) for i in range(10)]
    path = _write(tmp_path / "s.db", trials)
    proc = _cli("best", path, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(c))["value"] == 0.1


def test_best_reads_a_remembered_space_stored_as_a_mapping(tmp_path):
    dists = {"x": FloatDistribution(0, 1)}
    path = _write(tmp_path / "s.db", [_trial({"x": i / 10}, dists, i / 10) for i in range(10)])
    study = optuna.load_study(study_name="messy", storage=f"sqlite:///{path}")
    study.set_user_attr(
        "refine:space", {"name": "m", "version": 2, "params": {"x": {"type": "float", "low": 0, "high": 1}}}
    )
    proc = _cli("best", path, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["space"] == "m v2"


def test_a_log_scale_dropped_mid_study_stays_log(tmp_path):
    rng = np.random.default_rng(3)
    log, lin = {"lr": FloatDistribution(1e-5, 1.0, log=True)}, {"lr": FloatDistribution(1e-5, 1.0)}
    part1 = [_trial({"lr": float(10 ** rng.uniform(-5, 0))}, log, float(rng.random())) for _ in range(20)]
    part2 = [_trial({"lr": float(rng.uniform(1e-5, 1))}, lin, float(rng.random())) for _ in range(20)]
    data = read_study(_write_in_parts(tmp_path / "s.db", [part1, part2]))
    lr = data.space.params["lr"]
    assert lr.log and lr.low == 1e-5  # one linear stage must not make a learning rate's next range start at 0


def test_a_locked_database_is_named_as_locked_not_foreign(tmp_path):
    dists = {"x": FloatDistribution(0, 1)}
    path = _write(tmp_path / "s.db", [_trial({"x": i / 10}, dists, i / 10) for i in range(10)])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = _cli("inspect", path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 2 and "locked by another process" in proc.stderr and "not an Optuna" not in proc.stderr


def test_a_given_space_that_types_a_parameter_differently_is_flagged(tmp_path):
    dists = {"x": FloatDistribution(0, 10)}
    path = _write(tmp_path / "s.db", [_trial({"x": i / 4}, dists, i / 4) for i in range(40)])
    other = tmp_path / "cat.v1.yaml"
    other.write_text("name: cat\nversion: 1\nparams:\n  x: {type: categorical, choices: [a, b]}\n", encoding="utf-8")
    result = refine.next_space(path, space=other, config=False)
    assert any(
        "'x' is categorical in the given space but the study searched it as float" in f
        for f in result.rationale["red_flags"]
    )


def test_a_range_near_the_float_limits_reads_and_refines(tmp_path):
    rng = np.random.default_rng(5)
    dists = {"x": FloatDistribution(-1.7e308, 1.7e308)}
    xs = rng.uniform(-1, 1, 40) * 1.7e308
    path = _write(tmp_path / "s.db", [_trial({"x": float(x)}, dists, abs(float(x)) / 1e308) for x in xs])
    show = _cli("show", path)
    assert show.returncode == 0 and "Traceback" not in show.stderr and "Warning" not in show.stderr
    proc = _cli("next-space", path, "--dry-run")
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("coin", [False, True])
def test_a_nested_condition_is_inferred_from_what_its_trials_share(tmp_path, engine, coin):
    # heads exists only when enc == 'ctx' and layers > 2: exactly `when: {layers: [3, 4, 5]}` (layers itself
    # only with enc == 'ctx'); with a coin flip on top no condition explains it, but enc == 'ctx' is necessary
    rng = np.random.default_rng(2)
    enc_d, layers_d, heads_d = (
        CategoricalDistribution(["cnn", "ctx", "none"]),
        IntDistribution(1, 5),
        CategoricalDistribution([1, 2, 4]),
    )
    trials = []
    for _ in range(60):
        enc = str(rng.choice(["cnn", "ctx", "none"]))
        params, dists = {"enc": enc}, {"enc": enc_d}
        if enc == "ctx":
            params["layers"], dists["layers"] = int(rng.integers(1, 6)), layers_d
            if params["layers"] > 2 and (not coin or rng.random() < 0.6):
                params["heads"], dists["heads"] = int(rng.choice([1, 2, 4])), heads_d
        trials.append(_trial(params, dists, float(rng.random())))
    data = read_study(_write(tmp_path / "s.db", trials), engine=engine)
    heads = data.space.params["heads"]
    if not coin:
        assert heads.when == Condition("layers", [3, 4, 5])
        assert data.space.params["layers"].when == Condition("enc", ["ctx"])
        return
    assert heads.when is not None and heads.when.parent == "enc" and list(heads.when.values) == ["ctx"]
    assert any("'heads' was sampled only when enc" in n for n in data.notes)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("choices", [[0, False, None, 1, True], [1, "1", None, True, 2.5]])
def test_choices_optuna_cannot_tell_apart_give_a_space_that_validates(tmp_path, engine, choices):
    # Optuna records True as 1 and False as 0 when both are choices: those never reach the study.
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="mixed")
    rng = np.random.default_rng(3)
    for _ in range(40):
        t = study.ask({"c": CategoricalDistribution(choices), "x": FloatDistribution(0, 1)})
        study.tell(t, t.params["x"] + (0.0 if t.params["c"] is None else 1.0) + rng.normal(0, 0.01))
    data = read_study(tmp_path / "s.db", engine=engine)
    recorded = {data.value_of("c", i) for i in range(data.n_trials)}
    kept = data.inferred.params["c"].choices
    assert recorded <= set(kept) and not any(isinstance(c, bool) for c in kept)
    assert any("cannot tell apart" in n and "'c'" in n for n in data.notes), data.notes
    out = _cli("next-space", tmp_path / "s.db", "--out", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    check = _cli("validate", tmp_path / "out" / "mixed.v2.yaml")
    assert check.returncode == 0, check.stderr


def test_a_given_space_most_trials_lie_outside_is_flagged(tmp_path):
    rng = np.random.default_rng(4)
    dists = {"x": FloatDistribution(0, 10), "opt": CategoricalDistribution(["adam", "sgd", "rmsprop"])}
    trials = []
    for _ in range(60):
        x, opt = float(rng.uniform(0, 10)), str(rng.choice(["adam", "sgd", "rmsprop"]))
        trials.append(_trial({"x": x, "opt": opt}, dists, x))
    path = _write(tmp_path / "s.db", trials)
    other = tmp_path / "s.v1.yaml"
    other.write_text(
        "name: s\nversion: 1\nparams:\n  x: {type: float, low: 0, high: 2}\n  opt: {type: categorical, "
        "choices: [adam, sgd]}\n",
        encoding="utf-8",
    )
    flags = refine.next_space(path, space=other, config=False).rationale["red_flags"]
    x_out = sum(t.params["x"] > 2 for t in trials)
    opt_out = sum(t.params["opt"] == "rmsprop" for t in trials)
    assert any(f"'x': {x_out} of 60 ranked trials lie outside the given range [0.0, 2.0]" in f for f in flags), flags
    assert any(f"'opt': {opt_out} of 60 ranked trials lie outside the given choices" in f for f in flags), flags
    same = tmp_path / "same.v1.yaml"
    same.write_text(
        "name: s\nversion: 1\nparams:\n  x: {type: float, low: 0, high: 10}\n  opt: {type: categorical, "
        "choices: [adam, sgd, rmsprop]}\n"
    )
    assert not any(
        "outside the given" in f for f in refine.next_space(path, space=same, config=False).rationale["red_flags"]
    )


def test_a_nan_choice_is_read(tmp_path):
    trials = [
        _trial(
            {"c": [1.0, math.nan][i % 2], "x": i / 20},
            {"c": CategoricalDistribution([1.0, math.nan]), "x": FloatDistribution(0, 1)},
            float(i),
        )
        for i in range(20)
    ]
    path = _write(tmp_path / "s.db", trials)
    data = read_study(path)
    assert math.isnan(data.value_of("c", 1)) and data.value_of("c", 0) == 1.0
    assert _cli("next-space", path, "--dry-run").returncode == 0


def test_grids_of_one_step_that_start_apart_are_read_without_the_step(tmp_path):
    # 0, 2, 4, ... and 1, 3, 5, ...: step 2 would make half the trials lie off the space
    trials = [_trial({"k": 2 * (i % 4)}, {"k": IntDistribution(0, 8, step=2)}, float(i)) for i in range(10)]
    trials += [_trial({"k": 1 + 2 * (i % 3)}, {"k": IntDistribution(1, 7, step=2)}, float(i)) for i in range(10)]
    path = _write_in_parts(tmp_path / "s.db", [trials[:10], trials[10:]])
    p = read_study(path).inferred.params["k"]
    assert (p.low, p.high, p.step) == (0, 8, 1)


def test_a_choice_that_never_ran_is_a_red_flag(tmp_path):
    rng = np.random.default_rng(9)
    dists = {"x": FloatDistribution(0.0, 1.0), "opt": CategoricalDistribution(["adam", "sgd", "lion"])}
    trials = [
        _trial({"x": float(x), "opt": ["adam", "sgd"][i % 2]}, dists, float(x))
        for i, x in enumerate(rng.uniform(size=30))
    ]
    flags = _refine(_write(tmp_path / "s.db", trials)).rationale["red_flags"]
    assert any("'opt': 'lion' never ran in a ranked trial" in f and "--fill-gaps" in f for f in flags), flags
    tried = [
        _trial({"x": float(x), "opt": ["adam", "sgd", "lion"][i % 3]}, dists, float(x))
        for i, x in enumerate(rng.uniform(size=30))
    ]
    assert not any("never ran" in f for f in _refine(_write(tmp_path / "t.db", tried)).rationale["red_flags"])


def test_a_nan_choice_that_wins_every_elite_against_fair_rivals_is_fixed(tmp_path):
    # the fix rule matches a NaN choice as itself, as the other rules do: it was its own rival, and the parameter was
    # kept with "no decisive choice" at Kruskal-Wallis p=6e-15
    nan = float("nan")
    dists = {**X, "clip": CategoricalDistribution([nan, 0.5, 1.0])}
    rng = np.random.default_rng(11)
    trials = []
    for i in range(90):
        x, clip = float(rng.uniform()), [nan, 0.5, 1.0][i % 3]
        trials.append(_trial({"x": x, "clip": clip}, dists, (x - 0.3) ** 2 + (0.0 if math.isnan(clip) else 0.5 * clip)))
    path = _write(tmp_path / "s.db", trials)
    result = refine.next_space(path, config=False, entry_points=False)
    d = next(d for d in result.decisions if d.param == "clip")
    assert d.action == "fix" and "all elites chose nan" in d.reason, d.reason
    assert math.isnan(result.space.fixed["clip"]) and "clip" not in result.space.params
    out = tmp_path / "out"
    assert _cli("next-space", path, "--out", str(out)).returncode == 0
    assert "clip: .nan" in (out / "messy.v2.yaml").read_text()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_nan_choice_that_ran_is_tested_and_counted(tmp_path, engine):
    # A NaN choice (say "no clipping"), stored by Optuna and matched by it although nan != nan: its trials count as
    # its own, it is no gap, and it is the best choice here; 2.0 alone never ran.
    nan = float("nan")
    dists = {**X, "clip": CategoricalDistribution([nan, 0.5, 1.0, 2.0])}
    rng = np.random.default_rng(11)
    trials = []
    for i in range(90):
        x, clip = float(rng.uniform()), [nan, 0.5, 1.0][i % 3]
        value = (x - 0.3) ** 2 + (0.0 if math.isnan(clip) else 0.5 * clip)
        trials.append(_trial({"x": x, "clip": clip}, dists, value))
    path = _write(tmp_path / "s.db", trials)
    result = refine.next_space(read_study(path, engine=engine), config=False, entry_points=False)

    stats = result.evidence.params["clip"].choices
    assert [c.trials for c in stats] == [30, 30, 30, 0]
    assert math.isnan(stats[0].value) and stats[0].elite_share == 1.0  # every elite ran with NaN
    assert [c.elite_share for c in stats[1:]] == [0.0, 0.0, 0.0]
    assert result.rationale["evidence"]["clip"]["gaps_never_tested"] == [2.0]
    flags = " | ".join(result.rationale["red_flags"])
    assert "2.0 never ran" in flags and "nan" not in flags.lower()
    untested = [line for line in result.markdown().splitlines() if "never tested" in line]
    assert len(untested) == 1 and untested[0].startswith("- `clip`: ") and untested[0].endswith("never tested: 2.0")
    new = result.space.params["clip"]
    assert new.contains(nan) and new.index(nan) == 0  # the best choice is kept
    assert new.weights is None or math.isclose(sum(new.weights), 1.0, abs_tol=1e-5)
