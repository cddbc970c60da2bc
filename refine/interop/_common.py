"""What every target shares: the results, reading a JSON or YAML document, and building located spaces."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from attrs import frozen

from refine.errors import SpaceError
from refine.files import read_text
from refine.space import FloatParam, IntParam, InvalidParam, Param, Space
from refine.yamlfile import load_yaml

__all__ = ["Exported", "Imported", "sanitize_name"]


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
    return load_yaml(text, path, tags="give plain data")


def _build_space(where: str, **kwargs: Any) -> Space:
    try:
        return Space(**kwargs)
    except InvalidParam as e:
        raise e.located(where=where) from None


def _build_param(cls: type[Param], name: str, where: str, **kwargs: Any) -> Param:
    try:
        return cls(**kwargs)
    except InvalidParam as e:
        raise e.located(param=name, where=where) from None
    except (TypeError, ValueError) as e:
        raise InvalidParam(f"a {cls.kind} parameter could not be built", str(e), param=name, where=where) from None


def _grid_step(p: Param) -> float | int | None:
    """The step of a numeric parameter on a grid coarser than the integers, else None."""
    if isinstance(p, FloatParam):
        return p.step
    if isinstance(p, IntParam) and p.step != 1:
        return p.step
    return None
