"""The direct reader: Optuna's SQLite tables read with :mod:`sqlite3`, every schema from 1.x on.

It is many times faster than ``optuna.load_study(...).get_trials()``, and it
reads the schemas current Optuna refuses or, worse, migrates in place. The
file is opened through a read-only URI (:func:`refine.storage.connect_ro`):
nothing here ever writes to it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from refine.errors import StudyError
from refine.storage import OPTUNA_TABLES as _OPTUNA_TABLES
from refine.storage import connect_ro as _connect_ro
from refine.storage import table_columns as _tables
from refine.study.data import FAIL, STATES, Raw, StudySummary, attr_columns, infeasible_rows
from refine.study.sqlite_columns import read_columns

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


class SqliteReader:
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
        # In the order they were set: by the table's INTEGER PRIMARY KEY (study_user_attribute_id in every schema),
        # which SQLite keeps as the rowid; unordered, SQLite gives the (study_id, key) index's order.
        rows = self.con.execute(
            "SELECT key, value_json FROM study_user_attributes WHERE study_id=? ORDER BY rowid", (study_id,)
        )
        return {k: _loads(v) for k, v in rows}

    def read(self, study_id: int, with_user_attrs: bool = True, with_intermediate: bool = True) -> Raw:
        single = len(self.studies()) == 1
        trial_ids, numbers, states = self._trials(study_id)
        n = len(trial_ids)
        # In a file holding one study every row is that study's: no filter to pay for.
        where = "" if single else " AND trial_id IN (SELECT trial_id FROM trials WHERE study_id=?)"
        args: tuple = () if single else (study_id,)

        directions = self.directions(study_id)
        values = self._values(study_id, trial_ids, len(directions), where, args)
        last = self._last_intermediate(trial_ids, where, args) if with_intermediate else np.full(n, np.nan)
        raw_columns, dists = self._params(study_id, single, trial_ids, where, args)

        user_attrs: dict[str, np.ndarray] = {}
        if with_user_attrs and "trial_user_attributes" in self.tables:
            # In the order they were set (the rowid is trial_user_attribute_id), as attr_columns orders the keys.
            sql = f"SELECT trial_id, key, value_json FROM trial_user_attributes WHERE 1{where} ORDER BY rowid"
            rows = self.con.execute(sql, args)
            row_of = _row_index(trial_ids)
            user_attrs = attr_columns(n, ((r, k, _loads(vj)) for tid, k, vj in rows if (r := row_of(tid)) is not None))
        infeasible = None
        if "trial_system_attributes" in self.tables:
            sql = f"SELECT trial_id, value_json FROM trial_system_attributes WHERE key='constraints'{where}"
            found = self.con.execute(sql, args).fetchall()
            if found:  # the lookup (a dict of every trial) only where some trial has constraints: None otherwise
                row_of = _row_index(trial_ids)
                infeasible = infeasible_rows(
                    n, ((r, _loads(vj)) for tid, vj in found if (r := row_of(tid)) is not None)
                )
        return Raw(
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
        read = read_columns(self.con, "FROM trials WHERE study_id=?", (study_id,), ints)
        if read is None:
            rows = self.con.execute(
                f"SELECT trial_id, {number} IS NULL, coalesce({number}, 0), {state} FROM trials WHERE study_id=?",
                (study_id,),
            )
            table = np.fromiter(
                rows, dtype=[("id", np.int64), ("none", np.bool_), ("number", np.int64), ("state", np.int8)]
            )
            read = [table[key] for key in ("id", "none", "number", "state")]
        trial_ids, none, stored, state_code = read
        # As ORDER BY number, trial_id: trials without a number first.
        order = np.lexsort((trial_ids, stored, none == 0))
        numbers = np.where(none[order] != 0, np.arange(len(order)), stored[order])
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
        read = read_columns(self.con, source, args, ints, value)
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
        read = read_columns(self.con, f"FROM ({sql})", args, ["trial_id"], "v")
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
        """``trial_params`` in chunks of ``param_id``, in that order, read by :func:`.read_columns`.

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


#: ``param_id``s one query of ``SqliteReader._scan_params`` aggregates (2**16: at 100k trials, 18 chunks read in
#: 1.45 s where 5 of 2**18 took 1.58, importing scipy.stats alongside as next-space does; medians of 5, and the
#: first chunk's pairs are listed sooner)
_CHUNK = 1 << 16
#: Threads (each with its own connection) that read chunks at once.
_THREADS = 2


def _scan_chunk(
    con: sqlite3.Connection, pairs: Sequence[tuple[str, str]], source: str, args: tuple
) -> tuple[np.ndarray, ...] | None:
    """Trial ids, pair indices and values of the rows of one chunk, or None (see ``SqliteReader._scan_params``)."""
    by_name: dict[str, list[tuple[str, int]]] = {}
    for i, (name, dj) in enumerate(pairs):
        by_name.setdefault(name, []).append((dj, i))
    case, case_args = [], []
    for name, djs in by_name.items():
        inner = " ".join(f"WHEN ? THEN {i}" for _, i in djs)
        case.append(f"WHEN ? THEN CASE p.distribution_json {inner} END")
        case_args += [name, *(dj for dj, _ in djs)]
    key = f"p.trial_id * {len(pairs)} + CASE p.param_name {' '.join(case)} END"
    read = read_columns(con, source, (*case_args, *args), [key], "p.param_value")
    if read is None:
        return None
    keys, value = read
    trial = keys // len(pairs)
    return trial, keys - trial * len(pairs), value


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
