"""Export spaces to, and import them from, the tools users already have.

Three targets, each a plain text format a user can keep beside the space file:

* **ConfigSpace** (SMAC and other AutoML tools): ConfigSpace's own JSON or YAML
  serialization. ``log``, ``int`` and categorical ``weights`` are native,
  ``when`` becomes an ``EQ``/``IN`` condition and ``fixed`` values become
  constants. ConfigSpace 1.x has no quantization (``q``): a ``step`` is kept in
  the hyperparameter's ``meta`` (and a warning says ConfigSpace samples off the
  grid), as are ``limits``. What a ConfigSpace cannot say of a whole space
  (version, parent, directions, metric, order) travels in a top-level ``meta``
  key that ConfigSpace itself ignores, so that space -> ConfigSpace -> space
  gives the same space back.
* **W&B sweeps**: a sweep config in YAML. What W&B cannot express
  (conditionals, several objectives, an unaligned grid) is written as a comment
  in the YAML and returned as a warning, never dropped silently.
* **Optuna code**: a ``def suggest(trial) -> dict`` function to paste into an
  existing script (export only).

ConfigSpace is an optional dependency (``pip install 'refine[interop]'``),
imported only when a ConfigSpace is read or written.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import yaml
from attrs import frozen

from refine.errors import RefineError, SpaceError
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, InvalidParam, Param, Space
from refine.spacefile import read_text

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

__all__ = [
    "Exported",
    "Imported",
    "EXPORT_TARGETS",
    "IMPORT_SOURCES",
    "export_space",
    "import_space",
    "to_configspace",
    "from_configspace",
    "dump_configspace",
    "load_configspace",
    "dump_wandb",
    "wandb_to_space",
    "load_wandb",
    "dump_optuna",
    "sanitize_name",
]

#: The key under which refine keeps what a ConfigSpace cannot hold, in ``meta``.
META_KEY = "refine"

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


@frozen
class Exported:
    """A space written for another tool.

    Attributes:
        text: The file's content.
        warnings: What the target cannot express, one sentence each (also
            written as comments in the text where the format has comments).
    """

    text: str
    warnings: tuple[str, ...] = ()


@frozen
class Imported:
    """A space read from another tool's file.

    Attributes:
        space: The space (version 1 unless the file was exported by refine).
        warnings: What was approximated or ignored, one sentence each.
    """

    space: Space
    warnings: tuple[str, ...] = ()


def sanitize_name(text: str) -> str:
    """A space name (``[A-Za-z0-9_.-]+``) made from ``text``: accents dropped, other characters become ``_``."""
    from refine.study import safe_name

    return text if re.fullmatch(r"[A-Za-z0-9_.-]+", text) else safe_name(text, strip="_", default="space")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _configspace() -> Any:
    try:
        import ConfigSpace
    except ImportError:
        raise RefineError(
            "reading or writing a ConfigSpace needs the ConfigSpace package, which is not installed; "
            "install it with pip install 'refine[interop]'"
        ) from None
    return ConfigSpace


def _label(space: Space, where: str | None) -> str:
    return where or f"space '{space.name}' v{space.version}"


def _read_document(path: Path, what: str) -> Any:
    text = read_text(path, what, "a JSON or YAML file")
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            if path.suffix.lower() == ".json":
                raise SpaceError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    from refine.spacefile import _contains_itself, _Loader

    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader: YAML 1.2 floats (1e-5), no repeated keys
        if _contains_itself(doc):
            raise SpaceError(
                f"{path} has a value that contains itself (a YAML alias *name inside its own anchor &name); "
                "write the value out"
            )
        return doc
    except yaml.constructor.ConstructorError as e:
        raise SpaceError(
            f"{path} uses a YAML tag that is not allowed ({' '.join(str(e.problem).split())}); give plain data"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpaceError(
            f"{path} is not valid YAML{at}: {' '.join(str(getattr(e, 'problem', None) or e).split())}"
        ) from None


def _build_space(where: str, **kwargs: Any) -> Space:
    try:
        return Space(**kwargs)
    except InvalidParam as e:
        raise e.located(where=where) from None


def _build_param(cls: type, name: str, where: str, **kwargs: Any) -> Param:
    try:
        return cls(**kwargs)
    except InvalidParam as e:
        raise e.located(param=name, where=where) from None
    except (TypeError, ValueError) as e:
        raise InvalidParam(f"a {cls.kind} parameter could not be built", str(e), param=name, where=where) from None


# --------------------------------------------------------------------------- ConfigSpace


def _space_meta(space: Space) -> dict[str, Any]:
    return {
        "version": space.version,
        "parent": space.parent,
        "directions": list(space.directions),
        "metric": list(space.metric) if isinstance(space.metric, tuple) else space.metric,
        "params": list(space.params),
        "fixed": list(space.fixed),
    }


def _grid_step(p: Param) -> float | int | None:
    """The step of a numeric parameter on a grid coarser than the integers, else None."""
    if isinstance(p, FloatParam):
        return p.step
    if isinstance(p, IntParam) and p.step != 1:
        return p.step
    return None


def _param_meta(p: FloatParam | IntParam) -> dict[str, Any] | None:
    extra: dict[str, Any] = {}
    step = _grid_step(p)
    if step is not None:
        extra["step"] = step
    if p.limits is not None:
        extra["limits"] = list(p.limits)
    return {META_KEY: extra} if extra else None


def to_configspace(space: Space, *, where: str | None = None) -> tuple["ConfigurationSpace", tuple[str, ...]]:
    """Build a ConfigSpace ``ConfigurationSpace`` holding ``space``.

    Args:
        space: The space to convert.
        where: The space file, for messages.

    Returns:
        The configuration space and the warnings (steps that ConfigSpace
        samples off the grid).

    Raises:
        RefineError: ConfigSpace is not installed.
        SpaceError: A parameter has no ConfigSpace equivalent.
    """
    CS = _configspace()
    label = _label(space, where)
    warnings: list[str] = []
    cs = CS.ConfigurationSpace(name=space.name, meta={META_KEY: _space_meta(space)})
    hyperparameters = [_configspace_call(name, label, CS.Constant, name, value) for name, value in space.fixed.items()]
    for name, p in space.params.items():
        hyperparameters.append(_configspace_call(name, label, _hyperparameter, CS, name, p))
        step = _grid_step(p)
        if step is not None:
            warnings.append(
                f"ConfigSpace has no step (`q` was removed in ConfigSpace 1.0): step={step} of '{name}' "
                "is kept in the hyperparameter's meta, but ConfigSpace samplers draw off the grid"
            )
    cs.add(hyperparameters)
    for name, p in space.params.items():
        if p.when is not None:
            cs.add(_configspace_call(name, label, _condition, CS, cs, name, p.when))
    return cs, tuple(warnings)


def _configspace_call(name: str, label: str, build: Callable[..., Any], *args: Any) -> Any:
    try:
        return build(*args)
    except (ValueError, TypeError, KeyError) as e:
        raise SpaceError(
            f"ConfigSpace cannot hold '{name}' of {label}: {' '.join(str(e).split())}; change '{name}' so that "
            "ConfigSpace accepts it"
        ) from None


def _hyperparameter(CS: Any, name: str, p: Param) -> Any:
    if isinstance(p, CategoricalParam):
        for i, c in enumerate(p.choices):
            for d in p.choices[:i]:
                if c == d:
                    raise ValueError(
                        f"ConfigSpace treats the choices {d!r} and {c!r} as one choice; keep only one of them"
                    )
        return CS.CategoricalHyperparameter(
            name, list(p.choices), weights=None if p.weights is None else list(p.weights)
        )
    if isinstance(p, IntParam):
        return CS.UniformIntegerHyperparameter(name, p.low, p.high, log=p.log, meta=_param_meta(p))
    hp = CS.UniformFloatHyperparameter(name, p.low, p.high, log=p.log, meta=_param_meta(p))
    if (hp.lower, hp.upper) == (p.low, p.high):
        return hp
    # ConfigSpace rounds float bounds to a fixed number of decimals; keep the exact ones for the way back.
    meta = _param_meta(p) or {META_KEY: {}}
    meta[META_KEY].update(low=p.low, high=p.high)
    return CS.UniformFloatHyperparameter(name, p.low, p.high, log=p.log, meta=meta)


def _exact(rounded: float, exact: Any) -> float:
    """The exact bound kept in meta when it agrees with ConfigSpace's rounded one (the file was not edited)."""
    if _is_number(exact) and math.isclose(exact, rounded, rel_tol=1e-9, abs_tol=1e-12):
        return float(exact)
    return float(rounded)


def _condition(CS: Any, cs: Any, name: str, when: Condition) -> Any:
    child, parent = cs[name], cs[when.parent]
    if len(when.values) == 1:
        return CS.EqualsCondition(child, parent, when.values[0])
    return CS.InCondition(child, parent, list(when.values))


def _configspace_document(cs: "ConfigurationSpace") -> dict[str, Any]:
    doc = cs.to_serialized_dict()
    # ConfigSpace 1.2 does not serialize a space's own meta, and ignores the key when reading.
    doc["meta"] = cs.meta
    # A JSON round trip turns tuples and numpy scalars into plain data that safe YAML can write.
    return json.loads(json.dumps(doc, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialize {value!r}")


def dump_configspace(space: Space, *, fmt: str = "json", where: str | None = None) -> Exported:
    """The ConfigSpace serialization of ``space``, as JSON (``fmt="json"``) or YAML (``fmt="yaml"``)."""
    cs, warnings = to_configspace(space, where=where)
    doc = _configspace_document(cs)
    if fmt == "yaml":
        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)
    else:
        text = json.dumps(doc, indent=2) + "\n"
    return Exported(text, warnings)


def from_configspace(cs: "ConfigurationSpace", *, name: str | None = None, where: str | None = None) -> Imported:
    """Build a space from a ConfigSpace ``ConfigurationSpace``.

    Args:
        cs: The configuration space. Its ``meta["refine"]`` (written by
            :func:`to_configspace`) restores version, parent, directions,
            metric and order; without it the space is version 1.
        name: The space's name; default: the configuration space's name.
        where: The file it came from, for messages.

    Raises:
        SpaceError: ``cs`` holds what a refine space cannot express (forbidden
            clauses, OR/AND of conditions on several parents, LT/GT/NEQ
            conditions, normal or beta hyperparameters).
    """
    CS = _configspace()
    where = where or "the ConfigSpace"
    warnings: list[str] = []
    for clause in cs.forbidden_clauses:
        raise SpaceError(
            f"forbidden clauses cannot be expressed in a refine space, got `{clause}` in {where}; "
            "remove the clause (refine has no forbidden combinations) or express it with `when`"
        )
    whens = {c.child.name: _when_from_condition(CS, c, where) for c in cs.conditions}
    meta = (cs.meta or {}).get(META_KEY) or {}
    if not meta:
        warnings.append(
            f"{where} does not say the objective's direction; the space says minimize, edit `direction` if you maximize"
        )
    fixed: dict[str, Any] = {}
    params: dict[str, Param] = {}
    for hp in cs.values():
        if isinstance(hp, CS.Constant):
            if hp.name in whens:
                raise InvalidParam(
                    "a fixed value cannot be conditional",
                    f"constant with condition `{whens[hp.name].parent}`",
                    "remove the condition or make the constant a categorical with one choice",
                    param=hp.name,
                    where=where,
                )
            fixed[hp.name] = hp.value
        else:
            params[hp.name] = _param_from_hyperparameter(CS, hp, whens.get(hp.name), where, warnings)
    params = _ordered(params, meta.get("params"))
    fixed = _ordered(fixed, meta.get("fixed"))
    space = _build_space(
        where,
        name=name if name is not None else sanitize_name(cs.name) if cs.name else "space",
        version=meta.get("version", 1),
        parent=meta.get("parent"),
        directions=tuple(meta.get("directions") or ("minimize",)),
        metric=meta.get("metric"),
        fixed=fixed,
        params=params,
    )
    return Imported(space, tuple(warnings))


def _ordered(items: dict[str, Any], order: Any) -> dict[str, Any]:
    if not isinstance(order, list):
        return items
    rank = {n: i for i, n in enumerate(order)}
    return dict(sorted(items.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _when_from_condition(CS: Any, cond: Any, where: str) -> Condition:
    child = cond.child.name
    if isinstance(cond, CS.OrConjunction):
        # An OR of EQ/IN on one parent is an IN; an OR of ranges or of several parents is not.
        simple = all(isinstance(c, (CS.EqualsCondition, CS.InCondition)) for c in cond.components)
        parts = [_when_from_condition(CS, c, where) for c in cond.components] if simple else []
        if parts and len({p.parent for p in parts}) == 1:
            values: list[Any] = []
            for part in parts:
                values.extend(v for v in part.values if v not in values)
            return Condition(parts[0].parent, values)
        raise InvalidParam(
            "a `when` is one EQ or IN condition on one parent, so an OR of ranges or of several parents cannot "
            "be expressed",
            f"`{cond}`",
            "keep one parent with the values that activate the parameter, or remove the condition",
            param=child,
            where=where,
        )
    if isinstance(cond, CS.AndConjunction):
        raise InvalidParam(
            "a `when` has one parent, so an AND of conditions cannot be expressed",
            f"`{cond}`",
            "keep one EQ or IN condition, or nest the parameters (a `when` on a conditional parent implies the "
            "parent's)",
            param=child,
            where=where,
        )
    if isinstance(cond, CS.InCondition):
        return Condition(cond.parent.name, list(cond.values))
    if isinstance(cond, CS.EqualsCondition):
        return Condition(cond.parent.name, cond.value)
    raise InvalidParam(
        "only EQ and IN conditions can be expressed as `when`",
        f"`{cond}` ({type(cond).__name__})",
        "replace it with an EQ or IN condition on the parent's values",
        param=child,
        where=where,
    )


def _param_from_hyperparameter(CS: Any, hp: Any, when: Condition | None, where: str, warnings: list[str]) -> Param:
    extra = hp.meta.get(META_KEY) if isinstance(hp.meta, Mapping) else None
    if not isinstance(extra, Mapping):
        extra = {}
    if isinstance(hp, CS.CategoricalHyperparameter):
        weights = None if hp.weights is None else [float(w) for w in hp.weights]
        return _build_param(CategoricalParam, hp.name, where, choices=tuple(hp.choices), weights=weights, when=when)
    if isinstance(hp, CS.OrdinalHyperparameter):
        warnings.append(
            f"ordinal '{hp.name}' in {where} became a categorical: refine keeps the order of its choices but "
            "samples them unordered"
        )
        return _build_param(CategoricalParam, hp.name, where, choices=tuple(hp.sequence), when=when)
    if isinstance(hp, CS.UniformFloatHyperparameter):
        return _build_param(
            FloatParam,
            hp.name,
            where,
            low=_exact(hp.lower, extra.get("low")),
            high=_exact(hp.upper, extra.get("high")),
            log=bool(hp.log),
            step=extra.get("step"),
            limits=extra.get("limits"),
            when=when,
        )
    if isinstance(hp, CS.UniformIntegerHyperparameter):
        return _build_param(
            IntParam,
            hp.name,
            where,
            low=int(hp.lower),
            high=int(hp.upper),
            log=bool(hp.log),
            step=extra.get("step", 1),
            limits=extra.get("limits"),
            when=when,
        )
    raise InvalidParam(
        "refine spaces hold uniform or log-uniform ranges and categoricals",
        f"a {type(hp).__name__}",
        "replace it with a uniform float or integer hyperparameter over the same bounds",
        param=hp.name,
        where=where,
    )


def load_configspace(path: str | os.PathLike, *, name: str | None = None) -> Imported:
    """Read a ConfigSpace JSON or YAML serialization as a space.

    Files written by ConfigSpace before 1.0 may carry ``q``: it is read as ``step``.

    Args:
        path: The file (``.json``, or ``.yaml``/``.yml``).
        name: The space's name; default: the configuration space's name, else the file's stem.

    Raises:
        SpaceError: The file is not a ConfigSpace serialization, or holds what
            a refine space cannot express.
    """
    CS = _configspace()
    path = Path(path)
    doc = _read_document(path, "ConfigSpace")
    if not isinstance(doc, Mapping) or not isinstance(doc.get("hyperparameters"), list):
        raise SpaceError(
            f"{path} is not a ConfigSpace serialization: it has no `hyperparameters` list; export it with "
            "ConfigurationSpace.to_json"
        )
    doc = json.loads(json.dumps(doc))
    for item in doc["hyperparameters"]:
        if (
            isinstance(item, dict)
            and item.get("q") is not None
            and item.get("type") in ("uniform_float", "uniform_int")
        ):
            q = item.pop("q")
            meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
            meta.setdefault(META_KEY, {}).setdefault("step", q)
            item["meta"] = meta
    try:
        cs = CS.ConfigurationSpace.from_serialized_dict(doc)
    except (ValueError, TypeError, KeyError) as e:
        raise SpaceError(
            f"{path} could not be read as a ConfigSpace: {' '.join(str(e).split())}; check the file against "
            "ConfigSpace's serialization format"
        ) from None
    cs.meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else None
    if name is None:
        name = sanitize_name(cs.name) if cs.name else sanitize_name(path.stem)
    return from_configspace(cs, name=name, where=str(path))


# --------------------------------------------------------------------------- W&B


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
    if _grid_step(p) is not None:
        high = _grid_high(p)
        if not _is_multiple(p.low, p.step):
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


class _Flow(dict):
    """A mapping written on one line."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)
)


def _yaml_block(doc: Mapping[str, Any], indent: int = 0) -> list[str]:
    text = yaml.dump(
        dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10**6
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
        lines += _yaml_block({name: _Flow(value=value)}, indent=2)
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
        lines += _yaml_block({name: _Flow(body)}, indent=2)
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


# --------------------------------------------------------------------------- Optuna code


def _literal(value: Any, what: str) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v, what) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k, what)}: {_literal(v, what)}" for k, v in value.items()) + "}"
    raise SpaceError(
        f"{what} cannot be written as Python code, got {value!r} ({type(value).__name__}); use plain numbers, "
        "strings, lists or mappings"
    )


def _test(var: str, values: tuple, parent_values: tuple | None) -> str:
    """A Python test that ``var`` is one of ``values``, keeping ``True`` apart from ``1`` as refine does."""
    has_bool = parent_values is not None and any(isinstance(v, bool) for v in parent_values)

    def one(v: Any) -> str:
        if v is None or isinstance(v, bool):
            return f"{var} is {v!r}"
        if has_bool and _is_number(v):
            return f"({var} == {_literal(v, var)} and not isinstance({var}, bool))"
        return f"{var} == {_literal(v, var)}"

    if len(values) > 1 and not has_bool and not any(v is None or isinstance(v, bool) for v in values):
        return f"{var} in ({', '.join(_literal(v, var) for v in values)})"
    return " or ".join(one(v) for v in values)


def _suggest_call(name: str, p: Param) -> str:
    n = _literal(name, f"the name '{name}'")
    if isinstance(p, CategoricalParam):
        return f"trial.suggest_categorical({n}, {_literal(list(p.choices), f'the choices of {name!r}')})"
    method = "suggest_float" if isinstance(p, FloatParam) else "suggest_int"
    args = [n, _literal(p.low, name), _literal(p.high, name)]
    if isinstance(p, FloatParam) and p.step is not None:
        args.append(f"step={_literal(p.step, name)}")
    if isinstance(p, IntParam) and p.step != 1:
        args.append(f"step={p.step}")
    if p.log:
        args.append("log=True")
    return f"trial.{method}({', '.join(args)})"


def dump_optuna(space: Space, *, where: str | None = None) -> Exported:
    """Python code defining ``suggest(trial) -> dict``, the ``trial.suggest_*`` calls of ``space``.

    Conditional parameters are sampled inside ``if`` blocks on their parent;
    fixed values are in the returned dict. Optuna has no per-choice weights: they
    become a comment and a warning.
    """
    label = _label(space, where)
    warnings: list[str] = []
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for name, p in space.params.items():
        if p.when is not None and p.when.parent in space.params:
            children.setdefault(p.when.parent, []).append(name)
        else:
            roots.append(name)

    def parent_values(parent: str) -> tuple | None:
        pp = space.params.get(parent)
        if isinstance(pp, CategoricalParam):
            return pp.choices
        if parent in space.fixed:
            return (space.fixed[parent],)
        return None

    def emit(names: list[str], indent: str) -> list[str]:
        out: list[str] = []
        # A `when` on a fixed parent is decided by the fixed value; group such parameters under one `if`.
        on_fixed: dict[tuple, list[str]] = {}
        for name in names:
            when = space.params[name].when
            if when is not None and when.parent in space.fixed:
                on_fixed.setdefault((when.parent, when.values), []).append(name)
            else:
                out += emit_one(name, indent)
        for (parent, values), group in on_fixed.items():
            out.append(f"{indent}if {_test(f'config[{_literal(parent, parent)}]', values, parent_values(parent))}:")
            for name in group:
                out += emit_one(name, indent + "    ")
        return out

    def emit_one(name: str, indent: str) -> list[str]:
        p = space.params[name]
        out: list[str] = []
        if isinstance(p, CategoricalParam) and p.weights is not None:
            msg = f"weights {list(p.weights)} of '{name}': Optuna's samplers have no per-choice weights"
            out.append(f"{indent}# NOT EXPRESSED: {msg}")
            warnings.append(msg)
        var = f"config[{_literal(name, name)}]"
        out.append(f"{indent}{var} = {_suggest_call(name, p)}")
        groups: dict[tuple, list[str]] = {}
        for child in children.get(name, []):
            when = space.params[child].when
            assert when is not None
            groups.setdefault(when.values, []).append(child)
        for values, group in groups.items():
            out.append(f"{indent}if {_test(var, values, parent_values(name))}:")
            for child in group:
                out += emit_one(child, indent + "    ")
        return out

    fixed = [
        f"        {_literal(k, k)}: {_literal(v, f'fixed value {k!r} of {label}')}," for k, v in space.fixed.items()
    ]
    body = ["    config = {", *fixed, "    }"] if fixed else ["    config = {}"]
    body += emit(roots, "    ")
    objective = ", ".join(space.directions) + (f" {space.metric_label}" if space.metric else "")
    lines = [
        f'"""Search space \'{space.name}\' v{space.version} ({objective}) as Optuna code, exported by refine."""',
        "",
        "",
        "def suggest(trial) -> dict:",
        '    """Sample one configuration with ``trial.suggest_*``; fixed values are included."""',
        *body,
        "    return config",
    ]
    return Exported("\n".join(lines) + "\n", tuple(warnings))


# --------------------------------------------------------------------------- entry points

EXPORT_TARGETS = ("configspace", "wandb", "optuna")
IMPORT_SOURCES = ("configspace", "wandb")


def export_space(
    space: Space, target: str, *, where: str | None = None, out: str | os.PathLike | None = None
) -> Exported:
    """Write ``space`` for ``target`` (one of :data:`EXPORT_TARGETS`).

    Args:
        space: The space.
        target: ``configspace``, ``wandb`` or ``optuna``.
        where: The space file, for messages.
        out: The output file, if any: a ConfigSpace written to ``.yaml``/``.yml`` is YAML, else JSON.

    Raises:
        RefineError: ``target`` is unknown.
    """
    if target == "configspace":
        fmt = "yaml" if out is not None and Path(out).suffix.lower() in (".yaml", ".yml") else "json"
        return dump_configspace(space, fmt=fmt, where=where)
    if target == "wandb":
        return dump_wandb(space, where=where)
    if target == "optuna":
        return dump_optuna(space, where=where)
    raise RefineError(
        f"--to must be one of {', '.join(EXPORT_TARGETS)}, got {target!r}; pick the tool the space goes to"
    )


def import_space(path: str | os.PathLike, source: str, *, name: str | None = None) -> Imported:
    """Read ``path`` written for ``source`` (one of :data:`IMPORT_SOURCES`) as a space.

    Raises:
        RefineError: ``source`` is unknown.
    """
    if source == "configspace":
        return load_configspace(path, name=name)
    if source == "wandb":
        return load_wandb(path, name=name)
    raise RefineError(
        f"--from must be one of {', '.join(IMPORT_SOURCES)}, got {source!r}; Optuna code cannot be imported"
    )
