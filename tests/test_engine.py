"""Scenario tests of the engine on real SQLite studies with a known answer."""

from __future__ import annotations

import json
import math

import pytest

import refine
from refine.errors import StudyError
from refine.space import Condition, FloatParam, IntParam, Space
from refine.spacefile import save_space
from tests.conftest import _cli, _space


def test_three_complete_trials_change_nothing_and_raise_a_flag(study_factory):
    space = _space(x=FloatParam(low=0, high=1), y=IntParam(low=1, high=9))
    path = study_factory(space, lambda c: c["x"], 3)
    result = refine.next_space(path, config=False)
    assert all(d.action == "keep" for d in result.decisions)
    assert result.space.params == space.params
    assert any("min_complete" in f for f in result.rationale["red_flags"])


def test_all_failed_study_exits_2_with_one_line(study_factory):
    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: None, 8)
    with pytest.raises(StudyError, match="nothing to refine"):
        refine.next_space(path, config=False)
    proc = _cli("next-space", path)
    assert proc.returncode == 2
    assert (
        proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: nothing to refine") and "8 FAIL" in proc.stderr
    )


def test_same_study_gives_byte_identical_files(study_factory, tmp_path):
    space = _space(depth=IntParam(low=2, high=6), lr=FloatParam(low=1e-5, high=1e-1, log=True))
    path = study_factory(space, lambda c: c["depth"] - abs(math.log10(c["lr"]) + 3), 100)
    a = refine.next_space(path, config=False).save(tmp_path / "a")
    b = refine.next_space(path, config=False).save(tmp_path / "b")
    assert a.space_path.read_bytes() == b.space_path.read_bytes()
    strip = lambda p: json.loads(p.read_text()) | {"files": None}  # noqa: E731 - the file paths differ by design
    assert strip(a.json_path) == strip(b.json_path)


def test_space_option_and_remembered_space_are_used(study_factory, tmp_path):
    space = _space(x=FloatParam(low=0, high=1, limits=(0, 1)))
    path = study_factory(space, lambda c: c["x"], 60)
    v1 = save_space(
        Space(name="mine", version=3, directions=("maximize",), params=space.params), tmp_path / "mine.v3.yaml"
    )
    result = refine.next_space(path, space=v1, config=False)
    assert (result.space.name, result.space.version, result.space.parent) == ("mine", 4, 3)
    assert result.space.params["x"].high <= 1.0


def test_running_study_uses_complete_trials_and_says_so(tmp_path):
    import optuna

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'live.db'}", study_name="live")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=20)
    study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    result = refine.next_space(str(tmp_path / "live.db"), config=False)
    assert result.rationale["study"]["live"] is True
    assert any("RUNNING" in f for f in result.rationale["red_flags"])
    assert result.evidence.n_ranked == 20


def test_a_given_space_that_does_not_match_the_study_is_flagged(study_factory, tmp_path):
    space = _space(x=FloatParam(low=0, high=1), y=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: -((c["x"] - 0.1) ** 2) - c["y"], 40)
    other = save_space(_space(x=FloatParam(low=0.5, high=2.0)), tmp_path / "other.v1.yaml")
    result = refine.next_space(path, space=other, config=False)
    assert result.rationale["study"]["space_source"] == "given"
    flags = " | ".join(result.rationale["red_flags"])
    assert "also searched y" in flags and "best trial lies outside the given space (x=" in flags
    same = refine.next_space(path, space=space, config=False)
    assert not any("given space" in f for f in same.rationale["red_flags"])


def test_a_study_name_with_accents_gives_a_readable_file_name(tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'u.db'}"
    study = optuna.create_study(storage=storage, study_name="étude spaced ü")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=12)
    result = refine.next_space(str(tmp_path / "u.db"), config=False)
    assert result.space.name == "etude_spaced_u" and result.file_stem() == "etude_spaced_u.v2"


def test_a_condition_on_an_int_parent_follows_its_new_range():
    from refine.engine import _prune_conditions

    child = FloatParam(low=0, high=1, when=Condition("d", (1, 2)))
    kept = _prune_conditions({"d": IntParam(low=3, high=6), "b": child}, {})
    assert "b" not in kept  # d can no longer be 1 or 2: b would never be sampled
    trimmed = _prune_conditions({"d": IntParam(low=2, high=6), "b": child}, {})
    assert trimmed["b"].when.values == (2,)
