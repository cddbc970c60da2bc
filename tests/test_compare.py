"""The decision gate (``refine compare``), ``refine best`` and ``refine rerun`` on real studies."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from refine.compare import best_config, compare
from refine.errors import RefineError
from refine.executor import load_study, run
from refine.reruns import rerun
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from tests.conftest import run_cli as cli

OBJ = str(Path(__file__).with_name("objectives.py"))


def rich(**fixed) -> Space:
    return Space(
        name="c",
        version=1,
        fixed={"epochs": 20, **fixed},
        params={
            "x": FloatParam(low=0, high=1),
            "depth": IntParam(low=1, high=3),
            "encoder": CategoricalParam(choices=("cnn", "context")),
        },
    )


def simple(low: float = 0.2, high: float = 0.4, **fixed) -> Space:
    return Space(
        name="c",
        version=2,
        parent=1,
        fixed={"epochs": 20, "encoder": "cnn", **fixed},
        params={"x": FloatParam(low=low, high=high), "depth": IntParam(low=1, high=3)},
    )


def test_simpler_space_wins_within_margin(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="v1", trials=12, seeds=[1, 2], quiet=True)
    run(simple(0.6, 0.8), f"{OBJ}:quadratic", storage=db, study="v2", trials=12, seeds=[1, 2], quiet=True)
    result = compare(db, ["v1", "v2"], margin=1.0)
    assert result.winner == "v2" and result.refused is None
    assert {g.name: len(g.studies) for g in result.groups} == {"v1": 2, "v2": 2}
    assert any("simpler" in r for r in result.reasons)
    assert compare(db, ["v1", "v2"], margin=0.0).winner == "v1"


def test_better_study_wins_without_margin(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=3, quiet=True)
    run(simple(), f"{OBJ}:quadratic", storage=db, study="b", trials=12, quiet=True)
    result = compare(db, ["a", "b"])
    best = min(result.groups, key=lambda g: g.score)
    assert result.winner == best.name


def test_refuses_different_evaluation_settings(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(cv=3), f"{OBJ}:quadratic", storage=db, study="a", trials=3, quiet=True)
    run(simple(cv=5), f"{OBJ}:quadratic", storage=db, study="b", trials=3, quiet=True)
    result = compare(db, ["a", "b"])
    assert result.winner is None and "cv=3" in result.refused and "cv=5" in result.refused
    code, out, _ = cli(capsys, "compare", db, "--studies", "a", "--studies", "b", "--json")
    assert code == 2 and json.loads(out)["refused"]


def test_refuses_different_directions(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    maxi = Space(
        name="c", version=1, directions=("maximize",), fixed={"epochs": 20}, params={"x": FloatParam(low=0, high=1)}
    )
    run(maxi, f"{OBJ}:quadratic", storage=db, study="b", trials=2, quiet=True)
    assert "directions" in compare(db, ["a", "b"]).refused


def test_unknown_study_is_a_clear_error(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    with pytest.raises(RefineError, match="no study 'zz'"):
        compare(db, ["a", "zz"])


def test_best_prints_params_and_fixed(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=5, quiet=True)
    out = best_config(db)
    assert out["fixed"] == {"epochs": 20} and out["config"] == {"epochs": 20, **out["params"]}
    assert out["value"] == load_study(db, "a").best_value
    code, text, _ = cli(capsys, "best", db, "--format", "yaml")
    assert code == 0 and "epochs: 20" in text


def test_rerun_reports_ranking_under_new_settings(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:noisy_seed", storage=db, study="a", trials=10, quiet=True)
    report = rerun(db, f"{OBJ}:noisy_seed", study="a", top=4, sets={"epochs": 50}, seeds=[1, 2], quiet=True)
    assert len(report.configs) == 4 and all(c["runs"] == 2 for c in report.configs)
    assert report.spearman is not None and report.top_rank is not None
    new = load_study(db, "a-rerun")
    assert all(t.user_attrs["refine:set"]["seed"] in (1, 2) for t in new.trials)


def test_rerun_refuses_setting_a_searched_param(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    with pytest.raises(RefineError, match="searched parameter"):
        rerun(db, f"{OBJ}:quadratic", study="a", sets={"x": 0.5}, quiet=True)


def test_rerun_refuses_a_setting_of_another_kind(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    with pytest.raises(RefineError, match=r"--fixed epochs='abc': the space fixes epochs to 20 \(int\)"):
        rerun(db, f"{OBJ}:quadratic", study="a", sets={"epochs": "abc"}, quiet=True)


@pytest.mark.parametrize(
    "objective, message", [("no_such_module_xyz:f", "cannot import"), (f"{OBJ}:always_fails", "stopped after")]
)
def test_rerun_with_a_broken_objective_exits_2_and_can_be_retried(tmp_path, capsys, objective, message):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=4, quiet=True)
    code, _, err = cli(capsys, "rerun", db, "--study", "a", "--objective", objective, "--top", "2", "--quiet")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert "--max-failures" not in err  # a flag rerun does not have
    if "import" in message:  # nothing was created: the same command with the right objective just works
        assert "a-rerun" not in [s.study_name for s in load_study(db, "a")._storage.get_all_studies()]
    code, _, _ = cli(
        capsys,
        "rerun",
        db,
        "--study",
        "a",
        "--objective",
        f"{OBJ}:quadratic",
        "--top",
        "2",
        "--quiet",
        *(["--out-study", "again"] if "stopped" in message else []),
    )
    assert code == 0


def test_compare_with_storage_after_the_names_says_how_to_write_it(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    code, _, err = cli(capsys, "compare", "--studies", "a", "b", db)
    assert code == 2 and f"refine compare {db} --studies a b" in err and len(err.strip().splitlines()) == 1


def test_compare_refuses_a_study_named_twice(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    code, _, err = cli(capsys, "compare", db, "--studies", "a", "a")
    assert code == 2 and "'a' twice" in err and len(err.strip().splitlines()) == 1


def test_rerun_refuses_a_setting_that_looks_like_a_typo(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=2, quiet=True)
    with pytest.raises(RefineError, match="did you mean 'epochs'"):
        rerun(db, f"{OBJ}:quadratic", study="a", sets={"epoch": 100}, quiet=True)


def test_a_study_whose_values_are_all_infinite_says_so(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    good = optuna.create_study(storage=f"sqlite:///{db}", study_name="good")
    good.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    infs = optuna.create_study(storage=f"sqlite:///{db}", study_name="infs")
    infs.optimize(lambda t: t.suggest_float("x", 0, 1) + float("inf"), n_trials=3)
    for args in (["best", db, "--study", "infs"], ["compare", db, "--studies", "good", "infs"]):
        code, _, err = cli(capsys, *args)
        assert code == 2 and "has 3 complete trial(s) but none can be ranked: their values are inf or NaN" in err, err


def test_best_on_a_study_whose_remembered_space_is_broken_says_why_it_needs_it(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="b")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.set_user_attr("refine:space", "{not json")
    code, _, err = cli(capsys, "best", db)
    assert (
        code == 2
        and "is not valid JSON" in err
        and "best needs the space the study remembers for its fixed values" in err
    )


def test_a_warm_started_stage_is_judged_by_its_own_trials(tmp_path):
    # v2 inherits v1's trials as history; its own best (x kept far from 0.3) must not be v1's
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="v1", trials=12, quiet=True)
    far = Space(
        name="c",
        version=2,
        parent=1,
        fixed={"epochs": 20},
        params={
            "x": FloatParam(low=0, high=1),
            "depth": IntParam(low=1, high=3),
            "encoder": CategoricalParam(choices=("cnn", "context")),
        },
    )
    [r] = run(far, f"{OBJ}:quadratic", storage=db, study="v2", trials=3, from_=f"{db}:v1", warm=0, quiet=True)
    assert r.history == 12
    v2 = load_study(db, "v2")
    own = [t.value for t in v2.trials if "refine:history_from" not in t.user_attrs]
    result = compare(db, ["v1", "v2"])
    scores = {g.name: g.score for g in result.groups}
    assert scores["v2"] == min(own) and {g.name: g.trials for g in result.groups}["v2"] == 3
    assert best_config(db, "v2")["value"] == min(own)


def test_best_takes_a_seed_group_and_promotes_its_winner(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="stage3", trials=6, seeds=[60, 61], quiet=True)
    bests = {s: load_study(db, s).best_value for s in ("stage3-s60", "stage3-s61")}
    out = best_config(db, "stage3")
    assert out["group"] == "stage3" and out["seeds"] == ["stage3-s60", "stage3-s61"]
    assert out["study"] == min(bests, key=bests.get) and out["value"] == min(bests.values())
    consts = tmp_path / "constants.py"
    consts.write_text('"""Sweep constants."""\nLR = 0.1\nX = (\n    0.5\n)\nEPOCHS: int = 5\n')
    code, _, err = cli(capsys, "best", db, "--study", "stage3", "--promote", str(consts))
    assert code == 0 and "promoted" in err
    ns: dict = {}
    exec(consts.read_text(), ns)
    assert (
        ns["X"] == out["params"]["x"]
        and ns["EPOCHS"] == 20
        and ns["LR"] == 0.1
        and ns["DEPTH"] == out["params"]["depth"]
    )


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_promote_keeps_the_other_keys_of_a_yaml_or_json_file(tmp_path, suffix):
    import yaml

    from refine.compare import promote

    path = tmp_path / f"best{suffix}"
    path.write_text(json.dumps({"keep": 1, "x": 0.0}))
    promote({"x": 0.25, "encoder": "cnn"}, str(path))
    assert yaml.safe_load(path.read_text()) == {"keep": 1, "x": 0.25, "encoder": "cnn"}


def test_promote_refuses_what_it_cannot_write_and_leaves_the_file(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=3, quiet=True)
    bad = tmp_path / "c.yaml"
    bad.write_text("- a list\n")
    code, _, err = cli(capsys, "best", db, "--promote", str(bad))
    assert code == 2 and "not a mapping" in err and bad.read_text() == "- a list\n"
    code, _, err = cli(capsys, "best", db, "--promote", str(tmp_path / "c.toml"))
    assert code == 2 and ".yaml, .yml, .json or .py" in err


def test_seeds_that_found_different_optima_do_not_settle_the_verdict(tmp_path):
    # v1's seeds agree on x near 0.3; 'split' is seeded so that its bests lie far apart in depth and encoder
    db = str(tmp_path / "s.db")
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="split-s1")
    dists = {"x": FloatParam(low=0, high=1).to_distribution()}
    from refine.spacefile import space_to_json

    sp = Space(name="c", version=3, fixed={"epochs": 20}, params={"x": FloatParam(low=0, high=1)})
    for name, x, v in (
        ("split-s1", 0.0, 0.10),
        ("split-s2", 1.0, 0.11),
        ("tight-s1", 0.5, 0.12),
        ("tight-s2", 0.52, 0.12),
    ):
        study = optuna.create_study(storage=f"sqlite:///{db}", study_name=name, load_if_exists=True)
        study.set_user_attr("refine:space", space_to_json(sp))
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions=dists, value=v))
    result = compare(db, ["split", "tight"], margin=0.05)
    assert result.winner == "tight" and result.settled
    assert any("did not settle" in r for r in result.reasons)
    alone = compare(db, ["split", "tight"], max_distance=1.0)
    assert alone.winner == "split"


def test_compare_ranks_by_a_metric_with_a_condition(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    from refine.spacefile import space_to_json

    sp = Space(name="c", version=1, directions=("maximize",), params={"x": FloatParam(low=0, high=1)})
    dists = {"x": FloatParam(low=0, high=1).to_distribution()}
    for name, rows in (("a", [(0.9, 0.9, 0.1), (0.5, 0.6, 0.6)]), ("b", [(0.8, 0.7, 0.7)])):
        study = optuna.create_study(storage=f"sqlite:///{db}", study_name=name, direction="maximize")
        study.set_user_attr("refine:space", space_to_json(sp))
        for v, p, r in rows:
            study.add_trial(
                optuna.trial.create_trial(
                    params={"x": v}, distributions=dists, value=v, user_attrs={"precision": p, "recall": r}
                )
            )
    code, out, _ = cli(
        capsys, "compare", db, "--studies", "a", "b", "--metric", "precision", "--where", "recall >= 0.5", "--json"
    )
    got = json.loads(out)
    assert code == 0 and got["winner"] == "b" and "recall >= 0.5" in got["ranking"]
    code, out, _ = cli(capsys, "best", db, "--study", "a", "--metric", "precision", "--then", "recall")
    assert code == 0 and json.loads(out)["trial"] == 0
    code, _, err = cli(capsys, "best", db, "--study", "a", "--where", "recall >=")
    assert code == 2 and "--where takes" in err


def test_compare_across_evaluation_settings_on_purpose(tmp_path):
    db = str(tmp_path / "s.db")
    run(rich(cv=3), f"{OBJ}:quadratic", storage=db, study="a", trials=3, quiet=True)
    run(simple(cv=5), f"{OBJ}:quadratic", storage=db, study="b", trials=3, quiet=True)
    result = compare(db, ["a", "b"], across=True)
    assert result.refused is None and result.winner in ("a", "b")
    assert any("--across" in r and "cv=3" in r and "cv=5" in r for r in result.reasons)


def test_rerun_across_budgets_tabulates_where_the_optima_disagree(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    sp = Space(
        name="b",
        version=1,
        fixed={"budget": 1},
        params={"x": FloatParam(low=0, high=1), "depth": IntParam(low=1, high=3)},
    )
    run(sp, f"{OBJ}:budgeted", storage=db, study="s", trials=12, quiet=True)
    code, out, _ = cli(
        capsys,
        "rerun",
        db,
        "--study",
        "s",
        "--objective",
        f"{OBJ}:budgeted",
        "--top",
        "6",
        "--budgets",
        "budget=1,100",
        "--json",
        "--quiet",
    )
    got = json.loads(out)
    assert code == 0 and got["budgets"] == [1, 100] and got["champion_rank"][0] == 1
    assert got["champion_rank"][1] > 1 and not got["holds"]
    assert "x" in got["disagree"] and set(got["disagree"]["x"]) == {"1", "100"}
    assert {"s-rerun-budget1", "s-rerun-budget100"} <= set(optuna.get_all_study_names(f"sqlite:///{db}"))


def test_show_reports_a_warm_started_stage_own_best(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="v1", trials=8, quiet=True)
    run(
        Space(name="c", version=2, parent=1, fixed={"epochs": 20}, params=dict(rich().params)),
        f"{OBJ}:quadratic",
        storage=db,
        study="v2",
        trials=2,
        from_=f"{db}:v1",
        warm=0,
        quiet=True,
    )
    own = min(t.value for t in load_study(db, "v2").trials if "refine:history_from" not in t.user_attrs)
    code, out, _ = cli(capsys, "show", db, "--study", "v2", "--json")
    got = json.loads(out)
    assert code == 0 and got["history"] == 8 and got["own_best"]["value"] == own
    code, out, _ = cli(capsys, "show", db, "--study", "v2")
    assert "its own best (without the 8 history trials" in out


def test_budgets_are_read_as_numbers_and_need_two(tmp_path, capsys):
    from refine.commands.rerun import _budgets

    assert _budgets("budget=2e6,2e7,200000000") == ("budget", [2000000, 20000000, 200000000])
    assert _budgets("lr_scale=0.5,1.5") == ("lr_scale", [0.5, 1.5])
    db = str(tmp_path / "s.db")
    run(rich(), f"{OBJ}:quadratic", storage=db, study="a", trials=3, quiet=True)
    code, _, err = cli(capsys, "rerun", db, "--objective", f"{OBJ}:quadratic", "--budgets", "epochs=5")
    assert code == 2 and "at least two values" in err
