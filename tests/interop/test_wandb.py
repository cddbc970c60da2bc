"""W&B sweep configs (refine/interop/wandb.py): only documented keys, both ways."""

from __future__ import annotations

import math
import re
from pathlib import Path

import attrs
import pytest
import yaml
from hypothesis import given

from refine.errors import SpaceError
from refine.interop import dump_wandb, load_wandb, wandb_to_space
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.spacefile import load_space
from tests.interop.conftest import _SETTINGS, _example_space, _run, spaces

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
