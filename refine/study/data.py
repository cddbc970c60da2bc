"""What a reader returns: :class:`StudyData`, :class:`StudySummary`, and the readers' shared :class:`Raw`.

Every reader (:mod:`refine.study.sqlite`, :mod:`refine.study.optuna`) fills a
:class:`Raw` the same way; :func:`refine.study.read_study` then unites the
distributions and infers the space (:mod:`refine.study.infer`) into a
:class:`StudyData`.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
from attrs import field, frozen

from refine.space import CategoricalParam, IntParam, Space

#: Trial states, in Optuna's enum order; ``StudyData.states`` holds these codes.
STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")
RUNNING, COMPLETE, PRUNED, FAIL, WAITING = range(5)
STATE_CODE = {name: i for i, name in enumerate(STATES)}


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
        user_attrs: Per trial user attribute, an object array (None when unset); keys in the order the trials
            set them (see :func:`attr_columns`), whatever the storage.
        last_intermediate: The last reported intermediate value per trial (NaN if none; NaN throughout when read
            without them, as ``next_space`` reads a study unless ``include_pruned`` ranks PRUNED trials).
        study_user_attrs: The study's user attributes, in the order they were set.
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
class Raw:
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


def attr_columns(n: int, items: Iterable[tuple[int, str, Any]]) -> dict[str, np.ndarray]:
    """Per attribute key, an object array over the ``n`` trials (None where unset), from ``(row, key, value)``.

    Keys are in the order the trials set them: by the first row that has the key, then, within that row, in the order
    its items come (which every reader gives as the order the attributes were set). So the keys come out the same
    whether the items come trial by trial (Optuna's trials) or in the order they were written (the attribute table).
    """
    columns: dict[str, np.ndarray] = {}
    first: dict[str, tuple[int, int]] = {}  # per key, (its first row, the item's position)
    for i, (row, key, value) in enumerate(items):
        col = columns.get(key)
        if col is None:
            col = columns[key] = np.full(n, None, dtype=object)
            first[key] = (row, i)
        elif row < first[key][0]:
            first[key] = (row, i)
        col[row] = value
    return {key: columns[key] for key in sorted(columns, key=first.__getitem__)}


def infeasible_rows(n: int, items: Iterable[tuple[int, Any]]) -> np.ndarray | None:
    """Which of the ``n`` trials break their Optuna ``constraints``, from ``(row, constraints)``; None when no trial
    has constraints."""
    infeasible = None
    for row, constraints in items:
        if infeasible is None:
            infeasible = np.zeros(n, dtype=bool)
        infeasible[row] = violates(constraints or ())
    return infeasible
