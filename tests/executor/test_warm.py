"""A previous stage carried over (refine/executor/warm.py): history, projected best trials, extremes."""

from __future__ import annotations

import attrs
import optuna
import pytest

from refine.errors import RefineError
from refine.executor import ATTR_PARENT, load_study, make_sampler, project, run, suggest
from refine.space import FloatParam, IntParam, Space
from tests.conftest import run_cli as cli
from tests.executor.conftest import OBJ, run_argv, space_v1, trials_of
from tests.objectives import quadratic


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


@pytest.mark.parametrize("ref", ["missing.db", "{db}:nope"])
def test_a_wrong_from_creates_nothing(tmp_path, capsys, ref):
    db = tmp_path / "s.db"
    run(space_v1(), f"{OBJ}:quadratic", storage=str(db), study="v1", trials=3, quiet=True)
    before = db.read_bytes()
    source = str(tmp_path / ref.format(db=db)) if "{db}" not in ref else ref.format(db=db)
    argv = run_argv(tmp_path, "quadratic", db, "--study", "v2", "--trials", "2", "--from", source, "--quiet")
    code, _, err = cli(capsys, *argv)
    assert code == 2 and err.startswith("error:")
    assert db.read_bytes() == before  # no empty study v2 left behind
