"""``run()`` (refine/executor/runner.py): its arguments, a study created or resumed to exactly N, seeds, gap fillers."""

from __future__ import annotations

import optuna
import pytest

from refine.errors import RefineError
from refine.executor import ATTR_SPACE, ATTR_VERSION, coverage_gaps, load_study, run
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.spacefile import save_space, space_from_json
from tests.conftest import run_cli as cli
from tests.executor.conftest import OBJ, run_argv, space_v1, states, trials_of


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
    code, _, err = cli(capsys, *run_argv(tmp_path, "quadratic", db, "--study", "theirs", "--trials", "6", "--quiet"))
    assert code == 2 and "was not run by refine and " in err and says in err and f"--from {db}:theirs" in err
    study = load_study(str(db), "theirs")
    assert len(study.trials) == 4 and ATTR_SPACE not in study.user_attrs


def test_resume_with_another_space_is_refused(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    with pytest.raises(RefineError, match="another space"):
        run(space_v1(metric="loss"), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)


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
