"""Export to and import from ConfigSpace, W&B sweeps and Optuna code (``refine export`` / ``refine import``)."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import attrs
import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refine.cli import main
from refine.errors import RefineError, SpaceError
from refine.interop import (
    dump_configspace,
    dump_optuna,
    dump_wandb,
    from_configspace,
    load_configspace,
    load_wandb,
    to_configspace,
    wandb_to_space,
)
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import load_space, save_space

ConfigSpace = pytest.importorskip("ConfigSpace")

optuna.logging.set_verbosity(optuna.logging.WARNING)

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- strategy


_PARAM_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
_FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


# ConfigSpace refuses some control-character values such as "\x00" (refine then raises SpaceError, tested below)
_PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"))


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(-1000, 1000), _FINITE, st.text(_PRINTABLE, max_size=6), st.booleans(), st.none())


def _choices() -> st.SearchStrategy[list]:
    # One kind per parameter, as users write them; mixing 1 and True is tested on its own.
    return st.one_of(
        st.lists(st.text(_PRINTABLE, max_size=6), min_size=1, max_size=5, unique=True),
        st.lists(st.integers(-100, 1000), min_size=1, max_size=5, unique=True),
        st.lists(_FINITE, min_size=1, max_size=4, unique=True),
        st.lists(st.booleans(), min_size=1, max_size=2, unique=True),
        st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=4, unique=True),
    )


@st.composite
def _params(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["float", "int", "categorical"]))
    if kind == "categorical":
        choices = draw(_choices())
        weights = draw(
            st.none()
            | st.lists(st.floats(0, 10), min_size=len(choices), max_size=len(choices)).filter(lambda w: sum(w) > 0)
        )
        return CategoricalParam(choices=choices, weights=weights)
    limits = draw(st.booleans())
    if kind == "float":
        if draw(st.booleans()):
            low = draw(st.floats(1e-6, 1e2))
            high = low * draw(st.floats(1.01, 1e4))
            p = FloatParam(low=low, high=high, log=True)
        else:
            low = draw(_FINITE)
            step = draw(st.none() | st.sampled_from([0.001, 0.01, 0.05, 0.25, 0.5, 1.0, 5.0]))
            if step is None:
                high = low + draw(st.floats(1e-2, 1e3))
            else:  # on Optuna's grid: `high - low` a multiple of `step`
                low = round(low, 3)
                high = float(f"{low + step * draw(st.integers(1, 200)):.12g}")
            p = FloatParam(low=low, high=high, step=step)
        return attrs.evolve(p, limits=(p.low - 1.0, p.high + 1.0)) if limits else p
    if draw(st.booleans()):
        low = draw(st.integers(1, 100))
        p = IntParam(low=low, high=low + draw(st.integers(1, 1000)), log=True)
    else:
        low = draw(st.integers(-100, 100))
        step = draw(st.integers(1, 5))
        p = IntParam(low=low, high=low + step * draw(st.integers(1, 40)), step=step)
    return attrs.evolve(p, limits=(p.low - 1, p.high + 1)) if limits else p


@st.composite
def spaces(draw: st.DrawFn, max_params: int = 6) -> Space:
    """Valid spaces: every parameter kind, log, step, limits, weights, fixed values and `when` (EQ and IN)."""
    names = draw(st.lists(_PARAM_NAMES, min_size=1, max_size=max_params + 2, unique=True))
    n_fixed = draw(st.integers(0, min(2, len(names) - 1)))
    fixed = {n: draw(_scalars()) for n in names[:n_fixed]}
    params: dict[str, Any] = {}
    for name in names[n_fixed:]:
        p = draw(_params())
        parents = [n for n, q in params.items() if isinstance(q, CategoricalParam)] + list(fixed)
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            if parent in fixed:
                values = [fixed[parent]]
            else:
                choices = params[parent].choices
                picked = draw(
                    st.lists(st.integers(0, len(choices) - 1), min_size=1, max_size=len(choices), unique=True)
                )
                values = [choices[i] for i in picked]
            p = attrs.evolve(p, when=Condition(parent, values))
        params[name] = p
    version = draw(st.integers(1, 4))
    return Space(
        name=draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True)),
        version=version,
        parent=draw(st.none() | st.integers(1, version - 1)) if version > 1 else None,
        directions=draw(st.sampled_from([("minimize",), ("maximize",), ("minimize", "maximize")])),
        metric=draw(st.none() | st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
        fixed=fixed,
        params=params,
    )


# --------------------------------------------------------------------------- helpers


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process through ``main`` (which turns RefineError into exit 2)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _example_space() -> Space:
    return Space(
        name="visual_classifier",
        version=2,
        parent=1,
        directions=("maximize",),
        metric="val_acc",
        fixed={"epochs": 20, "encoder_type": "cnn"},
        params={
            "lr": FloatParam(low=5e-5, high=1e-2, log=True),
            "dropout": FloatParam(low=0.0, high=0.7, step=0.05, limits=(0.0, 1.0)),
            "depth": IntParam(low=2, high=6, limits=(1, 64)),
            "batch_size": CategoricalParam(choices=[8, 16, 32, 64]),
            "encoder": CategoricalParam(choices=["cnn", "context"], weights=[0.75, 0.25]),
            "ctx_layers": IntParam(low=1, high=5, when=Condition("encoder", "context")),
        },
    )


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    return save_space(_example_space(), tmp_path / "visual_classifier.v2.yaml")


# W&B's documented sweep keys (docs.wandb.ai "Sweep configuration options" and the
# wandb/sweeps config schema): distribution -> (required keys, optional keys).
_WANDB_TOP_KEYS = {
    "program",
    "entity",
    "project",
    "description",
    "name",
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "command",
    "run_cap",
}
_WANDB_DISTRIBUTIONS = {
    "constant": ({"value"}, set()),
    "categorical": ({"values"}, set()),
    "categorical_w_probabilities": ({"values", "probabilities"}, set()),
    "int_uniform": ({"min", "max"}, set()),
    "uniform": ({"min", "max"}, set()),
    "q_uniform": ({"min", "max"}, {"q"}),
    "log_uniform_values": ({"min", "max"}, set()),
    "q_log_uniform_values": ({"min", "max"}, {"q"}),
}


def _check_wandb(doc: dict) -> None:
    assert set(doc) <= _WANDB_TOP_KEYS
    assert doc["method"] in {"grid", "random", "bayes"}
    if "metric" in doc:
        assert set(doc["metric"]) <= {"name", "goal", "target"}
        assert isinstance(doc["metric"]["name"], str)
        assert doc["metric"].get("goal", "minimize") in {"minimize", "maximize"}
    assert doc["parameters"]
    for name, p in doc["parameters"].items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name)
        dist = p.get("distribution")
        if dist is None:
            if "value" in p:
                dist = "constant"
            elif "probabilities" in p:
                dist = "categorical_w_probabilities"
            elif "values" in p:
                dist = "categorical"
            else:
                dist = "int_uniform" if all(type(p[k]) is int for k in ("min", "max")) else "uniform"
        required, optional = _WANDB_DISTRIBUTIONS[dist]
        assert required <= set(p) <= required | optional | {"distribution"}, (name, p)
        if "min" in p:
            assert p["min"] < p["max"] or (dist == "q_uniform" and p["min"] <= p["max"])
        if dist == "int_uniform":
            assert type(p["min"]) is int and type(p["max"]) is int
        if dist in ("log_uniform_values", "q_log_uniform_values"):
            assert p["min"] > 0
        if "q" in p:
            assert p["q"] > 0
        if "probabilities" in p:
            assert len(p["probabilities"]) == len(p["values"])
            assert all(x >= 0 for x in p["probabilities"])
            assert math.isclose(sum(p["probabilities"]), 1.0, rel_tol=1e-9)
        if "values" in p:
            assert len(p["values"]) >= 1


# --------------------------------------------------------------------------- ConfigSpace


@_SETTINGS
@given(spaces())
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


# --------------------------------------------------------------------------- Optuna code


def _sample(space: Space, n_trials: int = 8) -> list[dict]:
    namespace: dict[str, Any] = {}
    exec(compile(dump_optuna(space).text, "<suggest>", "exec"), namespace)
    configs: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        configs.append(namespace["suggest"](trial))
        return 0.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), directions=list(space.directions))
        study.optimize(
            objective if not space.multi_objective else (lambda t: (objective(t),) * len(space.directions)),
            n_trials=n_trials,
        )
    return configs


@_SETTINGS
@given(spaces())
def test_optuna_code_samples_inside_the_space_and_respects_when(space: Space) -> None:
    for config in _sample(space):
        for name, value in space.fixed.items():
            assert config[name] == value or (value != value and config[name] != config[name])
        for name in space.params:
            assert (name in config) == space.is_active(name, config), name
        assert space.contains({k: v for k, v in config.items() if k in space.params})


def test_optuna_code_keeps_true_apart_from_1() -> None:
    space = Space(
        name="s",
        version=1,
        params={
            "flag": CategoricalParam(choices=[1, True, "a"]),
            "x": FloatParam(low=0.0, high=1.0, when=Condition("flag", 1)),
        },
    )
    configs = _sample(space, n_trials=40)
    assert {repr(c["flag"]) for c in configs} == {"1", "True", "'a'"}
    for config in configs:
        assert ("x" in config) == (config["flag"] == 1 and config["flag"] is not True)


def test_optuna_code_is_readable(space_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(capsys, "export", str(space_file), "--to", "optuna")
    assert code == 0
    assert "def suggest(trial) -> dict:" in out
    assert "    config['lr'] = trial.suggest_float('lr', 5e-05, 0.01, log=True)" in out
    assert (
        "    if config['encoder'] == 'context':\n        config['ctx_layers'] = trial.suggest_int('ctx_layers', 1, 5)"
        in out
    )
    assert "'epochs': 20," in out
    assert "# NOT EXPRESSED: weights [0.75, 0.25] of 'encoder'" in out
    assert err.startswith("warning: weights [0.75, 0.25] of 'encoder'")


def test_optuna_code_quotes_any_parameter_name() -> None:
    space = Space(name="s", version=1, fixed={'a "b"': 1}, params={"it's": IntParam(low=1, high=3)})
    (config,) = _sample(space, n_trials=1)
    assert config['a "b"'] == 1 and 1 <= config["it's"] <= 3


# --------------------------------------------------------------------------- W&B


@_SETTINGS
@given(spaces())
def test_wandb_config_uses_only_documented_keys(space: Space) -> None:
    _check_wandb(yaml.safe_load(dump_wandb(space).text))


def test_wandb_export_maps_each_kind(space_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(capsys, "export", str(space_file), "--to", "wandb")
    assert code == 0
    doc = yaml.safe_load(out)
    assert doc["metric"] == {"name": "val_acc", "goal": "maximize"}
    params = doc["parameters"]
    assert params["epochs"] == {"value": 20}
    assert params["lr"] == {"distribution": "log_uniform_values", "min": 5e-5, "max": 1e-2}
    assert params["dropout"] == {"distribution": "q_uniform", "min": 0.0, "max": 0.7, "q": 0.05}
    assert params["depth"] == {"distribution": "int_uniform", "min": 2, "max": 6}
    assert params["encoder"] == {"values": ["cnn", "context"], "probabilities": [0.75, 0.25]}


def test_wandb_export_comments_and_warns_where_it_cannot_express_when(
    space_file: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = _run(capsys, "export", str(space_file), "--to", "wandb")
    assert code == 0
    comment = next(line for line in out.splitlines() if "'ctx_layers'" in line)
    assert comment.lstrip().startswith("# NOT EXPRESSED:") and "encoder is 'context'" in comment
    assert "warning: 'ctx_layers' is sampled only when encoder is 'context'" in err


def test_wandb_round_trip_keeps_the_parameters(space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "sweep.yaml"
    assert _run(capsys, "export", str(space_file), "--to", "wandb", "-o", str(sweep))[0] == 0
    code, _, _ = _run(
        capsys,
        "import",
        str(sweep),
        "--from",
        "wandb",
        "--name",
        "visual_classifier",
        "-o",
        str(tmp_path / "back.yaml"),
    )
    assert code == 0
    back, original = load_space(tmp_path / "back.yaml"), _example_space()
    assert back.version == 1 and back.name == "visual_classifier"
    assert back.directions == ("maximize",) and back.metric == "val_acc"
    assert back.fixed == original.fixed
    for name, p in original.params.items():
        assert back.params[name] == attrs.evolve(
            p, when=None, **({"limits": None} if not isinstance(p, CategoricalParam) else {})
        )


def test_wandb_import_names_the_space_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "my sweep (v3).yaml"
    path.write_text("method: bayes\nparameters:\n  lr: {min: 0.001, max: 0.1}\n  layers: {min: 1, max: 4}\n")
    space = load_wandb(path).space
    assert space.name == "my_sweep_v3"
    assert space.version == 1
    assert space.params == {"lr": FloatParam(low=0.001, high=0.1), "layers": IntParam(low=1, high=4)}


def test_wandb_export_of_a_name_w_and_b_rejects_is_an_error(tmp_path: Path) -> None:
    space = Space(name="s", version=1, params={"1st layer": IntParam(low=1, high=3)})
    with pytest.raises(SpaceError, match="'1st layer'.*rename"):
        dump_wandb(space)


def test_wandb_q_uniform_is_read_as_a_step() -> None:
    doc = {
        "method": "random",
        "parameters": {
            "x": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
            "n": {"distribution": "q_uniform", "min": 4, "max": 64, "q": 4},
        },
    }
    space = wandb_to_space(doc, name="s").space
    assert space.params == {"x": FloatParam(low=0.0, high=1.0, step=0.25), "n": IntParam(low=4, high=64, step=4)}


def test_wandb_q_normal_exits_2_naming_the_parameter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("method: random\nparameters:\n  wd: {distribution: q_normal, mu: 0, sigma: 1, q: 0.1}\n")
    code, _, err = _run(capsys, "import", str(path), "--from", "wandb", "-o", str(tmp_path / "s.yaml"))
    assert code == 2
    assert err.startswith("error: ") and "'wd'" in err and "q_normal" in err and "sweep.yaml" in err
    assert len(err.strip().splitlines()) == 1


def test_wandb_unknown_parameter_key_exits_2_naming_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("method: random\nparameters:\n  lr: {min: 0.1, max: 1.0, scale: log}\n")
    code, _, err = _run(capsys, "import", str(path), "--from", "wandb")
    assert code == 2
    assert "unknown key 'scale'" in err and "'lr'" in err


# --------------------------------------------------------------------------- command line


def test_unknown_to_exits_2_with_the_reason_and_the_parameter(space_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refine", "export", str(space_file), "--to", "hyperopt"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --to must be one of configspace, wandb, optuna, got 'hyperopt'; pick the tool the space goes to"
    ]
    assert result.stdout == ""


def test_unknown_from_exits_2(space_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "import", str(space_file), "--from", "optuna")
    assert code == 2 and "--from must be one of configspace, wandb" in err


def test_export_to_a_file_writes_it_and_prints_where(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cs.yaml"
    code, stdout, _ = _run(capsys, "export", str(space_file), "--to", "configspace", "-o", str(out))
    assert code == 0 and stdout.strip() == f"wrote {out}"
    assert yaml.safe_load(out.read_text())["name"] == "visual_classifier"
    code, _, _ = _run(capsys, "import", str(out), "--from", "configspace", "-o", str(tmp_path / "back.yaml"))
    assert code == 0
    assert load_space(tmp_path / "back.yaml") == _example_space()


def test_export_never_writes_over_its_own_space_file_and_writes_a_pipe_in_place(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import os
    import threading

    before = space_file.read_bytes()
    for target in (str(space_file), str(tmp_path / ".." / tmp_path.name / space_file.name)):
        if Path(target).resolve() != space_file.resolve():
            continue
        code, _, err = _run(capsys, "export", str(space_file), "--to", "wandb", "-o", target)
        assert code == 2 and "is this command's input" in err and len(err.strip().splitlines()) == 1
    assert space_file.read_bytes() == before
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    code, _, _ = _run(capsys, "export", str(space_file), "--to", "wandb", "-o", str(fifo))
    reader.join(timeout=10)
    assert code == 0 and "parameters:" in got[0] and not fifo.is_file() and fifo.exists()  # still a pipe, not a file


def test_import_never_overwrites_a_space_file(space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cs_file = tmp_path / "cs.json"
    _run(capsys, "export", str(space_file), "--to", "configspace", "-o", str(cs_file))
    before = space_file.read_text()
    code, _, err = _run(capsys, "import", str(cs_file), "--from", "configspace", "-o", str(space_file))
    assert code == 2 and "already exists" in err
    assert space_file.read_text() == before


def test_import_without_out_prints_the_space(space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cs_file = tmp_path / "cs.json"
    _run(capsys, "export", str(space_file), "--to", "configspace", "-o", str(cs_file))
    code, out, _ = _run(capsys, "import", str(cs_file), "--from", "configspace")
    assert code == 0 and out == space_file.read_text()


def test_export_of_a_missing_space_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "export", str(tmp_path / "nope.yaml"), "--to", "wandb")
    assert code == 2 and "does not exist" in err


def test_a_value_configspace_cannot_hold_is_an_error_naming_it() -> None:
    space = Space(name="s", version=1, fixed={"tag": "\x00"}, params={"x": FloatParam(low=0.0, high=1.0)})
    with pytest.raises(SpaceError, match="ConfigSpace cannot hold 'tag'"):
        to_configspace(space)


@pytest.mark.parametrize("target", ["configspace", "wandb", "optuna"])
def test_export_replaces_an_earlier_export_but_no_other_file(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture, target: str
) -> None:
    out = tmp_path / "exported.txt"
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(out))[0] == 0
    out.write_text(out.read_text() + "\n# edited\n" if target != "configspace" else out.read_text())
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(out))[0] == 0  # regenerated in place
    assert "# edited" not in out.read_text()
    other = tmp_path / "other.v2.yaml"
    other.write_text("# hyperparameters exported by refine, then edited by hand\n" + space_file.read_text())
    empty = tmp_path / "empty.out"
    empty.write_text("")
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(empty))[0] == 0  # mktemp's file
    study = tmp_path / "study.db"
    sqlite3.connect(study).execute("CREATE TABLE t (x)").connection.commit()
    for victim, says in ((other, "is a refine space file"), (study, "is a SQLite database")):
        before = victim.read_bytes()
        code, _, err = _run(capsys, "export", str(space_file), "--to", target, "-o", str(victim))
        assert code == 2 and says in err and "--force" in err, err
        assert victim.read_bytes() == before
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(other), "--force")[0] == 0
    assert not other.read_text().startswith("# hyperparameters exported")


_BAD_YAML = {
    # a recursive alias: nothing could print or store the value
    "contains itself": "name: s\nhyperparameters: &h\n  - *h\nparameters: &p\n  x: *p\n",
    # YAML would keep the last `parameters` silently; space files refuse it, and so do other tools' files
    "has the key 'parameters' twice (line 2 and line 4)": (
        "name: s\nparameters:\n  x: {min: 0.0, max: 1.0}\nparameters:\n  y: {min: 0.0, max: 1.0}\n"
    ),
}


@pytest.mark.parametrize("source", ["configspace", "wandb"])
@pytest.mark.parametrize("says", list(_BAD_YAML))
def test_import_of_yaml_refine_would_not_read_as_a_space_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, source: str, says: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_BAD_YAML[says])
    code, _, err = _run(capsys, "import", str(path), "--from", source)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
