"""Optuna distributions, as stored in ``distribution_json``, turned into space parameters.

Knows every class Optuna has written since 1.x, including the legacy
``UniformDistribution``, ``LogUniformDistribution``,
``DiscreteUniformDistribution``, ``IntUniformDistribution`` and
``IntLogUniformDistribution``, and merges the distributions a parameter had
over a study into one (the union), saying so when they differed.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from attrs import frozen

from refine.errors import StudyError
from refine.space import CategoricalParam, FloatParam, IntParam

__all__ = ["Fixed", "parse", "to_json", "union"]


@frozen
class Fixed:
    """A distribution with a single possible value: read as a fixed value."""

    value: Any


def to_json(distribution: Any) -> str:
    """Optuna's own JSON of a distribution object."""
    from optuna.distributions import distribution_to_json

    return distribution_to_json(distribution)


def parse(doc: Any) -> tuple[str, dict]:
    """``(kind, attributes)`` of a decoded ``distribution_json``; kind is float, int or categorical."""
    if not isinstance(doc, dict) or "name" not in doc:
        raise StudyError(f"unreadable distribution_json {doc!r}")
    name, a = doc["name"], dict(doc.get("attributes", {}))
    if name == "FloatDistribution":
        return "float", {"low": a["low"], "high": a["high"], "log": bool(a.get("log")), "step": a.get("step")}
    if name == "UniformDistribution":
        return "float", {"low": a["low"], "high": a["high"], "log": False, "step": None}
    if name == "LogUniformDistribution":
        return "float", {"low": a["low"], "high": a["high"], "log": True, "step": None}
    if name == "DiscreteUniformDistribution":
        return "float", {"low": a["low"], "high": a["high"], "log": False, "step": a.get("q")}
    if name == "IntDistribution":
        return "int", {"low": a["low"], "high": a["high"], "log": bool(a.get("log")), "step": a.get("step", 1) or 1}
    if name == "IntUniformDistribution":
        return "int", {"low": a["low"], "high": a["high"], "log": False, "step": a.get("step", 1) or 1}
    if name == "IntLogUniformDistribution":
        return "int", {"low": a["low"], "high": a["high"], "log": True, "step": 1}
    if name == "CategoricalDistribution":
        return "categorical", {"choices": tuple(a["choices"])}
    raise StudyError(f"unknown distribution class {name!r}; this refine knows Optuna's classes up to 5.x")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _index(choices: list, value: Any) -> int:
    for i, c in enumerate(choices):
        if _same(c, value):
            return i
    choices.append(value)
    return len(choices) - 1


def union(
    pname: str, docs: Sequence[dict], internal: np.ndarray, dist_idx: np.ndarray
) -> tuple[Any, np.ndarray, str | None]:
    """Merge the distributions ``pname`` had into one parameter.

    Args:
        pname: The parameter's name (for the note).
        docs: The decoded ``distribution_json`` documents, in order of first use.
        internal: Optuna's internal representation of each stored value.
        dist_idx: For each stored value, the index of its document in ``docs``.

    Returns:
        The parameter (or :class:`Fixed`), the column of values (categoricals
        as indices into the merged choices; a fixed number as itself, any
        other fixed value as 0), and a note when the distributions differed
        (None otherwise).
    """
    parsed = [parse(d) for d in docs]
    kinds = {k for k, _ in parsed}
    note = None
    if len(parsed) > 1:
        note = f"'{pname}' had {len(parsed)} different distributions during the study; the space read is their union"
    if "categorical" in kinds:
        choices: list = []
        maps: list[np.ndarray | None] = []
        unrecorded: list[str] = []
        for kind, a in parsed:
            if kind == "categorical":
                # Optuna records a choice as the first one equal to it in Python (True as 1, False as 0):
                # a later choice equal to an earlier one never reaches the study, so it is not read as a choice.
                recorded = [
                    next(c for c in a["choices"][: k + 1] if c is v or c == v) for k, v in enumerate(a["choices"])
                ]
                unrecorded += [f"{v!r} as {c!r}" for v, c in zip(a["choices"], recorded) if v is not c]
                maps.append(np.array([_index(choices, c) for c in recorded], dtype=np.float64))
            else:
                maps.append(None)
        out = np.full(len(internal), np.nan)
        for i, ((kind, _), code_map) in enumerate(zip(parsed, maps)):
            mask = dist_idx == i
            if not mask.any():
                continue
            if code_map is not None:
                out[mask] = code_map[internal[mask].astype(np.int64)]
            else:
                values = internal[mask]
                as_int = kind == "int"
                out[mask] = [_index(choices, int(v) if as_int else float(v)) for v in values]
        if len(kinds) > 1:
            note = (
                f"'{pname}' was retyped during the study ({', '.join(sorted(kinds))}); read as a categorical of "
                "the values seen"
            )
        if unrecorded:
            note = (
                f"'{pname}' has choices equal in Python, which Optuna cannot tell apart: it recorded "
                f"{', '.join(dict.fromkeys(unrecorded))}; read as the choices it could record"
                + (f" ({note})" if note else "")
            )
        if len(choices) == 1:
            # Like a fixed int or float, a fixed number's column holds the number itself.
            value = choices[0]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out = np.where(np.isnan(out), np.nan, float(value))
            return Fixed(value), out, note
        return CategoricalParam(choices=tuple(choices)), out, note
    low = min(a["low"] for _, a in parsed)
    high = max(a["high"] for _, a in parsed)
    log = any(a["log"] for _, a in parsed) and low > 0  # searched on a log scale at some point, and it still can be
    steps = {a["step"] for _, a in parsed}
    step0 = next(iter(steps)) if len(steps) == 1 else None
    if step0 and any(abs((a["low"] - low) / step0 - round((a["low"] - low) / step0)) > 1e-9 for _, a in parsed):
        steps = {None}  # one step, but grids that start apart (0, 2, ... and 1, 3, ...): their union is no grid of it
    if kinds == {"int"}:
        if low == high:
            return Fixed(int(low)), internal.astype(np.float64), note
        step = (steps.pop() or 1) if len(steps) == 1 else 1
        if step != 1 and (high - low) % step:
            step = 1
        return (
            IntParam(low=int(low), high=int(high), log=log and step == 1, step=int(step)),
            internal.astype(np.float64),
            note,
        )
    if len(kinds) > 1:
        note = f"'{pname}' was retyped during the study (int and float); read as a float"
    if low == high:
        return Fixed(float(low)), internal.astype(np.float64), note
    step = steps.pop() if len(steps) == 1 else None
    if step is not None and (log or not math.isfinite(step)):
        step = None
    return FloatParam(low=float(low), high=float(high), log=log, step=step), internal.astype(np.float64), note
