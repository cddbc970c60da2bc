"""The reader through Optuna's storages: PostgreSQL, MySQL, journal files, and SQLite when asked (``engine="optuna"``).

The storage is opened read-only by :func:`refine.storage.open_readonly` (a
journal file as a ``JournalStorage``, a URL as an ``RDBStorage``), and the
trials come from ``get_all_trials``; the result is the same :class:`Raw` the
direct SQLite reader returns. :func:`in_memory_study` goes the other way: a
study read by refine, as an in-memory Optuna study.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from refine import _distributions
from refine.study.data import STATE_CODE, STATES, Raw, StudyData, StudySummary, attr_columns, infeasible_rows


def summaries(storage_obj: Any) -> list[StudySummary]:
    """Each study of an opened Optuna storage with its directions and trial counts by state."""
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


def read(storage_obj: Any, name: str) -> Raw:
    """Study ``name`` of an opened Optuna storage, its trials by number, as the direct reader returns it."""
    study_id = storage_obj.get_study_id_from_name(name)
    directions = tuple(d.name.lower() for d in storage_obj.get_study_directions(study_id))
    trials = sorted(storage_obj.get_all_trials(study_id, deepcopy=False), key=lambda t: t.number)
    n = len(trials)
    numbers = np.array([t.number for t in trials], dtype=np.int64)
    states = np.array([STATE_CODE[t.state.name] for t in trials], dtype=np.int8)
    values = np.full((n, len(directions)), np.nan)
    last = np.full(n, np.nan)
    per_param: dict[str, list[tuple[int, float, str]]] = {}
    dists: dict[str, dict[str, tuple[dict, int, tuple[int, int]]]] = {}
    for r, t in enumerate(trials):
        if t.values is not None:
            values[r, : len(t.values)] = t.values
        if t.intermediate_values:
            last[r] = t.intermediate_values[max(t.intermediate_values)]
        for position, (pname, d) in enumerate(t.distributions.items()):
            dj = _distributions.to_json(d)
            seen = dists.setdefault(pname, {})
            if dj not in seen:
                seen[dj] = (json.loads(dj), 0, (r, position))
            doc, count, first = seen[dj]
            seen[dj] = (doc, count + 1, first)
            per_param.setdefault(pname, []).append((r, d.to_internal_repr(t.params[pname]), dj))
    user_attrs = attr_columns(n, ((r, key, v) for r, t in enumerate(trials) for key, v in t.user_attrs.items()))
    infeasible = infeasible_rows(
        n, ((r, t.system_attrs["constraints"]) for r, t in enumerate(trials) if "constraints" in t.system_attrs)
    )
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
    return Raw(
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


def in_memory_study(data: StudyData, sampler: Any = None) -> Any:
    """A study read by refine as an in-memory Optuna study: the same trials, numbers, values, attributes and states.

    :func:`refine.storage.load_study` gives it for a SQLite file an older
    Optuna wrote, which the installed one would upgrade to open; the file is
    left as it was.
    """
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))  # not "A new study created in memory"
    try:
        directions: list[Any] = list(data.directions)  # "minimize"/"maximize", as Optuna takes them
        copy = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), study_name=data.name, directions=directions, sampler=sampler
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    for key, value in data.study_user_attrs.items():
        copy.set_user_attr(key, value)
    dists = {n: p.to_distribution() for n, p in data.inferred.params.items()}
    dists.update({n: optuna.distributions.CategoricalDistribution([v]) for n, v in data.inferred.fixed.items()})
    trials = []
    for row in np.argsort(data.numbers, kind="stable"):  # Optuna numbers a study's trials 0, 1, ... in this order
        params = {n: v for n, v in data.config(int(row)).items() if n in dists}
        state = optuna.trial.TrialState[STATES[data.states[row]]]
        values = [float(v) for v in data.values[row]] if state == optuna.trial.TrialState.COMPLETE else None
        attrs = {k: col[row] for k, col in data.user_attrs.items() if col[row] is not None}
        system = {"constraints": [1.0]} if data.infeasible is not None and data.infeasible[row] else {}
        trials.append(
            optuna.trial.create_trial(
                state=state,
                params=params,
                distributions={n: dists[n] for n in params},
                values=values,
                user_attrs=attrs,
                system_attrs=system,
            )
        )
    copy.add_trials(trials)
    return copy
