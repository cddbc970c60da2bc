"""Space files: YAML in, :class:`~refine.space.Space` out, and back (SPEC section 1).

This module owns the one cattrs converter of the project. Structuring checks the
parameter ``type`` tag and unknown keys itself, because cattrs reduces those to
"invalid value" or a missing field; the model's validators supply every other
message, and this module adds the file name.

The writer is stable: the same space gives byte-identical output, keys come in
a fixed, readable order, each parameter is one flow-style line and floats are
written with ``repr`` so that they read back equal.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import cattrs
import yaml

from refine.errors import SpaceError
from refine.files import (  # re-exported: they were written here first, and commands import them from here
    atomic_write,
    new_folders,
    read_text,
    refuse_overwriting_inputs,
    refuse_replacing_another_file,
    remove_folders,
)
from refine.space import (
    PARAM_KINDS,
    CategoricalParam,
    Condition,
    FloatParam,
    IntParam,
    InvalidParam,
    Param,
    Space,
)
from refine.yamlfile import Dumper, Flow, load_yaml

__all__ = [
    "dump_space",
    "load_space",
    "save_space",
    "space_from_dict",
    "space_to_dict",
    "space_from_json",
    "space_to_json",
    "atomic_write",
    "new_folders",
    "read_text",
    "refuse_overwriting_inputs",
    "refuse_replacing_another_file",
    "remove_folders",
]

_TOP_KEYS = ("name", "version", "parent", "direction", "directions", "metric", "fixed", "params", "param_ranges")
_PARAM_KEYS = {
    "float": ("type", "low", "high", "step", "log", "limits", "when"),
    "int": ("type", "low", "high", "step", "log", "limits", "when"),
    "categorical": ("type", "choices", "weights", "when"),
}

_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=False)


def _structure_condition(value: Any, _: type) -> Condition:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise InvalidParam(
            "`when` must be a mapping of one parent to a value or a list of values",
            repr(value),
            "write e.g. `when: {encoder: context}`",
        )
    ((parent, values),) = value.items()
    return Condition(str(parent), values)


def _unstructure_condition(c: Condition) -> dict:
    return {c.parent: c.values[0] if len(c.values) == 1 else list(c.values)}


_converter.register_structure_hook(Condition, _structure_condition)
_converter.register_unstructure_hook(Condition, _unstructure_condition)
_converter.register_structure_hook(Any, lambda v, _: v)


def _structure_param(name: str, raw: Any) -> Param:
    if not isinstance(raw, Mapping):
        raise InvalidParam(
            "a parameter must be a mapping with a `type`",
            repr(raw),
            "write e.g. `{type: float, low: 0, high: 1}`",
            param=name,
        )
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in PARAM_KINDS:
        raise InvalidParam(
            "`type` must be one of float, int, categorical",
            f"type={kind!r}" if "type" in raw else "no `type`",
            "a log scale is `type: float` (or int) with `log: true`; a grid is `step:`",
            param=name,
        )
    allowed = _PARAM_KEYS[kind]
    for key in raw:
        if key not in allowed:
            raise InvalidParam(
                f"unknown key '{key}' in a {kind} parameter",
                "",
                f"allowed keys: {', '.join(allowed)}",
                param=name,
            )
    body = {k: v for k, v in raw.items() if k != "type"}
    required = ("choices",) if kind == "categorical" else ("low", "high")
    for key in required:
        if key not in body:
            raise InvalidParam(f"a {kind} parameter needs `{key}`", "", param=name)
    if kind == "float":
        for key in ("low", "high", "step"):
            if (
                key in body
                and body[key] is not None
                and (isinstance(body[key], bool) or not isinstance(body[key], (int, float)))
            ):
                raise InvalidParam(f"`{key}` must be a number", f"{key}={body[key]!r}", param=name)
    if kind == "int":  # never cut 1.5 down to 1 behind the user's back
        for key in ("low", "high", "step"):
            v = body.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                if isinstance(v, float) and v.is_integer():
                    body[key] = int(v)
                    continue
                what = "an integer" + (" >= 1" if key == "step" else "")
                raise InvalidParam(
                    f"`{key}` of an int parameter must be {what}",
                    f"{key}={v!r}",
                    "or make it `type: float`",
                    param=name,
                )
    if "log" in body and not isinstance(body["log"], bool):
        raise InvalidParam("`log` must be true or false", f"log={body['log']!r}", param=name)
    if "limits" in body and (not isinstance(body["limits"], (list, tuple)) or len(body["limits"]) != 2):
        raise InvalidParam("`limits` must be a list [lo, hi]", f"limits={body['limits']!r}", param=name)
    if body.get("limits") is not None:
        _check_limit_values(body, kind, name)
    if kind == "categorical" and not isinstance(body["choices"], (list, tuple)):
        raise InvalidParam("`choices` must be a list", f"choices={body['choices']!r}", param=name)
    if kind == "categorical":
        _check_choices(body["choices"], name)
    if "weights" in body and body["weights"] is not None:
        w = body["weights"]
        if not isinstance(w, (list, tuple)) or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in w):
            raise InvalidParam("`weights` must be a list of numbers", f"weights={w!r}", param=name)
    try:
        return _converter.structure(body, PARAM_KINDS[kind])
    except InvalidParam as e:
        raise e.located(param=name) from None
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidParam(f"a {kind} parameter could not be read", str(e), param=name) from None


def _check_limit_values(body: dict, kind: str, name: str) -> None:
    """Numbers, never NaN; an int parameter's are integers, kept as written (never rounded to one)."""
    limits = list(body["limits"])
    for i, v in enumerate(limits):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
            raise InvalidParam("`limits` must be two numbers [lo, hi]", f"limits={body['limits']!r}", param=name)
        if kind == "int":
            if isinstance(v, float) and not v.is_integer():
                raise InvalidParam(
                    "`limits` of an int parameter must be integers",
                    f"limits={body['limits']!r}",
                    "write whole numbers, e.g. [1, 1024] (a very large one leaves a side open)",
                    param=name,
                )
            limits[i] = int(v)
    body["limits"] = limits


def _check_choices(choices: Sequence[Any], name: str) -> None:
    """What Optuna cannot keep apart: NaN (equal to nothing) and 1 / True, 0 / False (equal in Python)."""
    for c in choices:
        if isinstance(c, float) and not math.isfinite(c):
            raise InvalidParam(
                "choices must be finite", f"{c!r}", "remove it, or quote it to make it a string", param=name
            )
    for i, c in enumerate(choices):
        for d in choices[:i]:
            if (isinstance(c, bool) or isinstance(d, bool)) and type(c) is not type(d) and c == d:
                raise InvalidParam(
                    "choices that Optuna cannot tell apart",
                    f"{d!r} and {c!r} (equal in Python, so the study would record one for the other)",
                    "quote one of them to make it a string",
                    param=name,
                )


def _check_plain(value: Any, name: str) -> None:
    """A fixed value is plain data: it is stored as JSON in the study."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(v, name)
        return
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        for v in value.values():
            _check_plain(v, name)
        return
    raise InvalidParam(
        "fixed values must be plain data (strings, numbers, booleans, null, lists, mappings with string keys)",
        f"{name}: {value!r}",
        "quote it to make it a string",
    )


def space_from_dict(doc: Any, *, where: str | None = None) -> Space:
    """Build a :class:`Space` from a parsed space document.

    Args:
        doc: The mapping read from YAML or JSON.
        where: The file it came from, named in errors.

    Raises:
        SpaceError: The document breaks SPEC section 1; the message names the
            file, the parameter and the fix.
    """
    try:
        return _space_from_dict(doc)
    except InvalidParam as e:
        raise e.located(where=where) from None


def _space_from_dict(doc: Any) -> Space:
    if not isinstance(doc, Mapping):
        raise InvalidParam(
            "a space file must be a YAML mapping",
            "an empty document" if doc is None else f"a {type(doc).__name__}",
            "start with `name:` and `version:`",
        )
    for key in doc:
        if key not in _TOP_KEYS:
            raise InvalidParam(f"unknown key '{key}'", "", f"allowed keys: {', '.join(k for k in _TOP_KEYS)}")
    for key in ("name", "version"):
        if key not in doc:
            raise InvalidParam(f"a space needs `{key}`", "", f"add `{key}:` at the top of the file")
    if "params" in doc and "param_ranges" in doc:
        raise InvalidParam("`params` and `param_ranges` are the same key", "both given", "keep one of them")
    if "direction" in doc and "directions" in doc:
        raise InvalidParam(
            "`direction` and `directions` are exclusive", "both given", "use `directions: [...]` for several objectives"
        )
    raw_params = doc.get("params", doc.get("param_ranges")) or {}
    if not isinstance(raw_params, Mapping):
        raise InvalidParam("`params` must be a mapping of name to parameter", repr(raw_params))
    fixed = doc.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise InvalidParam("`fixed` must be a mapping of name to value", repr(fixed))
    for key, value in fixed.items():
        _check_plain(value, str(key))
    if "directions" in doc:
        directions = doc["directions"]
        if not isinstance(directions, list):
            raise InvalidParam("`directions` must be a list", repr(directions))
    else:
        directions = [doc.get("direction", "minimize")]
    params = {str(name): _structure_param(str(name), raw) for name, raw in raw_params.items()}
    return Space(
        name=doc["name"],
        version=doc["version"],
        parent=doc.get("parent"),
        directions=tuple(directions),
        metric=doc.get("metric"),
        fixed={str(k): v for k, v in fixed.items()},
        params=params,
    )


def _param_to_dict(p: Param) -> dict:
    out: dict[str, Any] = {"type": p.kind}
    if isinstance(p, CategoricalParam):
        out["choices"] = list(p.choices)
        if p.weights is not None:
            out["weights"] = list(p.weights)
    else:
        out["low"], out["high"] = p.low, p.high
        if isinstance(p, FloatParam) and p.step is not None:
            out["step"] = p.step
        if isinstance(p, IntParam) and p.step != 1:
            out["step"] = p.step
        if p.log:
            out["log"] = True
        if p.limits is not None:
            out["limits"] = list(p.limits)
    if p.when is not None:
        out["when"] = _converter.unstructure(p.when, Condition)
    return out


def space_to_dict(space: Space) -> dict:
    """The space as a plain document, keys in the order the file uses."""
    doc: dict[str, Any] = {"name": space.name, "version": space.version}
    if space.parent is not None:
        doc["parent"] = space.parent
    if space.multi_objective:
        doc["directions"] = list(space.directions)
    else:
        doc["direction"] = space.direction
    if space.metric is not None:
        doc["metric"] = list(space.metric) if isinstance(space.metric, tuple) else space.metric
    if space.fixed:
        doc["fixed"] = dict(space.fixed)
    doc["params"] = {name: _param_to_dict(p) for name, p in space.params.items()}
    return doc


def dump_space(space: Space) -> str:
    """The YAML text of ``space``: stable, readable, one line per parameter."""
    doc = space_to_dict(space)
    doc["params"] = {name: Flow(d) for name, d in doc["params"].items()}
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)


def load_space(path: str | os.PathLike) -> Space:
    """Read a space file.

    Raises:
        SpaceError: The file is missing, not YAML, or breaks SPEC section 1.
    """
    path = Path(path)
    text = read_text(path, "space", "a YAML space file")
    doc = load_yaml(text, path, tags="space files hold plain data only")
    return space_from_dict(doc, where=str(path))


def save_space(
    space: Space, path: str | os.PathLike, *, overwrite: bool = False, hint: str = "remove it or use --out"
) -> Path:
    """Write ``space`` as YAML, atomically; never overwrites unless asked (``hint``: what to do instead)."""
    return atomic_write(path, dump_space(space), overwrite=overwrite, hint=hint)


def space_to_json(space: Space) -> str:
    """The space document as compact JSON (what a study remembers in ``refine:space``)."""
    return json.dumps(space_to_dict(space), separators=(",", ":"), allow_nan=True)


def space_from_json(text: Any, *, where: str | None = None) -> Space:
    """Read a space document from JSON text (or the mapping an attribute already holds)."""
    if isinstance(text, Mapping):
        return space_from_dict(text, where=where)
    if not isinstance(text, (str, bytes, bytearray)):
        raise SpaceError(f"{where or 'the space'} is a {type(text).__name__}, not a space document")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpaceError(f"{where or 'the space'} is not valid JSON: {e.msg} at position {e.pos}") from None
    return space_from_dict(doc, where=where)


def space_file_name(space: Space) -> str:
    """``<name>.v<version>.yaml``."""
    return f"{space.name}.v{space.version}.yaml"
