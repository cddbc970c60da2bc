"""Space files: the YAML round trip and the reader's contract (SPEC section 1)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from refine.errors import RefineError, SpaceError
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.spacefile import (
    dump_space,
    load_space,
    save_space,
    space_from_dict,
    space_from_json,
    space_to_dict,
    space_to_json,
)
from tests.strategies import spaces

SPEC = Path(__file__).resolve().parents[2] / "shared" / "SPEC.md"  # shared/ sits beside the project
SPEC_EXAMPLE = """\
name: visual_classifier        # required; [A-Za-z0-9_.-]+
version: 2                     # required; integer >= 1
parent: 1                      # optional; the version this one was derived from
direction: maximize            # or `directions: [maximize, minimize]` for multi-objective
metric: val_acc                # optional; a label for the objective value(s)
fixed:                         # constants handed to every trial unchanged
  epochs: 20
  encoder_type: cnn
params:
  lr:           {type: float, low: 5.0e-5, high: 1.0e-2, log: true}
  dropout:      {type: float, low: 0.0, high: 0.7, step: 0.05, limits: [0.0, 1.0]}
  depth:        {type: int, low: 2, high: 6, limits: [1, 64]}
  batch_size:   {type: categorical, choices: [8, 16, 32, 64]}
  use_coords:   {type: categorical, choices: [true, false]}
  encoder:      {type: categorical, choices: [cnn, context], weights: [0.75, 0.25]}
  ctx_layers:   {type: int, low: 1, high: 5, when: {encoder: context}}
"""

_settings = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(spaces())
def test_round_trip_gives_the_same_space(space: Space) -> None:
    text = dump_space(space)
    back = space_from_dict(yaml.safe_load(text))
    assert back == space
    # Equality keeps 1 == 1.0 == True; the text does not, so compare it too.
    assert dump_space(back) == text


@_settings
@given(spaces())
def test_dump_is_byte_identical_twice(space: Space) -> None:
    assert dump_space(space) == dump_space(space)


@_settings
@given(spaces())
def test_floats_read_back_equal(space: Space) -> None:
    back = space_from_dict(yaml.safe_load(dump_space(space)))
    for name, p in space.params.items():
        q = back.params[name]
        if isinstance(p, FloatParam):
            assert (q.low, q.high, q.step) == (p.low, p.high, p.step)
            assert type(q.low) is float and type(q.high) is float
        if isinstance(p, CategoricalParam):
            assert q.weights == p.weights
            assert [type(c) for c in q.choices] == [type(c) for c in p.choices]


@_settings
@given(spaces())
def test_json_round_trip_gives_the_same_space(space: Space) -> None:
    assert space_from_json(space_to_json(space)) == space


@_settings
@given(spaces(max_params=3))
def test_save_then_load_gives_the_same_space(tmp_path_factory, space: Space) -> None:
    path = tmp_path_factory.mktemp("save") / "space.yaml"
    save_space(space, path)
    assert load_space(path) == space
    assert path.read_text(encoding="utf-8") == dump_space(space)


def test_spec_example_is_the_one_in_spec() -> None:
    if not SPEC.exists():
        pytest.skip("shared/SPEC.md is not present")
    block = re.search(r"```yaml\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.S)
    assert block is not None and block.group(1) == SPEC_EXAMPLE


def test_spec_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "visual_classifier.v2.yaml"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")
    space = load_space(path)
    assert (space.name, space.version, space.parent, space.directions, space.metric) == (
        "visual_classifier",
        2,
        1,
        ("maximize",),
        "val_acc",
    )
    assert space.fixed == {"epochs": 20, "encoder_type": "cnn"}
    assert list(space.params) == ["lr", "dropout", "depth", "batch_size", "use_coords", "encoder", "ctx_layers"]
    assert space.params["lr"] == FloatParam(low=5e-5, high=1e-2, log=True)
    assert space.params["dropout"] == FloatParam(low=0.0, high=0.7, step=0.05, limits=(0.0, 1.0))
    assert space.params["depth"] == IntParam(low=2, high=6, limits=(1, 64))
    assert space.params["batch_size"].choices == (8, 16, 32, 64)
    assert space.params["use_coords"].choices == (True, False)
    assert space.params["encoder"].weights == (0.75, 0.25)
    ctx = space.params["ctx_layers"]
    assert isinstance(ctx, IntParam) and ctx.when is not None
    assert (ctx.when.parent, ctx.when.values) == ("encoder", ("context",))


def test_spec_example_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "v2.yaml"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")
    space = load_space(path)
    assert space_from_dict(yaml.safe_load(dump_space(space))) == space


@pytest.mark.parametrize(
    "body, says",
    [
        ({"type": "int", "low": 1.5, "high": 4}, "`low` of an int parameter must be an integer for 'd'"),
        ({"type": "int", "low": 1, "high": 4, "step": 0.5}, "got step=0.5"),
        ({"type": "int", "low": 1, "high": "4"}, "`high` of an int parameter must be an integer"),
    ],
)
def test_an_int_bound_that_is_not_an_integer_is_refused_not_cut(body, says) -> None:
    with pytest.raises(SpaceError, match=re.escape(says)):
        space_from_dict({"name": "s", "version": 1, "params": {"d": body}})
    assert (
        space_from_dict({"name": "s", "version": 1, "params": {"d": {"type": "int", "low": 1.0, "high": 4}}})
        .params["d"]
        .low
        == 1
    )


def test_param_ranges_is_read_as_params() -> None:
    doc = {"name": "s", "version": 1, "param_ranges": {"x": {"type": "float", "low": 0, "high": 1}}}
    space = space_from_dict(doc)
    assert space.params == {"x": FloatParam(low=0.0, high=1.0)}


def test_param_ranges_is_written_back_as_params() -> None:
    doc = {"name": "s", "version": 1, "param_ranges": {"x": {"type": "float", "low": 0, "high": 1}}}
    written = yaml.safe_load(dump_space(space_from_dict(doc)))
    assert "param_ranges" not in written
    assert written["params"] == {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def test_params_and_param_ranges_together_are_rejected() -> None:
    doc = {"name": "s", "version": 1, "params": {}, "param_ranges": {}}
    with pytest.raises(SpaceError, match="param_ranges"):
        space_from_dict(doc, where="s.yaml")


def test_keys_are_written_in_a_fixed_order(tmp_path: Path) -> None:
    path = tmp_path / "scrambled.yaml"
    path.write_text(
        "params:\n"
        "  lr: {when: {opt: adam}, log: true, high: 0.1, low: 0.001, type: float}\n"
        "  d: {limits: [0.0, 1.0], step: 0.1, high: 0.5, low: 0.1, type: float}\n"
        "  opt: {weights: [1, 3], choices: [sgd, adam], type: categorical}\n"
        "fixed: {epochs: 3}\n"
        "metric: loss\n"
        "direction: minimize\n"
        "parent: 1\n"
        "version: 2\n"
        "name: s\n",
        encoding="utf-8",
    )
    text = dump_space(load_space(path))
    top = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert top == ["name", "version", "parent", "direction", "metric", "fixed", "params"]
    doc = yaml.safe_load(text)
    assert list(doc["params"]) == ["lr", "d", "opt"]  # the file's order of parameters is kept
    assert list(doc["params"]["lr"]) == ["type", "low", "high", "log", "when"]
    assert list(doc["params"]["d"]) == ["type", "low", "high", "step", "limits"]
    assert list(doc["params"]["opt"]) == ["type", "choices", "weights"]


def test_each_param_is_one_line() -> None:
    space = Space(
        name="s",
        version=1,
        params={"a": FloatParam(low=0, high=1), "b": CategoricalParam(choices=("x", "y"))},
    )
    lines = dump_space(space).splitlines()
    assert lines[-2:] == ["  a: {type: float, low: 0.0, high: 1.0}", "  b: {type: categorical, choices: [x, y]}"]


def test_multi_objective_is_written_as_directions() -> None:
    space = Space(name="s", version=1, directions=("maximize", "minimize"))
    doc = yaml.safe_load(dump_space(space))
    assert doc["directions"] == ["maximize", "minimize"] and "direction" not in doc


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['echo pwned > {marker}']",
        "!!python/object/new:os.system ['echo pwned > {marker}']",
        "!!python/name:os.system",
        "!!python/object:refine.space.Space {{}}",
    ],
)
def test_python_tags_are_rejected_not_executed(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: s\nversion: 1\nfixed:\n  x: {tag.format(marker=marker)}\n", encoding="utf-8")
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_error_names_file_and_parameter(tmp_path: Path) -> None:
    path = tmp_path / "v2.yaml"
    path.write_text("name: s\nversion: 1\nparams:\n  lr: {type: float, low: 0.1, high: 0.01}\n", encoding="utf-8")
    with pytest.raises(RefineError) as info:
        load_space(path)
    message = str(info.value)
    assert "'lr'" in message and str(path) in message and "low=0.1" in message


def test_unknown_type_names_the_allowed_types() -> None:
    doc = {"name": "s", "version": 1, "params": {"x": {"type": "uniform", "low": 0, "high": 1}}}
    with pytest.raises(SpaceError, match="float, int, categorical"):
        space_from_dict(doc)


@pytest.mark.parametrize(
    "text", ["\x85x", "x\x85", "a\u2028b", "a\u2029", "true", "1e3", "1e-5", "-2E+3", "", " x ", "a: b"]
)
def test_strings_yaml_would_fold_or_retype_read_back_equal(text: str) -> None:
    space = Space(
        name="s", version=1, metric=text, fixed={"k": text}, params={"c": CategoricalParam(choices=(text, 1))}
    )
    back = space_from_dict(yaml.safe_load(dump_space(space)))
    assert (back.metric, back.fixed["k"], back.params["c"].choices[0]) == (text, text, text)


def test_float_fields_written_as_floats() -> None:
    space = Space(name="s", version=1, params={"x": FloatParam(low=1e-300, high=1e300)})
    doc = yaml.safe_load(dump_space(space))
    assert doc["params"]["x"]["low"] == 1e-300 and doc["params"]["x"]["high"] == 1e300


def test_infinite_limits_round_trip() -> None:
    space = Space(name="s", version=1, params={"x": FloatParam(low=0, high=1, limits=(0, math.inf))})
    assert space_from_dict(yaml.safe_load(dump_space(space))) == space


def test_space_to_dict_has_no_param_ranges() -> None:
    doc = space_to_dict(Space(name="s", version=1))
    assert doc == {"name": "s", "version": 1, "direction": "minimize", "params": {}}


def test_save_space_never_overwrites(tmp_path: Path) -> None:
    space = Space(name="s", version=1)
    path = save_space(space, tmp_path / "s.v1.yaml")
    with pytest.raises(SpaceError, match="already exists"):
        save_space(space, path)


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: s\nversion: 1\nparams:\n  x: {type: int, low: 1, high: 4}\n  x: {type: int, low: 2, high: 8}\n"
    )
    with pytest.raises(SpaceError, match="'x' twice"):
        load_space(path)


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("name: s\nversion: 1\nfixed:\n  base: &b {a: 1, b: 2}\n  other: {<<: *b, b: 3}\n")
    assert load_space(path).fixed == {"base": {"a": 1, "b": 2}, "other": {"a": 1, "b": 3}}


def test_exponent_without_a_dot_is_a_number_as_in_yaml_1_2(tmp_path: Path) -> None:
    # PyYAML (YAML 1.1) reads 1e-5 as text; a learning rate written so must be a number.
    path = tmp_path / "s.v1.yaml"
    path.write_text(
        "name: s\nversion: 1\nfixed: {wd: 1e-4, tag: '1e-4'}\nparams:\n"
        "  lr: {type: float, low: 1e-5, high: 1E-2, log: true}\n  c: {type: categorical, choices: [1e-3, 2e+2]}\n",
        encoding="utf-8",
    )
    space = load_space(path)
    assert (space.params["lr"].low, space.params["lr"].high) == (1e-5, 1e-2)
    assert space.params["c"].choices == (1e-3, 200.0) and space.fixed == {"wd": 1e-4, "tag": "1e-4"}
    save_space(space, tmp_path / "again.yaml")
    assert load_space(tmp_path / "again.yaml") == space


@pytest.mark.parametrize(
    "body, says",
    [
        ("params:\n  c: {type: categorical, choices: [1, true]}", "cannot tell apart"),
        ("params:\n  c: {type: categorical, choices: [0, null, false]}", "cannot tell apart"),
        ("params:\n  c: {type: categorical, choices: [.nan, 1]}", "must be finite"),
        ("params:\n  c: {type: categorical, choices: [a, .inf]}", "must be finite"),
        ("fixed: {start: 2020-01-01}\nparams:\n  x: {type: float, low: 0, high: 1}", "plain data"),
        ("fixed: {enc: cnn}\nparams:\n  b: {type: float, low: 0, high: 1, when: {enc: context}}", "never holds"),
        (
            "params:\n  a: {type: float, low: 0, high: 1}\n  b: {type: int, low: 0, high: 3, when: {a: 0.5}}",
            "continuous float",
        ),
        ("metric: {val: 1}\nparams:\n  x: {type: float, low: 0, high: 1}", "must be a label"),
        ("params:\n  x: {type: [float], low: 0, high: 1}", "`type` must be one of"),
        (
            "params:\n  d: {type: int, low: 1, high: 4}\n  b: {type: float, low: 0, high: 1, when: {d: 7}}",
            "values the parent takes",
        ),
        (
            "params:\n  d: {type: int, low: 1, high: 4}\n  b: {type: float, low: 0, high: 1, when: {d: 2.5}}",
            "values the parent takes",
        ),
        (
            "params:\n  d: {type: int, low: 0, high: 8, step: 2}\n  b: {type: float, low: 0, high: 1, when: {d: 3}}",
            "in steps of 2",
        ),
        (
            "params:\n  k: {type: int, low: 1, high: 5, limits: [1, .inf]}",
            "limits` of an int parameter must be integers",
        ),
        (
            "params:\n  k: {type: int, low: 1, high: 5, limits: [0.5, 10.5]}",
            "limits` of an int parameter must be integers",
        ),
        ("params:\n  x: {type: float, low: 0, high: 1, limits: [0, .nan]}", "two numbers"),
        ("params:\n  x: {type: float, low: 0, high: 1, limits: [0, '2']}", "two numbers"),
        ("fixed: &f\n  a: *f\nparams:\n  x: {type: float, low: 0, high: 1}", "contains itself"),
        ("params: &p\n  x: {type: float, low: 0, high: 1}\n  y: *p", "contains itself"),
    ],
)
def test_a_space_optuna_would_run_wrongly_is_refused(tmp_path: Path, body: str, says: str) -> None:
    path = tmp_path / "s.v1.yaml"
    path.write_text(f"name: s\nversion: 1\n{body}\n", encoding="utf-8")
    with pytest.raises(SpaceError, match=says) as info:
        load_space(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_int_limits_written_as_whole_floats_are_read_as_ints() -> None:
    space = space_from_dict(
        {"name": "s", "version": 1, "params": {"k": {"type": "int", "low": 2, "high": 5, "limits": [1.0, 64.0]}}}
    )
    assert space.params["k"].limits == (1, 64) and all(type(v) is int for v in space.params["k"].limits)


def test_many_aliases_of_one_anchor_are_read_quickly(tmp_path: Path) -> None:
    # Not a cycle: nine levels of nine aliases each; walked node by node it would be 9**9 visits.
    lines = ["name: s", "version: 1", "fixed:", "  l0: &l0 [1, 2]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines += ["params:", "  x: {type: float, low: 0, high: 1}"]
    path = tmp_path / "s.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import yaml

    from refine.yamlfile import contains_itself

    assert not contains_itself(yaml.safe_load(path.read_text()))


def test_a_multi_objective_space_names_each_metric(tmp_path: Path) -> None:
    path = tmp_path / "m.v1.yaml"
    path.write_text(
        "name: m\nversion: 1\ndirections: [minimize, maximize]\nmetric: [loss, acc]\nparams:\n  x: {type: "
        "float, low: 0, high: 1}\n"
    )
    space = load_space(path)
    assert space.metric == ("loss", "acc") and space.metric_names == ["loss", "acc"]
    save_space(space, tmp_path / "again.yaml")
    assert (
        "metric:\n- loss\n- acc" in (tmp_path / "again.yaml").read_text()
        or "metric: [loss, acc]" in (tmp_path / "again.yaml").read_text()
    )
    assert load_space(tmp_path / "again.yaml") == space
    path.write_text(
        "name: m\nversion: 1\ndirections: [minimize, maximize]\nmetric: [loss]\nparams:\n  x: {type: float, "
        "low: 0, high: 1}\n"
    )
    with pytest.raises(SpaceError, match="one label per direction"):
        load_space(path)
