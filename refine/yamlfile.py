"""YAML the way refine reads and writes it: safe, YAML 1.2 floats, no key given twice, one-line errors.

Space files and other tools' files (ConfigSpace, W&B sweeps) are read with
:func:`load_yaml`; space files and W&B sweeps are written with :class:`Dumper`,
whose :class:`Flow` mappings stand on one line.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from refine.errors import SpaceError

__all__ = ["Dumper", "Flow", "Loader", "PlainDumper", "load_yaml", "contains_itself", "one_line"]


class Flow(dict):
    """A mapping the dumper writes on one line."""


class Dumper(yaml.SafeDumper):
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: Flow) -> yaml.Node:
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


Dumper.add_representer(Flow, _represent_flow)
Dumper.add_representer(float, _represent_float)
Dumper.add_representer(str, _represent_str)


def contains_itself(doc: Any) -> bool:
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


class Loader(yaml.SafeLoader):
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
FLOAT_1_2 = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
Loader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789"))
Dumper.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789"))  # so the text '1e-3' is quoted


class PlainDumper(yaml.SafeDumper):
    """PyYAML's own output (floats as ``1.0e-05``, which YAML 1.1 readers such as ConfigSpace read as numbers), with
    every string that :class:`Loader` would read as a number (``'1e-3'``, ``'0E0'``) quoted."""


PlainDumper.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789"))


def one_line(value: Any) -> str:
    return " ".join(str(value).split())


def load_yaml(text: str, path: Path, *, tags: str) -> Any:
    """The data of the YAML ``text`` read from ``path``; bad YAML is a one-line SpaceError naming the file.

    Args:
        text: The file's text.
        path: The file, for messages.
        tags: What to do instead of a YAML tag (``!!python/...``), for the message.

    Raises:
        SpaceError: Not YAML, a key given twice in one mapping, a tag, or a
            value that contains itself (a recursive alias).
    """
    try:
        doc = yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader
    except _DuplicateKey as e:
        raise SpaceError(
            f"{path} has the key '{e.key}' twice (line {e.first} and line {e.again}); YAML would silently keep "
            "the last one: remove or rename one of them"
        ) from None
    except yaml.constructor.ConstructorError as e:
        raise SpaceError(f"{path} uses a YAML tag that is not allowed ({one_line(e.problem)}); {tags}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpaceError(f"{path} is not valid YAML{at}: {one_line(getattr(e, 'problem', None) or e)}") from None
    if contains_itself(doc):
        raise SpaceError(
            f"{path} has a value that contains itself (a YAML alias *name inside its own anchor &name); "
            "write the value out, or point the alias at another anchor"
        )
    return doc
