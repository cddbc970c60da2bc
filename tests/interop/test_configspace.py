"""ConfigSpace (refine/interop/configspace.py): both ways, as a file or an object, and what it cannot hold."""

from __future__ import annotations

import json
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import example, given

from refine.errors import RefineError, SpaceError
from refine.interop import dump_configspace, from_configspace, load_configspace, to_configspace
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from tests.interop.conftest import _SETTINGS, _example_space, _run, spaces

ConfigSpace = pytest.importorskip("ConfigSpace")


@_SETTINGS
@given(spaces())
# text that YAML 1.2 (refine's loader) reads as a number but PyYAML's dumper did not quote: it came back 0.0
@example(Space(name="0", version=1, params={"_": CategoricalParam(choices=("0E0", "1e-3"))}, directions=("minimize",)))
def test_configspace_file_round_trip_gives_the_same_space(space: Space) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for suffix, fmt in ((".json", "json"), (".yaml", "yaml"), (".configspace", "json"), (".cs", "yaml")):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"cs{suffix}"
                path.write_text(dump_configspace(space, fmt=fmt).text, encoding="utf-8")
                back = load_configspace(path).space
            assert back == space
            assert list(back.params) == list(space.params)
            assert list(back.fixed) == list(space.fixed)


@_SETTINGS
@given(spaces())
def test_configspace_object_round_trip_gives_the_same_space(space: Space) -> None:
    cs, _ = to_configspace(space)
    assert from_configspace(cs, name=space.name).space == space


def test_configspace_export_is_native_where_configspace_can_be(tmp_path: Path) -> None:
    cs, warns = to_configspace(_example_space())
    assert isinstance(cs["lr"], ConfigSpace.UniformFloatHyperparameter) and cs["lr"].log
    assert isinstance(cs["depth"], ConfigSpace.UniformIntegerHyperparameter)
    assert tuple(cs["encoder"].weights) == (0.75, 0.25)
    assert isinstance(cs["epochs"], ConfigSpace.Constant) and cs["epochs"].value == 20
    (condition,) = cs.conditions
    assert isinstance(condition, ConfigSpace.EqualsCondition) and condition.parent.name == "encoder"
    assert any("step=0.05 of 'dropout'" in w for w in warns)


def test_in_condition_becomes_a_when_with_several_values() -> None:
    space = attrs.evolve(
        _example_space(),
        params={
            "opt": CategoricalParam(choices=["adam", "sgd", "rmsprop"]),
            "momentum": FloatParam(low=0.0, high=0.99, when=Condition("opt", ["sgd", "rmsprop"])),
        },
    )
    cs, _ = to_configspace(space)
    (condition,) = cs.conditions
    assert isinstance(condition, ConfigSpace.InCondition)
    assert from_configspace(cs, name=space.name).space == space


def test_or_of_equals_on_one_parent_is_read_as_in() -> None:
    cs = ConfigSpace.ConfigurationSpace(name="s")
    opt = ConfigSpace.CategoricalHyperparameter("opt", ["adam", "sgd", "rmsprop"])
    momentum = ConfigSpace.UniformFloatHyperparameter("momentum", 0.0, 0.99)
    cs.add(opt, momentum)
    cs.add(
        ConfigSpace.OrConjunction(
            ConfigSpace.EqualsCondition(momentum, opt, "sgd"), ConfigSpace.EqualsCondition(momentum, opt, "rmsprop")
        )
    )
    space = from_configspace(cs).space
    assert space.params["momentum"].when == Condition("opt", ["sgd", "rmsprop"])


def test_configspace_without_refine_meta_is_version_1_and_says_the_direction_is_assumed(tmp_path: Path) -> None:
    cs = ConfigSpace.ConfigurationSpace(name="smac space", space={"x": (0.0, 1.0), "n": (1, 8), "k": ["a", "b"]})
    path = tmp_path / "smac.json"
    cs.to_json(path)
    imported = load_configspace(path)
    assert imported.space.name == "smac_space" and imported.space.version == 1
    assert imported.space.params["n"] == IntParam(low=1, high=8)
    assert any("direction" in w for w in imported.warnings)


def test_old_configspace_q_is_read_as_step(tmp_path: Path) -> None:
    doc = {
        "name": "old",
        "hyperparameters": [
            {"type": "uniform_float", "name": "x", "lower": 0.0, "upper": 1.0, "log": False, "q": 0.1, "default": 0.5}
        ],
        "conditions": [],
        "forbiddens": [],
        "json_format_version": 0.4,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_configspace(path).space.params["x"] == FloatParam(low=0.0, high=1.0, step=0.1)


def test_choices_configspace_cannot_tell_apart_are_an_error_naming_the_parameter() -> None:
    space = Space(name="s", version=1, params={"flag": CategoricalParam(choices=[1, True])})
    with pytest.raises(SpaceError, match="'flag'.*1 and True|'flag'.*True"):
        to_configspace(space)


def test_missing_configspace_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ConfigSpace", None)
    with pytest.raises(RefineError, match=re.escape("pip install 'refine[interop]'")):
        to_configspace(_example_space())


def _write_cs(tmp_path: Path, cs: Any) -> Path:
    path = tmp_path / "bad.json"
    cs.to_json(path)
    return path


def test_configspace_with_forbidden_clause_exits_2_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cs = ConfigSpace.ConfigurationSpace(name="s", space={"opt": ["adam", "sgd"], "lr": (0.001, 0.1)})
    cs.add(ConfigSpace.ForbiddenEqualsClause(cs["opt"], "sgd"))
    code, _, err = _run(
        capsys, "import", str(_write_cs(tmp_path, cs)), "--from", "configspace", "-o", str(tmp_path / "s.yaml")
    )
    assert code == 2
    assert err.startswith("error: forbidden clauses") and "opt" in err and "bad.json" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.yaml").exists()


def test_configspace_with_or_of_ranges_exits_2_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cs = ConfigSpace.ConfigurationSpace(name="s", space={"depth": (1, 10), "width": (1, 10), "lr": (0.001, 0.1)})
    cs.add(
        ConfigSpace.OrConjunction(
            ConfigSpace.LessThanCondition(cs["lr"], cs["depth"], 3),
            ConfigSpace.GreaterThanCondition(cs["lr"], cs["width"], 8),
        )
    )
    code, _, err = _run(
        capsys, "import", str(_write_cs(tmp_path, cs)), "--from", "configspace", "-o", str(tmp_path / "s.yaml")
    )
    assert code == 2
    assert "'lr'" in err and "OR" in err


def test_configspace_with_less_than_condition_exits_2_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cs = ConfigSpace.ConfigurationSpace(name="s", space={"depth": (1, 10), "lr": (0.001, 0.1)})
    cs.add(ConfigSpace.LessThanCondition(cs["lr"], cs["depth"], 3))
    code, _, err = _run(capsys, "import", str(_write_cs(tmp_path, cs)), "--from", "configspace")
    assert code == 2
    assert "only EQ and IN conditions" in err and "'lr'" in err and "LessThanCondition" in err


def test_configspace_with_normal_hyperparameter_exits_2_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cs = ConfigSpace.ConfigurationSpace(name="s")
    cs.add(ConfigSpace.NormalFloatHyperparameter("wd", mu=0.0, sigma=1.0, lower=-3.0, upper=3.0))
    code, _, err = _run(capsys, "import", str(_write_cs(tmp_path, cs)), "--from", "configspace")
    assert code == 2
    assert "'wd'" in err and "NormalFloatHyperparameter" in err


def test_a_value_configspace_cannot_hold_is_an_error_naming_it() -> None:
    space = Space(name="s", version=1, fixed={"tag": "\x00"}, params={"x": FloatParam(low=0.0, high=1.0)})
    with pytest.raises(SpaceError, match="ConfigSpace cannot hold 'tag'"):
        to_configspace(space)
