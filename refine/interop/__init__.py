"""Export spaces to, and import them from, the tools users already have.

One module a target, each a plain text format a user can keep beside the space file:

* :mod:`refine.interop.configspace`: ConfigSpace's JSON or YAML serialization
  (SMAC and other AutoML tools), there and back without loss;
* :mod:`refine.interop.wandb`: W&B sweep configs (YAML), there and back; what
  W&B cannot express is a comment and a warning, never dropped silently;
* :mod:`refine.interop.optuna_code`: a ``def suggest(trial) -> dict`` function
  to paste into an existing script (export only).

:mod:`refine.interop._common` holds what they share. :func:`export_space` and
:func:`import_space` pick the module by the target's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from refine.errors import RefineError
from refine.interop._common import Exported, Imported, sanitize_name
from refine.interop.configspace import dump_configspace, from_configspace, load_configspace, to_configspace
from refine.interop.optuna_code import dump_optuna
from refine.interop.wandb import dump_wandb, load_wandb, wandb_to_space
from refine.space import Space

__all__ = [
    "Exported",
    "Imported",
    "EXPORT_TARGETS",
    "IMPORT_SOURCES",
    "export_space",
    "import_space",
    "check_target",
    "check_source",
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


def _export_configspace(space: Space, where: str | None, out: str | os.PathLike | None) -> Exported:
    fmt = "yaml" if out is not None and Path(out).suffix.lower() in (".yaml", ".yml") else "json"
    return dump_configspace(space, fmt=fmt, where=where)


_EXPORTERS: dict[str, Callable[[Space, str | None, str | os.PathLike | None], Exported]] = {
    "configspace": _export_configspace,
    "wandb": lambda space, where, out: dump_wandb(space, where=where),
    "optuna": lambda space, where, out: dump_optuna(space, where=where),
}
_IMPORTERS: dict[str, Callable[..., Imported]] = {"configspace": load_configspace, "wandb": load_wandb}

#: What ``refine export --to`` and ``refine import --from`` accept.
EXPORT_TARGETS = tuple(_EXPORTERS)
IMPORT_SOURCES = tuple(_IMPORTERS)


def check_target(target: str) -> None:
    """Raise :class:`RefineError` unless ``target`` is one of :data:`EXPORT_TARGETS`."""
    if target not in _EXPORTERS:
        raise RefineError(
            f"--to must be one of {', '.join(EXPORT_TARGETS)}, got {target!r}; pick the tool the space goes to"
        )


def check_source(source: str) -> None:
    """Raise :class:`RefineError` unless ``source`` is one of :data:`IMPORT_SOURCES`."""
    if source not in _IMPORTERS:
        raise RefineError(
            f"--from must be one of {', '.join(IMPORT_SOURCES)}, got {source!r}; Optuna code cannot be imported"
        )


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
    check_target(target)
    return _EXPORTERS[target](space, where, out)


def import_space(path: str | os.PathLike, source: str, *, name: str | None = None) -> Imported:
    """Read ``path`` written for ``source`` (one of :data:`IMPORT_SOURCES`) as a space.

    Raises:
        RefineError: ``source`` is unknown.
    """
    check_source(source)
    return _IMPORTERS[source](path, name=name)
