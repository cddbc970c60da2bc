"""W&B sweeps: a sweep config in YAML.

What W&B cannot express (conditionals, several objectives, an unaligned grid)
is written as a comment in the YAML and returned as a warning, never dropped
silently.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from refine.errors import SpaceError
from refine.interop._common import (
    Exported,
    Imported,
    _build_param,
    _build_space,
    _grid_step,
    _is_number,
    _label,
    _read_document,
    sanitize_name,
)
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, InvalidParam, Param, Space
from refine.yamlfile import Dumper, Flow

__all__ = ["dump_wandb", "wandb_to_space", "load_wandb"]

#: Parameter names W&B accepts (its sweep config schema).
_WANDB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

#: Top-level keys of a W&B sweep config, as documented, and what refine reads.
_WANDB_TOP_KEYS = (
    "program",
    "entity",
    "project",
    "description",
    "name",
    "method",
    "metric",
    "metrics",
    "parameters",
    "early_terminate",
    "command",
    "run_cap",
    "apiVersion",
    "kind",
    "controller",
    "job",
    "image_uri",
    "scheduler",
)
_WANDB_METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_WANDB_PARAM_KEYS = (
    "value",
    "values",
    "probabilities",
    "distribution",
    "min",
    "max",
    "q",
    "mu",
    "sigma",
    "a",
    "b",
    "parameters",
)
_WANDB_UNSUPPORTED = {
    "normal": "a normal distribution",
    "q_normal": "a quantized normal distribution",
    "log_normal": "a log-normal distribution",
    "q_log_normal": "a quantized log-normal distribution",
    "beta": "a beta distribution",
    "q_beta": "a quantized beta distribution",
    "inv_log_uniform": "an inverse log-uniform distribution",
    "inv_log_uniform_values": "an inverse log-uniform distribution",
    "q_log_uniform": "a quantized log-uniform distribution over exponents",
}
_WANDB_SUPPORTED = (
    "constant",
    "categorical",
    "categorical_w_probabilities",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform_values",
)


def _on_grid(value: float, q: float) -> float:
    """The multiple of ``q`` nearest ``value``; ``value`` itself when it is one (up to rounding)."""
    grid = round(value / q) * q
    return value if math.isclose(grid, value, rel_tol=1e-9, abs_tol=1e-12) else grid


def _is_multiple(value: float, step: float) -> bool:
    k = round(value / step)
    return math.isclose(k * step, value, rel_tol=1e-9, abs_tol=1e-12)


def _grid_high(p: FloatParam | IntParam) -> float | int:
    """The largest grid point ``low + k * step`` not above ``high`` (what Optuna samples up to)."""
    assert p.step is not None
    k = math.floor((p.high - p.low) / p.step + 1e-9)
    high = p.low + k * p.step
    if isinstance(p, IntParam):
        return int(high)
    return p.high if math.isclose(high, p.high, rel_tol=1e-9, abs_tol=1e-12) else float(high)


def _wandb_parameter(name: str, p: Param, notes: list[str]) -> dict[str, Any]:
    if isinstance(p, CategoricalParam):
        out: dict[str, Any] = {"values": list(p.choices)}
        if p.weights is not None:
            out["probabilities"] = list(p.normalized_weights())
            notes.append("weights as `probabilities`: W&B honours them with method random only")
        return out
    if isinstance(p, IntParam) and p.log:
        notes.append("log-scaled integers: q_log_uniform_values with an integer q returns integers")
        return {"distribution": "q_log_uniform_values", "min": p.low, "max": p.high, "q": 1}
    step = _grid_step(p)
    if step is not None:
        high = _grid_high(p)
        if not _is_multiple(p.low, step):
            notes.append(
                f"W&B rounds q_uniform to multiples of q={p.step}, while refine's grid is low + k*step from {p.low}: "
                "the sampled values differ; move `low` to a multiple of `step` to make them agree"
            )
        return {"distribution": "q_uniform", "min": p.low, "max": high, "q": p.step}
    if isinstance(p, IntParam):
        return {"distribution": "int_uniform", "min": p.low, "max": p.high}
    if p.log:
        return {"distribution": "log_uniform_values", "min": p.low, "max": p.high}
    return {"distribution": "uniform", "min": p.low, "max": p.high}


def _describe_when(when: Condition) -> str:
    values = " or ".join(repr(v) for v in when.values)
    return f"{when.parent} is {values}"


def _yaml_block(doc: Mapping[str, Any], indent: int = 0) -> list[str]:
    text = yaml.dump(
        dict(doc), Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**6
    )
    return [" " * indent + line for line in text.splitlines()]


def dump_wandb(space: Space, *, where: str | None = None) -> Exported:
    """A W&B sweep config (YAML) for ``space``.

    The method is ``random`` (the only one that honours ``probabilities``).
    Comments in the YAML, and the returned warnings, say what W&B cannot
    express: ``when`` conditions, several objectives, a grid W&B rounds
    differently, a direction without a metric name.

    Raises:
        SpaceError: A parameter's name is not one W&B accepts.
    """
    label = _label(space, where)
    for name in [*space.fixed, *space.params]:
        if not _WANDB_NAME.match(name):
            raise SpaceError(
                f"W&B parameter names must match [A-Za-z_][A-Za-z0-9_.-]*, got '{name}' in {label}; rename the "
                "parameter"
            )
    warnings: list[str] = []
    header = [
        f"# W&B sweep config exported by refine from space '{space.name}' v{space.version}.",
        "# Add `program: <your training script>` to launch it with `wandb agent`.",
    ]
    doc: dict[str, Any] = {"method": "random"}
    if space.metric is not None:
        first = space.metric[0] if isinstance(space.metric, tuple) else space.metric
        doc["metric"] = {"name": first, "goal": space.direction}
        if space.multi_objective:
            msg = (
                f"W&B optimizes one metric: '{space.metric_label}' has directions {list(space.directions)} in {label}; "
                f"the sweep says goal: {space.direction}"
            )
            header.append(f"# NOT EXPRESSED: {msg}")
            warnings.append(msg)
    else:
        msg = (
            f"{label} names no `metric`, so its direction ({', '.join(space.directions)}) is not in the sweep; "
            f"add `metric: {{name: <logged metric>, goal: {space.direction}}}`"
        )
        header.append(f"# NOT EXPRESSED: {msg}")
        warnings.append(msg)
    lines = header + _yaml_block(doc) + ["parameters:"]
    for name, value in space.fixed.items():
        lines += _yaml_block({name: Flow(value=value)}, indent=2)
    for name, p in space.params.items():
        notes: list[str] = []
        body = _wandb_parameter(name, p, notes)
        if p.when is not None:
            msg = (
                f"'{name}' is sampled only when {_describe_when(p.when)} (`when`), "
                "but W&B has no conditional parameters: every run gets a value"
            )
            lines.append(f"  # NOT EXPRESSED: {msg}")
            warnings.append(msg)
        for note in notes:
            if note.startswith("W&B rounds"):
                lines.append(f"  # NOT EXPRESSED: {note}")
                warnings.append(f"'{name}': {note}")
            else:
                lines.append(f"  # {note}")
        lines += _yaml_block({name: Flow(body)}, indent=2)
    return Exported("\n".join(lines) + "\n", tuple(warnings))


def _wandb_param_error(invariant: str, got: str, fix: str, name: str, where: str) -> InvalidParam:
    return InvalidParam(invariant, got, fix, param=name, where=where)


def _wandb_param(name: str, raw: Any, where: str, warnings: list[str]) -> tuple[str, Any]:
    """``("fixed", value)`` or ``("param", Param)`` for one W&B parameter."""
    if not isinstance(raw, Mapping):
        raise _wandb_param_error(
            "a W&B parameter must be a mapping", repr(raw), "write e.g. `{min: 0.0, max: 1.0}`", name, where
        )
    for key in raw:
        if key not in _WANDB_PARAM_KEYS:
            raise _wandb_param_error(
                f"unknown key '{key}' in a W&B parameter",
                "",
                f"documented keys: {', '.join(_WANDB_PARAM_KEYS)}",
                name,
                where,
            )
    if "parameters" in raw:
        raise _wandb_param_error(
            "nested `parameters` cannot be expressed in a refine space",
            "",
            "flatten them into top-level parameters",
            name,
            where,
        )
    dist = raw.get("distribution")
    if dist is None:
        if "value" in raw:
            dist = "constant"
        elif "values" in raw:
            dist = "categorical"
        elif all(_is_number(raw.get(k)) and isinstance(raw.get(k), int) for k in ("min", "max")):
            dist = "int_uniform"
        else:
            dist = "uniform"
    if dist in _WANDB_UNSUPPORTED:
        raise _wandb_param_error(
            "refine spaces hold uniform and log-uniform ranges and categoricals",
            f"distribution: {dist} ({_WANDB_UNSUPPORTED[dist]})",
            "use uniform, int_uniform, q_uniform, log_uniform_values or values",
            name,
            where,
        )
    if dist not in _WANDB_SUPPORTED:
        raise _wandb_param_error(
            "`distribution` must be one W&B documents",
            f"distribution: {dist!r}",
            f"use one of {', '.join(_WANDB_SUPPORTED)}",
            name,
            where,
        )
    if dist == "constant":
        if "value" not in raw:
            raise _wandb_param_error("a constant parameter needs `value`", "", "", name, where)
        return "fixed", raw["value"]
    if dist in ("categorical", "categorical_w_probabilities"):
        values = raw.get("values")
        if not isinstance(values, list):
            raise _wandb_param_error(
                "a categorical parameter needs a `values` list", f"values={values!r}", "", name, where
            )
        weights = raw.get("probabilities")
        return "param", _build_param(CategoricalParam, name, where, choices=tuple(values), weights=weights)
    for key in ("min", "max"):
        if not _is_number(raw.get(key)):
            raise _wandb_param_error(
                f"distribution {dist} needs a number `{key}`", f"{key}={raw.get(key)!r}", "", name, where
            )
    low, high = raw["min"], raw["max"]
    if dist == "int_uniform":
        if not (isinstance(low, int) and isinstance(high, int)):
            raise _wandb_param_error(
                "int_uniform needs integer `min` and `max`", f"min={low!r}, max={high!r}", "", name, where
            )
        return "param", _build_param(IntParam, name, where, low=low, high=high)
    if dist == "uniform":
        return "param", _build_param(FloatParam, name, where, low=low, high=high)
    if dist == "log_uniform_values":
        return "param", _build_param(FloatParam, name, where, low=low, high=high, log=True)
    if dist == "log_uniform":
        # W&B's log_uniform takes natural-log exponents as min and max.
        return "param", _build_param(FloatParam, name, where, low=math.exp(low), high=math.exp(high), log=True)
    q = raw.get("q", 1)
    if not _is_number(q) or q <= 0:
        raise _wandb_param_error("`q` must be a number > 0", f"q={q!r}", "", name, where)
    if dist == "q_log_uniform_values":
        if q == 1 and isinstance(q, int) and isinstance(low, int) and isinstance(high, int):
            return "param", _build_param(IntParam, name, where, low=low, high=high, log=True)
        raise _wandb_param_error(
            "a quantized log range is expressible only as log-scaled integers (integer min, max and q: 1)",
            f"min={low!r}, max={high!r}, q={q!r}",
            "use log_uniform_values for floats",
            name,
            where,
        )
    # q_uniform samples round(x / q) * q: multiples of q between the rounded bounds.
    is_int = isinstance(q, int) and isinstance(low, int) and isinstance(high, int)
    grid_low, grid_high = _on_grid(low, q), _on_grid(high, q)
    if is_int:
        grid_low, grid_high = int(grid_low), int(grid_high)
    if (grid_low, grid_high) != (low, high):
        warnings.append(
            f"q_uniform '{name}' in {where} samples multiples of q={q}: its range became [{grid_low}, {grid_high}]"
        )
    if is_int:
        return "param", _build_param(IntParam, name, where, low=grid_low, high=grid_high, step=q)
    return "param", _build_param(FloatParam, name, where, low=float(grid_low), high=float(grid_high), step=float(q))


def wandb_to_space(doc: Any, *, name: str, where: str = "the W&B config") -> Imported:
    """Build a space (version 1) from a W&B sweep config document.

    Args:
        doc: The parsed sweep config.
        name: The space's name.
        where: The file it came from, for messages.

    Raises:
        SpaceError: A key is not documented by W&B, or a parameter uses what a
            refine space cannot express (normal, beta or inverse distributions,
            nested parameters).
    """
    if not isinstance(doc, Mapping):
        raise SpaceError(f"{where} is not a W&B sweep config: expected a mapping with `parameters`")
    for key in doc:
        if key not in _WANDB_TOP_KEYS:
            raise SpaceError(
                f"unknown top-level key '{key}' in the W&B config {where}; documented keys: "
                f"{', '.join(_WANDB_TOP_KEYS)}"
            )
    raw_params = doc.get("parameters")
    if not isinstance(raw_params, Mapping) or not raw_params:
        raise SpaceError(
            f"{where} has no `parameters` mapping; a W&B sweep config lists its parameters under `parameters`"
        )
    warnings: list[str] = []
    ignored = [k for k in doc if k not in ("method", "metric", "metrics", "parameters", "name")]
    if ignored:
        warnings.append(f"ignored {', '.join(ignored)} in {where}: they say how to run the sweep, not what to search")
    directions: list[str] = []
    labels: list[str] = []
    metrics = doc.get("metrics") if "metrics" in doc else ([doc["metric"]] if "metric" in doc else [])
    if not isinstance(metrics, list):
        raise SpaceError(f"`metrics` must be a list of metrics in {where}, got {metrics!r}")
    for metric in metrics:
        if not isinstance(metric, Mapping) or not isinstance(metric.get("name"), str):
            raise SpaceError(
                f"a W&B metric must be a mapping with a `name` in {where}, got {metric!r}; write e.g. `metric: "
                "{name: val_loss, goal: minimize}`"
            )
        for key in metric:
            if key not in _WANDB_METRIC_KEYS:
                raise SpaceError(
                    f"unknown key '{key}' in the metric of {where}; documented keys: {', '.join(_WANDB_METRIC_KEYS)}"
                )
        goal = metric.get("goal", "minimize")
        if goal not in ("minimize", "maximize"):
            raise SpaceError(f"metric goal must be minimize or maximize in {where}, got goal={goal!r}")
        directions.append(goal)
        labels.append(metric["name"])
        dropped = [k for k in metric if k not in ("name", "goal")]
        if dropped:
            warnings.append(
                f"ignored {', '.join(dropped)} of metric '{metric['name']}' in {where}: a space has no stopping target"
            )
    fixed: dict[str, Any] = {}
    params: dict[str, Param] = {}
    for pname, raw in raw_params.items():
        kind, value = _wandb_param(str(pname), raw, where, warnings)
        if kind == "fixed":
            fixed[str(pname)] = value
        else:
            params[str(pname)] = value
    space = _build_space(
        where,
        name=name,
        version=1,
        directions=tuple(directions or ("minimize",)),
        metric=(labels[0] if len(labels) == 1 else tuple(labels)) if labels else None,
        fixed=fixed,
        params=params,
    )
    return Imported(space, tuple(warnings))


def load_wandb(path: str | os.PathLike, *, name: str | None = None) -> Imported:
    """Read a W&B sweep config (YAML or JSON) as a space, version 1.

    Args:
        path: The sweep config file.
        name: The space's name; default: the config's ``name``, else the file's stem
            (either with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``).
    """
    path = Path(path)
    doc = _read_document(path, "W&B sweep config")
    if name is None:
        own = doc.get("name") if isinstance(doc, Mapping) else None
        name = sanitize_name(own if isinstance(own, str) and own.strip() else path.stem)
    return wandb_to_space(doc, name=name, where=str(path))
