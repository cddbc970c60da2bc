"""Columns of a SQLite query as numpy arrays, without a Python tuple per row (the direct reader's fast path)."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

import numpy as np


def read_columns(
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
        parts = [parse_ints(text) for text in texts]
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


def parse_ints(text: str | None) -> np.ndarray:
    """The integers of a ``group_concat`` (None when it aggregated no row)."""
    if text is None:
        return np.empty(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")
