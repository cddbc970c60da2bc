"""The trial executor (``refine run``) on real studies: SQLite, journal file, PostgreSQL."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import attrs
import optuna
import pytest

from refine.errors import RefineError
from refine.executor import (
    ATTR_PARENT,
    ATTR_SPACE,
    ATTR_VERSION,
    TRIAL_ERROR,
    coverage_gaps,
    load_study,
    make_sampler,
    open_storage,
    parse_study_ref,
    project,
    redact,
    run,
    suggest,
)
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import save_space, space_from_json
from tests.conftest import run_cli as cli
from tests.objectives import quadratic

OBJ = str(Path(__file__).with_name("objectives.py"))
ROOT = Path(__file__).resolve().parent.parent


def space_v1(**kw) -> Space:
    return Space(
        name="demo",
        version=1,
        fixed={"epochs": 20},
        params={
            "x": FloatParam(low=0.0, high=1.0),
            "depth": IntParam(low=1, high=4),
            "encoder": CategoricalParam(choices=("cnn", "context"), weights=(0.75, 0.25)),
            "ctx": IntParam(low=1, high=5, when=Condition("encoder", "context")),
        },
        **kw,
    )


def trials_of(storage: str, study: str):
    return load_study(storage, study).get_trials(deepcopy=False)


def states(storage: str, study: str) -> collections.Counter:
    return collections.Counter(t.state.name for t in trials_of(storage, study))


def test_run_records_space_and_version(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=5, quiet=True)
    study = load_study(db, "a")
    assert space_from_json(study.user_attrs[ATTR_SPACE]) == space_v1()
    assert study.user_attrs[ATTR_VERSION] == 1


def test_the_api_takes_a_space_file_and_paths(tmp_path):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    [r] = run(str(space_file), f"{OBJ}:quadratic", storage=tmp_path / "s.db", study="a", trials=3, quiet=True)
    assert r.complete == 3 and states(str(tmp_path / "s.db"), "a") == {"COMPLETE": 3}
    [r] = run(
        space_file,
        f"{OBJ}:quadratic",
        storage=tmp_path / "s.db",
        study="b",
        trials=2,
        from_=tmp_path / "s.db",
        quiet=True,
    )
    assert r.complete == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"space": {"name": "x"}}, "space must be a refine.Space or the path of a space file, got dict"),
        ({"workers": "2"}, r"workers \(--workers\) must be an integer >= 1, got '2'"),
        ({"trials": 2.5}, r"trials \(--trials\) must be an integer >= 1, got 2.5"),
        ({"warm": -1}, r"warm \(--warm\) must be an integer >= 0"),
        (
            {"objective": 42},
            r"the objective \(--objective\) must be module:function, path/to/file.py:function or a callable",
        ),
    ],
)
def test_the_api_refuses_bad_arguments_as_refine_errors(tmp_path, kwargs, message):
    args = {
        "space": space_v1(),
        "objective": f"{OBJ}:quadratic",
        "storage": str(tmp_path / "s.db"),
        "trials": 2,
        "quiet": True,
    }
    args.update(kwargs)
    space, objective = args.pop("space"), args.pop("objective")
    with pytest.raises(RefineError, match=message):
        run(space, objective, **args)


def test_exactly_n_complete_and_resume_continues(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=6, quiet=True)
    assert states(db, "a") == {"COMPLETE": 6}
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=9, quiet=True)
    assert states(db, "a") == {"COMPLETE": 9}


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


def test_categorical_weights_honoured_while_exploring(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=20, startup=20, quiet=True)
    explored = trials_of(db, "a")[:20]
    share = sum(t.params["encoder"] == "cnn" for t in explored) / len(explored)
    assert abs(share - 0.75) <= 0.10


def test_categorical_weights_with_three_choices_over_ten_trials(tmp_path):
    space = Space(
        name="w",
        version=1,
        params={
            "x": FloatParam(low=0, high=1),
            "c": CategoricalParam(choices=("a", "b", "c"), weights=(0.5, 0.3, 0.2)),
        },
    )
    db = str(tmp_path / "s.db")
    run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=10, quiet=True)
    counts = collections.Counter(t.params["c"] for t in trials_of(db, "a"))
    for choice, w in zip("abc", (0.5, 0.3, 0.2)):
        assert abs(counts[choice] / 10 - w) <= 0.10


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


@pytest.mark.parametrize("sampler", ["random", "qmc"])
def test_other_samplers_run(tmp_path, sampler):
    db = str(tmp_path / "s.db")
    [r] = run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=5, sampler=sampler, quiet=True)
    assert r.complete == 5


@pytest.mark.parametrize("sampler", ["cmaes", pytest.param("gp", marks=pytest.mark.slow)])
def test_model_based_samplers_keep_to_the_space_past_their_startup(tmp_path, sampler):
    pytest.importorskip({"cmaes": "cmaes", "gp": "torch"}[sampler])  # gp needs PyTorch: the examples extra
    space = attrs.evolve(
        space_v1(),
        params={
            **space_v1().params,
            "lr": FloatParam(low=1e-4, high=1e-1, log=True),
            "w": IntParam(low=8, high=64, step=8),
        },
    )
    db = str(tmp_path / "s.db")
    [r] = run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=14, sampler=sampler, startup=6, quiet=True)
    done = trials_of(db, "a")
    assert r.complete == 14 and len(done) == 14
    for t in done:
        assert space.contains(t.params), t.params
        assert ("ctx" in t.params) == (t.params["encoder"] == "context")
        assert (t.params["w"] - 8) % 8 == 0 and isinstance(t.params["w"], int)
    assert len({round(t.params["lr"], 12) for t in done[6:]}) > 1  # the model proposed, not one point repeated


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
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:{objective}",
        "--storage",
        str(tmp_path / "s.db"),
        "--trials",
        "3",
        "--max-failures",
        "4",
        "--quiet",
    )
    assert code == 2 and err.startswith("error: demo-v1: stopped after 4 failed trials with 0 of 3 complete")
    assert says in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_an_objective_written_for_optuna_stops_at_once_and_says_how_to_write_it(tmp_path, capsys, workers):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:define_by_run",
        "--storage",
        str(tmp_path / "s.db"),
        "--trials",
        "5",
        "--workers",
        str(workers),
        "--quiet",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: the objective define_by_run calls suggest_float()") and "params['x']" in err
    from refine.study import read_study

    assert read_study(tmp_path / "s.db").counts().get("FAIL", 0) <= workers  # not --max-failures of them


def test_multi_objective_tuple(tmp_path):
    db = str(tmp_path / "s.db")
    space = Space(name="m", version=1, directions=("minimize", "minimize"), params={"x": FloatParam(low=0, high=1)})
    run(space, f"{OBJ}:two_objectives", storage=db, study="a", trials=4, quiet=True)
    assert all(len(t.values) == 2 for t in trials_of(db, "a"))


def test_seeds_run_one_study_per_seed(tmp_path):
    db = str(tmp_path / "s.db")
    results = run(space_v1(), f"{OBJ}:quadratic", storage=db, study="st", trials=3, seeds=[60, 61], quiet=True)
    assert [r.study for r in results] == ["st-s60", "st-s61"]
    assert states(db, "st-s61") == {"COMPLETE": 3}


def test_warm_start_enqueues_projected_best_and_adds_history(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="v1", trials=20, quiet=True)
    v2 = Space(
        name="demo",
        version=2,
        parent=1,
        fixed={"epochs": 20, "encoder": "cnn"},
        params={"x": FloatParam(low=0.1, high=0.6), "depth": IntParam(low=1, high=3)},
    )
    [r] = run(v2, f"{OBJ}:quadratic", storage=db, study="v2", trials=8, from_=f"{db}:v1", warm=3, quiet=True)
    study = load_study(db, "v2")
    assert study.user_attrs[ATTR_PARENT] == f"{db}:v1"
    parent = load_study(db, "v1")
    top3 = sorted((t for t in parent.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)[:3]
    carried = {
        int(t.user_attrs["refine:history_from"].rsplit("#", 1)[1])
        for t in study.trials
        if "refine:history_from" in t.user_attrs
    }
    outside = [t for t in top3 if t.number not in carried]
    assert r.warm_started == len(outside)  # the best that lie inside v2 are history already, not re-run
    if outside:
        first = min((t for t in study.trials if "refine:warm_start" in t.user_attrs), key=lambda t: t.number)
        assert first.params == project({"epochs": 20, **outside[0].params}, v2)
    history = [t for t in study.trials if "refine:history_from" in t.user_attrs]
    assert len(history) == r.history and r.history > 0
    assert all(v2.contains(t.params) and t.params.keys() == {"x", "depth"} for t in history)
    assert r.complete == 8  # history is not counted as the run's trials


def test_a_weighted_choice_gets_its_share_after_a_warm_start(tmp_path):
    # the history outnumbers --startup, so the model chooses; each weighted choice still gets
    # min(fair_trial, weight x trials) trials, 'mlp' (no history at all) included
    db = str(tmp_path / "s.db")
    v1 = attrs.evolve(space_v1(), params={**space_v1().params, "encoder": CategoricalParam(choices=("cnn", "context"))})
    run(v1, f"{OBJ}:quadratic", storage=db, study="v1", trials=30, quiet=True)
    v2 = attrs.evolve(
        space_v1(),
        version=2,
        parent=1,
        params={
            **space_v1().params,
            "encoder": CategoricalParam(choices=("cnn", "context", "mlp"), weights=(0.7, 0.2, 0.1)),
        },
    )
    [r] = run(v2, f"{OBJ}:quadratic", storage=db, study="v2", trials=20, from_=f"{db}:v1", warm=0, quiet=True)
    assert r.history > 10
    own = collections.Counter(
        t.params["encoder"] for t in load_study(db, "v2").trials if "refine:history_from" not in t.user_attrs
    )
    assert own["mlp"] >= 2, own  # no trial in the history: its share, 10 % of 20, comes from the stage itself
    total = collections.Counter(t.params["encoder"] for t in load_study(db, "v2").trials)
    assert total["context"] >= 4  # the history's trials count toward it: the next stage's evidence reads both
    assert not r.warnings


def test_a_weighted_choice_share_is_capped_at_the_fair_trial(tmp_path):
    db = str(tmp_path / "s.db")
    space = Space(
        name="w",
        version=1,
        params={
            "x": FloatParam(low=0, high=1),
            "c": CategoricalParam(choices=("a", "b"), weights=(0.5, 0.5)),
        },
    )
    run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=16, startup=4, fair_trial=3, quiet=True)
    assert load_study(db, "a").user_attrs["refine:fair_share"] == {"target": 16, "quota": {"c": [3, 3]}}
    counts = collections.Counter(t.params["c"] for t in trials_of(db, "a"))
    assert counts["a"] >= 3 and counts["b"] >= 3


def test_the_reserved_share_is_forced_at_the_end_of_a_cold_stage():
    from refine.executor.sampling import _due

    # cold: the model chooses while enough trials are left for what is owed
    assert _due([4, 4], [6, 0], own=10, target=16, paced=False) is None
    assert _due([4, 4], [8, 0], own=12, target=16, paced=False) == 1
    # warm: a choice behind an even spread of its share is forced early
    assert _due([4, 4], [3, 0], own=3, target=16, paced=True) == 1
    assert _due([4, 4], [4, 4], own=8, target=16, paced=True) is None


def test_warm_start_on_an_unchanged_space_reruns_nothing_known(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="v1", trials=12, quiet=True)
    [r] = run(
        attrs.evolve(space_v1(), version=2, parent=1),
        f"{OBJ}:quadratic",
        storage=db,
        study="v2",
        trials=4,
        from_=f"{db}:v1",
        quiet=True,
    )
    assert r.warm_started == 0 and r.history == 12 and r.complete == 4


def test_warm_start_on_an_unchanged_space_samples_what_running_on_would(tmp_path):
    # the history keeps the parent's order: TPE weighs older trials less, so best-first would discount the best
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="v1", trials=14, quiet=True)
    v2 = attrs.evolve(space_v1(), version=2, parent=1)
    # fair_trial=0: no share reserved for the weighted 'encoder', so nothing but the history steers the sampler
    run(v2, f"{OBJ}:quadratic", storage=db, study="v2", trials=5, seed=7, from_=f"{db}:v1", fair_trial=0, quiet=True)
    warm = [t.params for t in load_study(db, "v2").trials if "refine:history_from" not in t.user_attrs]
    on = optuna.create_study(sampler=make_sampler("tpe", seed=7, space=v2))
    on.add_trials(load_study(db, "v1").trials)
    on.optimize(lambda t: quadratic({**v2.fixed, **suggest(v2, t)}), n_trials=5)
    assert warm == [t.params for t in on.trials[14:]]


def test_warm_start_refuses_another_direction(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="v1", trials=3, quiet=True)
    v2 = space_v1(directions=("maximize",))
    with pytest.raises(RefineError, match="cannot be compared"):
        run(v2, f"{OBJ}:quadratic", storage=db, study="v2", trials=3, from_=f"{db}:v1", quiet=True)


def test_project_clips_snaps_and_drops():
    v2 = Space(
        name="demo",
        version=2,
        fixed={"encoder": "cnn"},
        params={"x": FloatParam(low=0.1, high=0.6, step=0.1), "depth": IntParam(low=2, high=3)},
    )
    assert project({"x": 0.93, "depth": 1, "encoder": "context", "ctx": 3}, v2) == {"x": 0.6, "depth": 2}


def test_extremes_first_place_trials_on_untested_edges(tmp_path):
    db = str(tmp_path / "s.db")
    [r] = run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=6, extremes=4, quiet=True)
    assert r.extremes == 4
    first = sorted(trials_of(db, "a"), key=lambda t: t.number)[:4]
    assert first[0].params["x"] == 0.0 and first[1].params["x"] == 1.0
    assert first[2].params["depth"] == 1 and first[3].params["depth"] == 4


def test_a_gap_holds_grid_points_a_trial_could_take():
    # a log int's first bins lie between integers ([1.35, 1.82) on [1, 20]); a stepped float's bins
    # between its grid points: no trial could land there, so they are no gaps, and a gap's ends are grid points
    space = Space(
        name="g",
        version=1,
        params={"k": IntParam(low=1, high=20, log=True), "w": FloatParam(low=0, high=0.52, step=0.04)},
    )
    assert coverage_gaps(space, [{"k": i, "w": round(0.04 * (i % 14), 2)} for i in range(1, 21)]) == []
    gaps = {g.param: g for g in coverage_gaps(space, [{"k": 1, "w": 0.0}])}
    assert (gaps["k"].low, gaps["k"].high) == (2, 20)
    assert gaps["w"].high == 0.52 and round(gaps["w"].low / 0.04, 9).is_integer()
    wide = Space(name="g", version=1, params={"k": IntParam(low=0, high=20), "x": FloatParam(low=0, high=2, step=0.1)})
    tested = [{"k": k, "x": round(0.1 * k, 1)} for k in range(2, 21)]  # 2 sits on the first bin's upper edge
    assert [(g.param, g.low, g.high) for g in coverage_gaps(wide, tested)] == [("k", 0, 1), ("x", 0.0, 0.1)]


def test_fill_gaps_targets_untested_choices(tmp_path):
    space = Space(
        name="g", version=1, params={"x": FloatParam(low=0, high=1), "c": CategoricalParam(choices=("a", "b", "z"))}
    )
    assert {g.choice for g in coverage_gaps(space, [{"x": 0.5, "c": "a"}]) if g.is_choice} == {"b", "z"}
    db = str(tmp_path / "s.db")
    [r] = run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=4, fill_gaps=3, quiet=True)
    assert r.filled == 3 and not [g for g in r.gaps if g.is_choice]


@pytest.mark.slow
def test_journal_file_four_workers_exactly_100(tmp_path):
    log = str(tmp_path / "study.log")
    [r] = run(
        space_v1(), f"{OBJ}:quadratic", storage=log, study="j", trials=100, workers=4, sampler="random", quiet=True
    )
    trials = trials_of(log, "j")
    assert states(log, "j") == {"COMPLETE": 100} and r.complete == 100
    assert len({t.number for t in trials}) == 100


@pytest.mark.slow
def test_postgres_four_workers_exactly_100(postgres_url):
    [r] = run(
        space_v1(),
        f"{OBJ}:quadratic",
        storage=postgres_url,
        study=f"pg{os.getpid()}",
        trials=100,
        workers=4,
        quiet=True,
    )
    trials = trials_of(postgres_url, r.study)
    assert collections.Counter(t.state.name for t in trials) == {"COMPLETE": 100}
    assert sorted(t.number for t in trials) == list(range(100))


def test_sqlite_with_several_workers_warns(tmp_path):
    db = str(tmp_path / "s.db")
    [r] = run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=4, workers=2, sampler="random", quiet=True)
    assert r.complete == 4 and any("SQLite" in w for w in r.warnings)


@pytest.mark.slow
@pytest.mark.parametrize("wait", [3.5, 0], ids=["after-three-missed-beats", "resumed-at-once"])
def test_crashed_worker_trial_is_failed_and_retried(tmp_path, wait):
    # resumed at once, the run finds the dead trial's heartbeat still fresh: it waits until it is stale, then goes on
    db = tmp_path / "s.db"
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    env = {**os.environ, "REFINE_TEST_CRASH_MARKER": str(tmp_path / "crashed")}
    cmd = [
        sys.executable,
        "-m",
        "refine",
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:crash_once",
        "--storage",
        str(db),
        "--study",
        "c",
        "--trials",
        "3",
        "--heartbeat",
        "1",
        "--quiet",
    ]
    assert subprocess.run(cmd, env=env, cwd=tmp_path).returncode == 3  # the process died mid-trial
    assert states(str(db), "c")["RUNNING"] == 1
    time.sleep(wait)  # three missed heartbeats, or none
    resumed = subprocess.run(cmd, env=env, cwd=tmp_path, timeout=60, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    c = states(str(db), "c")
    assert c["RUNNING"] == 0 and c["COMPLETE"] == 3 and c["FAIL"] == 1, c


@pytest.mark.slow
def test_a_journal_trial_of_a_killed_process_is_named_with_how_to_release_it(tmp_path):
    # a journal has no heartbeat: the resume cannot know the trial is dead, so after a while it says how to fail it
    journal = tmp_path / "s.log"
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    env = {**os.environ, "REFINE_TEST_CRASH_MARKER": str(tmp_path / "crashed")}
    cmd = [
        sys.executable,
        "-m",
        "refine",
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:crash_once",
        "--storage",
        str(journal),
        "--study",
        "j",
        "--trials",
        "2",
        "--quiet",
    ]
    assert subprocess.run(cmd, env=env, cwd=tmp_path).returncode == 3  # the process died mid-trial
    stuck = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert stuck.returncode == 2 and stuck.stderr.count("\n") == 1, stuck.stderr
    assert "is RUNNING in another process (or one that was killed)" in stuck.stderr
    study = load_study(str(journal), "j")
    [dead] = [t for t in study.trials if t.state.name == "RUNNING"]
    assert f"trial {dead.number} is RUNNING" in stuck.stderr  # the stuck trial, named
    assert f"study.tell({dead.number}, state=TrialState.FAIL)" in stuck.stderr
    study.tell(dead.number, state=optuna.trial.TrialState.FAIL)  # what the message says to do
    assert subprocess.run(cmd, env=env, cwd=tmp_path, timeout=120).returncode == 0
    assert states(str(journal), "j")["COMPLETE"] == 2


def _complete_count(db, study: str) -> int:
    """COMPLETE trials of ``study`` in the SQLite file ``db``, read without writing a byte.

    Opening the file with Optuna here would race the run creating its tables
    (the run then failed with "UNIQUE constraint failed: alembic_version").
    """
    if not os.path.exists(db):
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        return con.execute(
            "SELECT COUNT(*) FROM trials JOIN studies USING (study_id) WHERE study_name = ? AND state = 'COMPLETE'",
            (study,),
        ).fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet, or the writer holds the lock
        return 0
    finally:
        con.close()


def _wait_for_complete(db, study: str, n: int, timeout: float = 20) -> None:
    """Wait until a run in another process has ``n`` COMPLETE trials (or ``timeout`` passed)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _complete_count(str(db), study) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"study '{study}' in {db} did not reach {n} complete trials in {timeout} s")


def _default_sigint() -> None:
    """In the child: Ctrl-C handled as in a terminal, even when the suite runs as a background job (`pytest &`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly(tmp_path):
    db = tmp_path / "s.db"
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refine",
            "run",
            str(space_file),
            "--objective",
            f"{OBJ}:slow",
            "--storage",
            str(db),
            "--study",
            "i",
            "--trials",
            "50",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_complete(db, "i", 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "resume" in err and "Traceback" not in err, err
    c = states(str(db), "i")
    assert c["RUNNING"] == 0 and 2 <= c["COMPLETE"] < 50


def test_ctrl_c_swallowed_by_python_still_stops_the_run(tmp_path):
    # A KeyboardInterrupt raised inside a __del__ is printed as "Exception ignored" and dropped by Python
    # itself; the run must still stop at its next trial, not run to the end and exit 0.
    db = tmp_path / "s.db"
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refine",
            "run",
            str(space_file),
            "--objective",
            f"{OBJ}:interrupt_swallowing",
            "--storage",
            str(db),
            "--study",
            "i",
            "--trials",
            "60",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_complete(db, "i", 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    c = states(str(db), "i")
    assert c["RUNNING"] == 0 and 2 <= c["COMPLETE"] < 60


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes(tmp_path):
    db = tmp_path / "s.db"
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    cmd = [
        sys.executable,
        "-m",
        "refine",
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:slow",
        "--storage",
        str(db),
        "--study",
        "t",
        "--trials",
        "30",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    _wait_for_complete(db, "t", 2)
    proc.send_signal(signal.SIGTERM)  # a scheduler's preemption
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and "interrupted by SIGTERM" in err and "resume" in err and "Traceback" not in err
    assert states(str(db), "t")["RUNNING"] == 0
    assert subprocess.run(cmd, timeout=120).returncode == 0  # at once: no dead RUNNING trial to wait out
    assert states(str(db), "t")["COMPLETE"] == 30


def test_sigterm_stops_a_background_run_whose_workers_ignore_ctrl_c(tmp_path):
    # `refine run ... &` from a script: the shell makes SIGINT ignored, in the workers too; a SIGTERM still stops all
    db = tmp_path / "s.db"
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    cmd = [
        sys.executable,
        "-m",
        "refine",
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:slow",
        "--storage",
        str(db),
        "--study",
        "b",
        "--trials",
        "60",
        "--workers",
        "2",
        "--quiet",
    ]
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 - what `&` does
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint)
    _wait_for_complete(db, "b", 4, timeout=30)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and "interrupted by SIGTERM" in err and "Traceback" not in err
    c = states(str(db), "b")
    assert c["RUNNING"] == 0 and 4 <= c["COMPLETE"] < 60


def test_an_objective_calling_sys_exit_fails_its_trial_not_the_run(tmp_path, capsys):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    db = str(tmp_path / "s.db")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:calls_exit",
        "--storage",
        db,
        "--study",
        "e",
        "--trials",
        "3",
        "--max-failures",
        "2",
        "--quiet",
    )
    assert code == 2 and "SystemExit" in err and len(err.strip().splitlines()) == 1
    assert states(db, "e")["RUNNING"] == 0 and states(db, "e")["FAIL"] == 2


def test_repeated_seeds_are_refused(tmp_path, capsys):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:quadratic",
        "--storage",
        str(tmp_path / "s.db"),
        "--trials",
        "2",
        "--seeds",
        "1,1",
    )
    assert code == 2 and "--seeds repeats 1" in err


def test_ctrl_c_waits_for_the_storage_call_to_return():
    # An interrupt inside a storage call (a transaction may be open) is held until the call returns, then raised.
    import _thread

    from refine.executor.interrupts import _interrupts_between_transactions

    fake_storage_call = {}
    exec(
        compile(
            "import _thread, time\n"
            "def write():\n"
            "    _thread.interrupt_main()\n"
            "    end = time.time() + 0.2\n"
            "    while time.time() < end:\n"
            "        pass\n"
            "    return 'committed'\n",
            os.path.join(os.sep, "site-packages", "optuna", "storages", "_fake.py"),
            "exec",
        ),
        fake_storage_call,
    )
    seen = []
    # Ctrl-C as in a terminal, whatever this process inherited (a background job or a test worker ignores it)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _interrupts_between_transactions():
                seen.append(fake_storage_call["write"]())
                time.sleep(5)  # the held interrupt arrives here, within a few redeliveries
                seen.append("not interrupted")
        assert seen == ["committed"]
        with pytest.raises(KeyboardInterrupt):  # outside a storage call it is raised at once
            with _interrupts_between_transactions():
                _thread.interrupt_main()
                time.sleep(5)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_cli_run_json(tmp_path, capsys):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, out, _ = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:quadratic",
        "--storage",
        str(tmp_path / "s.db"),
        "--trials",
        "3",
        "--json",
    )
    assert code == 0 and json.loads(out)["complete"] == 3 and json.loads(out)["study"] == "demo-v1"


@pytest.mark.parametrize(
    "objective, extra, message",
    [
        ("no_such_module_xyz:f", [], "cannot import"),
        (f"{OBJ}:nope", [], "has no function"),
        (f"{OBJ}:NOT_A_FUNCTION", [], "is a int, not a function"),
        (f"{OBJ}:returns_string", [], "must return a number"),
        (f"{OBJ}:returns_pair", [], "must return a number"),
        (f"{OBJ}:quadratic", ["--trials", "0"], "(--trials) must be"),
        (f"{OBJ}:quadratic", ["--trials", "-3"], "(--trials) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--max-failures", "0"], "(--max-failures) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--startup", "-1"], "(--startup) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--heartbeat", "-1"], "(--heartbeat) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--heartbeat", "99999999999"], "at most 86400"),
        (
            f"{OBJ}:quadratic",
            ["--trials", "2", "--seed", "-5"],
            "a seed (--seed, --seeds) must be an integer in [0, 2**32 - 1], got -5",
        ),
        (f"{OBJ}:quadratic", ["--trials", "2", "--seeds", "4294967296"], "got 4294967296"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--storage", ""], "the storage is empty"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--warm", "3"], "--warm applies to a warm start: give --from"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--storage", "sqlite://"], "in-memory SQLite database"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, objective, extra, message):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    args = ["run", str(space_file), "--objective", objective, "--storage", str(tmp_path / "s.db"), "--quiet"]
    code, _, err = cli(capsys, *args, *(extra or ["--trials", "2"]))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_invalid_space_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nparams:\n  a: {type: float, low: 1, high: 0}\n")
    code, _, err = cli(
        capsys, "run", str(bad), "--objective", f"{OBJ}:quadratic", "--storage", str(tmp_path / "s.db"), "--trials", "2"
    )
    assert code == 2 and err.startswith("error:")


def test_unreachable_storage_fails_fast_without_password(tmp_path, capsys):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    start = time.time()
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:quadratic",
        "--storage",
        "postgresql+psycopg://user:s3cret@127.0.0.1:1/db",
        "--trials",
        "2",
        "--quiet",
    )
    assert code == 2 and "s3cret" not in err and "***" in err and time.time() - start < 10


def _foreign_files(tmp_path):
    import sqlite3

    other = tmp_path / "crm.db"  # another program's SQLite database
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.commit()
    con.close()
    garbage = tmp_path / "notes.log"
    garbage.write_text("garbage, not a journal\n")
    text = tmp_path / "text.db"
    text.write_text("hello")
    return other, garbage, text


@pytest.mark.parametrize("which", [0, 1, 2])
def test_run_never_writes_into_a_file_that_is_not_an_optuna_storage(tmp_path, capsys, which):
    target = _foreign_files(tmp_path)[which]
    before = target.read_bytes()
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:quadratic",
        "--storage",
        str(target),
        "--trials",
        "2",
        "--quiet",
    )
    assert code == 2 and err.startswith("error:") and str(target.name) in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    "command", [["best"], ["rerun", "--objective", f"{OBJ}:quadratic"], ["inspect"], ["compare", "--studies", "a", "b"]]
)
@pytest.mark.parametrize("which", [0, 1, 2])
def test_readers_refuse_a_file_that_is_not_an_optuna_storage(tmp_path, capsys, command, which):
    target = _foreign_files(tmp_path)[which]
    before = target.read_bytes()
    code, _, err = cli(capsys, command[0], str(target), *command[1:])
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    "objective, says",
    [
        (
            lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("layers", 1, 5),
            "searches layers, which this space does not",
        ),
        (
            lambda t: t.suggest_float("x", 0, 10) + t.suggest_int("depth", 1, 4),
            "of its 4 finished trials lie outside this space",
        ),
    ],
    ids=["another-parameter", "wider-ranges"],
)
def test_a_study_refine_did_not_run_is_not_taken_over(tmp_path, capsys, objective, says):
    db = tmp_path / "s.db"
    plain = optuna.create_study(
        storage=f"sqlite:///{db}", study_name="theirs", sampler=optuna.samplers.RandomSampler(seed=1)
    )
    plain.optimize(objective, n_trials=4)
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:quadratic",
        "--storage",
        str(db),
        "--study",
        "theirs",
        "--trials",
        "6",
        "--quiet",
    )
    assert code == 2 and "was not run by refine and " in err and says in err and f"--from {db}:theirs" in err
    study = load_study(str(db), "theirs")
    assert len(study.trials) == 4 and ATTR_SPACE not in study.user_attrs


@pytest.mark.parametrize("ref", ["missing.db", "{db}:nope"])
def test_a_wrong_from_creates_nothing(tmp_path, capsys, ref):
    db = tmp_path / "s.db"
    run(space_v1(), f"{OBJ}:quadratic", storage=str(db), study="v1", trials=3, quiet=True)
    before = db.read_bytes()
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    code, _, err = cli(
        capsys,
        "run",
        str(space_file),
        "--objective",
        f"{OBJ}:quadratic",
        "--storage",
        str(db),
        "--study",
        "v2",
        "--trials",
        "2",
        "--from",
        str(tmp_path / ref.format(db=db)) if "{db}" not in ref else ref.format(db=db),
        "--quiet",
    )
    assert code == 2 and err.startswith("error:")
    assert db.read_bytes() == before  # no empty study v2 left behind


def test_reading_a_missing_storage_never_creates_it(tmp_path):
    with pytest.raises(RefineError, match="does not exist"):
        open_storage(str(tmp_path / "missing.db"), create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(RefineError, match="does not exist"):
        open_storage(str(tmp_path / "missing.log"), create=False)


def test_parse_study_ref_and_redact():
    assert parse_study_ref("s.db:stage1") == ("s.db", "stage1")
    assert parse_study_ref("postgresql://u:p@h:5432/db") == ("postgresql://u:p@h:5432/db", None)
    assert parse_study_ref("postgresql://u:p@h:5432/db:st") == ("postgresql://u:p@h:5432/db", "st")
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"  # a password holding '@'
    assert (
        redact("postgresql://h/db?sslmode=off&password=secret&x=1") == "postgresql://h/db?sslmode=off&password=***&x=1"
    )
    # a driver that split the URL at the first '@' quotes the password's tail as the host: hidden too
    url = "postgresql://u:se@cret@127.0.0.1:1/db"
    assert "cret" not in redact("failed to resolve host 'cret@127.0.0.1'", url)
    assert redact("a postgresql://u:s@h/d and mysql://v:t@k/e") == "a postgresql://u:***@h/d and mysql://v:***@k/e"


def test_resume_with_another_space_is_refused(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    with pytest.raises(RefineError, match="another space"):
        run(space_v1(metric="loss"), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)


@pytest.mark.parametrize("storage", ["", "sqlite://", "postgresql+psycopg://u:secret@127.0.0.1:1/db"])
@pytest.mark.parametrize(
    "command",
    [["best"], ["compare", "--studies", "a", "b"], ["rerun", "--objective", f"{OBJ}:quadratic"]],
    ids=lambda c: c[0],
)
def test_a_storage_that_cannot_be_opened_is_one_line_in_every_command(capsys, storage, command):
    code, _, err = cli(capsys, command[0], storage, *command[1:])
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert "secret" not in err


def test_the_space_metric_names_the_study_values(tmp_path):
    db = str(tmp_path / "s.db")
    space = Space(
        name="m",
        version=1,
        directions=("minimize", "minimize"),
        metric=("loss", "size"),
        params={"x": FloatParam(low=0, high=1)},
    )
    run(space, f"{OBJ}:two_objectives", storage=db, study="a", trials=3, quiet=True)
    assert load_study(db, "a").metric_names == ["loss", "size"]
    run(space_v1(metric="val_loss"), f"{OBJ}:quadratic", storage=db, study="b", trials=3, quiet=True)
    assert load_study(db, "b").metric_names == ["val_loss"]


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


def test_the_rationale_lists_the_gaps_that_fill_gaps_fills(tmp_path):
    # one gap computation: a stepped float lists grid points (never [0.34, 0.46] on a 0.2 grid), and --fill-gaps fills
    # them
    import refine

    space = Space(
        name="g", version=1, params={"x": FloatParam(low=0, high=1), "dropout": FloatParam(low=0.0, high=1.0, step=0.2)}
    )
    db = str(tmp_path / "s.db")
    [r] = run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=3, sampler="random", seed=3, quiet=True)
    listed = refine.next_space(db, study="a", config=False).rationale["evidence"]["dropout"]["gaps_never_tested"]
    from_run = [g.low if g.low == g.high else [g.low, g.high] for g in r.gaps if g.param == "dropout"]
    assert listed and listed == from_run
    grid = {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}
    for g in listed:
        for v in g if isinstance(g, list) else [g]:
            assert round(v, 9) in grid
    [filled] = run(
        space,
        f"{OBJ}:quadratic",
        storage=db,
        study="b",
        trials=12,
        sampler="random",
        seed=3,
        fill_gaps=12,
        from_=f"{db}:a",
        warm=0,
        quiet=True,
    )
    assert filled.filled > 0 and not [g for g in filled.gaps if g.param == "dropout"]
