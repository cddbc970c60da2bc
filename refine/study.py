"""Reading studies: any storage in, one analysis-ready columnar view out.

:func:`read_study` opens a study from a SQLite path, an Optuna storage URL or a
journal file and returns a :class:`StudyData`: per parameter a numpy column
(NaN where the parameter was inactive; categoricals as an index into their
choices), the objective values, the trial states, user attributes, the last
intermediate value, and the space the study was run with (``refine:space``,
SPEC section 3) or one inferred from the trials' distributions.

Nothing here ever writes to a study. SQLite files are read directly with
:mod:`sqlite3` through a read-only URI (``mode=ro``): it is many times faster
than ``optuna.load_study(...).get_trials()`` and it reads every schema Optuna
has written since 1.x, including the ones current Optuna refuses or, worse,
migrates in place. Other storages go through Optuna.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import attrs
import numpy as np
from attrs import field, frozen

from refine.errors import SpaceError, StudyError
from refine.space import CategoricalParam, Condition, IntParam, Param, Space
from refine.storage import OPTUNA_TABLES as _OPTUNA_TABLES
from refine.storage import URL_SCHEME as _URL
from refine.storage import connect_ro as _connect_ro
from refine.storage import open_readonly as _open_optuna
from refine.storage import redact
from refine.storage import sqlite_file as _sqlite_path
from refine.storage import table_columns as _tables

__all__ = [
    "StudyData",
    "StudySummary",
    "list_studies",
    "read_study",
    "redact",
    "STATES",
]

#: Trial states, in Optuna's enum order; ``StudyData.states`` holds these codes.
STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")
RUNNING, COMPLETE, PRUNED, FAIL, WAITING = range(5)
_STATE_CODE = {name: i for i, name in enumerate(STATES)}

#: Alembic revisions of Optuna's RDB schema this reader knows, oldest first.
KNOWN_REVISIONS = (
    "v0.9.0.a",
    "v1.2.0.a",
    "v1.3.0.a",
    "v2.4.0.a",
    "v2.6.0.a",
    "v3.0.0.a",
    "v3.0.0.b",
    "v3.0.0.c",
    "v3.0.0.d",
    "v3.2.0.a",
)


@frozen
class StudySummary:
    """One line of ``refine inspect``: a study's name, directions and trial counts."""

    name: str
    directions: tuple[str, ...]
    counts: dict[str, int] = field(hash=False)
    user_attrs: dict[str, Any] = field(hash=False, factory=dict)

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())


@frozen(eq=False)
class StudyData:
    """A study, read once, as numpy columns.

    Attributes:
        storage: Where it was read from (passwords redacted).
        name: The study's name.
        directions: ``minimize``/``maximize`` per objective.
        numbers: Trial numbers, ascending.
        states: State codes per trial, indices into :data:`STATES`.
        values: Objective values, shape ``(n_trials, n_objectives)``; NaN when
            absent (unfinished trials) and ``±inf`` as stored.
        columns: Per parameter, float values (NaN when inactive); for a
            categorical the index into ``inferred.params[name].choices``; for
            a parameter read as fixed (``inferred.fixed``), its value when a
            number, else 0.
        space: The space the study was run with, or the inferred one.
        space_source: ``"remembered"`` (``refine:space``), ``"inferred"``, or ``"given"`` (``next_space(space=...)``).
        inferred: The space inferred from the trials' own distributions
            (the columns are coded against it).
        user_attrs: Per trial user attribute, an object array (None when unset).
        last_intermediate: The last reported intermediate value per trial (NaN if none).
        study_user_attrs: The study's user attributes.
        notes: What the reader saw and a user should know (changed
            distributions, spaces swapped mid-study, ...).
    """

    storage: str
    name: str
    directions: tuple[str, ...]
    numbers: np.ndarray
    states: np.ndarray
    values: np.ndarray
    columns: dict[str, np.ndarray]
    space: Space
    space_source: str
    inferred: Space
    user_attrs: dict[str, np.ndarray]
    last_intermediate: np.ndarray
    study_user_attrs: dict[str, Any]
    notes: tuple[str, ...] = ()
    path: str | None = None
    infeasible: np.ndarray | None = None

    @property
    def n_trials(self) -> int:
        return len(self.numbers)

    def counts(self) -> dict[str, int]:
        """Trials by state name, in :data:`STATES` order, states with no trial left out."""
        c = np.bincount(self.states, minlength=len(STATES))
        return {STATES[i]: int(c[i]) for i in range(len(STATES)) if c[i]}

    def choices(self, name: str) -> tuple:
        """The choices a categorical column indexes into."""
        p = self.inferred.params.get(name)
        if not isinstance(p, CategoricalParam):
            raise KeyError(f"'{name}' is not a categorical column")
        return p.choices

    def value_of(self, name: str, row: int) -> Any:
        """Trial ``row``'s value of ``name`` as the objective saw it (None when inactive)."""
        x = self.columns[name][row]
        if math.isnan(x):
            return None
        p = self.inferred.params.get(name)
        if p is None:  # a one-value distribution, read as fixed
            return self.inferred.fixed[name]
        if isinstance(p, CategoricalParam):
            return p.choices[int(x)]
        if isinstance(p, IntParam):
            return int(x)
        return float(x)

    def config(self, row: int) -> dict[str, Any]:
        """Trial ``row``'s params as a dict (inactive ones left out)."""
        out = {}
        for name in self.columns:
            v = self.value_of(name, row)
            if v is not None or not math.isnan(self.columns[name][row]):
                out[name] = v
        return out


@frozen(eq=False)
class _Raw:
    """What a reader (SQLite or Optuna) returns: trials as arrays, parameters as stored, before inference."""

    numbers: np.ndarray
    states: np.ndarray
    values: np.ndarray
    last_intermediate: np.ndarray
    raw_columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    dists: dict[str, list[tuple[dict, int]]]
    user_attrs: dict[str, np.ndarray]
    directions: tuple[str, ...]
    study_user_attrs: dict[str, Any]
    infeasible: np.ndarray | None = None  # Optuna's constraints: some value > 0 (None: no trial has constraints)


def violates(constraints: Any) -> bool:
    """Whether a trial's Optuna ``constraints`` values say it is infeasible: not all <= 0, as Optuna reads them (NaN
    too)."""
    try:
        return not all(float(c) <= 0 for c in constraints)
    except (TypeError, ValueError):
        return False


class _SqliteReader:
    """Optuna's tables read directly, every schema from 1.x on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = _connect_ro(path)
        self.tables = _tables(self.con)
        if not _OPTUNA_TABLES <= set(self.tables):
            self.con.close()
            raise StudyError(
                f"{path} is not an Optuna database (no studies/trials/trial_params tables); "
                "give a study.db written by Optuna"
            )
        self._check_revision()
        self.new_values = "study_directions" in self.tables

    def _check_revision(self) -> None:
        if "alembic_version" not in self.tables:
            return
        row = self.con.execute("SELECT version_num FROM alembic_version").fetchone()
        if row is None:
            return
        revision = row[0]
        if revision not in KNOWN_REVISIONS:
            raise StudyError(
                f"{self.path} has Optuna schema revision {revision}, newer than this refine knows "
                f"(up to {KNOWN_REVISIONS[-1]}); upgrade refine"
            )

    def close(self) -> None:
        self.con.close()

    def studies(self) -> list[tuple[int, str]]:
        return [
            (int(i), str(n)) for i, n in self.con.execute("SELECT study_id, study_name FROM studies ORDER BY study_id")
        ]

    def directions(self, study_id: int) -> tuple[str, ...]:
        if self.new_values:
            rows = self.con.execute(
                "SELECT direction FROM study_directions WHERE study_id=? ORDER BY objective", (study_id,)
            ).fetchall()
            raw = [r[0] for r in rows]
        else:
            raw = [self.con.execute("SELECT direction FROM studies WHERE study_id=?", (study_id,)).fetchone()[0]]
        return tuple("maximize" if str(d).upper().endswith("MAXIMIZE") else "minimize" for d in raw) or ("minimize",)

    def summaries(self) -> list[StudySummary]:
        counts: dict[int, dict[str, int]] = {}
        for sid, state, n in self.con.execute("SELECT study_id, state, count(*) FROM trials GROUP BY study_id, state"):
            counts.setdefault(sid, {})[str(state)] = int(n)
        out = []
        for sid, name in self.studies():
            c = counts.get(sid, {})
            ordered = {s: c[s] for s in STATES if s in c}
            out.append(StudySummary(name, self.directions(sid), ordered, self.study_user_attrs(sid)))
        return out

    def study_user_attrs(self, study_id: int) -> dict[str, Any]:
        if "study_user_attributes" not in self.tables:
            return {}
        rows = self.con.execute("SELECT key, value_json FROM study_user_attributes WHERE study_id=?", (study_id,))
        return {k: _loads(v) for k, v in rows}

    def read(self, study_id: int, with_user_attrs: bool = True) -> _Raw:
        single = len(self.studies()) == 1
        trial_ids, numbers, states = self._trials(study_id)
        n = len(trial_ids)
        # In a file holding one study every row is that study's: no filter to pay for.
        where = "" if single else " AND trial_id IN (SELECT trial_id FROM trials WHERE study_id=?)"
        args: tuple = () if single else (study_id,)

        directions = self.directions(study_id)
        values = self._values(study_id, trial_ids, len(directions), where, args)
        last = self._last_intermediate(trial_ids, where, args)
        raw_columns, dists = self._params(study_id, single, trial_ids, where, args)

        user_attrs: dict[str, np.ndarray] = {}
        if with_user_attrs and "trial_user_attributes" in self.tables:
            row_of = _row_index(trial_ids)
            sql = f"SELECT trial_id, key, value_json FROM trial_user_attributes WHERE 1{where}"
            for tid, key, vj in self.con.execute(sql, args):
                r = row_of(tid)
                if r is None:
                    continue
                col = user_attrs.get(key)
                if col is None:
                    col = user_attrs[key] = np.full(n, None, dtype=object)
                col[r] = _loads(vj)
        infeasible = None
        if "trial_system_attributes" in self.tables:
            row_of = _row_index(trial_ids)
            sql = f"SELECT trial_id, value_json FROM trial_system_attributes WHERE key='constraints'{where}"
            for tid, vj in self.con.execute(sql, args):
                r = row_of(tid)
                if r is None:
                    continue
                if infeasible is None:
                    infeasible = np.zeros(n, dtype=bool)
                infeasible[r] = violates(_loads(vj) or ())
        return _Raw(
            numbers=numbers,
            states=states,
            values=values,
            last_intermediate=last,
            raw_columns=raw_columns,
            dists=dists,
            user_attrs=user_attrs,
            directions=directions,
            study_user_attrs=self.study_user_attrs(study_id),
            infeasible=infeasible,
        )

    def _trials(self, study_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trial ids, numbers (the row's position where none is stored) and state codes, by number."""
        state = "CASE state " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATES)) + f" ELSE {FAIL} END"
        number = "number"
        if "number" not in self.tables["trials"]:
            # Optuna < 1.3 (alembic v1.2.0.a and before) kept the number in the system attribute `_number`.
            number = (
                "(SELECT CAST(a.value_json AS INTEGER) FROM trial_system_attributes AS a "
                "WHERE a.trial_id = trials.trial_id AND a.key = '_number')"
            )
            if "trial_system_attributes" not in self.tables:
                number = "NULL"
        ints = ["trial_id", f"{number} IS NULL", f"coalesce({number}, 0)", state]
        read = _columns(self.con, "FROM trials WHERE study_id=?", (study_id,), ints)
        if read is None:
            rows = self.con.execute(
                f"SELECT trial_id, {number} IS NULL, coalesce({number}, 0), {state} FROM trials WHERE study_id=?",
                (study_id,),
            )
            table = np.fromiter(
                rows, dtype=[("id", np.int64), ("none", np.bool_), ("number", np.int64), ("state", np.int8)]
            )
            read = [table[key] for key in ("id", "none", "number", "state")]
        trial_ids, none, number, state_code = read
        # As ORDER BY number, trial_id: trials without a number first.
        order = np.lexsort((trial_ids, number, none == 0))
        numbers = np.where(none[order] != 0, np.arange(len(order)), number[order])
        return trial_ids[order], numbers, state_code[order].astype(np.int8)

    def _values(self, study_id: int, trial_ids: np.ndarray, n_objectives: int, where: str, args: tuple) -> np.ndarray:
        """Objective values, shape ``(n_trials, n_objectives)``, NaN where none is stored."""
        values = np.full((len(trial_ids), n_objectives), np.nan)
        if self.new_values:
            value = "value"
            if "value_type" in self.tables["trial_values"]:
                # Optuna >= 3.0 stores non-finite values as NULL plus a type; 9e999 is SQLite's inf.
                # 'FINITE' first: the other test, evaluated for every row, is slow.
                kind = "substr(upper(CAST(value_type AS TEXT)), -7)"
                value = (
                    f"CASE WHEN value_type = 'FINITE' THEN value WHEN {kind} = 'INF_POS' THEN 9e999 "
                    f"WHEN {kind} = 'INF_NEG' THEN -9e999 ELSE value END"
                )
            ints = ["trial_id", "objective"]
            source = f"FROM trial_values WHERE trial_id IS NOT NULL AND objective IS NOT NULL{where}"
        else:
            ints, value = ["trial_id", "0"], "value"
            source, args = "FROM trials WHERE study_id=? AND value IS NOT NULL", (study_id,)
        read = _columns(self.con, source, args, ints, value)
        if read is None:
            sql = f"SELECT {', '.join(ints)}, {value} {source}"
            table = np.array(self.con.execute(sql, args).fetchall(), dtype=np.float64).reshape(-1, 3)
            read = [table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]]
        tids, objective, value_of = read
        rows = _rows(trial_ids, tids)
        keep = (rows >= 0) & (objective < n_objectives)
        values[rows[keep], objective[keep]] = value_of[keep]
        return values

    def _last_intermediate(self, trial_ids: np.ndarray, where: str, args: tuple) -> np.ndarray:
        """The intermediate value of each trial's last step (NaN where none)."""
        last = np.full(len(trial_ids), np.nan)
        # Optuna 1.x kept intermediate values in trial_values; later ones in their own table.
        table, column = (
            ("trial_intermediate_values", "intermediate_value") if self.new_values else ("trial_values", "value")
        )
        if table not in self.tables:
            return last
        if "intermediate_value_type" in self.tables[table]:
            # Optuna >= 3.0 stores non-finite values as NULL plus a type; 9e999 is SQLite's inf.
            column = (
                "CASE intermediate_value_type WHEN 'INF_POS' THEN 9e999 WHEN 'INF_NEG' THEN -9e999 "
                "ELSE intermediate_value END"
            )
        # With max(), SQLite takes the other columns from the row holding the maximum.
        sql = (
            f"SELECT trial_id, max(step), {column} AS v FROM {table} WHERE trial_id IS NOT NULL{where} GROUP BY "
            "trial_id"
        )
        read = _columns(self.con, f"FROM ({sql})", args, ["trial_id"], "v")
        if read is None:
            inter = np.array(self.con.execute(sql, args).fetchall(), dtype=np.float64).reshape(-1, 3)
            read = [inter[:, 0].astype(np.int64), inter[:, 2]]
        tids, value = read
        rows = _rows(trial_ids, tids)
        found = rows >= 0
        last[rows[found]] = value[found]
        return last

    def _params(
        self, study_id: int, single: bool, trial_ids: np.ndarray, where: str, args: tuple
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], dict[str, list[tuple[dict, int]]]]:
        """Per parameter ``(rows, internal values, distribution index)``, and its distributions with counts.

        Distributions are listed in order of first use (lowest ``param_id``),
        parameters in order of their first distribution's first use.
        """
        read = self._scan_params(study_id, single)
        if read is None:
            return self._params_by_name(trial_ids, where, args)
        pairs, trial_of, pair_of, internal = read
        counts = np.bincount(pair_of, minlength=len(pairs))
        first = np.full(len(pairs), len(pair_of), dtype=np.int64)
        np.minimum.at(first, pair_of, np.arange(len(pair_of), dtype=np.int64))
        dists: dict[str, list[tuple[dict, int]]] = {}
        position = np.zeros(len(pairs), dtype=np.int64)
        for p in np.argsort(first, kind="stable"):
            name, dj = pairs[p]
            seen = dists.setdefault(name, [])
            position[p] = len(seen)
            seen.append((_loads(dj), int(counts[p])))
        rank = {name: i for i, name in enumerate(dists)}
        param_of = np.array([rank[name] for name, _ in pairs], dtype=np.int64)[pair_of]
        rows = _rows(trial_ids, trial_of)
        raw_columns = {}
        for i, name in enumerate(dists):
            sel = np.flatnonzero((param_of == i) & (rows >= 0))
            raw_columns[name] = (rows[sel], internal[sel], position[pair_of[sel]])
        return raw_columns, dists

    def _scan_params(
        self, study_id: int, single: bool
    ) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray, np.ndarray] | None:
        """``trial_params`` in chunks of ``param_id``, in that order, read by :func:`_columns`.

        Returns the distinct ``(param_name, distribution_json)`` pairs and, per
        row, its trial id, the index of its pair and its value; None where the
        rows cannot be read exactly. Each row's pair is found by a ``CASE``
        over the pairs seen so far; a chunk with an unseen one (a row the
        ``CASE`` leaves NULL) has its pairs listed and is read again, so a
        ``SELECT DISTINCT`` over the whole table is not needed.
        """
        source = "FROM trial_params AS p"
        prefix: tuple = ()
        if single:
            source += " WHERE p.param_id BETWEEN ? AND ?"
        else:
            # CROSS JOIN keeps trial_params the outer loop: rows stay in param_id order.
            source += (
                " CROSS JOIN trials AS t ON t.trial_id = p.trial_id WHERE t.study_id = ? AND p.param_id BETWEEN ? AND ?"
            )
            prefix = (study_id,)
        # Two subqueries: SQLite reads a lone min() or max() off the b-tree, but scans for both together.
        low, high = self.con.execute(
            "SELECT (SELECT min(param_id) FROM trial_params), (SELECT max(param_id) FROM trial_params)"
        ).fetchone()
        chunks = [(*prefix, start, start + _CHUNK - 1) for start in range(int(low or 0), int(high or -1) + 1, _CHUNK)]
        distinct = f"SELECT DISTINCT p.param_name, p.distribution_json {source}"
        # The pairs of the first chunk with rows are most often all there are:
        # every chunk is read with them at once, and one that has others again, below.
        pairs: list[tuple[str, str]] = []
        while chunks and not pairs:
            pairs = self.con.execute(distinct, chunks[0]).fetchall()
            if not pairs:
                chunks = chunks[1:]  # no row of this study there
        if any(name is None or dj is None for name, dj in pairs):
            return None
        known = set(pairs)
        first_pairs = tuple(pairs)
        reads = self._map(lambda con, chunk: _scan_chunk(con, first_pairs, source, chunk), chunks)
        trials, codes, values = [], [], []
        for chunk, read in zip(chunks, reads):
            if read is None:
                new = [pair for pair in self.con.execute(distinct, chunk).fetchall() if pair not in known]
                if any(name is None or dj is None for name, dj in new):
                    return None
                pairs += new
                known.update(new)
                # Read again with the pairs found since (here or in an earlier chunk).
                read = _scan_chunk(self.con, pairs, source, chunk) if len(pairs) > len(first_pairs) else None
                if read is None:
                    return None  # rows that cannot be read exactly
            trials.append(read[0])
            codes.append(read[1])
            values.append(read[2])
        if not pairs:
            return pairs, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return pairs, np.concatenate(trials), np.concatenate(codes), np.concatenate(values)

    def _map(self, fn: Callable[[sqlite3.Connection, Any], Any], items: Sequence[Any]) -> list[Any]:
        """``fn(connection, item)`` for each item, on up to :data:`_THREADS` threads with a connection each.

        SQLite runs a query without the GIL, so queries on separate
        connections run in parallel.
        """
        if len(items) < 2:
            return [fn(self.con, item) for item in items]
        local = threading.local()
        opened: list[sqlite3.Connection] = []

        def run(item: Any) -> Any:
            con = getattr(local, "con", None)
            if con is None:
                con = local.con = _connect_ro(self.path, check_same_thread=False)
                opened.append(con)
            return fn(con, item)

        try:
            with ThreadPoolExecutor(min(_THREADS, len(items))) as pool:
                return list(pool.map(run, items))
        finally:
            for con in opened:
                con.close()

    def _params_by_name(
        self, trial_ids: np.ndarray, where: str, args: tuple
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], dict[str, list[tuple[dict, int]]]]:
        """:meth:`_params` one query per parameter, for the files :meth:`_scan_params` cannot read."""
        dist_rows = self.con.execute(
            f"SELECT param_name, distribution_json, count(*), min(param_id) FROM trial_params WHERE 1{where} "
            "GROUP BY param_name, distribution_json ORDER BY min(param_id)",
            args,
        ).fetchall()
        raw_columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        dists: dict[str, list[tuple[dict, int]]] = {}
        for name, dj, count, _ in dist_rows:
            dists.setdefault(name, []).append((_loads(dj), int(count)))
        for name in dists:
            texts = [dj for pname, dj, _, _ in dist_rows if pname == name]
            case = " ".join("WHEN ? THEN %d" % i for i in range(len(texts)))
            sql = (
                f"SELECT trial_id, param_value, CASE distribution_json {case} END FROM trial_params WHERE "
                f"param_name=?{where}"
            )
            data = np.array(self.con.execute(sql, (*texts, name, *args)).fetchall(), dtype=np.float64).reshape(-1, 3)
            rows = _rows(trial_ids, data[:, 0].astype(np.int64))
            keep = rows >= 0
            raw_columns[name] = (rows[keep], data[keep, 1], data[keep, 2].astype(np.int64))
        return raw_columns, dists


#: ``param_id``s one query of ``_SqliteReader._scan_params`` aggregates.
_CHUNK = 1 << 18
#: Threads (each with its own connection) that read chunks at once.
_THREADS = 2


def _columns(
    con: sqlite3.Connection, source: str, args: Sequence[Any], ints: Sequence[str], real: str | None = None
) -> list[np.ndarray] | None:
    """The integer expressions ``ints`` (then ``real``) over ``source``, as numpy arrays in row order.

    Python's sqlite3 builds a tuple per row, which at a million rows costs
    seconds. Here SQLite aggregates the rows into strings of integers that
    numpy parses, and releases the GIL meanwhile. A real ``v`` travels as
    two integers, ``hi = trunc(v * 2**31)`` and ``lo = (v * 2**31 - hi) * 2**63``,
    both whole when ``2**-42 <= |v| < 2**32`` or ``v == 0``, and then
    ``hi / 2**31 + lo / 2**94`` is ``v`` exactly. Returns None where that
    does not hold for every row (a NULL, a real out of that range, a
    non-integer in an integer column): the caller then reads row by row.
    """
    exprs = [f"group_concat({e})" for e in ints]
    zeros = "0"
    if real is not None:
        # 2**31 and 2**63, written so that SQLite reads them exactly.
        x = f"(({real}) * 2147483648.0)"
        exprs.append(f"group_concat(CAST({x} AS INTEGER))")
        exprs.append(f"group_concat(CAST(({x} - CAST({x} AS INTEGER)) * (2147483648.0 * 4294967296.0) AS INTEGER))")
        zeros = f"total(({real}) = 0)"
    count, n_zero, *texts = con.execute(f"SELECT count(*), {zeros}, {', '.join(exprs)} {source}", args).fetchone()
    try:
        parts = [_ints(text) for text in texts]
    except ValueError:
        return None
    if any(len(part) != count for part in parts):
        return None
    if real is None:
        return parts
    hi, lo = parts[-2:]
    value = hi * 2.0**-31 + lo * 2.0**-94
    clamped = (hi == np.iinfo(np.int64).max) | (hi == np.iinfo(np.int64).min)
    inexact = (value != 0) & (np.abs(value) < 2.0**-42)
    if clamped.any() or inexact.any() or np.count_nonzero(value == 0) != n_zero:
        return None
    return [*parts[:-2], value]


def _scan_chunk(
    con: sqlite3.Connection, pairs: Sequence[tuple[str, str]], source: str, args: tuple
) -> tuple[np.ndarray, ...] | None:
    """Trial ids, pair indices and values of the rows of one chunk, or None (see ``_SqliteReader._scan_params``)."""
    by_name: dict[str, list[tuple[str, int]]] = {}
    for i, (name, dj) in enumerate(pairs):
        by_name.setdefault(name, []).append((dj, i))
    case, case_args = [], []
    for name, djs in by_name.items():
        inner = " ".join(f"WHEN ? THEN {i}" for _, i in djs)
        case.append(f"WHEN ? THEN CASE p.distribution_json {inner} END")
        case_args += [name, *(dj for dj, _ in djs)]
    key = f"p.trial_id * {len(pairs)} + CASE p.param_name {' '.join(case)} END"
    read = _columns(con, source, (*case_args, *args), [key], "p.param_value")
    if read is None:
        return None
    keys, value = read
    trial = keys // len(pairs)
    return trial, keys - trial * len(pairs), value


def _ints(text: str | None) -> np.ndarray:
    """The integers of a ``group_concat`` (None when it aggregated no row)."""
    if text is None:
        return np.empty(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")


def _row_index(trial_ids: np.ndarray):
    lookup = {int(t): i for i, t in enumerate(trial_ids)}
    return lookup.get


def _rows(trial_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row positions of ``wanted`` trial ids in ``trial_ids`` (-1 where absent)."""
    if len(trial_ids) and trial_ids[-1] - trial_ids[0] == len(trial_ids) - 1 and (np.diff(trial_ids) == 1).all():
        # The usual layout, ids numbered on from the first: no search needed.
        rows = wanted - trial_ids[0]
        return np.where((rows >= 0) & (rows < len(trial_ids)), rows, -1)
    order = np.argsort(trial_ids, kind="stable")
    pos = np.searchsorted(trial_ids[order], wanted)
    pos = np.clip(pos, 0, len(order) - 1) if len(order) else pos
    if not len(order):
        return np.full(len(wanted), -1, dtype=np.int64)
    found = trial_ids[order][pos] == wanted
    return np.where(found, order[pos], -1)


def _loads(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


# --------------------------------------------------------------------------- Optuna path


def _optuna_summaries(storage_obj) -> list[StudySummary]:
    out = []
    for s in storage_obj.get_all_studies():
        trials = storage_obj.get_all_trials(s._study_id, deepcopy=False)
        c = Counter(t.state.name for t in trials)
        out.append(
            StudySummary(
                s.study_name,
                tuple(d.name.lower() for d in s.directions),
                {k: c[k] for k in STATES if k in c},
                dict(s.user_attrs),
            )
        )
    return out


def _optuna_read(storage_obj, name: str) -> _Raw:
    from refine import _distributions

    study_id = storage_obj.get_study_id_from_name(name)
    directions = tuple(d.name.lower() for d in storage_obj.get_study_directions(study_id))
    trials = sorted(storage_obj.get_all_trials(study_id, deepcopy=False), key=lambda t: t.number)
    n = len(trials)
    numbers = np.array([t.number for t in trials], dtype=np.int64)
    states = np.array([_STATE_CODE[t.state.name] for t in trials], dtype=np.int8)
    values = np.full((n, len(directions)), np.nan)
    last = np.full(n, np.nan)
    user_attrs: dict[str, np.ndarray] = {}
    infeasible: np.ndarray | None = None
    per_param: dict[str, list[tuple[int, float, str]]] = {}
    dists: dict[str, dict[str, tuple[dict, int, int]]] = {}
    for r, t in enumerate(trials):
        if t.values is not None:
            values[r, : len(t.values)] = t.values
        if t.intermediate_values:
            last[r] = t.intermediate_values[max(t.intermediate_values)]
        for key, v in t.user_attrs.items():
            col = user_attrs.get(key)
            if col is None:
                col = user_attrs[key] = np.full(n, None, dtype=object)
            col[r] = v
        if "constraints" in t.system_attrs:
            if infeasible is None:
                infeasible = np.zeros(n, dtype=bool)
            infeasible[r] = violates(t.system_attrs["constraints"] or ())
        for position, (pname, d) in enumerate(t.distributions.items()):
            dj = _distributions.to_json(d)
            seen = dists.setdefault(pname, {})
            if dj not in seen:
                seen[dj] = (json.loads(dj), 0, (r, position))
            doc, count, first = seen[dj]
            seen[dj] = (doc, count + 1, first)
            per_param.setdefault(pname, []).append((r, d.to_internal_repr(t.params[pname]), dj))
    raw_columns = {}
    ordered = sorted(dists.items(), key=lambda kv: min(f for _, _, f in kv[1].values()))
    out_dists: dict[str, list[tuple[dict, int]]] = {}
    for pname, seen in ordered:
        keys = list(seen)
        out_dists[pname] = [(seen[k][0], seen[k][1]) for k in keys]
        idx = {k: i for i, k in enumerate(keys)}
        rows = per_param[pname]
        raw_columns[pname] = (
            np.array([r for r, _, _ in rows], dtype=np.int64),
            np.array([v for _, v, _ in rows], dtype=np.float64),
            np.array([idx[d] for _, _, d in rows], dtype=np.int64),
        )
    return _Raw(
        numbers=numbers,
        states=states,
        values=values,
        last_intermediate=last,
        raw_columns=raw_columns,
        dists=out_dists,
        user_attrs=user_attrs,
        directions=directions,
        study_user_attrs=dict(storage_obj.get_study_user_attrs(study_id)),
        infeasible=infeasible,
    )


# --------------------------------------------------------------------------- public API


def list_studies(storage: str | os.PathLike) -> list[StudySummary]:
    """The studies in a storage with their directions and trial counts by state.

    Raises:
        StudyError: The storage does not exist or is not an Optuna storage.
    """
    storage = str(storage)
    path = _sqlite_path(storage)
    if path is not None:
        reader = _SqliteReader(path)
        try:
            return reader.summaries()
        finally:
            reader.close()
    return _optuna_summaries(_open_optuna(storage))


def read_study(
    storage: str | os.PathLike,
    study: str | None = None,
    *,
    engine: str = "auto",
    user_attrs: bool = True,
) -> StudyData:
    """Read one study into a :class:`StudyData`, without writing anything.

    Args:
        storage: A SQLite file, any Optuna storage URL, or a journal file.
        study: The study's name; may be left out when the storage holds one study.
        engine: ``"auto"`` (SQLite files read directly, the rest through
            Optuna), ``"sqlite"`` or ``"optuna"``.
        user_attrs: Read the trials' user attributes (skip them for speed
            when nothing ranks by one).

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
        reader = _SqliteReader(path)
        try:
            studies = reader.studies()
            name, sid = _choose(storage, [n for _, n in studies], study), None
            sid = next(i for i, n in studies if n == name)
            raw = reader.read(sid, user_attrs)
        finally:
            reader.close()
    else:
        storage_obj = _open_optuna(storage)
        names = [s.study_name for s in storage_obj.get_all_studies()]
        name = _choose(storage, names, study)
        raw = _optuna_read(storage_obj, name)
    return _assemble(redact(storage), name, raw, path=str(path) if path is not None else None)


def _choose(storage: str, names: Sequence[str], study: str | None) -> str:
    if study is not None:
        if study not in names:
            import difflib

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


def _assemble(storage: str, name: str, raw: _Raw, *, path: str | None) -> StudyData:
    from refine import _distributions

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
    inferred = _infer_space(name, raw.directions, params, columns, raw.states, raw.numbers, notes)
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


def safe_name(name: str, *, strip: str = "._", default: str = "study") -> str:
    """A space name (and file name) made from any study name: ``[A-Za-z0-9_.-]+``.

    Accented letters lose their accents (``étude`` → ``etude``); any other
    run of characters outside the set becomes one ``_``.
    """
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_text).strip(strip) or default


def _infer_space(
    name: str,
    directions: Sequence[str],
    params: Mapping[str, Any],
    columns: Mapping[str, np.ndarray],
    states: np.ndarray,
    numbers: np.ndarray,
    notes: list[str],
) -> Space:
    """The space the trials' distributions describe, conditionals included."""
    from refine import _distributions

    finished = states == COMPLETE
    if not finished.any():
        finished = (states == PRUNED) | (states == COMPLETE)
    if not finished.any():
        finished = states != RUNNING
    searched: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for pname, p in params.items():
        if isinstance(p, _distributions.Fixed):
            fixed[pname] = p.value
        else:
            searched[pname] = p
    present = {k: ~np.isnan(columns[k]) & finished for k in searched}
    # A pruned trial sampled its params like a complete one: where it holds a child, the parent's value there
    # activates the child (a child present only when the parent exceeds k may show only in pruned trials).
    # Its absences prove nothing (it may have been pruned before sampling the child), so those come from
    # the finished trials alone.
    seen_rows = finished | (states == PRUNED)
    sampled = {k: ~np.isnan(columns[k]) & seen_rows for k in searched}
    out: dict[str, Param] = {}
    for pname, p in searched.items():
        here = present[pname]
        if here.sum() == finished.sum() or not sampled[pname].any():
            out[pname] = p
            continue
        cond = _find_condition(pname, here, searched, columns, present, sampled)
        if cond is None:
            cond = _int_condition(pname, here, searched, columns, present, sampled)
        if cond is not None:
            out[pname] = attrs.evolve(p, when=cond)
            continue
        if not here.any():
            out[pname] = p
            continue
        seen = numbers[finished & here]
        absent = numbers[finished & ~here]
        if len(seen) and len(absent) and (absent.max() < seen.min() or absent.min() > seen.max()):
            notes.append(
                f"'{pname}' is absent in trials {absent.min()}-{absent.max()} and present in "
                f"{seen.min()}-{seen.max()}: "
                "the search space changed mid-study; not inferred as a `when` condition"
            )
        else:
            cond = _necessary_condition(pname, here, searched, columns, present)
            if cond is not None:
                notes.append(
                    f"'{pname}' was sampled only when {cond.parent} was {', '.join(map(repr, cond.values))}, but not "
                    f"always then (it depends on more than {cond.parent}); inferred `when: {{{cond.parent}: ...}}`, "
                    "the condition its trials share"
                )
                out[pname] = attrs.evolve(p, when=cond)
                continue
            notes.append(
                f"'{pname}' was sampled in {int(here.sum())} of {int(finished.sum())} finished trials and no "
                "categorical parameter, nor an int one by a threshold, explains when; treated as unconditional"
            )
        out[pname] = p
    out = {pname: _readable(pname, p, notes) for pname, p in out.items()}
    return Space(
        name=safe_name(name), version=1, directions=tuple(directions) or ("minimize",), params=out, fixed=fixed
    )


def _readable(pname: str, p: Param, notes: list[str]) -> Param:
    """A float range whose bounds carry machine noise (``high: 32.41587556853305``), rounded outward to
    3 significant digits: every trial stays inside, and a person can read it. Clean bounds are kept."""
    from refine.space import FloatParam

    if not isinstance(p, FloatParam) or p.step is not None:
        return p

    def noisy(x: float) -> bool:
        return x != 0 and math.isfinite(x) and float(f"{x:.6g}") != x

    if not (noisy(p.low) or noisy(p.high)):
        return p
    from refine.rules._common import snap

    snapped = snap(p, p.low, p.high)
    if snapped is None:
        return p
    low = snapped[0] if noisy(p.low) else p.low
    high = snapped[1] if noisy(p.high) else p.high
    if p.log and low <= 0 or (p.low >= 0 and low < 0):
        return p
    notes.append(
        f"'{pname}' ranged over [{p.low!r}, {p.high!r}]; inferred as [{low:g}, {high:g}], rounded outward to be read"
    )
    return attrs.evolve(p, low=low, high=high)


def _candidate_parents(pname, here, searched, columns, present):
    """(parent, its param, its choice index per trial, where it was sampled) for each categorical sampled
    in every trial that sampled ``pname``."""
    for parent, pp in searched.items():
        if parent == pname or not isinstance(pp, CategoricalParam):
            continue
        parent_here = present[parent]
        if not (here & ~parent_here).any():
            yield parent, pp, columns[parent], parent_here


def _find_condition(
    pname: str,
    here: np.ndarray,
    searched: Mapping[str, Param],
    columns: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray],
    seen: Mapping[str, np.ndarray],
) -> Condition | None:
    """A categorical parent whose choices in the trials that sampled ``pname`` (``seen``: finished or pruned)
    never came without it in a finished trial (``here``, ``present``)."""
    for parent, pp, col, _ in _candidate_parents(pname, seen[pname], searched, columns, seen):
        on = set(col[seen[pname]].astype(int).tolist())
        off = set(col[present[parent] & ~here].astype(int).tolist())
        if on and not (on & off) and off:
            return Condition(parent, [pp.choices[i] for i in sorted(on)])
    return None


def _necessary_condition(
    pname: str,
    here: np.ndarray,
    searched: Mapping[str, Param],
    columns: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray],
    min_trials: int = 5,
) -> Condition | None:
    """A categorical whose every trial with ``pname`` took some of its choices, and whose other choices,
    each tried at least ``min_trials`` times, never came with it (a nested condition: ``enc`` and more)."""
    for parent, pp, col, parent_here in _candidate_parents(pname, here, searched, columns, present):
        on = set(col[here].astype(int).tolist())
        tried = col[parent_here].astype(int)
        never = {int(i) for i in set(tried.tolist()) - on}
        if on and never and all((tried == i).sum() >= min_trials for i in never):
            return Condition(parent, [pp.choices[i] for i in sorted(on)])
    return None


#: the most values an inferred ``when`` on an int parent lists
_MAX_WHEN_VALUES = 64


def _int_condition(
    pname: str,
    here: np.ndarray,
    searched: Mapping[str, Param],
    columns: Mapping[str, np.ndarray],
    present: Mapping[str, np.ndarray],
    seen: Mapping[str, np.ndarray],
) -> Condition | None:
    """A define-by-run condition on an int parent: ``pname`` was sampled exactly when the parent exceeded some k.

    Optuna's own examples write ``n_units_l{i}`` for ``i in range(n_layers)``:
    ``n_units_l5`` is there exactly when ``n_layers >= 6``. The condition lists
    every value of the parent's grid above k (``when: {n_layers: [6, 7, ..., 20]}``),
    the tried and the untried ones. Among several ints that split the trials so,
    the one whose name shares most with ``pname`` wins (``n_layers_encoder`` for
    ``n_units_encoder_l5``), then the one with most trials on both sides.
    Where the child was sampled comes from finished and pruned trials (``seen``),
    where it was not from finished ones (``here``, ``present``); a pruned trial
    without it below every parent value that had it moves k up to its value.
    """
    found = []
    sampled = seen[pname]
    for parent, pp in searched.items():
        if parent == pname or not isinstance(pp, IntParam) or pp.when is not None and pp.when.parent == pname:
            continue
        if (sampled & ~seen[parent]).any():
            continue
        col = columns[parent]
        on = col[sampled]
        off = col[present[parent] & ~here]
        if len(on) < 2 or len(off) < 2 or on.min() <= off.max():
            continue
        # a pruned trial without the child below every value that had it was not pruned before sampling it
        pruned_off = col[seen[parent] & ~sampled]
        k = max(off.max(), pruned_off[pruned_off < on.min()].max(initial=off.max()))
        values = [v for v in range(pp.low, pp.high + 1, pp.step) if v > k]
        if not values or len(values) > _MAX_WHEN_VALUES:
            continue
        shared = len(set(_name_tokens(parent)) & set(_name_tokens(pname)))
        found.append((shared, min(len(on), len(off)), parent, values))
    if not found:
        return None
    found.sort(key=lambda f: (-f[0], -f[1]))
    return Condition(found[0][2], found[0][3])


def _name_tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z]+", name.lower()) if t and t not in ("n", "num", "l")]
