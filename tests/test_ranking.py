"""Which trials rank and which is best (refine.ranking), on real studies: metrics, ties, conditions, a stage's own
trials."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import refine
from refine.errors import RefineError, StudyError
from refine.ranking import TRIAL_HISTORY, Condition, Ranking, best_of, pareto_size, ranked_trials, why_none
from refine.space import FloatParam
from tests.conftest import _cli, _decision, _space

D = optuna.distributions.FloatDistribution(0, 1)


def study_of(rows, direction="maximize", history=(), name="s"):
    """A study whose trials carry (value, precision, recall); ``history`` rows are a warm start's."""
    study = optuna.create_study(direction=direction, study_name=name)
    for i, (value, precision, recall) in enumerate([*history, *rows]):
        attrs = {"precision": precision, "recall": recall}
        if i < len(history):
            attrs[TRIAL_HISTORY] = f"parent#{i}"
        study.add_trial(
            optuna.trial.create_trial(params={"x": i / 100}, distributions={"x": D}, value=value, user_attrs=attrs)
        )
    return study


def numbers(trials):
    return [t.number for t in trials]


def test_the_default_ranking_is_the_objective():
    s = study_of([(0.5, 0, 0), (0.9, 0, 0), (0.7, 0, 0)])
    assert numbers(ranked_trials(s)) == [1, 2, 0]


def test_a_metric_then_a_tie_breaker_rank_lexicographically():
    s = study_of([(0.1, 0.9, 0.2), (0.2, 0.9, 0.6), (0.3, 0.8, 0.9)])
    r = Ranking.parse("precision", then=["recall"])
    assert numbers(ranked_trials(s, r)) == [1, 0, 2]
    assert numbers(ranked_trials(s, Ranking.parse("precision", then=["recall:min"]))) == [0, 1, 2]


def test_a_condition_leaves_out_the_trials_that_break_it():
    s = study_of([(0.9, 0.9, 0.2), (0.5, 0.8, 0.6), (0.7, 0.7, 0.5)])
    r = Ranking.parse(where=["recall >= 0.5"])
    assert numbers(ranked_trials(s, r)) == [2, 1]
    assert "keeps recall > 5" in why_none(s, Ranking.parse(where=["recall > 5"]))


def test_a_stage_is_judged_by_its_own_trials():
    s = study_of([(0.3, 0, 0), (0.4, 0, 0)], history=[(0.99, 0, 0)])
    assert ranked_trials(s)[0].number == 0
    assert numbers(ranked_trials(s, own=True)) == [2, 1]
    only_history = study_of([], history=[(0.99, 0, 0)])
    assert ranked_trials(only_history, own=True) == []
    assert "ran no trial of its own" in why_none(only_history, own=True)


def test_the_best_of_a_seed_group_is_the_best_of_its_seeds():
    a, b = study_of([(0.3, 0, 0)], name="g-s1"), study_of([(0.6, 0, 0)], name="g-s2")
    study, trial = best_of([a, b])
    assert study.study_name == "g-s2" and trial.value == 0.6


def test_an_unknown_metric_names_the_user_attributes():
    s = study_of([(0.3, 0.1, 0.2)])
    with pytest.raises(StudyError, match="'f1'.*precision, recall"):
        ranked_trials(s, Ranking.parse("f1"))


@pytest.mark.parametrize("text", ["recall", "recall >= x", ">= 0.5", "recall => 0.5"])
def test_a_malformed_condition_is_bad_input(text):
    with pytest.raises(RefineError, match="--where takes NAME OP NUMBER"):
        Condition.parse(text)


def test_then_needs_a_metric():
    with pytest.raises(RefineError, match="--then orders ties of --metric"):
        Ranking.parse(then=["recall"])


def test_several_objectives_rank_by_pareto_front():
    study = optuna.create_study(directions=["minimize", "minimize"])
    for v in [(1, 3), (2, 2), (3, 3), (3, 1)]:
        study.add_trial(optuna.trial.create_trial(params={"x": 0.1}, distributions={"x": D}, values=list(v)))
    assert numbers(ranked_trials(study)) == [0, 1, 3, 2]
    assert pareto_size(study) == 3


def test_next_space_ranks_by_a_metric_its_tie_breaker_and_a_condition(tmp_path, capsys):
    import refine
    from tests.conftest import run_cli as cli

    db = tmp_path / "s.db"
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="s", direction="maximize")
    for i in range(30):
        x = i / 30
        precision = 0.9 if i in (3, 7) else 0.5 * x
        recall = {3: 0.2, 7: 0.6}.get(i, 0.7)
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": x}, distributions={"x": D}, value=x, user_attrs={"precision": precision, "recall": recall}
            )
        )
    result = refine.next_space(str(db), config=False, metric="precision", then=("recall",))
    assert result.rationale["best"]["number"] == 7  # precision ties at 0.9; recall breaks it
    result = refine.next_space(str(db), config=False, metric="precision", where=("recall >= 0.65",))
    assert result.rationale["best"]["number"] == 29
    assert any("break --where recall >= 0.65" in n for n in result.rationale["notes"])
    code, out, _ = cli(
        capsys, "next-space", str(db), "--metric", "precision", "--then", "recall", "--dry-run", "--json"
    )
    assert code == 0
    code, _, err = cli(capsys, "next-space", str(db), "--then", "recall", "--dry-run")
    assert code == 2 and "--then orders ties of --metric" in err


def test_unknown_metric_exits_2(study_factory):
    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"], 30)
    proc = _cli("next-space", path, "--metric", "precision", "--dry-run")
    assert proc.returncode == 2 and "precision" in proc.stderr and "user attribute" in proc.stderr


def test_metric_ranks_by_a_user_attribute(tmp_path):
    import optuna

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'm.db'}", study_name="m", direction="maximize")
    rng = np.random.default_rng(7)
    for _ in range(80):
        x = float(rng.uniform(0, 2))  # not [0, 1]: an inferred fraction never expands past 1
        t = optuna.trial.create_trial(
            params={"x": x},
            distributions={"x": optuna.distributions.FloatDistribution(0, 2)},
            values=[float(rng.uniform())],
            user_attrs={"precision": x},
        )
        study.add_trial(t)
    by_value = refine.next_space(str(tmp_path / "m.db"), config=False)
    by_metric = refine.next_space(str(tmp_path / "m.db"), config=False, metric="precision")
    assert _decision(by_value, "x").action == "keep"
    assert _decision(by_metric, "x").action == "expand"
    assert by_metric.rationale["elites"]["ranked_by"] == "precision"
    assert by_metric.rationale["elites"]["better"] == "higher"  # the study's direction, by default
    assert _decision(by_metric, "x").new.high > 1  # elites crowd the high edge
    by_error = refine.next_space(str(tmp_path / "m.db"), config=False, metric="precision", metric_direction="minimize")
    assert (
        _decision(by_error, "x").new.low < 0 or _decision(by_error, "x").new.high < 1
    )  # now the low edge is the good one
    assert by_error.rationale["elites"]["better"] == "lower"


def test_a_metric_of_a_multi_objective_study_needs_its_direction(tmp_path):
    import optuna

    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'm.db'}", study_name="m", directions=["minimize", "minimize"]
    )
    rng = np.random.default_rng(8)
    for _ in range(80):
        x = float(rng.uniform(0, 1))
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": x},
                distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
                values=[float(rng.uniform()), float(rng.uniform())],
                user_attrs={"error": x},
            )
        )
    proc = _cli("next-space", tmp_path / "m.db", "--metric", "error", "--dry-run")
    assert proc.returncode == 2 and "--metric-direction" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    low = refine.next_space(str(tmp_path / "m.db"), config=False, metric="error", metric_direction="minimize")
    high = refine.next_space(str(tmp_path / "m.db"), config=False, metric="error", metric_direction="maximize")
    assert low.rationale["best"]["params"]["x"] < 0.05 < 0.95 < high.rationale["best"]["params"]["x"]
    with pytest.raises(RefineError, match="give 'metric' too"):
        refine.next_space(str(tmp_path / "m.db"), config=False, metric_direction="minimize")
