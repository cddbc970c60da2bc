"""Reading studies: any storage in, one analysis-ready columnar view out.

:func:`read_study` opens a study from a SQLite path, an Optuna storage URL or a
journal file and returns a :class:`StudyData`: per parameter a numpy column
(NaN where the parameter was inactive; categoricals as an index into their
choices), the objective values, the trial states, user attributes, the last
intermediate value, and the space the study was run with (``refine:space``,
SPEC section 3) or one inferred from the trials' distributions.

Nothing here ever writes to a study. The rooms:

- :mod:`refine.study.data`: :class:`StudyData`, :class:`StudySummary`, the
  trial states, and the :class:`~refine.study.data.Raw` every reader returns;
- :mod:`refine.study.sqlite`: SQLite files read directly with :mod:`sqlite3`
  through a read-only URI, every schema Optuna has written since 1.x
  (:mod:`refine.study.sqlite_columns`, its fast path);
- :mod:`refine.study.optuna`: every other storage (PostgreSQL, MySQL, journal
  files) through Optuna's own storage classes;
- :mod:`refine.study.infer`: the space the trials describe, conditions included;
- here: :func:`read_study` and :func:`list_studies`, which pick a reader and
  assemble its :class:`~refine.study.data.Raw` into a :class:`StudyData`.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from refine import _distributions
from refine.errors import SpaceError, StudyError
from refine.space import Param
from refine.storage import URL_SCHEME as _URL
from refine.storage import open_readonly as _open_optuna
from refine.storage import redact
from refine.storage import sqlite_file as _sqlite_path
from refine.study import optuna as optuna_reader
from refine.study.data import (
    COMPLETE,
    FAIL,
    PRUNED,
    RUNNING,
    STATES,
    WAITING,
    Raw,
    StudyData,
    StudySummary,
    violates,
)
from refine.study.infer import infer_space, safe_name
from refine.study.sqlite import KNOWN_REVISIONS, SqliteReader

__all__ = [
    "COMPLETE",
    "FAIL",
    "KNOWN_REVISIONS",
    "PRUNED",
    "RUNNING",
    "STATES",
    "WAITING",
    "StudyData",
    "StudySummary",
    "list_studies",
    "read_study",
    "redact",
    "safe_name",
    "violates",
]


def list_studies(storage: str | os.PathLike) -> list[StudySummary]:
    """The studies in a storage with their directions and trial counts by state.

    Raises:
        StudyError: The storage does not exist or is not an Optuna storage.
    """
    storage = str(storage)
    path = _sqlite_path(storage)
    if path is not None:
        reader = SqliteReader(path)
        try:
            return reader.summaries()
        finally:
            reader.close()
    return optuna_reader.summaries(_open_optuna(storage))


def read_study(
    storage: str | os.PathLike,
    study: str | None = None,
    *,
    engine: str = "auto",
    user_attrs: bool = True,
    intermediate: bool = True,
) -> StudyData:
    """Read one study into a :class:`StudyData`, without writing anything.

    Args:
        storage: A SQLite file, any Optuna storage URL, or a journal file.
        study: The study's name; may be left out when the storage holds one study.
        engine: ``"auto"`` (SQLite files read directly, the rest through
            Optuna), ``"sqlite"`` or ``"optuna"``.
        user_attrs: Read the trials' user attributes (skip them for speed
            when nothing ranks by one).
        intermediate: Read each trial's last intermediate value (skip it for
            speed when no PRUNED trial is ranked: ``last_intermediate`` is then
            NaN throughout). A SQLite file only; Optuna's reader reads them anyway.

    Raises:
        StudyError: The storage or study does not exist, is not Optuna's, or
            several studies are stored and ``study`` was not given.
    """
    if engine not in ("auto", "sqlite", "optuna"):
        raise StudyError(f"engine must be 'auto', 'sqlite' or 'optuna', got {engine!r}")
    if not isinstance(storage, (str, os.PathLike)):
        raise StudyError(f"storage must be a file path or a storage URL, got {type(storage).__name__}")
    storage = os.fspath(storage)
    path = _sqlite_path(storage) if engine != "optuna" or not _URL.match(storage) else None
    if engine == "optuna":
        path = None
    elif engine == "sqlite" and path is None and Path(storage).exists():
        raise StudyError(f"engine 'sqlite' reads SQLite files only; {storage} is not one (use engine='auto')")
    if path is not None:
        reader = SqliteReader(path)
        try:
            studies = reader.studies()
            name, sid = _choose(storage, [n for _, n in studies], study), None
            sid = next(i for i, n in studies if n == name)
            raw = reader.read(sid, user_attrs, intermediate)
        finally:
            reader.close()
    else:
        storage_obj = _open_optuna(storage)
        names = [s.study_name for s in storage_obj.get_all_studies()]
        name = _choose(storage, names, study)
        raw = optuna_reader.read(storage_obj, name)
    return _assemble(redact(storage), name, raw, path=str(path) if path is not None else None)


def _choose(storage: str, names: Sequence[str], study: str | None) -> str:
    if study is not None:
        if study not in names:
            close = difflib.get_close_matches(study, names, n=5, cutoff=0.4)
            close += [n for n in names if study.lower() in n.lower() and n not in close]
            if close:
                rest = [n for n in names if n not in close]
                listed = ", ".join(repr(n) for n in close)
                more = f"; {len(rest)} other(s): {_listed(storage, rest, most=10)}" if rest else ""
                raise StudyError(f"no study named '{study}' in {redact(storage)}; closest: {listed}{more}")
            raise StudyError(
                f"no study named '{study}' in {redact(storage)}; studies there: {_listed(storage, names, most=20)}"
            )
        return study
    if not names:
        raise StudyError(f"{redact(storage)} holds no study")
    if len(names) > 1:
        raise StudyError(
            f"{redact(storage)} holds {len(names)} studies; choose one with --study (study= in Python): "
            f"{_listed(storage, names)}"
        )
    return names[0]


def _listed(storage: str, names: Sequence[str], most: int = 100) -> str:
    """Study names for an error message: all of them, unless there are very many."""
    if not names:
        return "none"
    listed = ", ".join(repr(n) for n in names[:most])
    if len(names) > most:
        listed += f" and {len(names) - most} more (refine inspect {redact(storage)} lists them all)"
    return listed


def _assemble(storage: str, name: str, raw: Raw, *, path: str | None) -> StudyData:
    n = len(raw.numbers)
    notes: list[str] = []
    params: dict[str, Param | Any] = {}
    columns: dict[str, np.ndarray] = {}
    for pname, seen in raw.dists.items():
        rows, internal, dist_idx = raw.raw_columns[pname]
        param, decoded, note = _distributions.union(pname, [d for d, _ in seen], internal, dist_idx)
        if note:
            notes.append(note)
        col = np.full(n, np.nan)
        col[rows] = decoded
        columns[pname] = col
        params[pname] = param
    inferred = infer_space(name, raw.directions, params, columns, raw.states, raw.numbers, notes)
    columns = {k: v for k, v in columns.items() if k in inferred.params or k in inferred.fixed}
    study_attrs = raw.study_user_attrs
    space, source = inferred, "inferred"
    remembered = study_attrs.get("refine:space")
    if remembered is not None:
        from refine.spacefile import space_from_dict

        try:
            doc = json.loads(remembered) if isinstance(remembered, str) else remembered
            space = space_from_dict(doc, where=f"the refine:space of study '{name}'")
            source = "remembered"
        except ValueError as e:  # not JSON
            notes.append(f"the remembered space (refine:space) is not JSON ({e}); using the inferred one")
        except SpaceError as e:
            notes.append(f"the remembered space could not be read ({e}); using the inferred one")
    return StudyData(
        storage=storage,
        name=name,
        directions=tuple(raw.directions),
        numbers=raw.numbers,
        states=raw.states,
        values=raw.values,
        columns=columns,
        space=space,
        space_source=source,
        inferred=inferred,
        user_attrs=raw.user_attrs,
        last_intermediate=raw.last_intermediate,
        study_user_attrs=study_attrs,
        notes=tuple(notes),
        path=path,
        infeasible=raw.infeasible,
    )
