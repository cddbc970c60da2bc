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
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import cattrs
import yaml

from refine.errors import SpaceError
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

__all__ = [
    "dump_space",
    "load_space",
    "save_space",
    "space_from_dict",
    "space_to_dict",
    "space_from_json",
    "space_to_json",
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


class _Flow(dict):
    """A mapping the dumper writes on one line."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_float(dumper: yaml.SafeDumper, data: float) -> yaml.Node:
    if math.isnan(data):
        text = ".nan"
    elif math.isinf(data):
        text = ".inf" if data > 0 else "-.inf"
    else:
        text = repr(data)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # PyYAML writes NEL and the Unicode line/paragraph separators raw inside
    # single quotes and then folds them on reading: only double quotes escape them.
    style = '"' if any(c in data for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(float, _represent_float)
_Dumper.add_representer(str, _represent_str)


def dump_space(space: Space) -> str:
    """The YAML text of ``space``: stable, readable, one line per parameter."""
    doc = space_to_dict(space)
    doc["params"] = {name: _Flow(d) for name, d in doc["params"].items()}
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)


def read_text(path: Path, what: str, expected: str) -> str:
    """The UTF-8 text of a file the user named; a missing, directory or binary file is a SpaceError.

    Args:
        path: The file.
        what: What the file is, for the message ("space", "ConfigSpace").
        expected: What to give instead, for the message ("a YAML space file").
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"{what} file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise SpaceError(f"{what} file {path} is a directory; give {expected}") from None
    except UnicodeDecodeError:
        raise SpaceError(f"{what} file {path} is not UTF-8 text; give {expected}") from None


def load_space(path: str | os.PathLike) -> Space:
    """Read a space file.

    Raises:
        SpaceError: The file is missing, not YAML, or breaks SPEC section 1.
    """
    path = Path(path)
    text = read_text(path, "space", "a YAML space file")
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except _DuplicateKey as e:
        raise SpaceError(
            f"{path} has the key '{e.key}' twice (line {e.first} and line {e.again}); YAML would silently keep "
            "the last one: remove or rename one of them"
        ) from None
    except yaml.constructor.ConstructorError as e:
        raise SpaceError(
            f"{path} uses a YAML tag that is not allowed ({_one_line(e.problem)}); space files hold plain data only"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpaceError(f"{path} is not valid YAML{at}: {_one_line(getattr(e, 'problem', None) or e)}") from None
    if _contains_itself(doc):
        raise SpaceError(
            f"{path} has a value that contains itself (a YAML alias *name inside its own anchor &name); "
            "write the value out, or point the alias at another anchor"
        )
    return space_from_dict(doc, where=str(path))


def _contains_itself(doc: Any) -> bool:
    """Whether a parsed document is cyclic, as a recursive YAML alias makes it (nothing could print or store it).

    Each shared node is walked once, so many aliases of one anchor cost nothing more.
    """
    on_path: set[int] = set()
    done: set[int] = set()

    def walk(node: Any) -> bool:
        if not isinstance(node, (list, dict)) or id(node) in done:
            return False
        if id(node) in on_path:
            return True
        on_path.add(id(node))
        if any(walk(v) for v in (node.values() if isinstance(node, dict) else node)):
            return True
        on_path.discard(id(node))
        done.add(id(node))
        return False

    return walk(doc)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, again: int) -> None:
        self.key, self.first, self.again = key, first, again


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
            except TypeError:  # an unhashable key: let PyYAML report it
                break
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 1e-5 as text: a float needs a dot there. YAML 1.2 and every
# person writing a learning rate read it as a number.
_FLOAT_1_2 = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789"))
_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789")
)  # so the text '1e-3' is quoted


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def refuse_overwriting_inputs(out: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise SpaceError when ``out`` is the same file as one of ``inputs`` (a command never writes over what it
    reads)."""
    for source in inputs:
        try:
            same = os.path.exists(out) and os.path.samefile(out, source)
        except (OSError, ValueError):  # the input is a URL, or does not exist
            same = False
        if same:
            raise SpaceError(f"{out} is this command's input ({source}); write to another file")


def refuse_replacing_another_file(
    out: str | os.PathLike, *, ours: Callable[[str], bool], kind: str, force: bool = False
) -> None:
    """Raise SpaceError when ``out`` exists and is not what this command writes (a study, a space, anything else).

    A command whose output is regenerated (a report, an export) replaces its own earlier file;
    ``ours`` tells one from the text. ``--force`` (``force``) replaces anything.
    """
    path = Path(out)
    if force or not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    what = None
    if head.startswith(b"SQLite format 3"):
        what = "a SQLite database"
    elif b"\0" in head:
        what = "not text"
    else:
        text = head.decode("utf-8", errors="ignore")  # a character cut at the end of the head is no reason to refuse
        if _is_space_text(text):
            what = "a refine space file"
        elif not ours(text):
            what = f"not {kind}"
    if what is not None:
        raise SpaceError(f"{out} exists and is {what}; give another -o, or --force to replace it")


def _is_space_text(text: str) -> bool:
    """Whether ``text`` (maybe only a file's head) is a refine space file: top-level `version` and `params` keys."""
    return bool(re.search(r"(?m)^version:", text)) and bool(re.search(r"(?m)^(params|param_ranges):", text))


def atomic_write(
    path: str | os.PathLike,
    text: str,
    *,
    overwrite: bool = False,
    hint: str = "remove it or use --out",
) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A device or a pipe (``-o /dev/stdout``) is written in place, never
    replaced by a file.

    Raises:
        SpaceError: ``path`` exists and ``overwrite`` is false (``hint`` says
            what to do), is empty or a folder, or its folder cannot be made
            or written. A command that reads files checks first that it does
            not write over them (:func:`refuse_overwriting_inputs`).
    """
    if not os.fspath(path):
        raise SpaceError("the output path is empty; give a file name (-o FILE)")
    path = Path(path)
    if path.is_dir():
        raise SpaceError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():
        if not overwrite:
            raise SpaceError(f"{path} already exists; refine never overwrites a version ({hint})")
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise SpaceError(f"cannot write {path}: {e.strerror or e}") from None
        return path
    made = new_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        remove_folders(made)
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else (e.strerror or str(e))
        raise SpaceError(f"cannot write {path}: {why} (choose another folder)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a space file is as readable as any other file
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise SpaceError(f"{path} already exists; refine never overwrites a version ({hint})") from None
            os.unlink(tmp)
    except OSError as e:  # a full disk, a quota, a file-size limit: the file named, nothing left behind
        raise SpaceError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if not path.exists():
            remove_folders(made)
    return path


def new_folders(folder: str | os.PathLike) -> list[Path]:
    """The folders that writing into ``folder`` would create, innermost first."""
    folder = Path(folder)
    return [p for p in (folder, *folder.parents) if not p.exists()]


def remove_folders(folders: Sequence[Path]) -> None:
    """Remove the (empty) folders a failed write created, innermost first."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (something else wrote there), or already gone
            break


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
